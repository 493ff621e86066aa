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
//! - `IN_Q_OVERFLOW`, a vanished root, or [`MountTracker::rescan`] (the
//!   safety net) rebuild everything. When inotify cannot be used (watch
//!   limit `ENOSPC`, too many instances, a path too long to watch) the mount
//!   falls back to a full measurement at each rescan, with one warning.
//! - A subtree that cannot be read is reported once, never fatal.
//! - Exec-drop detection ([`MountTracker::with_exec`]): files named by
//!   `IN_CLOSE_WRITE`, `IN_MOVED_TO`, `IN_CREATE` and `IN_ATTRIB` (and the
//!   files listed in a directory that appeared after start-up) are queued
//!   as candidates, merged per batch, for [`MountTracker::drain_exec`]; the
//!   judgement is `core::tamper`'s. A rescan never queues existing files.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::core::tamper::Triggers;
use crate::core::usage_tree::{Followup, UsageTree, Wd};
use crate::edge::inotify::{Event, Notify, IN_IGNORED, IN_ISDIR, IN_Q_OVERFLOW, IN_UNMOUNT};
use crate::edge::usage::{list_dir, open_dir, stat_at, statfs_usage, walk_usage};

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

/// A file an inotify batch named, for the exec-drop check.
#[derive(Debug)]
pub struct ExecCandidate<'a> {
    /// The mount's directory fd; `rel` is relative to it.
    pub root: BorrowedFd<'a>,
    /// The mount's path.
    pub mount: &'a Path,
    /// Path of the file under the mount (raw bytes, never empty).
    pub rel: &'a [u8],
    pub triggers: Triggers,
}

/// Exec-drop candidates of the current batch, merged per path.
#[derive(Debug, Default)]
struct ExecQueue {
    on: bool,
    /// Inside [`MountTracker::on_readable`] (not a rescan).
    live: bool,
    order: Vec<Vec<u8>>,
    triggers: HashMap<Vec<u8>, Triggers>,
    overflowed: bool,
}

impl ExecQueue {
    fn push(&mut self, rel: Vec<u8>, t: Triggers) {
        if !self.on || !self.live || t.is_empty() {
            return;
        }
        match self.triggers.get_mut(&rel) {
            Some(have) => *have |= t,
            None => {
                self.triggers.insert(rel.clone(), t);
                self.order.push(rel);
            }
        }
    }
}

pub struct MountTracker {
    path: PathBuf,
    disk: bool,
    root: Option<OwnedFd>,
    notify: Option<Notify>,
    tree: Option<UsageTree>,
    /// Set once inotify failed for good on this mount.
    no_inotify: bool,
    buf: Vec<u8>,
    events: Vec<Event>,
    figures: Figures,
    reported: HashSet<PathBuf>,
    settle: Option<Instant>,
    exec: ExecQueue,
}

impl MountTracker {
    /// Starts tracking `path`: `disk` selects the du-style walk, otherwise
    /// statfs. Measures at once.
    pub fn new(path: PathBuf, disk: bool) -> MountTracker {
        MountTracker::with_exec(path, disk, false)
    }

