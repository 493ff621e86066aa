//! `sealinit learn`, the pure part: the image baseline, the accumulation of
//! scans into per-mount high-water marks and findings, and the learned
//! contract ([`Learned`]) with its spec TOML and summary.
//!
//! The edge walks the root filesystem and hands each entry's path and
//! `ctime` to [`Baseline::record`] (the first walk, which runs beside the
//! just-started workload) or [`Baseline::change`] (at each scan): an entry
//! absent from the baseline was created by the workload, one whose `ctime`
//! moved was changed (content, metadata, or — for a directory — entries
//! created or removed in it), and one the baseline saw with a `ctime` at or
//! after the workload's start was written before the walk reached it. A
//! scan's changed entries go to [`Learner::add`]; [`Learner::learned`]
//! applies the [`rules`] and gives the contract.

pub mod render;
pub mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::core::contract::spec::{MountKind, MountSpec, Spec};
pub use rules::EntryType;
use rules::{Evidence, ImageFacts, Placement};

/// How an entry differs from the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    /// Not in the baseline: created by the workload.
    Created,
    /// In the baseline, `ctime` moved.
    Modified,
    /// In the baseline with a `ctime` at or after the start: written by the
    /// workload before the baseline walk reached it (created or modified).
    Early,
}

/// The image as it was at the spawn: per path (hashed, 8 bytes) its
/// `ctime`, and per directory how many entries it held. Entries with a
/// `ctime` at or after `since` (the start) are the workload's, not the
/// image's.
#[derive(Debug, Default)]
pub struct Baseline {
    ctimes: HashMap<u64, i128>,
    children: HashMap<u64, u64>,
    since: Option<i128>,
}

fn key(path: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

fn parent_bytes(path: &[u8]) -> Option<&[u8]> {
    let i = path.iter().rposition(|&b| b == b'/')?;
    if path.len() <= 1 {
        return None;
    }
    Some(if i == 0 { &path[..1] } else { &path[..i] })
}

impl Baseline {
    /// A baseline for a workload started at `since_ns` (a `ctime`, with the
    /// margin the caller chose for coarse timestamps); `None`: every entry
    /// recorded is the image's (the walk ended before the start).
    pub fn new(since_ns: Option<i128>) -> Baseline {
        Baseline {
            since: since_ns,
            ..Baseline::default()
        }
    }

    fn is_early(&self, ctime_ns: i128) -> bool {
        self.since.is_some_and(|s| ctime_ns >= s)
    }

    /// Records one entry (its absolute path, raw bytes). It counts as image
    /// content of its directory unless both its `ctime` and `mtime` are at
    /// or after the start (an image file the workload only touched keeps an
    /// old `mtime`: the safe side, a mount never hides it).
    pub fn record(&mut self, path: &[u8], ctime_ns: i128, mtime_ns: i128) {
        self.ctimes.insert(key(path), ctime_ns);
        if self.is_early(ctime_ns) && self.is_early(mtime_ns) {
            return;
        }
        if let Some(p) = parent_bytes(path) {
            *self.children.entry(key(p)).or_default() += 1;
        }
    }

    /// How the entry at `path` differs from the image; `None`: unchanged.
    pub fn change(&self, path: &[u8], ctime_ns: i128) -> Option<Change> {
        match self.ctimes.get(&key(path)) {
            None => Some(Change::Created),
            Some(&c) if self.is_early(c) => Some(Change::Early),
            Some(&c) if c != ctime_ns => Some(Change::Modified),
            Some(_) => None,
        }
    }

    /// Entries recorded.
    pub fn len(&self) -> usize {
        self.ctimes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ctimes.is_empty()
    }
}

impl ImageFacts for Baseline {
    fn existed(&self, dir: &Path) -> bool {
        self.ctimes
            .contains_key(&key(dir.as_os_str().as_encoded_bytes()))
    }
    fn image_entries(&self, dir: &Path) -> u64 {
        self.children
            .get(&key(dir.as_os_str().as_encoded_bytes()))
            .copied()
            .unwrap_or(0)
    }
}

/// One changed entry a scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub path: PathBuf,
    pub etype: EntryType,
    /// Allocated bytes (`st_blocks * 512`); a hard link counted once.
    pub bytes: u64,
    pub uid: u32,
    pub gid: u32,
    pub change: Change,
}

