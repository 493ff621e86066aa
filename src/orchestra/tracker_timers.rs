//! The timed work of a [`MountTracker`]: hot files re-stat'ed, the
//! hard-link hunt, and the fallback scan when inotify is given up.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::*;
use crate::edge::openfiles::open_for_write;

impl MountTracker {
    /// Arms the hot-file timer when a hot file needs re-stat'ing, or
    /// `force` (events arrived: look for files open for writing).
    pub(super) fn arm_hot(&mut self, force: bool) {
        if self.hot_due.is_some() {
            return;
        }
        let Some(tree) = &self.tree else {
            return;
        };
        if force || tree.hot_len() > 0 {
            self.hot_due = Some(Instant::now() + HOT_TICK);
        }
    }

    /// Files of this filesystem open for writing (or mapped shared and
    /// writable) by any process: those not hot, and open at the previous
    /// scan too, are hunted by inode number and become hot (open) when
    /// their directory is re-listed (a file open briefly, as an unpacking
    /// archive's, is followed by its events; the hunt reads every watched
    /// directory). Returns whether any is open.
    fn scan_open(&mut self) -> bool {
        let open = open_for_write(&self.mnt_ids, self.dev);
        let Some(tree) = &mut self.tree else {
            return false;
        };
        let mut unknown = tree.mark_open(&open);
        let prev = std::mem::replace(&mut self.open_prev, open.clone());
        unknown.retain(|i| prev.contains(i));
        let now = Instant::now();
        self.foreign
            .retain(|_, at| now.duration_since(*at) < Duration::from_secs(10));
        unknown.retain(|i| !self.foreign.contains_key(i));
        // Keep looking while anything of this filesystem is open for
        // writing (a file hunted in vain may be found after a move).
        let any = !open.is_empty();
        if !unknown.is_empty() {
            // Found or not, not hunted again for 10 s (inode numbers are
            // reused): found ones are hot from now.
            self.foreign.extend(unknown.iter().map(|i| (*i, now)));
            self.hunt.extend(unknown);
            self.run_hunt();
        }
        any
    }

    /// Re-stats the hot files open for writing, or closed less than
    /// [`WRITEBACK`] ago with at least [`WRITEBACK_MIN`] bytes; forgets the
    /// others once idle. On a statfs-measured mount an open file just
    /// makes the caller measure again.
    pub(super) fn restat_hot(&mut self, _now: Instant) {
        let open = self.walk && self.scan_open();
        let now_ms = self.t0.elapsed().as_millis() as u64;
        let wb = WRITEBACK.as_millis() as u64;
        let short = HOT_TICK.as_millis() as u64 * 2;
        let (Some(tree), Some(root)) = (&mut self.tree, &self.root) else {
            return;
        };
        let mut restat = Vec::new();
        let mut cool = Vec::new();
        for (at, h) in tree.hot() {
            let age = now_ms.saturating_sub(h.stamp);
            let keep = h.open || age < if h.bytes >= WRITEBACK_MIN { wb } else { short };
            if !keep {
                cool.push(*at);
            } else if self.walk && (h.open || h.bytes >= WRITEBACK_MIN) {
                restat.push((*at, h.name.clone()));
            }
        }
        for at in cool {
            tree.cool(at);
        }
        for ((wd, key), name) in restat {
            let Some(rel) = tree.rel_path(wd).map(|d| join(&d, &name)) else {
                tree.cool((wd, key));
                continue;
            };
            let st = stat_at(root, &rel).ok().flatten();
            if tree.restat(wd, key, st) {
                self.dirty.insert(wd);
            }
        }
        self.arm_hot(open);
    }

