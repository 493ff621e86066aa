//! One watched mount's figures, kept current from inotify events.
//!
//! - Disk-backed (emptydir, pvc): a [`UsageTree`] holds du-style totals; an
//!   event re-stats only the entry it names (and its directory), so a write
//!   costs O(1) syscalls whatever the tree's size. New directories are
//!   watched first and listed second, so files created in between are seen
//!   either way (updates are idempotent).
//! - tmpfs: `statvfs` is O(1) and exact, so files are not tracked; inotify
//!   watches only serve as the trigger, and the tree holds directories only.
//!   The kernel queues a delete event before it frees the file's pages (the
//!   last `iput` comes after), so after a deletion or a rename over a file
//!   on a tmpfs the figures are measured once more [`SETTLE`] later: the
//!   only wake-up not caused by an event or the safety rescan.
//! - Watches live in a [`Hub`], the inotify instance shared by every mount
//!   of the watcher ([`MountTracker::in_hub`]); the watcher routes each
//!   event to the tracker owning its descriptor
//!   ([`MountTracker::apply_events`]). [`MountTracker::new`] makes a tracker
//!   with a hub of its own (tests, tools), driven by
//!   [`MountTracker::on_readable`].
//! - `IN_Q_OVERFLOW` ([`MountTracker::overflowed`]), a vanished root, or a
//!   rescan (the safety net) rebuild everything. When inotify cannot be used
//!   (watch limit `ENOSPC`, too many instances, a path too long to watch)
//!   the mount lets all its watches go and falls back to a full measurement
//!   at each rescan, alone, with one warning.
//! - A subtree that cannot be read is reported once, never fatal.
//! - Exec-drop detection ([`MountTracker::with_exec`]): files named by
//!   `IN_CLOSE_WRITE`, `IN_MOVED_TO`, `IN_CREATE` and `IN_ATTRIB` (and the
//!   files listed in a directory that appeared after start-up) are queued
//!   as candidates, merged per batch, for [`MountTracker::drain_exec`]; the
//!   judgement is `core::tamper`'s. A rescan never queues existing files.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::core::tamper::Triggers;
use crate::core::usage_tree::{Followup, UsageTree, Wd};
use crate::edge::inotify::{Event, IN_IGNORED, IN_ISDIR, IN_UNMOUNT};
use crate::edge::usage::{list_dir, open_dir, stat_at, statfs_usage, walk_usage};
pub use crate::orchestra::exec_queue::ExecCandidate;
use crate::orchestra::exec_queue::ExecQueue;
use crate::orchestra::hub::{Batch, Hub, MountId, WatchError};

/// Delay of the second statfs after a deletion on a tmpfs.
pub const SETTLE: Duration = Duration::from_millis(50);

/// How a mount's figures are kept current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// inotify events, plus the periodic safety rescan.
    Events,
    /// A full measurement at each rescan only (inotify unavailable).
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
    disk: bool,
    /// This mount's owner id in its hub.
    id: MountId,
    /// The hub of a tracker made by [`MountTracker::new`]; `None` in a
    /// shared hub.
    own: Option<Box<Hub>>,
    root: Option<OwnedFd>,
    tree: Option<UsageTree>,
    /// Set once inotify failed for good on this mount.
    no_inotify: bool,
    figures: Figures,
    reported: HashSet<PathBuf>,
    settle: Option<Instant>,
    exec: ExecQueue,
}

impl MountTracker {
    /// Starts tracking `path` with an inotify instance of its own: `disk`
    /// selects the du-style walk, otherwise statfs. Measures at once.
    pub fn new(path: PathBuf, disk: bool) -> MountTracker {
        MountTracker::with_exec(path, disk, false)
    }

    /// [`MountTracker::new`], with exec-drop candidates collected from the
    /// start when `exec` is set (so that losing inotify at start-up says
    /// that exec drops go undetected).
    pub fn with_exec(path: PathBuf, disk: bool, exec: bool) -> MountTracker {
        let mut t = MountTracker::bare(path, disk, exec, 0);
        t.own = Some(Box::new(Hub::new()));
        t.rescan();
        t
    }

