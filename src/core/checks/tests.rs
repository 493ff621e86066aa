//! Unit tests of `core::checks` (root, identity, inventory, summary) and the
//! hand-built fixtures the per-path tests in `checks/paths_tests.rs` share.

use super::*;
use crate::core::contract::spec::ViolationPolicy;
use crate::core::mounts::facts::{PathFacts, ProbeOutcome, StatFacts, VfsFacts, TMPFS_MAGIC};
use std::path::PathBuf;

pub(crate) const MIB: u64 = 1 << 20;
pub(crate) const ROOT_RO: &str =
    "1 0 0:50 / / ro,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u";
pub(crate) const ROOT_RW: &str =
    "1 0 0:50 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u";

/// A mountinfo line for `mp` with per-mount `opts`, type `fs`, super `sup`.
pub(crate) fn line(id: u32, mp: &str, opts: &str, fs: &str, sup: &str) -> String {
    format!("{id} 1 0:{id} / {mp} {opts} - {fs} {fs} {sup}")
}

pub(crate) fn table(root: &str, lines: &[String]) -> MountTable {
    let mut text = format!("{root}\n");
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    MountTable::parse(text.as_bytes()).expect("test mountinfo parses")
}

pub(crate) fn vfs(total: u64, avail: u64, memory: bool) -> VfsFacts {
    VfsFacts {
        read_only: false,
        noexec: false,
        frsize: 4096,
        blocks: total / 4096,
        bfree: avail / 4096,
        bavail: avail / 4096,
        files: 1000,
        ffree: 900,
        fs_magic: if memory { TMPFS_MAGIC } else { 0xEF53 },
    }
}

pub(crate) fn dir(path: &str, probe: Option<ProbeOutcome>, v: VfsFacts) -> PathFacts {
    let st = StatFacts {
        uid: 0,
        gid: 0,
        mode: 0o777,
        is_dir: true,
        is_symlink: false,
        dev: 1,
    };
    PathFacts {
        path: PathBuf::from(path),
        resolved: None,
        lstat: Ok(st),
        stat: Some(st),
        vfs: Ok(v),
        probe,
    }
}

pub(crate) fn missing(path: &str) -> PathFacts {
    PathFacts {
        path: PathBuf::from(path),
        resolved: None,
        lstat: Err(libc::ENOENT),
        stat: None,
        vfs: Err(libc::ENOENT),
        probe: None,
    }
}

pub(crate) fn user() -> Identity {
    Identity {
        uid: 65532,
        gid: 65532,
        groups: vec![65532],
    }
}

pub(crate) fn facts(t: MountTable, paths: Vec<PathFacts>) -> Facts {
    Facts {
        mountinfo: Ok(t),
        mountinfo_skipped: None,
        root: Ok(VfsFacts {
            read_only: true,
            ..vfs(100 * MIB, 0, false)
        }),
        identity: user(),
        paths,
    }
}

pub(crate) fn mount(path: &str, kind: MountKind, size_limit: Option<u64>) -> MountSpec {
    MountSpec {
        path: PathBuf::from(path),
        kind,
        size_limit,
        allow_exec: false,
    }
}

pub(crate) fn spec(mounts: Vec<MountSpec>) -> Spec {
    Spec {
        root: RootPolicy::ReadOnly,
        on_violation: ViolationPolicy::Fail,
        require_non_root: false,
        mounts,
    }
}

pub(crate) fn q(n: u64) -> String {
    quantity::format(n)
}

