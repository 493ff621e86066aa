//! Hostile and broken environments, black-box against the real binary.
//!
//! Each case must end in a clear message and a defined exit code before the
//! workload is spawned (or a logged event after), never a panic or a hang:
//! every run goes through a watchdog and every stderr is checked for
//! "panicked".
//!
//! Cases that need mounts run in a private mount namespace: the outer
//! `#[test]` re-runs this test binary under `unshare -m --propagation
//! private`, filtered to the matching `inner_*` test, which builds the
//! mounts and runs sealinit (the inner tests are `#[ignore]`d and fail without
//! `SEALINIT_HOSTILE_SCRATCH`). Fails, saying so, when not root.

mod common;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use common::{bin, run, show, unwrapped};
use nix::mount::{mount, umount2, MntFlags, MsFlags};

const SCRATCH_ENV: &str = "SEALINIT_HOSTILE_SCRATCH";
/// Why an inner half fails when run without its outer test.
const INNER_ONLY: &str =
    "an inner half: run it through its outer test, which sets the scratch directory";
/// The unprivileged uid/gid of distroless images (`nonroot`).
const NONROOT: u32 = 65532;

// ---------------------------------------------------------------------------
// Harness

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Runs `inner` in a private mount namespace (plus `extra` unshare flags)
/// and fails with its output when it fails or did not run.
fn in_namespace(inner: &str, extra: &[&str]) {
    assert!(
        is_root(),
        "{inner} needs root for mount namespaces (run the tests as root)"
    );
    // Under the system temp directory, not the target directory: the
    // unprivileged cases need every component of the path traversable by
    // NONROOT, whatever the checkout's location.
    let scratch =
        std::env::temp_dir().join(format!("sealinit-hostile-{inner}-{}", std::process::id()));
    fs::create_dir_all(&scratch).expect("create scratch");
    fs::set_permissions(&scratch, fs::Permissions::from_mode(0o755)).expect("chmod scratch");
    let (stdout, _) = common::rerun_in_mount_ns(inner, &scratch, SCRATCH_ENV, extra, &[]);
    // The inner test's own report (timings), shown with --nocapture.
    print!("{stdout}");
}

/// Inside the namespace: a fresh tmpfs at `<scratch>/t` to build in.
fn inner_base() -> Option<PathBuf> {
    let scratch = PathBuf::from(std::env::var_os(SCRATCH_ENV).expect(INNER_ONLY));
    let base = scratch.join("t");
    common::mount_hardened_tmpfs(&base, "size=16m,mode=0755");
    Some(base)
}

/// A copy of the binary that NONROOT can run: on its own exec-allowed tmpfs
/// under `base` (the target directory may be below a 0700 home).
fn nonroot_bin(base: &Path) -> PathBuf {
    let dir = base.join("bin");
    fs::create_dir_all(&dir).expect("mkdir");
    mount(
        Some("tmpfs"),
        &dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("size=64m,mode=0755"),
    )
    .expect("mount exec tmpfs");
    let exe = dir.join("sealinit");
    fs::copy(bin(), &exe).expect("copy sealinit");
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o755)).expect("chmod");
    exe
}

/// sealinit with `args`, run to completion under the harness watchdog.
fn sealinit<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(bin());
    c.args(args);
    run(c)
}

/// The same, as `uid`/`gid` with no supplementary groups.
fn sealinit_as<I, S>(exe: &Path, uid: u32, args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut c = Command::new(exe);
    c.args(args).uid(uid).gid(uid);
    run(c)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The exit code, no panic, and every stderr line carries the prefix (text
/// mode) or is one JSON object (json mode).
fn expect_code(out: &Output, code: i32, what: &str) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "{what}: panic\n{}", show(out));
    assert_eq!(out.status.code(), Some(code), "{what}\n{}", show(out));
    for line in err.lines() {
        assert!(
            line.starts_with("sealinit:") || line.starts_with('{'),
            "{what}: stderr line without the sealinit prefix: {line:?}\n{}",
            show(out)
        );
    }
}

/// A scratch directory outside any namespace (no root needed).
fn tempdir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hostile-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).expect("mkdir");
    d
}