#[derive(Debug, Clone, Default)]
struct MountAcc {
    high_water: u64,
    evidence: Evidence,
    owners: BTreeSet<(u32, u32)>,
    /// Image files the workload rewrote under this mount.
    rewritten: BTreeSet<PathBuf>,
}

/// One drift finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub path: PathBuf,
    /// `created`, `modified` or `entries created or removed`.
    pub what: &'static str,
    pub fix: String,
}

/// At most this many drift paths are kept; the rest are counted.
pub const MAX_DRIFT: usize = 200;

/// Accumulates scans; the high-water mark per mount is kept across them.
/// A scan is streamed ([`Learner::begin_scan`], [`Learner::add`] per changed
/// entry in walk order — a directory before its entries —,
/// [`Learner::end_scan`]), so memory grows with mounts and findings, not
/// with the number of files written.
#[derive(Debug, Default)]
pub struct Learner {
    mounts: BTreeMap<PathBuf, MountAcc>,
    drift: BTreeMap<PathBuf, &'static str>,
    drift_dropped: u64,
    strays: BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    pub scans: u64,
    /// This scan: bytes per mount.
    cur: BTreeMap<PathBuf, u64>,
    /// This scan: changed image directories, and whether a changed entry
    /// directly in them explains the change.
    pending: HashMap<PathBuf, (Written, bool)>,
}

impl Learner {
    /// Adds one scan's changed entries (in walk order), judged against
    /// `image`.
    pub fn add_scan(&mut self, written: &[Written], image: &dyn ImageFacts) {
        self.begin_scan();
        for w in written {
            self.add(w, image);
        }
        self.end_scan(image);
    }

    pub fn begin_scan(&mut self) {
        self.cur.clear();
        self.pending.clear();
    }

    /// One changed entry of the current scan.
    pub fn add(&mut self, w: &Written, image: &dyn ImageFacts) {
        if let Some(p) = w.path.parent() {
            if let Some(entry) = self.pending.get_mut(p) {
                entry.1 = true;
            }
        }
        if w.etype == EntryType::Dir && w.change != Change::Created {
            // Judged at the end of the scan, unless an entry explains it.
            self.pending.insert(w.path.clone(), (w.clone(), false));
            return;
        }
        self.place(w, image);
    }

    /// Ends the scan: places the changed directories nothing explained
    /// (files created and removed again) and updates the high-water marks.
    pub fn end_scan(&mut self, image: &dyn ImageFacts) {
        self.scans += 1;
        let pending: Vec<Written> = self
            .pending
            .drain()
            .filter(|(_, (_, explained))| !explained)
            .map(|(_, (w, _))| w)
            .collect();
        for w in &pending {
            self.place(w, image);
        }
        for (m, b) in std::mem::take(&mut self.cur) {
            let acc = self.mounts.entry(m).or_default();
            acc.high_water = acc.high_water.max(b);
        }
    }

    fn place(&mut self, w: &Written, image: &dyn ImageFacts) {
        match rules::place(&w.path, w.etype, image) {
            Placement::Mount(m) => {
                let acc = self.mounts.entry(m.clone()).or_default();
                if w.path != m {
                    acc.evidence.add(&w.path, w.etype);
                    *self.cur.entry(m).or_default() += w.bytes;
                } else {
                    self.cur.entry(m).or_default();
                }
                acc.owners.insert((w.uid, w.gid));
                if w.change == Change::Modified
                    && w.etype != EntryType::Dir
                    && acc.rewritten.len() < 5
                {
                    acc.rewritten.insert(w.path.clone());
                }
            }
            Placement::Drift => {
                let what = match (w.change, w.etype) {
                    (Change::Modified | Change::Early, EntryType::Dir) => {
                        "entries created or removed"
                    }
                    (Change::Created, _) => "created",
                    (Change::Modified, _) => "modified",
                    (Change::Early, _) => "written",
                };
                if self.drift.len() < MAX_DRIFT || self.drift.contains_key(&w.path) {
                    self.drift.entry(w.path.clone()).or_insert(what);
                } else {
                    self.drift_dropped += 1;
                }
            }
            Placement::Stray(dir) => {
                if self.strays.len() < MAX_DRIFT || self.strays.contains_key(&dir) {
                    let set = self.strays.entry(dir).or_default();
                    if set.len() < 5 {
                        set.insert(w.path.clone());
                    }
                }
            }
            Placement::Ignore => {}
        }
    }