/// One expected finding: check name, verdict, and texts that must appear in
/// its expected/observed/why/fix.
pub(crate) type Want = (&'static str, Verdict, Vec<String>);

pub(crate) fn texts(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

/// Asserts the findings for `path` are exactly `want`, in order.
pub(crate) fn assert_path(case: &str, findings: &[Finding], path: &str, want: &[Want]) {
    let got: Vec<&Finding> = findings.iter().filter(|f| f.path == path).collect();
    let shape: Vec<(&str, Verdict)> = got.iter().map(|f| (f.check, f.verdict)).collect();
    let want_shape: Vec<(&str, Verdict)> = want.iter().map(|w| (w.0, w.1)).collect();
    assert_eq!(
        shape, want_shape,
        "case {case}: findings for {path}: {got:#?}"
    );
    for (f, (_, _, needles)) in got.iter().zip(want) {
        let all = format!(
            "{} | {} | {} | {}",
            f.expected,
            f.observed,
            f.why,
            f.fix.as_deref().unwrap_or("")
        );
        for n in needles {
            assert!(all.contains(n.as_str()), "case {case}: {n:?} not in {all}");
        }
    }
}

/// A mountinfo line for a tmpfs at `mp` with super options `sup`.
pub(crate) fn tmpfs_line(mp: &str, sup: &str) -> String {
    line(10, mp, "rw,nosuid,nodev,noexec", "tmpfs", sup)
}

#[test]
fn root_rules() {
    let ro_vfs = VfsFacts {
        read_only: true,
        ..vfs(MIB, 0, false)
    };
    let rw_vfs = vfs(MIB, MIB, false);
    type Case = (
        &'static str,
        &'static str,
        Result<VfsFacts, i32>,
        Verdict,
        Vec<String>,
    );
    let cases: Vec<Case> = vec![
        (
            "ro by both",
            ROOT_RO,
            Ok(ro_vfs),
            Verdict::Pass,
            texts(&["overlay read-only (mountinfo: ro, statvfs: ST_RDONLY)"]),
        ),
        (
            "rw mount on a read-only fs",
            ROOT_RW,
            Ok(ro_vfs),
            Verdict::Warn,
            texts(&["mountinfo: rw", "readOnlyRootFilesystem: true"]),
        ),
        (
            "rw by both",
            ROOT_RW,
            Ok(rw_vfs),
            Verdict::Fail,
            texts(&[
                "overlay writable",
                "tamper seal",
                "readOnlyRootFilesystem: true",
            ]),
        ),
        (
            "mountinfo ro but statvfs rw",
            ROOT_RO,
            Ok(rw_vfs),
            Verdict::Fail,
            texts(&["statvfs: rw"]),
        ),
        (
            "statvfs failed",
            ROOT_RO,
            Err(libc::EIO),
            Verdict::Warn,
            texts(&["EIO"]),
        ),
    ];
    for (name, root_line, root_vfs, verdict, needles) in cases {
        let mut f = facts(table(root_line, &[]), vec![]);
        f.root = root_vfs;
        let got = evaluate(&spec(vec![]), &f);
        assert_path(name, &got, "/", &[("root", verdict, needles)]);
    }
}

#[test]
fn root_any_skips_the_root_check() {
    let mut s = spec(vec![]);
    s.root = RootPolicy::Any;
    let got = evaluate(&s, &facts(table(ROOT_RW, &[]), vec![]));
    assert!(got.iter().all(|f| f.check != "root"), "{got:#?}");
}

#[test]
fn identity_rules() {
    let root = Identity {
        uid: 0,
        gid: 0,
        groups: vec![0],
    };
    let cases = [
        (
            "root allowed",
            false,
            root.clone(),
            Verdict::Pass,
            "uid=0 gid=0",
        ),
        (
            "root refused",
            true,
            root,
            Verdict::Fail,
            "runAsNonRoot: true",
        ),
        (
            "non-root required",
            true,
            user(),
            Verdict::Pass,
            "uid=65532 gid=65532 groups=65532",
        ),
    ];
    for (name, require, id, verdict, needle) in cases {
        let mut s = spec(vec![]);
        s.require_non_root = require;
        let mut f = facts(table(ROOT_RO, &[]), vec![]);
        f.identity = id;
        let got = evaluate(&s, &f);
        assert_path(
            name,
            &got,
            "-",
            &[
                ("identity", verdict, texts(&[needle])),
                ("inventory", Verdict::Pass, vec![]),
            ],
        );
    }
}

#[test]
fn inventory_rules() {
    let k8s = "30 1 8:1 /var/lib/kubelet/pods/0f1e/volumes/kubernetes.io~empty-dir/cache /cache rw,relatime - ext4 /dev/sda1 rw";
    let platform = [
        line(31, "/etc/hosts", "rw", "ext4", "rw"),
        line(32, "/dev", "rw,nosuid", "tmpfs", "rw,size=65536k"),
        line(33, "/dev/shm", "rw", "tmpfs", "rw,size=65536k"),
        line(34, "/proc", "rw", "proc", "rw"),
        line(35, "/dev/termination-log", "rw", "ext4", "rw"),
    ];
    type Case = (
        &'static str,
        Vec<String>,
        Vec<(&'static str, Verdict, Vec<String>)>,
    );
    let cases: Vec<Case> = vec![
        (
            "undeclared kubernetes volume",
            vec![k8s.to_string()],
            vec![(
                "/cache",
                Verdict::Warn,
                texts(&["kubernetes empty-dir volume \"cache\"", "--emptydir /cache"]),
            )],
        ),
        (
            "undeclared runtime tmpfs",
            vec![tmpfs_line("/scratch", "rw,size=1024k")],
            vec![(
                "/scratch",
                Verdict::Warn,
                texts(&["runtime --tmpfs", "--tmpfs /scratch"]),
            )],
        ),
        (
            "platform mounts are not drift",
            platform.to_vec(),
            vec![("-", Verdict::Pass, vec![])],
        ),
        (
            "read-only undeclared mount is fine",
            vec![line(36, "/opt", "ro", "ext4", "rw")],
            vec![("-", Verdict::Pass, vec![])],
        ),
        (
            "a writable mount covered by a later read-only one is hidden",
            vec![
                line(37, "/opt", "rw", "ext4", "rw"),
                line(38, "/opt", "ro", "ext4", "rw"),
            ],
            vec![("-", Verdict::Pass, vec![])],
        ),
    ];
    for (name, lines, want) in cases {
        let got = evaluate(&spec(vec![]), &facts(table(ROOT_RO, &lines), vec![]));
        let inv: Vec<&Finding> = got.iter().filter(|f| f.check == "inventory").collect();
        assert_eq!(inv.len(), want.len(), "case {name}: {inv:#?}");
        for (f, (path, verdict, needles)) in inv.iter().zip(&want) {
            assert_eq!(
                (f.path.as_str(), f.verdict),
                (*path, *verdict),
                "case {name}"
            );
            let all = format!("{} {}", f.observed, f.fix.as_deref().unwrap_or(""));
            for n in needles {
                assert!(all.contains(n.as_str()), "case {name}: {n:?} not in {all}");
            }
        }
    }
}

#[test]
fn declared_path_behind_a_symlink_is_matched_by_its_target() {
    let mut pf = dir(
        "/var/run/app",
        Some(ProbeOutcome::Writable),
        vfs(MIB, MIB, true),
    );
    pf.resolved = Some(PathBuf::from("/run/app"));
    let m = mount("/var/run/app", MountKind::Tmpfs, Some(MIB));
    let t = table(ROOT_RO, &[tmpfs_line("/run/app", "rw,size=1024k")]);
    let got = evaluate(&spec(vec![m]), &facts(t, vec![pf]));
    assert_path(
        "symlink",
        &got,
        "/var/run/app",
        &[("mount", Verdict::Pass, vec![])],
    );
    assert!(got.iter().all(|f| f.verdict == Verdict::Pass), "{got:#?}");
    // Regression (hardening): the report did not say the path was judged
    // at the symlink's target.
    let own: Vec<&Finding> = got.iter().filter(|f| f.path == "/var/run/app").collect();
    assert!(!own.is_empty());
    for f in own {
        assert!(
            f.observed
                .starts_with("via symlink to /run/app: own tmpfs mount"),
            "{f:#?}"
        );
    }
    // A failure through the symlink says it too.
    let mut pf = dir(
        "/var/run/app",
        Some(ProbeOutcome::Writable),
        vfs(MIB, MIB, true),
    );
    pf.resolved = Some(PathBuf::from("/run/app"));
    let m = mount("/var/run/app", MountKind::Tmpfs, Some(MIB));
    let t = table(ROOT_RO, &[]);
    let got = evaluate(&spec(vec![m]), &facts(t, vec![pf]));
    let f = got
        .iter()
        .find(|f| f.path == "/var/run/app" && f.verdict == Verdict::Fail)
        .expect("a failure");
    assert!(
        f.observed.starts_with("via symlink to /run/app: "),
        "{f:#?}"
    );
}

#[test]
fn unreadable_mountinfo_is_one_failure_and_no_panic() {
    let mut f = facts(
        MountTable::default(),
        vec![dir(
            "/tmp",
            Some(ProbeOutcome::Writable),
            vfs(MIB, MIB, true),
        )],
    );
    f.mountinfo = Err("read /proc/self/mountinfo: No such file or directory (os error 2)".into());
    let got = evaluate(&spec(vec![mount("/tmp", MountKind::Tmpfs, None)]), &f);
    assert_eq!(got[0].path, "/proc/self/mountinfo");
    assert_eq!(got[0].verdict, Verdict::Fail);
    assert_path(
        "no table",
        &got,
        "/tmp",
        &[("mount", Verdict::Pass, texts(&["writable by uid 65532"]))],
    );
}

#[test]
fn skipped_mountinfo_lines_are_one_warning_and_the_rest_is_checked() {
    let t = table(ROOT_RO, &[tmpfs_line("/tmp", "rw,size=1024k")]);
    let mut f = facts(
        t,
        vec![dir(
            "/tmp",
            Some(ProbeOutcome::Writable),
            vfs(MIB, MIB, true),
        )],
    );
    let bad = |line| crate::core::mounts::mountinfo::ParseError {
        line,
        reason: "expected at least 10 fields".into(),
    };
    f.mountinfo_skipped = crate::core::mounts::facts::SkippedLines::of(&[bad(7), bad(9)]);
    let got = evaluate(&spec(vec![mount("/tmp", MountKind::Tmpfs, None)]), &f);
    assert_path(
        "skipped",
        &got,
        "/proc/self/mountinfo",
        &[(
            "mount",
            Verdict::Warn,
            texts(&[
                "2 malformed lines skipped, the first at line 7",
                "sed -n 7p",
            ]),
        )],
    );
    assert_path(
        "rest checked",
        &got,
        "/tmp",
        &[("mount", Verdict::Pass, vec![])],
    );
}

#[test]
fn summary_counts_and_worst_verdict() {
    let f = |verdict| Finding {
        check: "mount",
        path: "/x".into(),
        kind: "tmpfs".into(),
        expected: String::new(),
        observed: String::new(),
        verdict,
        why: String::new(),
        fix: None,
    };
    let s = Summary::of(&[f(Verdict::Pass), f(Verdict::Warn), f(Verdict::Pass)]);
    assert_eq!((s.pass, s.warn, s.fail), (2, 1, 0));
    assert_eq!(s.verdict(), Verdict::Warn);
    assert_eq!(Summary::of(&[f(Verdict::Fail)]).verdict(), Verdict::Fail);
    assert_eq!(Summary::of(&[]).verdict(), Verdict::Pass);
}

#[test]
fn without_a_contract_undeclared_mounts_are_passes() {
    // A plain init (`--root any`, nothing declared): an undeclared volume is
    // listed, not warned about, so a clean run stays silent.
    let plain = Spec {
        root: RootPolicy::Any,
        ..spec(vec![])
    };
    assert!(is_plain_init(&plain));
    let lines = [tmpfs_line("/scratch", "rw,size=1024k")];
    let got = evaluate(&plain, &facts(table(ROOT_RW, &lines), vec![]));
    assert_eq!(Summary::of(&got).verdict(), Verdict::Pass, "{got:#?}");
    let inv: Vec<&Finding> = got.iter().filter(|f| f.check == "inventory").collect();
    assert_eq!(inv.len(), 1, "{inv:#?}");
    assert_eq!(inv[0].path, "/scratch");
    assert!(inv[0].fix.is_none());
    // Any declaration makes it a contract again.
    for contract in [
        Spec {
            root: RootPolicy::Any,
            ..spec(vec![mount("/tmp", MountKind::Tmpfs, None)])
        },
        spec(vec![]),
        Spec {
            root: RootPolicy::Any,
            require_non_root: true,
            ..spec(vec![])
        },
    ] {
        assert!(!is_plain_init(&contract), "{contract:?}");
    }
}
