//! One watched mount's figures, kept current from inotify events.
//!
//! - Walked mounts (a directory of a shared filesystem: every disk emptyDir,
//!   local-path PVCs): a [`UsageTree`] keeps du-style totals per directory
//!   (memory O(directories), see `core::watch::usage_tree`). An event on a hot file
//!   (created, written or closed lately) is an O(1) delta; any other change
//!   re-lists that one directory, coalesced per batch and rate-limited for
//!   huge directories ([`RELIST_BACKOFF`]). Directories are watched first
//!   and listed second, so nothing written in between is missed; one the
//!   workload makes is followed [`NEW_DIR_DELAY`] after it is seen (filled
//!   in a burst, it costs one listing, not an event and a stat per file).
//! - statfs-measured mounts (a tmpfs, or a filesystem mounted whole: its
//!   mountinfo root is `/`, e.g. a PVC on its own block device): statfs is
//!   O(1) and exact; inotify only triggers it, the tree holds directories.
//!   After a delete on a tmpfs the figure is measured again [`SETTLE`]
//!   later (the pages are freed after the event).
//! - Timers, only while there is something to do (an idle mount never
//!   wakes): hot files open for writing, and for [`WRITEBACK`] closed ones
//!   of at least [`WRITEBACK_MIN`] bytes, are re-stat'ed every [`HOT_TICK`]
//!   (mmap stores and writeback allocation raise `st_blocks` with no event);
//!   deferred re-lists; the hard-link hunt; the periodic fallback scan.
//! - Nested mount points under the mount (another volume, even on the same
//!   disk) are neither counted nor entered, as the kubelet measures them as
//!   siblings.
//! - `IN_Q_OVERFLOW`, a vanished root or the safety rescan rebuild all.
//!   When watches run out (`ENOSPC`) or inotify cannot be used, the mount
//!   lets its watches go and is measured by a full walk every
//!   [`FALLBACK_MIN`] or ten times the walk's duration, whichever is
//!   longer; that walk also hands the files changed since the previous one
//!   to the exec-drop check (judged by ctime). Said once; inotify is taken
//!   back when the tree has shrunk to half the directories it had.
//! - Exec-drop candidates: the files events name, and files *found* by a
//!   listing (a new directory, the start-up walk, an overflow) whose ctime is
//!   not before the watch's start; a safety rescan queues nothing.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::core::mounts::mountinfo::MountTable;
use crate::core::watch::tamper::Triggers;
use crate::core::watch::usage_tree::{join, EntryStat, Ev, Outcome, UsageTree, Wd};
use crate::edge::inotify::{Event, IN_IGNORED, IN_ISDIR, IN_UNMOUNT};
use crate::edge::usage::{coarse_now, has_ino, list_each, open_dir, stat_at, statfs_usage};
use crate::edge::usage::{walk_usage_opts, WalkOpts};
pub use crate::orchestra::exec_queue::ExecCandidate;
use crate::orchestra::exec_queue::ExecQueue;
use crate::orchestra::hub::{Batch, Hub, MountId, WatchError};

/// Delay of the second statfs after a deletion on a tmpfs.
pub const SETTLE: Duration = Duration::from_millis(50);
/// Period of the re-stat of hot files.
pub const HOT_TICK: Duration = Duration::from_secs(1);
/// How long a closed file is re-stat'ed (writeback allocates extent index
/// blocks up to `dirty_expire_centisecs` + a writeback period later).
pub const WRITEBACK: Duration = Duration::from_secs(WRITEBACK_SECS);
/// Closed files smaller than this are not re-stat'ed (fewer than five
/// extents cannot need an index block).
pub use crate::core::watch::usage_tree::{WRITEBACK_MIN, WRITEBACK_SECS};
/// A directory with more entries than this is re-listed at most once per
/// four times its last listing's duration (capped at [`RELIST_BACKOFF`]).
pub const BIG_DIR: u64 = 4096;
pub const RELIST_BACKOFF: Duration = Duration::from_secs(1);
/// A hard-link hunt waits this long (coalescing a burst of links), and
/// the next one at least [`HUNT_MIN`] or ten times the last one's duration.
pub const HUNT_DELAY: Duration = Duration::from_millis(200);
pub const HUNT_MIN: Duration = Duration::from_secs(1);
/// Minimum period of the fallback scan without inotify.
pub const FALLBACK_MIN: Duration = Duration::from_secs(5);
/// A directory made by the workload is watched, then listed, this long
/// after its creation is seen, not at once. Watch-then-list misses nothing
/// made in it meanwhile (the listing counts it), and a directory filled in
/// a burst (an unpacking archive, a cache shard) costs one listing instead
/// of an event, and a stat, per file written after an early watch. Its
/// bytes join the figure that much later; every limit is far slower.
pub const NEW_DIR_DELAY: Duration = Duration::from_millis(100);

