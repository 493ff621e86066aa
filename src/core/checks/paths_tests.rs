//! Unit tests of the per-path rules, on hand-built facts (fixtures in
//! `core::checks::tests`).

use super::*;
use crate::core::checks::evaluate;
use crate::core::checks::tests::*;
use crate::core::mounts::facts::StatFacts;

/// A writable-path case: declared mount, mount table lines, path facts.
struct WCase {
    name: &'static str,
    m: MountSpec,
    lines: Vec<String>,
    root: &'static str,
    pf: PathFacts,
    want: Vec<Want>,
}

fn run_writable(cases: Vec<WCase>) {
    for c in cases {
        let path = c.m.path.display().to_string();
        let got = evaluate(
            &spec(vec![c.m]),
            &facts(table(c.root, &c.lines), vec![c.pf]),
        );
        assert_path(c.name, &got, &path, &c.want);
    }
}

#[test]
fn writable_mount_and_type_rules() {
    let w = Some(ProbeOutcome::Writable);
    let mem = vfs(64 * MIB, 64 * MIB, true);
    let disk = vfs(100 << 30, 50 << 30, false);
    run_writable(vec![
        WCase {
            name: "own tmpfs with matching size passes as one line",
            m: mount("/tmp", MountKind::Tmpfs, Some(64 * MIB)),
            lines: vec![tmpfs_line("/tmp", "rw,size=65536k")],
            root: ROOT_RO,
            pf: dir("/tmp", w, mem),
            want: vec![(
                "mount",
                Verdict::Pass,
                texts(&["own tmpfs mount", "writable by uid 65532", "size="]),
            )],
        },
        WCase {
            name: "missing path",
            m: mount("/var/cache/nginx", MountKind::EmptyDir, Some(5 << 30)),
            lines: vec![],
            root: ROOT_RO,
            pf: missing("/var/cache/nginx"),
            want: vec![(
                "mount",
                Verdict::Fail,
                vec![
                    "/var/cache/nginx does not exist".into(),
                    "- name: var-cache-nginx".into(),
                    "mountPath: \"/var/cache/nginx\"".into(),
                    format!("sizeLimit: \"{}\"", q(5 << 30)),
                ],
            )],
        },
        WCase {
            name: "directory of the read-only root is the seed's Read-only file system error",
            m: mount("/var/cache/nginx", MountKind::EmptyDir, Some(5 << 30)),
            lines: vec![],
            root: ROOT_RO,
            pf: dir(
                "/var/cache/nginx",
                Some(ProbeOutcome::ReadOnlyFs),
                VfsFacts {
                    read_only: true,
                    ..disk
                },
            ),
            want: vec![(
                "mount",
                Verdict::Fail,
                vec![
                    "not a mount: a directory of the root filesystem (overlay, read-only)".into(),
                    "writes fail: EROFS".into(),
                    "\"Read-only file system\"".into(),
                    "emptyDir:".into(),
                    "mountPath: \"/var/cache/nginx\"".into(),
                ],
            )],
        },
        WCase {
            name: "directory of a writable root lands in the container layer",
            m: mount("/data", MountKind::EmptyDir, None),
            lines: vec![],
            root: ROOT_RW,
            pf: dir("/data", w, disk),
            want: vec![(
                "mount",
                Verdict::Fail,
                texts(&["writes succeed", "writable layer"]),
            )],
        },
        WCase {
            name: "directory inside another writable mount is a warning",
            m: mount("/var/cache/nginx", MountKind::EmptyDir, None),
            lines: vec![line(11, "/var/cache", "rw,noexec", "ext4", "rw")],
            root: ROOT_RO,
            pf: dir("/var/cache/nginx", w, disk),
            want: vec![
                ("mount", Verdict::Pass, texts(&["writable by uid 65532"])),
                (
                    "mount",
                    Verdict::Warn,
                    texts(&["inside the mount /var/cache", "shares"]),
                ),
            ],
        },
        WCase {
            name: "shared memory on disk fails",
            m: mount("/dev/shm", MountKind::Tmpfs, Some(MIB << 10)),
            lines: vec![line(12, "/dev/shm", "rw,noexec", "ext4", "rw")],
            root: ROOT_RO,
            pf: dir("/dev/shm", w, disk),
            want: vec![(
                "type",
                Verdict::Fail,
                texts(&["ext4 (disk-backed)", "shared memory", "medium: Memory"]),
            )],
        },
        WCase {
            name: "tmpfs declared, disk found",
            m: mount("/run/keys", MountKind::Tmpfs, Some(MIB)),
            lines: vec![line(12, "/run/keys", "rw,noexec", "xfs", "rw")],
            root: ROOT_RO,
            pf: dir("/run/keys", w, disk),
            want: vec![(
                "type",
                Verdict::Fail,
                texts(&["memory-only", "node's disk"]),
            )],
        },
        WCase {
            name: "tmpfs where disk was declared counts against memory",
            m: mount("/tmp", MountKind::EmptyDir, Some(64 * MIB)),
            lines: vec![tmpfs_line("/tmp", "rw,size=65536k")],
            root: ROOT_RO,
            pf: dir("/tmp", w, mem),
            want: vec![
                ("mount", Verdict::Pass, texts(&["writable by uid 65532"])),
                (
                    "type",
                    Verdict::Warn,
                    texts(&["memory limit", "--tmpfs /tmp"]),
                ),
            ],
        },
        WCase {
            name: "pvc on tmpfs loses data",
            m: mount("/data", MountKind::Pvc, Some(10 << 30)),
            lines: vec![tmpfs_line("/data", "rw,size=65536k")],
            root: ROOT_RO,
            pf: dir("/data", w, mem),
            want: vec![(
                "type",
                Verdict::Fail,
                texts(&["lost when the pod stops", "persistentVolumeClaim"]),
            )],
        },
    ]);
}

