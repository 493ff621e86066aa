//! Root integration tests of the start-up checks against real mounts, each in
//! a private mount namespace so nothing leaks to the host.
//!
//! Each scenario is a pair: the outer `#[test]` runs this test binary again
//! under `unshare -m --propagation private`, filtered to the inner test, with
//! `SEALINIT_NS_SCRATCH` pointing at a scratch directory; the inner test
//! (`inner_*`, `#[ignore]`d, failing without that variable) builds the mounts, gathers the
//! facts with `edge::probe::gather`, evaluates them with
//! `core::checks::evaluate`, and asserts verdicts and finding fields (the
//! fields of the `check` events). Fails, saying so, when not root.

mod common;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use sealinit::core::checks::{evaluate, Finding, Verdict};
use sealinit::core::contract::spec::{MountKind, MountSpec, RootPolicy, Spec};
use sealinit::edge::probe::gather;

const SCRATCH_ENV: &str = "SEALINIT_NS_SCRATCH";
/// Why an inner half fails when run without its outer test.
const INNER_ONLY: &str =
    "an inner half: run it through its outer test, which sets the scratch directory";
const MIB: u64 = 1 << 20;

/// Runs `inner` in a private mount namespace and fails with its output when
/// it fails (or did not run).
fn in_namespace(inner: &str) {
    assert!(
        nix::unistd::geteuid().is_root(),
        "{inner} needs root for mount namespaces (run the tests as root)"
    );
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ns-{inner}-{}", std::process::id()));
    fs::create_dir_all(scratch.join("disk")).expect("create scratch");
    fs::create_dir_all(scratch.join("t")).expect("create scratch");
    common::rerun_in_mount_ns(inner, &scratch, SCRATCH_ENV, &[], &[]);
}

/// Inside the namespace: a tmpfs at `<scratch>/t` to build in, and the disk
/// directory `<scratch>/disk`. Panics outside (an inner half means nothing alone).
fn inner_setup() -> Option<(PathBuf, PathBuf)> {
    let scratch = PathBuf::from(std::env::var_os(SCRATCH_ENV).expect(INNER_ONLY));
    let base = scratch.join("t");
    common::mount_hardened_tmpfs(&base, "size=16m,mode=0755");
    Some((base, scratch.join("disk")))
}

