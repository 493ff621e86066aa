//! The one inotify instance shared by every watched mount, and who owns
//! each of its watches.
//!
//! Closing an inotify instance waits for a kernel SRCU grace period (several
//! milliseconds), paid at exit; one instance for all mounts pays it once. A
//! watch descriptor belongs to the [`MountTracker`]s that asked for it (the
//! same directory reached through two declared mounts, e.g. two bind mounts
//! of one source, gives one descriptor, owned by both): it is removed from
//! the kernel only when its last owner lets it go, so a mount that vanishes,
//! falls back to periodic scans or drops a subtree never disturbs another.
//!
//! [`Hub::read`] reads the queue once and routes each event to the owners
//! of its descriptor ([`Batch`]); the routing ([`Owners`]) is pure.
//!
//! [`MountTracker`]: crate::orchestra::tracker::MountTracker

use crate::core::fasthash::FastMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::sync::Arc;

use nix::errno::Errno;

use crate::core::mounts::mountinfo::MountTable;
use crate::core::watch::usage_tree::Wd;
use crate::edge::inotify::{dir_mask, quiet_mask, Event, Notify, IN_IGNORED, IN_Q_OVERFLOW};
use crate::edge::probe::CachedMountTable;

/// Index of a tracker in its hub (the watcher's mount index).
pub type MountId = usize;

/// Which mounts own each watch descriptor. Pure bookkeeping.
#[derive(Debug, Default)]
pub struct Owners {
    by_wd: FastMap<Wd, Vec<MountId>>,
}

impl Owners {
    /// `id` owns `wd` (idempotent).
    pub fn add(&mut self, wd: Wd, id: MountId) {
        let v = self.by_wd.entry(wd).or_default();
        if !v.contains(&id) {
            v.push(id);
        }
    }

    /// `id` lets `wd` go. Returns whether nobody owns it any more (so the
    /// kernel watch must be removed). A descriptor `id` did not own is left
    /// alone (`false`).
    pub fn remove(&mut self, wd: Wd, id: MountId) -> bool {
        let Some(v) = self.by_wd.get_mut(&wd) else {
            return false;
        };
        let Some(pos) = v.iter().position(|o| *o == id) else {
            return false;
        };
        v.swap_remove(pos);
        if v.is_empty() {
            self.by_wd.remove(&wd);
            return true;
        }
        false
    }

    /// `id` lets every watch go. Returns those nobody owns any more.
    pub fn remove_all(&mut self, id: MountId) -> Vec<Wd> {
        let mine: Vec<Wd> = self
            .by_wd
            .iter()
            .filter(|(_, v)| v.contains(&id))
            .map(|(wd, _)| *wd)
            .collect();
        mine.into_iter().filter(|wd| self.remove(*wd, id)).collect()
    }

    /// Watch descriptors owned by anyone.
    pub fn len(&self) -> usize {
        self.by_wd.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_wd.is_empty()
    }

    /// The owners of `wd` (empty when unknown).
    pub fn of(&self, wd: Wd) -> &[MountId] {
        self.by_wd.get(&wd).map_or(&[], |v| v.as_slice())
    }

    /// Watches owned by `id`.
    pub fn count(&self, id: MountId) -> usize {
        self.by_wd.values().filter(|v| v.contains(&id)).count()
    }

    /// Routes `events` (in queue order) into `out`: each event goes to every
    /// owner of its descriptor; events of unknown descriptors (watches
    /// already removed) are dropped. `IN_IGNORED` means the kernel removed
    /// the watch: it is delivered, then the descriptor is forgotten. At
    /// `IN_Q_OVERFLOW` events were lost for every mount: routing stops and
    /// [`Batch::overflow`] is set (the trackers rebuild from scratch).
    pub fn route(&mut self, events: Vec<Event>, out: &mut Batch) {
        for ev in events {
            out.overflow |= ev.mask & IN_Q_OVERFLOW != 0;
            let (wd, ignored) = (ev.wd, ev.mask & IN_IGNORED != 0);
            if !out.overflow {
                if let Some((last, rest)) = self.of(wd).split_last() {
                    let last = *last;
                    for id in rest.iter().copied() {
                        out.slot(id).push(ev.clone());
                    }
                    out.slot(last).push(ev);
                }
            }
            if ignored {
                self.by_wd.remove(&wd);
            }
        }
    }
}

