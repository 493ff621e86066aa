//! Process control at the edge: spawning the workload with the inherited
//! signal state, reaping, becoming a subreaper, and listing what is left.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::signals::{self, Inherited};

/// How a reaped process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

/// Why the workload could not be started (before any child existed).
#[derive(Debug)]
pub struct SpawnError {
    pub program: OsString,
    pub error: io::Error,
}

/// Keeps descriptors 0, 1 and 2 from being reused when the caller closed
/// them: each closed one gets `/dev/null` opened with `O_CLOEXEC`
/// (open(2), fcntl(2) F_GETFD). Without this (sealinit has its own C
/// `main`, so the Rust runtime's own fd sanitising does not run), the
/// signalfd, the wake pipe or the metrics socket took fds 0-2 and
/// sealinit's log lines went into its own wake pipe. Close-on-exec, so the
/// workload still sees exactly the descriptors the caller passed.
pub fn reserve_std_fds() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD on a small integer only queries the fd table.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        // SAFETY: a NUL-terminated literal path; the lowest free fd (this
        // one, as the lower ones are open) is returned or -1.
        let got = unsafe {
            libc::open(
                c"/dev/null".as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOCTTY,
            )
        };
        if got != fd && got >= 0 {
            // Not the slot we meant to fill (cannot happen: lower fds are
            // open); do not leak it.
            // SAFETY: closing the fd we just opened.
            unsafe { libc::close(got) };
        }
    }
}

/// Spawns `argv` as the workload: in its own process group, owning the
/// terminal's foreground when stdin is a tty, with the signal mask and
/// ignored dispositions sealinit inherited. Returns the child's pid.
pub fn spawn(argv: &[OsString], inherited: Inherited) -> Result<i32, SpawnError> {
    let program = argv.first().cloned().unwrap_or_default();
    let mut cmd = Command::new(&program);
    cmd.args(&argv[1..]);
    // SAFETY: the closure runs between fork and exec and only makes raw
    // syscalls (rt_sigprocmask, setpgid, ioctl TIOCSPGRP, rt_sigaction): no
    // allocation, no locks, async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // Block everything while we move process groups, so SIGTTOU from
            // tcsetpgrp in a background group cannot stop us.
            signals::raw_sigprocmask(libc::SIG_SETMASK, Some(&signals::ALL_SIGNALS), None)?;
            if libc::setpgid(0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::isatty(libc::STDIN_FILENO) == 1 {
                // Errors are not fatal: a tty from another session (ENOTTY,
                // EPERM) just means no job control.
                let pgrp = libc::getpgrp();
                libc::tcsetpgrp(libc::STDIN_FILENO, pgrp);
            }
            signals::restore_in_child(&inherited)
        });
    }
    match cmd.spawn() {
        // The Child handle is dropped without waiting: sealinit reaps every
        // process itself with waitpid(-1).
        Ok(child) => Ok(child.id() as i32),
        Err(error) => Err(SpawnError { program, error }),
    }
}

/// Reaps one exited child without blocking (`waitpid(-1, WNOHANG)`).
/// `Ok(None)` when children exist but none has exited; `Err(ECHILD)` when
/// there are no children at all.
pub fn reap_one() -> io::Result<Option<(i32, Ended)>> {
    let mut status = 0;
    // SAFETY: plain syscall with a valid out-pointer.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        return Ok(None);
    }
    let ended = if libc::WIFEXITED(status) {
        Ended::Exited(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        Ended::Signaled(libc::WTERMSIG(status))
    } else {
        // Stopped/continued are not reported without WUNTRACED/WCONTINUED.
        Ended::Exited(0)
    };
    Ok(Some((pid, ended)))
}

/// Makes sealinit a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`), so
/// orphans of the workload are re-parented to it when it is not PID 1.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: plain prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The direct children of this process, from
/// `/proc/self/task/*/children` (proc(5)). Falls back to scanning
/// `/proc/*/stat` for our pid as parent when that file is unavailable.
/// An error when `/proc` is not mounted: an empty list would claim that
/// nothing is left to stop.
pub fn children() -> io::Result<Vec<i32>> {
    children_in(Path::new("/proc"), std::process::id() as i32)
}

fn children_in(proc: &Path, me: i32) -> io::Result<Vec<i32>> {
    let own = proc.join("self");
    if std::fs::symlink_metadata(&own).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "stat {}: not found, {} is not mounted",
                own.display(),
                proc.display()
            ),
        ));
    }
    let mut out = Vec::new();
    let mut found_file = false;
    if let Ok(tasks) = std::fs::read_dir(own.join("task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                found_file = true;
                out.extend(
                    text.split_whitespace()
                        .filter_map(|s| s.parse::<i32>().ok()),
                );
            }
        }
    }
    if found_file {
        return Ok(out);
    }
    let entries = std::fs::read_dir(proc)
        .map_err(|e| io::Error::new(e.kind(), format!("readdir {}: {e}", proc.display())))?;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(proc.join(pid.to_string()).join("stat")) {
            if parent_from_stat(&stat) == Some(me) {
                out.push(pid);
            }
        }
    }
    Ok(out)
}

/// The ppid field of a `/proc/PID/stat` line (after the parenthesised comm,
/// which may itself contain spaces and parentheses).
fn parent_from_stat(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_is_read_after_the_last_parenthesis() {
        let cases = [
            ("12 (sh) S 1 12 12 0", Some(1)),
            ("12 (a) b) (c) S 77 12", Some(77)),
            ("12 (x", None),
            ("", None),
        ];
        for (line, want) in cases {
            assert_eq!(parent_from_stat(line), want, "{line:?}");
        }
    }

    /// Regression (hardening): with fds 0-2 closed by the caller, sealinit's
    /// own descriptors took them. A forked child closes them, reserves, and
    /// reports through its exit status whether each is a close-on-exec
    /// /dev/null.
    #[test]
    fn closed_std_fds_are_reserved_close_on_exec() {
        // SAFETY: the child makes only raw syscalls and _exits.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let mut bad = 0;
            // SAFETY: plain syscalls in the forked child.
            unsafe {
                libc::close(0);
                libc::close(2);
                reserve_std_fds();
                for fd in [0, 2] {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    let mut st: libc::stat = std::mem::zeroed();
                    let is_chr =
                        libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFCHR;
                    if flags == -1 || flags & libc::FD_CLOEXEC == 0 || !is_chr {
                        bad += 1;
                    }
                }
                // fd 1 was open: left alone (not close-on-exec).
                if libc::fcntl(1, libc::F_GETFD) & libc::FD_CLOEXEC != 0 {
                    bad += 10;
                }
                libc::_exit(bad);
            }
        }
        let mut status = 0;
        // SAFETY: waiting for the child we forked.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(libc::WEXITSTATUS(status), 0, "bad fds");
    }

    /// Regression (hardening): with /proc unmounted (an empty directory),
    /// the scan found nothing and reported "no children", so shutdown
    /// signalled no orphan and sealinit waited for them forever.
    #[test]
    fn children_without_proc_is_an_error_not_an_empty_list() {
        let dir = std::env::temp_dir().join(format!("sealinit-children-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let err = children_in(&dir, 1).expect_err("empty dir accepted as /proc");
        assert!(err.to_string().contains("is not mounted"), "{err}");
        // A proc-like tree: the children files of every task are read.
        let task = dir.join("self/task/7");
        std::fs::create_dir_all(&task).expect("mkdir");
        std::fs::write(task.join("children"), "11 12 ").expect("write");
        assert_eq!(children_in(&dir, 7).expect("children"), vec![11, 12]);
        // The live /proc works.
        assert!(children().is_ok());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
