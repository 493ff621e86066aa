//! The supervisor loop: after the workload is spawned, sealinit lives here
//! until it has reaped everything, then returns the exit code.
//!
//! One `poll(2)` waits on the signalfd and on a wake pipe fed by the watcher
//! threads; there is no timeout unless a grace deadline is pending, so an idle
//! container costs no wake-ups. Nothing in here returns early or panics on an
//! error: every failure is logged and the loop carries on (the container's
//! life is the workload's life).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::core::exitcode;
use crate::core::options::{signal_name, LimitAction};
use crate::core::quantity;
use crate::core::threshold::Transition;
use crate::edge::process::{self, Ended};
use crate::edge::signals::{self, Received};
use crate::orchestra::metrics::SharedCounters;
use crate::orchestra::watcher::WatchEvent;
use std::sync::atomic::Ordering;

/// What the watcher threads may ask of the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Send this signal to the workload (`--limit-action signal:SIG`).
    Signal { signo: i32, reason: String },
    /// Stop the workload gracefully and exit with `code` (75, 77).
    Stop { code: i32, reason: String },
}

/// The supervisor's settings.
#[derive(Clone)]
pub struct Settings {
    /// Forward to the child's process group (`-g`).
    pub pgroup: bool,
    /// TERM→KILL delay.
    pub grace: Duration,
    /// What a usage crossing of `--act-at` does.
    pub limit_action: LimitAction,
    /// Counters exported by `--metrics`.
    pub counters: SharedCounters,
    /// Told the number of each SIGTERM or SIGINT forwarded to the workload
    /// (`sealinit learn` scans at once, beside the workload's shutdown).
    pub on_stop_signal: Option<std::sync::mpsc::Sender<i32>>,
}

/// Requests from the watcher threads: a channel plus the read end of a pipe
/// that the sender writes one byte to after each message.
pub struct Requests {
    /// From the tamper watch.
    pub rx: Receiver<Request>,
    /// Threshold transitions from the usage watcher.
    pub usage: Receiver<WatchEvent>,
    pub wake: OwnedFd,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub code: i32,
    pub reason: String,
}

struct State {
    child: i32,
    pid1: bool,
    me: u32,
    settings: Settings,
    main: Option<Ended>,
    /// Set by a Stop request: the exit code and why.
    stop: Option<(i32, String)>,
    /// When to SIGKILL the workload after a Stop request.
    stop_deadline: Option<Instant>,
    /// When to SIGKILL what is left after the main child exited.
    grace_deadline: Option<Instant>,
    /// Orphans already sent SIGTERM during shutdown (subreaper mode).
    termed: Vec<i32>,
    killed: bool,
    no_children: bool,
    /// Keeps a signal storm from flooding the log at info level.
    signal_log: LogBudget,
}

/// At most [`LogBudget::PER_SECOND`] info-level lines per second; the rest
/// go to debug, and the next allowed line says how many were demoted.
#[derive(Debug, Default)]
struct LogBudget {
    window: Option<Instant>,
    used: u32,
    demoted: u64,
}

impl LogBudget {
    const PER_SECOND: u32 = 20;

    fn allow(&mut self, now: Instant) -> bool {
        let fresh = self
            .window
            .is_none_or(|w| now.duration_since(w) >= Duration::from_secs(1));
        if fresh {
            if self.demoted > 0 {
                tracing::info!(
                    event = "signal",
                    demoted = self.demoted,
                    "{} more forwarded signal(s) were logged at debug level only",
                    self.demoted
                );
            }
            self.window = Some(now);
            self.used = 0;
            self.demoted = 0;
        }
        if self.used < Self::PER_SECOND {
            self.used += 1;
            true
        } else {
            self.demoted += 1;
            false
        }
    }
}

