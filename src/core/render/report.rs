//! Rendering of check results: the headline, one line per finding, the `fix:`
//! snippets (Kubernetes `volumes`/`volumeMounts` and `securityContext` YAML),
//! the `sealinit mounts` table and its JSON form. Pure string building.

use std::fmt::Write as _;
use std::path::Path;

use crate::core::checks::{Finding, Summary, Verdict};
use crate::core::contract::quantity;
use crate::core::contract::spec::{MountKind, MountSpec};
use crate::core::mounts::classify::describe;
use crate::core::mounts::facts::{Facts, Identity};
use crate::core::mounts::mountinfo::{MountEntry, MountTable};
use crate::core::render::logfmt::{push_json_str, Record, Value};
use crate::core::render::manifest::{
    mount_entry_snippet, mount_run_flag, mount_snippet, volume_name, Format,
};

/// Approximate binary size for humans: `512B`, `63.9Mi`, `5Gi`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64;
    let mut unit = "";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    let s = format!("{v:.1}");
    format!("{}{unit}", s.strip_suffix(".0").unwrap_or(&s))
}

/// The `volumes` entry and the `volumeMounts` entry for a declared mount,
/// rendered by `sealinit manifest`'s YAML writer (one renderer: the fix and
/// the manifest cannot disagree on quoting or names).
pub fn volume_yaml(m: &MountSpec, size_limit: Option<u64>) -> String {
    mount_snippet(m, size_limit)
}

fn kind_volume_word(kind: MountKind) -> &'static str {
    match kind {
        MountKind::Tmpfs => "an emptyDir volume with medium: Memory",
        MountKind::EmptyDir => "an emptyDir volume",
        MountKind::Pvc => "a PersistentVolumeClaim volume",
        MountKind::ReadOnly => "a configMap (or other readOnly) volume",
        MountKind::Secret => "a secret volume",
    }
}

/// Add (or replace with) a volume of the declared kind at exactly the path.
pub fn missing_volume_fix(m: &MountSpec) -> String {
    format!(
        "mount {} at exactly {} (podman/docker: {}):\n{}",
        kind_volume_word(m.kind),
        m.path.display(),
        mount_run_flag(m, Format::Docker),
        volume_yaml(m, m.size_limit)
    )
}

/// EROFS on a writable path: the volumeMount says `readOnly: true`.
pub fn remove_read_only_fix(m: &MountSpec) -> String {
    format!(
        "remove `readOnly: true` from the volumeMount of {} (podman/docker: drop `:ro`):\n{}",
        m.path.display(),
        mount_entry_snippet(m)
    )
}

/// A read-only kind mounted rw: add `readOnly: true`.
pub fn add_read_only_fix(m: &MountSpec) -> String {
    format!(
        "add `readOnly: true` to the volumeMount of {} (podman/docker: `:ro`):\n{}",
        m.path.display(),
        mount_entry_snippet(m)
    )
}

/// EACCES: the seed's Part 6 fix, with the ids that would make it writable.
pub fn permission_fix(m: &MountSpec, owner_gid: u32, mode: u32, id: &Identity) -> String {
    let uid = if id.uid == 0 { 65532 } else { id.uid };
    let gid = if id.gid == 0 { 65532 } else { id.gid };
    let (fs_group, why) = if mode & 0o020 != 0 && owner_gid != 0 {
        (
            owner_gid,
            format!("the volume is group-writable by {owner_gid}: joining that group is enough"),
        )
    } else {
        (
            gid,
            format!("the kubelet makes the volume group-owned by {gid} and group-writable"),
        )
    };
    format!(
        "run as a user that may write there; with fsGroup {why}:\n\
         securityContext:\n  runAsUser: {uid}\n  runAsGroup: {gid}\n  fsGroup: {fs_group}\n\
         and keep `readOnly: true` off the volumeMount of {p}. Volumes without ownership \
         management (hostPath, some NFS) need `chown {uid}:{fs_group} {p}` on the source instead.",
        p = m.path.display()
    )
}

/// ENOSPC or nearly full: the seed's "No space left on device" fix.
pub fn no_space_fix(m: &MountSpec) -> String {
    let p = m.path.display();
    let mut s = format!(
        "find what fills it: `kubectl exec <pod> -- du -sh {p}`; delete or rotate what the \
         workload leaves there; if the usage is legitimate, raise the limit"
    );
    let bigger = m.size_limit.and_then(|l| l.checked_mul(2));
    match (m.kind, bigger) {
        (MountKind::Pvc, Some(b)) => {
            let _ = write!(
                s,
                ":\n# PersistentVolumeClaim {} (if its storage class allows resizing)\nresources:\n  requests:\n    storage: {}\n",
                volume_name(&m.path.to_string_lossy()),
                quantity::format(b)
            );
        }
        (_, Some(b)) => {
            let _ = write!(s, ":\n{}", volume_yaml(m, Some(b)));
            if m.kind == MountKind::Tmpfs {
                s.push_str("# a memory-backed volume also needs the container's memory limit raised by as much\n");
            }
        }
        (_, None) => s.push_str(" (sizeLimit of the volume)"),
    }
    s
}

