//! Listing for a [`MountTracker`]: the dirty directories re-listed (rate
//! limited for huge ones), new directories watched then listed, and the
//! full build of the tree.

use super::*;

impl MountTracker {
    /// Re-lists the dirty directories whose rate limit allows it now.
    pub(super) fn relist_dirty(&mut self, hub: &mut Hub, now: Instant) -> Result<(), Fallback> {
        let dirty: Vec<Wd> = self.dirty.iter().copied().collect();
        for wd in dirty {
            if self.next_list.get(&wd).is_some_and(|t| *t > now) {
                continue;
            }
            self.dirty.remove(&wd);
            let started = Instant::now();
            // A quiet directory re-listed for a move event: what changed
            // since its last listing (a new subdirectory and its files
            // above all, which its next listing no longer sees as new) is
            // judged as that listing would.
            let found = self.quiet_since(wd);
            self.list(hub, wd, found.filter(|_| self.exec.on))?;
            let big = self.tree.as_ref().is_some_and(|t| t.entries(wd) > BIG_DIR);
            if big {
                let pause = (started.elapsed() * 4).min(RELIST_BACKOFF);
                self.next_list.insert(wd, Instant::now() + pause);
            } else {
                self.next_list.remove(&wd);
            }
        }
        self.relist_due = self
            .dirty
            .iter()
            .filter_map(|w| self.next_list.get(w))
            .min()
            .copied();
        if self.next_list.len() > 1024 {
            self.next_list.retain(|_, t| *t > now);
        }
        Ok(())
    }

    /// Lists directory `wd` into the tree; watches and lists the new
    /// subdirectories it reveals. `found`: hand the files whose ctime is
    /// not before it to the exec-drop check. Returns the directory's ctime
    /// as listed (`None`: it could not be).
    pub(super) fn list(
        &mut self,
        hub: &mut Hub,
        wd: Wd,
        found: Found,
    ) -> Result<Option<(i64, i64)>, Fallback> {
        let watched_at = self.watched_at.take();
        let (Some(tree), Some(root)) = (&mut self.tree, &self.root) else {
            return Ok(None);
        };
        let Some(rel) = tree.rel_path(wd) else {
            return Ok(None);
        };
        let mut l = tree.begin_listing(wd, self.t0.elapsed().as_millis() as u64);
        if let Some(t) = watched_at {
            l.watched_at(t);
        }
        let exec = &mut self.exec;
        let since = found.filter(|_| exec.on);
        let push = since.is_some();
        let listed = list_each(root, &rel, self.walk || push, |name, st| {
            tree.listing_add(&mut l, name, st);
            // Only a regular file with an exec bit can be a drop (see
            // `recognise`); the rest of an unpacking archive costs nothing
            // more. Its `chmod +x`, later, is an event of its own.
            if st.is_exec_file() && since.is_some_and(|s| st.ctime >= s) {
                let was = exec.live;
                exec.live = true;
                let path = join(&rel, name);
                exec.push(path.clone(), Triggers::FOUND);
                exec.note_stat(&path, Some(*st));
                exec.live = was;
            }
        });
        let me = match listed {
            Ok(me) => me,
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
            Err(e) => {
                let p = self.path.join(OsStr::from_bytes(&rel));
                self.report_once(p, e.desc());
                return Ok(None);
            }
        };
        l.set_own(me.bytes);
        let out = tree.commit_listing(l, self.t0.elapsed().as_millis() as u64);
        self.unwatch(hub, &out.dropped);
        self.queue_hunt();
        let todo = out
            .new_dirs
            .into_iter()
            .map(|n| {
                let r = join(&rel, &n);
                (wd, n, r)
            })
            .collect();
        self.follow(hub, todo, found)?;
        Ok(Some(me.ctime))
    }

    /// Takes the inodes the tree wants hunted (a listing or a dropped
    /// subtree met them) and arms the hunt.
    pub(super) fn queue_hunt(&mut self) {
        let Some(tree) = &mut self.tree else {
            return;
        };
        let hunt = tree.take_hunt();
        if !hunt.is_empty() {
            self.hunt.extend(hunt);
            self.hunt_due.get_or_insert(Instant::now() + HUNT_DELAY);
        }
    }

    /// Queues new directory `name` of `parent` to be followed
    /// [`NEW_DIR_DELAY`] from now.
    pub(super) fn defer_follow(&mut self, parent: Wd, name: Vec<u8>) {
        let due = Instant::now() + NEW_DIR_DELAY;
        self.young.push((due, parent, name));
    }

