//! Shared helpers for the integration tests: running the real binary
//! (black-box tests), and private mount namespaces, scratch directories,
//! tmpfs mounts and the `du` oracle for the root tests of the library.
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};

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

/// Writes `content` to a new file `p` created with mode 0755, as an
/// installer or a `cp` of an executable does (an exec drop needs an exec
/// bit: a file without one is never even read).
#[allow(dead_code)]
pub fn write_exec(p: &Path, content: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(p)
        .expect("create executable");
    f.write_all(content).expect("write executable");
}

pub fn is_root() -> bool {
    // SAFETY: trivial syscall.
    unsafe { libc::geteuid() == 0 }
}

/// Text output with each wrapped message joined back onto one line, and
/// every run of spaces made one (look for phrases with single spaces): the
/// text format wraps at 120 columns, so where a message breaks depends on
/// the length of the paths in it (a checkout's, a scratch directory's),
/// and a break on a double space (`pass  /path  tmpfs`) keeps only one.
pub fn unwrapped(text: &str) -> String {
    let joined = text
        .replace("\nsealinit:       ", " ")
        .replace("\nsealinit:     ", " ");
    let mut out = String::with_capacity(joined.len());
    for c in joined.chars() {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out
}

/// Lines of stderr that are JSON events with `"event":"NAME"`.
pub fn events<'a>(stderr: &'a str, name: &str) -> Vec<&'a str> {
    let key = format!("\"event\":\"{name}\"");
    stderr.lines().filter(|l| l.contains(&key)).collect()
}

/// A private mount namespace for the calling thread (test threads are
/// separate tasks, so this does not leak into other tests).
pub fn private_ns() {
    unshare(CloneFlags::CLONE_NEWNS).expect("unshare(CLONE_NEWNS)");
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .expect("make / private");
}

/// A fresh directory under `base`, named after the test crate and process.
pub fn scratch(base: impl AsRef<Path>) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let p = base.as_ref().join(format!(
        "sealinit-{}-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    fs::create_dir_all(&p).expect("mkdir scratch");
    p
}

/// A fresh directory under the system temp dir.
pub fn tempdir() -> PathBuf {
    scratch(std::env::temp_dir())
}

/// Mounts a tmpfs of `size` (`16m`) at `at`, creating the directory.
pub fn mount_tmpfs(at: &Path, size: &str) {
    fs::create_dir_all(at).expect("mkdir mount point");
    mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        MsFlags::empty(),
        Some(format!("size={size}").as_str()),
    )
    .expect("mount tmpfs");
}

/// A tmpfs at `at` with mount options `opts` (e.g. `size=16m,mode=0755`),
/// nosuid, nodev and noexec: the hardened scratch mount of the root tests.
pub fn mount_hardened_tmpfs(at: &Path, opts: &str) {
    fs::create_dir_all(at).expect("mkdir mount point");
    mount(
        Some("tmpfs"),
        at,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(opts),
    )
    .unwrap_or_else(|e| panic!("mount tmpfs {}: {e}", at.display()));
}

/// `du -sx ARGS PATH`, first field: the oracle for usage measurements.
pub fn du(args: &[&str], path: &Path) -> u64 {
    let out = Command::new("du")
        .args(["-sx"])
        .args(args)
        .arg(path)
        .output()
        .expect("run du");
    assert!(
        out.status.success(),
        "du failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unparsable du output {text:?}"))
}

/// Re-runs this test binary's test `inner`, alone, under `unshare -m
/// --propagation private [unshare_extra]` with `scratch` in the environment
/// variable `scratch_env`, then removes `scratch`. Fails with the inner
/// output unless the inner test really ran and passed; returns its stdout
/// and stderr.
pub fn rerun_in_mount_ns(
    inner: &str,
    scratch: &std::path::Path,
    scratch_env: &str,
    unshare_extra: &[&str],
    test_extra: &[&str],
) -> (String, String) {
    assert!(
        is_root(),
        "{inner} needs root for a mount namespace (run the tests as root)"
    );
    let exe = std::env::current_exe().expect("current_exe");
    // Inner halves are #[ignore]d (they mean nothing alone): --ignored.
    let ignored: &[&str] = if test_extra.contains(&"--ignored") {
        &[]
    } else {
        &["--ignored"]
    };
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .args(unshare_extra)
        .arg(exe)
        .args(["--exact", inner, "--nocapture", "--test-threads=1"])
        .args(ignored)
        .args(test_extra)
        .env(scratch_env, scratch)
        .output()
        .expect("run unshare");
    let _ = std::fs::remove_dir_all(scratch);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{inner} in a mount namespace: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// Whether an ELF64 file has a PT_INTERP program header (a dynamic loader).
pub fn has_interp(elf: &[u8]) -> bool {
    assert_eq!(&elf[..4], b"\x7fELF", "not ELF");
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().expect("8"));
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().expect("2"));
    let phoff = u64_at(0x20) as usize;
    let phentsize = u16_at(0x36) as usize;
    let phnum = u16_at(0x38) as usize;
    (0..phnum).any(|i| {
        let p = phoff + i * phentsize;
        u32::from_le_bytes(elf[p..p + 4].try_into().expect("4")) == 3
    })
}
pub mod usage;