    /// Starts tracking `path` as mount `id` of the shared `hub` (ids must be
    /// distinct within a hub). Measures at once. Events are read by the
    /// hub's owner and handed over with [`MountTracker::apply_events`].
    pub fn in_hub(
        path: PathBuf,
        disk: bool,
        exec: bool,
        hub: &mut Hub,
        id: MountId,
    ) -> MountTracker {
        let mut t = MountTracker::bare(path, disk, exec, id);
        t.rescan_in(hub);
        t
    }

    fn bare(path: PathBuf, disk: bool, exec: bool, id: MountId) -> MountTracker {
        MountTracker {
            path,
            disk,
            id,
            own: None,
            root: None,
            tree: None,
            no_inotify: false,
            figures: Figures::default(),
            reported: HashSet::new(),
            settle: None,
            exec: ExecQueue::new(exec),
        }
    }

    /// This mount's owner id in its hub.
    pub fn id(&self) -> MountId {
        self.id
    }

    /// Runs `f` with the tracker's own hub (no-op `None` in a shared hub).
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

    /// When [`MountTracker::settle`] is due, if it is.
    pub fn settle_due(&self) -> Option<Instant> {
        self.settle
    }

    /// Measures again after a tmpfs deletion (see [`SETTLE`]).
    pub fn settle(&mut self) {
        self.settle = None;
        self.measure();
    }

    /// Hands each exec-drop candidate queued by the last
    /// [`MountTracker::apply_events`] to `f` and clears the queue. Returns
    /// whether the inotify queue overflowed since the last call (drops
    /// during the overflow may have been missed).
    pub fn drain_exec(&mut self, mut f: impl FnMut(ExecCandidate<'_>)) -> bool {
        let root = self.root.as_ref().map(|r| r.as_fd());
        self.exec.drain(root, &self.path, &mut f)
    }

    /// The fd to poll for events of a tracker made by
    /// [`MountTracker::new`], if the mount is event-driven (`None` in a
    /// shared hub: poll the hub's).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.tree.as_ref()?;
        self.own.as_ref().and_then(|h| h.fd())
    }

