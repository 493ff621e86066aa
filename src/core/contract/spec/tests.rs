//! Tests of the spec sources: TOML errors (file, line, key, expected,
//! found), `SEALINIT_MOUNTS`, flags, path normalisation and the merge.

use super::*;
use crate::core::cli::options::{LimitAction, TamperPolicy};
use crate::core::contract::quantity;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/spec");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

fn m(kind: MountKind, path: &str, size: Option<&str>) -> MountSpec {
    MountSpec {
        path: PathBuf::from(path),
        kind,
        size_limit: size.map(|s| quantity::parse(s).unwrap()),
        allow_exec: false,
    }
}

use MountKind::{EmptyDir, Pvc, ReadOnly, Secret, Tmpfs};

#[test]
fn design_example_parses() {
    let f = parse_spec_toml(&fixture("design-example.toml"), Path::new("x")).unwrap();
    assert_eq!(f.settings.root, Some(RootPolicy::ReadOnly));
    assert_eq!(f.settings.on_violation, Some(ViolationPolicy::Fail));
    assert_eq!(
        f.mounts,
        vec![
            m(EmptyDir, "/var/cache/nginx", Some("5Gi")),
            m(ReadOnly, "/etc/nginx", None),
        ]
    );
}

#[test]
fn every_key_parses_and_paths_are_normalised() {
    let f = parse_spec_toml(&fixture("all-keys.toml"), Path::new("x")).unwrap();
    let want = Settings {
        root: Some(RootPolicy::Any),
        on_violation: Some(ViolationPolicy::Warn),
        require_non_root: Some(true),
        warn_at: Some(70),
        act_at: Some(90),
        limit_action: Some(LimitAction::Signal(libc::SIGUSR1)),
        grace: Some(Duration::from_secs(30)),
        on_tamper: Some(TamperPolicy::Stop),
        ephemeral_limit: Some(2 << 30),
        rescan: Some(Duration::from_secs(300)),
        rewrite: vec![
            (libc::SIGTERM, libc::SIGQUIT),
            (libc::SIGUSR1, libc::SIGTERM),
        ],
        remap_exit: vec![(143, 0), (1, 2)],
        pdeathsig: Some(libc::SIGKILL),
        ..Settings::default()
    };
    assert_eq!(f.settings, want);
    assert_eq!(
        f.mounts,
        vec![
            m(Tmpfs, "/dev/shm", Some("1Gi")),
            m(Pvc, "/var/lib/pg", Some("50Gi")),
            MountSpec {
                allow_exec: true,
                ..m(EmptyDir, "/tmp", None)
            },
            m(Secret, "/etc/tls", None),
            m(ReadOnly, "/etc/app", None),
        ]
    );
}

#[test]
fn all_keys_round_trip_through_render() {
    let f = parse_spec_toml(&fixture("all-keys.toml"), Path::new("x")).unwrap();
    let r = merge([&f]);
    let text = render_toml(&r.spec, &r.settings);
    let back = parse_spec_toml(&text, Path::new("y")).unwrap();
    assert_eq!(back, f, "{text}");
}

#[test]
fn empty_file_is_an_empty_contract() {
    let f = parse_spec_toml("# nothing\n", Path::new("x")).unwrap();
    assert_eq!(f, SpecFile::default());
}

/// (case, text, line, key, expected contains, found contains)
type ErrCase = (
    &'static str,
    String,
    usize,
    &'static str,
    &'static str,
    &'static str,
);

fn mount_with(extra: &str) -> String {
    format!("[[mount]]\npath = \"/tmp\"\nkind = \"emptydir\"\n{extra}\n")
}