/// One read of the shared queue, routed per mount.
#[derive(Debug, Default)]
pub struct Batch {
    per_mount: Vec<Vec<Event>>,
    /// The queue overflowed: events were lost for every mount.
    pub overflow: bool,
}

impl Batch {
    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.per_mount.iter_mut().for_each(Vec::clear);
        self.overflow = false;
    }

    /// The events routed to mount `id`, in queue order.
    pub fn events(&self, id: MountId) -> &[Event] {
        self.per_mount.get(id).map_or(&[], |v| v.as_slice())
    }

    fn slot(&mut self, id: MountId) -> &mut Vec<Event> {
        if self.per_mount.len() <= id {
            self.per_mount.resize_with(id + 1, Vec::new);
        }
        &mut self.per_mount[id]
    }
}

/// The mount table the hub's mounts are judged against.
const MOUNTINFO: &str = "/proc/thread-self/mountinfo";

/// The shared inotify instance (created at the first watch) and its owners.
#[derive(Debug, Default)]
pub struct Hub {
    notify: Option<Notify>,
    owners: Owners,
    buf: Vec<u8>,
    /// Refuse watches past this many with `ENOSPC` (tests of the fallback).
    limit: Option<usize>,
    /// The mount table, opened at the first [`Hub::mount_table`].
    mounts: Option<CachedMountTable>,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    /// A hub that refuses a new watch with `ENOSPC` once it holds `limit`
    /// (`None`: the kernel's limit only). Lets tests run out of watches
    /// without lowering the host's `fs.inotify.max_user_watches`.
    pub fn with_limit(limit: Option<usize>) -> Hub {
        Hub {
            limit,
            ..Hub::default()
        }
    }

    /// The mount table, read again only when it changed or was forgotten
    /// ([`CachedMountTable`]): each mount of the hub asks for it at its start
    /// and at every rescan. `/proc/thread-self` of the thread that first
    /// asks, and that thread's mount namespace at that time (a test thread
    /// may have one of its own; in sealinit every thread shares PID 1's).
    /// `None` when it cannot be read.
    pub fn mount_table(&mut self) -> Option<Arc<MountTable>> {
        self.mounts
            .get_or_insert_with(|| CachedMountTable::new(Path::new(MOUNTINFO)))
            .current()
            .ok()
    }

    /// The next [`Hub::mount_table`] reads the table afresh: a round of
    /// rescans starts (mount points move with a renamed directory above
    /// them, which the kernel does not report as a change of the table).
    pub fn forget_mount_table(&mut self) {
        if let Some(m) = &mut self.mounts {
            m.forget();
        }
    }

