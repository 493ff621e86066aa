//! Black-box tests of the init options that shape signals and exit codes:
//! `--rewrite FROM:TO`, `--remap-exit FROM:TO`, `--pdeathsig SIG`, and the
//! termination log written on exits sealinit decides (64, 71, 75, 77, 78).

mod common;

use common::*;
use std::process::Command;

/// bash that reports each listed signal on stdout and exits 0 on TERM;
/// `ready` is printed once the traps are installed.
fn trapper() -> String {
    let mut s = String::new();
    for name in ["HUP", "INT", "QUIT", "USR1", "USR2"] {
        s.push_str(&format!("trap 'echo got-{name}' {name}; "));
    }
    s.push_str(
        "trap 'echo got-TERM; exit 0' TERM; echo ready; while :; do sleep 5 & wait $!; done",
    );
    s
}

/// `--rewrite TERM:USR1 --rewrite HUP:0 --rewrite QUIT:TERM`, given as
/// flags and as the env mirror (a comma-separated list): TERM arrives as
/// USR1, HUP is dropped (dumb-init's `-r HUP:0`), QUIT arrives as TERM.
#[test]
fn rewrite_delivers_to_for_from_and_zero_drops() {
    let flags = [
        "--rewrite",
        "TERM:USR1",
        "--rewrite",
        "SIGHUP:0",
        "--rewrite",
        "3:15",
    ];
    for use_env in [false, true] {
        let script = trapper();
        let mut cmd = if use_env {
            let mut c = sealinit(&["-q", "--", "bash", "-c", &script]);
            c.env("SEALINIT_REWRITE", "TERM:USR1,SIGHUP:0,3:15");
            c
        } else {
            let mut args: Vec<&str> = vec!["-q"];
            args.extend(flags);
            args.extend(["--", "bash", "-c", &script]);
            sealinit(&args)
        };
        cmd.env_remove("SEALINIT_LOG");
        let mut live = Live::start(cmd);
        live.expect_line("ready");
        live.signal(libc::SIGTERM);
        live.expect_line("got-USR1");
        live.signal(libc::SIGHUP);
        live.signal(libc::SIGUSR2);
        live.expect_line("got-USR2");
        live.signal(libc::SIGQUIT);
        live.expect_line("got-TERM");
        let (status, seen) = live.wait();
        assert_eq!(status.code(), Some(0), "env {use_env}: {seen:?}");
        assert!(
            !seen.iter().any(|l| l == "got-HUP" || l == "got-QUIT"),
            "env {use_env}: {seen:?}"
        );
    }
}

#[test]
fn bad_rewrite_and_remap_values_are_usage_errors() {
    let cases: &[(&[&str], &str)] = &[
        (&["--rewrite", "TERM"], "--rewrite"),
        (&["--rewrite", "CHLD:TERM"], "cannot be rewritten"),
        (&["--remap-exit", "300:0"], "--remap-exit"),
        (&["--pdeathsig", "NOPE"], "--pdeathsig"),
    ];
    for (args, want) in cases {
        let mut a = args.to_vec();
        a.extend(["--", "true"]);
        let out = run(sealinit(&a));
        assert_eq!(out.status.code(), Some(64), "{args:?}\n{}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{args:?}\n{}",
            show(&out)
        );
    }
}

/// `--remap-exit FROM:TO` (tini's `-e`) applies to the workload's own code,
/// its exit status or 128+N for a death by signal N.
#[test]
fn remap_exit_applies_to_the_workloads_own_code() {
    let cases: &[(&[&str], &str, i32)] = &[
        (&["--remap-exit", "143:0"], "kill -TERM $$", 0),
        (&["--remap-exit", "3:0"], "exit 3", 0),
        (&["--remap-exit", "3:7", "--remap-exit", "4:9"], "exit 4", 9),
        (&["--remap-exit", "3:7"], "exit 5", 5),
    ];
    for (flags, script, want) in cases {
        let mut a = vec!["-q"];
        a.extend(flags.iter());
        a.extend(["--", "sh", "-c", script]);
        let out = run(sealinit(&a));
        assert_eq!(
            out.status.code(),
            Some(*want),
            "{flags:?} {script}\n{}",
            show(&out)
        );
    }
    let mut c = sealinit(&["-q", "--", "sh", "-c", "exit 3"]);
    c.env("SEALINIT_REMAP_EXIT", "3:0");
    let out = run(c);
    assert_eq!(out.status.code(), Some(0), "env mirror\n{}", show(&out));
}

/// State of `pid` from /proc (`Z` for a zombie), or `None` once reaped.
fn state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim().chars().next()
}

