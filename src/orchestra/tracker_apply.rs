//! Events applied to a [`MountTracker`]: one stat per name per batch,
//! the tree's delta or re-list, new directories followed, exec-drop
//! candidates queued; files created and removed within the batch cost
//! nothing.

use super::*;
use crate::core::fasthash::{FastMap, FastSet};

impl MountTracker {
    pub(super) fn apply(&mut self, hub: &mut Hub, events: &[Event]) -> Result<(), Fallback> {
        let now_ms = self.t0.elapsed().as_millis() as u64;
        let mut touched: FastSet<Wd> = FastSet::default();
        let transient = transient_files(events);
        let mut stats: FastMap<(Wd, &[u8]), Option<EntryStat>> = FastMap::default();
        // Paths of the directories met in this batch (a directory event
        // may move any of them: then forgotten).
        let mut dirs: FastMap<Wd, Vec<u8>> = FastMap::default();
        for (i, ev) in events.iter().enumerate() {
            let (Some(tree), Some(root)) = (&mut self.tree, &self.root) else {
                return Ok(());
            };
            if transient[i] || !tree.contains(ev.wd) {
                continue;
            }
            if ev.mask & (IN_ISDIR | IN_IGNORED | IN_UNMOUNT) != 0 {
                dirs.clear();
            }
            if ev.mask & (IN_IGNORED | IN_UNMOUNT) != 0 {
                if tree.is_root(ev.wd) {
                    // The root itself went away: start over at the rescan.
                    self.tree = None;
                    self.root = None;
                    hub.release(self.id);
                    return Ok(());
                }
                let dropped = tree.forget(ev.wd);
                self.unwatch(hub, &dropped);
                continue;
            }
            if ev.name.is_empty() {
                continue;
            }
            let dir = match dirs.get(&ev.wd) {
                Some(d) => d,
                None => match tree.rel_path(ev.wd) {
                    Some(d) => dirs.entry(ev.wd).or_insert(d),
                    None => continue,
                },
            };
            let triggers = Triggers::from_mask(ev.mask);
            let exec_wanted = self.exec.wants(triggers);
            let is_dir = ev.mask & IN_ISDIR != 0;
            if !self.walk && ev.mask & (libc::IN_DELETE | libc::IN_MOVED_TO) != 0 {
                self.settle = Some(Instant::now() + SETTLE);
            }
            let kind = ev_kind(ev.mask);
            if kind.is_none() && !exec_wanted {
                continue;
            }
            if !self.walk && !is_dir && kind == Some(Ev::Written) {
                if let Some(t) = &mut self.tree {
                    t.event(ev.wd, &ev.name, Ev::Written, false, None, now_ms);
                }
                continue;
            }
            let rel = join(dir, &ev.name);
            // One stat per name per batch: the events of a name all
            // describe the entry as it is now (create, writes, close,
            // chmod), the stat being taken after all of them.
            let st = if kind == Some(Ev::Removed) {
                None
            } else if let Some(st) = stats.get(&(ev.wd, ev.name.as_slice())) {
                *st
            } else {
                match stat_at(root, &rel) {
                    Ok(st) => {
                        stats.insert((ev.wd, ev.name.as_slice()), st);
                        st
                    }
                    Err(e) => {
                        let p = self.path.join(OsStr::from_bytes(&rel));
                        self.report_once(p, e.desc());
                        continue;
                    }
                }
            };
            // Every such event goes to the detector, with this stat, exec
            // bit or not: its state per inode (a file being written, one
            // already reported) moves on closes and mode changes of plain
            // files too. It opens none without an exec bit (`recognise`).
            if exec_wanted {
                self.exec.push(rel.clone(), triggers);
                self.exec.note_stat(&rel, st);
            }
            let Some(kind) = kind else {
                continue;
            };
            touched.insert(ev.wd);
            let Some(tree) = &mut self.tree else {
                return Ok(());
            };
            let out = tree.event(ev.wd, &ev.name, kind, is_dir, st, now_ms);
            let dropped = tree.take_dropped();
            self.unwatch(hub, &dropped);
            match out {
                Outcome::Done => {}
                Outcome::Relist => {
                    self.dirty.insert(ev.wd);
                }
                // A directory made here is empty when made: following it
                // later only adds its content later. One moved in arrives
                // full: followed at once, or its bytes would be missing
                // (a dip, and threshold events) until then.
                Outcome::NewDir if ev.mask & libc::IN_CREATE != 0 => {
                    self.defer_follow(ev.wd, ev.name.to_vec())
                }
                Outcome::NewDir => {
                    let since = Some(self.exec.since);
                    self.follow(hub, vec![(ev.wd, ev.name.to_vec(), rel)], since)?
                }
            }
        }
        if self.walk {
            for wd in touched {
                self.refresh_own(wd);
            }
        }
        // The workload is writing here: look for files open for writing
        // (mmap stores raise no event) at the next tick.
        self.arm_hot(self.walk);
        Ok(())
    }

