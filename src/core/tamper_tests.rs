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
        },
        MountSpec {
            path: "/etc/app".into(),
            kind: MountKind::ReadOnly,
            size_limit: None,
        },
        MountSpec {
            path: "/never-mounted".into(),
            kind: MountKind::EmptyDir,
            size_limit: None,
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

const REG: u32 = libc::S_IFREG;

#[test]
fn recogniser() {
    let cases: &[(&str, u32, &[u8], Option<Recognised>)] = &[
        (
            "elf, no exec bit",
            REG | 0o644,
            b"\x7fELF",
            Some(Recognised::Elf),
        ),
        (
            "elf with exec bit",
            REG | 0o755,
            b"\x7fELF",
            Some(Recognised::Elf),
        ),
        ("script", REG | 0o644, b"#!/b", Some(Recognised::Script)),
        (
            "two-byte script",
            REG | 0o600,
            b"#!",
            Some(Recognised::Script),
        ),
        (
            "exec bit only",
            REG | 0o700,
            b"abcd",
            Some(Recognised::ExecBit),
        ),
        (
            "other exec bit",
            REG | 0o601,
            b"",
            Some(Recognised::ExecBit),
        ),
        ("plain data", REG | 0o644, b"abcd", None),
        ("empty file", REG | 0o644, b"", None),
        ("truncated magic", REG | 0o644, b"\x7fEL", None),
        ("lone hash", REG | 0o644, b"#", None),
        ("directory", libc::S_IFDIR | 0o755, b"", None),
        ("symlink", libc::S_IFLNK | 0o777, b"", None),
        ("fifo", libc::S_IFIFO | 0o755, b"", None),
    ];
    for (name, mode, head, want) in cases {
        assert_eq!(recognise(*mode, head), *want, "case {name}");
    }
    assert_eq!(mode_string(REG | 0o4755), "4755");
    assert_eq!(mode_string(REG | 0o7), "0007");
}

fn facts(mode: u32, size: u64, nlink: u64, head: &[u8]) -> FileFacts {
    let mut f = FileFacts {
        mode,
        size,
        nlink,
        mtime: (1000, 5),
        ..FileFacts::default()
    };
    f.head[..head.len()].copy_from_slice(head);
    f.head_len = head.len();
    f
}

#[test]
fn triggers_from_masks() {
    let cases: &[(&str, u32, Triggers)] = &[
        ("close write", libc::IN_CLOSE_WRITE, Triggers::WRITTEN),
        ("moved to", libc::IN_MOVED_TO, Triggers::MOVED_IN),
        ("create", libc::IN_CREATE, Triggers::CREATED),
        ("attrib", libc::IN_ATTRIB, Triggers::ATTRIB),
        ("modify is ignored", libc::IN_MODIFY, Triggers(0)),
        ("delete is ignored", libc::IN_DELETE, Triggers(0)),
        (
            "directory is ignored",
            libc::IN_CREATE | libc::IN_ISDIR,
            Triggers(0),
        ),
        (
            "union",
            libc::IN_CREATE | libc::IN_CLOSE_WRITE,
            Triggers(Triggers::CREATED.0 | Triggers::WRITTEN.0),
        ),
    ];
    for (name, mask, want) in cases {
        assert_eq!(Triggers::from_mask(*mask), *want, "case {name}");
    }
}

#[test]
fn judgement_per_trigger() {
    use Judgement::*;
    use Recognised::*;
    let t = |m: u32| Triggers::from_mask(m);
    let elf = facts(REG | 0o755, 1000, 1, b"\x7fELF");
    let script = facts(REG | 0o644, 30, 1, b"#!/b");
    let plain = facts(REG | 0o644, 30, 1, b"data");
    let plain_x = facts(REG | 0o755, 30, 1, b"data");
    let empty_x = facts(REG | 0o755, 0, 1, b"");
    let link_x = facts(REG | 0o755, 0, 2, b"");
    let dir = facts(libc::S_IFDIR | 0o755, 0, 2, b"");
    let same = Some(elf.stamp());
    let older = Some(Stamp {
        mtime: (999, 0),
        size: 1000,
    });
    let cases: &[(&str, Triggers, FileFacts, Option<Stamp>, Judgement)] = &[
        // (name, triggers, file, stamp it was reported with, verdict)
        (
            "cp of a binary",
            t(libc::IN_CLOSE_WRITE),
            elf,
            None,
            Report(Elf),
        ),
        (
            "same state seen again",
            t(libc::IN_CLOSE_WRITE),
            elf,
            same,
            Wait,
        ),
        (
            "rewritten (or inode reused)",
            t(libc::IN_CLOSE_WRITE),
            elf,
            older,
            Report(Elf),
        ),
        (
            "script written",
            t(libc::IN_CLOSE_WRITE),
            script,
            None,
            Report(Script),
        ),
        (
            "plain data written",
            t(libc::IN_CLOSE_WRITE),
            plain,
            None,
            NotExec,
        ),
        (
            "plain data over a reported file",
            t(libc::IN_CLOSE_WRITE),
            plain,
            older,
            NotExec,
        ),
        (
            "moved in",
            t(libc::IN_MOVED_TO),
            plain_x,
            None,
            Report(ExecBit),
        ),
        (
            "found in a new dir",
            Triggers::FOUND,
            elf,
            None,
            Report(Elf),
        ),
        (
            "found empty: wait for close",
            Triggers::FOUND,
            empty_x,
            None,
            Wait,
        ),
        (
            "created empty: wait for close",
            t(libc::IN_CREATE),
            empty_x,
            None,
            Wait,
        ),
        (
            "created as a hard link",
            t(libc::IN_CREATE),
            link_x,
            None,
            Report(ExecBit),
        ),
        (
            "create and close in one batch",
            t(libc::IN_CREATE | libc::IN_CLOSE_WRITE),
            elf,
            None,
            Report(Elf),
        ),
        (
            "chmod +x",
            t(libc::IN_ATTRIB),
            plain_x,
            None,
            Report(ExecBit),
        ),
        (
            "chmod +x of a binary",
            t(libc::IN_ATTRIB),
            elf,
            None,
            Report(Elf),
        ),
        (
            "utimes after a reported write",
            t(libc::IN_ATTRIB),
            plain_x,
            older,
            Wait,
        ),
        ("chmod -x", t(libc::IN_ATTRIB), plain, older, NotExec),
        (
            "touch of plain data",
            t(libc::IN_ATTRIB),
            plain,
            None,
            NotExec,
        ),
        ("directory", t(libc::IN_CLOSE_WRITE), dir, None, Wait),
        ("no trigger", Triggers::default(), elf, None, Wait),
    ];
    for (name, trig, f, known, want) in cases {
        assert_eq!(judge(*trig, f, *known), *want, "case {name}");
    }
    assert_eq!(exec_severity(true), Severity::Warn);
    assert_eq!(exec_severity(false), Severity::Error);
}

#[test]
fn rate_limiter_storm_then_quiet() {
    let t0 = Instant::now();
    let ms = |n: u64| t0 + Duration::from_millis(n);
    let mut rl = RateLimiter::new(3, Duration::from_secs(1));
    assert_eq!(rl.due(), None);
    // (name, at ms, kind, severity, logged individually)
    let steps: &[(&str, u64, TamperKind, Severity, bool)] = &[
        ("1st", 0, TamperKind::ExecDrop, Severity::Error, true),
        ("2nd", 1, TamperKind::ExecDrop, Severity::Error, true),
        ("3rd", 2, TamperKind::ExecDrop, Severity::Warn, true),
        (
            "4th suppressed",
            3,
            TamperKind::ExecDrop,
            Severity::Error,
            false,
        ),
        (
            "5th suppressed",
            4,
            TamperKind::ExecDrop,
            Severity::Warn,
            false,
        ),
        (
            "other kind suppressed",
            5,
            TamperKind::MountAdded,
            Severity::Warn,
            false,
        ),
    ];
    for (name, at, kind, sev, want) in steps {
        assert_eq!(rl.admit(*kind, *sev, ms(*at)), *want, "step {name}");
    }
    assert_eq!(rl.due(), Some(ms(1003)));
    assert_eq!(rl.flush(ms(1002)), None, "not due yet");
    let s = rl.flush(ms(1003)).expect("summary");
    assert_eq!(s.window, Duration::from_millis(1000));
    assert_eq!(
        s.counts,
        vec![
            Suppressed {
                kind: TamperKind::MountAdded,
                severity: Severity::Warn,
                count: 1
            },
            Suppressed {
                kind: TamperKind::ExecDrop,
                severity: Severity::Error,
                count: 1
            },
            Suppressed {
                kind: TamperKind::ExecDrop,
                severity: Severity::Warn,
                count: 1
            },
        ]
    );
    assert_eq!(rl.due(), None, "no timer while nothing is pending");
    // Still inside the storm (less than an interval since the last event):
    // the budget stays empty.
    assert!(!rl.admit(TamperKind::ExecDrop, Severity::Error, ms(1004)));
    let s = rl.flush(ms(2004)).expect("second summary");
    assert_eq!(s.counts.len(), 1);
    // A quiet interval refills the budget.
    assert!(rl.admit(TamperKind::ExecDrop, Severity::Error, ms(3005)));
    assert_eq!(rl.total(TamperKind::ExecDrop), 7);
    assert_eq!(rl.total(TamperKind::MountAdded), 1);
}

#[test]
fn rate_limiter_bounds_a_storm_and_keeps_the_count() {
    let t0 = Instant::now();
    let mut rl = RateLimiter::new(20, Duration::from_secs(1));
    let (mut lines, mut counted) = (0u64, 0u64);
    // 10,000 events over 2.5 s, flushing whenever due.
    for i in 0..10_000u64 {
        let now = t0 + Duration::from_micros(i * 250);
        if rl.due().is_some_and(|d| d <= now) {
            let s = rl.flush(now).expect("due");
            lines += s.counts.len() as u64;
            counted += s.counts.iter().map(|c| c.count).sum::<u64>();
        }
        if rl.admit(TamperKind::ExecDrop, Severity::Error, now) {
            lines += 1;
            counted += 1;
        }
    }
    let end = t0 + Duration::from_secs(10);
    if let Some(s) = rl.flush(end) {
        lines += s.counts.len() as u64;
        counted += s.counts.iter().map(|c| c.count).sum::<u64>();
    }
    assert_eq!(counted, 10_000);
    assert_eq!(
        lines,
        20 + 3,
        "20 individual lines and one summary per second"
    );
    assert_eq!(rl.total(TamperKind::ExecDrop), 10_000);
}
