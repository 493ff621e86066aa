//! Black-box tests of sealinit as an init: exit codes, signal forwarding,
//! inherited signal state, reaping, graceful shutdown, stdin, static binary.

mod common;

use common::*;
use std::process::{Command, Output, Stdio};

#[test]
fn exit_codes_pass_through_for_all_256_values() {
    // One sealinit per code would take a while; a shell loop keeps it to one
    // process tree per code but all in this test.
    for code in 0..=255 {
        let out = run(sealinit(&["-q", "--", "sh", "-c", &format!("exit {code}")]));
        assert_eq!(out.status.code(), Some(code), "{}", show(&out));
    }
}

#[test]
fn signal_deaths_give_128_plus_n() {
    for (sig, name) in [(1, "HUP"), (9, "KILL"), (15, "TERM"), (10, "USR1")] {
        let out = run(sealinit(&[
            "-q",
            "--",
            "sh",
            "-c",
            &format!("kill -{name} $$"),
        ]));
        assert_eq!(out.status.code(), Some(128 + sig), "{}", show(&out));
    }
}

#[test]
fn not_found_is_127_and_not_executable_is_126_with_the_path() {
    let out = run(sealinit(&["--", "/definitely/not/here"]));
    assert_eq!(out.status.code(), Some(127), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/definitely/not/here") && err.contains("not found"),
        "{err}"
    );

    let dir = tempdir();
    let file = dir.join("data.txt");
    std::fs::write(&file, "not a program").expect("write");
    let out = run(sealinit(&["--", file.to_str().expect("utf8")]));
    assert_eq!(out.status.code(), Some(126), "{}", show(&out));
    let err = unwrapped(&String::from_utf8_lossy(&out.stderr));
    assert!(
        err.contains("data.txt") && err.contains("not executable"),
        "{err}"
    );
}

/// The workload is found and run as execvp(3) does: a bare name through
/// `PATH`, and an executable script without `#!` by `/bin/sh`. Each with
/// its arguments and argv[0] as given.
#[test]
fn the_command_is_looked_up_in_path_and_a_script_without_shebang_runs_in_sh() {
    let dir = tempdir();
    let script = dir.join("plain-script");
    std::fs::write(&script, "echo \"ran $0 with $# args: $*\"\n").expect("write");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!("{}:/usr/bin:/bin", dir.display());
    for argv0 in [script.to_str().expect("utf8"), "plain-script"] {
        let mut cmd = sealinit(&["-q", "--", argv0, "a b", "c"]);
        cmd.env("PATH", &path);
        let out = run(cmd);
        assert_eq!(out.status.code(), Some(0), "{argv0}: {}", show(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("with 2 args: a b c") && stdout.contains("plain-script"),
            "{argv0}: {}",
            show(&out)
        );
    }
}

#[test]
fn usage_errors_exit_64_and_name_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--grace", "soon", "--", "true"], "--grace"),
        (
            &["--limit-action", "explode", "--", "true"],
            "--limit-action",
        ),
        (&["--bogus", "--", "true"], "--bogus"),
        (&["--root", "sometimes", "--", "true"], "--root"),
        (&[], "no command to run"),
    ];
    for (args, want) in cases {
        let mut c = Command::new(bin());
        c.args(*args);
        let out = run(c);
        assert_eq!(out.status.code(), Some(64), "{args:?}\n{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{args:?}\n{}",
            show(&out)
        );
    }
    let mut c = Command::new(bin());
    c.args(["--", "true"]).env("SEALINIT_WARN_AT", "lots");
    let out = run(c);
    assert_eq!(out.status.code(), Some(64), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("SEALINIT_WARN_AT"),
        "{}",
        show(&out)
    );
}

