//! Exec-drop candidates of one watched mount: the files an inotify batch
//! named, merged per path until [`MountTracker::drain_exec`] hands them to
//! the detector (`orchestra::tamper`).
//!
//! [`MountTracker::drain_exec`]: crate::orchestra::tracker::MountTracker::drain_exec

use std::os::fd::BorrowedFd;
use std::path::Path;

use crate::core::fasthash::FastMap;
use crate::core::watch::tamper::Triggers;
use crate::core::watch::usage_tree::EntryStat;

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
    /// The tracker's `lstat` of it in the batch that named it, if any (the
    /// check need not look the path up again to learn its type and size).
    pub seen: Option<EntryStat>,
}

/// Exec-drop candidates of the current batch, merged per path.
#[derive(Debug, Default)]
pub struct ExecQueue {
    pub on: bool,
    /// Inside [`apply_events`](crate::orchestra::tracker::MountTracker::apply_events) (not a rescan).
    pub live: bool,
    order: Vec<Vec<u8>>,
    triggers: FastMap<Vec<u8>, (Triggers, Option<EntryStat>)>,
    /// The queue overflowed since the last drain.
    pub overflowed: bool,
    /// When the watch started, less a second (wall clock, as ctime): a file
    /// only *found* by a listing is a candidate when its ctime is not
    /// before this.
    pub since: (i64, i64),
}

impl ExecQueue {
    /// An empty queue, collecting only when `on`.
    pub fn new(on: bool) -> ExecQueue {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(std::time::Duration::from_secs(1));
        ExecQueue {
            on,
            since: (now.as_secs() as i64, i64::from(now.subsec_nanos())),
            ..ExecQueue::default()
        }
    }

    /// Whether an event with triggers `t` makes a candidate now.
    pub fn wants(&self, t: Triggers) -> bool {
        self.on && self.live && !t.is_empty()
    }

    /// Queues `rel` (merging triggers per path) while `on` and `live`.
    pub fn push(&mut self, rel: Vec<u8>, t: Triggers) {
        if !self.on || !self.live || t.is_empty() {
            return;
        }
        match self.triggers.get_mut(&rel) {
            Some(have) => have.0 |= t,
            None => {
                self.triggers.insert(rel.clone(), (t, None));
                self.order.push(rel);
            }
        }
    }

    /// Remembers the tracker's `lstat` of queued candidate `rel`.
    pub fn note_stat(&mut self, rel: &[u8], st: Option<EntryStat>) {
        if let Some(have) = self.triggers.get_mut(rel) {
            have.1 = st;
        }
    }

    /// Candidates waiting for [`ExecQueue::drain`].
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Hands each queued candidate (under `root`, the mount's fd, at
    /// `mount`) to `f` and clears the queue; returns whether the inotify
    /// queue overflowed since the last drain. No root: dropped.
    pub fn drain(
        &mut self,
        root: Option<BorrowedFd<'_>>,
        mount: &Path,
        f: &mut impl FnMut(ExecCandidate<'_>),
    ) -> bool {
        let order = std::mem::take(&mut self.order);
        let mut triggers = std::mem::take(&mut self.triggers);
        let overflowed = std::mem::take(&mut self.overflowed);
        if let Some(root) = root {
            for rel in &order {
                if let Some((t, seen)) = triggers.get(rel) {
                    f(ExecCandidate {
                        root,
                        mount,
                        rel,
                        triggers: *t,
                        seen: *seen,
                    });
                }
            }
        }
        triggers.clear();
        self.triggers = triggers;
        overflowed
    }
}