/// Every JSON `check` event of stderr whose `path` is `path`.
fn check_events<'a>(err: &'a str, path: &str) -> Vec<&'a str> {
    let key = format!("\"path\":\"{path}\"");
    common::events(err, "check")
        .into_iter()
        .filter(|l| l.contains(&key))
        .collect()
}

// ---------------------------------------------------------------------------
// Mount paths with spaces, tabs, newlines, backslashes and non-UTF-8 bytes

/// The awkward names, as raw bytes (the last one is not UTF-8).
fn awkward_names() -> Vec<OsString> {
    [
        &b"with space"[..],
        b"tab\there",
        b"new\nline",
        b"back\\slash",
        b"octal\\040lookalike",
        b"caf\xe9",
    ]
    .iter()
    .map(|b| OsString::from_vec(b.to_vec()))
    .collect()
}

#[test]
fn awkward_mount_paths() {
    in_namespace("inner_awkward_mount_paths", &[]);
}

#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_awkward_mount_paths() {
    let Some(base) = inner_base() else { return };
    let paths: Vec<PathBuf> = awkward_names().iter().map(|n| base.join(n)).collect();
    for p in &paths {
        common::mount_hardened_tmpfs(p, "size=1m,mode=0755");
    }

    // `sealinit mounts`: one table row per mount, awkward bytes escaped.
    let out = sealinit(["mounts"]);
    expect_code(&out, 0, "sealinit mounts");
    let table = stdout(&out);
    let b = base.display();
    for shown in [
        format!("{b}/with space  "),
        format!("{b}/tab\\011here  "),
        format!("{b}/new\\012line  "),
        format!("{b}/back\\134slash  "),
        format!("{b}/octal\\134040lookalike  "),
        format!("{b}/caf\\351  "),
    ] {
        assert!(
            table.lines().any(|l| l.starts_with(&shown)),
            "no row starting {shown:?}\n{table}"
        );
    }
    for line in table.lines() {
        assert!(!line.contains('\t'), "raw tab in the table: {line:?}");
    }

    // JSON: one object per line, control characters escaped.
    let out = sealinit(["mounts", "--log-format", "json"]);
    expect_code(&out, 0, "sealinit mounts --log-format json");
    let json = stdout(&out);
    for line in json.lines() {
        assert!(line.starts_with('{') && line.ends_with('}'), "{line:?}");
    }
    assert!(json.contains("/new\\nline\""), "{json}");
    assert!(json.contains("/tab\\there\""), "{json}");
    assert!(json.contains("/back\\\\slash\""), "{json}");

    // `check --tmpfs PATH` for every UTF-8 name: the path is found and passes.
    for p in paths.iter().filter(|p| p.to_str().is_some()) {
        let flag = format!("--tmpfs={}:1Mi", p.display());
        let out = sealinit([
            "check",
            "--root",
            "any",
            "--log-format",
            "json",
            flag.as_str(),
        ]);
        expect_code(&out, 0, &format!("check {flag:?}"));
    }
    // The same paths supervised: the watcher follows them, the workload runs.
    let mut args: Vec<OsString> = vec!["--root".into(), "any".into()];
    for p in paths.iter().filter(|p| p.to_str().is_some()) {
        args.push(format!("--tmpfs={}:1Mi", p.display()).into());
    }
    args.extend(["--", "sh", "-c", "exit 7"].map(OsString::from));
    expect_code(&sealinit(&args), 7, "supervised awkward paths");

    // A non-UTF-8 path cannot be declared on the command line: usage error.
    let mut flag = OsString::from("--tmpfs=");
    flag.push(&paths[5]);
    let out = sealinit([OsStr::new("check"), &flag]);
    expect_code(&out, 64, "non-UTF-8 --tmpfs");
    assert!(stderr(&out).contains("not valid UTF-8"), "{}", show(&out));
    // Nor in the environment.
    let mut c = Command::new(bin());
    c.arg("check")
        .env(OsStr::new("SEALINIT_TMPFS"), paths[5].as_os_str());
    let out = run(c);
    expect_code(&out, 64, "non-UTF-8 SEALINIT_TMPFS");
    assert!(stderr(&out).contains("SEALINIT_TMPFS"), "{}", show(&out));
}

// ---------------------------------------------------------------------------
// 10,000 mounts

