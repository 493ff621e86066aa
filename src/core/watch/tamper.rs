//! Tamper detection, the pure part: what a change of the mount table or a
//! file dropped on a writable mount means. No syscalls.
//!
//! - [`diff_mounts`]: the live mount table against the start-up snapshot →
//!   `root-writable`, `mount-changed`, `mount-added` findings; [`Latch`]
//!   turns the repeated diffs into "appeared" / "cleared" transitions, so
//!   each break is reported once.
//! - [`recognise`] / [`judge`]: is a file an executable drop, from its mode
//!   and first bytes (an exec bit; ELF magic or `#!` say the kind), and is
//!   this inotify trigger the moment to say so.
//! - [`RateLimiter`]: the first N events individually, then one summary per
//!   interval with counts per kind and severity, so an unpacking archive
//!   cannot flood the log.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::core::contract::spec::{MountKind, MountSpec, RootPolicy};
use crate::core::mounts::classify::is_writable_surface;
use crate::core::mounts::mountinfo::{MountEntry, MountTable};

mod exec;
mod ratelimit;

pub use exec::{
    exec_severity, judge, mode_string, recognise, FileFacts, Judgement, Recognised, Stamp,
    Triggers, ELF_MAGIC, HEAD_LEN,
};
pub use ratelimit::{RateLimiter, Summary, Suppressed};

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

/// Whether the mount-table watch has anything to do. [`diff_mounts`] can
/// find: `mount-changed` for a declared mount, `root-writable` when `/`
/// was read-only at start, `mount-added` for a new writable mount. Under
/// `--root any` (`root_policy` [`RootPolicy::Any`]) with no mount declared
/// the user has asked for no storage contract at all, so nothing is
/// watched (not even `mount-added`): no thread, no open table. With
/// `--root read-only` the root turning writable is worth watching even
/// when no mount is declared.
pub fn mount_watch_needed(
    root_policy: RootPolicy,
    baseline: &MountTable,
    declared: &[MountSpec],
) -> bool {
    if !declared.is_empty() {
        return true;
    }
    root_policy == RootPolicy::ReadOnly
        && baseline
            .at(Path::new("/"))
            .is_some_and(|root| !writable(root))
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

#[cfg(test)]
#[path = "tamper_tests.rs"]
mod tests;
