//! Process control at the edge: spawning the workload with the inherited
//! signal state, reaping, becoming a subreaper, listing what is left,
//! telling whether a process is already exiting, and writing the
//! termination log.

use std::ffi::OsString;
use std::io;
use std::path::Path;

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

/// The command line from C `main`'s `argc` and `argv`, without the
/// program name.
///
/// # Safety
///
/// `argv` must point at `argc` NUL-terminated strings (what the C runtime
/// passes to `main`).
pub unsafe fn args_from_main(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    use std::os::unix::ffi::OsStrExt;
    let n = usize::try_from(argc).unwrap_or(0);
    (1..n)
        .map(|i| {
            // SAFETY: the caller's contract: `argv[i]` for `i < argc` is a
            // live NUL-terminated string.
            let arg = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            std::ffi::OsStr::from_bytes(arg.to_bytes()).to_os_string()
        })
        .collect()
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

/// How the workload is started, besides its command line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpawnOptions {
    /// `--pdeathsig SIG`: the signal the workload gets when sealinit dies
    /// (`prctl(PR_SET_PDEATHSIG)`). Cleared by the kernel when the workload
    /// execs a set-user-ID or set-group-ID program or one with file
    /// capabilities. The kernel sends it when the *thread* that forked
    /// the workload exits: sealinit spawns from its main thread, which
    /// lives until the process exits.
    pub pdeathsig: Option<i32>,
    /// Descriptors the child closes before its exec (they are close-on-exec
    /// anyway): sealinit's own files whose last close it keeps for itself
    /// ([`crate::edge::probe::ProbeFiles`]).
    pub close_in_child: Vec<i32>,
}

/// Spawns `argv` as the workload: in its own process group, owning the
/// terminal's foreground when stdin is a tty, with the signal mask and
/// ignored dispositions sealinit inherited. Returns the child's pid.
///
/// A `clone(2)` with `CLONE_VM | CLONE_VFORK` (what glibc's `posix_spawn`
/// does), not a `fork(2)`: the child runs [`child_main`] on a stack of its
/// own in sealinit's memory until its `execve(2)`, and sealinit's thread
/// waits meanwhile. No page table is copied, no page is copied on write
/// and the exec has no copied address space to tear down (a fork cost the
/// start path 50-100 µs in the benchmark VM, more with a larger heap).
/// Everything the child needs (the C strings of the command line, the
/// flags, the `PATH` search's buffer) is prepared before the clone; the
/// child makes raw syscalls only and never allocates. It finds the program
/// as glibc's `execvp(3)` does (see [`exec_like_execvp`]), whichever C
/// library sealinit is built with. Its errno comes back through the shared
/// memory.
pub fn spawn(
    argv: &[OsString],
    inherited: Inherited,
    opts: SpawnOptions,
) -> Result<i32, SpawnError> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let program = argv.first().cloned().unwrap_or_default();
    let fail = |error: io::Error| SpawnError {
        program: program.clone(),
        error,
    };
    let cstrings = argv
        .iter()
        .map(|a| std::ffi::CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            fail(io::Error::new(
                io::ErrorKind::InvalidInput,
                "nul byte found in provided data",
            ))
        })?;
    if cstrings.is_empty() {
        return Err(fail(io::Error::from_raw_os_error(libc::ENOENT)));
    }
    let mut ptrs: Vec<*const libc::c_char> = cstrings.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    let file = cstrings[0].as_bytes();
    let path = std::env::var_os("PATH")
        .map(std::ffi::OsString::into_vec)
        .unwrap_or_else(|| DEFAULT_PATH.to_vec());
    // Room for the longest "directory/program\0" (or the program alone).
    let longest = path
        .split(|&b| b == b':')
        .map(<[u8]>::len)
        .max()
        .unwrap_or(0);
    let mut candidate = vec![0u8; longest + file.len() + 2];
    // For a script without `#!`: /bin/sh, the script (the candidate), the
    // workload's own arguments.
    let mut sh_argv: Vec<*const libc::c_char> = Vec::with_capacity(ptrs.len() + 1);
    sh_argv.push(SH.as_ptr());
    sh_argv.push(candidate.as_ptr().cast());
    sh_argv.extend_from_slice(&ptrs[1..]);
    let stack = ChildStack::new(64 * 1024).map_err(fail)?;
    let mut args = ChildArgs {
        argv: ptrs.as_ptr(),
        // SAFETY: reading the C library's `environ` pointer (sealinit never
        // changes its environment, so nothing writes it meanwhile).
        envp: unsafe { environ },
        file: file.as_ptr(),
        file_len: file.len(),
        path: path.as_ptr(),
        path_len: path.len(),
        candidate: candidate.as_mut_ptr(),
        sh_argv: sh_argv.as_ptr(),
        inherited,
        pdeathsig: opts.pdeathsig.unwrap_or(0),
        // SAFETY: getpid(2) cannot fail. Taken before the clone: the
        // pdeathsig race check compares with it.
        parent: unsafe { libc::getpid() },
        close: opts.close_in_child.as_ptr(),
        nclose: opts.close_in_child.len(),
        errno: 0,
    };
    // SAFETY: `child_main` runs on its own stack (`stack`, alive until the
    // child has exec'd or exited: CLONE_VFORK suspends this thread until
    // then) and only reads `args` and makes async-signal-safe calls. Every
    // signal is blocked in this thread, so the child starts with them all
    // blocked; when it restores the inherited mask just before its exec,
    // no handler can run on the shared memory: sealinit installs none (and
    // glibc's own, for threads, only exist once a thread has been started,
    // which sealinit does after the spawn).
    let pid = unsafe {
        libc::clone(
            child_main,
            stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut args as *mut ChildArgs).cast(),
        )
    };
    if pid < 0 {
        return Err(fail(io::Error::last_os_error()));
    }
    // SAFETY: the child wrote `errno` (or did not) before its exec or
    // exit, which happened before clone returned.
    let errno = unsafe { std::ptr::read_volatile(&args.errno) };
    if errno != 0 {
        // The child exited without running the workload: reap it (nothing
        // else may wait for it yet; the supervisor does not exist).
        let mut status = 0;
        // SAFETY: waiting for our own child with a valid out-pointer.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
            && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
        return Err(fail(io::Error::from_raw_os_error(errno)));
    }
    drop((cstrings, candidate, sh_argv, path));
    Ok(pid)
}