    /// The fd to poll, once the instance exists.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.notify.as_ref().map(|n| n.as_fd())
    }

    /// Watches directory `path` for mount `id`
    /// ([`Notify::watch_dir`]; the instance is created on first use).
    /// The error names the operation and the path.
    pub fn watch(&mut self, id: MountId, path: &Path) -> Result<Wd, WatchError> {
        self.watch_as(id, path, false).map(|(wd, _)| wd)
    }

    /// [`Hub::watch`], with the quiet mask when `quiet` and the watch is
    /// this mount's alone (a directory that was quiet before a rebuild
    /// stays so: each change of mask costs the kernel a walk of the
    /// directory's children). Returns the watch and whether it is quiet.
    pub fn watch_as(
        &mut self,
        id: MountId,
        path: &Path,
        quiet: bool,
    ) -> Result<(Wd, bool), WatchError> {
        if self.notify.is_none() {
            self.notify = Some(Notify::new().map_err(WatchError::Init)?);
        }
        let Some(n) = &self.notify else {
            return Err(WatchError::Add(Errno::EBADF));
        };
        if self.limit.is_some_and(|l| self.owners.len() >= l) {
            return Err(WatchError::Add(Errno::ENOSPC));
        }
        let mask = if quiet { quiet_mask() } else { dir_mask() };
        let wd = n.watch_dir_with(path, mask).map_err(WatchError::Add)?;
        let mut quiet = quiet;
        if quiet && self.owners.of(wd).iter().any(|o| *o != id) {
            // Another mount follows this directory by its events.
            n.watch_dir_with(path, dir_mask())
                .map_err(WatchError::Add)?;
            quiet = false;
        }
        self.owners.add(wd, id);
        Ok((wd, quiet))
    }

    /// Sets the mask of `wd`, a watch of directory `path` that mount `id`
    /// alone owns, to the quiet mask (`quiet`) or back to the full one.
    /// Returns whether it was done: a watch shared with another mount is
    /// left alone (it has the full mask: putting it back is done, making
    /// it quiet is not), and when `path` no longer names `wd`'s directory (it
    /// was moved) whatever the call touched is put back as it was.
    pub fn set_quiet(&mut self, id: MountId, wd: Wd, path: &Path, quiet: bool) -> bool {
        let Some(n) = &self.notify else {
            return false;
        };
        let owners = self.owners.of(wd);
        if owners != [id] {
            // Shared since it turned quiet (another mount watched it, with
            // the full mask, which `watch_as` always gives a shared watch):
            // already back to the full mask.
            return !quiet && owners.contains(&id);
        }
        let mask = if quiet { quiet_mask() } else { dir_mask() };
        match n.watch_dir_with(path, mask) {
            Ok(got) if got == wd => true,
            Ok(got) => {
                if self.owners.of(got).is_empty() {
                    n.unwatch(got);
                } else if quiet {
                    let _ = n.watch_dir_with(path, dir_mask());
                }
                false
            }
            Err(_) => false,
        }
    }

    /// Mount `id` lets `wd` go; the kernel watch is removed once nobody
    /// owns it ([`Notify::unwatch`]).
    pub fn unwatch(&mut self, id: MountId, wd: Wd) {
        if self.owners.remove(wd, id) {
            if let Some(n) = &self.notify {
                n.unwatch(wd);
            }
        }
    }

    /// Mount `id` lets every watch go (it vanished or fell back to scans).
    pub fn release(&mut self, id: MountId) {
        let gone = self.owners.remove_all(id);
        if let Some(n) = &self.notify {
            for wd in gone {
                n.unwatch(wd);
            }
        }
    }

    /// Watches held by mount `id`.
    pub fn watches_of(&self, id: MountId) -> usize {
        self.owners.count(id)
    }

    /// Reads every queued event without blocking and routes it into `out`
    /// (cleared first). No instance yet: nothing to read.
    pub fn read(&mut self, out: &mut Batch) -> io::Result<()> {
        out.clear();
        let Some(n) = &self.notify else {
            return Ok(());
        };
        let mut events = Vec::new();
        n.read_all(&mut self.buf, &mut events)?;
        self.owners.route(events, out);
        Ok(())
    }
}

/// Why a directory could not be watched.
#[derive(Debug)]
pub enum WatchError {
    /// `inotify_init1` failed (instance limit): no inotify at all.
    Init(io::Error),
    /// `inotify_add_watch` failed: `ENOSPC` (watch limit), `ENOENT`, ...
    Add(Errno),
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{IN_CREATE, IN_MODIFY, IN_UNMOUNT};

    fn ev(wd: Wd, mask: u32, name: &str) -> Event {
        Event::of(wd, mask, name)
    }

