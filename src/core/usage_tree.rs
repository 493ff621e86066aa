//! Incremental du-style accounting of one watched tree, fed by stat facts.
//!
//! The watcher (orchestra) stats only the entries inotify names and tells
//! this structure; it keeps running totals equal to what `du -sx -B1` would
//! say, without walking the tree again. Pure: no syscalls.
//!
//! Memory trade-off: inotify's delete event carries no size, so removing an
//! entry in O(1) requires remembering what it counted. Each directory keeps
//! its name (to rebuild paths) and a map from a 64-bit hash of each entry
//! name to a 24-byte `Slot`; names of files are not stored. That is 33 bytes
//! per hash-table bucket, 40-70 bytes per file depending on the table's load,
//! plus a node per directory. A hash collision between two names in the same directory
//! (probability ~n²/2⁶⁴) would make one entry shadow the other until the
//! next full rescan, the safety net that also corrects the rare cases listed
//! on [`UsageTree::set_entry`].

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::num::NonZeroI32;

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
}

/// What one entry currently contributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    bytes: u64,
    ino: u64,
    /// Watch of the subdirectory, when the entry is a watched directory
    /// (kernel watch descriptors are never 0; the niche keeps the slot at
    /// 24 bytes).
    child: Option<NonZeroI32>,
    is_dir: bool,
    /// Counted through [`UsageTree::links`] (hard-linked file).
    linked: bool,
}

#[derive(Debug)]
struct Node {
    /// `(parent watch, name)`; `None` for the root.
    parent: Option<(Wd, Box<[u8]>)>,
    slots: HashMap<u64, Slot>,
}

/// What the caller must do after [`UsageTree::set_entry`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Followup {
    /// A new directory appeared: watch it ([`UsageTree::attach_dir`]) and
    /// list it.
    pub scan_dir: bool,
    /// These watches belong to directories no longer in the tree: remove them.
    pub dropped: Vec<Wd>,
}

/// Running du-style totals of one tree.
#[derive(Debug)]
pub struct UsageTree {
    dev: u64,
    root: Wd,
    nodes: HashMap<Wd, Node>,
    /// Hard-linked inodes: ino -> (bytes, names seen in the tree).
    links: HashMap<u64, (u64, u32)>,
    bytes: u64,
    inodes: u64,
    root_bytes: u64,
}

