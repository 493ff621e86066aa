//! Check evaluation: the storage contract ([`Spec`]) against the observed
//! [`Facts`] gives a list of [`Finding`]s, each with a verdict, what was
//! expected and observed, why it matters and the fix. Pure: facts are plain
//! data gathered elsewhere (`edge::probe`), so every rule is unit-tested with
//! hand-built facts.
//!
//! Per declared path the sub-checks (mount, type, writable, size, noexec)
//! collapse into one `pass` line when they hold; each warning or failure is a
//! line of its own.

use std::path::Path;

mod inventory;
mod paths;

pub use paths::parse_tmpfs_size;

use crate::core::contract::quantity;
use crate::core::contract::spec::{MountKind, MountSpec, RootPolicy, Spec};
use crate::core::mounts::facts::{describe_errno, Facts, Identity, SkippedLines, VfsFacts};
use crate::core::mounts::mountinfo::{MountEntry, MountTable};
use crate::core::render::report;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Warn => "warn",
            Verdict::Fail => "fail",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `root|mount|writable|type|size|readonly|noexec|identity|inventory`.
    pub check: &'static str,
    pub path: String,
    /// The declared kind (`tmpfs`, ...), or `root`, `identity`, `undeclared`.
    pub kind: String,
    pub expected: String,
    pub observed: String,
    pub verdict: Verdict,
    /// Why it matters (empty for a pass).
    pub why: String,
    /// The concrete change, possibly multi-line YAML.
    pub fix: Option<String>,
}

/// Counts of findings by verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub pass: u64,
    pub warn: u64,
    pub fail: u64,
}

impl Summary {
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            match f.verdict {
                Verdict::Pass => s.pass += 1,
                Verdict::Warn => s.warn += 1,
                Verdict::Fail => s.fail += 1,
            }
        }
        s
    }

    /// The worst verdict.
    pub fn verdict(&self) -> Verdict {
        if self.fail > 0 {
            Verdict::Fail
        } else if self.warn > 0 {
            Verdict::Warn
        } else {
            Verdict::Pass
        }
    }
}

/// Judges the facts against the spec: root, identity, each declared path in
/// order, then the inventory of undeclared writable mounts.
pub fn evaluate(spec: &Spec, facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let table = facts.mountinfo.as_ref().ok();
    if let Err(e) = &facts.mountinfo {
        out.push(Finding {
            check: "mount",
            path: "/proc/self/mountinfo".into(),
            kind: "mountinfo".into(),
            expected: "a readable mount table".into(),
            observed: e.clone(),
            // A plain init judges nothing against the table: no reason to
            // refuse to start (tini would not either).
            verdict: if is_plain_init(spec) {
                Verdict::Warn
            } else {
                Verdict::Fail
            },
            why: "without the mount table no path can be shown to be its own mount".into(),
            fix: Some("mount /proc in the container (every OCI runtime does by default)".into()),
        });
    }
    if let Some(skipped) = &facts.mountinfo_skipped {
        out.push(skipped_lines(skipped));
    }
    if spec.root == RootPolicy::ReadOnly {
        out.push(check_root(table, &facts.root));
    }
    out.push(check_identity(spec, &facts.identity));
    for m in &spec.mounts {
        let Some(pf) = facts.paths.iter().find(|p| p.path == m.path) else {
            out.push(fail(
                m,
                "mount",
                &kind_expectation(m),
                "no facts were gathered for this path",
            ));
            continue;
        };
        let first = out.len();
        if m.kind.is_writable() {
            out.extend(paths::check_writable(m, pf, table, &facts.identity));
        } else {
            out.extend(paths::check_readonly(m, pf, table));
        }
        if let Some(target) = &pf.resolved {
            for f in &mut out[first..] {
                f.observed = via_symlink(&f.observed, target);
            }
        }
    }
    if let Some(t) = table {
        out.extend(inventory::check_inventory(spec, facts, t));
    }
    out
}

/// Whether the spec is no contract at all (`--root any`, nothing declared,
/// any user): sealinit is a plain init then, and stays as quiet as one.
pub fn is_plain_init(spec: &Spec) -> bool {
    spec.mounts.is_empty() && spec.root == RootPolicy::Any && !spec.require_non_root
}

/// A warning for mount table lines that did not parse: the rest was checked.
fn skipped_lines(s: &SkippedLines) -> Finding {
    let lines = if s.count == 1 { "line" } else { "lines" };
    Finding {
        check: "mount",
        path: "/proc/self/mountinfo".into(),
        kind: "mountinfo".into(),
        expected: "every line of the mount table parses".into(),
        observed: format!(
            "{} malformed {lines} skipped, the first at line {}: {}",
            s.count, s.first.line, s.first.reason
        ),
        verdict: Verdict::Warn,
        why: "a mount on a skipped line is invisible to the checks: a declared path there \
              shows as not a mount, and the inventory misses it"
            .into(),
        fix: Some(format!(
            "report the line to the sealinit maintainers: sed -n {}p /proc/self/mountinfo",
            s.first.line
        )),
    }
}