    fn names(b: &Batch, id: MountId) -> Vec<(Wd, String)> {
        b.events(id)
            .iter()
            .map(|e| (e.wd, String::from_utf8_lossy(&e.name).into_owned()))
            .collect()
    }

    #[test]
    fn routes_each_event_to_its_owners() {
        let mut o = Owners::default();
        o.add(1, 0);
        o.add(2, 1);
        o.add(3, 0);
        o.add(3, 1); // one directory reached from both mounts
        o.add(3, 1); // idempotent
        let mut b = Batch::default();
        let evs = vec![
            ev(1, IN_CREATE, "a"),
            ev(2, IN_MODIFY, "b"),
            ev(3, IN_CREATE, "c"),
            ev(9, IN_CREATE, "stale"),
            ev(1, IN_MODIFY, "a"),
        ];
        o.route(evs, &mut b);
        type Case = (&'static str, MountId, Vec<(Wd, String)>);
        let cases: [Case; 3] = [
            (
                "mount 0: its own and the shared watch, in order",
                0,
                vec![(1, "a".into()), (3, "c".into()), (1, "a".into())],
            ),
            (
                "mount 1: its own and the shared watch",
                1,
                vec![(2, "b".into()), (3, "c".into())],
            ),
            ("a mount with no watch gets nothing", 2, vec![]),
        ];
        for (name, id, want) in cases {
            assert_eq!(names(&b, id), want, "{name}");
        }
        assert!(!b.overflow);
    }

    #[test]
    fn ignored_is_delivered_then_forgotten() {
        let mut o = Owners::default();
        o.add(1, 0);
        o.add(2, 1);
        let mut b = Batch::default();
        o.route(
            vec![
                ev(1, IN_UNMOUNT, ""),
                ev(1, IN_IGNORED, ""),
                ev(1, IN_CREATE, "reused-later"),
            ],
            &mut b,
        );
        assert_eq!(names(&b, 0), vec![(1, "".into()), (1, "".into())]);
        assert_eq!(o.of(1), &[] as &[MountId], "kernel dropped the watch");
        assert_eq!(o.of(2), &[1], "the other mount keeps its watch");
    }

    #[test]
    fn overflow_stops_routing_for_everyone() {
        let mut o = Owners::default();
        o.add(1, 0);
        o.add(2, 1);
        let mut b = Batch::default();
        o.route(
            vec![
                ev(1, IN_CREATE, "before"),
                ev(-1, IN_Q_OVERFLOW, ""),
                ev(2, IN_CREATE, "after"),
                ev(2, IN_IGNORED, ""),
            ],
            &mut b,
        );
        assert!(b.overflow);
        assert_eq!(names(&b, 0), vec![(1, "before".into())]);
        assert_eq!(names(&b, 1), vec![]);
        assert_eq!(o.of(2), &[] as &[MountId], "IN_IGNORED still forgets");
        b.clear();
        assert!(!b.overflow && b.events(0).is_empty());
    }

    #[test]
    fn a_watch_is_removed_when_its_last_owner_lets_go() {
        let mut o = Owners::default();
        o.add(5, 0);
        o.add(5, 1);
        o.add(6, 0);
        o.add(7, 1);
        let cases: [(&str, Wd, MountId, bool); 4] = [
            ("not an owner: untouched", 7, 0, false),
            ("shared, first owner leaves: kept", 5, 0, false),
            ("shared, last owner leaves: removed", 5, 1, true),
            ("unknown descriptor", 42, 0, false),
        ];
        for (name, wd, id, want) in cases {
            assert_eq!(o.remove(wd, id), want, "{name}");
        }
        o.add(8, 0);
        o.add(8, 1);
        let mut gone = o.remove_all(0);
        gone.sort();
        assert_eq!(gone, vec![6], "mount 0 leaves: only its sole watch goes");
        assert_eq!((o.count(0), o.count(1)), (0, 2));
        assert_eq!(o.of(8), &[1]);
    }
}