#[test]
fn ten_thousand_mounts() {
    in_namespace("inner_ten_thousand_mounts", &[]);
}

#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_ten_thousand_mounts() {
    let Some(base) = inner_base() else { return };
    const N: usize = 10_000;
    let target = base.join("stack");
    fs::create_dir_all(&target).expect("mkdir");
    let src = base.join("src");
    common::mount_hardened_tmpfs(&src, "size=1m");
    let spread = base.join("spread");
    let t = Instant::now();
    // One tmpfs bound N/2 times on one directory (stacked) and N/2 times on
    // distinct directories (the worst case for "is this mount visible").
    for i in 0..N {
        let at = if i % 2 == 0 {
            target.clone()
        } else {
            let d = spread.join(i.to_string());
            fs::create_dir_all(&d).expect("mkdir");
            d
        };
        mount(
            Some(&src),
            &at,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .expect("bind");
    }
    println!("mounted {N} binds in {:?}", t.elapsed());
    let text = fs::read("/proc/self/mountinfo").expect("read mountinfo");
    let t = Instant::now();
    let table = sealinit::core::mounts::mountinfo::MountTable::parse(&text).expect("parse");
    println!(
        "parse of {} lines ({} bytes): {:?}",
        table.len(),
        text.len(),
        t.elapsed()
    );
    assert!(table.len() > N);

    let t = Instant::now();
    let out = sealinit(["mounts"]);
    println!("sealinit mounts: {:?}", t.elapsed());
    expect_code(&out, 0, "mounts");
    let flag = format!("--tmpfs={}", target.display());
    let t = Instant::now();
    let out = sealinit(["check", "--root", "any", flag.as_str()]);
    println!("sealinit check: {:?}", t.elapsed());
    expect_code(&out, 0, "check");
    let t = Instant::now();
    let out = sealinit(["--root", "any", flag.as_str(), "--", "true"]);
    println!("sealinit -- true: {:?}", t.elapsed());
    expect_code(&out, 0, "run");
    // The namespace goes away with the inner test process.
}

// ---------------------------------------------------------------------------
// /proc not mounted, or mounted with hidepid=2

#[test]
fn proc_not_mounted() {
    in_namespace("inner_proc_not_mounted", &[]);
}

#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_proc_not_mounted() {
    let Some(base) = inner_base() else { return };
    let data = base.join("data");
    fs::create_dir_all(&data).expect("mkdir");
    umount2("/proc", MntFlags::MNT_DETACH).expect("umount /proc");
    assert!(!Path::new("/proc/self").exists(), "/proc still there");
    let flag = format!("--emptydir={}", data.display());

    let out = sealinit(["mounts"]);
    expect_code(&out, 71, "mounts without /proc");
    assert!(
        stderr(&out).contains("cannot read /proc/self/mountinfo"),
        "{}",
        show(&out)
    );
    // check: the unreadable table is a failing finding with a fix.
    let out = sealinit(["check", "--root", "any", flag.as_str()]);
    expect_code(&out, 1, "check without /proc");
    assert!(stdout(&out).contains("mount /proc"), "{}", show(&out));
    // run with no contract (a plain init, as tini): nothing is judged
    // against the table, so it starts, silently.
    let out = sealinit(["--root", "any", "--", "sh", "-c", "echo RAN"]);
    expect_code(&out, 0, "plain init without /proc");
    assert!(stdout(&out).contains("RAN"), "{}", show(&out));
    assert!(!stderr(&out).contains("mountinfo"), "{}", show(&out));
    // run with a contract: refused before the spawn (78), or started under
    // warn.
    let out = sealinit(["--root", "any", flag.as_str(), "--", "sh", "-c", "echo RAN"]);
    expect_code(&out, 78, "run without /proc");
    assert!(
        !stdout(&out).contains("RAN"),
        "workload ran\n{}",
        show(&out)
    );
    let out = sealinit([
        "--root",
        "any",
        "--on-violation",
        "warn",
        "--grace",
        "2s",
        flag.as_str(),
        "--",
        "sh",
        "-c",
        "sleep 0 & exit 9",
    ]);
    expect_code(&out, 9, "run without /proc under warn");
    // An orphan that outlives the workload: without /proc it cannot be
    // listed, so the workload's process group is signalled (this hung
    // before: shutdown thought nothing was left and waited forever).
    let out = sealinit([
        "--root",
        "any",
        "--on-violation",
        "warn",
        "--grace",
        "2s",
        "--",
        "sh",
        "-c",
        "sleep 1000 & exit 8",
    ]);
    expect_code(&out, 8, "orphan without /proc");
    assert!(
        stderr(&out).contains("cannot list the remaining processes"),
        "{}",
        show(&out)
    );
}