fn owned(pf: PathFacts, uid: u32, gid: u32, mode: u32) -> PathFacts {
    let st = StatFacts {
        uid,
        gid,
        mode,
        ..pf.stat.unwrap_or_default()
    };
    PathFacts {
        stat: Some(st),
        lstat: Ok(st),
        ..pf
    }
}

#[test]
fn write_probe_rules() {
    let disk = vfs(100 << 30, 50 << 30, false);
    let ext4 = || vec![line(13, "/data", "rw,noexec", "ext4", "rw")];
    let case = |name, probe, pf: Option<PathFacts>, want: Vec<Want>| WCase {
        name,
        m: mount("/data", MountKind::Pvc, Some(10 << 30)),
        lines: ext4(),
        root: ROOT_RO,
        pf: pf.unwrap_or_else(|| dir("/data", Some(probe), disk)),
        want,
    };
    run_writable(vec![
        case(
            "erofs",
            ProbeOutcome::ReadOnlyFs,
            None,
            vec![(
                "writable",
                Verdict::Fail,
                texts(&[
                    "mounted read-only (rw,noexec): EROFS",
                    "remove `readOnly: true`",
                ]),
            )],
        ),
        case(
            "eacces, other bits",
            ProbeOutcome::Denied,
            Some(owned(
                dir("/data", Some(ProbeOutcome::Denied), disk),
                0,
                0,
                0o755,
            )),
            vec![(
                "writable",
                Verdict::Fail,
                texts(&[
                    "owner 0:0 mode 0755",
                    "neither owner nor in group 0, and the other bits are r-x",
                    "\"Permission denied\"",
                    "runAsUser: 65532",
                    "runAsGroup: 65532",
                    "fsGroup: 65532",
                ]),
            )],
        ),
        case(
            "eacces, group-writable by another group",
            ProbeOutcome::Denied,
            Some(owned(
                dir("/data", Some(ProbeOutcome::Denied), disk),
                1000,
                2000,
                0o775,
            )),
            vec![(
                "writable",
                Verdict::Fail,
                texts(&[
                    "owner 1000:2000 mode 0775",
                    "fsGroup: 2000",
                    "group-writable by 2000",
                ]),
            )],
        ),
        case(
            "eperm",
            ProbeOutcome::NotPermitted,
            None,
            vec![(
                "writable",
                Verdict::Fail,
                texts(&["EPERM", "SELinux", "lsattr -d /data"]),
            )],
        ),
        case(
            "enospc",
            ProbeOutcome::NoSpace,
            Some(dir(
                "/data",
                Some(ProbeOutcome::NoSpace),
                vfs(10 << 30, 0, false),
            )),
            vec![(
                "size",
                Verdict::Fail,
                vec![
                    "full: 0B free of 10Gi: ENOSPC".into(),
                    "\"No space left on device\"".into(),
                    "du -sh /data".into(),
                    format!("storage: {}", q(20 << 30)),
                ],
            )],
        ),
        case(
            "writable but statvfs shows no blocks left",
            ProbeOutcome::Writable,
            Some(dir(
                "/data",
                Some(ProbeOutcome::Writable),
                vfs(10 << 30, 0, false),
            )),
            vec![("size", Verdict::Fail, texts(&["ENOSPC"]))],
        ),
        case(
            "no inodes left",
            ProbeOutcome::NoSpace,
            Some(dir(
                "/data",
                Some(ProbeOutcome::NoSpace),
                VfsFacts { ffree: 0, ..disk },
            )),
            vec![(
                "size",
                Verdict::Fail,
                texts(&["no free inodes (1000 in use)"]),
            )],
        ),
        case(
            "other errno",
            ProbeOutcome::Other(libc::EIO),
            None,
            vec![(
                "writable",
                Verdict::Fail,
                texts(&["write probe failed: EIO"]),
            )],
        ),
    ]);
}