    /// Follows the queued new directories that are due and still unwatched
    /// where they were seen (gone, renamed or followed meanwhile by a
    /// re-list of their parent: nothing to do), at their parent's path now.
    pub(super) fn follow_young(&mut self, hub: &mut Hub, now: Instant) -> Result<(), Fallback> {
        // Queued in due order (one delay for all): the due ones lead.
        let due = self.young.partition_point(|y| y.0 <= now);
        let ready: Vec<_> = self.young.drain(..due).collect();
        let Some(tree) = &self.tree else {
            return Ok(());
        };
        // A name made twice (mkdir, rmdir or mv, mkdir) is followed once.
        let mut seen = crate::core::fasthash::FastSet::default();
        let todo: Vec<_> = ready
            .into_iter()
            .rev()
            .filter(|(_, parent, name)| {
                tree.unwatched_sub(*parent, name) && seen.insert((*parent, name.clone()))
            })
            .filter_map(|(_, parent, name)| {
                let rel = join(&tree.rel_path(parent)?, &name);
                Some((parent, name, rel))
            })
            .collect();
        let since = Some(self.exec.since);
        self.follow(hub, todo, since)
    }

    /// Watches, then lists, each new directory (and what it reveals).
    pub(super) fn follow(
        &mut self,
        hub: &mut Hub,
        mut todo: Vec<(Wd, Vec<u8>, Vec<u8>)>,
        found: Found,
    ) -> Result<(), Fallback> {
        while let Some((parent, name, rel)) = todo.pop() {
            if self.tree.is_none() {
                return Ok(());
            }
            let full = self.path.join(OsStr::from_bytes(&rel));
            let since = self.requiet.remove(&rel);
            let watched_at = coarse_now();
            let watched = hub.watch_as(self.id, &full, since.is_some());
            if let (Ok((c, true)), Some(since)) = (&watched, since) {
                self.quiet_again(*c, since);
            }
            // A directory quiet before a rebuild: what changed since its
            // last listing is judged (a subdirectory made since then is no
            // longer new to its next listing).
            let found = found.or(since.filter(|_| self.exec.on));
            let Some(tree) = &mut self.tree else {
                return Ok(());
            };
            let child = match watched {
                Ok((c, _)) => c,
                Err(WatchError::Add(Errno::ENOENT)) | Err(WatchError::Add(Errno::ENOTDIR)) => {
                    tree.forget_sub(parent, &name);
                    continue;
                }
                Err(e) => return Err(fallback(&full, e)),
            };
            let (ok, dropped) = tree.attach_dir(parent, &name, child);
            self.unwatch(hub, &dropped);
            if !ok {
                continue;
            }
            // `list` follows its own new subdirectories (depth first).
            self.watched_at = Some(watched_at);
            self.list(hub, child, found)?;
        }
        Ok(())
    }

    /// Builds a fresh tree, watching every directory.
    pub(super) fn build_tree(&mut self, hub: &mut Hub) -> Result<(), Fallback> {
        let Some(root) = &self.root else {
            return Ok(());
        };
        let root_st = match stat_at(root, b"") {
            Ok(Some(st)) => st,
            _ => return Ok(()),
        };
        // Directories quiet before stay quiet (see `tracker_quiet.rs`).
        self.requiet = self.quiet_paths();
        self.quiet.clear();
        let root_since = self.requiet.remove(&b""[..]);
        let (root_wd, quiet) = hub
            .watch_as(self.id, &self.path, root_since.is_some())
            .map_err(|e| fallback(&self.path, e))?;
        let mut tree = UsageTree::new(root_wd, root_st, self.walk);
        tree.exclude(self.exclude.iter().copied());
        let old = self.tree.replace(tree);
        self.dirty.clear();
        // The listing below finds every directory there is.
        self.young.clear();
        self.next_list.clear();
        // The first build runs while the workload already writes: what it
        // finds changed since the start is judged (as is everything after
        // an overflow, `live`); a safety rescan judges nothing.
        let found = (self.exec.on && (!self.built || self.exec.live)).then_some(self.exec.since);
        self.built = true;
        if let (true, Some(since)) = (quiet, root_since) {
            self.quiet_again(root_wd, since);
        }
        let found = found.or(root_since.filter(|_| self.exec.on));
        let listed = self.list(hub, root_wd, found);
        self.requiet.clear();
        listed?;
        if let (Some(old), Some(new)) = (old, &self.tree) {
            let stale: Vec<Wd> = old.watches().filter(|w| !new.contains(*w)).collect();
            self.unwatch(hub, &stale);
        }
        Ok(())
    }
}