fn bind_read_only(src: &Path, at: &Path) {
    fs::create_dir_all(at).expect("mkdir mount point");
    mount(Some(src), at, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .unwrap_or_else(|e| panic!("bind {} on {}: {e}", src.display(), at.display()));
    remount_read_only(at);
}

fn remount_read_only(at: &Path) {
    // Per-mount flags are replaced as a whole: keep the hardening ones.
    let flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | MsFlags::MS_NOEXEC;
    mount(None::<&str>, at, None::<&str>, flags, None::<&str>)
        .unwrap_or_else(|e| panic!("remount {} read-only: {e}", at.display()));
}

fn spec(root: RootPolicy, mounts: &[(&Path, MountKind, Option<u64>)]) -> Spec {
    Spec {
        root,
        mounts: mounts
            .iter()
            .map(|(p, kind, size_limit)| MountSpec {
                path: p.to_path_buf(),
                kind: *kind,
                size_limit: *size_limit,
                allow_exec: false,
            })
            .collect(),
        ..Spec::default()
    }
}

fn check(s: &Spec) -> Vec<Finding> {
    let facts = gather(s, Some(Path::new("/proc/self/mountinfo")));
    let findings = evaluate(s, &facts);
    for f in &findings {
        println!("{}", sealinit::core::render::report::finding_line(f));
    }
    findings
}

/// Asserts the findings for `path` are exactly `want` (check, verdict, texts
/// in expected/observed/why/fix), in order.
fn expect(findings: &[Finding], path: &Path, want: &[(&str, Verdict, &[&str])]) {
    let path = path.display().to_string();
    let got: Vec<&Finding> = findings.iter().filter(|f| f.path == path).collect();
    let shape: Vec<(&str, Verdict)> = got.iter().map(|f| (f.check, f.verdict)).collect();
    let want_shape: Vec<(&str, Verdict)> = want.iter().map(|w| (w.0, w.1)).collect();
    assert_eq!(shape, want_shape, "findings for {path}: {got:#?}");
    for (f, (_, _, needles)) in got.iter().zip(want) {
        let all = format!(
            "{} | {} | {} | {}",
            f.expected,
            f.observed,
            f.why,
            f.fix.as_deref().unwrap_or("")
        );
        for n in *needles {
            assert!(all.contains(n), "{n:?} not in {all}");
        }
    }
}

#[test]
fn tmpfs_with_size() {
    in_namespace("inner_tmpfs_with_size");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_tmpfs_with_size() {
    let Some((base, _)) = inner_setup() else {
        return;
    };
    let p = base.join("cache");
    common::mount_hardened_tmpfs(&p, "size=1m,mode=1777");
    let f = check(&spec(RootPolicy::Any, &[(&p, MountKind::Tmpfs, Some(MIB))]));
    expect(
        &f,
        &p,
        &[(
            "mount",
            Verdict::Pass,
            &["own tmpfs mount", "writable by uid 0", "size="],
        )],
    );
    assert_eq!(
        fs::read_dir(&p).expect("read_dir").count(),
        0,
        "probe left a trace"
    );
}

#[test]
fn tmpfs_without_size() {
    in_namespace("inner_tmpfs_without_size");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_tmpfs_without_size() {
    let Some((base, _)) = inner_setup() else {
        return;
    };
    let p = base.join("unbounded");
    common::mount_hardened_tmpfs(&p, "mode=1777");
    let f = check(&spec(RootPolicy::Any, &[(&p, MountKind::Tmpfs, Some(MIB))]));
    expect(
        &f,
        &p,
        &[
            ("mount", Verdict::Pass, &["own tmpfs mount"]),
            (
                "size",
                Verdict::Warn,
                &[
                    "no size= option",
                    "half of the node's RAM",
                    "medium: Memory",
                ],
            ),
        ],
    );
}

#[test]
fn read_only_bind() {
    in_namespace("inner_read_only_bind");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_read_only_bind() {
    let Some((base, _)) = inner_setup() else {
        return;
    };
    let src = base.join("src");
    fs::create_dir_all(&src).expect("mkdir");
    let rw_declared = base.join("data");
    let ro_declared = base.join("config");
    bind_read_only(&src, &rw_declared);
    bind_read_only(&src, &ro_declared);
    let f = check(&spec(
        RootPolicy::Any,
        &[
            (&rw_declared, MountKind::Tmpfs, None),
            (&ro_declared, MountKind::ReadOnly, None),
        ],
    ));
    expect(
        &f,
        &rw_declared,
        &[(
            "writable",
            Verdict::Fail,
            &[
                "mounted read-only (ro,nosuid,nodev,noexec",
                "EROFS",
                "\"Read-only file system\"",
                "remove `readOnly: true`",
            ],
        )],
    );
    expect(
        &f,
        &ro_declared,
        &[("readonly", Verdict::Pass, &["own tmpfs mount, read-only"])],
    );
}

#[test]
fn directory_that_is_not_a_mount() {
    in_namespace("inner_directory_that_is_not_a_mount");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_directory_that_is_not_a_mount() {
    let Some((base, _)) = inner_setup() else {
        return;
    };
    let p = base.join("var/cache/nginx");
    fs::create_dir_all(&p).expect("mkdir");
    remount_read_only(&base);
    let f = check(&spec(
        RootPolicy::Any,
        &[(&p, MountKind::EmptyDir, Some(5 << 30))],
    ));
    let parent = format!(
        "a directory inside the mount {} (tmpfs, read-only)",
        base.display()
    );
    expect(
        &f,
        &p,
        &[(
            "mount",
            Verdict::Fail,
            &[
                &parent,
                "writes fail: EROFS",
                "\"Read-only file system\"",
                "- name: ",
                &format!("mountPath: \"{}\"", p.display()),
                "emptyDir:",
            ],
        )],
    );
}

#[test]
fn mount_owned_by_another_uid() {
    in_namespace("inner_mount_owned_by_another_uid");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_mount_owned_by_another_uid() {
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    let Some((base, _)) = inner_setup() else {
        return;
    };
    let p = base.join("owned");
    common::mount_hardened_tmpfs(&p, "size=1m,mode=0755,uid=1000,gid=1000");
    let s = spec(RootPolicy::Any, &[(&p, MountKind::Tmpfs, Some(MIB))]);
    let nobody = 65534;
    setgroups(&[]).expect("setgroups");
    setresgid(
        Gid::from_raw(nobody),
        Gid::from_raw(nobody),
        Gid::from_raw(nobody),
    )
    .expect("setresgid");
    setresuid(
        Uid::from_raw(nobody),
        Uid::from_raw(nobody),
        Uid::from_raw(nobody),
    )
    .expect("setresuid");
    let f = check(&s);
    expect(
        &f,
        &p,
        &[(
            "writable",
            Verdict::Fail,
            &[
                "owner 1000:1000 mode 0755",
                "process uid=65534 gid=65534",
                "other bits are r-x",
                "EACCES",
                "\"Permission denied\"",
                "runAsUser: 65534",
                "fsGroup: 65534",
            ],
        )],
    );
    let id = f.iter().find(|f| f.check == "identity").expect("identity");
    assert_eq!(id.observed, "uid=65534 gid=65534 groups=");
}

#[test]
fn full_tmpfs() {
    in_namespace("inner_full_tmpfs");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_full_tmpfs() {
    let Some((base, _)) = inner_setup() else {
        return;
    };
    let p = base.join("full");
    common::mount_hardened_tmpfs(&p, "size=64k,mode=1777");
    let mut file = fs::File::create(p.join("fill")).expect("create fill");
    let chunk = [0u8; 4096];
    let err = loop {
        if let Err(e) = file.write_all(&chunk) {
            break e;
        }
    };
    assert_eq!(
        err.raw_os_error(),
        Some(libc::ENOSPC),
        "fill stopped with {err}"
    );
    let f = check(&spec(
        RootPolicy::Any,
        &[(&p, MountKind::Tmpfs, Some(64 << 10))],
    ));
    expect(
        &f,
        &p,
        &[(
            "size",
            Verdict::Fail,
            &[
                "full: 0B free of 64Ki: ENOSPC",
                "\"No space left on device\"",
                &format!("du -sh {}", p.display()),
                "sizeLimit:",
            ],
        )],
    );
}

#[test]
fn secret_on_disk() {
    in_namespace("inner_secret_on_disk");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_secret_on_disk() {
    let Some((base, disk)) = inner_setup() else {
        return;
    };
    let on_disk = base.join("secret-disk");
    bind_read_only(&disk, &on_disk);
    let on_tmpfs = base.join("secret-tmpfs");
    common::mount_hardened_tmpfs(&on_tmpfs, "size=1m,mode=0755");
    remount_read_only(&on_tmpfs);
    let f = check(&spec(
        RootPolicy::Any,
        &[
            (&on_disk, MountKind::Secret, None),
            (&on_tmpfs, MountKind::Secret, None),
        ],
    ));
    let disk_fs = fs_type_of(&disk);
    expect(
        &f,
        &on_disk,
        &[(
            "type",
            Verdict::Fail,
            &[
                &format!("secret on disk: {disk_fs} (disk-backed)"),
                "outlives the pod",
                "secretName: ",
            ],
        )],
    );
    expect(
        &f,
        &on_tmpfs,
        &[("readonly", Verdict::Pass, &["own tmpfs mount, read-only"])],
    );
}

/// The filesystem type of the mount containing `p`, from mountinfo.
fn fs_type_of(p: &Path) -> String {
    let (t, _) = sealinit::edge::probe::read_mount_table(Path::new("/proc/self/mountinfo"))
        .expect("mountinfo");
    t.containing(p).expect("a mount").fs_type.clone()
}

#[test]
fn read_only_root() {
    in_namespace("inner_read_only_root");
}
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_read_only_root() {
    let Some(_) = inner_setup() else {
        return;
    };
    let before = check(&spec(RootPolicy::ReadOnly, &[]));
    let root = Path::new("/");
    expect(
        &before,
        root,
        &[(
            "root",
            Verdict::Fail,
            &[
                "writable (mountinfo: rw, statvfs: rw)",
                "readOnlyRootFilesystem: true",
            ],
        )],
    );
    remount_read_only(root);
    let after = check(&spec(RootPolicy::ReadOnly, &[]));
    expect(
        &after,
        root,
        &[(
            "root",
            Verdict::Pass,
            &["read-only (mountinfo: ro, statvfs: ST_RDONLY)"],
        )],
    );
}
