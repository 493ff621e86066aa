//! Unit tests for `tamper`: the mount diff, the latch, the recogniser, the
//! trigger judgement and the rate limiter, table-driven.

use super::*;

const ROOT_RO: &str = "20 1 0:30 / / ro,relatime - overlay overlay rw,lowerdir=/l";
const ROOT_RW: &str = "20 1 0:30 / / rw,relatime - overlay overlay rw,lowerdir=/l";
const TMP: &str = "30 20 0:40 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw,size=65536k";
const CONF: &str = "31 20 8:1 /cfg /etc/app ro,nosuid,nodev,noexec - ext4 /dev/sda1 rw";
const PROC: &str = "40 20 0:5 / /proc rw,nosuid,nodev,noexec - proc proc rw";

fn table(lines: &[&str]) -> MountTable {
    let text = lines.join("\n");
    let (t, errs) = MountTable::parse_lenient(text.as_bytes());
    assert!(errs.is_empty(), "{errs:?}");
    t
}

fn declared() -> Vec<MountSpec> {
    vec![
        MountSpec {
            path: "/tmp".into(),
            kind: MountKind::Tmpfs,
            size_limit: None,
            allow_exec: false,
        },
        MountSpec {
            path: "/etc/app".into(),
            kind: MountKind::ReadOnly,
            size_limit: None,
            allow_exec: false,
        },
        MountSpec {
            path: "/never-mounted".into(),
            kind: MountKind::EmptyDir,
            size_limit: None,
            allow_exec: false,
        },
    ]
}

#[test]
fn diff_against_the_snapshot() {
    let base = [ROOT_RO, TMP, CONF, PROC];
    // (name, live table, [(kind, change, path, severity)])
    type Want = &'static [(TamperKind, Change, &'static str, Severity)];
    let cases: &[(&str, Vec<&str>, Want)] = &[
        ("unchanged", base.to_vec(), &[]),
        (
            "root remounted read-write",
            vec![ROOT_RW, TMP, CONF, PROC],
            &[(
                TamperKind::RootWritable,
                Change::RootWritable,
                "/",
                Severity::Error,
            )],
        ),
        (
            "root overmounted by a read-write bind",
            vec![
                ROOT_RO,
                TMP,
                CONF,
                PROC,
                "90 20 0:30 / / rw,relatime - overlay overlay rw",
            ],
            &[(
                TamperKind::RootWritable,
                Change::RootWritable,
                "/",
                Severity::Error,
            )],
        ),
        (
            "root read-only by the super-block only stays read-only",
            vec![
                "20 1 0:30 / / rw,relatime - ext4 /dev/sda1 ro",
                TMP,
                CONF,
                PROC,
            ],
            &[],
        ),
        (
            "declared tmpfs unmounted",
            vec![ROOT_RO, CONF, PROC],
            &[(
                TamperKind::MountChanged,
                Change::Vanished,
                "/tmp",
                Severity::Error,
            )],
        ),
        (
            "readonly mount remounted read-write",
            vec![
                ROOT_RO,
                TMP,
                "31 20 8:1 /cfg /etc/app rw,nosuid,nodev,noexec - ext4 /dev/sda1 rw",
                PROC,
            ],
            &[(
                TamperKind::MountChanged,
                Change::BecameWritable,
                "/etc/app",
                Severity::Error,
            )],
        ),
        (
            "tmpfs remounted read-only and exec",
            vec![
                ROOT_RO,
                "30 20 0:40 / /tmp ro,nosuid,nodev - tmpfs tmpfs rw,size=65536k",
                CONF,
                PROC,
            ],
            &[
                (
                    TamperKind::MountChanged,
                    Change::BecameReadOnly,
                    "/tmp",
                    Severity::Error,
                ),
                (
                    TamperKind::MountChanged,
                    Change::ExecAllowed,
                    "/tmp",
                    Severity::Error,
                ),
            ],
        ),
        (
            "disk mounted over the declared tmpfs",
            vec![
                ROOT_RO,
                TMP,
                CONF,
                PROC,
                "50 30 8:1 /x /tmp rw,nosuid,nodev,noexec - ext4 /dev/sda1 rw",
            ],
            &[(
                TamperKind::MountChanged,
                Change::TypeChanged,
                "/tmp",
                Severity::Error,
            )],
        ),
        (
            "another tmpfs mounted over the declared one",
            vec![
                ROOT_RO,
                TMP,
                CONF,
                PROC,
                "51 30 0:41 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw",
            ],
            &[(
                TamperKind::MountChanged,
                Change::Replaced,
                "/tmp",
                Severity::Error,
            )],
        ),
        (
            "new writable mount",
            vec![
                ROOT_RO,
                TMP,
                CONF,
                PROC,
                "60 20 0:50 / /opt/drop rw,relatime - tmpfs tmpfs rw",
            ],
            &[(
                TamperKind::MountAdded,
                Change::Added,
                "/opt/drop",
                Severity::Warn,
            )],
        ),
        (
            "new mount at a declared path that had none",
            vec![
                ROOT_RO,
                TMP,
                CONF,
                PROC,
                "61 20 0:51 / /never-mounted rw - tmpfs tmpfs rw",
            ],
            &[(
                TamperKind::MountAdded,
                Change::Added,
                "/never-mounted",
                Severity::Warn,
            )],
        ),
        (
            "new read-only and pseudo mounts are not findings",
            vec![
                ROOT_RO,
                TMP,
                CONF,
                PROC,
                "62 20 8:1 /y /opt/ro ro - ext4 /dev/sda1 rw",
                "63 40 0:52 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw",
                "64 20 0:53 / /sys/kernel/tracing rw - tracefs tracefs rw",
            ],
            &[],
        ),
    ];
    let baseline = table(&base);
    for (name, now, want) in cases {
        let got: Vec<_> = diff_mounts(&baseline, &declared(), &table(now))
            .into_iter()
            .map(|f| (f.kind, f.change, f.path.display().to_string(), f.severity))
            .collect();
        let want: Vec<_> = want
            .iter()
            .map(|(k, c, p, s)| (*k, *c, p.to_string(), *s))
            .collect();
        assert_eq!(got, want, "case {name}");
    }
}

