//! Directories too busy to follow event by event ("quiet" ones).
//!
//! Every inotify event is paid twice: the kernel allocates and queues it in
//! the writer's own system call, and the watcher reads and applies it. A
//! workload churning small files (create, write, close, unlink: four
//! events a file) or unpacking a tarball pays that on every file, and on a
//! one-CPU pod the watcher's share is the workload's too. So a directory
//! that raises [`QUIET_EVENTS`] events or more in one batch has its watch
//! narrowed to [`quiet_mask`](crate::edge::inotify::quiet_mask) (moves and
//! its own removal only, which keep the tree of directories consistent)
//! and is re-listed every [`QUIET_POLL`] (or 40 times its last listing's
//! duration) instead: exact within that period, at the cost of one
//! stat per entry, paid by the watcher alone. Once its listings have
//! shown no change for [`QUIET_HOLD`] (the directory's ctime, the bytes and
//! number of its files), the full mask is put back first and the directory
//! listed once more (watch, then read): it is followed by events again.
//! A directory stays quiet as long as it is busy, because each change of
//! mask costs the kernel a walk of the directory's cached children
//! (negative dentries of deleted files included) under locks the writer
//! needs.
//!
//! Only directories of at most [`BIG_DIR`] entries turn quiet (a listing's
//! cost grows with them; one that grows past it while quiet gets its full
//! mask back), and only when this mount alone owns the watch.
//! Each listing hands the files whose ctime is not before the previous
//! listing's start (less [`CTIME_SLACK`]) to the exec-drop check; a file
//! created and removed between two listings is never seen, as one created
//! and removed within one batch (`transient_files`) is not.

use super::timers::wall_ago;
use super::*;

/// Events of one directory in one batch that make it quiet (40,000 a
/// second at the shortest batch: an unpacking archive's directory of a
/// hundred files stays followed by events, a churning one does not).
pub const QUIET_EVENTS: usize = 1024;
/// A batch this long (a quarter of the kernel's default queue of 16,384)
/// means the watcher is falling behind, and an overflow would mean a full
/// rescan, which falls behind further: then the busiest directories turn
/// quiet, in order, until the others' events are under a quarter of it;
/// a directory needs [`QUIET_EVENTS_PRESSED`] events in the batch.
pub const PRESSURE: usize = 4096;
pub const QUIET_EVENTS_PRESSED: usize = 16;
/// The period of a quiet directory's listing (at least).
pub const QUIET_POLL: Duration = Duration::from_millis(200);
/// How long a quiet directory's listings show no change before its full
/// mask is put back.
pub const QUIET_HOLD: Duration = Duration::from_millis(500);
/// File timestamps come from the coarse clock, which lags the wall clock
/// by up to a tick (10 ms at `HZ=100`).
const CTIME_SLACK: Duration = Duration::from_millis(20);

/// What a listing of a quiet directory saw: its ctime and its
/// [`UsageTree::dir_sum`].
type Seen = ((i64, i64), Option<(u64, u64, u64)>);

/// A quiet directory's timers.
#[derive(Debug)]
pub(super) struct Quiet {
    /// The next listing.
    next: Instant,
    /// What the listings saw (the directory's ctime, then its
    /// [`UsageTree::dir_sum`]), and since when.
    seen: Seen,
    calm_since: Instant,
    /// Files whose ctime is not before this are exec-drop candidates.
    since: (i64, i64),
}

impl MountTracker {
    /// Makes quiet the directories that raised [`QUIET_EVENTS`] events or
    /// more in `events` (one batch), or under [`PRESSURE`] the busiest ones.
    pub(super) fn quiet_busy(&mut self, hub: &mut Hub, events: &[Event]) {
        if events.len() < QUIET_EVENTS {
            return;
        }
        let mut counts: HashMap<Wd, usize> = HashMap::new();
        let mut run = (events[0].wd, 0);
        for ev in events {
            if ev.wd == run.0 {
                run.1 += 1;
            } else {
                *counts.entry(run.0).or_default() += run.1;
                run = (ev.wd, 1);
            }
        }
        *counts.entry(run.0).or_default() += run.1;
        let mut busiest: Vec<(usize, Wd)> = counts.into_iter().map(|(wd, n)| (n, wd)).collect();
        busiest.sort_unstable_by(|a, b| b.cmp(a));
        let mut rest = events.len();
        for (n, wd) in busiest {
            let pressed = events.len() >= PRESSURE && rest > PRESSURE / 4;
            if n < QUIET_EVENTS && !(pressed && n >= QUIET_EVENTS_PRESSED) {
                break;
            }
            if self.go_quiet(hub, wd) {
                rest -= n;
            }
        }
    }

