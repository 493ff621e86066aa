//! du-style accounting of one watched tree with memory bounded by
//! directories, not files. Pure: no syscalls; the tracker (orchestra) lists
//! and stats, this structure keeps the totals `du -sx -B1` would print.
//!
//! Per directory it keeps one sum: the allocated bytes of its entries
//! counted alone (non-directories with `st_nlink == 1`), their number, its
//! own size, its subdirectories (name hash -> inode, watch) and the inodes
//! of its hard-linked names. Hard-linked inodes are counted once each in a
//! tree-wide map. So memory is O(directories) + O(hard-linked inodes) +
//! O(hot files): files created, written or closed recently, whose counted
//! size is remembered so that an event on them is an O(1) delta.
//!
//! Any other change (a delete or rename of a file that is not hot, a
//! rename over a name, a new hard link) makes the caller re-list that one
//! directory ([`UsageTree::begin_listing`] .. [`UsageTree::commit_listing`]),
//! which replaces its whole contribution. A listing that meets a hard-linked
//! inode with more links than names known asks for a *hunt*
//! ([`UsageTree::take_hunt`]): the other names were counted alone in
//! directories that saw no event (`link(2)` notifies only the new name's
//! directory); the caller finds them by `d_ino` and re-lists those.
//!
//! Entries on another device, and mount points named by [`UsageTree::exclude`]
//! (a nested volume on the same disk), are neither counted nor entered:
//! on the node the kubelet measures them as sibling volumes.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// An inotify watch descriptor (or any per-directory key the caller uses).
pub type Wd = i32;

/// The facts of one `lstat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntryStat {
    pub dev: u64,
    pub ino: u64,
    /// `st_blocks * 512`.
    pub bytes: u64,
    pub nlink: u64,
    pub is_dir: bool,
    /// `st_mode`.
    pub mode: u32,
    /// `st_ctime` seconds and nanoseconds.
    pub ctime: (i64, i64),
    /// `st_size` and `st_mtime` (the exec-drop check's facts).
    pub size: u64,
    pub mtime: (i64, i64),
}

impl EntryStat {
    fn alone(&self) -> bool {
        !self.is_dir && self.nlink <= 1
    }
}

/// A subdirectory of a listed directory.
#[derive(Debug, Clone, Copy)]
struct Sub {
    ino: u64,
    /// Its watch, once attached.
    wd: Option<Wd>,
}

#[derive(Debug, Default)]
struct Node {
    /// `(parent watch, name)`; `None` for the root.
    parent: Option<(Wd, Box<[u8]>)>,
    own: u64,
    /// Bytes and number of the entries counted alone.
    files: u64,
    nfiles: u64,
    subdirs: HashMap<u64, Sub>,
    /// Inodes of hard-linked names here (one per name).
    linked: Vec<u64>,
    /// Entries at the last listing (the caller's rate limit).
    entries: u64,
}

/// A file whose counted size is remembered (see the module header).
#[derive(Debug, Clone)]
pub struct Hot {
    pub bytes: u64,
    pub ino: u64,
    /// Counted through the hard-link map, not its directory's sum.
    pub linked: bool,
    pub name: Box<[u8]>,
    /// Created or written and not yet closed.
    pub open: bool,
    /// Caller's clock (milliseconds) of the last event.
    pub stamp: u64,
}

/// What a file event asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Applied.
    Done,
    /// Re-list the directory.
    Relist,
    /// A new subdirectory: watch it, then list it.
    NewDir,
}

/// The kind of a file event, from its inotify mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ev {
    Created,
    Written,
    Closed,
    Removed,
    MovedIn,
}

/// A hot (or wanted hot) file met by a listing: key, bytes, its name when
/// it is to become hot.
type HotSeen = (u64, u64, u64, bool, Option<Box<[u8]>>);

/// A listing in progress ([`UsageTree::begin_listing`]).
#[derive(Debug, Default)]
pub struct Listing {
    wd: Wd,
    own: u64,
    files: u64,
    nfiles: u64,
    subdirs: Vec<(u64, Box<[u8]>, u64)>,
    linked: Vec<(u64, u64, u64)>,
    hot_seen: Vec<HotSeen>,
    entries: u64,
    /// Every file met is in `hot_seen` (at most [`LISTED_HOT_MAX`]).
    all_hot: bool,
}

impl Listing {
    /// The listed directory's own size.
    pub fn set_own(&mut self, bytes: u64) {
        self.own = bytes;
    }
}