    /// [`MountTracker::new`], with exec-drop candidates collected from the
    /// start when `exec` is set (so that losing inotify at start-up says
    /// that exec drops go undetected).
    pub fn with_exec(path: PathBuf, disk: bool, exec: bool) -> MountTracker {
        let mut t = MountTracker {
            path,
            disk,
            root: None,
            notify: None,
            tree: None,
            no_inotify: false,
            buf: Vec::new(),
            events: Vec::new(),
            figures: Figures::default(),
            reported: HashSet::new(),
            settle: None,
            exec: ExecQueue {
                on: exec,
                ..ExecQueue::default()
            },
        };
        t.rescan();
        t
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
    /// [`MountTracker::on_readable`] to `f` and clears the queue. Returns
    /// whether the inotify queue overflowed since the last call (drops
    /// during the overflow may have been missed).
    pub fn drain_exec(&mut self, mut f: impl FnMut(ExecCandidate<'_>)) -> bool {
        let order = std::mem::take(&mut self.exec.order);
        let mut triggers = std::mem::take(&mut self.exec.triggers);
        let overflowed = std::mem::take(&mut self.exec.overflowed);
        if let Some(root) = &self.root {
            for rel in &order {
                if let Some(t) = triggers.get(rel) {
                    f(ExecCandidate {
                        root: root.as_fd(),
                        mount: &self.path,
                        rel,
                        triggers: *t,
                    });
                }
            }
        }
        triggers.clear();
        self.exec.triggers = triggers;
        overflowed
    }

    /// The fd to poll for events, if the mount is event-driven.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.tree.as_ref()?;
        self.notify.as_ref().map(|n| n.as_fd())
    }

    /// Full rebuild and measurement: the start, the safety net, overflow.
    pub fn rescan(&mut self) {
        self.root = match open_dir(&self.path) {
            Ok(fd) => Some(fd),
            Err(e) => {
                self.report_once(self.path.clone(), &e.to_string());
                self.tree = None;
                self.notify = None;
                self.figures = Figures::default();
                return;
            }
        };
        if !self.no_inotify && self.notify.is_none() {
            match Notify::new() {
                Ok(n) => self.notify = Some(n),
                Err(e) => self.give_up(Fallback(e.to_string())),
            }
        }
        if self.notify.is_some() {
            if let Err(f) = self.build_tree() {
                self.give_up(f);
            }
        }
        self.measure();
    }

    /// Reads and applies every queued event. Returns whether any arrived.
    pub fn on_readable(&mut self) -> bool {
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        let read = match &self.notify {
            Some(n) => n.read_all(&mut self.buf, &mut events),
            None => return false,
        };
        if let Err(e) = read {
            tracing::warn!(event = "usage", path = %self.path.display(), error = %e,
                "cannot read inotify events for {}: {e}; measuring it again in full",
                self.path.display());
            self.rescan();
            return true;
        }
        let any = !events.is_empty();
        self.exec.live = true;
        let applied = self.apply(&events);
        self.exec.live = false;
        if let Err(f) = applied {
            self.give_up(f);
        }
        self.events = events;
        if any {
            self.measure();
        }
        any
    }

    fn apply(&mut self, events: &[Event]) -> Result<(), Fallback> {
        let mut dirs: HashSet<Wd> = HashSet::new();
        let mut seen: HashSet<(Wd, &[u8])> = HashSet::new();
        for ev in events {
            if ev.mask & IN_Q_OVERFLOW != 0 {
                tracing::debug!(event = "usage", path = %self.path.display(),
                    "inotify queue overflowed for {}: full rescan", self.path.display());
                self.exec.overflowed |= self.exec.on;
                self.exec.live = false;
                self.rescan();
                return Ok(());
            }
            let Some(tree) = &mut self.tree else {
                return Ok(());
            };
            if !tree.contains(ev.wd) {
                continue;
            }
            if ev.mask & (IN_IGNORED | IN_UNMOUNT) != 0 {
                if tree.rel_path(ev.wd).is_some_and(|p| p.is_empty()) {
                    // The root itself went away: start over at the next rescan.
                    self.tree = None;
                    self.root = None;
                    return Ok(());
                }
                let dropped = tree.forget(ev.wd);
                self.unwatch(&dropped);
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
                self.refresh(ev.wd, &ev.name)?;
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
    fn refresh(&mut self, wd: Wd, name: &[u8]) -> Result<(), Fallback> {
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
        self.follow(wd, name, rel, f)
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
    fn follow(&mut self, wd: Wd, name: &[u8], rel: Vec<u8>, f: Followup) -> Result<(), Fallback> {
        self.unwatch(&f.dropped);
        if !f.scan_dir {
            return Ok(());
        }
        let mut todo = vec![(wd, name.to_vec(), rel)];
        while let Some((parent, name, rel)) = todo.pop() {
            let full = self.path.join(OsStr::from_bytes(&rel));
            let (Some(notify), Some(tree)) = (&self.notify, &mut self.tree) else {
                return Ok(());
            };
            let child = match notify.watch_dir(&full) {
                Ok(c) => c,
                Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => {
                    let f = tree.set_entry(parent, &name, None);
                    self.unwatch(&f.dropped);
                    continue;
                }
                Err(e) => {
                    return Err(Fallback(format!(
                        "inotify_add_watch {}: {}",
                        full.display(),
                        e.desc()
                    )))
                }
            };
            let dropped = tree.attach_dir(parent, &name, child);
            self.unwatch(&dropped);
            self.list_into(child, &rel, &mut todo);
        }
        Ok(())
    }

    /// Lists directory `wd` (at `rel`) into the tree; queues subdirectories.
    fn list_into(&mut self, wd: Wd, rel: &[u8], todo: &mut Vec<(Wd, Vec<u8>, Vec<u8>)>) {
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
        self.unwatch(&dropped);
    }

    /// Builds a fresh tree, watching every directory.
    fn build_tree(&mut self) -> Result<(), Fallback> {
        let (Some(notify), Some(root)) = (&self.notify, &self.root) else {
            return Ok(());
        };
        let root_wd = notify.watch_dir(&self.path).map_err(|e| {
            Fallback(format!(
                "inotify_add_watch {}: {}",
                self.path.display(),
                e.desc()
            ))
        })?;
        let root_st = match stat_at(root, b"") {
            Ok(Some(st)) => st,
            _ => return Ok(()),
        };
        let old = self.tree.replace(UsageTree::new(root_wd, root_st));
        let mut todo = Vec::new();
        self.list_into(root_wd, b"", &mut todo);
        while let Some((parent, name, rel)) = todo.pop() {
            // `follow` watches the directory, lists it and drains its own
            // queue; an error aborts the whole build.
            let f = Followup {
                scan_dir: true,
                dropped: Vec::new(),
            };
            self.follow(parent, &name, rel, f)?;
        }
        if let (Some(old), Some(new)) = (old, &self.tree) {
            let stale: Vec<Wd> = old.watches().filter(|w| !new.contains(*w)).collect();
            self.unwatch(&stale);
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

    fn unwatch(&self, wds: &[Wd]) {
        if let Some(n) = &self.notify {
            for wd in wds {
                n.unwatch(*wd);
            }
        }
    }

    fn give_up(&mut self, f: Fallback) {
        self.notify = None;
        self.tree = None;
        if !self.no_inotify {
            self.no_inotify = true;
            tracing::warn!(event = "usage", path = %self.path.display(), error = %f.0,
                fix = "raise the node's inotify limits (sysctl fs.inotify.max_user_watches, fs.inotify.max_user_instances)",
                "cannot watch {} with inotify ({}); measuring it by a full scan at each rescan period instead",
                self.path.display(), f.0);
            if self.exec.on {
                tracing::warn!(event = "tamper", kind = "exec-drop", path = %self.path.display(),
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