#[test]
fn size_and_noexec_rules() {
    let w = Some(ProbeOutcome::Writable);
    let mem = |size| vfs(size, size, true);
    let tmp = |sup: &str, limit: Option<u64>, v: VfsFacts, want: Vec<Want>, name| WCase {
        name,
        m: mount("/tmp", MountKind::Tmpfs, limit),
        lines: vec![tmpfs_line("/tmp", sup)],
        root: ROOT_RO,
        pf: dir("/tmp", w, v),
        want,
    };
    let pass = || ("mount", Verdict::Pass, vec![]);
    run_writable(vec![
        tmp(
            "rw,nr_inodes=1000",
            Some(64 * MIB),
            mem(8 << 30),
            vec![
                pass(),
                (
                    "size",
                    Verdict::Warn,
                    texts(&["no size= option", "8Gi", "OOM"]),
                ),
            ],
            "tmpfs without size=",
        ),
        tmp(
            "rw,size=131072k",
            Some(64 * MIB),
            mem(128 * MIB),
            vec![
                pass(),
                (
                    "size",
                    Verdict::Warn,
                    vec![format!("size={}", q(128 * MIB)), "evicts the pod".into()],
                ),
            ],
            "tmpfs bigger than sizeLimit",
        ),
        tmp(
            "rw,size=32m",
            Some(64 * MIB),
            mem(32 * MIB),
            vec![
                pass(),
                (
                    "size",
                    Verdict::Warn,
                    vec![format!("writes fail with ENOSPC at {}", q(32 * MIB))],
                ),
            ],
            "tmpfs smaller than sizeLimit",
        ),
        tmp(
            "rw,size=65536k",
            None,
            mem(64 * MIB),
            vec![pass()],
            "no sizeLimit declared, size= set",
        ),
        tmp(
            "rw,size=65536k",
            Some(64 * MIB),
            vfs(64 * MIB, 4 * MIB, true),
            vec![
                pass(),
                ("size", Verdict::Warn, texts(&["4Mi free of 64Mi"])),
            ],
            "nearly full",
        ),
        WCase {
            name: "disk smaller than sizeLimit",
            m: mount("/data", MountKind::EmptyDir, Some(5 << 30)),
            lines: vec![line(13, "/data", "rw,noexec", "ext4", "rw")],
            root: ROOT_RO,
            pf: dir("/data", w, vfs(1 << 30, 1 << 30, false)),
            want: vec![
                pass(),
                ("size", Verdict::Warn, texts(&["ext4 holds only 1Gi"])),
            ],
        },
        WCase {
            name: "exec allowed",
            m: mount("/data", MountKind::EmptyDir, None),
            lines: vec![line(13, "/data", "rw,nosuid", "ext4", "rw")],
            root: ROOT_RO,
            pf: dir("/data", w, vfs(1 << 30, 1 << 30, false)),
            want: vec![
                pass(),
                (
                    "noexec",
                    Verdict::Warn,
                    texts(&["exec allowed", "cannot set noexec", "noexec,nosuid"]),
                ),
            ],
        },
        WCase {
            name: "exec allowed on a Kubernetes emptyDir: a note on the pass line",
            m: mount("/data", MountKind::EmptyDir, None),
            lines: vec![
                "13 1 0:13 /var/lib/kubelet/pods/u-1/volumes/kubernetes.io~empty-dir/data \
                 /data rw,nosuid - ext4 /dev/sda1 rw"
                    .into(),
            ],
            root: ROOT_RO,
            pf: dir("/data", w, vfs(1 << 30, 1 << 30, false)),
            want: vec![(
                "mount",
                Verdict::Pass,
                texts(&["exec allowed (Kubernetes volumes cannot be noexec"]),
            )],
        },
        WCase {
            name: "exec allowed and accepted by allow_exec: no advice",
            m: MountSpec {
                allow_exec: true,
                ..mount("/data", MountKind::EmptyDir, None)
            },
            lines: vec![line(13, "/data", "rw,nosuid", "ext4", "rw")],
            root: ROOT_RO,
            pf: dir("/data", w, vfs(1 << 30, 1 << 30, false)),
            want: vec![pass()],
        },
    ]);
}

