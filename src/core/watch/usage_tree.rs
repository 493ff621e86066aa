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

use crate::core::fasthash::{FastMap, FastSet};
use std::collections::hash_map::DefaultHasher;
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

    /// A regular file with an exec bit: what an exec drop needs to be.
    pub fn is_exec_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG && self.mode & 0o111 != 0
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
    subdirs: FastMap<u64, Sub>,
    /// Inodes of hard-linked names here (one per name).
    linked: Vec<u64>,
    /// Entries at the last listing (the caller's rate limit).
    entries: u64,
    /// Listed at least once (before, no file of it can be hot: its events
    /// are read after its first listing).
    listed: bool,
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
    /// Every file met that may still be named by a create event is in
    /// `hot_seen` (at most [`LISTED_HOT_MAX`]).
    all_hot: bool,
    /// The directory's watch was added at this wall-clock time (a first
    /// listing): a file whose ctime is before it was created before the
    /// watch, no create event of this watch can name it, and it need not
    /// become hot (an unpacking archive's files mostly are), unless it is
    /// big and was written lately: writeback may still grow it.
    watched_at: Option<(i64, i64)>,
    /// The directory's first listing (no file of it is hot yet).
    first: bool,
}

impl Listing {
    /// The listed directory's own size.
    pub fn set_own(&mut self, bytes: u64) {
        self.own = bytes;
    }

    /// The directory's watch was added at `t` (wall clock, read from the
    /// clock file times come from, before the watch was added).
    pub fn watched_at(&mut self, t: (i64, i64)) {
        self.watched_at = Some(t);
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
/// How long after its last write a file's allocation may still grow by
/// writeback (`dirty_expire_centisecs` and a writeback period, rounded up).
pub const WRITEBACK_SECS: u64 = 40;
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
    nodes: FastMap<Wd, Node>,
    /// Hard-linked inodes: ino -> (bytes, names seen in the tree).
    links: FastMap<u64, (u64, u32)>,
    hot: FastMap<(Wd, u64), Hot>,
    want_hot: FastSet<(Wd, u64)>,
    /// Inodes found open for writing that are not hot yet: hot (open) at
    /// their directory's next listing.
    want_inos: FastSet<u64>,
    /// Names found gone by an earlier event of the batch (their delete
    /// needs no re-list).
    gone: FastSet<(Wd, u64)>,
    excluded: FastSet<(u64, u64)>,
    hunt: FastSet<u64>,
    pending_drop: Vec<Wd>,
    /// Directories listed since the queue was last read, and before: a
    /// create event there may predate the listing that counted it.
    /// Directories listed in this batch and the previous one, and whether
    /// the listing made all their files hot.
    fresh: FastMap<Wd, bool>,
    fresh_prev: FastMap<Wd, bool>,
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
        let mut nodes = FastMap::default();
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
            links: FastMap::default(),
            hot: FastMap::default(),
            want_hot: FastSet::default(),
            want_inos: FastSet::default(),
            gone: FastSet::default(),
            excluded: FastSet::default(),
            hunt: FastSet::default(),
            pending_drop: Vec::new(),
            fresh: FastMap::default(),
            fresh_prev: FastMap::default(),
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

    /// Updates directory `wd`'s own size.
    pub fn set_own(&mut self, wd: Wd, bytes: u64) {
        if let Some(n) = self.nodes.get_mut(&wd) {
            self.bytes = self.bytes.saturating_sub(n.own).saturating_add(bytes);
            n.own = bytes;
        }
    }

    /// The queue is about to be read: listings made before now are older
    /// than every event of the coming batch but the ones of this batch.
    pub fn begin_batch(&mut self) {
        self.fresh_prev = std::mem::take(&mut self.fresh);
    }

    /// Makes `name` of `wd` hot at its next listing.
    pub fn want_hot(&mut self, wd: Wd, name: &[u8]) {
        if self.want_hot.len() < HOT_MAX {
            self.want_hot.insert((wd, name_key(name)));
        }
    }

    /// Inodes whose other names must be found (see the module header).
    pub fn take_hunt(&mut self) -> FastSet<u64> {
        std::mem::take(&mut self.hunt)
    }

    /// Watches dropped by [`UsageTree::event`] since the last call.
    pub fn take_dropped(&mut self) -> Vec<Wd> {
        std::mem::take(&mut self.pending_drop)
    }

    /// Whether `dir` has a subdirectory `name` that is not watched yet.
    pub fn unwatched_sub(&self, dir: Wd, name: &[u8]) -> bool {
        self.nodes
            .get(&dir)
            .and_then(|n| n.subdirs.get(&name_key(name)))
            .is_some_and(|s| s.wd.is_none())
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
#[path = "usage_tree_listing.rs"]
mod listing;

#[cfg(test)]
#[path = "usage_tree_tests.rs"]
mod tests;