extern "C" {
    /// The process's environment (environ(7)), what execvp(3) passes on.
    static environ: *const *const libc::c_char;
}

/// glibc's `PATH` when the variable is unset (`confstr(_CS_PATH)`).
const DEFAULT_PATH: &[u8] = b"/bin:/usr/bin";

/// The shell that runs an executable file with no `#!` and no known binary
/// format (as glibc's execvp(3) and POSIX's `exec` family do).
const SH: &std::ffi::CStr = c"/bin/sh";

/// What [`child_main`] reads (prepared by [`spawn`]) and writes back.
struct ChildArgs {
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    /// The program as given (argv[0], without its NUL).
    file: *const u8,
    file_len: usize,
    /// `PATH`'s bytes (or [`DEFAULT_PATH`]).
    path: *const u8,
    path_len: usize,
    /// Room for each "directory/program\0" tried.
    candidate: *mut u8,
    /// `/bin/sh`, the candidate, argv[1..], null.
    sh_argv: *const *const libc::c_char,
    inherited: Inherited,
    /// 0: none.
    pdeathsig: i32,
    parent: libc::pid_t,
    /// [`SpawnOptions::close_in_child`], borrowed for the child's life.
    close: *const i32,
    nclose: usize,
    /// Set by the child when it could not run the workload.
    errno: i32,
}

/// The child between `clone(2)` and `execve(2)`. Raw syscalls only (every
/// one async-signal-safe, no allocation, no lock): it shares sealinit's
/// memory. Returns (exits with) 127 when the workload could not be run,
/// the errno in [`ChildArgs::errno`].
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `ChildArgs` of `spawn`, alive and not touched by
    // the suspended parent until this child execs or exits.
    let args = unsafe { &mut *arg.cast::<ChildArgs>() };
    let errno = match prepare_child(args) {
        // SAFETY: every pointer in `args` was prepared by `spawn` and lives
        // until this child execs or exits.
        Ok(()) => unsafe { exec_like_execvp(args) },
        Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
    };
    // SAFETY: a plain write to the shared struct, read by the parent after
    // this child exits.
    unsafe { std::ptr::write_volatile(&mut args.errno, errno.max(1)) };
    127
}