/// A declared path with a symlink on the way (`/var/run` -> `/run`) is
/// judged where the kernel resolves it for the workload: at its target,
/// which is what mountinfo lists. Every finding of the path says so.
fn via_symlink(observed: &str, target: &Path) -> String {
    let via = format!("via symlink to {}", target.display());
    if observed.is_empty() {
        via
    } else {
        format!("{via}: {observed}")
    }
}

fn fail(m: &MountSpec, check: &'static str, expected: &str, observed: &str) -> Finding {
    Finding {
        check,
        path: m.path.display().to_string(),
        kind: m.kind.as_str().into(),
        expected: expected.into(),
        observed: observed.into(),
        verdict: Verdict::Fail,
        why: String::new(),
        fix: None,
    }
}

fn ro_word(ro: bool) -> &'static str {
    if ro {
        "read-only"
    } else {
        "writable"
    }
}

/// The filesystem name of a mount, or of a statfs magic when no mount.
fn fs_name(entry: Option<&MountEntry>, vfs: Option<&VfsFacts>) -> String {
    if let Some(e) = entry {
        return e.fs_type.clone();
    }
    match vfs {
        Some(v) if v.is_memory() => "tmpfs".into(),
        Some(v) => format!("fs magic {:#x}", v.fs_magic),
        None => "unknown".into(),
    }
}

fn is_memory_fs(fs: &str) -> bool {
    fs == "tmpfs" || fs == "ramfs"
}

fn check_root(table: Option<&MountTable>, root: &Result<VfsFacts, i32>) -> Finding {
    let entry = table.and_then(|t| t.at(Path::new("/")));
    let fs = fs_name(entry, root.as_ref().ok());
    let mi = entry.map(MountEntry::is_read_only);
    let vfs = root.as_ref().ok().map(|v| v.read_only);
    let mi_s = match mi {
        Some(true) => "ro",
        Some(false) => "rw",
        None => "absent",
    };
    let vfs_s = match root {
        Ok(v) if v.read_only => "ST_RDONLY".to_string(),
        Ok(_) => "rw".to_string(),
        Err(e) => describe_errno(*e),
    };
    let verdict = match (mi, vfs) {
        (Some(true) | None, Some(true)) => Verdict::Pass,
        (Some(false), Some(true)) | (Some(true), None) => Verdict::Warn,
        _ => Verdict::Fail,
    };
    let effective_ro = vfs.unwrap_or(mi == Some(true));
    let why = match verdict {
        Verdict::Pass => String::new(),
        Verdict::Warn if vfs == Some(true) => format!(
            "/ is read-only only because {fs} itself is; the mount is rw, so \
             readOnlyRootFilesystem was not set and a remount could make it writable"
        ),
        Verdict::Warn => "statvfs(/) failed, so only the mount flag is known".into(),
        Verdict::Fail => "a writable root lets the workload, or an attacker in it, change \
             the image's files unnoticed (the read-only root is the tamper seal), and its \
             writes land in the container layer outside every sizeLimit"
            .into(),
    };
    Finding {
        check: "root",
        path: "/".into(),
        kind: "root".into(),
        expected: "read-only (mountinfo ro and statvfs ST_RDONLY)".into(),
        observed: format!(
            "{fs} {} (mountinfo: {mi_s}, statvfs: {vfs_s})",
            ro_word(effective_ro)
        ),
        verdict,
        why,
        fix: (verdict != Verdict::Pass).then(report::read_only_root_yaml),
    }
}

fn check_identity(spec: &Spec, id: &Identity) -> Finding {
    let bad = spec.require_non_root && id.uid == 0;
    Finding {
        check: "identity",
        path: "-".into(),
        kind: "identity".into(),
        expected: if spec.require_non_root {
            "a non-root user (require_non_root)".into()
        } else {
            "any user".into()
        },
        observed: id.describe(),
        verdict: if bad { Verdict::Fail } else { Verdict::Pass },
        why: if bad {
            "the contract requires a non-root user: as uid 0 the workload ignores file \
             permissions, and an escape from the container starts as root"
                .into()
        } else {
            String::new()
        },
        fix: bad.then(report::run_as_non_root_yaml),
    }
}

/// `5Gi` or `no sizeLimit` for messages.
fn limit_text(limit: Option<u64>) -> String {
    match limit {
        Some(l) => format!("sizeLimit {}", quantity::format(l)),
        None => "no sizeLimit".into(),
    }
}

fn kind_expectation(m: &MountSpec) -> String {
    let what = match m.kind {
        MountKind::Tmpfs => "its own writable tmpfs mount (emptyDir medium: Memory)",
        MountKind::EmptyDir => "its own writable mount (emptyDir)",
        MountKind::Pvc => "its own writable persistent mount (PVC)",
        MountKind::ReadOnly => "a read-only mount (ConfigMap or readOnly volume)",
        MountKind::Secret => "a read-only tmpfs mount (Secret volume)",
    };
    match (m.kind.is_writable(), m.size_limit) {
        (true, Some(_)) => format!("{what}, {}", limit_text(m.size_limit)),
        _ => what.into(),
    }
}

#[cfg(test)]
mod tests;
