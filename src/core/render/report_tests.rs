//! Unit tests of `core::render::report`: YAML snippets, text layout, tables.

use super::*;
use crate::core::mounts::facts::VfsFacts;
use std::path::PathBuf;

fn spec_mount(path: &str, kind: MountKind, size_limit: Option<u64>) -> MountSpec {
    MountSpec {
        path: PathBuf::from(path),
        kind,
        size_limit,
        allow_exec: false,
    }
}

#[test]
fn volume_yaml_per_kind() {
    let gi = 1u64 << 30;
    type Case = (
        &'static str,
        MountKind,
        Option<u64>,
        Vec<String>,
        Vec<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (
            "tmpfs is memory-backed with a sizeLimit",
            MountKind::Tmpfs,
            Some(gi),
            vec![
                "    emptyDir:\n      medium: Memory\n".into(),
                format!("      sizeLimit: \"{}\"\n", quantity::format(gi)),
            ],
            vec!["readOnly"],
        ),
        (
            "emptydir without limit says it is unbounded",
            MountKind::EmptyDir,
            None,
            vec![
                "    # no sizeLimit in the contract: unbounded until eviction\n    emptyDir: {}\n"
                    .into(),
            ],
            vec!["medium", "readOnly"],
        ),
        (
            "pvc names the claim",
            MountKind::Pvc,
            Some(50 * gi),
            vec![
                "persistentVolumeClaim:\n      claimName: \"app-x-data\"\n".into(),
                "# plus the PersistentVolumeClaim \"app-x-data\"".into(),
            ],
            vec!["emptyDir"],
        ),
        (
            "readonly is a configMap mounted readOnly",
            MountKind::ReadOnly,
            None,
            vec![
                "configMap:\n".into(),
                "      name: \"app-x-data\"\n".into(),
                "    readOnly: true\n".into(),
            ],
            vec!["emptyDir", "subPath"],
        ),
        (
            "secret is a secret volume mounted readOnly",
            MountKind::Secret,
            None,
            vec![
                "secretName: \"app-x-data\"\n".into(),
                "    readOnly: true\n".into(),
            ],
            vec!["emptyDir"],
        ),
    ];
    for (name, kind, size, want, not) in cases {
        let y = volume_yaml(&spec_mount("/x/data", kind, None), size);
        assert!(y.starts_with("# pod spec\nvolumes:\n"), "case {name}: {y}");
        assert!(y.contains("  - name: x-data\n"), "case {name}: {y}");
        assert!(
            y.contains(
                "# container spec\nvolumeMounts:\n  - name: x-data\n    mountPath: \"/x/data\"\n"
            ),
            "case {name}: {y}"
        );
        for w in want {
            assert!(y.contains(&w), "case {name}: {w:?} not in\n{y}");
        }
        for n in not {
            assert!(!y.contains(n), "case {name}: {n:?} unexpectedly in\n{y}");
        }
    }
}