/// Runs the workload as glibc's `execvp(3)` finds it (musl's differs, and
/// sealinit must not change with the C library it is built with): a name
/// with a `/` is run as it stands; otherwise each `PATH` directory is tried
/// in order (an empty one is the working directory; one of `PATH_MAX`
/// bytes or more is skipped), going on past a missing or inaccessible file
/// (ENOENT, ESTALE, ENOTDIR, ENODEV, ETIMEDOUT, EACCES) and stopping at
/// any other error. A file the kernel cannot run (ENOEXEC: an executable
/// script without `#!`) is run by `/bin/sh`. Where that fails too (no
/// `/bin/sh` in a `FROM scratch` image) the search goes on, as glibc's
/// does; but if nothing runs, the answer is ENOEXEC ("not executable"), not
/// glibc's ENOENT for the missing shell, then EACCES, then ENOENT. Returns
/// the errno when nothing could be run.
///
/// # Safety
///
/// `args`' pointers as [`spawn`] prepares them, alive; called in the child
/// only (async-signal-safe: raw syscalls and byte copies).
unsafe fn exec_like_execvp(args: &ChildArgs) -> i32 {
    // SAFETY (whole body): the buffers are those of `spawn`, sized there:
    // `candidate` holds the longest PATH entry, a '/', the file and a NUL.
    let file = unsafe { std::slice::from_raw_parts(args.file, args.file_len) };
    if file.is_empty() {
        return libc::ENOENT;
    }
    let candidate = args.candidate;
    let put = |at: usize, bytes: &[u8]| unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), candidate.add(at), bytes.len());
    };
    if file.contains(&b'/') {
        put(0, file);
        put(file.len(), b"\0");
        return unsafe { exec_one(args) };
    }
    let path = unsafe { std::slice::from_raw_parts(args.path, args.path_len) };
    let (mut got_eacces, mut got_enoexec) = (false, false);
    for dir in path.split(|&b| b == b':') {
        if dir.len() >= libc::PATH_MAX as usize {
            continue;
        }
        let at = if dir.is_empty() {
            0
        } else {
            put(0, dir);
            put(dir.len(), b"/");
            dir.len() + 1
        };
        put(at, file);
        put(at + file.len(), b"\0");
        match unsafe { exec_one(args) } {
            libc::ENOEXEC => got_enoexec = true,
            libc::EACCES => got_eacces = true,
            libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT => {}
            other => return other,
        }
    }
    if got_enoexec {
        libc::ENOEXEC
    } else if got_eacces {
        libc::EACCES
    } else {
        libc::ENOENT
    }
}

/// execve(2) of the candidate, then of `/bin/sh` with it when the kernel
/// answers ENOEXEC. Returns the errno (it only returns on failure): the
/// candidate's, so ENOEXEC when the shell could not run it either.
///
/// # Safety
///
/// As [`exec_like_execvp`], with a NUL-terminated candidate in place.
unsafe fn exec_one(args: &ChildArgs) -> i32 {
    // SAFETY: NUL-terminated strings and null-terminated arrays of them.
    unsafe {
        libc::execve(args.candidate.cast(), args.argv, args.envp);
        let errno = *libc::__errno_location();
        if errno == libc::ENOEXEC {
            libc::execve(SH.as_ptr(), args.sh_argv, args.envp);
        }
        errno
    }
}

