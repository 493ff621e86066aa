//! The start path through the real binary: nothing starts that has nothing
//! to do. Under `--root any` with no mount declared, sealinit supervises
//! with its main thread alone (no tamper thread, no watcher pipe); with a
//! read-only root to keep read-only (the default `--root read-only`) the
//! mount-table watch runs even with no mount declared.

mod common;

use std::fs;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Thread names of `pid`.
fn threads(pid: u32) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(format!("/proc/{pid}/task"))
        .expect("task dir")
        .filter_map(|e| fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect();
    names.sort();
    names
}

/// Waits until sealinit's main thread sits in the supervisor's `poll(2)`
/// (x86-64 syscall 7, or `ppoll` 271) without a deadline: every thread it
/// starts is started by then. (The wait of at most 1 ms for a workload gone
/// at once is a `poll` too, with a timeout of 1 ms.)
fn wait_supervising(pid: u32) {
    let start = Instant::now();
    loop {
        let sc = fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
        let mut fields = sc.split_whitespace();
        let nr = fields.next().unwrap_or("");
        // poll(fds, nfds, timeout): the third argument, -1 for no deadline.
        let timeout = fields.nth(2).unwrap_or("");
        let forever = timeout.ends_with("ffffffff");
        if (nr == "7" && forever) || nr == "271" {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "sealinit never reached its supervision loop ({sc:?})"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stop(mut child: Child) {
    // SAFETY: signalling the child this test spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = child.wait();
}

/// `sh -c script` in a private mount namespace of its own; its output.
fn in_private_ns(script: &str) -> std::process::Output {
    private_ns_command(script).output().expect("run unshare")
}

/// The command that runs `sh -c script` in a private mount namespace.
fn private_ns_command(script: &str) -> Command {
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", script]);
    c
}

/// Waits until `pid` (a shell that execs sealinit) is sealinit, then for
/// its supervision loop.
fn wait_exec_and_supervising(pid: u32) {
    let start = Instant::now();
    while fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sealinit\n" {
        assert!(start.elapsed() < Duration::from_secs(30), "no exec");
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_supervising(pid);
}

/// Descriptors sealinit opened itself, by what they point at: those with
/// `O_CLOEXEC` (anything inherited across its exec lacks it, such as a
/// jobserver pipe of the test harness).
fn own_fds(pid: u32) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .filter_map(|e| {
            let e = e.ok()?;
            let info =
                fs::read_to_string(format!("/proc/{pid}/fdinfo/{}", e.file_name().to_str()?))
                    .ok()?;
            let flags = info
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())?;
            let cloexec = flags & libc::O_CLOEXEC as u32 != 0;
            cloexec.then(|| fs::read_link(e.path()).ok())?
        })
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "the handshake reads x86-64 syscall numbers from /proc/PID/syscall"
)]
fn root_any_with_nothing_declared_starts_no_thread_and_no_pipe() {
    let child = common::sealinit(&["--", "sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sealinit");
    let pid = child.id();
    wait_supervising(pid);
    let names = threads(pid);
    let open = own_fds(pid);
    stop(child);
    assert_eq!(names, vec!["sealinit".to_string()], "threads");
    assert_eq!(
        open,
        vec!["anon_inode:[signalfd]".to_string()],
        "descriptors"
    );
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "the handshake reads x86-64 syscall numbers from /proc/PID/syscall"
)]
fn read_only_root_with_nothing_declared_is_still_watched() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to remount / read-only in a mount namespace");
        return;
    }
    // A private mount namespace whose / is read-only; sealinit (exec'd by
    // the shell, same pid) keeps the default --root read-only.
    let script = format!(
        "mount -o remount,bind,ro / && exec {} --on-violation warn -- sleep 60",
        common::bin()
    );
    let child = private_ns_command(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn unshare");
    let pid = child.id();
    wait_exec_and_supervising(pid);
    let names = threads(pid);
    stop(child);
    assert!(
        names.iter().any(|n| n == "sealinit-tamper"),
        "threads: {names:?}"
    );
}