/// Issue 14: one renderer. A failing check's fix and `sealinit manifest`
/// write the same volume and volumeMount for a path that needs quoting.
#[test]
fn a_fix_and_the_manifest_render_a_mount_identically() {
    use crate::core::contract::spec::{RootPolicy, Spec};
    use crate::core::render::manifest::{render, ManifestOptions};
    use yaml_rust2::{Yaml, YamlLoader};
    let one = |doc: &Yaml, key: &str| -> Yaml {
        let seq = doc[key]
            .as_vec()
            .unwrap_or_else(|| panic!("no {key} in {doc:?}"));
        assert_eq!(seq.len(), 1, "{key}: {seq:?}");
        seq[0].clone()
    };
    for (path, kind) in [
        ("/srv/my data #1", MountKind::EmptyDir),
        ("/var/cache/\"quoted\" 'x'", MountKind::Tmpfs),
        ("/etc/app/yes", MountKind::ReadOnly),
        ("/etc/nginx/nginx.conf", MountKind::ReadOnly),
        ("/run/keys/- dash", MountKind::Secret),
        ("/data/{x}: [y]", MountKind::Pvc),
    ] {
        let m = spec_mount(path, kind, Some(5 << 20));
        let fix = volume_yaml(&m, m.size_limit);
        let fix_doc = &YamlLoader::load_from_str(&fix).unwrap_or_else(|e| panic!("{e}\n{fix}"))[0];
        let spec = Spec {
            root: RootPolicy::Any,
            mounts: vec![m.clone()],
            ..Spec::default()
        };
        let manifest = match render(&spec, &ManifestOptions::default()) {
            Ok(t) => t,
            // `:` is refused by the manifest (SEALINIT_MOUNTS cannot carry
            // it); the fix still quotes it into valid YAML.
            Err(e) if path.contains(':') => {
                assert!(e.contains("contains ':'"), "{e}");
                assert_eq!(
                    one(fix_doc, "volumeMounts")["mountPath"].as_str(),
                    Some(path)
                );
                continue;
            }
            Err(e) => panic!("{path}: {e}"),
        };
        let docs =
            YamlLoader::load_from_str(&manifest).unwrap_or_else(|e| panic!("{e}\n{manifest}"));
        let pod = &docs[0];
        let ctr = &pod["containers"][0];
        assert_eq!(
            one(fix_doc, "volumes"),
            one(pod, "volumes"),
            "{path}:\n{fix}\n{manifest}"
        );
        assert_eq!(
            one(fix_doc, "volumeMounts"),
            one(ctr, "volumeMounts"),
            "{path}:\n{fix}\n{manifest}"
        );
        assert_eq!(
            one(fix_doc, "volumeMounts")["mountPath"].as_str(),
            Some(path)
        );
        // And the text is the same, line for line (indentation aside).
        let fix_lines: Vec<&str> = fix
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .collect();
        let man_lines: Vec<&str> = manifest.lines().map(str::trim).collect();
        for l in fix_lines
            .iter()
            .filter(|l| l.contains(':') && !l.ends_with(':'))
        {
            assert!(
                man_lines.contains(l),
                "{path}: {l:?} not in the manifest\n{manifest}"
            );
        }
    }
}

#[test]
fn human_bytes_cases() {
    let cases = [
        ("bytes", 512, "512B"),
        ("exact kibi", 1024, "1Ki"),
        ("fraction", 67_000_000, "63.9Mi"),
        ("exact gibi", 5 << 30, "5Gi"),
        ("max", u64::MAX, "16Ei"),
    ];
    for (name, n, want) in cases {
        assert_eq!(human_bytes(n), want, "case {name}");
    }
}

fn finding(verdict: Verdict, path: &str, fix: Option<&str>) -> Finding {
    Finding {
        check: "mount",
        path: path.into(),
        kind: "emptydir".into(),
        expected: "its own writable mount (emptyDir)".into(),
        observed: "not a mount".into(),
        verdict,
        why: if verdict == Verdict::Pass {
            String::new()
        } else {
            "writes fail".into()
        },
        fix: fix.map(str::to_string),
    }
}

fn facts_of(mountinfo: &str, root_ro: bool) -> Facts {
    Facts {
        mountinfo: MountTable::parse(mountinfo.as_bytes()).map_err(|e| e.reason),
        mountinfo_skipped: None,
        root: Ok(VfsFacts {
            read_only: root_ro,
            ..VfsFacts::default()
        }),
        identity: Identity {
            uid: 65532,
            gid: 65532,
            groups: vec![65532],
        },
        paths: vec![],
    }
}