/// A bash workload that reports each listed signal on stdout and exits 0 on
/// TERM; `ready` is printed once the traps are installed.
fn trapper() -> String {
    let mut s = String::new();
    for name in ["HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "RTMIN+3"] {
        s.push_str(&format!("trap 'echo got-{name}' {name}; "));
    }
    // RTMIN+3 as bash numbers it (its C library's SIGRTMIN, not
    // necessarily this test's), printed before "ready".
    s.push_str(
        "trap 'echo got-TERM; exit 0' TERM; echo \"rtmin3 $(kill -l RTMIN+3)\"; echo ready; \
         while :; do sleep 5 & wait $!; done",
    );
    s
}

#[test]
fn each_signal_reaches_the_child() {
    let mut live = Live::start(sealinit(&["-q", "--", "bash", "-c", &trapper()]));
    live.expect_line("ready");
    let rtmin3: i32 = live
        .seen
        .iter()
        .find_map(|l| l.strip_prefix("rtmin3 "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the workload's RTMIN+3");
    for (sig, name) in [
        (libc::SIGHUP, "HUP"),
        (libc::SIGINT, "INT"),
        (libc::SIGQUIT, "QUIT"),
        (libc::SIGUSR1, "USR1"),
        (libc::SIGUSR2, "USR2"),
        (libc::SIGWINCH, "WINCH"),
        (rtmin3, "RTMIN+3"),
    ] {
        live.signal(sig);
        live.expect_line(&format!("got-{name}"));
    }
    live.signal(libc::SIGTERM);
    live.expect_line("got-TERM");
    let (status, _) = live.wait();
    assert_eq!(status.code(), Some(0));
}

#[test]
fn pgroup_forwards_to_a_grandchild() {
    // The parent handles USR1 with a no-op (a signal *ignored* on entry
    // could not be trapped by the grandchild shell); only the group-wide
    // delivery of -g reaches the grandchild.
    let grandchild = "trap 'echo grandchild-got-USR1; exit 0' USR1; echo ready; while :; do sleep 5 & wait \\$!; done";
    let script = format!("trap ':' USR1; bash -c \"{grandchild}\"; echo parent-done");
    let mut live = Live::start(sealinit(&["-q", "-g", "--", "bash", "-c", &script]));
    live.expect_line("ready");
    live.signal(libc::SIGUSR1);
    live.expect_line("grandchild-got-USR1");
    live.expect_line("parent-done");
    let (status, _) = live.wait();
    assert_eq!(status.code(), Some(0));
}

fn sig_fields(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("SigBlk:") || l.starts_with("SigIgn:"))
        .map(str::to_string)
        .collect()
}

#[test]
fn child_inherits_the_callers_mask_and_ignored_signals() {
    const BLOCKED: &[i32] = &[libc::SIGUSR1, libc::SIGHUP, 40];
    const IGNORED: &[i32] = &[libc::SIGUSR2, libc::SIGPIPE, libc::SIGQUIT];
    // Reference: the same program started directly by the same caller.
    let mut direct = Command::new("cat");
    direct.arg("/proc/self/status");
    with_signal_state(&mut direct, BLOCKED, IGNORED);
    let want = sig_fields(&String::from_utf8_lossy(&run(direct).stdout));
    assert_eq!(want.len(), 2, "reference read failed");
    assert_ne!(
        want[0], "SigBlk:\t0000000000000000",
        "caller state not applied"
    );

    let mut via = sealinit(&["-q", "--", "cat", "/proc/self/status"]);
    with_signal_state(&mut via, BLOCKED, IGNORED);
    let out = run(via);
    assert_eq!(
        sig_fields(&String::from_utf8_lossy(&out.stdout)),
        want,
        "{}",
        show(&out)
    );

    // And with nothing blocked (whatever the test harness ignores passes
    // through too), sealinit's own full mask must not leak to the child.
    let mut direct = Command::new("cat");
    direct.arg("/proc/self/status");
    with_signal_state(&mut direct, &[], &[]);
    let want = sig_fields(&String::from_utf8_lossy(&run(direct).stdout));
    assert_eq!(
        want.first().map(String::as_str),
        Some("SigBlk:\t0000000000000000")
    );
    let mut clean = sealinit(&["-q", "--", "cat", "/proc/self/status"]);
    with_signal_state(&mut clean, &[], &[]);
    let out = run(clean);
    assert_eq!(
        sig_fields(&String::from_utf8_lossy(&out.stdout)),
        want,
        "{}",
        show(&out)
    );
}

#[test]
fn stdin_is_passed_through() {
    let mut c = sealinit(&["-q", "--", "cat"]);
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"data through sealinit\n").expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.stdout, b"data through sealinit\n");
    assert_eq!(out.status.code(), Some(0));
}

