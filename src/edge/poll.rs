//! Waiting on descriptors at the edge: `poll(2)` with a deadline, and the
//! one place where a deadline becomes a poll timeout.
//!
//! [`timeout_ms`] is shared by every loop that waits with a deadline (the
//! supervisor; the watchers may use it too): the arithmetic saturates, so a
//! deadline days or centuries away (`--grace 600h`, `--grace` of u64::MAX
//! milliseconds) waits at most `i32::MAX` ms per call and is re-armed,
//! instead of overflowing (a panic in a debug build, a negative timeout =
//! "wait forever" in a release build).

use std::io;
use std::os::fd::RawFd;
use std::time::Instant;

/// The `poll(2)` timeout, in milliseconds, for waking at `deadline`:
/// `-1` (no timeout) for `None`, `0` when the deadline has passed, else the
/// time left rounded *up* (never wake a millisecond early and spin), capped
/// at `i32::MAX` (about 24.8 days; the caller's loop simply waits again).
pub fn timeout_ms(deadline: Option<Instant>, now: Instant) -> i32 {
    let Some(deadline) = deadline else {
        return -1;
    };
    let left = deadline.saturating_duration_since(now);
    let whole = left.as_millis();
    let ms = if left.as_nanos() % 1_000_000 == 0 {
        whole
    } else {
        whole.saturating_add(1)
    };
    i32::try_from(ms).unwrap_or(i32::MAX)
}

/// `now + d`, or `None` ("never") when that is past what an [`Instant`]
/// can hold. A deadline that far away is never reached anyway.
pub fn deadline_after(now: Instant, d: std::time::Duration) -> Option<Instant> {
    now.checked_add(d)
}

/// Waits until one of `fds` is readable (or hung up), or `deadline`
/// passes. Returns, per descriptor, whether it needs attention; all false
/// on a timeout or EINTR. Calls `poll(2)` with [`timeout_ms`].
pub fn wait_readable<const N: usize>(
    fds: [RawFd; N],
    deadline: Option<Instant>,
) -> io::Result<[bool; N]> {
    let mut pfds = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    let timeout = timeout_ms(deadline, Instant::now());
    // SAFETY: `pfds` is a live array of N initialised pollfd structs; a
    // negative fd is ignored by poll(2).
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), N as libc::nfds_t, timeout) };
    if n < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            return Ok([false; N]);
        }
        return Err(io::Error::new(err.kind(), format!("poll: {err}")));
    }
    Ok(pfds.map(|p| p.revents != 0))
}

/// Empties a non-blocking pipe (`read(2)` until EAGAIN); false once the
/// write end is closed (EOF) or the descriptor is bad.
pub fn drain_pipe(fd: RawFd) -> bool {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reading into a stack buffer of the stated length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            return false;
        }
        if n < 0 {
            return match io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EBADF) => false,
                _ => true,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Regression (issue 14): `--grace 600h` made `millis.min(i32::MAX) + 1`
    /// overflow: a panic in debug, a negative (infinite) timeout in release.
    #[test]
    fn timeouts_saturate_and_round_up() {
        let now = Instant::now();
        let at = |d: Duration| Some(now + d);
        let cases: &[(&str, Option<Instant>, i32)] = &[
            ("no deadline", None, -1),
            ("passed", Some(now), 0),
            ("in the past", now.checked_sub(Duration::from_secs(5)), 0),
            ("whole ms", at(Duration::from_millis(250)), 250),
            ("rounded up", at(Duration::from_micros(1)), 1),
            ("rounded up 2", at(Duration::from_micros(2_500)), 3),
            (
                "just under the cap",
                at(Duration::from_millis(i32::MAX as u64 - 1)),
                i32::MAX - 1,
            ),
            (
                "the cap itself",
                at(Duration::from_millis(i32::MAX as u64)),
                i32::MAX,
            ),
            (
                "the cap plus a fraction",
                at(Duration::from_nanos(i32::MAX as u64 * 1_000_000 + 1)),
                i32::MAX,
            ),
            ("600h", at(Duration::from_secs(600 * 3600)), i32::MAX),
            ("u64::MAX ms", at(Duration::from_millis(u64::MAX)), i32::MAX),
        ];
        for (name, deadline, want) in cases {
            assert_eq!(timeout_ms(*deadline, now), *want, "case {name}");
        }
    }

    #[test]
    fn deadlines_past_what_an_instant_holds_are_never() {
        let now = Instant::now();
        assert!(deadline_after(now, Duration::from_millis(u64::MAX)).is_some());
        assert_eq!(deadline_after(now, Duration::MAX), None);
        assert_eq!(timeout_ms(deadline_after(now, Duration::MAX), now), -1);
    }

    #[test]
    fn wait_readable_times_out_and_sees_a_readable_pipe() {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills a two-element array.
        assert_eq!(
            unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) },
            0
        );
        let got = wait_readable([fds[0]], Some(Instant::now())).expect("poll");
        assert_eq!(got, [false]);
        // SAFETY: writing one byte from a live buffer.
        assert_eq!(unsafe { libc::write(fds[1], [1u8].as_ptr().cast(), 1) }, 1);
        let got = wait_readable([fds[0], -1], None).expect("poll");
        assert_eq!(got, [true, false]);
        assert!(drain_pipe(fds[0]), "write end still open");
        // SAFETY: closing the fds this test opened.
        unsafe { libc::close(fds[1]) };
        assert!(!drain_pipe(fds[0]), "EOF once the write end is closed");
        // SAFETY: as above.
        unsafe { libc::close(fds[0]) };
    }
}