#[test]
fn headline_and_text_layout() {
    let mut root = finding(Verdict::Pass, "/", None);
    root.check = "root";
    let findings = vec![
        root,
        finding(
            Verdict::Fail,
            "/var/cache/nginx",
            Some("add a volume:\nvolumes:\n  - name: x"),
        ),
        finding(Verdict::Warn, "/tmp", Some("noexec")),
        finding(Verdict::Pass, "/run", None),
    ];
    let facts = facts_of("1 0 0:5 / / ro - overlay overlay rw\n", true);
    let recs = check_records(&findings, &facts, Audience::Startup { plain: false });
    let text: String = recs.iter().map(crate::core::render::logfmt::text).collect();
    let want = "\
sealinit: pass  /  emptydir  expected: its own writable mount (emptyDir)  observed: not a mount
sealinit: error: fail  /var/cache/nginx  emptydir  expected: its own writable mount (emptyDir)  observed: not a mount
sealinit:   why: writes fail
sealinit:   fix:
sealinit:     add a volume:
sealinit:     volumes:
sealinit:       - name: x
sealinit: warning: warn  /tmp  emptydir  expected: its own writable mount (emptyDir)  observed: not a mount
sealinit:   why: writes fail
sealinit:   fix:
sealinit:     noexec
sealinit: pass  /run  emptydir  expected: its own writable mount (emptyDir)  observed: not a mount
sealinit: error: check: FAIL 1 failed, 1 warning, 2 passed; uid=65532 gid=65532 groups=65532; root / overlay read-only
";
    assert_eq!(text, want);
}

#[test]
fn how_loud_a_report_is() {
    let facts = facts_of("1 0 0:5 / / ro - overlay overlay rw\n", true);
    let clean = vec![
        finding(Verdict::Pass, "/a", None),
        finding(Verdict::Pass, "/b", None),
    ];
    let warned = vec![
        finding(Verdict::Pass, "/a", None),
        finding(Verdict::Warn, "/b", Some("x")),
    ];
    let levels = |f: &[Finding], a| -> Vec<&'static str> {
        check_records(f, &facts, a)
            .iter()
            .map(|r| r.level)
            .collect()
    };
    let contract = Audience::Startup { plain: false };
    let plain = Audience::Startup { plain: true };
    type Case<'a> = (&'a str, &'a [Finding], Audience, Vec<&'a str>);
    let cases: Vec<Case> = vec![
        (
            "clean contract: the summary only",
            &clean,
            contract,
            vec!["debug", "debug", "info"],
        ),
        (
            "clean plain init: nothing",
            &clean,
            plain,
            vec!["debug", "debug", "debug"],
        ),
        (
            "a warning shows every line",
            &warned,
            contract,
            vec!["info", "warn", "warn"],
        ),
        (
            "plain init that warns shows too",
            &warned,
            plain,
            vec!["info", "warn", "warn"],
        ),
        (
            "sealinit check: every line",
            &clean,
            Audience::Check,
            vec!["info", "info", "info"],
        ),
    ];
    for (name, f, a, want) in cases {
        assert_eq!(levels(f, a), want, "case {name}");
    }
}

/// The start-up log builds only the records its level lets through: the
/// same records, in the same order, as filtering the whole report.
#[test]
fn records_kept_by_level_are_the_filtered_report() {
    let facts = facts_of("1 0 0:5 / / ro - overlay overlay rw\n", true);
    let findings = vec![
        finding(Verdict::Pass, "/a", None),
        finding(Verdict::Warn, "/b", Some("x")),
        finding(Verdict::Pass, "/c", None),
    ];
    let audiences = [
        Audience::Startup { plain: false },
        Audience::Startup { plain: true },
        Audience::Check,
    ];
    for a in audiences {
        for max in ["error", "warn", "info", "debug"] {
            let rank = |l: &str| {
                ["error", "warn", "info", "debug"]
                    .iter()
                    .position(|x| *x == l)
            };
            let keep = |l: &str| rank(l) <= rank(max);
            let all = check_records(&findings, &facts, a);
            let want: Vec<_> = all.into_iter().filter(|r| keep(r.level)).collect();
            assert_eq!(
                check_records_at(&findings, &facts, a, keep),
                want,
                "{a:?} at {max}"
            );
        }
    }
    // Nothing kept: nothing built (a clean plain init at the default level).
    let clean = [finding(Verdict::Pass, "/a", None)];
    let plain = Audience::Startup { plain: true };
    assert!(check_records_at(&clean, &facts, plain, |l| l != "debug").is_empty());
}

