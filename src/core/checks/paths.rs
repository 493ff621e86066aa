//! Rules for each declared path: exists, is its own mount, has the right
//! filesystem type, is writable by the effective user (the probe's errno
//! decides which finding), its size and free space, `noexec`; and for
//! read-only kinds, mounted read-only (secrets on tmpfs).

use std::path::Path;

use super::{fail, fs_name, is_memory_fs, kind_expectation, limit_text, ro_word, Finding, Verdict};
use crate::core::contract::quantity;
use crate::core::contract::spec::{MountKind, MountSpec};
use crate::core::mounts::classify::{classify, Origin};
use crate::core::mounts::facts::{describe_errno, Identity, PathFacts, ProbeOutcome, VfsFacts};
use crate::core::mounts::mountinfo::{MountEntry, MountTable};
use crate::core::render::report::{self, human_bytes};

/// Existence and "is a directory" (for writable kinds); `Some` is the
/// failure that ends the path's checks.
fn check_exists(m: &MountSpec, pf: &PathFacts) -> Option<Finding> {
    let exists = pf.lstat.is_ok();
    if exists && (!m.kind.is_writable() || pf.stat.is_some_and(|s| s.is_dir)) {
        return None;
    }
    let mut f = fail(m, "mount", &kind_expectation(m), "");
    match pf.lstat {
        Ok(_) => {}
        Err(libc::ENOENT) => {
            f.observed = format!("{} does not exist", m.path.display());
            f.why = "the workload cannot use a path that is not there, and under a \
                     read-only root it cannot be created at run time (\"Read-only file system\")"
                .into();
            f.fix = Some(report::missing_volume_fix(m));
            return Some(f);
        }
        Err(e) => {
            f.observed = format!("cannot stat {}: {}", m.path.display(), describe_errno(e));
            f.why = "the path cannot be inspected, so the contract cannot be shown to hold".into();
            return Some(f);
        }
    }
    if m.kind.is_writable() && !pf.stat.is_some_and(|s| s.is_dir) {
        f.observed = match pf.stat {
            Some(_) => "not a directory".into(),
            None => "a dangling symlink".into(),
        };
        f.why = "a writable volume is mounted as a directory".into();
        f.fix = Some(report::missing_volume_fix(m));
        return Some(f);
    }
    None
}

pub(super) fn check_writable(
    m: &MountSpec,
    pf: &PathFacts,
    table: Option<&MountTable>,
    id: &Identity,
) -> Vec<Finding> {
    if let Some(f) = check_exists(m, pf) {
        return vec![f];
    }
    let vfs = pf.vfs.as_ref().ok();
    let lookup = pf.lookup_path();
    let mut subs: Vec<Finding> = Vec::new();
    let mut good: Vec<String> = Vec::new();
    let entry = table.and_then(|t| t.at(lookup));
    if let (Some(t), None) = (table, entry) {
        let f = not_a_mount(m, pf, t);
        if f.verdict == Verdict::Fail {
            return vec![f];
        }
        subs.push(f);
    }
    let mut wrong_type = false;
    if let Some(e) = entry {
        let fs = &e.fs_type;
        match type_finding(m, fs) {
            Some(f) => {
                wrong_type = f.verdict == Verdict::Fail;
                subs.push(f);
            }
            None => good.push(format!("own {fs} mount")),
        }
    }
    match probe_finding(m, pf, entry, id) {
        Some(f) => subs.push(f),
        None if pf.probe.is_some() => good.push(format!("writable by uid {}", id.uid)),
        None => {}
    }
    // Size and exec of the wrong kind of filesystem would only be noise.
    if let (Some(e), Some(v), false) = (entry, vfs, wrong_type) {
        let (findings, note) = size_findings(m, e, v);
        subs.extend(findings);
        good.extend(note);
        if !(m.allow_exec || e.has_option("noexec") || v.noexec) {
            // A Kubernetes volume cannot be mounted noexec: advice nothing
            // can act on is a note on the pass line, not a warning.
            if matches!(classify(e), Origin::Kubernetes { .. }) {
                good.push(
                    "exec allowed (Kubernetes volumes cannot be noexec; \
                     allow_exec = true says the contract accepts it)"
                        .into(),
                );
            } else {
                subs.push(noexec_finding(m));
            }
        }
    }
    finish(m, subs, good)
}