/// The key of a name in a directory's slot map.
pub fn name_key(name: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

impl UsageTree {
    /// A tree holding only its root directory (`root_stat` of the mount root).
    pub fn new(root: Wd, root_stat: EntryStat) -> UsageTree {
        let mut nodes = HashMap::new();
        nodes.insert(
            root,
            Node {
                parent: None,
                slots: HashMap::new(),
            },
        );
        UsageTree {
            dev: root_stat.dev,
            root,
            nodes,
            links: HashMap::new(),
            bytes: root_stat.bytes,
            inodes: 1,
            root_bytes: root_stat.bytes,
        }
    }

    /// Allocated bytes, as `du -sx -B1`.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Entries, as `du -sx --inodes`.
    pub fn inodes(&self) -> u64 {
        self.inodes
    }

    /// Number of watched directories.
    pub fn dirs(&self) -> usize {
        self.nodes.len()
    }

    /// Whether `wd` is a directory of this tree.
    pub fn contains(&self, wd: Wd) -> bool {
        self.nodes.contains_key(&wd)
    }

    /// All watches of the tree.
    pub fn watches(&self) -> impl Iterator<Item = Wd> + '_ {
        self.nodes.keys().copied()
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
        let mut out = Vec::new();
        for (i, part) in parts.iter().rev().enumerate() {
            if i > 0 {
                out.push(b'/');
            }
            out.extend_from_slice(part);
        }
        Some(out)
    }

    /// Updates a directory's own size (its entry in its parent, or the root).
    pub fn set_dir_self(&mut self, wd: Wd, st: EntryStat) {
        let Some(node) = self.nodes.get(&wd) else {
            return;
        };
        match node.parent.clone() {
            None => {
                self.bytes = self
                    .bytes
                    .saturating_sub(self.root_bytes)
                    .saturating_add(st.bytes);
                self.root_bytes = st.bytes;
            }
            Some((p, name)) => {
                let key = name_key(&name);
                if let Some(slot) = self.nodes.get_mut(&p).and_then(|n| n.slots.get_mut(&key)) {
                    if slot.is_dir && slot.ino == st.ino {
                        self.bytes = self
                            .bytes
                            .saturating_sub(slot.bytes)
                            .saturating_add(st.bytes);
                        slot.bytes = st.bytes;
                    }
                }
            }
        }
    }

    /// Records the current state of entry `name` in directory `dir`:
    /// `Some(stat)` it exists, `None` it is gone. Idempotent, so replaying an
    /// event, or an event racing a scan, is harmless.
    ///
    /// Entries on another device (mount points) are not counted, as `du -x`.
    /// Known approximation, corrected by the next full rescan: when a file
    /// that was counted alone gains a hard link elsewhere, both names count
    /// until one goes away (an over-estimate, so thresholds fire early, not
    /// late). A link in the same directory is recognised at once.
    pub fn set_entry(&mut self, dir: Wd, name: &[u8], st: Option<EntryStat>) -> Followup {
        let mut out = Followup::default();
        if !self.nodes.contains_key(&dir) {
            return out;
        }
        let key = name_key(name);
        let st = st.filter(|s| s.dev == self.dev);
        let old = self
            .nodes
            .get(&dir)
            .and_then(|n| n.slots.get(&key))
            .copied();
        // Same directory as before: only its own size changes.
        if let (Some(o), Some(s)) = (old, st) {
            if o.is_dir && s.is_dir && o.ino == s.ino {
                self.bytes = self.bytes.saturating_sub(o.bytes).saturating_add(s.bytes);
                if let Some(slot) = self.slot_mut(dir, key) {
                    slot.bytes = s.bytes;
                }
                out.scan_dir = o.child.is_none();
                return out;
            }
        }
        if let Some(o) = old {
            self.uncount(&o);
            if let Some(n) = self.nodes.get_mut(&dir) {
                n.slots.remove(&key);
            }
            if let Some(child) = o.child {
                self.drop_subtree(child.get(), &mut out.dropped);
            }
        }
        let Some(s) = st else {
            return out;
        };
        let linked = !s.is_dir && s.nlink > 1;
        if linked && !self.links.contains_key(&s.ino) {
            self.adopt_same_dir_link(dir, key, s.ino);
        }
        let slot = Slot {
            bytes: s.bytes,
            ino: s.ino,
            child: None,
            is_dir: s.is_dir,
            linked,
        };
        self.count(&slot);
        if let Some(n) = self.nodes.get_mut(&dir) {
            n.slots.insert(key, slot);
        }
        out.scan_dir = s.is_dir;
        out
    }

    /// Registers the watch of subdirectory `name` of `dir` (after
    /// [`Followup::scan_dir`]). Returns watches that must be dropped: the
    /// same watch seen before under another name (a renamed directory).
    pub fn attach_dir(&mut self, dir: Wd, name: &[u8], wd: Wd) -> Vec<Wd> {
        let mut dropped = Vec::new();
        if wd == self.root || !self.nodes.contains_key(&dir) {
            return dropped;
        }
        let key = name_key(name);
        if !self.slot_mut(dir, key).is_some_and(|s| s.is_dir) {
            return dropped;
        }
        if self.nodes.contains_key(&wd) {
            // Watched under its old name: forget it there (without removing
            // the watch, which is the same one).
            self.detach(wd, &mut dropped);
            dropped.retain(|w| *w != wd);
        }
        if let Some(slot) = self.slot_mut(dir, key) {
            if let Some(old) =
                std::mem::replace(&mut slot.child, NonZeroI32::new(wd)).map(NonZeroI32::get)
            {
                if old != wd {
                    self.drop_subtree(old, &mut dropped);
                }
            }
        }
        self.nodes.insert(
            wd,
            Node {
                parent: Some((dir, name.into())),
                slots: HashMap::new(),
            },
        );
        dropped
    }

    /// The directory of `wd` went away (`IN_IGNORED`): forget its subtree
    /// and its entry in its parent. Returns the other watches to remove.
    pub fn forget(&mut self, wd: Wd) -> Vec<Wd> {
        let mut dropped = Vec::new();
        if wd != self.root && self.nodes.contains_key(&wd) {
            self.detach(wd, &mut dropped);
            dropped.retain(|w| *w != wd);
        }
        dropped
    }

    fn detach(&mut self, wd: Wd, dropped: &mut Vec<Wd>) {
        let parent = self.nodes.get(&wd).and_then(|n| n.parent.clone());
        if let Some((p, name)) = parent {
            let key = name_key(&name);
            let slot = self.nodes.get(&p).and_then(|n| n.slots.get(&key)).copied();
            if let Some(s) = slot.filter(|s| s.child.map(NonZeroI32::get) == Some(wd)) {
                self.uncount(&s);
                if let Some(n) = self.nodes.get_mut(&p) {
                    n.slots.remove(&key);
                }
            }
        }
        self.drop_subtree(wd, dropped);
    }

    /// Removes the nodes under (and including) `wd`, uncounting their entries.
    fn drop_subtree(&mut self, wd: Wd, dropped: &mut Vec<Wd>) {
        let mut todo = vec![wd];
        while let Some(w) = todo.pop() {
            let Some(node) = self.nodes.remove(&w) else {
                continue;
            };
            dropped.push(w);
            for slot in node.slots.values() {
                self.uncount(slot);
                if let Some(c) = slot.child {
                    todo.push(c.get());
                }
            }
        }
    }

    fn slot_mut(&mut self, dir: Wd, key: u64) -> Option<&mut Slot> {
        self.nodes.get_mut(&dir).and_then(|n| n.slots.get_mut(&key))
    }

    /// A file of `dir` counted alone may be the other name of a new link.
    fn adopt_same_dir_link(&mut self, dir: Wd, key: u64, ino: u64) {
        let Some(node) = self.nodes.get_mut(&dir) else {
            return;
        };
        let found = node
            .slots
            .iter_mut()
            .find(|(k, s)| **k != key && !s.is_dir && !s.linked && s.ino == ino);
        if let Some((_, s)) = found {
            s.linked = true;
            let bytes = s.bytes;
            // It was counted directly; move the count into `links`.
            self.links.insert(ino, (bytes, 1));
        }
    }

    fn count(&mut self, s: &Slot) {
        if s.linked {
            match self.links.entry(s.ino) {
                Entry::Occupied(mut e) => {
                    let (bytes, refs) = e.get_mut();
                    *refs += 1;
                    self.bytes = self.bytes.saturating_sub(*bytes).saturating_add(s.bytes);
                    *bytes = s.bytes;
                }
                Entry::Vacant(e) => {
                    e.insert((s.bytes, 1));
                    self.bytes = self.bytes.saturating_add(s.bytes);
                    self.inodes += 1;
                }
            }
        } else {
            self.bytes = self.bytes.saturating_add(s.bytes);
            self.inodes += 1;
        }
    }

    fn uncount(&mut self, s: &Slot) {
        if s.linked {
            if let Entry::Occupied(mut e) = self.links.entry(s.ino) {
                let (bytes, refs) = *e.get();
                if refs <= 1 {
                    e.remove();
                    self.bytes = self.bytes.saturating_sub(bytes);
                    self.inodes = self.inodes.saturating_sub(1);
                } else {
                    e.get_mut().1 = refs - 1;
                }
            }
        } else {
            self.bytes = self.bytes.saturating_sub(s.bytes);
            self.inodes = self.inodes.saturating_sub(1);
        }
    }
}

#[cfg(test)]
#[path = "usage_tree_tests.rs"]
mod tests;