/// The walk of a disk-backed volume is off the start path (issue 11): the
/// workload is spawned first, and `usage.ready` says afterwards how long the
/// walk took and what it saw. The volume is a bind-mounted directory of a
/// tmpfs (mountinfo root not `/`, so it is walked, like an emptyDir) with
/// 20,000 files in 20 directories; the spawn event is logged by the main
/// thread before the watcher thread exists, so the order is deterministic.
#[test]
fn the_workload_is_spawned_before_the_walk_and_usage_ready_reports_it() {
    const SCRIPT: &str = r#"
set -e
mkdir -p "$S/fs" "$S/ed"
mount -t tmpfs -o size=256m tmpfs "$S/fs"
python3 - "$S/fs/vol" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(20):
    os.makedirs(f"{root}/d{d:02}")
    for f in range(1000):
        open(f"{root}/d{d:02}/f{f:04}", "w").close()
PY
mount --bind "$S/fs/vol" "$S/ed"
"$SEALINIT" -v --log-format json --root any --emptydir "$S/ed" -- sh -c 'sleep 1'
"#;
    assert!(common::is_root(), "this test needs root (CI runs as root)");
    let dir = common::scratch(std::env::temp_dir());
    let out = private_ns_command(SCRIPT)
        .env("S", &dir)
        .env("SEALINIT", common::bin())
        .output()
        .expect("run unshare");
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line_of = |event: &str| {
        stderr
            .lines()
            .position(|l| l.contains(&format!("\"event\":\"{event}\"")))
            .unwrap_or_else(|| panic!("no {event} event\n{}", common::show(&out)))
    };
    assert!(
        line_of("spawn") < line_of("usage.ready"),
        "the workload waited for the walk\n{}",
        common::show(&out)
    );
    let ready = common::events(&stderr, "usage.ready")[0];
    let field = |name: &str| -> u64 {
        let rest = ready
            .split(&format!("\"{name}\":"))
            .nth(1)
            .unwrap_or_else(|| panic!("no {name} in {ready}"));
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name} is not a number in {ready}"))
    };
    // The volume's root, 20 directories and 20,000 files.
    assert!(field("entries") >= 20_021, "{ready}");
    assert!(field("watched_dirs") >= 21, "{ready}");
    let _ = field("duration_ms");
}