/// Adds the collapsed pass line unless something failed.
fn finish(m: &MountSpec, subs: Vec<Finding>, good: Vec<String>) -> Vec<Finding> {
    if subs.iter().any(|f| f.verdict == Verdict::Fail) {
        return subs;
    }
    let mut out = vec![Finding {
        check: "mount",
        path: m.path.display().to_string(),
        kind: m.kind.as_str().into(),
        expected: kind_expectation(m),
        observed: good.join(", "),
        verdict: Verdict::Pass,
        why: String::new(),
        fix: None,
    }];
    out.extend(subs);
    out
}

/// The declared writable path is not a mount of its own.
fn not_a_mount(m: &MountSpec, pf: &PathFacts, t: &MountTable) -> Finding {
    let lookup = pf.lookup_path();
    let parent = t.containing(lookup);
    let parent_mp = parent.map_or("/".to_string(), |p| p.mount_point.display().to_string());
    let parent_fs = fs_name(parent, pf.vfs.as_ref().ok());
    let parent_ro =
        parent.is_some_and(MountEntry::is_read_only) || pf.vfs.as_ref().is_ok_and(|v| v.read_only);
    let mut f = fail(m, "mount", &kind_expectation(m), "");
    f.fix = Some(report::missing_volume_fix(m));
    let what = if parent_mp == "/" {
        format!(
            "a directory of the root filesystem ({parent_fs}, {})",
            ro_word(parent_ro)
        )
    } else {
        format!(
            "a directory inside the mount {parent_mp} ({parent_fs}, {})",
            ro_word(parent_ro)
        )
    };
    let writes = match pf.probe {
        Some(ProbeOutcome::Writable) => "writes succeed".to_string(),
        Some(p) => format!("writes fail: {}", probe_errno_text(p)),
        None => "not probed".into(),
    };
    f.observed = format!("not a mount: {what}; {writes}");
    if parent_ro || matches!(pf.probe, Some(ProbeOutcome::ReadOnlyFs)) {
        f.why = format!(
            "every write to {} fails with \"Read-only file system\": the path needs a \
             volume of its own, and the mountPath must match it exactly",
            m.path.display()
        );
    } else if parent_mp == "/" {
        f.why = "writes land in the container's writable layer: outside every sizeLimit, \
                 counted as container ephemeral-storage, and lost on restart"
            .into();
    } else {
        f.verdict = Verdict::Warn;
        f.why = format!(
            "it shares {parent_mp}'s space and limit instead of having its own {}",
            limit_text(m.size_limit)
        );
    }
    f
}

/// Filesystem type against the kind; `None` when it matches.
fn type_finding(m: &MountSpec, fs: &str) -> Option<Finding> {
    let mem = is_memory_fs(fs);
    let (verdict, why, fix) = match (m.kind, mem) {
        (MountKind::Tmpfs, false) => {
            let why = if is_shared_memory_path(&m.path) {
                "POSIX shared memory (shm_open, PostgreSQL parallel query) must live in RAM: \
                 on disk it is slow and leaves its contents on the node"
            } else {
                "data declared memory-only is written to the node's disk, where it outlives \
                 the pod and can be recovered"
            };
            (
                Verdict::Fail,
                why.to_string(),
                report::missing_volume_fix(m),
            )
        }
        (MountKind::EmptyDir, true) => (
            Verdict::Warn,
            "a tmpfs counts every byte against the container's memory limit: filling it \
             gets the container OOM-killed instead of evicted"
                .to_string(),
            format!(
                "if memory is intended, declare it as tmpfs (--tmpfs {}); otherwise drop \
                 `medium: Memory`:\n{}",
                m.path.display(),
                report::volume_yaml(
                    &MountSpec {
                        kind: MountKind::EmptyDir,
                        ..m.clone()
                    },
                    m.size_limit
                )
            ),
        ),
        (MountKind::Pvc, true) => (
            Verdict::Fail,
            "data declared persistent is in memory and is lost when the pod stops".to_string(),
            report::missing_volume_fix(m),
        ),
        _ => return None,
    };
    let expected = match m.kind {
        MountKind::Tmpfs => "tmpfs (memory-backed)",
        _ => "a disk-backed filesystem",
    };
    let observed = if mem {
        format!("{fs} (memory-backed)")
    } else {
        format!("{fs} (disk-backed)")
    };
    Some(Finding {
        check: "type",
        path: m.path.display().to_string(),
        kind: m.kind.as_str().into(),
        expected: expected.into(),
        observed,
        verdict,
        why,
        fix: Some(fix),
    })
}