#[test]
#[rustfmt::skip]
fn errors_name_file_line_key_expected_and_found() {
    let cases: Vec<ErrCase> = vec![
        ("unknown top-level key", "rot = \"any\"".into(), 1, "rot", "one of root, on_violation", "an unknown key"),
        ("unknown key on line 3", "\n# c\nfoo = 1".into(), 3, "foo", "[[mount]]", "an unknown key"),
        ("[mounts] typo for [[mount]]", "[mounts]\npath = \"/x\"".into(), 1, "mounts", "one of root", "an unknown key"),
        ("root wrong type", "root = 1".into(), 1, "root", "a string: read-only or any", "integer 1"),
        ("root bad value", "root = \"readonly\"".into(), 1, "root", "read-only or any", "string \"readonly\""),
        ("on_violation bad value", "on_violation = \"ignore\"".into(), 1, "on_violation", "fail or warn", "\"ignore\""),
        ("require_non_root wrong type", "require_non_root = \"yes\"".into(), 1, "require_non_root", "true or false", "string \"yes\""),
        ("warn_at zero", "warn_at = 0".into(), 1, "warn_at", "from 1 to 100", "integer 0"),
        ("warn_at above 100", "warn_at = 101".into(), 1, "warn_at", "from 1 to 100", "integer 101"),
        ("warn_at as string", "warn_at = \"80\"".into(), 1, "warn_at", "integer percentage", "string \"80\""),
        ("act_at negative", "act_at = -5".into(), 1, "act_at", "from 1 to 100", "integer -5"),
        ("act_at float", "act_at = 90.5".into(), 1, "act_at", "from 1 to 100", "float 90.5"),
        ("act_at huge", "act_at = 99999999999999999".into(), 1, "act_at", "from 1 to 100", "integer 99999999999999999"),
        ("limit_action bad", "limit_action = \"kill\"".into(), 1, "limit_action", "signal:SIG", "\"kill\""),
        ("limit_action bad signal", "limit_action = \"signal:NOPE\"".into(), 1, "limit_action", "signal:USR1", "\"signal:NOPE\""),
        ("grace bad unit", "grace = \"10x\"".into(), 1, "grace", "a duration like \"10s\"", "string \"10x\""),
        ("grace as integer", "grace = 10".into(), 1, "grace", "a string: a duration", "integer 10"),
        ("on_tamper bad", "on_tamper = \"ignore\"".into(), 1, "on_tamper", "warn or stop", "\"ignore\""),
        ("ephemeral_limit bad size", "ephemeral_limit = \"5GB\"".into(), 1, "ephemeral_limit", "Kubernetes quantity", "\"5GB\""),
        ("ephemeral_limit zero", "ephemeral_limit = \"0\"".into(), 1, "ephemeral_limit", "Kubernetes quantity", "0 bytes"),
        ("rescan below a second", "rescan = \"500ms\"".into(), 1, "rescan", "at least 1s", "string \"500ms\""),
        ("rescan as integer", "\nrescan = 60".into(), 2, "rescan", "a string: a duration of at least 1s", "integer 60"),
        ("rewrite as string", "rewrite = \"TERM:QUIT\"".into(), 1, "rewrite", "an array of signal pairs", "string \"TERM:QUIT\""),
        ("rewrite bad signal", "rewrite = [\"TERM:NOPE\"]".into(), 1, "rewrite", "\"FROM:TO\" like \"TERM:QUIT\"", "got \"TERM:NOPE\""),
        ("rewrite of KILL", "rewrite = [\"KILL:TERM\"]".into(), 1, "rewrite", "signal pairs", "cannot be rewritten"),
        ("rewrite item not a string", "rewrite = [15]".into(), 1, "rewrite", "an array of signal pairs", "integer 15"),
        ("remap_exit out of range", "remap_exit = [\"143:256\"]".into(), 1, "remap_exit", "exit-code pairs", "\"143:256\""),
        ("pdeathsig bad", "pdeathsig = \"DIE\"".into(), 1, "pdeathsig", "a signal name", "string \"DIE\""),
        ("allow_exec wrong type", mount_with("allow_exec = \"yes\""), 4, "mount.allow_exec", "true or false", "string \"yes\""),
        ("mount as string", "mount = \"/tmp\"".into(), 1, "mount", "[[mount]] tables", "string \"/tmp\""),
        ("mount as plain table", "\n[mount]\npath = \"/tmp\"".into(), 2, "mount", "[[mount]] tables", "a table"),
        ("mount array of integers", "mount = [1]".into(), 1, "mount", "[[mount]] tables", "integer 1"),
        ("missing path", "\n[[mount]]\nkind = \"tmpfs\"".into(), 2, "mount.path", "`path` in every [[mount]] table", "none"),
        ("missing kind", "[[mount]]\npath = \"/tmp\"".into(), 1, "mount.kind", "`kind` in every [[mount]] table", "none"),
        ("bad kind", "[[mount]]\npath = \"/tmp\"\nkind = \"emptyDir\"".into(), 3, "mount.kind", "tmpfs, emptydir, pvc, readonly or secret", "string \"emptyDir\""),
        ("kind wrong type", "[[mount]]\npath = \"/tmp\"\nkind = true".into(), 3, "mount.kind", "a string: tmpfs", "boolean true"),
        ("relative path", "[[mount]]\npath = \"tmp\"\nkind = \"tmpfs\"".into(), 2, "mount.path", "an absolute path", "the relative path \"tmp\""),
        ("empty path", "[[mount]]\npath = \"\"\nkind = \"tmpfs\"".into(), 2, "mount.path", "an absolute path", "an empty path"),
        ("dotdot path", "[[mount]]\npath = \"/var/../etc\"\nkind = \"tmpfs\"".into(), 2, "mount.path", "without `..`", "\"/var/../etc\""),
        ("root as mount path", "[[mount]]\npath = \"//\"\nkind = \"tmpfs\"".into(), 2, "mount.path", "the `root` setting", "\"//\""),
        ("NUL in path", "[[mount]]\npath = \"/a\\u0000b\"\nkind = \"tmpfs\"".into(), 2, "mount.path", "an absolute path", "NUL byte"),
        ("path wrong type", "[[mount]]\npath = [\"/tmp\"]\nkind = \"tmpfs\"".into(), 2, "mount.path", "a string", "an array"),
        ("bad size", mount_with("size_limit = \"5 Gi\""), 4, "mount.size_limit", "Kubernetes quantity", "\"5 Gi\""),
        ("size as integer", mount_with("size_limit = 5"), 4, "mount.size_limit", "a string: a Kubernetes quantity", "integer 5"),
        ("zero size", mount_with("size_limit = \"0\""), 4, "mount.size_limit", "Kubernetes quantity", "0 bytes"),
        ("size on readonly", "[[mount]]\npath = \"/etc/x\"\nkind = \"readonly\"\nsize_limit = \"1Mi\"".into(), 4, "mount.size_limit", "no size_limit on a readonly mount", "a size_limit"),
        ("size on secret", "[[mount]]\nsize_limit = \"1Mi\"\npath = \"/etc/x\"\nkind = \"secret\"".into(), 2, "mount.size_limit", "no size_limit on a secret mount", "a size_limit"),
        ("unknown mount key", fixture("bad-unknown-mount-key.toml"), 6, "mount.sizelimit", "path, kind, size_limit or allow_exec", "an unknown key"),
        ("duplicate path after normalisation", fixture("bad-duplicate-path.toml"), 9, "mount.path", "first declared at line 1", "/tmp again"),
        ("first error in source order wins", "zzz = 1\naaa = 2".into(), 1, "zzz", "one of root", "an unknown key"),
        ("syntax error", "root = ".into(), 1, "", "valid TOML", ""),
        ("syntax error line 3", "root = \"any\"\n\nwarn_at = 8 0".into(), 3, "", "valid TOML", ""),
        ("duplicate TOML key", "root = \"any\"\nroot = \"any\"".into(), 2, "", "valid TOML", "duplicate key"),
        ("unterminated string", "\n\n[[mount]]\npath = \"/tmp".into(), 4, "", "valid TOML", ""),
        ("CRLF line endings count", "root = \"any\"\r\nwarn_at = 0\r\n".into(), 2, "warn_at", "from 1 to 100", "integer 0"),
    ];
    for (name, text, line, key, expected, found) in cases {
        let e = match parse_spec_toml(&text, Path::new("/etc/sealinit/spec.toml")) {
            Ok(f) => panic!("{name}: accepted as {f:?}"),
            Err(e) => e,
        };
        assert_eq!(e.file, Path::new("/etc/sealinit/spec.toml"), "{name}: file");
        assert_eq!(e.line, line, "{name}: line ({e})");
        assert_eq!(e.key, key, "{name}: key ({e})");
        assert!(e.expected.contains(expected), "{name}: expected ({e})");
        assert!(e.found.contains(found), "{name}: found ({e})");
        assert!(!e.found.is_empty(), "{name}: found is empty ({e})");
    }
}