#[test]
fn proc_with_hidepid_as_nonroot() {
    in_namespace("inner_proc_with_hidepid_as_nonroot", &[]);
}

#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_proc_with_hidepid_as_nonroot() {
    let Some(base) = inner_base() else { return };
    let exe = nonroot_bin(&base);
    let data = base.join("data");
    common::mount_hardened_tmpfs(
        &data,
        &format!("size=1m,uid={NONROOT},gid={NONROOT},mode=0700"),
    );
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("hidepid=2"),
    )
    .expect("mount proc hidepid=2");
    let mi = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(
        mi.lines()
            .any(|l| l.contains(" /proc ") && l.contains("hidepid=")),
        "no hidepid proc mount:\n{mi}"
    );
    // As NONROOT, other users' processes are hidden: pid 1 is not listed.
    let mut c = Command::new("sh");
    c.args([
        "-c",
        "ls /proc/1/ >/dev/null 2>&1 && echo visible || echo hidden",
    ])
    .uid(NONROOT)
    .gid(NONROOT);
    assert_eq!(stdout(&run(c)).trim(), "hidden", "hidepid=2 not in effect");
    let flag = format!("--tmpfs={}:1Mi", data.display());
    let out = sealinit_as(&exe, NONROOT, ["mounts"]);
    expect_code(&out, 0, "mounts under hidepid=2");
    assert!(
        stdout(&out).contains(&*data.to_string_lossy()),
        "{}",
        show(&out)
    );
    let out = sealinit_as(&exe, NONROOT, ["check", "--root", "any", flag.as_str()]);
    expect_code(&out, 0, "check under hidepid=2");
    let out = sealinit_as(
        &exe,
        NONROOT,
        [
            "--root",
            "any",
            flag.as_str(),
            "--",
            "sh",
            "-c",
            "sleep 0 & exit 4",
        ],
    );
    expect_code(&out, 4, "run under hidepid=2");
}

// ---------------------------------------------------------------------------
// A declared path that is a symlink (`/var/run` -> `/run`)

/// Resolution: a declared path is checked where the kernel resolves it for
/// the workload, i.e. at the symlink's target, because mountinfo lists the
/// target; the `check` event's `observed` text says so ("via symlink to
/// ..."). A dangling symlink fails.
#[test]
fn declared_symlink_is_checked_at_its_target() {
    in_namespace("inner_declared_symlink_is_checked_at_its_target", &[]);
}

#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_declared_symlink_is_checked_at_its_target() {
    let Some(base) = inner_base() else { return };
    let run_dir = base.join("run");
    common::mount_hardened_tmpfs(&run_dir, "size=1m,mode=0755");
    let var = base.join("var");
    fs::create_dir_all(&var).expect("mkdir");
    let var_run = var.join("run");
    std::os::unix::fs::symlink("../run", &var_run).expect("symlink");
    let dangling = var.join("lock");
    std::os::unix::fs::symlink("../nowhere", &dangling).expect("symlink");

    let link = var_run.display().to_string();
    let out = sealinit([
        "check",
        "--root",
        "any",
        "--log-format",
        "json",
        &format!("--tmpfs={link}:1Mi"),
    ]);
    expect_code(&out, 0, "check through a symlink");
    let err = stdout(&out); // the report
    let events = check_events(&err, &link);
    let via = format!("via symlink to {}", run_dir.display());
    assert!(
        events
            .iter()
            .any(|e| e.contains("\"verdict\":\"pass\"") && e.contains(&via)),
        "no passing check of {link} saying {via:?}\n{err}"
    );

    let out = sealinit([
        "check",
        "--root",
        "any",
        "--log-format",
        "json",
        &format!("--emptydir={}", dangling.display()),
    ]);
    expect_code(&out, 1, "check of a dangling symlink");
    assert!(stdout(&out).contains("dangling symlink"), "{}", show(&out));
}