/// A writable mount without noexec.
pub fn noexec_fix(m: &MountSpec) -> String {
    format!(
        "mount it noexec where the runtime allows (podman: {}); a Kubernetes emptyDir \
         cannot set noexec, so there accept the risk (allow_exec = true on the mount) or \
         deny exec from {} in the AppArmor/SELinux profile",
        mount_run_flag(m, Format::Podman),
        m.path.display()
    )
}

/// The fix for a writable root.
pub fn read_only_root_yaml() -> String {
    "run the container with a read-only root (podman/docker: --read-only):\n\
     securityContext:\n  readOnlyRootFilesystem: true\n"
        .into()
}

/// The fix for running as root under `require_non_root`.
pub fn run_as_non_root_yaml() -> String {
    "run as an unprivileged user:\n\
     securityContext:\n  runAsNonRoot: true\n  runAsUser: 65532\n  runAsGroup: 65532\n  fsGroup: 65532\n"
        .into()
}

/// `check: FAIL 2 failed, 1 warning, 7 passed; uid=.. gid=.. groups=..; root / overlay read-only`.
pub fn headline(findings: &[Finding], facts: &Facts) -> String {
    let s = Summary::of(findings);
    let word = match s.verdict() {
        Verdict::Pass => "PASS",
        Verdict::Warn => "WARN",
        Verdict::Fail => "FAIL",
    };
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let root = match findings.iter().find(|f| f.check == "root") {
        None => "root not checked (--root any)".to_string(),
        Some(_) => {
            let fs = facts
                .mountinfo
                .as_ref()
                .ok()
                .and_then(|t| t.at(Path::new("/")))
                .map_or("?", |e| e.fs_type.as_str());
            let ro = facts.root.as_ref().is_ok_and(|v| v.read_only);
            format!("root / {fs} {}", if ro { "read-only" } else { "WRITABLE" })
        }
    };
    format!(
        "check: {word} {} failed, {}, {} passed; {}; {root}",
        s.fail,
        plural(s.warn, "warning", "warnings"),
        s.pass,
        facts.identity.describe()
    )
}

/// `fail  /tmp  emptydir  expected: ...  observed: ...` (the message of a
/// `check` event; `why` and `fix` follow on lines of their own).
pub fn finding_line(f: &Finding) -> String {
    format!(
        "{}  {}  {}  expected: {}  observed: {}",
        f.verdict.as_str(),
        f.path,
        f.kind,
        f.expected,
        f.observed
    )
}

/// Who reads the report, which decides how loud a clean result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The start-up log of a workload: a clean contract is one summary line
    /// (the passes are debug), and without a contract (`plain`) a clean
    /// result says nothing at all, like any other init.
    Startup { plain: bool },
    /// `sealinit check`, asked for: every line at its level.
    Check,
}

/// The report as log records: one `check` event per finding (fail=error,
/// warn=warn, pass=info), then `checks.summary` with the counts. Passes
/// drop to debug when the whole result is clean at start-up, and the
/// summary too without a contract; a warning or failure shows every line.
pub fn check_records(findings: &[Finding], facts: &Facts, audience: Audience) -> Vec<Record> {
    check_records_at(findings, facts, audience, |_| true)
}

/// [`check_records`], only those whose level `keep` accepts: the start-up
/// log builds no record its level would drop (a clean start at the default
/// level is one line, a plain init none; the strings of the others were
/// cloned and formatted on the workload's start path for nothing).
pub fn check_records_at(
    findings: &[Finding],
    facts: &Facts,
    audience: Audience,
    keep: impl Fn(&str) -> bool,
) -> Vec<Record> {
    let s = Summary::of(findings);
    let clean = s.verdict() == Verdict::Pass;
    let quiet_passes = clean && audience != Audience::Check;
    let mut out = Vec::with_capacity(findings.len() + 1);
    for f in findings {
        let level = match f.verdict {
            Verdict::Fail => "error",
            Verdict::Warn => "warn",
            Verdict::Pass if quiet_passes => "debug",
            Verdict::Pass => "info",
        };
        if !keep(level) {
            continue;
        }
        let mut fields = vec![
            ("check", Value::Str(f.check.to_string())),
            ("path", Value::Str(f.path.clone())),
            ("kind", Value::Str(f.kind.clone())),
            ("expected", Value::Str(f.expected.clone())),
            ("observed", Value::Str(f.observed.clone())),
            ("verdict", Value::Str(f.verdict.as_str().to_string())),
            ("why", Value::Str(f.why.clone())),
        ];
        if let Some(fix) = &f.fix {
            fields.push(("fix", Value::Str(fix.clone())));
        }
        out.push(Record {
            level,
            event: "check".into(),
            msg: finding_line(f),
            fields,
            ts: None,
        });
    }
    let level = match s.verdict() {
        Verdict::Fail => "error",
        Verdict::Warn => "warn",
        Verdict::Pass if audience == (Audience::Startup { plain: true }) => "debug",
        Verdict::Pass => "info",
    };
    if !keep(level) {
        return out;
    }
    out.push(Record {
        level,
        event: "checks.summary".into(),
        msg: headline(findings, facts),
        fields: vec![
            ("verdict", Value::Str(s.verdict().as_str().to_string())),
            ("pass", Value::U64(s.pass)),
            ("warn", Value::U64(s.warn)),
            ("fail", Value::U64(s.fail)),
            ("uid", Value::U64(u64::from(facts.identity.uid))),
            ("gid", Value::U64(u64::from(facts.identity.gid))),
        ],
        ts: None,
    });
    out
}