/// What the caller must do after [`UsageTree::commit_listing`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Relisted {
    /// New subdirectories (names) to watch and list.
    pub new_dirs: Vec<Vec<u8>>,
    /// Watches of directories no longer in the tree.
    pub dropped: Vec<Wd>,
}

/// Most hot files remembered; beyond, new files go without (their later
/// events re-list the directory).
pub const HOT_MAX: usize = 8192;
/// Closed files smaller than this may be forgotten as soon as the hot map
/// is full (bigger ones are re-stat'ed for writeback; see
/// `orchestra::tracker`); ones last seen less than [`EVICT_AGE`] ago stay.
pub const WRITEBACK_MIN: u64 = 64 * 1024;
pub const EVICT_AGE: u64 = 100;
/// A listing of at most this many files makes them all hot (see
/// [`UsageTree::begin_listing`]).
pub const LISTED_HOT_MAX: usize = 1024;

/// Running du-style totals of one tree.
#[derive(Debug)]
pub struct UsageTree {
    dev: u64,
    root: Wd,
    /// Count files (disk) or only keep directories (statfs-measured).
    count_files: bool,
    nodes: HashMap<Wd, Node>,
    /// Hard-linked inodes: ino -> (bytes, names seen in the tree).
    links: HashMap<u64, (u64, u32)>,
    hot: HashMap<(Wd, u64), Hot>,
    want_hot: HashSet<(Wd, u64)>,
    /// Inodes found open for writing that are not hot yet: hot (open) at
    /// their directory's next listing.
    want_inos: HashSet<u64>,
    /// Names found gone by an earlier event of the batch (their delete
    /// needs no re-list).
    gone: HashSet<(Wd, u64)>,
    excluded: HashSet<(u64, u64)>,
    hunt: HashSet<u64>,
    pending_drop: Vec<Wd>,
    /// Directories listed since the queue was last read, and before: a
    /// create event there may predate the listing that counted it.
    /// Directories listed in this batch and the previous one, and whether
    /// the listing made all their files hot.
    fresh: HashMap<Wd, bool>,
    fresh_prev: HashMap<Wd, bool>,
    /// No sweep of the full hot map before this (caller's milliseconds).
    sweep_after: u64,
    bytes: u64,
    inodes: u64,
}