/// The child's process group, terminal, pdeathsig and signal state.
fn prepare_child(args: &ChildArgs) -> io::Result<()> {
    for i in 0..args.nclose {
        // SAFETY: `close` points at `nclose` fds in the suspended parent's
        // `SpawnOptions`, alive until this child execs or exits; close(2)
        // is async-signal-safe, and closing this child's copies touches
        // nothing of the parent's.
        unsafe { libc::close(*args.close.add(i)) };
    }
    // Block everything while we move process groups, so SIGTTOU from
    // tcsetpgrp in a background group cannot stop us.
    signals::raw_sigprocmask(libc::SIG_SETMASK, Some(&signals::ALL_SIGNALS), None)?;
    // SAFETY: plain syscalls with integer arguments.
    unsafe {
        if libc::setpgid(0, 0) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::isatty(libc::STDIN_FILENO) == 1 {
            // Errors are not fatal: a tty from another session (ENOTTY,
            // EPERM) just means no job control.
            let pgrp = libc::getpgrp();
            libc::tcsetpgrp(libc::STDIN_FILENO, pgrp);
        }
        if args.pdeathsig != 0
            && libc::prctl(
                libc::PR_SET_PDEATHSIG,
                args.pdeathsig as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    signals::restore_in_child(&args.inherited)?;
    if args.pdeathsig != 0 {
        // sealinit died between the clone and the prctl: the kernel will
        // never send the signal, so deliver it now (as tini).
        // SAFETY: plain syscalls.
        unsafe {
            if libc::getppid() != args.parent {
                libc::kill(libc::getpid(), args.pdeathsig);
            }
        }
    }
    Ok(())
}

/// The child's stack: an anonymous private mapping (`mmap(2)`), unmapped
/// when dropped. Only the pages the child touches are ever allocated.
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

impl ChildStack {
    fn new(min: usize) -> io::Result<ChildStack> {
        let len = min.div_ceil(4096) * 4096;
        // SAFETY: a fresh anonymous mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(ChildStack { base, len })
    }

    /// The highest address (stacks grow down on every target).
    fn top(&self) -> *mut libc::c_void {
        // SAFETY: one past the end of the mapping, 16-byte aligned (page
        // aligned).
        unsafe { self.base.cast::<u8>().add(self.len).cast() }
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, no longer used by anyone.
        unsafe { libc::munmap(self.base, self.len) };
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

/// Whether `pid` has exited or is already exiting on its own: a zombie
/// not yet reaped (`waitid(2)` with `WNOWAIT` peeks without reaping), or a
/// task inside `exit(2)` (`PF_EXITING` in `/proc/PID/stat`, set before the
/// kernel closes its files and unmaps its memory, which is what can make a
/// usage threshold cross at exit). False when it cannot be told.
pub fn exiting(pid: i32) -> bool {
    exited(pid)
        || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| exiting_from_stat(&s))
            .unwrap_or(false)
}

/// Whether the child `pid` has exited and is a zombie not yet reaped:
/// `waitid(2)` with `WNOWAIT` peeks without reaping.
pub fn exited(pid: i32) -> bool {
    // SAFETY: siginfo_t is plain data; zeroed is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: plain syscall with a valid out-pointer.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is valid to read for a SIGCHLD siginfo (zero when no
    // child has changed state).
    rc == 0 && unsafe { info.si_pid() } == pid
}

/// `PF_EXITING` in include/linux/sched.h.
const PF_EXITING: u64 = 0x4;

/// From a `/proc/PID/stat` line: whether the task is a zombie or dead
/// (state `Z`, `X`) or has `PF_EXITING` in its flags (field 9).
fn exiting_from_stat(stat: &str) -> Option<bool> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    // After the state: ppid pgrp session tty_nr tpgid, then flags.
    let flags: u64 = fields.nth(5)?.parse().ok()?;
    Some(matches!(state, "Z" | "X" | "x") || flags & PF_EXITING != 0)
}

/// Writes `text` (at most [`TERMINATION_LOG_MAX`] bytes, which is all the
/// kubelet reads) to the termination log at `path`, replacing what was
/// there. With `create` false the file must already exist (the default
/// `/dev/termination-log` is a file the runtime mounts); an explicit path
/// is created (mode 0644). Opens with `O_NONBLOCK` (a FIFO without a
/// reader is refused, not waited on) and `O_NOCTTY`; calls `open(2)`,
/// `write(2)`.
pub fn write_termination_log(path: &Path, text: &str, create: bool) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .mode(0o644);
    if create {
        opts.create(true);
    }
    let mut file = opts
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("open {}: {e}", path.display())))?;
    let mut end = text.len().min(TERMINATION_LOG_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    file.write_all(&text.as_bytes()[..end])
        .map_err(|e| io::Error::new(e.kind(), format!("write {}: {e}", path.display())))
}

/// The most the kubelet reads from a termination message file.
pub const TERMINATION_LOG_MAX: usize = 4096;

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
    fn exiting_is_read_from_the_state_and_flags() {
        let cases = [
            ("running", "7 (sh) S 1 7 7 0 -1 4194560 0 0", Some(false)),
            ("zombie", "7 (sh) Z 1 7 7 0 -1 4194560 0 0", Some(true)),
            ("PF_EXITING", "7 (a b) R 1 7 7 0 -1 4194564 0 0", Some(true)),
            ("a ) in comm", "7 (x) Z) S 1 7 7 0 -1 64 0", Some(false)),
            ("short", "7 (sh) S 1", None),
        ];
        for (name, line, want) in cases {
            assert_eq!(exiting_from_stat(line), want, "case {name}");
        }
        // SAFETY: getpid cannot fail.
        assert!(!exiting(unsafe { libc::getpid() }), "this test is running");
        // A zombie child is exiting, and the peek does not reap it.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id() as i32;
        // SAFETY: siginfo_t is plain data; waitid with WNOWAIT waits for
        // the exit without reaping.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above, a valid out-pointer.
        unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        assert!(exiting(pid), "zombie {pid}");
        assert!(child.wait().expect("still reapable").success());
    }

    #[test]
    fn the_termination_log_is_capped_replaced_and_never_created_by_default() {
        let dir = std::env::temp_dir().join(format!("sealinit-termlog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let f = dir.join("log");
        assert!(write_termination_log(&f, "x", false).is_err(), "created");
        assert!(!f.exists());
        write_termination_log(&f, &"é".repeat(3000), true).expect("write");
        let got = std::fs::read_to_string(&f).expect("read");
        assert!(got.len() <= TERMINATION_LOG_MAX && got.len() >= TERMINATION_LOG_MAX - 1);
        write_termination_log(&f, "short", false).expect("rewrite");
        assert_eq!(std::fs::read_to_string(&f).expect("read"), "short");
        // A FIFO without a reader is refused at once, not waited on.
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf8")).expect("c");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(write_termination_log(&fifo, "x", false).is_err());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

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
