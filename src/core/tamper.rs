//! Tamper detection, the pure part: what a change of the mount table or a
//! file dropped on a writable mount means. No syscalls.
//!
//! - [`diff_mounts`]: the live mount table against the start-up snapshot →
//!   `root-writable`, `mount-changed`, `mount-added` findings; [`Latch`]
//!   turns the repeated diffs into "appeared" / "cleared" transitions, so
//!   each break is reported once.
//! - [`recognise`] / [`judge`]: is a file an executable drop, from its mode
//!   and first bytes (ELF magic, `#!`, an exec bit), and is this inotify
//!   trigger the moment to say so.
//! - [`RateLimiter`]: the first N events individually, then one summary per
//!   interval with counts per kind and severity, so an unpacking archive
//!   cannot flood the log.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::core::classify::is_writable_surface;
use crate::core::mountinfo::{MountEntry, MountTable};
use crate::core::spec::{MountKind, MountSpec};

/// The stable `kind` field of a `tamper` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TamperKind {
    RootWritable,
    MountChanged,
    MountAdded,
    ExecDrop,
}

impl TamperKind {
    pub const ALL: [TamperKind; 4] = [
        TamperKind::RootWritable,
        TamperKind::MountChanged,
        TamperKind::MountAdded,
        TamperKind::ExecDrop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TamperKind::RootWritable => "root-writable",
            TamperKind::MountChanged => "mount-changed",
            TamperKind::MountAdded => "mount-added",
            TamperKind::ExecDrop => "exec-drop",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How bad a finding is: the log level, and whether `--on-tamper stop`
/// acts on it (only [`Severity::Error`] does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Warn,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warn => "warn",
            Severity::Error => "error",
        }
    }
}

/// What changed about a mount (the `change` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// `/` is writable now; it was read-only at start.
    RootWritable,
    /// A declared mount is no longer mounted.
    Vanished,
    /// Another filesystem type is mounted at a declared path.
    TypeChanged,
    /// A declared mount lost its read-only flag.
    BecameWritable,
    /// A declared mount became read-only.
    BecameReadOnly,
    /// Another mount of the same type sits on a declared path.
    Replaced,
    /// A declared mount lost `noexec`.
    ExecAllowed,
    /// A writable mount that was not there at start.
    Added,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::RootWritable => "read-write",
            Change::Vanished => "unmounted",
            Change::TypeChanged => "type-changed",
            Change::BecameWritable => "read-write",
            Change::BecameReadOnly => "read-only",
            Change::Replaced => "replaced",
            Change::ExecAllowed => "exec-allowed",
            Change::Added => "added",
        }
    }
}

/// One mount-table finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFinding {
    pub kind: TamperKind,
    pub change: Change,
    pub path: PathBuf,
    /// The declared kind, for a declared path.
    pub declared: Option<MountKind>,
    /// What the start-up snapshot had (`read-only`, `tmpfs`, `noexec`...).
    pub expected: String,
    /// What the table has now.
    pub observed: String,
    /// Mount id of the mount now there (0 when there is none).
    pub mount_id: u32,
    pub severity: Severity,
}

impl MountFinding {
    /// Identity for [`Latch`]: the same break seen again is the same key.
    pub fn key(&self) -> String {
        format!(
            "{}\0{}\0{}\0{}",
            self.kind.as_str(),
            self.change.as_str(),
            self.mount_id,
            self.path.display()
        )
    }

    /// The human sentence: what happened and why it matters.
    pub fn message(&self) -> String {
        let p = self.path.display();
        let what = match self.declared {
            Some(k) => format!("{p} (declared {})", k.as_str()),
            None => p.to_string(),
        };
        let (exp, obs) = (&self.expected, &self.observed);
        match self.change {
            Change::RootWritable => "the root filesystem was remounted read-write: the tamper \
                 seal is broken, and the image's binaries and configuration can now be modified \
                 in place"
                .to_string(),
            Change::Vanished => format!(
                "{what} was unmounted (it was {exp}): the declared volume is gone and the \
                 directory underneath it is exposed"
            ),
            Change::TypeChanged => format!(
                "{what} is now a {obs} mount instead of {exp}: the declared volume was \
                 replaced by another filesystem"
            ),
            Change::BecameWritable => format!(
                "{what} was remounted read-write: the files the pod provides there read-only \
                 can now be modified"
            ),
            Change::BecameReadOnly => format!(
                "{what} was remounted read-only: the workload's writes there now fail with \
                 \"Read-only file system\""
            ),
            Change::Replaced => format!(
                "{what} was replaced by another {obs} mount: the volume there is no longer the \
                 one mounted at start-up, and its contents are hidden"
            ),
            Change::ExecAllowed => format!(
                "{what} was remounted without noexec: files dropped there can now be executed"
            ),
            Change::Added => format!(
                "a new writable {obs} mount appeared at {p} after start-up: it is a writable \
                 place outside the declared storage contract"
            ),
        }
    }
}