#[test]
fn headline_variants() {
    let facts = facts_of("1 0 0:5 / / rw - ext4 /dev/sda rw\n", false);
    let mut root = finding(Verdict::Fail, "/", None);
    root.check = "root";
    let cases = [
        ("all pass, root skipped", vec![finding(Verdict::Pass, "/a", None)], "check: PASS 0 failed, 0 warnings, 1 passed; uid=65532 gid=65532 groups=65532; root not checked (--root any)"),
        ("writable root", vec![root], "check: FAIL 1 failed, 0 warnings, 0 passed; uid=65532 gid=65532 groups=65532; root / ext4 WRITABLE"),
        ("two warnings", vec![finding(Verdict::Warn, "/a", None), finding(Verdict::Warn, "/b", None)], "check: WARN 0 failed, 2 warnings, 0 passed; uid=65532 gid=65532 groups=65532; root not checked (--root any)"),
    ];
    for (name, findings, want) in cases {
        assert_eq!(headline(&findings, &facts), want, "case {name}");
    }
}

const TABLE: &str = "\
1 0 0:5 / / ro - overlay overlay rw
2 1 0:6 / /tmp rw,nosuid,noexec - tmpfs tmpfs rw,size=65536k
3 1 8:1 /var/lib/kubelet/pods/u1/volumes/kubernetes.io~empty-dir/cache /var/cache/nginx rw - ext4 /dev/sda1 rw
4 1 0:7 / /proc rw - proc proc rw
5 1 8:1 /old /shadow rw - ext4 /dev/sda1 rw
6 1 8:1 /new /shadow ro - ext4 /dev/sda1 rw
";

#[test]
fn mounts_table_lists_visible_mounts_classified() {
    let t = MountTable::parse(TABLE.as_bytes()).expect("parse");
    let declared = vec![MountSpec {
        path: PathBuf::from("/tmp"),
        kind: MountKind::Tmpfs,
        size_limit: Some(64 << 20),
        allow_exec: false,
    }];
    let out = render_mounts_table(&t, &declared);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "header + 5 visible mounts:\n{out}");
    let cols = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        cols(lines[0]),
        ["MOUNT", "TYPE", "MODE", "EXEC", "SIZE", "DECLARED", "CLASS"]
    );
    let tmp = cols(lines[2]);
    assert_eq!(
        tmp[..6],
        [
            "/tmp",
            "tmpfs",
            "rw",
            "noexec",
            &quantity::format(64 << 20),
            "tmpfs"
        ]
    );
    assert!(
        lines[3].contains("kubernetes empty-dir volume \"cache\""),
        "{out}"
    );
    assert!(lines[4].ends_with("platform mount"), "{out}");
    assert!(
        lines[5].starts_with("/shadow") && cols(lines[5])[2] == "ro",
        "last mount wins: {out}"
    );
    let header_at = lines[0].find("TYPE");
    assert_eq!(header_at, lines[3].find("ext4"), "columns align:\n{out}");
}