/// How a mount's figures are kept current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// inotify events, plus the periodic safety rescan.
    Events,
    /// A full measurement on the fallback timer (inotify unavailable).
    Periodic,
    /// The path could not be opened; retried at each rescan.
    Missing,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Events => "events",
            Method::Periodic => "periodic",
            Method::Missing => "missing",
        }
    }
}

/// Current figures of a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Figures {
    pub used: u64,
    pub inodes: u64,
    /// The filesystem's size (tmpfs `size=`), when measured by statfs.
    pub size: Option<u64>,
}

/// Why inotify was given up for a mount.
struct Fallback(String);

pub struct MountTracker {
    path: PathBuf,
    /// Walked (du) rather than measured by statfs.
    walk: bool,
    id: MountId,
    own: Option<Box<Hub>>,
    root: Option<OwnedFd>,
    tree: Option<UsageTree>,
    exclude: HashSet<(u64, u64)>,
    /// Set while inotify is given up on this mount.
    no_inotify: bool,
    figures: Figures,
    /// The first complete measurement is done.
    ready: bool,
    /// The tree was built once (the start-up walk is over).
    built: bool,
    reported: HashSet<PathBuf>,
    settle: Option<Instant>,
    exec: ExecQueue,
    t0: Instant,
    dirty: HashSet<Wd>,
    next_list: HashMap<Wd, Instant>,
    relist_due: Option<Instant>,
    hot_due: Option<Instant>,
    /// New directories not yet followed: (due, parent, name), in the
    /// order they were seen, so the first is due first. Their paths are
    /// the tree's at follow time (the parent may have moved meanwhile).
    young: Vec<(Instant, Wd, Vec<u8>)>,
    hunt: HashSet<u64>,
    hunt_due: Option<Instant>,
    /// The earliest next hunt (rate limit).
    hunt_next: Instant,
    /// Fallback scan: when due, directories at the failure, last start.
    periodic_due: Option<Instant>,
    fallback_dirs: u64,
    last_scan: (i64, i64),
    /// Why exec-drop detection was degraded, until the watcher takes it.
    lost: Option<String>,
    /// The root's device, and the mounts of it (for the open-files scan).
    dev: u64,
    mnt_ids: HashSet<u64>,
    /// Inodes open for writing that no listing found (outside the tree).
    foreign: HashMap<u64, Instant>,
    /// Inodes open for writing at the last open-files scan.
    open_prev: HashSet<u64>,
    /// Directories listed on a timer instead of followed by events.
    quiet: HashMap<Wd, quiet::Quiet>,
    /// During a rebuild: the paths of the directories that were quiet, and
    /// the ctime their next listing judges from (a drop between their last
    /// listing and a safety rescan, which judges nothing, is still found).
    requiet: HashMap<Vec<u8>, (i64, i64)>,
    /// Set by `follow` for the next listing: the new directory's watch was
    /// added at this time (see `Listing::watched_at`).
    watched_at: Option<(i64, i64)>,
}

/// Exec-drop candidates of a listing: the files whose ctime is not before
/// this (`None`: none).
type Found = Option<(i64, i64)>;

impl MountTracker {
    /// Tracks `path` with an inotify instance of its own: `disk` selects the
    /// du-style walk (unless the path is a filesystem mounted whole),
    /// otherwise statfs. Measures at once.
    pub fn new(path: PathBuf, disk: bool) -> MountTracker {
        MountTracker::with_exec(path, disk, false)
    }

    /// [`MountTracker::new`], collecting exec-drop candidates when `exec`.
    pub fn with_exec(path: PathBuf, disk: bool, exec: bool) -> MountTracker {
        MountTracker::with_limit(path, disk, exec, None)
    }