/// `--pdeathsig TERM`: when sealinit is killed (SIGKILL, no chance to
/// clean up), the workload gets SIGTERM from the kernel. Without the
/// option it keeps running (the control half of the test).
#[test]
fn pdeathsig_signals_the_workload_when_sealinit_dies() {
    let dir = tempdir();
    for (flags, want_dead) in [(&["--pdeathsig", "TERM"][..], true), (&[][..], false)] {
        let pidfile = dir.join(format!("pid-{want_dead}"));
        let script = format!(
            "echo $$ > {}; echo ready; exec sleep 1000",
            pidfile.display()
        );
        let mut a = vec!["-q"];
        a.extend(flags.iter());
        a.extend(["--", "sh", "-c", &script]);
        let mut live = Live::start(sealinit(&a));
        live.expect_line("ready");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        live.signal(libc::SIGKILL);
        let _ = live.wait();
        // Bounded wait for the kernel's signal to take effect.
        let mut st = state(pid);
        for _ in 0..200 {
            st = state(pid);
            if matches!(st, None | Some('Z')) || !want_dead {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let dead = matches!(st, None | Some('Z'));
        if !dead {
            // SAFETY: cleaning up the workload this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        assert_eq!(dead, want_dead, "flags {flags:?}: workload state {st:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Exits sealinit decides write a short reason to `--termination-log`: a
/// usage error (64) and a start-up violation (78, with the path and the
/// first line of the fix). The workload's own exit, and `sealinit check`
/// (run by `kubectl exec`, which must not replace the container's
/// message), write nothing; an empty value turns it off.
#[test]
fn exits_sealinit_decides_are_explained_in_the_termination_log() {
    let dir = tempdir();
    let log = dir.join("termination-log");
    let log_s = log.to_str().expect("utf8").to_string();

    let out = run(sealinit(&[
        "--termination-log",
        &log_s,
        "--grace",
        "soon",
        "--",
        "true",
    ]));
    assert_eq!(out.status.code(), Some(64), "{}", show(&out));
    let text = read(&log);
    assert!(
        text.starts_with("sealinit: exit 64: ") && text.contains("--grace"),
        "{text:?}"
    );
    assert!(text.contains("fix: see sealinit --help"), "{text:?}");

    // An option that does not parse at all still counts (env mirror).
    let mut c = Command::new(bin());
    c.args(["--bogus", "--", "true"])
        .env("SEALINIT_TERMINATION_LOG", &log_s);
    let out = run(c);
    assert_eq!(out.status.code(), Some(64), "{}", show(&out));
    assert!(read(&log).contains("--bogus"), "{:?}", read(&log));

    // 78: a declared tmpfs that is not there. (A plain directory would
    // fail only where the scratch directory's mount is `/` or read-only:
    // under a host `/tmp` that is a tmpfs of its own it only warns.)
    let plain = dir.join("not-there");
    let tmpfs = format!("{}:1Mi", plain.display());
    let out = run(sealinit(&[
        "--termination-log",
        &log_s,
        "--tmpfs",
        &tmpfs,
        "--",
        "true",
    ]));
    assert_eq!(out.status.code(), Some(78), "{}", show(&out));
    let text = read(&log);
    assert!(text.starts_with("sealinit: exit 78: "), "{text:?}");
    assert!(
        text.contains(&format!("path: {}", plain.display())),
        "{text:?}"
    );
    assert!(text.contains("\nfix: "), "{text:?}");
    assert!(text.len() <= 4096, "{}", text.len());

    // Nothing for the workload's own code, for check, or when off.
    std::fs::remove_file(&log).expect("rm");
    let out = run(sealinit(&[
        "--termination-log",
        &log_s,
        "--",
        "sh",
        "-c",
        "exit 3",
    ]));
    assert_eq!(out.status.code(), Some(3), "{}", show(&out));
    let mut c = Command::new(bin());
    c.args(["check", "--root", "any", "--tmpfs", &tmpfs]);
    c.env("SEALINIT_TERMINATION_LOG", &log_s);
    let out = run(c);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let out = run(sealinit(&[
        "--termination-log",
        "",
        "--tmpfs",
        &tmpfs,
        "--",
        "true",
    ]));
    assert_eq!(out.status.code(), Some(78), "{}", show(&out));
    assert!(!log.exists(), "written: {:?}", read(&log));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_plain_init_starts_without_a_mount_table_and_does_not_read_it() {
    assert!(is_root(), "needs root (run the tests as root)");
    // A private mount namespace without /proc: no /proc/self/mountinfo.
    private_ns();
    let proc_ = std::path::Path::new("/proc");
    nix::mount::mount(
        Some("none"),
        proc_,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .expect("tmpfs over /proc");
    let plain = |env: &[(&str, &str)]| {
        let mut c = sealinit(&["--", "true"]);
        c.envs(env.iter().copied());
        run(c)
    };
    // No contract: nothing is judged against the table, so it is not read
    // (had it been, its absence would be said) and the start is silent.
    let out = plain(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        out.stderr.is_empty(),
        "a plain init is silent\n{}",
        show(&out)
    );
    // The debug log shows the inventory, so the table is read; its absence
    // is a warning, no refusal to start.
    let out = plain(&[("SEALINIT_LOG", "debug")]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: warn  /proc/self/mountinfo"),
        "the unreadable table is said\n{err}"
    );
    // A contract needs the table: its absence is a violation (78).
    let dir = tempdir();
    let mut c = sealinit(&["--tmpfs", dir.to_str().expect("utf8"), "--", "true"]);
    c.env_remove("SEALINIT_LOG");
    let out = run(c);
    assert_eq!(out.status.code(), Some(78), "{}", show(&out));
    nix::mount::umount(proc_).expect("umount /proc tmpfs");
}