// ---------------------------------------------------------------------------
// A spec file that is huge, binary, a FIFO or a device

#[test]
fn hostile_spec_files_are_usage_errors() {
    let d = tempdir("spec");
    let huge = d.join("huge.toml");
    let mut text = String::from("root = \"any\"\n");
    while text.len() <= 2 << 20 {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    fs::write(&huge, text).expect("write");
    let binary = d.join("binary.toml");
    fs::write(&binary, b"\x7fELF\x02\x01\x01\0\0\0\0\0").expect("write");
    let latin1 = d.join("latin1.toml");
    fs::write(&latin1, b"root = \"caf\xe9\"\n").expect("write");
    let fifo = d.join("fifo.toml");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let dir = d.join("dir.toml");
    fs::create_dir_all(&dir).expect("mkdir");

    let cases: [(&Path, &str); 6] = [
        (&huge, "limit for a spec file"),
        (&binary, "is binary"),
        (&latin1, "UTF-8"),
        (&fifo, "is a FIFO"),
        (&dir, "is a directory"),
        (Path::new("/dev/zero"), "not a regular file"),
    ];
    for (path, want) in cases {
        for args in [
            vec![OsStr::new("check"), OsStr::new("--spec"), path.as_os_str()],
            vec![
                OsStr::new("--spec"),
                path.as_os_str(),
                OsStr::new("--"),
                OsStr::new("true"),
            ],
        ] {
            let out = sealinit(&args);
            let what = format!("{args:?}");
            expect_code(&out, 64, &what);
            let err = unwrapped(&stderr(&out));
            assert!(
                err.contains(&*path.to_string_lossy()) && err.contains(want),
                "{what}: expected the path and {want:?}\n{}",
                show(&out)
            );
            // The file's contents are never echoed.
            assert!(!err.contains("padding"), "{what}: content echoed\n{err}");
            assert!(!err.contains("ELF"), "{what}: content echoed\n{err}");
        }
    }
    let _ = fs::remove_dir_all(&d);
}

// ---------------------------------------------------------------------------
// Environment variables with invalid values

#[test]
fn invalid_env_values_are_usage_errors_naming_the_variable() {
    let cases: &[(&str, &[u8])] = &[
        ("SEALINIT_GRACE", b"forever"),
        ("SEALINIT_WARN_AT", b"150"),
        ("SEALINIT_ACT_AT", b"-1"),
        ("SEALINIT_PGROUP", b"maybe"),
        ("SEALINIT_LOG", b"loud"),
        ("SEALINIT_LOG_FORMAT", b"xml"),
        ("SEALINIT_ROOT", b"sometimes"),
        ("SEALINIT_ON_VIOLATION", b"ignore"),
        ("SEALINIT_LIMIT_ACTION", b"signal:NOPE"),
        ("SEALINIT_ON_TAMPER", b"panic"),
        ("SEALINIT_PROFILE", b"mysql"),
        ("SEALINIT_MOUNTS", b"bogus"),
        ("SEALINIT_MOUNTS", b"tmpfs:/tmp:1Qi"),
        ("SEALINIT_TMPFS", b"relative/path"),
        ("SEALINIT_EMPTYDIR", b"/tmp:99999999999Ei"),
        ("SEALINIT_SPEC", b"/nonexistent/spec.toml"),
        ("SEALINIT_GRACE", b"\xff\xfe"),
    ];
    for (var, value) in cases {
        let value = OsStr::from_bytes(value);
        let mut c = Command::new(bin());
        c.args(["--", "sh", "-c", "echo RAN"]).env(var, value);
        let out = run(c);
        let what = format!("{var}={value:?}");
        expect_code(&out, 64, &what);
        assert!(
            stderr(&out).contains(var),
            "{what}: message does not name {var}\n{}",
            show(&out)
        );
        assert!(!stdout(&out).contains("RAN"), "{what}: workload ran");
    }
}

// ---------------------------------------------------------------------------
// uid 65532 with no capabilities at all

#[test]
fn unprivileged_without_capabilities() {
    in_namespace("inner_unprivileged_without_capabilities", &[]);
}

/// `setpriv` drops every capability (effective, permitted, inheritable,
/// ambient and the bounding set) and the groups. Under that, the checks run
/// (the write probe is the user's own), the workload runs with its code, and
/// sealinit still becomes the subreaper: an orphan of the workload is
/// re-parented to sealinit.
#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_unprivileged_without_capabilities() {
    let Some(base) = inner_base() else { return };
    let exe = nonroot_bin(&base);
    let data = base.join("data");
    common::mount_hardened_tmpfs(
        &data,
        &format!("size=1m,uid={NONROOT},gid={NONROOT},mode=0700"),
    );
    let locked = base.join("locked");
    common::mount_hardened_tmpfs(&locked, "size=1m,mode=0700");
    let setpriv = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65532",
            "--regid=65532",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ])
        .arg(&exe)
        .args(args);
        run(c)
    };
    let data_flag = format!("--tmpfs={}:1Mi", data.display());
    let locked_flag = format!("--tmpfs={}:1Mi", locked.display());
    let out = setpriv(&["check", "--root", "any", &data_flag]);
    expect_code(&out, 0, "check as 65532");
    // A mount root owns: EACCES, said as such.
    let out = setpriv(&["check", "--root", "any", &locked_flag]);
    expect_code(&out, 1, "check of a root-only mount as 65532");
    assert!(stdout(&out).contains("EACCES"), "{}", show(&out));
    // --require-non-root holds.
    let out = setpriv(&["check", "--root", "any", "--require-non-root"]);
    expect_code(&out, 0, "--require-non-root as 65532");

    // Workload: reports its capabilities and an orphan's parent.
    // G (grandchild) waits until its parent M has exited, then prints its
    // new parent pid; the command substitution waits for G's output.
    let g = "m=$1; while :; do p=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$$/status); \
             [ \"$p\" != \"$m\" ] && break; done; echo $p";
    let script = "grep ^CapEff: /proc/self/status; \
                  orphan_parent=$(sh -c 'sh -c \"$G\" g $$ &'); \
                  echo orphan-parent=$orphan_parent; echo sealinit=$PPID; exit 3";
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65532",
        "--regid=65532",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ])
    .arg(&exe)
    .args(["--root", "any", &data_flag, "--", "sh", "-c", script])
    .env("G", g);
    let out = run(c);
    expect_code(&out, 3, "run as 65532");
    let so = stdout(&out);
    assert!(
        so.contains("CapEff:\t0000000000000000"),
        "caps left\n{}",
        show(&out)
    );
    let field = |k: &str| {
        so.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert!(!field("sealinit=").is_empty(), "{}", show(&out));
    assert_eq!(
        field("orphan-parent="),
        field("sealinit="),
        "the orphan was not re-parented to sealinit (subreaper)\n{}",
        show(&out)
    );
}