    /// The learned contract: `declared` mounts (already given, not
    /// scanned) first, then the learned ones. `user_name` maps a uid to a
    /// name for the ownership advice.
    pub fn learned(
        &self,
        declared: &[MountSpec],
        user_name: &dyn Fn(u32) -> Option<String>,
    ) -> Learned {
        let mut mounts = Vec::new();
        for (path, acc) in &self.mounts {
            if declared.iter().any(|d| path.starts_with(&d.path)) {
                continue;
            }
            let class = rules::classify(path, &acc.evidence);
            let size = rules::size_limit(acc.high_water, class.floor);
            let mut notes = Vec::new();
            for &(uid, gid) in acc.owners.iter().filter(|(u, _)| *u != 0) {
                if let Some(a) = rules::ownership_advice(path, uid, gid, user_name(uid).as_deref())
                {
                    notes.push(a);
                }
            }
            if let Some(f) = acc.rewritten.iter().next() {
                notes.push(format!(
                    "the image ships files here that the workload rewrites ({}{}): a new volume \
                     starts empty, so the workload must recreate them (or an initContainer copies them in)",
                    f.display(),
                    if acc.rewritten.len() > 1 { ", ..." } else { "" }
                ));
            }
            mounts.push(LearnedMount {
                spec: MountSpec {
                    path: path.clone(),
                    kind: class.kind,
                    size_limit: Some(size),
                    allow_exec: false,
                },
                role: class.role,
                reason: class.reason,
                high_water: acc.high_water,
                owner: acc.owners.iter().copied().find(|(u, _)| *u != 0),
                notes,
            });
        }
        let drift = self
            .drift
            .iter()
            .map(|(p, what)| Drift {
                path: p.clone(),
                what,
                fix: rules::drift_fix(p),
            })
            .collect();
        let strays = self
            .strays
            .iter()
            .map(|(dir, files)| Stray {
                dir: dir.clone(),
                files: files.iter().cloned().collect(),
            })
            .collect();
        Learned {
            declared: declared.to_vec(),
            mounts,
            drift,
            drift_dropped: self.drift_dropped,
            strays,
            scans: self.scans,
        }
    }
}

/// A learned mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LearnedMount {
    pub spec: MountSpec,
    pub role: &'static str,
    pub reason: String,
    /// Highest allocated bytes seen under it in one scan.
    pub high_water: u64,
    /// The first non-root (uid, gid) that wrote here.
    pub owner: Option<(u32, u32)>,
    /// Ownership advice and other notes.
    pub notes: Vec<String>,
}

/// Files written directly in a directory that holds image content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

impl Stray {
    pub fn advice(&self) -> String {
        format!(
            "the workload writes files directly in {}, which holds image content: a volume there \
             would hide it; make the workload write them into a subdirectory (or /tmp) and mount that",
            self.dir.display()
        )
    }
}

/// The learned contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    /// Mounts the contract options already declared (kept as given).
    pub declared: Vec<MountSpec>,
    pub mounts: Vec<LearnedMount>,
    pub drift: Vec<Drift>,
    /// Drift findings past [`MAX_DRIFT`], counted only.
    pub drift_dropped: u64,
    pub strays: Vec<Stray>,
    pub scans: u64,
}

impl Learned {
    /// The contract as a spec: read-only root, declared then learned mounts.
    pub fn spec(&self) -> Spec {
        let mut mounts = self.declared.clone();
        mounts.extend(self.mounts.iter().map(|m| m.spec.clone()));
        Spec {
            mounts,
            ..Spec::default()
        }
    }

    /// The kinds seen, for a test or a summary.
    pub fn kinds(&self) -> Vec<(PathBuf, MountKind)> {
        self.mounts
            .iter()
            .map(|m| (m.spec.path.clone(), m.spec.kind))
            .collect()
    }
}