/// Regression (hardening): a mount point with a newline split its row in
/// two, a tab broke the columns, and a non-UTF-8 byte became U+FFFD.
#[test]
fn mounts_table_escapes_awkward_mount_points() {
    use std::os::unix::ffi::OsStrExt;
    let cases: &[(&str, &[u8], &str)] = &[
        ("plain", b"/data", "/data"),
        ("space stays", b"/data dir", "/data dir"),
        ("tab", b"/a\tb", "/a\\011b"),
        ("newline", b"/a\nb", "/a\\012b"),
        ("backslash", b"/a\\b", "/a\\134b"),
        ("escape lookalike", b"/a\\040", "/a\\134040"),
        ("non-UTF-8", b"/caf\xe9", "/caf\\351"),
        ("UTF-8 stays", "/café".as_bytes(), "/café"),
        ("DEL", b"/a\x7f", "/a\\177"),
    ];
    for &(name, raw, want) in cases {
        let p = Path::new(std::ffi::OsStr::from_bytes(raw));
        assert_eq!(table_path(p), want, "case {name:?}");
    }
    // One row per mount, whatever the bytes (mountinfo escapes them).
    let text = "1 0 8:1 / / ro - ext4 /dev/sda1 rw\n\
                2 1 0:1 / /new\\012line rw - tmpfs t rw\n\
                3 1 0:2 / /tab\\011here rw - tmpfs t rw\n";
    let t = MountTable::parse(text.as_bytes()).expect("parse");
    let out = render_mounts_table(&t, &[]);
    assert_eq!(out.lines().count(), 4, "header + 3 rows:\n{out}");
    assert!(!out.contains('\t'), "{out}");
}

/// Regression (fuzzing, mountinfo target): a newline in the filesystem
/// type (a FUSE subtype is the mounter's choice) or in a volume name
/// quoted by the class also split a row.
#[test]
fn mounts_table_escapes_every_cell() {
    let text = "1 0 8:1 / / ro - ext4 /dev/sda1 rw\n\
                2 1 0:1 / /a rw - fuse.x\\012y s rw\n\
                3 1 0:2 /pods/u/volumes/kubernetes.io~empty-dir/v\\012w /b rw - ext4 s rw\n";
    let t = MountTable::parse(text.as_bytes()).expect("parse");
    let out = render_mounts_table(&t, &[]);
    assert_eq!(out.lines().count(), 4, "header + 3 rows:\n{out}");
    assert!(out.contains("fuse.x\\012y"), "{out}");
    assert!(out.contains("v\\012w"), "{out}");
    assert_eq!(table_text("a\\b\u{1b}c"), "a\\134b\\033c");
}

#[test]
fn mounts_json_one_object_per_line() {
    let t = MountTable::parse(TABLE.as_bytes()).expect("parse");
    let out = render_mounts_json(&t, &[]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[1],
        format!(
            "{{\"mount_point\":\"/tmp\",\"fs_type\":\"tmpfs\",\"source\":\"tmpfs\",\"root\":\"/\",\
             \"read_only\":false,\"noexec\":true,\"size_bytes\":67108864,\"size\":\"{}\",\
             \"declared\":null,\"class\":\"tmpfs (runtime --tmpfs or emptyDir medium: Memory)\"}}",
            quantity::format(64 << 20)
        )
    );
    assert!(
        lines[0].contains("\"size_bytes\":null,\"size\":null"),
        "{}",
        lines[0]
    );
}

#[test]
fn permission_fix_picks_the_group() {
    let id = Identity {
        uid: 1001,
        gid: 1001,
        groups: vec![],
    };
    let m = MountSpec {
        path: PathBuf::from("/data"),
        kind: MountKind::Pvc,
        size_limit: None,
        allow_exec: false,
    };
    let cases = [
        ("group-writable by owner group", 999, 0o775, "fsGroup: 999"),
        ("not group-writable", 999, 0o755, "fsGroup: 1001"),
        ("root group never suggested", 0, 0o775, "fsGroup: 1001"),
    ];
    for (name, gid, mode, want) in cases {
        let fix = permission_fix(&m, gid, mode, &id);
        assert!(fix.contains(want), "case {name}: {fix}");
        assert!(
            fix.contains("runAsUser: 1001\n  runAsGroup: 1001"),
            "case {name}: {fix}"
        );
    }
    let root = Identity::default();
    assert!(permission_fix(&m, 0, 0o755, &root).contains("runAsUser: 65532"));
}