fn is_shared_memory_path(p: &Path) -> bool {
    p == Path::new("/dev/shm") || p.file_name().is_some_and(|n| n == "shm")
}

fn probe_errno_text(p: ProbeOutcome) -> String {
    let errno = match p {
        ProbeOutcome::Writable => return "writable".into(),
        ProbeOutcome::ReadOnlyFs => libc::EROFS,
        ProbeOutcome::Denied => libc::EACCES,
        ProbeOutcome::NotPermitted => libc::EPERM,
        ProbeOutcome::NoSpace => libc::ENOSPC,
        ProbeOutcome::Missing => libc::ENOENT,
        ProbeOutcome::Other(e) => e,
    };
    describe_errno(errno)
}

/// The write probe's verdict; `None` when writable (or not probed).
fn probe_finding(
    m: &MountSpec,
    pf: &PathFacts,
    entry: Option<&MountEntry>,
    id: &Identity,
) -> Option<Finding> {
    let vfs = pf.vfs.as_ref().ok();
    let mut probe = pf.probe?;
    if probe == ProbeOutcome::Writable && vfs.is_some_and(VfsFacts::is_full) {
        probe = ProbeOutcome::NoSpace;
    }
    let mut f = fail(m, "writable", &format!("writable by {}", id.describe()), "");
    let path = m.path.display();
    match probe {
        ProbeOutcome::Writable => return None,
        ProbeOutcome::ReadOnlyFs => {
            let opts = entry.map_or(String::new(), |e| {
                format!(" ({})", e.mount_options.join(","))
            });
            f.observed = format!("mounted read-only{opts}: EROFS");
            f.why = format!("every write to {path} fails with \"Read-only file system\"");
            f.fix = Some(report::remove_read_only_fix(m));
        }
        ProbeOutcome::Denied => {
            let st = pf.stat.unwrap_or_default();
            f.observed = format!(
                "owner {}:{} mode {:04o}, process {}: {}; EACCES",
                st.uid,
                st.gid,
                st.mode & 0o7777,
                id.describe(),
                permission_gap(st.uid, st.gid, st.mode, id)
            );
            f.why = format!(
                "the workload's writes to {path} fail with \"Permission denied\": the \
                 volume's owner or group does not match the user it runs as"
            );
            f.fix = Some(report::permission_fix(m, st.gid, st.mode, id));
        }
        ProbeOutcome::NotPermitted => {
            f.observed =
                "EPERM (Operation not permitted), although the mode bits are not the cause".into();
            f.why = "a security module (SELinux label, AppArmor, seccomp) or a file attribute \
                     (immutable, append-only) refuses the write"
                .into();
            f.fix = Some(format!(
                "check the volume's SELinux label (securityContext.seLinuxOptions, or `:Z` \
                 with podman), the AppArmor/seccomp profile, and `lsattr -d {path}`"
            ));
        }
        ProbeOutcome::NoSpace => {
            f.check = "size";
            f.observed = match vfs {
                Some(v) if v.files > 0 && v.ffree == 0 => {
                    format!("no free inodes ({} in use): ENOSPC", v.files)
                }
                Some(v) => format!(
                    "full: {} free of {}: ENOSPC",
                    human_bytes(v.avail_bytes()),
                    human_bytes(v.total_bytes())
                ),
                None => "ENOSPC (No space left on device)".into(),
            };
            f.why = format!(
                "writes to {path} fail with \"No space left on device\"; on an emptyDir the \
                 kubelet also evicts the pod once usage passes sizeLimit"
            );
            f.fix = Some(report::no_space_fix(m));
        }
        ProbeOutcome::Missing | ProbeOutcome::Other(_) => {
            f.observed = format!("write probe failed: {}", probe_errno_text(probe));
            f.why = format!("the workload's writes to {path} are likely to fail the same way");
        }
    }
    Some(f)
}