/// Spawns 100 orphans that exit at once, then waits (bounded) until no
/// zombie child of sealinit ($PPID) is left and prints the count.
const ORPHANS: &str = "for i in $(seq 100); do (sh -c 'exit 0' &) ; done; \
    n=0; while [ $n -lt 400 ]; do z=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v p=$PPID '$3==\"Z\" && $4==p' | wc -l); \
    [ \"$z\" -eq 0 ] && break; n=$((n+1)); sleep 0.05; done; echo zombies=$z";

#[test]
fn orphans_are_reaped_as_subreaper() {
    let out = run(sealinit(&[
        "--log-format",
        "json",
        "-v",
        "--",
        "sh",
        "-c",
        ORPHANS,
    ]));
    assert_orphans_reaped(&out);
}

/// ORPHANS ran clean: exit 0, no zombie left, at least 100 `reap` events.
/// Returns stderr for further checks.
fn assert_orphans_reaped(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(0), "{}", show(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("zombies=0"), "{}", show(out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        events(&stderr, "reap").len() >= 100,
        "expected >=100 reap events\n{}",
        show(out)
    );
    stderr
}

#[test]
fn orphans_are_reaped_as_pid1() {
    assert!(
        is_root(),
        "needs root for a PID namespace (run the tests as root)"
    );
    let mut c = Command::new("unshare");
    c.args([
        "--pid",
        "--fork",
        "--mount-proc",
        bin(),
        "--root",
        "any",
        "--log-format",
        "json",
        "-v",
        "--",
        "sh",
        "-c",
        ORPHANS,
    ]);
    let out = run(c);
    let stderr = assert_orphans_reaped(&out);
    assert!(
        stderr.contains("\"pid\":2,"),
        "sealinit should be PID 1 and the workload PID 2\n{}",
        show(&out)
    );
}

#[test]
fn an_orphan_in_graceful_shutdown_may_finish_within_grace() {
    let dir = tempdir();
    let marker = dir.join("finished");
    let fifo = dir.join("fifo");
    // The main child exits only once the orphan's trap is installed.
    let script = format!(
        "mkfifo {f}; (trap 'sleep 0.3; echo done > {m}; exit 0' TERM; echo ready; echo x > {f}; \
         while :; do sleep 0.05; done) & read _ < {f}; exit 3",
        m = marker.display(),
        f = fifo.display()
    );
    let mut live = Live::start(sealinit(&[
        "-q", "--grace", "20s", "--", "sh", "-c", &script,
    ]));
    live.expect_line("ready");
    let (status, _) = live.wait();
    assert_eq!(status.code(), Some(3), "main child's code");
    assert_eq!(
        std::fs::read_to_string(&marker).ok().as_deref(),
        Some("done\n"),
        "orphan was not allowed to finish"
    );
}

#[test]
fn an_orphan_ignoring_term_is_killed_after_grace_and_the_code_is_kept() {
    let dir = tempdir();
    let pidfile = dir.join("pid");
    let fifo = dir.join("fifo");
    let script = format!(
        "mkfifo {f}; (trap '' TERM; sh -c 'echo $PPID' > {p}; echo ready; echo x > {f}; \
         while :; do sleep 0.05; done) & read _ < {f}; exit 5",
        p = pidfile.display(),
        f = fifo.display()
    );
    let mut live = Live::start(sealinit(&[
        "--log-format",
        "json",
        "--grace",
        "1s",
        "--",
        "sh",
        "-c",
        &script,
    ]));
    live.expect_line("ready");
    let (status, _) = live.wait();
    assert_eq!(status.code(), Some(5), "main child's code");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .expect("pid")
        .trim()
        .parse()
        .expect("int");
    // SAFETY: probing a pid with signal 0.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "orphan {pid} still alive after sealinit exited");
}

#[test]
fn the_binary_is_statically_linked() {
    let release = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/sealinit");
    for path in [bin(), release] {
        let Ok(bytes) = std::fs::read(path) else {
            eprintln!("note: {path} not built; skipped");
            continue;
        };
        assert!(
            !has_interp(&bytes),
            "{path} has a PT_INTERP: it is dynamically linked"
        );
    }
}

#[test]
fn on_a_terminal_the_child_owns_the_foreground_process_group() {
    // `script` gives sealinit a pty as stdin; the workload prints its own
    // process group and the terminal's foreground group (stat fields 5, 8).
    let cmd = format!(
        "{} --root any --log error -- sh -c 'cut -d\" \" -f5,8 /proc/self/stat'",
        bin()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]);
    let out = run(c);
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<i64> = text
        .split_whitespace()
        .filter_map(|w| w.trim().parse().ok())
        .collect();
    assert_eq!(nums.len(), 2, "{}", show(&out));
    assert!(nums[0] > 0, "{}", show(&out));
    assert_eq!(
        nums[0],
        nums[1],
        "the child's group is not the terminal's foreground group\n{}",
        show(&out)
    );
}

