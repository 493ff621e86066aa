//! Listings of a [`UsageTree`]'s directories (each replaces a directory's
//! whole contribution and makes the files it meets hot), and the room the
//! hot map keeps for them.

use super::*;

impl UsageTree {
    /// Starts re-listing directory `wd` ([`Listing::set_own`] its size).
    /// The files it meets become hot, when there are at most
    /// [`LISTED_HOT_MAX`] and room: an event that follows on one of them
    /// is then an O(1) delta from the size the listing counted, and a
    /// create event on a name the listing did not meet is a new file; else
    /// a create in a directory just listed re-lists it (the listing may or
    /// may not have counted the file).
    /// `now`: the caller's clock (milliseconds).
    pub fn begin_listing(&mut self, wd: Wd, now: u64) -> Listing {
        if self.count_files && self.hot.len() + LISTED_HOT_MAX > HOT_MAX {
            self.sweep(now);
        }
        Listing {
            wd,
            all_hot: self.count_files && self.hot.len() + LISTED_HOT_MAX <= HOT_MAX,
            first: self.nodes.get(&wd).is_some_and(|n| !n.listed),
            ..Listing::default()
        }
    }

    /// One entry of the listing.
    pub fn listing_add(&self, l: &mut Listing, name: &[u8], st: &EntryStat) {
        if st.dev != self.dev || (st.is_dir && self.excluded.contains(&(st.dev, st.ino))) {
            return;
        }
        l.entries += 1;
        let key = name_key(name);
        if st.is_dir {
            l.subdirs.push((key, name.into(), st.ino));
        } else if !self.count_files {
        } else {
            let linked = st.nlink > 1;
            if linked {
                l.linked.push((st.ino, st.bytes, st.nlink));
            } else {
                l.files = l.files.saturating_add(st.bytes);
                l.nfiles += 1;
            }
            // Made since the watch (a create event may name it), or big
            // and written lately (writeback may still add index blocks,
            // with no event): followed as hot.
            let recent = match l.watched_at {
                None => true,
                Some(t) => {
                    st.ctime >= t
                        || (st.bytes >= WRITEBACK_MIN
                            && st.ctime.0 >= t.0.saturating_sub(WRITEBACK_SECS as i64))
                }
            };
            // (A directory's first listing has no hot file yet.)
            if !l.first && self.hot.contains_key(&(l.wd, key)) {
                l.hot_seen.push((key, st.bytes, st.ino, linked, None));
            } else if (l.all_hot && recent)
                || (!self.want_hot.is_empty() && self.want_hot.contains(&(l.wd, key)))
                || (!self.want_inos.is_empty() && self.want_inos.contains(&st.ino))
            {
                l.hot_seen
                    .push((key, st.bytes, st.ino, linked, Some(name.into())));
            }
            if l.all_hot && l.hot_seen.len() > LISTED_HOT_MAX {
                l.all_hot = false;
                l.hot_seen.retain(|h| {
                    h.4.is_none()
                        || self.want_hot.contains(&(l.wd, h.0))
                        || self.want_inos.contains(&h.2)
                });
            }
        }
    }