/// Which permission class applies and what it lacks, for EACCES messages.
fn permission_gap(owner: u32, group: u32, mode: u32, id: &Identity) -> String {
    if id.uid == owner {
        format!(
            "the process is the owner and the owner bits are {}",
            rwx(mode >> 6)
        )
    } else if id.in_group(group) {
        format!(
            "the process is in group {group} and the group bits are {}",
            rwx(mode >> 3)
        )
    } else {
        format!(
            "the process is neither owner nor in group {group}, and the other bits are {}",
            rwx(mode)
        )
    }
}

fn rwx(bits: u32) -> String {
    let b = |mask: u32, c: char| if bits & mask != 0 { c } else { '-' };
    [b(4, 'r'), b(2, 'w'), b(1, 'x')].iter().collect()
}

/// A tmpfs `size=` value (`65536k`, `64m`, `1g`, bytes); `None` for `%`.
pub fn parse_tmpfs_size(s: &str) -> Option<u64> {
    let (digits, mul) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1u64 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        b't' | b'T' => (&s[..s.len() - 1], 1 << 40),
        b'0'..=b'9' => (s, 1),
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(mul)
}

fn round_page(n: u64) -> u64 {
    n.div_ceil(4096).saturating_mul(4096)
}

/// Size sub-checks: tmpfs `size=` vs sizeLimit, filesystem vs sizeLimit, free
/// space now. Returns the findings and a note for the pass line.
fn size_findings(m: &MountSpec, e: &MountEntry, v: &VfsFacts) -> (Vec<Finding>, Option<String>) {
    let mut out = Vec::new();
    let warn = |expected: String, observed: String, why: String, fix: String| Finding {
        check: "size",
        path: m.path.display().to_string(),
        kind: m.kind.as_str().into(),
        expected,
        observed,
        verdict: Verdict::Warn,
        why,
        fix: Some(fix),
    };
    let declared = m.size_limit;
    let mut capacity = v.total_bytes();
    let note;
    if is_memory_fs(&e.fs_type) {
        let size = e.super_option("size").and_then(parse_tmpfs_size);
        note = size.map(|s| format!("size={}", quantity::format(s)));
        match (size, declared) {
            (None, _) if e.super_option("size").is_none() => out.push(warn(
                format!("size= {}", limit_text(declared)),
                format!(
                    "no size= option: the tmpfs may grow to {} (half of the node's RAM)",
                    human_bytes(capacity)
                ),
                "every byte counts against the container's memory limit, so a runaway \
                 writer gets the container OOM-killed instead of a clear ENOSPC"
                    .into(),
                format!(
                    "give the volume a sizeLimit (kubelet then mounts it with size=):\n{}",
                    report::volume_yaml(
                        &MountSpec {
                            kind: MountKind::Tmpfs,
                            ..m.clone()
                        },
                        declared
                    )
                ),
            )),
            (Some(s), Some(l)) if round_page(s) != round_page(l) => {
                capacity = s;
                let why = if s > l {
                    format!(
                        "the kubelet evicts the pod at the sizeLimit {} before the tmpfs \
                         is full at {}",
                        quantity::format(l),
                        quantity::format(s)
                    )
                } else {
                    format!(
                        "writes fail with ENOSPC at {}, before the declared sizeLimit {}",
                        quantity::format(s),
                        quantity::format(l)
                    )
                };
                out.push(warn(
                    format!("size={} (the sizeLimit)", quantity::format(l)),
                    format!("size={}", quantity::format(s)),
                    why,
                    format!(
                        "make the volume and the spec agree: sizeLimit {} in both, or \
                         size_limit = \"{}\" in the spec",
                        quantity::format(l),
                        quantity::format(s)
                    ),
                ));
            }
            _ => {}
        }
    } else {
        note = None;
        if let Some(l) = declared {
            if capacity > 0 && capacity < l {
                out.push(warn(
                    format!("a filesystem of at least {}", quantity::format(l)),
                    format!("{} holds only {}", e.fs_type, human_bytes(capacity)),
                    format!(
                        "writes fail with ENOSPC before the declared sizeLimit {} is reached",
                        quantity::format(l)
                    ),
                    report::no_space_fix(m),
                ));
            }
        }
    }
    let budget = declared.map_or(capacity, |l| l.min(capacity.max(1)));
    let avail = v.avail_bytes();
    if !v.is_full() && budget > 0 && avail < budget / 10 {
        out.push(warn(
            "at least 10% free".into(),
            format!("{} free of {}", human_bytes(avail), human_bytes(budget)),
            format!(
                "writes to {} will soon fail with \"No space left on device\"",
                m.path.display()
            ),
            report::no_space_fix(m),
        ));
    }
    (out, note)
}