/// Runs the loop until the main child has exited and every other process
/// has been reaped.
pub fn run(
    child: i32,
    sigfd: &OwnedFd,
    settings: Settings,
    mut requests: Option<Requests>,
) -> Outcome {
    let mut st = State {
        child,
        pid1: std::process::id() == 1,
        me: std::process::id(),
        settings,
        main: None,
        stop: None,
        stop_deadline: None,
        grace_deadline: None,
        termed: Vec::new(),
        killed: false,
        no_children: false,
        signal_log: LogBudget::default(),
    };
    let mut sigs = Vec::with_capacity(32);
    let mut errors = 0u32;
    loop {
        if st.main.is_some() && st.no_children {
            break;
        }
        let mut fds = vec![libc::pollfd {
            fd: sigfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if let Some(r) = &requests {
            fds.push(libc::pollfd {
                fd: r.wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let timeout = st.next_deadline().map_or(-1, |d| {
            let left = d.saturating_duration_since(Instant::now());
            // Round up so we never wake a millisecond early and spin.
            left.as_millis().min(i32::MAX as u128) as i32 + 1
        });
        // SAFETY: `fds` is a live array of initialised pollfd structs.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                errors += 1;
                tracing::error!(event = "error", error = %err, "poll failed: {err}; retrying");
                if errors > 3 {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
            continue;
        }
        errors = 0;
        if fds[0].revents != 0 {
            sigs.clear();
            if let Err(err) = signals::read_signals(sigfd.as_raw_fd(), &mut sigs) {
                tracing::error!(event = "error", error = %err, "reading the signalfd failed: {err}");
            }
            for s in &sigs {
                st.on_signal(*s);
            }
        }
        if let (Some(r), Some(pfd)) = (&requests, fds.get(1)) {
            if pfd.revents != 0 {
                let open = drain(r.wake.as_raw_fd());
                while let Ok(req) = r.rx.try_recv() {
                    st.on_request(req);
                }
                while let Ok(ev) = r.usage.try_recv() {
                    if let Some(req) = limit_request(&ev, st.settings.limit_action) {
                        st.on_request(req);
                    }
                }
                if !open {
                    // Every sender is gone (POLLHUP would fire forever).
                    requests = None;
                }
            }
        }
        st.on_deadlines();
    }
    st.outcome()
}

/// Empties the wake pipe; false once the write end is closed (EOF).
fn drain(fd: i32) -> bool {
    let mut buf = [0u8; 64];
    loop {
        // SAFETY: reading into a stack buffer from a non-blocking pipe.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            return false;
        }
        if n < 0 {
            return io::Error::last_os_error().raw_os_error() != Some(libc::EBADF);
        }
    }
}

impl State {
    fn next_deadline(&self) -> Option<Instant> {
        match (self.stop_deadline, self.grace_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_signal(&mut self, s: Received) {
        if s.signo == libc::SIGCHLD {
            self.reap_all();
            return;
        }
        if s.pid == self.me {
            // Raised by sealinit itself (e.g. SIGPIPE from a write to a broken
            // stderr): not for the workload.
            return;
        }
        let name = signal_name(s.signo);
        if self.main.is_some() {
            // The main child is gone; what is left is being shut down.
            tracing::debug!(event = "signal", signal = %name, "{name} received during shutdown; not forwarded");
            return;
        }
        let target = if self.settings.pgroup {
            -self.child
        } else {
            self.child
        };
        if s.signo == libc::SIGTERM || s.signo == libc::SIGINT {
            if let Some(tx) = &self.settings.on_stop_signal {
                let _ = tx.send(s.signo);
            }
        }
        let queued = (s.code == libc::SI_QUEUE).then_some(s.value);
        match signals::send(target, s.signo, queued) {
            Ok(()) => {
                if self.signal_log.allow(Instant::now()) {
                    tracing::info!(event = "signal", signal = %name, to = target, from = s.pid,
                        "forwarded {name} to {}", describe(target));
                } else {
                    tracing::debug!(event = "signal", signal = %name, to = target, from = s.pid,
                        "forwarded {name} to {}", describe(target));
                }
            }
            Err(err) => {
                tracing::warn!(event = "signal", signal = %name, to = target, error = %err, "could not forward {name} to {}: {err}", describe(target));
            }
        }
    }

    /// Reaps every exited process. Shutdown work (listing what is left in
    /// /proc) happens once per batch, after the loop, and not at all when
    /// waitpid already says no child is left.
    fn reap_all(&mut self) {
        let mut main_exited = false;
        let mut others = false;
        loop {
            match process::reap_one() {
                Ok(Some((pid, ended))) if pid == self.child && self.main.is_none() => {
                    self.main = Some(ended);
                    let (code, how) = match ended {
                        Ended::Exited(c) => (c, format!("exited with code {c}")),
                        Ended::Signaled(n) => (
                            exitcode::for_signal(n),
                            format!("was killed by {}", signal_name(n)),
                        ),
                    };
                    tracing::info!(
                        event = "child.exit",
                        pid,
                        code,
                        "workload (pid {pid}) {how}"
                    );
                    self.stop_deadline = None;
                    main_exited = true;
                }
                Ok(Some((pid, _))) => {
                    tracing::debug!(event = "reap", pid, "reaped pid {pid}");
                    others = true;
                }
                Ok(None) => break,
                Err(err) => {
                    if err.raw_os_error() == Some(libc::ECHILD) {
                        self.no_children = true;
                    } else {
                        tracing::error!(event = "error", error = %err, "waitpid failed: {err}");
                    }
                    break;
                }
            }
        }
        if self.no_children {
            return;
        }
        if main_exited {
            self.begin_shutdown();
        } else if others && self.main.is_some() && !self.killed && !self.pid1 {
            // A process that died may have left orphans of its own.
            let left = self.remaining();
            self.term_new_orphans(&left);
        }
    }

    /// The main child is gone: SIGTERM (and SIGCONT, so stopped processes
    /// see it) to everything left, with `--grace` to finish.
    fn begin_shutdown(&mut self) {
        let listed = process::children();
        if !must_wait(&listed) {
            // Nothing left to signal: the reap loop sees ECHILD and ends.
            return;
        }
        if let Err(err) = &listed {
            tracing::warn!(event = "shutdown", error = %err,
                "cannot list the remaining processes ({err}): signalling the workload's \
                 process group instead");
        }
        let left = listed.unwrap_or_default();
        let grace = self.settings.grace;
        if self.pid1 {
            signal_all(libc::SIGTERM);
            signal_all(libc::SIGCONT);
        } else {
            self.term_new_orphans(&left);
            let _ = signals::send(-self.child, libc::SIGTERM, None);
            let _ = signals::send(-self.child, libc::SIGCONT, None);
        }
        tracing::info!(
            event = "shutdown",
            remaining = left.len() as u64,
            grace_ms = grace.as_millis() as u64,
            "sent SIGTERM to the {} remaining process(es); SIGKILL in {:?} if they are still running",
            if left.is_empty() { "unknown number of".to_string() } else { left.len().to_string() },
            grace
        );
        self.grace_deadline = Some(Instant::now() + grace);
    }

    /// SIGTERM (and SIGCONT) to each of `pids` not signalled before.
    fn term_new_orphans(&mut self, pids: &[i32]) {
        for &pid in pids {
            if !self.termed.contains(&pid) {
                let _ = signals::send(pid, libc::SIGTERM, None);
                let _ = signals::send(pid, libc::SIGCONT, None);
                self.termed.push(pid);
            }
        }
    }

    fn remaining(&self) -> Vec<i32> {
        process::children().unwrap_or_default()
    }

    fn on_request(&mut self, req: Request) {
        if self.main.is_some() {
            return;
        }
        match req {
            Request::Signal { signo, reason } => {
                self.settings
                    .counters
                    .limit_actions
                    .fetch_add(1, Ordering::Relaxed);
                let target = if self.settings.pgroup {
                    -self.child
                } else {
                    self.child
                };
                let name = signal_name(signo);
                match signals::send(target, signo, None) {
                    Ok(()) => {
                        tracing::warn!(event = "limit.action", action = "signal", signal = %name, reason = %reason,
                        "sent {name} to {}: {reason}", describe(target))
                    }
                    Err(err) => {
                        tracing::error!(event = "limit.action", action = "signal", signal = %name, error = %err,
                        "could not send {name} to {}: {err}", describe(target))
                    }
                }
            }
            Request::Stop { code, reason } => {
                if self.stop.is_some() {
                    return;
                }
                if code == exitcode::LIMIT_STOP {
                    self.settings
                        .counters
                        .limit_actions
                        .fetch_add(1, Ordering::Relaxed);
                }
                let grace = self.settings.grace;
                let event = if code == exitcode::LIMIT_STOP {
                    "limit.action"
                } else {
                    "stop"
                };
                tracing::error!(event, action = "stop", code, reason = %reason,
                    "stopping the workload: {reason}; SIGTERM now, SIGKILL in {grace:?}, then exit {code}");
                let target = if self.settings.pgroup {
                    -self.child
                } else {
                    self.child
                };
                let _ = signals::send(target, libc::SIGTERM, None);
                let _ = signals::send(target, libc::SIGCONT, None);
                self.stop = Some((code, reason));
                self.stop_deadline = Some(Instant::now() + grace);
            }
        }
    }

    fn on_deadlines(&mut self) {
        let now = Instant::now();
        if self.stop_deadline.is_some_and(|d| d <= now) {
            self.stop_deadline = None;
            if self.main.is_none() {
                tracing::warn!(
                    event = "signal",
                    signal = "SIGKILL",
                    to = self.child,
                    "workload did not stop within the grace period; sending SIGKILL"
                );
                let _ = signals::send(-self.child, libc::SIGKILL, None);
                let _ = signals::send(self.child, libc::SIGKILL, None);
            }
        }
        if self.grace_deadline.is_some_and(|d| d <= now) {
            let left = self.remaining();
            if self.pid1 {
                signal_all(libc::SIGKILL);
            } else {
                for pid in &left {
                    let _ = signals::send(*pid, libc::SIGKILL, None);
                }
                let _ = signals::send(-self.child, libc::SIGKILL, None);
            }
            if !self.killed {
                tracing::warn!(
                    event = "signal",
                    signal = "SIGKILL",
                    remaining = left.len() as u64,
                    "{} process(es) still running after the grace period; sent SIGKILL",
                    left.len()
                );
            }
            self.killed = true;
            // Keep checking every second for late orphans (SIGKILL is final,
            // but a process may still be forking while it dies).
            self.grace_deadline = Some(now + Duration::from_secs(1));
            self.reap_all();
        }
    }

    fn outcome(&self) -> Outcome {
        if let Some((code, reason)) = &self.stop {
            return Outcome {
                code: *code,
                reason: reason.clone(),
            };
        }
        match self.main {
            Some(Ended::Exited(c)) => Outcome {
                code: c,
                reason: format!("workload exited with code {c}"),
            },
            Some(Ended::Signaled(n)) => Outcome {
                code: exitcode::for_signal(n),
                reason: format!("workload was killed by {}", signal_name(n)),
            },
            None => Outcome {
                code: exitcode::OS_ERROR,
                reason: "workload status unknown".into(),
            },
        }
    }
}

/// What `--limit-action` asks for when a mount crosses `--act-at`; `None`
/// for every other transition. `warn` is logged here, since it asks
/// nothing of the supervisor.
fn limit_request(ev: &WatchEvent, action: LimitAction) -> Option<Request> {
    if ev.transition != Transition::CrossedAct {
        return None;
    }
    let limit = ev.limit?;
    let pct = ev.used.saturating_mul(100) / limit.max(1);
    let reason = format!(
        "{} ({}) uses {} of its {} limit ({pct}%)",
        ev.path.display(),
        ev.kind.as_str(),
        quantity::format(ev.used),
        quantity::format(limit),
    );
    match action {
        LimitAction::Warn => {
            tracing::warn!(event = "limit.action", action = "warn", path = %ev.path.display(), used = ev.used, limit,
                "{reason}: --limit-action warn, no action taken; the kubelet evicts the pod above 100%");
            None
        }
        LimitAction::Signal(signo) => Some(Request::Signal { signo, reason }),
        LimitAction::Stop => Some(Request::Stop {
            code: exitcode::LIMIT_STOP,
            reason,
        }),
    }
}

/// Whether shutdown must signal what is left and start the grace period:
/// when processes are left, and also when they cannot be listed (no
/// `/proc`), since orphans may still run and only the process group (or,
/// as PID 1, everything) can be reached. Without this, sealinit waited
/// forever for an orphan it never signalled.
fn must_wait(listed: &io::Result<Vec<i32>>) -> bool {
    !matches!(listed, Ok(left) if left.is_empty())
}

/// `kill(-1, sig)`: every process in our PID namespace but us (PID 1 only).
fn signal_all(sig: i32) {
    let _ = signals::send(-1, sig, None);
}

fn describe(target: i32) -> String {
    if target < 0 {
        format!("process group {}", -target)
    } else {
        format!("pid {target}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_budget_demotes_past_the_per_second_limit_and_refills() {
        let mut b = LogBudget::default();
        let t0 = Instant::now();
        let allowed = (0..100).filter(|_| b.allow(t0)).count();
        assert_eq!(allowed, LogBudget::PER_SECOND as usize);
        assert_eq!(b.demoted, 100 - u64::from(LogBudget::PER_SECOND));
        assert!(
            b.allow(t0 + Duration::from_millis(1001)),
            "a new second refills"
        );
        assert_eq!(b.demoted, 0);
    }

    /// Regression (hardening): without /proc the remaining processes could
    /// not be listed, shutdown signalled nothing, and sealinit hung on an
    /// orphan of the workload.
    #[test]
    fn shutdown_waits_when_what_is_left_is_unknown() {
        let cases: [(&str, io::Result<Vec<i32>>, bool); 3] = [
            ("nothing left", Ok(vec![]), false),
            ("orphans left", Ok(vec![42]), true),
            (
                "no /proc",
                Err(io::Error::from_raw_os_error(libc::ENOENT)),
                true,
            ),
        ];
        for (name, listed, want) in cases {
            assert_eq!(must_wait(&listed), want, "case {name}");
        }
    }
}