    /// Full rebuild and measurement of a tracker made by
    /// [`MountTracker::new`] (in a shared hub: [`MountTracker::rescan_in`]).
    pub fn rescan(&mut self) {
        self.solo(|t, hub| t.rescan_in(hub));
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
                return;
            }
        };
        if !self.no_inotify {
            if let Err(f) = self.build_tree(hub) {
                self.give_up(hub, f);
            }
        }
        self.measure();
    }

    /// Reads and applies every queued event of a tracker made by
    /// [`MountTracker::new`]. Returns whether any arrived.
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
        self.rescan_in(hub);
    }

    /// The inotify queue overflowed (events were lost for every mount):
    /// rebuild from scratch; exec drops in between may have been missed.
    pub fn overflowed(&mut self, hub: &mut Hub) {
        tracing::debug!(event = "usage", path = %self.path.display(),
            "inotify queue overflowed for {}: full rescan", self.path.display());
        self.exec.overflowed |= self.exec.on;
        // The rebuild lists every file: with `live` set each becomes a
        // "found" candidate, so drops whose events were lost are still
        // judged (those unchanged since start-up are skipped by ctime).
        self.exec.live = self.exec.on;
        self.rescan_in(hub);
        self.exec.live = false;
    }

    /// Applies this mount's events of one read of `hub` (in queue order).
    /// Returns whether there were any.
    pub fn apply_events(&mut self, hub: &mut Hub, events: &[Event]) -> bool {
        if events.is_empty() {
            return false;
        }
        self.exec.live = true;
        let applied = self.apply(hub, events);
        self.exec.live = false;
        if let Err(f) = applied {
            self.give_up(hub, f);
        }
        self.measure();
        true
    }

    fn apply(&mut self, hub: &mut Hub, events: &[Event]) -> Result<(), Fallback> {
        let mut dirs: HashSet<Wd> = HashSet::new();
        let mut seen: HashSet<(Wd, &[u8])> = HashSet::new();
        for ev in events {
            let Some(tree) = &mut self.tree else {
                return Ok(());
            };
            if !tree.contains(ev.wd) {
                continue;
            }
            if ev.mask & (IN_IGNORED | IN_UNMOUNT) != 0 {
                if tree.rel_path(ev.wd).is_some_and(|p| p.is_empty()) {
                    // The root itself went away: let every watch of this
                    // mount go (only this mount's), start over at the next
                    // rescan.
                    self.tree = None;
                    self.root = None;
                    hub.release(self.id);
                    return Ok(());
                }
                let dropped = tree.forget(ev.wd);
                self.unwatch(hub, &dropped);
                continue;
            }
            dirs.insert(ev.wd);
            let triggers = Triggers::from_mask(ev.mask);
            if self.exec.on && !triggers.is_empty() && !ev.name.is_empty() {
                if let Some(dir) = tree.rel_path(ev.wd) {
                    self.exec.push(join(&dir, &ev.name), triggers);
                }
            }
            if !self.disk
                && ev.mask & (libc::IN_DELETE | libc::IN_MOVED_TO | libc::IN_DELETE_SELF) != 0
            {
                self.settle = Some(Instant::now() + SETTLE);
            }
            if ev.name.is_empty() || (!self.disk && ev.mask & IN_ISDIR == 0) {
                continue;
            }
            if seen.insert((ev.wd, &ev.name)) {
                self.refresh(hub, ev.wd, &ev.name)?;
            }
        }
        if self.disk {
            for wd in dirs {
                self.refresh_dir_self(wd);
            }
        }
        Ok(())
    }

    /// Re-stats entry `name` of directory `wd` and applies the result.
    fn refresh(&mut self, hub: &mut Hub, wd: Wd, name: &[u8]) -> Result<(), Fallback> {
        let (Some(tree), Some(root)) = (&mut self.tree, &self.root) else {
            return Ok(());
        };
        let Some(rel) = tree.rel_path(wd).map(|r| join(&r, name)) else {
            return Ok(());
        };
        let st = match stat_at(root, &rel) {
            Ok(st) => st,
            Err(e) => {
                let p = self.path.join(OsStr::from_bytes(&rel));
                self.report_once(p, e.desc());
                return Ok(());
            }
        };
        if !self.disk && st.is_some_and(|s| !s.is_dir) {
            return Ok(());
        }
        let f = tree.set_entry(wd, name, st);
        self.follow(hub, wd, name, rel, f)
    }

    fn refresh_dir_self(&mut self, wd: Wd) {
        let (Some(tree), Some(root)) = (&mut self.tree, &self.root) else {
            return;
        };
        let Some(rel) = tree.rel_path(wd) else {
            return;
        };
        if let Ok(Some(st)) = stat_at(root, &rel) {
            tree.set_dir_self(wd, st);
        }
    }

    /// Acts on a [`Followup`]: unwatch dropped directories, watch and list
    /// a new one (iteratively, for a whole new subtree).
    fn follow(
        &mut self,
        hub: &mut Hub,
        wd: Wd,
        name: &[u8],
        rel: Vec<u8>,
        f: Followup,
    ) -> Result<(), Fallback> {
        self.unwatch(hub, &f.dropped);
        if !f.scan_dir {
            return Ok(());
        }
        let mut todo = vec![(wd, name.to_vec(), rel)];
        while let Some((parent, name, rel)) = todo.pop() {
            let full = self.path.join(OsStr::from_bytes(&rel));
            if self.tree.is_none() {
                return Ok(());
            }
            let watched = hub.watch(self.id, &full);
            let Some(tree) = &mut self.tree else {
                return Ok(());
            };
            let child = match watched {
                Ok(c) => c,
                Err(WatchError::Add(Errno::ENOENT)) | Err(WatchError::Add(Errno::ENOTDIR)) => {
                    let f = tree.set_entry(parent, &name, None);
                    self.unwatch(hub, &f.dropped);
                    continue;
                }
                Err(e) => return Err(fallback(&full, e)),
            };
            let dropped = tree.attach_dir(parent, &name, child);
            self.unwatch(hub, &dropped);
            self.list_into(hub, child, &rel, &mut todo);
        }
        Ok(())
    }

    /// Lists directory `wd` (at `rel`) into the tree; queues subdirectories.
    fn list_into(
        &mut self,
        hub: &mut Hub,
        wd: Wd,
        rel: &[u8],
        todo: &mut Vec<(Wd, Vec<u8>, Vec<u8>)>,
    ) {
        let (Some(tree), Some(root)) = (&mut self.tree, &self.root) else {
            return;
        };
        let entries = match list_dir(root, rel) {
            Ok(e) => e,
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return,
            Err(e) => {
                let p = self.path.join(OsStr::from_bytes(rel));
                self.report_once(p, e.desc());
                return;
            }
        };
        let mut dropped = Vec::new();
        for (name, st) in entries {
            if self.exec.on && self.exec.live && !st.is_dir {
                self.exec.push(join(rel, &name), Triggers::FOUND);
            }
            if !self.disk && !st.is_dir {
                continue;
            }
            let f = tree.set_entry(wd, &name, Some(st));
            dropped.extend(f.dropped);
            if f.scan_dir {
                let child_rel = join(rel, &name);
                todo.push((wd, name, child_rel));
            }
        }
        self.unwatch(hub, &dropped);
    }

    /// Builds a fresh tree, watching every directory.
    fn build_tree(&mut self, hub: &mut Hub) -> Result<(), Fallback> {
        if self.root.is_none() {
            return Ok(());
        }
        let root_wd = hub
            .watch(self.id, &self.path)
            .map_err(|e| fallback(&self.path, e))?;
        let root_st = match self.root.as_ref().map(|r| stat_at(r, b"")) {
            Some(Ok(Some(st))) => st,
            _ => return Ok(()),
        };
        let old = self.tree.replace(UsageTree::new(root_wd, root_st));
        let mut todo = Vec::new();
        self.list_into(hub, root_wd, b"", &mut todo);
        while let Some((parent, name, rel)) = todo.pop() {
            // `follow` watches the directory, lists it and drains its own
            // queue; an error aborts the whole build.
            let f = Followup {
                scan_dir: true,
                dropped: Vec::new(),
            };
            self.follow(hub, parent, &name, rel, f)?;
        }
        if let (Some(old), Some(new)) = (old, &self.tree) {
            let stale: Vec<Wd> = old.watches().filter(|w| !new.contains(*w)).collect();
            self.unwatch(hub, &stale);
        }
        Ok(())
    }

    fn measure(&mut self) {
        if !self.disk {
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
            return;
        }
        let w = walk_usage(&self.path);
        for (p, e) in w.unreadable {
            self.report_once(p, &e.to_string());
        }
        self.figures = Figures {
            used: w.bytes,
            inodes: w.inodes,
            size: None,
        };
    }

    fn unwatch(&self, hub: &mut Hub, wds: &[Wd]) {
        for wd in wds {
            hub.unwatch(self.id, *wd);
        }
    }

    /// Falls back to periodic scans: this mount's watches (only this
    /// mount's) go, freeing them for the others.
    fn give_up(&mut self, hub: &mut Hub, f: Fallback) {
        hub.release(self.id);
        self.tree = None;
        if !self.no_inotify {
            self.no_inotify = true;
            tracing::warn!(event = "usage", path = %self.path.display(), error = %f.0,
                fix = "raise the node's inotify limits (sysctl fs.inotify.max_user_watches, fs.inotify.max_user_instances)",
                "cannot watch {} with inotify ({}); measuring it by a full scan at each rescan period instead",
                self.path.display(), f.0);
            if self.exec.on {
                tracing::warn!(event = "tamper", finding = "exec-drop", path = %self.path.display(),
                    error = %f.0, detection = "off",
                    fix = "raise the node's inotify limits (sysctl fs.inotify.max_user_watches, fs.inotify.max_user_instances)",
                    "cannot watch {} with inotify ({}): executables dropped there will not be detected",
                    self.path.display(), f.0);
            }
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

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    v.extend_from_slice(dir);
    v.push(b'/');
    v.extend_from_slice(name);
    v
}
