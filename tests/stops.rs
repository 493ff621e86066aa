//! Stops sealinit decides (`--limit-action stop` exits 75, `--on-tamper
//! stop` 77), end to end through the real binary in a private mount
//! namespace with a real tmpfs: a stop begun while the workload runs wins
//! (and is explained in the termination log, and never remapped); a
//! workload that exits on its own keeps its own code even when its exit is
//! what crosses the limit; and tamper findings reach
//! `sealinit_tamper_events_total`. Needs root (fails loudly without).

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `unshare -m` + a 1 MiB tmpfs at `<dir>/t`, then exec sealinit with
/// `--tmpfs <dir>/t:1Mi` and `args`, running `script` (which sees the
/// mount as `$D`).
fn in_ns(dir: &Path, args: &[&str], script: &str) -> Command {
    assert!(is_root(), "needs root: mount namespaces and tmpfs mounts");
    let t = dir.join("t");
    std::fs::create_dir_all(&t).expect("mkdir");
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c"]);
    c.arg(r#"mount -t tmpfs -o size=1m tmpfs "$D" && exec "$@""#);
    c.arg("sh");
    c.args([bin(), "--root", "any", "--rescan", "1h", "--tmpfs"]);
    c.arg(format!("{}:1Mi", t.display()));
    c.args(args);
    c.args(["--", "sh", "-c", script]);
    c.env("D", &t);
    c
}

fn scratch_dir() -> PathBuf {
    scratch(env!("CARGO_TARGET_TMPDIR"))
}

/// Regression (issue 11): a workload whose own exit crosses the limit (the
/// pages of a shared mapping are counted when the kernel closes the file
/// at exit) was reported as stopped, 75, though it had exited 3 by itself.
/// The stop request arrives while the workload is inside exit(2) or a
/// zombie: sealinit now sees that and keeps its code. The mapping's pages
/// may also be seen while the workload still runs (a slow or loaded
/// machine: the watcher measures 25 ms after the file's events): then the
/// stop is right, and the workload is killed by its SIGTERM. So each run
/// must be one or the other, judged from sealinit's own account of how
/// the workload ended: exited 3 by itself and sealinit exits 3, or killed
/// by the stop and sealinit exits 75. Never 75 for a workload that exited
/// by itself. Up to ten runs, until at least one has exited by itself
/// (before the fix four in five gave 75 here).
#[test]
fn a_workload_whose_own_exit_crosses_the_limit_keeps_its_code() {
    let dir = scratch_dir();
    let py = "import mmap,os\n\
              fd=os.open(os.environ['D']+'/f', os.O_RDWR|os.O_CREAT, 0o644)\n\
              n=1000*1024\n\
              os.ftruncate(fd,n)\n\
              m=mmap.mmap(fd,n)\n\
              m[:]=b'x'*n\n\
              os._exit(3)\n";
    let script = format!("exec python3 -c \"{py}\"");
    let mut by_itself = 0;
    for i in 0..10 {
        let out = run(in_ns(
            &dir,
            &["-vv", "--log-format", "json", "--limit-action", "stop"],
            &script,
        ));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ended = events(&stderr, "child.exit")
            .first()
            .map(|l| l.to_string())
            .unwrap_or_else(|| panic!("run {i}: no child.exit event\n{}", show(&out)));
        if ended.contains("exited with code 3") {
            by_itself += 1;
            assert_eq!(
                out.status.code(),
                Some(3),
                "run {i}: exited by itself\n{}",
                show(&out)
            );
        } else {
            assert!(
                ended.contains("was killed by SIGTERM") || ended.contains("was killed by SIGKILL"),
                "run {i}: {ended}\n{}",
                show(&out)
            );
            assert_eq!(
                out.status.code(),
                Some(75),
                "run {i}: stopped\n{}",
                show(&out)
            );
        }
        if by_itself >= 3 {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        by_itself >= 1,
        "no run exited by itself: the case was not tried"
    );
}

/// The positive half: a workload that fills the mount and keeps running is
/// stopped (75), the reason goes to the termination log, and
/// `--remap-exit 75:0` does not touch sealinit's own code.
#[test]
fn a_running_workload_past_the_limit_is_stopped_with_75_and_the_reason_logged() {
    let dir = scratch_dir();
    let log = dir.join("termination-log");
    let out = run(in_ns(
        &dir,
        &[
            "--log-format",
            "json",
            "--limit-action",
            "stop",
            "--grace",
            "2s",
            "--remap-exit",
            "75:0",
            "--termination-log",
            log.to_str().expect("utf8"),
        ],
        "head -c 1000k /dev/zero > \"$D/fill\"; exec sleep 1000",
    ));
    assert_eq!(out.status.code(), Some(75), "{}", show(&out));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.starts_with("sealinit: exit 75: ") && text.contains("/t (tmpfs) uses"),
        "{text:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--on-tamper stop`: an executable dropped into the watched tmpfs while
/// the workload runs stops it with 77, explained in the termination log.
#[test]
fn an_exec_drop_under_on_tamper_stop_exits_77_with_the_reason_logged() {
    let dir = scratch_dir();
    let log = dir.join("termination-log");
    let out = run(in_ns(
        &dir,
        &[
            "--log-format",
            "json",
            "--on-tamper",
            "stop",
            "--grace",
            "2s",
            "--termination-log",
            log.to_str().expect("utf8"),
        ],
        "cp /bin/true \"$D/dropped\"; exec sleep 1000",
    ));
    assert_eq!(out.status.code(), Some(77), "{}", show(&out));
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.starts_with("sealinit: exit 77: ") && text.contains("dropped"),
        "{text:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same through a directory too busy to follow event by event: a
/// churn (create, write, close, unlink, as fast as it goes) makes
/// `$D/busy` quiet (listed on a timer, told by the debug log), then an ELF
/// is dropped there and kept: its listing finds it, 77 (missed, the
/// churn ends after 5 s and so does the workload, 0).
#[test]
fn an_exec_drop_in_a_quiet_directory_under_on_tamper_stop_exits_77() {
    let dir = scratch_dir();
    let churn = "import os,time\n\
                 d=os.environ['D']+'/busy'\n\
                 i=0; end=time.time()+5\n\
                 while time.time()<end:\n\
                 \x20p=d+'/f'+str(i%100); i+=1\n\
                 \x20fd=os.open(p,os.O_CREAT|os.O_WRONLY,0o644); os.write(fd,b'x')\n\
                 \x20os.close(fd); os.unlink(p)\n";
    let script = format!(
        "mkdir \"$D/busy\"; python3 -c \"{churn}\" & sleep 1; \
         cp /bin/true \"$D/busy/dropped\"; wait"
    );
    // The directory turns quiet only when the churn outruns the watcher
    // (one read of 1,024 events or more): a slow machine may not get there
    // on the first run. Every run must stop with 77 and name the drop.
    let mut quiet = false;
    for _ in 0..3 {
        let out = run(in_ns(
            &dir,
            &[
                "-v",
                "--on-tamper",
                "stop",
                "--grace",
                "2s",
                "--termination-log",
                "",
            ],
            &script,
        ));
        let stderr = unwrapped(&String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(77), "{}", show(&out));
        assert!(stderr.contains("busy/dropped"), "{}", show(&out));
        quiet = stderr.contains("busy is busy: listed every");
        if quiet {
            break;
        }
        eprintln!("not quiet in this run:\n{}", show(&out));
    }
    assert!(quiet, "the churned directory never turned quiet in 3 runs");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A free local port (bound, read, released).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `sealinit_tamper_events_total` from one scrape (`None` while the
/// server is not up yet).
fn tamper_total(port: u16) -> Option<u64> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines()
        .find_map(|l| l.strip_prefix("sealinit_tamper_events_total "))
        .and_then(|v| v.trim().parse().ok())
}

/// Regression (issue 14): the tamper counter was only ever bumped by its
/// own test; an ELF dropped into a watched emptyDir left it at 0.
#[test]
fn an_exec_drop_counts_in_sealinit_tamper_events_total() {
    let dir = scratch_dir();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut live = Live::start(in_ns(
        &dir,
        &["-q", "--metrics", &addr],
        "cp /bin/true \"$D/dropped\"; echo dropped; exec sleep 1000",
    ));
    live.expect_line("dropped");
    // Bounded wait: the server comes up and the drop is judged on their
    // own threads.
    let mut after = None;
    for _ in 0..600 {
        after = tamper_total(port);
        if after.is_some_and(|n| n > 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    live.signal(libc::SIGTERM);
    let (status, _) = live.wait();
    assert_eq!(after, Some(1), "one drop, one tamper event");
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--rewrite` applies to signals sealinit receives, not to the SIGTERM of
/// a stop it decides: with `--rewrite TERM:USR1`, a tamper stop still
/// sends the workload TERM.
#[test]
fn a_stop_sends_term_even_when_term_is_rewritten() {
    let dir = scratch_dir();
    let out = run(in_ns(
        &dir,
        &[
            "-q",
            "--on-tamper",
            "stop",
            "--grace",
            "20s",
            "--rewrite",
            "TERM:USR1",
        ],
        "trap 'echo got-USR1' USR1; trap 'echo got-TERM; exit 0' TERM; \
         cp /bin/true \"$D/dropped\"; while :; do sleep 0.1; done",
    ));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(77), "{}", show(&out));
    assert!(
        stdout.contains("got-TERM") && !stdout.contains("got-USR1"),
        "{}",
        show(&out)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
