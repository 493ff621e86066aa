//! Signal plumbing at the process edge: the raw kernel signal mask, the
//! signalfd sealinit waits on, and the snapshot of what sealinit inherited
//! (mask and ignored dispositions) so the workload can be given exactly that.
//!
//! The raw `rt_sigprocmask(2)`/`signalfd4(2)` syscalls are used instead of
//! glibc's wrappers because glibc refuses to block signals 32 and 33 (it keeps
//! them for thread cancellation and set*id broadcasts, neither of which
//! sealinit uses). With the raw calls every signal the kernel lets a process
//! receive, 1..=64, reaches the signalfd and can be forwarded.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// A kernel signal set: bit `n-1` is signal `n` (the kernel's `sigset_t` is
/// 64 bits on every Linux architecture sealinit targets).
pub type KernelSigSet = u64;

/// Every signal 1..=64.
pub const ALL_SIGNALS: KernelSigSet = u64::MAX;

/// `struct sigaction` as the kernel's `rt_sigaction(2)` reads it on x86_64
/// and aarch64 (glibc's userspace struct has a different layout).
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: KernelSigSet,
}

/// What sealinit inherited from its caller, taken before anything else runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inherited {
    /// The blocked mask at start.
    pub mask: KernelSigSet,
    /// Signals whose disposition was `SIG_IGN` at start, of those sealinit
    /// must restore (SIGPIPE; see [`block_all_and_snapshot`]).
    pub ignored: KernelSigSet,
}

/// Blocks every signal and returns what was inherited. Call this first in
/// `main`, before any thread exists, so no signal can be delivered to a
/// default handler and every later thread inherits the full mask.
///
/// Only SIGPIPE's disposition is recorded: sealinit installs no signal
/// handler and changes no disposition, so every other ignored signal passes
/// to the workload through the spawn and exec untouched. SIGPIPE is the one
/// a Rust runtime may change (std's own `main` ignores it; sealinit's C
/// `main` skips that), so the child is given exactly the inherited one (see
/// [`restore_in_child`]).
///
/// Calls `rt_sigprocmask(2)` (SIG_SETMASK) and `rt_sigaction(2)` (query).
pub fn block_all_and_snapshot() -> io::Result<Inherited> {
    let mut old: KernelSigSet = 0;
    raw_sigprocmask(libc::SIG_SETMASK, Some(&ALL_SIGNALS), Some(&mut old))?;
    let mut ignored = 0;
    let mut cur = KernelSigaction::default();
    // SAFETY: raw rt_sigaction with a null new action and a valid old one
    // in the kernel's layout; the kernel's sigset size is 8 bytes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            libc::SIGPIPE,
            std::ptr::null::<KernelSigaction>(),
            &mut cur as *mut KernelSigaction,
            8usize,
        )
    };
    if rc == 0 && cur.handler == libc::SIG_IGN {
        ignored |= bit(libc::SIGPIPE);
    }
    Ok(Inherited { mask: old, ignored })
}

/// The bit of signal `sig` in a [`KernelSigSet`].
pub fn bit(sig: i32) -> KernelSigSet {
    1u64 << (sig - 1)
}

/// `rt_sigprocmask(2)` on the calling thread with a kernel-sized set.
/// Async-signal-safe (one syscall), usable between clone and exec.
pub fn raw_sigprocmask(
    how: libc::c_int,
    set: Option<&KernelSigSet>,
    old: Option<&mut KernelSigSet>,
) -> io::Result<()> {
    let set_ptr = set.map_or(std::ptr::null(), |s| s as *const KernelSigSet);
    let old_ptr = old.map_or(std::ptr::null_mut(), |s| s as *mut KernelSigSet);
    // SAFETY: both pointers are null or point to a live u64, which is the
    // kernel's sigset size on Linux (passed as the last argument).
    let rc = unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, set_ptr, old_ptr, 8usize) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Restores, in the child before its exec, the mask and the SIGPIPE