/// Writable by both the per-mount flag and the super-block.
fn writable(e: &MountEntry) -> bool {
    !e.is_read_only() && !e.is_super_read_only()
}

fn rw_word(e: &MountEntry) -> &'static str {
    if writable(e) {
        "read-write"
    } else {
        "read-only"
    }
}

/// Compares the live table `now` with the start-up snapshot `baseline`.
/// Declared paths without a mount at start are left to the start-up check
/// (a mount appearing there later is `mount-added`).
pub fn diff_mounts(
    baseline: &MountTable,
    declared: &[MountSpec],
    now: &MountTable,
) -> Vec<MountFinding> {
    let mut out = Vec::new();
    let root = Path::new("/");
    if let (Some(b), Some(n)) = (baseline.at(root), now.at(root)) {
        if !writable(b) && writable(n) {
            out.push(MountFinding {
                kind: TamperKind::RootWritable,
                change: Change::RootWritable,
                path: root.to_path_buf(),
                declared: None,
                expected: "read-only".into(),
                observed: "read-write".into(),
                mount_id: n.mount_id,
                severity: Severity::Error,
            });
        }
    }
    let mut covered: HashSet<&Path> = HashSet::new();
    for spec in declared {
        let Some(b) = baseline.at(&spec.path) else {
            continue;
        };
        covered.insert(&spec.path);
        let mk = |change, expected: String, observed: String, id| MountFinding {
            kind: TamperKind::MountChanged,
            change,
            path: spec.path.clone(),
            declared: Some(spec.kind),
            expected,
            observed,
            mount_id: id,
            severity: Severity::Error,
        };
        let Some(n) = now.at(&spec.path) else {
            let was = format!("{} {}", rw_word(b), b.fs_type);
            out.push(mk(Change::Vanished, was, "not a mount".into(), 0));
            continue;
        };
        let before = out.len();
        if n.fs_type != b.fs_type {
            out.push(mk(
                Change::TypeChanged,
                b.fs_type.clone(),
                n.fs_type.clone(),
                n.mount_id,
            ));
        }
        match (writable(b), writable(n)) {
            (false, true) => out.push(mk(
                Change::BecameWritable,
                "read-only".into(),
                "read-write".into(),
                n.mount_id,
            )),
            (true, false) => out.push(mk(
                Change::BecameReadOnly,
                "read-write".into(),
                "read-only".into(),
                n.mount_id,
            )),
            _ => {}
        }
        if b.has_option("noexec") && !n.has_option("noexec") {
            out.push(mk(
                Change::ExecAllowed,
                "noexec".into(),
                "exec allowed".into(),
                n.mount_id,
            ));
        }
        if out.len() == before && n.mount_id != b.mount_id {
            out.push(mk(
                Change::Replaced,
                format!("mount {}", b.mount_id),
                n.fs_type.clone(),
                n.mount_id,
            ));
        }
    }
    let known: HashSet<u32> = baseline.entries.iter().map(|e| e.mount_id).collect();
    for e in &now.entries {
        if known.contains(&e.mount_id)
            || e.mount_point == root
            || covered.contains(e.mount_point.as_path())
            || !is_writable_surface(e)
        {
            continue;
        }
        out.push(MountFinding {
            kind: TamperKind::MountAdded,
            change: Change::Added,
            path: e.mount_point.clone(),
            declared: declared
                .iter()
                .find(|d| d.path == e.mount_point)
                .map(|d| d.kind),
            expected: "no mount".into(),
            observed: e.fs_type.clone(),
            mount_id: e.mount_id,
            severity: Severity::Warn,
        });
    }
    out
}

/// Turns repeated diffs into transitions: a finding is reported when it
/// appears, and once more (as cleared) when it no longer holds.
#[derive(Debug, Default)]
pub struct Latch {
    active: HashMap<String, MountFinding>,
}

impl Latch {
    /// Returns `(appeared, cleared)` relative to the previous call.
    pub fn update(
        &mut self,
        findings: Vec<MountFinding>,
    ) -> (Vec<MountFinding>, Vec<MountFinding>) {
        let mut next = HashMap::with_capacity(findings.len());
        let mut appeared = Vec::new();
        for f in findings {
            let key = f.key();
            if !self.active.contains_key(&key) && !next.contains_key(&key) {
                appeared.push(f.clone());
            }
            next.insert(key, f);
        }
        let mut cleared: Vec<MountFinding> = self
            .active
            .drain()
            .filter(|(k, _)| !next.contains_key(k))
            .map(|(_, f)| f)
            .collect();
        cleared.sort_by_key(MountFinding::key);
        self.active = next;
        (appeared, cleared)
    }