    /// [`MountTracker::with_exec`] whose hub refuses watches past `limit`
    /// with `ENOSPC` (tests of the fallback without touching the host's
    /// inotify limits).
    pub fn with_limit(path: PathBuf, disk: bool, exec: bool, limit: Option<usize>) -> MountTracker {
        let mut hub = Box::new(Hub::with_limit(limit));
        let mut t = MountTracker::pending(path, disk, exec, &mut hub, 0);
        t.own = Some(hub);
        t.rescan();
        t
    }

    /// A tracker of `path` as mount `id` of a shared hub, not measured yet:
    /// [`MountTracker::measure_now`] gives a statfs figure at once,
    /// [`MountTracker::rescan_in`] walks and watches (off the start path).
    pub fn pending(
        path: PathBuf,
        disk: bool,
        exec: bool,
        hub: &mut Hub,
        id: MountId,
    ) -> MountTracker {
        let walk = disk && !mounted_whole(hub, &path);
        MountTracker {
            path,
            walk,
            id,
            own: None,
            root: None,
            tree: None,
            exclude: HashSet::new(),
            no_inotify: false,
            figures: Figures::default(),
            ready: false,
            built: false,
            reported: HashSet::new(),
            settle: None,
            exec: ExecQueue::new(exec),
            t0: Instant::now(),
            dirty: HashSet::new(),
            next_list: HashMap::new(),
            relist_due: None,
            hot_due: None,
            young: Vec::new(),
            hunt: HashSet::new(),
            hunt_due: None,
            hunt_next: Instant::now(),
            periodic_due: None,
            fallback_dirs: 0,
            last_scan: (0, 0),
            lost: None,
            dev: 0,
            mnt_ids: HashSet::new(),
            foreign: HashMap::new(),
            open_prev: HashSet::new(),
            quiet: HashMap::new(),
            requiet: HashMap::new(),
            watched_at: None,
        }
    }

    /// [`MountTracker::pending`], then watched and measured at once.
    pub fn in_hub(path: PathBuf, disk: bool, exec: bool, hub: &mut Hub, id: MountId) -> Self {
        let mut t = MountTracker::pending(path, disk, exec, hub, id);
        t.rescan_in(hub);
        t
    }

    pub fn id(&self) -> MountId {
        self.id
    }

    /// Whether the mount is walked (du) rather than measured by statfs.
    pub fn walked(&self) -> bool {
        self.walk
    }

    /// Whether the first complete measurement is done.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// A statfs-measured mount's figure, at once (O(1)); walked ones wait
    /// for their walk. Returns whether the figure is known.
    pub fn measure_now(&mut self) -> bool {
        if self.walk {
            return false;
        }
        self.measure();
        self.ready = true;
        true
    }

    fn solo<R>(&mut self, f: impl FnOnce(&mut MountTracker, &mut Hub) -> R) -> Option<R> {
        let mut hub = self.own.take()?;
        let r = f(self, &mut hub);
        self.own = Some(hub);
        Some(r)
    }

    pub fn figures(&self) -> Figures {
        self.figures
    }

    pub fn method(&self) -> Method {
        match (&self.root, &self.tree) {
            (None, _) => Method::Missing,
            (Some(_), Some(_)) => Method::Events,
            (Some(_), None) => Method::Periodic,
        }
    }

    /// Directories watched (0 without inotify).
    pub fn watched_dirs(&self) -> usize {
        self.tree.as_ref().map_or(0, |t| t.dirs())
    }

    /// Per-directory figures (diagnostics of tests).
    #[doc(hidden)]
    pub fn per_dir(&self) -> Vec<(Vec<u8>, u64, Vec<u64>)> {
        self.tree.as_ref().map_or(Vec::new(), |t| t.per_dir())
    }

    /// Directories listed on a timer instead of followed by events
    /// (`tracker_quiet.rs`).
    pub fn quiet_dirs(&self) -> usize {
        self.quiet.len()
    }

    /// Hot files remembered (see `core::watch::usage_tree`).
    pub fn hot_files(&self) -> usize {
        self.tree.as_ref().map_or(0, |t| t.hot_len())
    }