    /// Replaces directory `l.wd`'s contribution by the listing's.
    /// `now`: the caller's clock (milliseconds), the stamp of files made hot.
    pub fn commit_listing(&mut self, l: Listing, now: u64) -> Relisted {
        let mut out = Relisted::default();
        let Some(node) = self.nodes.get_mut(&l.wd) else {
            return out;
        };
        let old_linked = std::mem::take(&mut node.linked);
        self.bytes = self
            .bytes
            .saturating_sub(node.own + node.files)
            .saturating_add(l.own + l.files);
        self.inodes = self.inodes.saturating_sub(node.nfiles) + l.nfiles;
        node.own = l.own;
        node.files = l.files;
        node.nfiles = l.nfiles;
        node.entries = l.entries;
        node.listed = true;
        let first = l.first;
        node.linked = l.linked.iter().map(|(ino, ..)| *ino).collect();
        let mut old_subs = std::mem::take(&mut node.subdirs);
        let mut subs = FastMap::with_capacity_and_hasher(l.subdirs.len(), Default::default());
        for (key, name, ino) in l.subdirs {
            match old_subs.remove(&key) {
                Some(s) if s.ino == ino => {
                    if s.wd.is_none() {
                        out.new_dirs.push(name.into());
                    }
                    subs.insert(key, s);
                }
                other => {
                    if let Some(w) = other.and_then(|s| s.wd) {
                        self.drop_subtree(w, &mut out.dropped);
                    }
                    subs.insert(key, Sub { ino, wd: None });
                    out.new_dirs.push(name.into());
                }
            }
        }
        for s in old_subs.values() {
            if let Some(w) = s.wd {
                self.drop_subtree(w, &mut out.dropped);
            }
        }
        if let Some(node) = self.nodes.get_mut(&l.wd) {
            node.subdirs = subs;
        }
        for ino in old_linked {
            self.link_unref(ino);
            // A name of a linked inode went away (or stopped being linked):
            // its other names may have been written through this one since
            // their directories were listed.
            if self.links.contains_key(&ino) && !l.linked.iter().any(|(i, ..)| *i == ino) {
                self.hunt.insert(ino);
            }
        }
        for (ino, bytes, nlink) in &l.linked {
            let names = self.link_ref(*ino, *bytes);
            if u64::from(names) < *nlink {
                self.hunt.insert(*ino);
            }
        }
        let wd = l.wd;
        let mut all_hot = l.all_hot;
        let mut seen: FastMap<u64, (u64, u64, bool)> = FastMap::default();
        for (k, b, ino, linked, name) in l.hot_seen {
            if !first {
                seen.insert(k, (b, ino, linked));
            }
            if let Some(name) = name {
                if self.room(now) {
                    let open = self.want_inos.contains(&ino);
                    self.hot.entry((wd, k)).or_insert(Hot {
                        bytes: b,
                        ino,
                        linked,
                        name,
                        open,
                        stamp: now,
                    });
                } else {
                    all_hot = false;
                }
            }
        }
        // The hot files of a directory listed before are brought up to
        // date, and those it no longer holds forgotten (a whole pass over
        // the hot map, which a first listing, the common case of an
        // unpacking archive, does not need).
        if !first {
            self.hot.retain(|(w, k), h| {
                if *w != wd {
                    return true;
                }
                match seen.get(k) {
                    Some((b, ino, linked)) => {
                        (h.bytes, h.ino, h.linked) = (*b, *ino, *linked);
                        true
                    }
                    None => false,
                }
            });
        }
        self.want_hot.retain(|(w, _)| *w != wd);
        let was = self.fresh.get(&wd).copied().unwrap_or(true);
        self.fresh.insert(wd, all_hot && was);
        out
    }

    /// Whether the hot map has room for one more, after forgetting the
    /// closed small files last seen [`EVICT_AGE`] ago or more when it is
    /// full (a sweep, at most one per [`EVICT_AGE`]: an unpacking archive
    /// makes files hot faster than the timer cools them). A directory whose
    /// listed files are forgotten so is no longer fully known.
    pub(super) fn room(&mut self, now: u64) -> bool {
        if self.hot.len() < HOT_MAX {
            return true;
        }
        self.sweep(now);
        self.hot.len() < HOT_MAX
    }

    fn sweep(&mut self, now: u64) {
        if now < self.sweep_after {
            return;
        }
        self.sweep_after = now + EVICT_AGE;
        let mut partial = FastSet::default();
        self.hot.retain(|(wd, _), h| {
            let keep = h.open || h.bytes >= WRITEBACK_MIN || now < h.stamp + EVICT_AGE;
            if !keep {
                partial.insert(*wd);
            }
            keep
        });
        for wd in partial {
            for f in [&mut self.fresh, &mut self.fresh_prev] {
                if let Some(all) = f.get_mut(&wd) {
                    *all = false;
                }
            }
        }
    }

    /// `wd` was listed in this batch or the previous one by a listing that
    /// did not make all its files hot: a create there may name a file the
    /// listing counted.
    pub(super) fn listed_lately_in_part(&self, wd: Wd) -> bool {
        self.fresh.get(&wd) == Some(&false) || self.fresh_prev.get(&wd) == Some(&false)
    }
}