fn noexec_finding(m: &MountSpec) -> Finding {
    Finding {
        check: "noexec",
        path: m.path.display().to_string(),
        kind: m.kind.as_str().into(),
        expected: "noexec (hardening)".into(),
        observed: "exec allowed".into(),
        verdict: Verdict::Warn,
        why: "code written here can be executed, so an attacker can drop and run a \
              binary despite the read-only root"
            .into(),
        fix: Some(report::noexec_fix(m)),
    }
}

pub(super) fn check_readonly(
    m: &MountSpec,
    pf: &PathFacts,
    table: Option<&MountTable>,
) -> Vec<Finding> {
    if let Some(mut f) = check_exists(m, pf) {
        f.check = "readonly";
        return vec![f];
    }
    let Some(t) = table else {
        return Vec::new();
    };
    let vfs = pf.vfs.as_ref().ok();
    let lookup = pf.lookup_path();
    let mut f = fail(m, "readonly", &kind_expectation(m), "");
    f.fix = Some(report::missing_volume_fix(m));
    let Some(e) = t.at(lookup) else {
        let parent = t.containing(lookup);
        let ro = parent.is_some_and(MountEntry::is_read_only) || vfs.is_some_and(|v| v.read_only);
        f.observed = format!(
            "not a mount: part of {} ({}, {})",
            parent.map_or("/".into(), |p| p.mount_point.display().to_string()),
            fs_name(parent, vfs),
            ro_word(ro)
        );
        f.why = if m.kind == MountKind::Secret {
            "the secret comes from the image or a writable layer: anyone with the image \
             has it, and it never rotates"
                .into()
        } else {
            "its contents come from the image (or a writable layer), not from the \
             ConfigMap or volume the contract names"
                .into()
        };
        return vec![f];
    };
    let ro = e.is_read_only() || vfs.is_some_and(|v| v.read_only);
    if !ro {
        f.observed = format!("{} mounted rw ({})", e.fs_type, e.mount_options.join(","));
        f.why = "the workload, or an attacker in it, can change files that must not change \
                 during the container's life"
            .into();
        f.fix = Some(report::add_read_only_fix(m));
        return vec![f];
    }
    if m.kind == MountKind::Secret && !is_memory_fs(&e.fs_type) {
        f.check = "type";
        f.observed = format!("secret on disk: {} (disk-backed)", e.fs_type);
        f.why = "secret material on disk outlives the pod and can be recovered from the \
                 node; Kubernetes secret volumes are tmpfs"
            .into();
        return vec![f];
    }
    f.verdict = Verdict::Pass;
    f.observed = format!("own {} mount, read-only", e.fs_type);
    f.check = "readonly";
    f.fix = None;
    vec![f]
}

#[cfg(test)]
#[path = "paths_tests.rs"]
mod tests;