/// The syscall a task is blocked in, from `/proc/PID/syscall` (number and
/// arguments); `None` once the process is gone.
fn blocked_in(pid: u32) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    Some(
        text.split_whitespace()
            .map(|w| u64::from_str_radix(w.trim_start_matches("0x"), 16).unwrap_or(u64::MAX))
            .collect(),
    )
}

/// Regression (issue 14): the poll timeout was the grace left in ms plus
/// one, computed without a bound: with `--grace 600h` (more than i32::MAX
/// ms) and an orphan left, a debug build panicked with "attempt to add with
/// overflow" after the workload was spawned, and a release build waited
/// forever (a negative timeout) so the final SIGKILL never came. Now
/// sealinit waits in poll(2) with a saturated timeout (i32::MAX ms, read
/// from /proc/PID/syscall on x86_64), stays alive, and exits with the
/// workload's code once the orphan is gone. (That SIGKILL does come after
/// a shorter grace is
/// `an_orphan_ignoring_term_is_killed_after_grace_and_the_code_is_kept`.)
#[test]
fn a_600h_grace_with_an_orphan_left_waits_without_overflow() {
    assert!(is_root(), "needs root to read /proc/PID/syscall");
    let dir = tempdir();
    let fifo = dir.join("fifo");
    let script = format!(
        "mkfifo {f}; (trap 'echo orphan-got-TERM' TERM; sh -c 'echo orphan=$PPID'; echo x > {f}; \
         while :; do sleep 0.05; done) & read _ < {f}; exit 5",
        f = fifo.display()
    );
    let mut live = Live::start(sealinit(&[
        "-q", "--grace", "600h", "--", "sh", "-c", &script,
    ]));
    let sealinit_pid = live.child.id();
    live.expect_line("orphan-got-TERM");
    let orphan: i32 = live
        .seen
        .iter()
        .find_map(|l| l.strip_prefix("orphan="))
        .expect("orphan pid")
        .parse()
        .expect("int");
    // Wait (bounded) until sealinit sleeps in poll with the grace deadline.
    let mut last = None;
    let mut died = None;
    for _ in 0..600 {
        if let Ok(Some(status)) = live.child.try_wait() {
            died = Some(status);
            break;
        }
        last = blocked_in(sealinit_pid);
        let in_poll = match (std::env::consts::ARCH, last.as_deref()) {
            // poll(fds, nfds, timeout): the saturated timeout.
            ("x86_64", Some([7, _, _, t, ..])) => *t == 0x7fff_ffff,
            ("x86_64", _) => false,
            // ppoll elsewhere: the timespec is not readable from here.
            (_, Some([nr, ..])) => *nr == 73 || *nr == 271,
            _ => false,
        };
        if in_poll {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let alive = died.is_none() && live.child.try_wait().expect("try_wait").is_none();
    // The orphan goes first, so a failure leaves nothing behind.
    // SAFETY: killing the orphan the workload left.
    unsafe { libc::kill(orphan, libc::SIGKILL) };
    assert!(alive, "sealinit exited during the grace period: {died:?}");
    let syscall = last.unwrap_or_default();
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!(
            syscall.get(..4).map(|s| (s[0], s[3])),
            Some((7, 0x7fff_ffff)),
            "sealinit should wait in poll(2) with timeout i32::MAX: {syscall:x?}"
        );
    }
    let (status, _) = live.wait();
    assert_eq!(status.code(), Some(5), "the workload's own code");
}

/// Runs `cmd` with `sig` blocked and already pending when sealinit starts
/// (pending signals survive execve): a signal that arrives before the
/// spawn, deterministically, with no timing involved. The signal is sent
/// by a short-lived grandchild, so its sender is another process (sealinit
/// ignores what it sent itself).
fn with_pending(cmd: &mut Command, sig: i32) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls (sigprocmask, fork, kill,
    // getppid, _exit, waitpid) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            let pid = libc::fork();
            if pid == 0 {
                libc::kill(libc::getppid(), sig);
                libc::_exit(0);
            }
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            Ok(())
        });
    }
}