/// The key of a name in a directory.
pub fn name_key(name: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

impl UsageTree {
    /// A tree holding only its root directory (`root_stat`, its stat);
    /// `count_files` false keeps directories only (statfs measures).
    pub fn new(root: Wd, root_stat: EntryStat, count_files: bool) -> UsageTree {
        let mut nodes = HashMap::new();
        nodes.insert(
            root,
            Node {
                own: root_stat.bytes,
                ..Node::default()
            },
        );
        UsageTree {
            dev: root_stat.dev,
            root,
            count_files,
            nodes,
            links: HashMap::new(),
            hot: HashMap::new(),
            want_hot: HashSet::new(),
            want_inos: HashSet::new(),
            gone: HashSet::new(),
            excluded: HashSet::new(),
            hunt: HashSet::new(),
            pending_drop: Vec::new(),
            fresh: HashMap::new(),
            fresh_prev: HashMap::new(),
            sweep_after: 0,
            bytes: root_stat.bytes,
            inodes: 1,
        }
    }

    /// Mount points (their root's `(dev, ino)`) neither counted nor entered.
    pub fn exclude(&mut self, dev_ino: impl IntoIterator<Item = (u64, u64)>) {
        self.excluded.extend(dev_ino);
    }

    /// Allocated bytes, as `du -sx -B1`.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Entries, as `du -sx --inodes`.
    pub fn inodes(&self) -> u64 {
        self.inodes
    }

    /// Number of directories.
    pub fn dirs(&self) -> usize {
        self.nodes.len()
    }

    pub fn contains(&self, wd: Wd) -> bool {
        self.nodes.contains_key(&wd)
    }

    pub fn is_root(&self, wd: Wd) -> bool {
        wd == self.root
    }

    /// All watches of the tree.
    pub fn watches(&self) -> impl Iterator<Item = Wd> + '_ {
        self.nodes.keys().copied()
    }

    /// Entries of `wd` at its last listing.
    pub fn entries(&self, wd: Wd) -> u64 {
        self.nodes.get(&wd).map_or(0, |n| n.entries)
    }

    /// What directory `wd` counts of its own entries at its last listing:
    /// (bytes of the files counted alone, their number, entries).
    pub fn dir_sum(&self, wd: Wd) -> Option<(u64, u64, u64)> {
        self.nodes.get(&wd).map(|n| (n.files, n.nfiles, n.entries))
    }

    /// Hot files (see [`Hot`]).
    pub fn hot(&self) -> impl Iterator<Item = (&(Wd, u64), &Hot)> + '_ {
        self.hot.iter()
    }

    pub fn hot_len(&self) -> usize {
        self.hot.len()
    }

    /// Forgets hot file `(wd, key)` (its count stays).
    pub fn cool(&mut self, at: (Wd, u64)) {
        self.hot.remove(&at);
    }

    /// Path of a directory relative to the root, `/`-joined raw bytes
    /// (empty for the root). `None` for an unknown watch.
    pub fn rel_path(&self, wd: Wd) -> Option<Vec<u8>> {
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut cur = wd;
        loop {
            let node = self.nodes.get(&cur)?;
            match &node.parent {
                None => break,
                Some((p, name)) => {
                    parts.push(name);
                    cur = *p;
                }
            }
            if parts.len() > self.nodes.len() {
                return None; // a cycle cannot happen; refuse rather than loop
            }
        }
        Some(parts.iter().rev().fold(Vec::new(), |acc, p| join(&acc, p)))
    }

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
            ..Listing::default()
        }
    }

    /// Updates directory `wd`'s own size.
    pub fn set_own(&mut self, wd: Wd, bytes: u64) {
        if let Some(n) = self.nodes.get_mut(&wd) {
            self.bytes = self.bytes.saturating_sub(n.own).saturating_add(bytes);
            n.own = bytes;
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
            if self.hot.contains_key(&(l.wd, key)) {
                l.hot_seen.push((key, st.bytes, st.ino, linked, None));
            } else if l.all_hot
                || self.want_hot.contains(&(l.wd, key))
                || self.want_inos.contains(&st.ino)
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
        node.linked = l.linked.iter().map(|(ino, ..)| *ino).collect();
        let mut old_subs = std::mem::take(&mut node.subdirs);
        let mut subs = HashMap::with_capacity(l.subdirs.len());
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
        let mut seen: HashMap<u64, (u64, u64, bool)> = HashMap::new();
        for (k, b, ino, linked, name) in l.hot_seen {
            seen.insert(k, (b, ino, linked));
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
        self.want_hot.retain(|(w, _)| *w != wd);
        let was = self.fresh.get(&wd).copied().unwrap_or(true);
        self.fresh.insert(wd, all_hot && was);
        out
    }

    /// The queue is about to be read: listings made before now are older
    /// than every event of the coming batch but the ones of this batch.
    pub fn begin_batch(&mut self) {
        self.fresh_prev = std::mem::take(&mut self.fresh);
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
        let mut partial = HashSet::new();
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

    /// Makes `name` of `wd` hot at its next listing.
    pub fn want_hot(&mut self, wd: Wd, name: &[u8]) {
        if self.want_hot.len() < HOT_MAX {
            self.want_hot.insert((wd, name_key(name)));
        }
    }

    /// Inodes whose other names must be found (see the module header).
    pub fn take_hunt(&mut self) -> HashSet<u64> {
        std::mem::take(&mut self.hunt)
    }

    /// Watches dropped by [`UsageTree::event`] since the last call.
    pub fn take_dropped(&mut self) -> Vec<Wd> {
        std::mem::take(&mut self.pending_drop)
    }

    /// Registers watch `child` of subdirectory `name` of `dir` (after
    /// [`Outcome::NewDir`] or [`Relisted::new_dirs`]); the caller lists it
    /// next. Returns watches to drop (the same directory known elsewhere).
    /// `false` in `.0`: not a subdirectory of `dir` any more.
    pub fn attach_dir(&mut self, dir: Wd, name: &[u8], child: Wd) -> (bool, Vec<Wd>) {
        let mut dropped = Vec::new();
        let key = name_key(name);
        if child == self.root
            || !self
                .nodes
                .get(&dir)
                .is_some_and(|n| n.subdirs.contains_key(&key))
        {
            return (false, dropped);
        }
        if self.nodes.contains_key(&child) {
            // Known under another name (renamed): forget it there.
            self.detach(child, &mut dropped);
            dropped.retain(|w| *w != child);
        }
        if let Some(s) = self
            .nodes
            .get_mut(&dir)
            .and_then(|n| n.subdirs.get_mut(&key))
        {
            if let Some(old) = s.wd.replace(child) {
                if old != child {
                    self.drop_subtree(old, &mut dropped);
                }
            }
        }
        self.nodes.insert(
            child,
            Node {
                parent: Some((dir, name.into())),
                ..Node::default()
            },
        );
        self.inodes += 1;
        (true, dropped)
    }

    /// Subdirectory `name` of `dir` cannot be watched or is gone.
    pub fn forget_sub(&mut self, dir: Wd, name: &[u8]) {
        if let Some(n) = self.nodes.get_mut(&dir) {
            n.subdirs.remove(&name_key(name));
        }
    }

    /// The directory of `wd` went away (`IN_IGNORED`): forget its subtree.
    /// Returns the other watches to remove.
    pub fn forget(&mut self, wd: Wd) -> Vec<Wd> {
        let mut dropped = Vec::new();
        if wd != self.root && self.nodes.contains_key(&wd) {
            self.detach(wd, &mut dropped);
            dropped.retain(|w| *w != wd);
        }
        dropped
    }

    fn detach(&mut self, wd: Wd, dropped: &mut Vec<Wd>) {
        if let Some((p, name)) = self.nodes.get(&wd).and_then(|n| n.parent.clone()) {
            let key = name_key(&name);
            if let Some(n) = self.nodes.get_mut(&p) {
                if n.subdirs.get(&key).and_then(|s| s.wd) == Some(wd) {
                    n.subdirs.remove(&key);
                }
            }
        }
        self.drop_subtree(wd, dropped);
    }

    /// Removes the nodes under (and including) `wd`, uncounting them.
    fn drop_subtree(&mut self, wd: Wd, dropped: &mut Vec<Wd>) {
        let mut todo = vec![wd];
        while let Some(w) = todo.pop() {
            let Some(node) = self.nodes.remove(&w) else {
                continue;
            };
            dropped.push(w);
            self.bytes = self.bytes.saturating_sub(node.own + node.files);
            self.inodes = self.inodes.saturating_sub(node.nfiles + 1);
            for ino in node.linked {
                self.link_unref(ino);
                // Its other names stay counted: it may have been written
                // through this one (an event that can no longer be stat'ed
                // once the directory left the tree), so their directories
                // are re-listed for its size.
                if self.links.contains_key(&ino) {
                    self.hunt.insert(ino);
                }
            }
            todo.extend(node.subdirs.values().filter_map(|s| s.wd));
            self.hot.retain(|(hw, _), _| *hw != w);
        }
    }

    fn add_files(&mut self, wd: Wd, old: u64, new: u64, count: i64) {
        let Some(n) = self.nodes.get_mut(&wd) else {
            return;
        };
        n.files = n.files.saturating_sub(old).saturating_add(new);
        self.bytes = self.bytes.saturating_sub(old).saturating_add(new);
        if count > 0 {
            n.nfiles += 1;
            n.entries += 1;
            self.inodes += 1;
        } else if count < 0 {
            n.nfiles = n.nfiles.saturating_sub(1);
            n.entries = n.entries.saturating_sub(1);
            self.inodes = self.inodes.saturating_sub(1);
        }
    }

    fn remember_gone(&mut self, wd: Wd, key: u64) {
        if self.gone.len() >= 4096 {
            self.gone.clear();
        }
        self.gone.insert((wd, key));
    }

    /// One more name of linked inode `ino` (now `bytes`); its name count.
    fn link_ref(&mut self, ino: u64, bytes: u64) -> u32 {
        match self.links.get_mut(&ino) {
            Some((b, names)) => {
                self.bytes = self.bytes.saturating_sub(*b).saturating_add(bytes);
                *b = bytes;
                *names += 1;
                *names
            }
            None => {
                self.links.insert(ino, (bytes, 1));
                self.bytes = self.bytes.saturating_add(bytes);
                self.inodes += 1;
                1
            }
        }
    }

    fn link_unref(&mut self, ino: u64) {
        if let Some((b, names)) = self.links.get_mut(&ino) {
            if *names <= 1 {
                let b = *b;
                self.links.remove(&ino);
                self.bytes = self.bytes.saturating_sub(b);
                self.inodes = self.inodes.saturating_sub(1);
            } else {
                *names -= 1;
            }
        }
    }
}

/// `dir/name` (just `name` when `dir` is empty).
pub fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    if dir.is_empty() {
        return name.to_vec();
    }
    let mut v = Vec::with_capacity(dir.len() + 1 + name.len());
    v.extend_from_slice(dir);
    v.push(b'/');
    v.extend_from_slice(name);
    v
}

#[path = "usage_tree_events.rs"]
mod events;

#[cfg(test)]
#[path = "usage_tree_tests.rs"]
mod tests;