// ---------------------------------------------------------------------------
// A read-only /dev/shm

#[test]
fn read_only_dev_shm() {
    in_namespace("inner_read_only_dev_shm", &[]);
}

#[test]
#[ignore = "inner half: run by its outer test in a private namespace (--ignored --exact)"]
fn inner_read_only_dev_shm() {
    if inner_base().is_none() {
        return;
    }
    let shm = Path::new("/dev/shm");
    common::mount_hardened_tmpfs(shm, "size=1m,mode=1777");
    mount(
        None::<&str>,
        shm,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .expect("remount /dev/shm ro");
    // Declared writable: a failing check that names the read-only mount.
    let out = sealinit(["check", "--root", "any", "--tmpfs", "/dev/shm:1Mi"]);
    expect_code(&out, 1, "check --tmpfs /dev/shm (ro)");
    let err = stdout(&out); // the report
    assert!(
        err.contains("/dev/shm") && err.contains("EROFS"),
        "{}",
        show(&out)
    );
    let out = sealinit([
        "--root",
        "any",
        "--tmpfs",
        "/dev/shm:1Mi",
        "--",
        "sh",
        "-c",
        "echo RAN",
    ]);
    expect_code(&out, 78, "run with a read-only /dev/shm declared");
    assert!(!stdout(&out).contains("RAN"));
    // Not declared: a platform mount, not the contract's business.
    let out = sealinit(["--root", "any", "--", "sh", "-c", "exit 0"]);
    expect_code(&out, 0, "run with a read-only /dev/shm not declared");
}