    pub(super) fn refresh_own(&mut self, wd: Wd) {
        let (Some(tree), Some(root)) = (&mut self.tree, &self.root) else {
            return;
        };
        if let Some(rel) = tree.rel_path(wd) {
            if let Ok(Some(st)) = stat_at(root, &rel) {
                tree.set_own(wd, st.bytes);
            }
        }
    }
}

/// Which events are of files created and removed within this batch (and
/// not created again after): their net effect on usage is nothing and they
/// are gone, so neither a stat nor an exec-drop check is owed (a churning
/// workload's files cost only the read of their events). Two passes, one
/// map lookup per event.
fn transient_files(events: &[Event]) -> Vec<bool> {
    let mut spans: FastMap<(Wd, &[u8]), (usize, usize)> = FastMap::default();
    for (i, ev) in events.iter().enumerate() {
        if ev.name.is_empty() || ev.mask & IN_ISDIR != 0 {
            continue;
        }
        spans
            .entry((ev.wd, ev.name.as_slice()))
            .and_modify(|s| s.1 = i)
            .or_insert((i, i));
    }
    let gone = |(first, last): (usize, usize)| {
        first != last
            && events[first].mask & libc::IN_CREATE != 0
            && events[last].mask & (libc::IN_DELETE | libc::IN_MOVED_FROM) != 0
    };
    events
        .iter()
        .map(|ev| {
            !ev.name.is_empty()
                && ev.mask & IN_ISDIR == 0
                && spans
                    .get(&(ev.wd, ev.name.as_slice()))
                    .is_some_and(|s| gone(*s))
        })
        .collect()
}

/// The usage event kind of an inotify mask (`None`: no size change).
fn ev_kind(mask: u32) -> Option<Ev> {
    if mask & libc::IN_CREATE != 0 {
        Some(Ev::Created)
    } else if mask & libc::IN_MODIFY != 0 {
        Some(Ev::Written)
    } else if mask & libc::IN_CLOSE_WRITE != 0 {
        Some(Ev::Closed)
    } else if mask & (libc::IN_DELETE | libc::IN_MOVED_FROM) != 0 {
        Some(Ev::Removed)
    } else if mask & libc::IN_MOVED_TO != 0 {
        Some(Ev::MovedIn)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libc::{IN_CLOSE_WRITE, IN_CREATE, IN_DELETE, IN_MODIFY, IN_MOVED_FROM};

    fn ev(wd: Wd, mask: u32, name: &str) -> Event {
        Event::of(wd, mask, name)
    }

    #[test]
    fn files_created_and_gone_within_the_batch_are_transient() {
        let events = [
            ev(1, IN_CREATE, "a"),
            ev(1, IN_CREATE, "b"),
            ev(1, IN_MODIFY, "a"),
            ev(2, IN_CREATE, "a"), // another directory's "a": stays
            ev(1, IN_CLOSE_WRITE, "a"),
            ev(1, IN_DELETE, "a"),
            ev(1, IN_MODIFY, "old"), // not created here: stays
            ev(1, IN_DELETE, "old"),
            ev(1, IN_CREATE | IN_ISDIR, "d"), // a directory: stays
            ev(1, IN_DELETE | IN_ISDIR, "d"),
            ev(1, IN_DELETE, "b"),
            ev(1, IN_CREATE, "b"), // created again: b stays
            ev(1, IN_CREATE, "m"),
            ev(1, IN_MOVED_FROM, "m"), // moved away: gone from here
        ];
        let t = transient_files(&events);
        let want = [
            true, false, true, false, true, true, false, false, false, false, false, false, true,
            true,
        ];
        assert_eq!(t, want);
    }
}