    /// When [`MountTracker::tick`] must run next, if anything is pending.
    pub fn settle_due(&self) -> Option<Instant> {
        [
            self.settle,
            self.relist_due,
            self.hot_due,
            self.young.first().map(|y| y.0),
            self.hunt_due,
            self.periodic_due,
            self.quiet_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// [`MountTracker::tick`] of a tracker with its own hub.
    pub fn settle(&mut self) {
        self.solo(|t, hub| t.tick(hub, Instant::now()));
    }

    /// Runs what is due: tmpfs settle, deferred re-lists, hot re-stats,
    /// the hard-link hunt, the fallback scan. Returns whether it measured.
    pub fn tick(&mut self, hub: &mut Hub, now: Instant) -> bool {
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        let mut any = false;
        if due(self.periodic_due) {
            self.periodic(hub);
            any = true;
        }
        if due(self.hunt_due) {
            self.hunt_due = None;
            self.run_hunt();
        }
        if due(self.quiet_due()) {
            match self.poll_quiet(hub, now) {
                Ok(listed) => any |= listed,
                Err(f) => self.give_up(hub, f),
            }
        }
        if due(self.hot_due) {
            self.hot_due = None;
            self.restat_hot(now);
            any = true;
        }
        if due(self.young.first().map(|y| y.0)) {
            if let Err(f) = self.follow_young(hub, now) {
                self.give_up(hub, f);
            }
            any = true;
        }
        if due(self.settle) || due(self.relist_due) || !self.dirty.is_empty() {
            self.settle = None;
            self.relist_due = None;
            if let Err(f) = self.relist_dirty(hub, now) {
                self.give_up(hub, f);
            }
            self.arm_hot(false);
            any = true;
        }
        if any {
            self.measure();
        }
        any
    }

    /// Hands each queued exec-drop candidate to `f` and clears the queue;
    /// returns whether the inotify queue overflowed since the last call.
    pub fn drain_exec(&mut self, mut f: impl FnMut(ExecCandidate<'_>)) -> bool {
        let root = self.root.as_ref().map(|r| r.as_fd());
        self.exec.drain(root, &self.path, &mut f)
    }

    /// Why exec-drop detection by events was lost, once (the watcher makes
    /// it a tamper finding).
    pub fn take_lost(&mut self) -> Option<String> {
        self.lost.take()
    }

    /// The fd to poll of a tracker with its own hub, when event-driven.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.tree.as_ref()?;
        self.own.as_ref().and_then(|h| h.fd())
    }

    /// Full rebuild of a tracker with its own hub.
    pub fn rescan(&mut self) {
        self.solo(|t, hub| {
            hub.forget_mount_table();
            t.rescan_in(hub)
        });
    }

    /// Full rebuild and measurement: the start, the safety net, overflow.
    pub fn rescan_in(&mut self, hub: &mut Hub) {
        self.root = match open_dir(&self.path) {
            Ok(fd) => Some(fd),
            Err(e) => {
                self.report_once(self.path.clone(), &e.to_string());
                self.tree = None;
                hub.release(self.id);
                self.figures = Figures::default();
                self.ready = true;
                return;
            }
        };
        let table = hub.mount_table();
        self.exclude = nested_mounts(table.as_deref(), &self.path);
        if let Ok(Some(st)) = self.root.as_ref().map_or(Ok(None), |r| stat_at(r, b"")) {
            self.dev = st.dev;
            self.mnt_ids = mounts_of(table.as_deref(), st.dev);
        }
        if self.no_inotify {
            self.periodic(hub);
        } else if let Err(f) = self.build_tree(hub) {
            self.give_up(hub, f);
        }
        self.measure();
        self.ready = true;
    }

    /// Reads and applies every queued event of a tracker with its own hub.
    pub fn on_readable(&mut self) -> bool {
        self.solo(|t, hub| {
            let mut batch = Batch::default();
            if let Err(e) = hub.read(&mut batch) {
                t.read_failed(hub, &e);
                return true;
            }
            let any = t.apply_events(hub, batch.events(t.id));
            if batch.overflow {
                t.overflowed(hub);
            }
            any || batch.overflow
        })
        .unwrap_or(false)
    }

    /// The shared queue could not be read: measure again in full.
    pub fn read_failed(&mut self, hub: &mut Hub, e: &std::io::Error) {
        tracing::warn!(event = "usage", path = %self.path.display(), error = %e,
            "cannot read inotify events for {}: {e}; measuring it again in full",
            self.path.display());
        hub.forget_mount_table();
        self.rescan_in(hub);
    }

    /// The inotify queue overflowed: rebuild; files changed since start-up
    /// are handed to the exec-drop check as found.
    pub fn overflowed(&mut self, hub: &mut Hub) {
        tracing::debug!(event = "usage", path = %self.path.display(),
            "inotify queue overflowed for {}: full rescan", self.path.display());
        self.exec.overflowed |= self.exec.on;
        self.exec.live = self.exec.on;
        hub.forget_mount_table();
        self.rescan_in(hub);
        self.exec.live = false;
    }

    /// Applies this mount's events of one read of the hub (in queue order).
    pub fn apply_events(&mut self, hub: &mut Hub, events: &[Event]) -> bool {
        if let Some(t) = &mut self.tree {
            t.begin_batch();
        }
        if events.is_empty() {
            return false;
        }
        self.exec.live = true;
        let mut applied = self.apply(hub, events);
        if applied.is_ok() {
            applied = self.relist_dirty(hub, Instant::now());
        }
        if applied.is_ok() {
            self.quiet_busy(hub, events);
        }
        // A subtree dropped by an event may hold names of linked inodes.
        self.queue_hunt();
        self.arm_hot(false);
        self.exec.live = false;
        if let Err(f) = applied {
            self.give_up(hub, f);
        }
        self.measure();
        true
    }

    fn measure(&mut self) {
        if !self.walk {
            match statfs_usage(&self.path) {
                Ok(u) => {
                    self.figures = Figures {
                        used: u.used_bytes,
                        inodes: u.used_inodes,
                        size: Some(u.size_bytes),
                    }
                }
                Err(e) => self.report_once(self.path.clone(), &e.to_string()),
            }
            return;
        }
        if let Some(tree) = &self.tree {
            self.figures = Figures {
                used: tree.bytes(),
                inodes: tree.inodes(),
                size: None,
            };
        }
    }

    fn unwatch(&self, hub: &mut Hub, wds: &[Wd]) {
        for wd in wds {
            hub.unwatch(self.id, *wd);
        }
    }

    fn report_once(&mut self, path: PathBuf, error: &str) {
        if self.reported.len() < 1000 && self.reported.insert(path.clone()) {
            tracing::warn!(event = "usage", path = %path.display(), error = %error,
                "cannot measure {}: {error}; its usage is left out until it can be read",
                path.display());
        }
    }
}

#[path = "tracker_apply.rs"]
mod apply;
#[path = "tracker_list.rs"]
mod list;
#[path = "tracker_quiet.rs"]
mod quiet;
#[path = "tracker_timers.rs"]
mod timers;

fn fallback(path: &Path, e: WatchError) -> Fallback {
    match e {
        WatchError::Init(e) => Fallback(e.to_string()),
        WatchError::Add(e) => Fallback(format!(
            "inotify_add_watch {}: {}",
            path.display(),
            e.desc()
        )),
    }
}

/// Whether `path` is the root of a filesystem mounted whole (its mountinfo
/// root field is `/`: a PVC on its own block device, a tmpfs). Such a
/// mount is measured by statfs. A directory of a shared filesystem (an
/// emptyDir under the kubelet's pods directory, a local-path PVC) has
/// another root there, and statfs would give the whole disk.
fn mounted_whole(hub: &mut Hub, path: &Path) -> bool {
    hub.mount_table()
        .is_some_and(|t| t.at(path).is_some_and(|m| m.root == Path::new("/")))
}

/// The mount ids of device `dev` (its mounts, bind mounts included).
fn mounts_of(table: Option<&MountTable>, dev: u64) -> HashSet<u64> {
    let Some(table) = table else {
        return HashSet::new();
    };
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    table
        .entries
        .iter()
        .filter(|m| m.major == major && m.minor == minor)
        .map(|m| u64::from(m.mount_id))
        .collect()
}

/// `(dev, ino)` of every mount point strictly under `path`.
fn nested_mounts(table: Option<&MountTable>, path: &Path) -> HashSet<(u64, u64)> {
    let Some(table) = table else {
        return HashSet::new();
    };
    table
        .entries
        .iter()
        .filter(|m| m.mount_point != path && m.mount_point.starts_with(path))
        .filter_map(|m| std::fs::metadata(&m.mount_point).ok())
        .map(|md| (md.dev(), md.ino()))
        .collect()
}
