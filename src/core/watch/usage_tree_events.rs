//! Events on a [`UsageTree`]: the O(1) delta of a hot file, what asks for
//! a re-list, directories created or moved in and out, and the re-stat of
//! hot files by the caller's timer.

use super::*;

impl UsageTree {
    /// Applies an event on entry `name` of `wd` whose stat is now `st`
    /// (`None`: gone). `is_dir`: the event said `IN_ISDIR`. `now`: the
    /// caller's clock in milliseconds.
    pub fn event(
        &mut self,
        wd: Wd,
        name: &[u8],
        ev: Ev,
        is_dir: bool,
        st: Option<EntryStat>,
        now: u64,
    ) -> Outcome {
        if !self.nodes.contains_key(&wd) {
            return Outcome::Done;
        }
        let key = name_key(name);
        let st = st.filter(|s| s.dev == self.dev);
        if is_dir {
            return self.dir_event(wd, key, ev, st);
        }
        if st.is_some_and(|s| s.is_dir) {
            // A directory now where the event named a file: re-list.
            return Outcome::Relist;
        }
        if !self.count_files {
            self.track_open(wd, key, name, ev, now);
            return Outcome::Done;
        }
        if let Some(h) = self.hot.get_mut(&(wd, key)) {
            if ev == Ev::MovedIn || st.is_some_and(|s| s.ino != h.ino) {
                // Another inode under this name now (a rename over it):
                // what the directory counts for the name is known again
                // only at its re-list. Until then no delta may be taken
                // from the old inode's remembered size (a write to the new
                // one later in the batch would subtract bytes the directory
                // never counted).
                self.hot.remove(&(wd, key));
                self.want_hot(wd, name);
                return Outcome::Relist;
            }
            let old = h.bytes;
            if h.linked {
                // Counted in the link map: a write is a new size there; any
                // other change (a name gone, a rename) re-lists.
                return match st {
                    Some(s) if !s.alone() => {
                        h.bytes = s.bytes;
                        h.stamp = now;
                        let ino = h.ino;
                        self.link_bytes(ino, s.bytes);
                        Outcome::Done
                    }
                    _ => {
                        self.hot.remove(&(wd, key));
                        Outcome::Relist
                    }
                };
            }
            match st {
                Some(s) if s.alone() => {
                    h.bytes = s.bytes;
                    h.stamp = now;
                    h.open = match ev {
                        Ev::Closed => false,
                        Ev::Created | Ev::Written => true,
                        _ => h.open,
                    };
                    self.add_files(wd, old, s.bytes, 0);
                    return Outcome::Done;
                }
                None => {
                    self.hot.remove(&(wd, key));
                    self.add_files(wd, old, 0, -1);
                    if ev != Ev::Removed {
                        self.remember_gone(wd, key);
                    }
                    return Outcome::Done;
                }
                Some(_) => {
                    self.hot.remove(&(wd, key));
                    return Outcome::Relist;
                }
            }
        }
        match (ev, st) {
            (Ev::Created, None) => {
                self.remember_gone(wd, key);
                Outcome::Done
            }
            (Ev::Created, Some(_)) if self.listed_lately_in_part(wd) => {
                self.want_hot(wd, name);
                Outcome::Relist
            }
            (Ev::Created, Some(s)) if s.alone() => {
                self.add_files(wd, 0, s.bytes, 1);
                if self.room(now) {
                    let hot = Hot {
                        bytes: s.bytes,
                        ino: s.ino,
                        linked: false,
                        name: name.into(),
                        open: true,
                        stamp: now,
                    };
                    self.hot.insert((wd, key), hot);
                }
                Outcome::Done
            }
            (Ev::Removed, _) if self.gone.remove(&(wd, key)) => Outcome::Done,
            (Ev::Written | Ev::Closed | Ev::MovedIn, Some(_)) => {
                self.want_hot(wd, name);
                Outcome::Relist
            }
            _ => Outcome::Relist,
        }
    }

    /// statfs-measured trees keep only which files are open (the timer).
    fn track_open(&mut self, wd: Wd, key: u64, name: &[u8], ev: Ev, now: u64) {
        match ev {
            Ev::Created | Ev::Written if self.hot.len() < HOT_MAX => {
                let h = self.hot.entry((wd, key)).or_insert(Hot {
                    bytes: 0,
                    ino: 0,
                    linked: false,
                    name: name.into(),
                    open: true,
                    stamp: now,
                });
                h.open = true;
                h.stamp = now;
            }
            Ev::Closed | Ev::Removed => {
                self.hot.remove(&(wd, key));
            }
            _ => {}
        }
    }