/// The write probes' unnamed files are held open past the check (closing
/// one frees an inode, which the workload's start need not wait for) and
/// closed right after the spawn: sealinit holds no file in a declared mount
/// while the workload runs, and the tmpfs's first figure does not count
/// the probe's byte (its page would be 4 KiB of a 1 MiB tmpfs).
#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "the handshake reads x86-64 syscall numbers from /proc/PID/syscall"
)]
fn the_write_probes_files_are_closed_after_the_spawn_before_any_figure() {
    assert!(common::is_root(), "this test needs root (CI runs as root)");
    let dir = common::scratch(std::env::temp_dir());
    let shm = dir.join("shm");
    let script = format!(
        "mkdir -p {shm} && mount -t tmpfs -o size=1m tmpfs {shm} && \
         exec {bin} -vv --log-format json --root any --tmpfs {shm} -- sleep 2",
        shm = shm.display(),
        bin = common::bin()
    );
    let child = private_ns_command(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn unshare");
    let pid = child.id();
    wait_exec_and_supervising(pid);
    let open = own_fds(pid);
    let out = child.wait_with_output().expect("wait sealinit");
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    // The watcher holds the mount's root directory; a probe's file would
    // show as `<mount>/#<inode> (deleted)`.
    let prefix = shm.display().to_string();
    assert!(
        !open.iter().any(|p| p.starts_with(&format!("{prefix}/"))),
        "sealinit still holds files in {prefix}: {open:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let first = common::events(&stderr, "usage")
        .into_iter()
        .find(|l| l.contains(&format!("\"path\":\"{prefix}\"")))
        .unwrap_or_else(|| panic!("no usage event for {prefix}\n{}", common::show(&out)));
    assert!(first.contains("\"used_bytes\":0,"), "{first}");
}

/// A workload gone at once (a short command) leaves nothing to watch: no
/// usage or tamper watch is started, so sealinit's exit does not wait for
/// the kernel to tear an inotify instance down. The workload here is
/// sealinit itself with a bad option (static, exits 64 at once); a loaded
/// machine may take longer than the 1 ms wait, so up to 40 tries are
/// allowed (ending at the first that skips), and every run must keep the
/// workload's code and either skip the watches or start them.
#[test]
fn a_workload_gone_at_once_starts_no_watch() {
    assert!(common::is_root(), "this test needs root (CI runs as root)");
    let dir = common::scratch(std::env::temp_dir());
    let shm = dir.join("shm");
    let script = format!(
        "mkdir -p {shm} && mount -t tmpfs -o size=1m tmpfs {shm} && \
         {bin} -vv --log-format json --root any --tmpfs {shm} -- {bin} --no-such-option; \
         echo \"exit=$?\" >&2",
        shm = shm.display(),
        bin = common::bin()
    );
    let skipped = |run: &str| {
        common::events(run, "watch")
            .iter()
            .any(|l| l.contains("exited at once"))
    };
    let started = |run: &str| {
        common::events(run, "watch")
            .iter()
            .any(|l| l.contains("starting the watches"))
    };
    let mut tries = Vec::new();
    for _ in 0..40 {
        let out = in_private_ns(&script);
        let run = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(run.ends_with("exit=64\n"), "{}", common::show(&out));
        assert!(
            skipped(&run) != started(&run),
            "a run must either skip the watches or start them\n{run}"
        );
        let done = skipped(&run);
        tries.push(run);
        if done {
            break;
        }
    }
    let _ = fs::remove_dir_all(&dir);
    assert!(
        tries.last().is_some_and(|r| skipped(r)),
        "none of {} runs skipped the watches\n{}",
        tries.len(),
        tries.join("\n")
    );
}

/// The write probes' held files take a block and an inode each: every
/// figure the checks judge is read before any probe, so a tmpfs with a
/// single free inode still passes, and runs the workload; and a probe that
/// finds no room because an earlier probe's file holds it (the same tmpfs
/// declared again through a bind mount) asks again without it.
#[test]
fn a_mount_with_one_free_inode_passes_though_its_probe_file_is_held() {
    assert!(common::is_root(), "this test needs root (CI runs as root)");
    let dir = common::scratch(std::env::temp_dir());
    let script = format!(
        "mkdir -p {d}/a {d}/b {d}/c && mount -t tmpfs -o size=1m,nr_inodes=2 tmpfs {d}/a && \
         mount -t tmpfs -o size=1m,nr_inodes=3 tmpfs {d}/b && mkdir {d}/b/sub && \
         mount --bind {d}/a {d}/c && \
         exec {bin} --root any --tmpfs {d}/a --tmpfs {d}/b --tmpfs {d}/c -- true",
        d = dir.display(),
        bin = common::bin()
    );
    let out = in_private_ns(&script);
    let _ = fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
}

/// Descriptors held for the probes are sealinit's own: when they run out
/// (a contract of many mounts under a low `ulimit -n`), the held files are
/// let go and the probe asks again, so no mount is judged by sealinit's own
/// use of descriptors, and the signalfd, made before the checks, never
/// finds the table full. 10 to 20 tmpfs mounts under 16 descriptors.
#[test]
fn many_mounts_under_a_low_descriptor_limit_are_probed_right() {
    assert!(common::is_root(), "this test needs root (CI runs as root)");
    let dir = common::scratch(std::env::temp_dir());
    let script = format!(
        "set -e; for i in $(seq 1 20); do mkdir -p {d}/m$i; \
         mount -t tmpfs -o size=1m tmpfs {d}/m$i; done; \
         for n in $(seq 10 20); do args=; for i in $(seq 1 $n); do args=\"$args --tmpfs {d}/m$i\"; done; \
           ( ulimit -n 16; {bin} --root any $args -- true ) || {{ echo \"mounts=$n exit=$?\" >&2; exit 1; }}; \
         done",
        d = dir.display(),
        bin = common::bin()
    );
    let out = in_private_ns(&script);
    let _ = fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        !stderr.contains("probe") && !stderr.contains("signalfd"),
        "sealinit's own descriptors were taken for a fact, or ran out\n{}",
        common::show(&out)
    );
}

/// A workload that leaves a process behind is not "gone at once": what it
/// started in the background is re-parented to sealinit and runs on (for
/// the grace period at least), so the watches are started for it. (The
/// process left ignores TERM and lives 1 s, so the watch has the time to
/// say it measured.)
#[test]
fn a_workload_that_leaves_a_process_behind_is_watched() {
    assert!(common::is_root(), "this test needs root (CI runs as root)");
    let dir = common::scratch(std::env::temp_dir());
    let shm = dir.join("shm");
    let script = format!(
        "mkdir -p {shm} && mount -t tmpfs -o size=1m tmpfs {shm} && \
         exec {bin} -vv --log-format json --grace 3s --root any --tmpfs {shm} -- \
         sh -c 'trap \"\" TERM; sleep 1 & exit 0'",
        shm = shm.display(),
        bin = common::bin()
    );
    let out = in_private_ns(&script);
    let _ = fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{}", common::show(&out));
    assert!(
        !stderr.contains("exited at once") && stderr.contains("starting the watches"),
        "watches skipped with a process left\n{}",
        common::show(&out)
    );
    assert!(
        !common::events(&stderr, "usage").is_empty(),
        "the mount was not measured\n{}",
        common::show(&out)
    );
}