    /// Finds the other names of hard-linked inodes met by a listing (by
    /// `d_ino`, no stat) and re-lists the directories holding them.
    pub(super) fn run_hunt(&mut self) {
        let want = std::mem::take(&mut self.hunt);
        let started = Instant::now();
        self.hunt_next = started + HUNT_MIN;
        let (Some(tree), Some(root)) = (&self.tree, &self.root) else {
            return;
        };
        for wd in tree.watches() {
            let Some(rel) = tree.rel_path(wd) else {
                continue;
            };
            if has_ino(root, &rel, &want).unwrap_or(false) {
                self.dirty.insert(wd);
            }
        }
        self.hunt_next = self.hunt_next.max(started + started.elapsed() * 10);
    }

    /// Falls back to the periodic scan: this mount's watches go, said once
    /// (and once more for exec drops, which the watcher turns into a
    /// tamper finding).
    pub(super) fn give_up(&mut self, hub: &mut Hub, f: Fallback) {
        self.fallback_dirs = self.tree.as_ref().map_or(0, |t| t.dirs() as u64);
        hub.release(self.id);
        self.tree = None;
        self.dirty.clear();
        self.quiet.clear();
        self.hunt_due = None;
        self.hot_due = None;
        if self.no_inotify {
            return;
        }
        self.no_inotify = true;
        self.last_scan = wall_now();
        self.periodic_due = Some(Instant::now());
        tracing::warn!(event = "usage", path = %self.path.display(), error = %f.0,
            fix = "raise the node's inotify limits (sysctl fs.inotify.max_user_watches, fs.inotify.max_user_instances)",
            "cannot watch {} with inotify ({}); measuring it by a full scan every {}s or more \
             instead, until its tree shrinks to half", self.path.display(), f.0,
            FALLBACK_MIN.as_secs());
        if self.exec.on {
            self.lost = Some(f.0);
        }
    }

    /// The fallback scan: a full walk for the figure, and the files changed
    /// since the previous walk for the exec-drop check. Takes inotify back
    /// once the tree has half the directories it had when watches ran out.
    pub(super) fn periodic(&mut self, hub: &mut Hub) {
        let started = Instant::now();
        let since = self.last_scan;
        self.last_scan = wall_now();
        let opts = WalkOpts {
            exclude: self.exclude.clone(),
            changed_since: self.exec.on.then_some(since),
            max_recent: 4096,
        };
        let w = walk_usage_opts(&self.path, &opts);
        for (p, e) in w.unreadable {
            self.report_once(p, &e.to_string());
        }
        if self.walk {
            self.figures = Figures {
                used: w.bytes,
                inodes: w.inodes,
                size: None,
            };
        }
        let was = self.exec.live;
        self.exec.live = true;
        for rel in w.recent {
            self.exec.push(rel, Triggers::FOUND);
        }
        self.exec.live = was;
        if self.fallback_dirs == 0 {
            self.fallback_dirs = w.dirs;
        }
        if self.no_inotify && w.dirs * 2 <= self.fallback_dirs && self.root.is_some() {
            self.no_inotify = false;
            match self.build_tree(hub) {
                Ok(()) => {
                    self.periodic_due = None;
                    tracing::info!(event = "usage", path = %self.path.display(),
                        "{} is watched with inotify again ({} directories)",
                        self.path.display(), w.dirs);
                    return;
                }
                Err(_) => {
                    hub.release(self.id);
                    self.tree = None;
                    self.no_inotify = true;
                    self.fallback_dirs = w.dirs;
                }
            }
        }
        let period = (started.elapsed() * 10).max(FALLBACK_MIN);
        self.periodic_due = Some(Instant::now() + period);
    }
}

/// Now, wall clock, less a second (file timestamps come from the coarse
/// clock, which lags by up to a tick).
fn wall_now() -> (i64, i64) {
    wall_ago(Duration::from_secs(1))
}

/// The wall clock `ago` before now, as `(seconds, nanoseconds)` (a ctime).
pub(super) fn wall_ago(ago: Duration) -> (i64, i64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(ago);
    (d.as_secs() as i64, i64::from(d.subsec_nanos()))
}