#[test]
fn writable_root_at_start_is_not_a_break() {
    let base = table(&[ROOT_RW, TMP]);
    assert!(diff_mounts(&base, &declared(), &table(&[ROOT_RW, TMP])).is_empty());
}

#[test]
fn messages_are_sentences_naming_the_path() {
    let baseline = table(&[ROOT_RO, TMP, CONF]);
    let now = table(&[
        ROOT_RW,
        "31 20 8:1 /cfg /etc/app rw,noexec - ext4 /dev/sda1 rw",
        "60 20 0:50 / /opt/drop rw - tmpfs tmpfs rw",
    ]);
    let msgs: Vec<String> = diff_mounts(&baseline, &declared(), &now)
        .iter()
        .map(|f| f.message())
        .collect();
    assert_eq!(msgs.len(), 4, "{msgs:#?}");
    assert!(msgs[0].starts_with("the root filesystem was remounted read-write: the tamper seal"));
    assert!(msgs[1].starts_with("/tmp (declared tmpfs) was unmounted (it was read-write tmpfs)"));
    assert!(msgs[2].starts_with("/etc/app (declared readonly) was remounted read-write"));
    assert!(msgs[3].starts_with("a new writable tmpfs mount appeared at /opt/drop"));
}

#[test]
fn latch_reports_each_break_once_and_its_clearing() {
    let baseline = table(&[ROOT_RO, TMP, CONF]);
    let mut latch = Latch::default();
    type Step<'a> = (&'a str, Vec<&'a str>, &'a [Change], &'a [Change]);
    let steps: &[Step] = &[
        // (name, live table, appeared, cleared)
        ("start", vec![ROOT_RO, TMP, CONF], &[], &[]),
        (
            "root rw",
            vec![ROOT_RW, TMP, CONF],
            &[Change::RootWritable],
            &[],
        ),
        (
            "root still rw, tmp gone",
            vec![ROOT_RW, CONF],
            &[Change::Vanished],
            &[],
        ),
        ("same again", vec![ROOT_RW, CONF], &[], &[]),
        (
            "root ro again",
            vec![ROOT_RO, CONF],
            &[],
            &[Change::RootWritable],
        ),
        (
            "root rw again",
            vec![ROOT_RW, CONF],
            &[Change::RootWritable],
            &[],
        ),
    ];
    for (name, now, appeared, cleared) in steps {
        let (a, c) = latch.update(diff_mounts(&baseline, &declared(), &table(now)));
        let a: Vec<Change> = a.iter().map(|f| f.change).collect();
        let c: Vec<Change> = c.iter().map(|f| f.change).collect();
        assert_eq!(
            (a.as_slice(), c.as_slice()),
            (*appeared, *cleared),
            "step {name}"
        );
    }
    assert_eq!(latch.active(), 2);
}

#[test]
fn mount_watch_is_needed_only_when_something_can_be_found() {
    let ro = table(&[ROOT_RO, PROC]);
    let rw = table(&[ROOT_RW, PROC]);
    let none: &[MountSpec] = &[];
    let cases: &[(&str, RootPolicy, &MountTable, &[MountSpec], bool)] = &[
        ("any, nothing declared", RootPolicy::Any, &ro, none, false),
        (
            "any, mounts declared",
            RootPolicy::Any,
            &rw,
            &declared(),
            true,
        ),
        (
            "read-only root, nothing declared",
            RootPolicy::ReadOnly,
            &ro,
            none,
            true,
        ),
        (
            "writable root (warned), nothing declared",
            RootPolicy::ReadOnly,
            &rw,
            none,
            false,
        ),
        (
            "writable root, mounts declared",
            RootPolicy::ReadOnly,
            &rw,
            &declared(),
            true,
        ),
    ];
    for (case, policy, baseline, decl, want) in cases {
        assert_eq!(
            mount_watch_needed(*policy, baseline, decl),
            *want,
            "case {case}"
        );
    }
}