/// Issue 11: a TERM or INT that arrives before the spawn means the
/// workload is not started: exit 128+N, an `exit` event saying so.
#[test]
fn term_or_int_before_the_spawn_means_the_workload_is_not_started() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let mut c = sealinit(&["--log-format", "json", "--", "sh", "-c", "echo started"]);
        with_pending(&mut c, sig);
        let out = run(c);
        assert_eq!(out.status.code(), Some(128 + sig), "{}", show(&out));
        assert!(out.stdout.is_empty(), "the workload ran\n{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let exit = events(&stderr, "exit");
        assert!(
            exit.iter()
                .any(|l| l.contains(&format!("\"code\":{}", 128 + sig))
                    && l.contains(name)
                    && l.contains("before the workload was started")),
            "{}",
            show(&out)
        );
        assert!(events(&stderr, "spawn").is_empty(), "{}", show(&out));
    }
}

/// The other half of reading the signalfd before the spawn: any other
/// signal read then is not lost but delivered to the workload once it
/// exists. USR1 is blocked in the caller's mask, which the workload
/// (`sleep`, which leaves its mask alone) inherits, so the forwarded USR1
/// stays pending in it, visible as ShdPnd bit 9 in its /proc status.
#[test]
fn other_signals_pending_before_the_spawn_reach_the_workload() {
    let mut c = sealinit(&["-q", "--", "sleep", "1000"]);
    with_pending(&mut c, libc::SIGUSR1);
    let live = Live::start(c);
    let me = live.child.id();
    let usr1 = 1u64 << (libc::SIGUSR1 - 1);
    let mut seen = String::new();
    for _ in 0..600 {
        let kids =
            std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap_or_default();
        if let Some(kid) = kids.split_whitespace().next() {
            let comm = std::fs::read_to_string(format!("/proc/{kid}/comm")).unwrap_or_default();
            let status = std::fs::read_to_string(format!("/proc/{kid}/status")).unwrap_or_default();
            seen = format!("{comm}{status}");
            let pending = status
                .lines()
                .find_map(|l| l.strip_prefix("ShdPnd:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
                .unwrap_or(0);
            if comm.trim() == "sleep" && pending & usr1 != 0 {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    live.signal(libc::SIGTERM);
    let (status, _) = live.wait();
    assert!(
        seen.starts_with("sleep") && seen.contains("ShdPnd:\t0000000000000200"),
        "USR1 not pending in the workload:\n{seen}"
    );
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
}

/// The `PATH` search goes on past a file it may not run (EACCES) and
/// reports EACCES (126) only when nothing ran; an empty `PATH` entry is the
/// working directory. Whichever C library sealinit is built with (musl's
/// execvp differs from glibc's, which sealinit follows).
#[test]
fn the_path_search_skips_what_it_may_not_run_and_an_empty_entry_is_the_working_directory() {
    use std::os::unix::fs::PermissionsExt;
    let first = tempdir();
    let second = tempdir();
    let blocked = first.join("tool");
    std::fs::write(&blocked, "#!/bin/sh\necho blocked\n").expect("write");
    std::fs::set_permissions(&blocked, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let tool = second.join("tool");
    std::fs::write(&tool, "#!/bin/sh\necho ran-second\n").expect("write");
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let mut cmd = sealinit(&["-q", "--", "tool"]);
    cmd.env("PATH", format!("{}:{}", first.display(), second.display()));
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran-second\n");

    let mut cmd = sealinit(&["-q", "--", "tool"]);
    cmd.env("PATH", first.display().to_string());
    let out = run(cmd);
    assert_eq!(
        out.status.code(),
        Some(126),
        "only a file it may not run: {}",
        show(&out)
    );

    let mut cmd = sealinit(&["-q", "--", "tool"]);
    cmd.env("PATH", ":/nonexistent").current_dir(&second);
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran-second\n");

    // An entry of PATH_MAX bytes or more is skipped, not the search's end.
    let long = format!("/{}", "d".repeat(5000));
    let mut cmd = sealinit(&["-q", "--", "tool"]);
    cmd.env("PATH", format!("{long}:{}", second.display()));
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ran-second\n");
}

/// A script without `#!` where there is no `/bin/sh` (a `FROM scratch`
/// image): "not executable" (126), not glibc's "not found" for the shell.
#[test]
fn a_script_without_shebang_and_no_shell_is_not_executable() {
    assert!(
        is_root(),
        "needs root: a private mount namespace hides /bin/sh"
    );
    let dir = tempdir();
    let script = dir.join("plain-script");
    std::fs::write(&script, "echo hi\n").expect("write");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    // sealinit in a private mount namespace without /bin/sh (usually
    // /usr/bin/sh through the /bin symlink: both hidden), with PATH as
    // given, running ARGV.
    let without_shell = |path: &str, argv: &[&std::ffi::OsStr]| {
        let mut c = Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(
                "for d in /bin /usr/bin; do [ -L $d ] || mount -t tmpfs none $d; done; \
                 p=$1; shift; PATH=\"$p\" exec \"$0\" --root any -q -- \"$@\"",
            )
            .arg(bin())
            .arg(path)
            .args(argv);
        run(c)
    };
    let out = without_shell("/nonexistent", &[script.as_os_str()]);
    assert_eq!(out.status.code(), Some(126), "{}", show(&out));
    let err = unwrapped(&String::from_utf8_lossy(&out.stderr));
    assert!(
        err.contains("plain-script") && err.contains("not executable"),
        "{err}"
    );

    // Found through PATH, the search goes on past it (as glibc's does) to a
    // program of the same name that runs; alone, it is "not executable".
    let later = tempdir();
    std::fs::copy("/usr/bin/echo", later.join("plain-script")).expect("copy echo");
    for (path, code) in [
        (format!("{}:{}", dir.display(), later.display()), 0),
        (dir.display().to_string(), 126),
    ] {
        let out = without_shell(&path, &["plain-script".as_ref(), "ran-later".as_ref()]);
        assert_eq!(out.status.code(), Some(code), "PATH={path}: {}", show(&out));
        if code == 0 {
            assert_eq!(String::from_utf8_lossy(&out.stdout), "ran-later\n");
        }
    }
}