    /// Findings currently holding.
    pub fn active(&self) -> usize {
        self.active.len()
    }
}

/// What made a file look like an executable (the `recognised` field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognised {
    /// Starts with `\x7fELF`.
    Elf,
    /// Starts with `#!`.
    Script,
    /// Has an exec bit, content not recognised.
    ExecBit,
}

impl Recognised {
    pub fn as_str(self) -> &'static str {
        match self {
            Recognised::Elf => "elf",
            Recognised::Script => "script",
            Recognised::ExecBit => "exec-bit",
        }
    }
}

/// ELF magic (elf(5)).
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
/// Bytes of a file the recogniser looks at; nothing beyond is read.
pub const HEAD_LEN: usize = 4;

/// Whether a file with `st_mode` `mode` starting with `head` is an
/// executable: ELF magic, then `#!`, then any exec bit. Non-regular files
/// never are.
pub fn recognise(mode: u32, head: &[u8]) -> Option<Recognised> {
    if mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    if head.starts_with(ELF_MAGIC) {
        Some(Recognised::Elf)
    } else if head.starts_with(b"#!") {
        Some(Recognised::Script)
    } else if mode & 0o111 != 0 {
        Some(Recognised::ExecBit)
    } else {
        None
    }
}

/// Permission bits as the `mode` field: `"0755"`.
pub fn mode_string(mode: u32) -> String {
    format!("{:04o}", mode & 0o7777)
}

/// Which inotify events named a file in one batch (a union).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Triggers(u8);

impl Triggers {
    /// `IN_CLOSE_WRITE`: closed after being open for writing.
    pub const WRITTEN: Triggers = Triggers(1);
    /// `IN_MOVED_TO`: renamed into a watched directory.
    pub const MOVED_IN: Triggers = Triggers(2);
    /// Listed in a directory that appeared after start-up (its own events
    /// came before the directory was watched).
    pub const FOUND: Triggers = Triggers(4);
    /// `IN_CREATE`.
    pub const CREATED: Triggers = Triggers(8);
    /// `IN_ATTRIB`: chmod, chown, utimes, link count.
    pub const ATTRIB: Triggers = Triggers(16);

    /// The triggers in an inotify event mask (directories excluded).
    pub fn from_mask(mask: u32) -> Triggers {
        if mask & libc::IN_ISDIR != 0 {
            return Triggers(0);
        }
        let pairs = [
            (libc::IN_CLOSE_WRITE, Triggers::WRITTEN),
            (libc::IN_MOVED_TO, Triggers::MOVED_IN),
            (libc::IN_CREATE, Triggers::CREATED),
            (libc::IN_ATTRIB, Triggers::ATTRIB),
        ];
        pairs
            .iter()
            .filter(|(bit, _)| mask & bit != 0)
            .fold(Triggers(0), |acc, (_, t)| acc | *t)
    }

    /// The most telling trigger, for the `trigger` field: `write`,
    /// `rename`, `new-directory`, `create`, `attrib` (empty for none).
    pub fn as_str(self) -> &'static str {
        let names = [
            (Triggers::WRITTEN, "write"),
            (Triggers::MOVED_IN, "rename"),
            (Triggers::FOUND, "new-directory"),
            (Triggers::CREATED, "create"),
            (Triggers::ATTRIB, "attrib"),
        ];
        names
            .iter()
            .find(|(t, _)| self.contains(*t))
            .map_or("", |(_, n)| n)
    }

    pub fn contains(self, other: Triggers) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for Triggers {
    type Output = Triggers;
    fn bitor(self, rhs: Triggers) -> Triggers {
        Triggers(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for Triggers {
    fn bitor_assign(&mut self, rhs: Triggers) {
        self.0 |= rhs.0;
    }
}

/// What `fstat` and the first [`HEAD_LEN`] bytes say about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileFacts {
    pub mode: u32,
    pub size: u64,
    pub nlink: u64,
    /// `st_mtime` seconds and nanoseconds.
    pub mtime: (i64, i64),
    pub head: [u8; HEAD_LEN],
    pub head_len: usize,
}

impl FileFacts {
    pub fn head(&self) -> &[u8] {
        &self.head[..self.head_len.min(HEAD_LEN)]
    }

    /// The content state a report is remembered by.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            mtime: self.mtime,
            size: self.size,
        }
    }
}

/// The content state of a reported inode: the same inode seen again with
/// the same stamp is the same drop; with another, it was rewritten (or the
/// inode number was reused by a new file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    pub mtime: (i64, i64),
    pub size: u64,
}

/// The verdict on one file for one batch of triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// An executable drop: report it (and remember the inode).
    Report(Recognised),
    /// Not an executable (forget the inode, if it was remembered).
    NotExec,
    /// Nothing to say now (a fresh empty file still being written; an
    /// attribute change that adds nothing).
    Wait,
}