    fn dir_event(&mut self, wd: Wd, key: u64, ev: Ev, st: Option<EntryStat>) -> Outcome {
        let mut dropped = Vec::new();
        let outcome = match (ev, st) {
            (Ev::Created | Ev::MovedIn, Some(s)) if s.is_dir => {
                if self.excluded.contains(&(s.dev, s.ino)) {
                    return Outcome::Done;
                }
                let old = self.nodes.get_mut(&wd).and_then(|n| {
                    n.subdirs.insert(
                        key,
                        Sub {
                            ino: s.ino,
                            wd: None,
                        },
                    )
                });
                match old {
                    Some(o) if o.ino == s.ino && o.wd.is_some() => {
                        if let Some(n) = self.nodes.get_mut(&wd) {
                            n.subdirs.insert(key, o);
                        }
                        return Outcome::Done;
                    }
                    Some(o) => {
                        if let Some(w) = o.wd {
                            self.drop_subtree(w, &mut dropped);
                        }
                    }
                    None => {}
                }
                Outcome::NewDir
            }
            (Ev::Removed, _) => {
                let old = self.nodes.get_mut(&wd).and_then(|n| n.subdirs.remove(&key));
                if let Some(w) = old.and_then(|o| o.wd) {
                    self.drop_subtree(w, &mut dropped);
                }
                if st.is_some() {
                    Outcome::Relist
                } else {
                    Outcome::Done
                }
            }
            // A known subdirectory's times changed (`utimensat` on it says
            // IN_MODIFY): nothing it counts did (its own size follows its
            // own events).
            (Ev::Written | Ev::Closed, Some(s))
                if s.is_dir
                    && self
                        .nodes
                        .get(&wd)
                        .and_then(|n| n.subdirs.get(&key))
                        .is_some_and(|sub| sub.ino == s.ino) =>
            {
                Outcome::Done
            }
            _ => Outcome::Relist,
        };
        self.pending_drop.extend(dropped);
        outcome
    }

    /// Re-stat of hot file `(wd, key)`: applies the delta. Returns whether
    /// the directory must be re-listed (the file is no longer counted alone).
    pub fn restat(&mut self, wd: Wd, key: u64, st: Option<EntryStat>) -> bool {
        let Some(h) = self.hot.get_mut(&(wd, key)) else {
            return false;
        };
        let (old, linked, ino) = (h.bytes, h.linked, h.ino);
        match st.filter(|s| s.dev == self.dev && s.ino == ino && !s.is_dir) {
            Some(s) if s.alone() && !linked => {
                h.bytes = s.bytes;
                self.add_files(wd, old, s.bytes, 0);
                false
            }
            Some(s) if !s.alone() && linked => {
                h.bytes = s.bytes;
                self.link_bytes(ino, s.bytes);
                false
            }
            _ => {
                self.hot.remove(&(wd, key));
                true
            }
        }
    }

    /// A hard-linked inode now has `bytes`.
    fn link_bytes(&mut self, ino: u64, bytes: u64) {
        if let Some((b, _)) = self.links.get_mut(&ino) {
            self.bytes = self.bytes.saturating_sub(*b).saturating_add(bytes);
            *b = bytes;
        }
    }

    /// The inodes open for writing now (a scan of /proc): hot files are
    /// open exactly when listed there. Returns those that are not hot; they
    /// become hot (open) at their directory's next listing, until the next
    /// call.
    pub fn mark_open<S: std::hash::BuildHasher>(
        &mut self,
        open: &std::collections::HashSet<u64, S>,
    ) -> FastSet<u64> {
        let mut known = FastSet::default();
        for h in self.hot.values_mut() {
            h.open = open.contains(&h.ino);
            if h.open {
                known.insert(h.ino);
            }
        }
        self.want_inos = open
            .iter()
            .filter(|i| !known.contains(i))
            .copied()
            .collect();
        self.want_inos.clone()
    }

    /// Whether any hot file is open for writing.
    pub fn any_open(&self) -> bool {
        self.hot.values().any(|h| h.open)
    }

    /// Per directory: path, own + counted-alone bytes, hard-linked names;
    /// then per hard-linked inode (`#ino ..`): its bytes (diagnostics of tests).
    #[doc(hidden)]
    pub fn per_dir(&self) -> Vec<(Vec<u8>, u64, Vec<u64>)> {
        let mut v: Vec<_> = self
            .nodes
            .iter()
            .map(|(wd, n)| {
                let p = self.rel_path(*wd).unwrap_or_default();
                (p, n.own + n.files, n.linked.clone())
            })
            .collect();
        v.extend(
            self.links
                .iter()
                .map(|(ino, (b, n))| (format!("#ino {ino} names {n}").into_bytes(), *b, vec![])),
        );
        v.sort();
        v
    }
}