/// One visible mount, prepared for the table and JSON.
struct Row<'a> {
    e: &'a MountEntry,
    size: Option<u64>,
    class: String,
    declared: Option<&'static str>,
}

fn rows<'a>(table: &'a MountTable, declared: &[MountSpec]) -> Vec<Row<'a>> {
    let visible = table.visible();
    (0..table.entries.len())
        .filter(|&i| visible[i])
        .map(|i| {
            let e = &table.entries[i];
            Row {
                e,
                size: e
                    .super_option("size")
                    .and_then(crate::core::checks::parse_tmpfs_size),
                class: describe(e),
                declared: declared
                    .iter()
                    .find(|m| m.path == e.mount_point)
                    .map(|m| m.kind.as_str()),
            }
        })
        .collect()
}

/// `sealinit mounts`: the visible mounts with type, ro/rw, exec, size= and
/// classification, in kernel order.
pub fn render_mounts_table(table: &MountTable, declared: &[MountSpec]) -> String {
    let mut lines = vec![[
        "MOUNT".to_string(),
        "TYPE".into(),
        "MODE".into(),
        "EXEC".into(),
        "SIZE".into(),
        "DECLARED".into(),
        "CLASS".into(),
    ]];
    for r in rows(table, declared) {
        lines.push([
            table_path(&r.e.mount_point),
            table_text(&r.e.fs_type),
            if r.e.is_read_only() { "ro" } else { "rw" }.into(),
            if r.e.has_option("noexec") {
                "noexec"
            } else {
                "exec"
            }
            .into(),
            r.size.map_or("-".into(), quantity::format),
            r.declared.unwrap_or("-").into(),
            table_text(&r.class),
        ]);
    }
    let mut widths = [0usize; 7];
    for l in &lines {
        for (w, c) in widths.iter_mut().zip(l) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for l in &lines {
        let mut line = String::new();
        for (i, (c, w)) in l.iter().zip(widths).enumerate() {
            if i + 1 == l.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A mount point for one cell of the text table: a backslash, control
/// characters (tab, newline, ...) and bytes that are not UTF-8 are written
/// as the kernel writes them in mountinfo, `\ooo` octal, so every mount is
/// exactly one row and the text is unambiguous. Spaces stay readable.
pub fn table_path(p: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for chunk in p.as_os_str().as_bytes().utf8_chunks() {
        push_table_text(&mut out, chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(out, "\\{b:03o}");
        }
    }
    out
}

/// Any other cell of the text table, escaped as [`table_path`] does: the
/// filesystem type (a FUSE subtype is chosen by whoever mounts it) and the
/// class (it quotes a volume name) come from the mount table too.
pub fn table_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_table_text(&mut out, s);
    out
}

fn push_table_text(out: &mut String, s: &str) {
    for c in s.chars() {
        if c == '\\' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "\\{b:03o}");
            }
        } else {
            out.push(c);
        }
    }
}

/// `sealinit mounts --log-format json`: one JSON object per visible mount per line.
pub fn render_mounts_json(table: &MountTable, declared: &[MountSpec]) -> String {
    let mut out = String::new();
    let opt_str = |s: Option<String>| s.map_or("null".into(), |s| json_str(&s));
    for r in rows(table, declared) {
        let _ = writeln!(
            out,
            "{{\"mount_point\":{},\"fs_type\":{},\"source\":{},\"root\":{},\
             \"read_only\":{},\"noexec\":{},\"size_bytes\":{},\"size\":{},\"declared\":{},\"class\":{}}}",
            json_str(&r.e.mount_point.to_string_lossy()),
            json_str(&r.e.fs_type),
            json_str(&r.e.source),
            json_str(&r.e.root.to_string_lossy()),
            r.e.is_read_only(),
            r.e.has_option("noexec"),
            r.size.map_or("null".into(), |s| s.to_string()),
            opt_str(r.size.map(quantity::format)),
            opt_str(r.declared.map(str::to_string)),
            json_str(&r.class),
        );
    }
    out
}

/// `s` as a JSON string literal, quotes included.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    out
}

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;