/// Decides whether this batch of triggers reports the file. `known` is
/// the [`Stamp`] the inode was last reported with, if it was.
///
/// - written, moved in, found (non-empty) in a new directory, or created
///   as a hard link or with content: the full check ([`recognise`]),
///   unless this very state was already reported;
/// - created (or found) empty: wait for `IN_CLOSE_WRITE`;
/// - attributes only: report when an exec bit is there and the inode was
///   not already reported, so `chmod +x` is caught but an unpacker's
///   `utimes` after the write is not a second event.
pub fn judge(t: Triggers, f: &FileFacts, known: Option<Stamp>) -> Judgement {
    if f.mode & libc::S_IFMT != libc::S_IFREG {
        return Judgement::Wait;
    }
    let full = t.contains(Triggers::WRITTEN)
        || t.contains(Triggers::MOVED_IN)
        || ((t.contains(Triggers::FOUND) || t.contains(Triggers::CREATED))
            && (f.nlink > 1 || f.size > 0));
    if full {
        return match recognise(f.mode, f.head()) {
            Some(_) if known == Some(f.stamp()) => Judgement::Wait,
            Some(r) => Judgement::Report(r),
            None => Judgement::NotExec,
        };
    }
    if t.contains(Triggers::ATTRIB) {
        if f.mode & 0o111 == 0 {
            return Judgement::NotExec;
        }
        if known.is_none() {
            return match recognise(f.mode, f.head()) {
                Some(r) => Judgement::Report(r),
                None => Judgement::NotExec,
            };
        }
    }
    Judgement::Wait
}

/// The severity of an exec drop: a mount without `noexec` lets it run.
pub fn exec_severity(noexec: bool) -> Severity {
    if noexec {
        Severity::Warn
    } else {
        Severity::Error
    }
}

/// Events of one kind and severity not logged one by one in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    pub kind: TamperKind,
    pub severity: Severity,
    pub count: u64,
}

/// One summary line's worth: what was suppressed over `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub window: Duration,
    /// Non-zero counts, by kind then severity (error first).
    pub counts: Vec<Suppressed>,
}

/// The first `first` events are logged one by one; after that, events are
/// counted and [`RateLimiter::flush`] gives one summary per `interval`.
/// The budget refills once a whole interval passed without events. Time is
/// passed in, so the limiter is pure; the caller wakes at
/// [`RateLimiter::due`] (and never otherwise: no summary pending, no timer).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    first: u32,
    interval: Duration,
    budget: u32,
    last: Option<Instant>,
    window: Option<Instant>,
    counts: [[u64; 2]; 4],
    totals: [u64; 4],
}

impl RateLimiter {
    pub fn new(first: u32, interval: Duration) -> RateLimiter {
        RateLimiter {
            first,
            interval,
            budget: first,
            last: None,
            window: None,
            counts: [[0; 2]; 4],
            totals: [0; 4],
        }
    }

    /// Counts one event; `true` if it is to be logged individually. Call
    /// [`RateLimiter::flush`] first when it is due.
    pub fn admit(&mut self, kind: TamperKind, severity: Severity, now: Instant) -> bool {
        let quiet = self
            .last
            .is_some_and(|l| now.saturating_duration_since(l) >= self.interval);
        if quiet && self.window.is_none() {
            self.budget = self.first;
        }
        self.last = Some(now);
        self.totals[kind.index()] = self.totals[kind.index()].saturating_add(1);
        if self.budget > 0 {
            self.budget -= 1;
            return true;
        }
        let c = &mut self.counts[kind.index()][severity as usize];
        *c = c.saturating_add(1);
        self.window.get_or_insert(now);
        false
    }

    /// When the pending summary is due, if one is.
    pub fn due(&self) -> Option<Instant> {
        self.window.map(|w| w + self.interval)
    }

    /// The summary of the window, once it is due; `None` before.
    pub fn flush(&mut self, now: Instant) -> Option<Summary> {
        let start = self.window?;
        if now < start + self.interval {
            return None;
        }
        self.window = None;
        let mut counts = Vec::new();
        for kind in TamperKind::ALL {
            for severity in [Severity::Error, Severity::Warn] {
                let c = std::mem::take(&mut self.counts[kind.index()][severity as usize]);
                if c > 0 {
                    counts.push(Suppressed {
                        kind,
                        severity,
                        count: c,
                    });
                }
            }
        }
        Some(Summary {
            window: now.saturating_duration_since(start),
            counts,
        })
    }

    /// Events of `kind` seen since start, logged or not.
    pub fn total(&self, kind: TamperKind) -> u64 {
        self.totals[kind.index()]
    }
}

#[cfg(test)]
#[path = "tamper_tests.rs"]
mod tests;