    /// Makes `wd` quiet; returns whether it is.
    fn go_quiet(&mut self, hub: &mut Hub, wd: Wd) -> bool {
        if self.quiet.contains_key(&wd) {
            return true;
        }
        let Some(tree) = &self.tree else {
            return false;
        };
        if !tree.contains(wd) || tree.entries(wd) > BIG_DIR {
            return false;
        }
        let Some(rel) = tree.rel_path(wd) else {
            return false;
        };
        // Changes from now on are found by the listings.
        let since = wall_ago(CTIME_SLACK);
        let dir = self.path.join(OsStr::from_bytes(&rel));
        if hub.set_quiet(self.id, wd, &dir, true) {
            tracing::debug!(event = "usage", path = %dir.display(),
                "{} is busy: listed every {} ms instead of followed event by event",
                dir.display(), QUIET_POLL.as_millis());
            self.quiet_again(wd, since);
            return true;
        }
        false
    }

    /// The paths of the quiet directories (kept quiet across a rebuild),
    /// and the ctime their next listing judges from.
    pub(super) fn quiet_paths(&self) -> HashMap<Vec<u8>, (i64, i64)> {
        let Some(tree) = &self.tree else {
            return HashMap::new();
        };
        self.quiet
            .iter()
            .filter_map(|(wd, q)| Some((tree.rel_path(*wd)?, q.since)))
            .collect()
    }

    /// `wd` was made quiet (or watched quiet again by a rebuild): its next
    /// listing hands the files whose ctime is not before `since` to the
    /// exec-drop check.
    pub(super) fn quiet_again(&mut self, wd: Wd, since: (i64, i64)) {
        let now = Instant::now();
        let q = Quiet {
            next: now + QUIET_POLL,
            seen: ((0, 0), None),
            calm_since: now,
            since,
        };
        self.quiet.insert(wd, q);
    }

    /// Where the next listing of quiet directory `wd` judges from (`None`:
    /// not quiet).
    pub(super) fn quiet_since(&self, wd: Wd) -> Option<(i64, i64)> {
        self.quiet.get(&wd).map(|q| q.since)
    }

    /// The next listing of a quiet directory.
    pub(super) fn quiet_due(&self) -> Option<Instant> {
        self.quiet.values().map(|q| q.next).min()
    }

    /// Quiet directories listed: those whose time is up get their full mask
    /// back first. Returns whether anything was listed.
    pub(super) fn poll_quiet(&mut self, hub: &mut Hub, now: Instant) -> Result<bool, Fallback> {
        let due: Vec<Wd> = self
            .quiet
            .iter()
            .filter(|(_, q)| q.next <= now)
            .map(|(wd, _)| *wd)
            .collect();
        let mut any = false;
        for wd in due {
            let rel = self
                .tree
                .as_ref()
                .filter(|t| t.contains(wd))
                .and_then(|t| t.rel_path(wd));
            let (Some(rel), Some(q)) = (rel, self.quiet.get(&wd)) else {
                self.quiet.remove(&wd);
                continue;
            };
            let (since, calm) = (q.since, now.saturating_duration_since(q.calm_since));
            let started = Instant::now();
            let next_since = wall_ago(CTIME_SLACK);
            let big = self.tree.as_ref().is_some_and(|t| t.entries(wd) > BIG_DIR);
            if calm >= QUIET_HOLD || big {
                let dir = self.path.join(OsStr::from_bytes(&rel));
                // Not done (the directory moved and its event is still
                // queued): tried again at the next listing.
                if hub.set_quiet(self.id, wd, &dir, false) {
                    self.quiet.remove(&wd);
                }
            }
            let ctime = self.list(hub, wd, self.exec.on.then_some(since))?;
            any = true;
            let ctime = ctime.unwrap_or((0, 0));
            let seen = (ctime, self.tree.as_ref().and_then(|t| t.dir_sum(wd)));
            if let Some(q) = self.quiet.get_mut(&wd) {
                if seen != q.seen {
                    q.seen = seen;
                    q.calm_since = now;
                }
                q.since = next_since;
                q.next = Instant::now() + (started.elapsed() * 40).max(QUIET_POLL);
            }
        }
        Ok(any)
    }
}