#[test]
fn error_display_has_file_line_key() {
    let e = parse_spec_toml("\nroot = \"ro\"", Path::new("spec.toml")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "spec.toml:2: key `root`: expected read-only or any, found string \"ro\""
    );
    let e = parse_spec_toml("root = ", Path::new("spec.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("spec.toml:1: expected valid TOML, found "),
        "{e}"
    );
}

#[test]
fn hostile_toml_is_an_error_not_a_crash() {
    let deep_arrays = format!("a = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_tables = format!("a = {}", "{b = ".repeat(50_000));
    let long_key = format!("{} = 1", "k".repeat(200_000));
    let many_mounts: String = (0..5000)
        .map(|i| format!("[[mount]]\npath = \"/m/{i}\"\nkind = \"emptydir\"\n"))
        .collect();
    for (name, text) in [
        ("deeply nested arrays", deep_arrays),
        ("deeply nested inline tables", deep_tables),
        ("200k-byte key", long_key),
        ("only control bytes", "\u{1}\u{2}\u{7f}".to_string()),
        ("BOM then key", "\u{feff}root = \"any\"".to_string()),
    ] {
        // Any result is fine; the test fails on a panic or stack overflow.
        let _ = parse_spec_toml(&text, Path::new(name));
    }
    let f = parse_spec_toml(&many_mounts, Path::new("many")).unwrap();
    assert_eq!(f.mounts.len(), 5000);
}

#[test]
#[rustfmt::skip]
fn path_normalisation() {
    let cases: &[(&str, &str, Result<&str, &str>)] = &[
        ("plain", "/tmp", Ok("/tmp")),
        ("trailing slash", "/tmp/", Ok("/tmp")),
        ("doubled slashes", "//var//run///", Ok("/var/run")),
        ("dot components", "/./var/./run/.", Ok("/var/run")),
        ("spaces kept", "/my dir/x ", Ok("/my dir/x ")),
        ("relative", "tmp", Err("relative")),
        ("dot relative", "./tmp", Err("relative")),
        ("empty", "", Err("empty")),
        ("dotdot", "/a/../b", Err("..")),
        ("trailing dotdot", "/a/..", Err("..")),
        ("root", "/", Err("root")),
        ("root dot", "/./", Err("root")),
        ("nul", "/a\0", Err("NUL")),
    ];
    for (name, input, want) in cases {
        match (normalize_path(input), want) {
            (Ok(p), Ok(w)) => assert_eq!(p, Path::new(w), "{name}"),
            (Err(e), Err(w)) => assert!(e.contains(w), "{name}: {e}"),
            (got, _) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn mounts_env_parses() {
    let cases: &[(&str, &str, Vec<MountSpec>)] = &[
        ("empty value", "", vec![]),
        ("only spaces", "  ", vec![]),
        (
            "example from DESIGN.md",
            "tmpfs:/dev/shm:1Gi,emptydir:/tmp:500Mi,readonly:/etc/nginx",
            vec![
                m(Tmpfs, "/dev/shm", Some("1Gi")),
                m(EmptyDir, "/tmp", Some("500Mi")),
                m(ReadOnly, "/etc/nginx", None),
            ],
        ),
        (
            "whitespace and newlines around items",
            " pvc:/data:20Gi ,\n secret:/etc/tls/ ",
            vec![m(Pvc, "/data", Some("20Gi")), m(Secret, "/etc/tls", None)],
        ),
        (
            "writable kind without size",
            "emptydir:/tmp",
            vec![m(EmptyDir, "/tmp", None)],
        ),
    ];
    for (name, input, want) in cases {
        assert_eq!(parse_mounts_env(input).as_ref(), Ok(want), "{name}");
    }
}

#[test]
#[rustfmt::skip]
fn mounts_env_errors_say_where_and_what() {
    // (case, input, fragments the message must contain)
    let cases: &[(&str, &str, &[&str])] = &[
        ("trailing comma", "tmpfs:/a,emptydir:/b,", &["item 3", "byte 21", "empty item", "e.g. tmpfs:/dev/shm:1Gi"]),
        ("leading comma", ",tmpfs:/a", &["item 1", "byte 0", "empty item"]),
        ("double comma", "tmpfs:/a,,pvc:/b", &["item 2", "byte 9", "empty item"]),
        ("no colon", "tmpfs/dev/shm", &["item 1", "expected KIND:PATH[:SIZE]", "e.g. emptydir:/tmp:500Mi"]),
        ("bad kind", "ramdisk:/tmp", &["item 1", "expected a kind", "\"ramdisk\""]),
        ("relative path", "emptydir:tmp:1Gi", &["absolute path", "relative"]),
        ("colon in path", "emptydir:/a:b:1Gi", &["more than one ':'", "cannot be given in SEALINIT_MOUNTS", "spec file"]),
        ("size on readonly", "readonly:/etc/x:1Gi", &["readonly mount has no size", "/etc/x"]),
        ("bad size", "tmpfs:/dev/shm:lots", &["Kubernetes quantity", "\"lots\""]),
        ("empty size", "tmpfs:/dev/shm:", &["a size after ':'", "found nothing"]),
        ("zero size", "tmpfs:/dev/shm:0", &["0 bytes"]),
        ("duplicate path", "tmpfs:/tmp,emptydir:/tmp/", &["item 2", "each path once", "/tmp declared again"]),
        ("dotdot", "tmpfs:/a/../b", &["without `..`"]),
    ];
    for (name, input, frags) in cases {
        let e = parse_mounts_env(input).expect_err(name);
        assert!(e.starts_with("SEALINIT_MOUNTS item"), "{name}: {e}");
        for f in *frags {
            assert!(e.contains(f), "{name}: {f:?} not in {e:?}");
        }
    }
}

/// (case, kind, value, parsed mount or fragments of the error)
type FlagCase = (
    &'static str,
    MountKind,
    &'static str,
    Result<MountSpec, &'static [&'static str]>,
);

#[test]
#[rustfmt::skip]
fn mount_flags() {
    let cases: &[FlagCase] = &[
        ("tmpfs with size", Tmpfs, "/dev/shm:1Gi", Ok(m(Tmpfs, "/dev/shm", Some("1Gi")))),
        ("pvc without size", Pvc, "/data/", Ok(m(Pvc, "/data", None))),
        ("readonly", ReadOnly, "/etc/nginx", Ok(m(ReadOnly, "/etc/nginx", None))),
        ("secret with size", Secret, "/etc/tls:1Mi", Err(&["--secret \"/etc/tls:1Mi\"", "secret mount has no size"])),
        ("colon in path", EmptyDir, "/a:b:1Gi", Err(&["--emptydir", "cannot be given in --emptydir", "like /tmp:500Mi"])),
        ("relative", Tmpfs, "shm:1Gi", Err(&["--tmpfs", "absolute path"])),
        ("empty value", Pvc, "", Err(&["--pvc \"\"", "an empty path"])),
        ("bad size", Tmpfs, "/dev/shm:1GB", Err(&["--tmpfs", "Kubernetes quantity", "\"1GB\""])),
        ("empty size", EmptyDir, "/tmp:", Err(&["a size after ':' like /tmp:500Mi"])),
    ];
    for (name, kind, input, want) in cases {
        match (parse_mount_flag(*kind, input), want) {
            (Ok(got), Ok(w)) => assert_eq!(&got, w, "{name}"),
            (Err(e), Err(frags)) => {
                for f in *frags {
                    assert!(e.contains(f), "{name}: {f:?} not in {e:?}");
                }
            }
            (got, _) => panic!("{name}: got {got:?}"),
        }
    }
}

#[test]
fn later_sources_override_per_path_keeping_first_position() {
    let profile = SpecFile {
        settings: Settings {
            ephemeral_limit: Some(5),
            warn_at: Some(50),
            ..Settings::default()
        },
        mounts: vec![
            m(Pvc, "/data", Some("50Gi")),
            m(EmptyDir, "/tmp", Some("5Gi")),
            m(Tmpfs, "/dev/shm", Some("1Gi")),
        ],
    };
    let file = SpecFile {
        settings: Settings {
            root: Some(RootPolicy::Any),
            warn_at: Some(60),
            act_at: Some(90),
            ..Settings::default()
        },
        mounts: vec![m(Tmpfs, "/tmp", Some("1Gi")), m(ReadOnly, "/etc/x", None)],
    };
    let env = SpecFile {
        settings: Settings {
            warn_at: Some(70),
            on_violation: Some(ViolationPolicy::Warn),
            ..Settings::default()
        },
        mounts: vec![m(EmptyDir, "/data", None)],
    };
    let flags = SpecFile {
        settings: Settings {
            warn_at: Some(75),
            ..Settings::default()
        },
        mounts: vec![
            m(EmptyDir, "/tmp", Some("2Gi")),
            m(Secret, "/etc/tls", None),
        ],
    };
    let r = merge([&profile, &file, &env, &flags]);
    assert_eq!(
        r.spec.mounts,
        vec![
            m(EmptyDir, "/data", None),        // env replaced the profile's pvc
            m(EmptyDir, "/tmp", Some("2Gi")),  // profile → file → flags
            m(Tmpfs, "/dev/shm", Some("1Gi")), // profile only
            m(ReadOnly, "/etc/x", None),       // file
            m(Secret, "/etc/tls", None),       // flags
        ]
    );
    assert_eq!(r.spec.root, RootPolicy::Any, "file sets root");
    assert_eq!(
        r.spec.on_violation,
        ViolationPolicy::Warn,
        "env sets on_violation"
    );
    assert!(!r.spec.require_non_root, "default");
    let want = Settings {
        root: Some(RootPolicy::Any),
        on_violation: Some(ViolationPolicy::Warn),
        warn_at: Some(75),
        act_at: Some(90),
        ephemeral_limit: Some(5),
        ..Settings::default()
    };
    assert_eq!(r.settings, want);
}

#[test]
fn nothing_declared_resolves_to_defaults() {
    let r = merge([]);
    assert_eq!(r.spec, Spec::default());
    assert_eq!(r.settings, Settings::default());
    let mut eff = Settings::defaults();
    eff.overlay(&r.settings);
    assert_eq!(eff.warn_at, Some(80));
    assert_eq!(eff.act_at, Some(95));
    assert_eq!(eff.grace, Some(Duration::from_secs(10)));
    assert_eq!(eff.limit_action, Some(LimitAction::Warn));
}

#[test]
fn overlay_takes_only_what_is_set() {
    let mut base = Settings::defaults();
    base.overlay(&Settings {
        grace: Some(Duration::from_secs(3)),
        require_non_root: Some(true),
        ..Settings::default()
    });
    assert_eq!(base.grace, Some(Duration::from_secs(3)));
    assert_eq!(base.require_non_root, Some(true));
    assert_eq!(base.warn_at, Some(DEFAULT_WARN_AT), "unset field kept");
}

#[test]
#[rustfmt::skip]
fn duplicate_paths_within_one_source() {
    let cases: &[(&str, Vec<MountSpec>, Option<&str>)] = &[
        ("none", vec![m(Tmpfs, "/a", None), m(Pvc, "/b", None)], None),
        ("second repeats first", vec![m(Tmpfs, "/a", None), m(Pvc, "/a", None)], Some("/a")),
        ("empty", vec![], None),
    ];
    for (name, mounts, want) in cases {
        assert_eq!(duplicate_path(mounts), want.map(Path::new), "{name}");
    }
}

/// A cheap deterministic stand-in for the fuzzer until issue 8's targets
/// exist: mutated fixtures and env values must never panic.
#[test]
fn mutated_inputs_never_panic() {
    let mut seed: u64 = 0x5ea1_1417;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"[]{}=\"',:./\\\n\t #0123456789abkmpGiMsu\x00\xff";
    let bases = [
        fixture("all-keys.toml"),
        fixture("design-example.toml"),
        "tmpfs:/dev/shm:1Gi,emptydir:/tmp:500Mi,readonly:/etc/nginx".to_string(),
    ];
    for round in 0..3000 {
        let mut bytes = bases[round % bases.len()].clone().into_bytes();
        for _ in 0..1 + next() % 8 {
            let pos = (next() as usize) % (bytes.len() + 1);
            let b = alphabet[(next() as usize) % alphabet.len()];
            match next() % 3 {
                0 if pos < bytes.len() => bytes[pos] = b,
                1 if pos < bytes.len() => {
                    bytes.remove(pos);
                }
                _ => bytes.insert(pos, b),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(f) = parse_spec_toml(&text, Path::new("mutant")) {
            // Whatever parses must survive --print-spec unchanged.
            let r = merge([&f]);
            let printed = render_toml(&r.spec, &r.settings);
            let back = parse_spec_toml(&printed, Path::new("printed"))
                .unwrap_or_else(|e| panic!("{e}\n{printed}"));
            assert_eq!(back.mounts, f.mounts, "{printed}");
            assert_eq!(merge([&back]).spec, r.spec, "{printed}");
        }
        let _ = parse_mounts_env(&text);
        let _ = parse_mount_flag(Tmpfs, &text);
    }
}