#[test]
fn readonly_and_secret_rules() {
    let ro = VfsFacts {
        read_only: true,
        ..vfs(MIB, 0, false)
    };
    let cases: Vec<(&str, MountSpec, Vec<String>, PathFacts, Want)> = vec![
        (
            "readonly mount passes",
            mount("/etc/nginx", MountKind::ReadOnly, None),
            vec![line(20, "/etc/nginx", "ro,relatime", "ext4", "rw")],
            dir("/etc/nginx", None, ro),
            (
                "readonly",
                Verdict::Pass,
                texts(&["own ext4 mount, read-only"]),
            ),
        ),
        (
            "readonly not a mount",
            mount("/etc/nginx", MountKind::ReadOnly, None),
            vec![],
            dir("/etc/nginx", None, ro),
            (
                "readonly",
                Verdict::Fail,
                texts(&["not a mount: part of / (overlay, read-only)", "configMap:"]),
            ),
        ),
        (
            "readonly mounted rw",
            mount("/etc/nginx", MountKind::ReadOnly, None),
            vec![line(20, "/etc/nginx", "rw,relatime", "ext4", "rw")],
            dir("/etc/nginx", None, vfs(MIB, 0, false)),
            (
                "readonly",
                Verdict::Fail,
                texts(&["ext4 mounted rw", "add `readOnly: true`", "readOnly: true"]),
            ),
        ),
        (
            "secret on disk",
            mount("/etc/tls", MountKind::Secret, None),
            vec![line(21, "/etc/tls", "ro,relatime", "ext4", "rw")],
            dir("/etc/tls", None, ro),
            (
                "type",
                Verdict::Fail,
                texts(&["secret on disk: ext4", "secretName: \"app-etc-tls\""]),
            ),
        ),
        (
            "secret on tmpfs passes",
            mount("/etc/tls", MountKind::Secret, None),
            vec![line(
                21,
                "/etc/tls",
                "ro,relatime",
                "tmpfs",
                "rw,size=1024k",
            )],
            dir("/etc/tls", None, ro),
            (
                "readonly",
                Verdict::Pass,
                texts(&["own tmpfs mount, read-only"]),
            ),
        ),
        (
            "secret missing",
            mount("/etc/tls", MountKind::Secret, None),
            vec![],
            missing("/etc/tls"),
            (
                "readonly",
                Verdict::Fail,
                texts(&["does not exist", "secretName: \"app-etc-tls\""]),
            ),
        ),
    ];
    for (name, m, lines, pf, want) in cases {
        let path = m.path.display().to_string();
        let got = evaluate(&spec(vec![m]), &facts(table(ROOT_RO, &lines), vec![pf]));
        assert_path(name, &got, &path, &[want]);
    }
}

#[test]
fn parse_tmpfs_size_cases() {
    let cases = [
        ("kibibytes as the kernel prints", "65536k", Some(64 * MIB)),
        ("mebibytes", "64m", Some(64 * MIB)),
        ("gibibytes upper", "1G", Some(1 << 30)),
        ("bytes", "4096", Some(4096)),
        ("percent is unknown", "50%", None),
        ("empty", "", None),
        ("overflow", "99999999999999999t", None),
        ("garbage", "k", None),
    ];
    for (name, input, want) in cases {
        assert_eq!(parse_tmpfs_size(input), want, "case {name}");
    }
}
