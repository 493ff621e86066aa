//! Shared helpers for black-box tests of the real binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sealinit")
}

/// A sealinit command with `--root any` so init tests do not depend on the
/// storage checks of the machine they run on.
pub fn sealinit(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("--root").arg("any");
    c.args(args);
    c
}

/// Runs to completion with a watchdog; prints stdout/stderr on failure paths.
pub fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null());
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sealinit");
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel::<()>();
    let dog = thread::spawn(move || {
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            // SAFETY: killing a pid we spawned.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let out = child.wait_with_output().expect("wait");
    let _ = tx.send(());
    let _ = dog.join();
    out
}

pub fn show(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A running sealinit whose stdout is read line by line, for handshakes
/// ("ready") without sleeps.
pub struct Live {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Live {
    pub fn start(mut cmd: Command) -> Live {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn sealinit");
        let stdout: ChildStdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        Live {
            child,
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a stdout line equal to `want` (30 s guard against hangs).
    pub fn expect_line(&mut self, want: &str) {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(30)) {
                Ok(l) => {
                    let hit = l == want;
                    self.seen.push(l);
                    if hit {
                        return;
                    }
                }
                Err(_) => panic!("no line {want:?}; saw {:?}", self.seen),
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling a child we spawned.
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill");
    }

    pub fn wait(mut self) -> (ExitStatus, Vec<String>) {
        let status = self.child.wait().expect("wait");
        let mut seen = self.seen;
        seen.extend(self.lines.try_iter());
        (status, seen)
    }
}

/// Runs `cmd` with `sigs_blocked` blocked and `sigs_ignored` ignored, as a
/// caller of sealinit might.
pub fn with_signal_state(cmd: &mut Command, blocked: &'static [i32], ignored: &'static [i32]) {
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in blocked {
                libc::sigaddset(&mut set, *s);
            }
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            for s in ignored {
                libc::signal(*s, libc::SIG_IGN);
            }
            Ok(())
        });
    }
}

pub fn is_root() -> bool {
    // SAFETY: trivial syscall.
    unsafe { libc::geteuid() == 0 }
}

/// Lines of stderr that are JSON events with `"event":"NAME"`.
pub fn events<'a>(stderr: &'a str, name: &str) -> Vec<&'a str> {
    let key = format!("\"event\":\"{name}\"");
    stderr.lines().filter(|l| l.contains(&key)).collect()
}