/// disposition (SIG_IGN or SIG_DFL) sealinit inherited; every other
/// disposition is inherited untouched, see [`block_all_and_snapshot`].
/// Only raw syscalls: async-signal-safe, usable between clone and exec.
pub fn restore_in_child(inh: &Inherited) -> io::Result<()> {
    let handler = if inh.ignored & bit(libc::SIGPIPE) != 0 {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    let act = KernelSigaction {
        handler,
        ..KernelSigaction::default()
    };
    // SAFETY: valid pointers in the kernel's layout, sigset size 8.
    // SA_RESTORER is only needed for real handlers, not SIG_IGN/SIG_DFL.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            libc::SIGPIPE,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            8usize,
        )
    };
    raw_sigprocmask(libc::SIG_SETMASK, Some(&inh.mask), None)
}

/// One signal read from the signalfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub signo: i32,
    /// Sender pid (`ssi_pid`), 0 for kernel-generated signals.
    pub pid: u32,
    /// `ssi_code`: SI_USER, SI_QUEUE, SI_KERNEL, ...
    pub code: i32,
    /// `ssi_int`: the value of a queued (`sigqueue`) signal.
    pub value: i32,
}

/// A signalfd for every signal, non-blocking and close-on-exec.
/// Calls `signalfd4(2)` with the kernel-sized set.
pub fn signalfd_all() -> io::Result<OwnedFd> {
    // SAFETY: the set pointer is a live u64 and the size is the kernel's.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_signalfd4,
            -1,
            &ALL_SIGNALS as *const KernelSigSet,
            8usize,
            libc::SFD_NONBLOCK | libc::SFD_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Reads every pending signal from a non-blocking signalfd (`read(2)` of
/// `signalfd_siginfo` records until EAGAIN).
pub fn read_signals(fd: RawFd, out: &mut Vec<Received>) -> io::Result<()> {
    const SZ: usize = std::mem::size_of::<libc::signalfd_siginfo>();
    let mut buf = [0u8; SZ * 32];
    loop {
        // SAFETY: reading into a stack buffer of the stated length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::EAGAIN) => Ok(()),
                Some(libc::EINTR) => continue,
                _ => Err(err),
            };
        }
        let n = n as usize;
        if n == 0 {
            return Ok(());
        }
        for chunk in buf[..n].chunks_exact(SZ) {
            // SAFETY: the kernel wrote whole signalfd_siginfo records; the
            // unaligned read copies one out of the byte buffer.
            let info: libc::signalfd_siginfo =
                unsafe { std::ptr::read_unaligned(chunk.as_ptr().cast()) };
            out.push(Received {
                signo: info.ssi_signo as i32,
                pid: info.ssi_pid,
                code: info.ssi_code,
                value: info.ssi_int,
            });
        }
        if n < buf.len() {
            return Ok(());
        }
    }
}

/// Sends `sig` to `pid` (a negative pid is a process group), carrying the
/// original queued value for real-time signals so `sigqueue` payloads and
/// their order survive forwarding. Calls `kill(2)` or `rt_sigqueueinfo(2)`.
pub fn send(pid: i32, sig: i32, queued_value: Option<i32>) -> io::Result<()> {
    let rc = match queued_value {
        Some(v) if pid > 0 => {
            let val = libc::sigval {
                sival_ptr: v as isize as *mut libc::c_void,
            };
            // SAFETY: plain syscall wrapper with a by-value sigval.
            unsafe { libc::sigqueue(pid, sig, val) }
        }
        // SAFETY: plain syscall.
        _ => unsafe { libc::kill(pid, sig) },
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_map_signal_numbers_to_kernel_positions() {
        assert_eq!(bit(1), 1);
        assert_eq!(bit(libc::SIGTERM), 1 << 14);
        assert_eq!(bit(64), 1 << 63);
    }
}
