//! The supervisor loop: after the workload is spawned, sealinit lives here
//! until it has reaped everything, then returns the exit code.
//!
//! The shutdown is an explicit [`Phase`]:
//!
//! ```text
//! Running ──Stop request──▶ Stopping ──deadline──▶ (SIGKILL, still Stopping)
//!    │                         │
//!    └──── workload exits ─────┴──▶ Draining ──grace over──▶ Killing
//!                                      │                       │
//!                                      └──── nothing left ─────┴──▶ Done
//! ```
//!
//! One `poll(2)` (`edge::poll`) waits on the signalfd and on a wake pipe fed
//! by the watcher threads; there is no timeout unless a deadline is pending,
//! so an idle container costs no wake-ups, and the timeout arithmetic
//! saturates (`--grace 600h` waits, it does not overflow). Nothing in here
//! returns early or panics on an error: every failure is logged and the loop
//! carries on (the container's life is the workload's life).
//!
//! Exit code: the workload's own (after `--remap-exit`), unless sealinit
//! itself stopped it (75, 77) — and only a stop begun while the workload was
//! still running counts: a request that arrives once it has exited, or while
//! it is already exiting on its own, leaves its own code.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use crate::core::cli::options::{signal_name, LimitAction};
use crate::core::exitcode;
use crate::edge::poll;
use crate::edge::process::{self, Ended};
use crate::edge::signals::{self, Received};
use crate::orchestra::metrics::SharedCounters;
use crate::orchestra::watcher::WatchEvent;

mod rules;
use rules::{describe, limit_request, must_wait, outcome, rewritten, LogBudget, Stop};

/// What the watcher threads may ask of the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Send this signal to the workload (`--limit-action signal:SIG`).
    Signal { signo: i32, reason: String },
    /// Stop the workload gracefully and exit with `code` (75, 77).
    Stop { code: i32, reason: String },
}

/// The supervisor's settings.
#[derive(Clone, Default)]
pub struct Settings {
    /// Forward to the child's process group (`-g`).
    pub pgroup: bool,
    /// TERM→KILL delay.
    pub grace: Duration,
    /// What a usage crossing of `--act-at` does.
    pub limit_action: LimitAction,
    /// Counters exported by `--metrics`.
    pub counters: SharedCounters,
    /// `--rewrite FROM:TO`: a signal FROM received by sealinit is delivered
    /// as TO; TO = 0 drops it (like dumb-init). Signals sealinit sends on
    /// its own (a stop's SIGTERM, the final SIGKILL) are not rewritten.
    pub rewrite: Vec<(i32, i32)>,
    /// `--remap-exit FROM:TO`: the workload's own exit code FROM (its exit
    /// status, or 128+N when it died of signal N) is reported as TO.
    /// sealinit's own codes (75, 77) are never remapped.
    pub remap_exit: Vec<(u8, u8)>,
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
    /// Whether sealinit decided this code (a stop: 75, 77), as opposed to
    /// passing on the workload's own: only those go to the termination log.
    pub decided: bool,
}

/// Where the shutdown stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// The workload runs; signals are forwarded to it.
    Running,
    /// sealinit sent the workload SIGTERM (a limit or tamper stop) while it
    /// ran; SIGKILL at `deadline` (`None`: already sent, or a grace beyond
    /// what a clock can hold).
    Stopping {
        deadline: Option<Instant>,
        stop: Stop,
    },
    /// The workload has exited; what is left got SIGTERM and has until
    /// `deadline` to finish.
    Draining {
        main: Ended,
        stop: Option<Stop>,
        deadline: Option<Instant>,
    },
    /// The grace is over and SIGKILL was sent; what is left is looked for
    /// again at `next` (a dying process may still fork).
    Killing {
        main: Ended,
        stop: Option<Stop>,
        next: Instant,
    },
    /// The workload has exited and no process is left.
    Done { main: Ended, stop: Option<Stop> },
}

impl Phase {
    fn deadline(&self) -> Option<Instant> {
        match self {
            Phase::Running | Phase::Done { .. } => None,
            Phase::Stopping { deadline, .. } | Phase::Draining { deadline, .. } => *deadline,
            Phase::Killing { next, .. } => Some(*next),
        }
    }

    /// The workload's end, once it has been reaped.
    fn main(&self) -> Option<Ended> {
        match self {
            Phase::Running | Phase::Stopping { .. } => None,
            Phase::Draining { main, .. }
            | Phase::Killing { main, .. }
            | Phase::Done { main, .. } => Some(*main),
        }
    }
}

struct State {
    child: i32,
    /// Where forwarded signals and a stop's SIGTERM go: the child, or its
    /// process group with `-g`. Computed once.
    target: i32,
    pid1: bool,
    me: u32,
    settings: Settings,
    phase: Phase,
    /// Orphans already sent SIGTERM during shutdown (subreaper mode).
    termed: Vec<i32>,
    /// Keeps a signal storm from flooding the log at info level.
    signal_log: LogBudget,
}

/// Runs the loop until the main child has exited and every other process
/// has been reaped. `early` are signals read from `sigfd` before the spawn
/// (other than the TERM/INT that cancel it): they are handled first.
pub fn run(
    child: i32,
    sigfd: &OwnedFd,
    settings: Settings,
    mut requests: Option<Requests>,
    early: Vec<Received>,
) -> Outcome {
    let mut st = State {
        child,
        target: if settings.pgroup { -child } else { child },
        pid1: std::process::id() == 1,
        me: std::process::id(),
        settings,
        phase: Phase::Running,
        termed: Vec::new(),
        signal_log: LogBudget::default(),
    };
    for s in early {
        st.on_signal(s);
    }
    let mut sigs = Vec::with_capacity(32);
    let mut errors = 0u32;
    while !matches!(st.phase, Phase::Done { .. }) {
        let wake = requests.as_ref().map_or(-1, |r| r.wake.as_raw_fd());
        let [sig_ready, wake_ready] =
            match poll::wait_readable([sigfd.as_raw_fd(), wake], st.phase.deadline()) {
                Ok(r) => r,
                Err(err) => {
                    errors += 1;
                    tracing::error!(event = "error", error = %err, "{err}; retrying");
                    if errors > 3 {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    continue;
                }
            };
        errors = 0;
        // Signals first: a SIGCHLD in the same batch as a stop request
        // means the workload exited before sealinit could stop it.
        if sig_ready {
            sigs.clear();
            if let Err(err) = signals::read_signals(sigfd.as_raw_fd(), &mut sigs) {
                tracing::error!(event = "error", error = %err, "reading the signalfd failed: {err}");
            }
            for s in &sigs {
                st.on_signal(*s);
            }
        }
        if let (true, Some(r)) = (wake_ready, &requests) {
            let open = poll::drain_pipe(r.wake.as_raw_fd());
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
        st.on_deadline();
    }
    st.outcome()
}

impl State {
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
        if self.phase.main().is_some() {
            // The main child is gone; what is left is being shut down.
            let name = signal_name(s.signo);
            tracing::debug!(event = "signal", signal = %name, "{name} received during shutdown; not forwarded");
            return;
        }
        let signo = rewritten(&self.settings.rewrite, s.signo);
        let target = self.target;
        if signo == 0 {
            let name = signal_name(s.signo);
            tracing::debug!(event = "signal", signal = %name, from = s.pid,
                "{name} dropped (--rewrite {}:0)", s.signo);
            return;
        }
        // The signal goes first: its names, the log line and their
        // allocations come after the kill, whose latency is what the
        // workload sees (`bench/signals_ab.sh`).
        let queued = (s.code == libc::SI_QUEUE).then_some(s.value);
        let result = signals::send(target, signo, queued);
        if s.signo == libc::SIGTERM || s.signo == libc::SIGINT {
            if let Some(tx) = &self.settings.on_stop_signal {
                let _ = tx.send(s.signo);
            }
        }
        let name = signal_name(s.signo);
        let sent = signal_name(signo);
        match result {
            Ok(()) => {
                let how = if signo == s.signo {
                    format!("forwarded {name}")
                } else {
                    format!("delivered {name} as {sent} (--rewrite)")
                };
                if self.signal_log.allow(Instant::now()) {
                    tracing::info!(event = "signal", signal = %sent, received = %name, to = target, from = s.pid,
                        "{how} to {}", describe(target));
                } else {
                    tracing::debug!(event = "signal", signal = %sent, received = %name, to = target, from = s.pid,
                        "{how} to {}", describe(target));
                }
            }
            Err(err) => {
                tracing::warn!(event = "signal", signal = %sent, to = target, error = %err,
                    "could not send {sent} to {}: {err}", describe(target));
            }
        }
    }

    /// Reaps every exited process. Shutdown work (listing what is left in
    /// /proc) happens once per batch, after the loop, and not at all when
    /// waitpid already says no child is left.
    fn reap_all(&mut self) {
        let mut main_exited = false;
        let mut others = false;
        let mut none_left = false;
        loop {
            match process::reap_one() {
                Ok(Some((pid, ended))) if pid == self.child && self.phase.main().is_none() => {
                    log_child_exit(pid, ended);
                    let stop = match std::mem::replace(&mut self.phase, Phase::Running) {
                        Phase::Stopping { stop, .. } => Some(stop),
                        _ => None,
                    };
                    self.phase = Phase::Draining {
                        main: ended,
                        stop,
                        deadline: None,
                    };
                    main_exited = true;
                }
                Ok(Some((pid, _))) => {
                    tracing::debug!(event = "reap", pid, "reaped pid {pid}");
                    others = true;
                }
                Ok(None) => break,
                Err(err) => {
                    if err.raw_os_error() == Some(libc::ECHILD) {
                        none_left = true;
                    } else {
                        tracing::error!(event = "error", error = %err, "waitpid failed: {err}");
                    }
                    break;
                }
            }
        }
        if none_left {
            if let Some(main) = self.phase.main() {
                let stop = self.take_stop();
                self.phase = Phase::Done { main, stop };
            }
            return;
        }
        if main_exited {
            self.begin_shutdown();
        } else if others && matches!(self.phase, Phase::Draining { .. }) && !self.pid1 {
            // A process that died may have left orphans of its own.
            let left = self.remaining();
            self.term_new_orphans(&left);
        }
    }

    fn take_stop(&mut self) -> Option<Stop> {
        match &mut self.phase {
            Phase::Stopping { stop, .. } => Some(stop.clone()),
            Phase::Draining { stop, .. }
            | Phase::Killing { stop, .. }
            | Phase::Done { stop, .. } => stop.take(),
            Phase::Running => None,
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
            grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
            "sent SIGTERM to the {} remaining process(es); SIGKILL in {:?} if they are still running",
            if left.is_empty() { "unknown number of".to_string() } else { left.len().to_string() },
            grace
        );
        if let Phase::Draining { deadline, .. } = &mut self.phase {
            *deadline = poll::deadline_after(Instant::now(), grace);
        }
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
        if self.phase.main().is_some() {
            return;
        }
        match req {
            Request::Signal { signo, reason } => self.limit_signal(signo, &reason),
            Request::Stop { code, reason } => self.stop(code, reason),
        }
    }

    /// `--limit-action signal:SIG`.
    fn limit_signal(&mut self, signo: i32, reason: &str) {
        self.settings
            .counters
            .limit_actions
            .fetch_add(1, Ordering::Relaxed);
        let target = self.target;
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

    /// A limit or tamper stop: SIGTERM now, SIGKILL after `--grace`. Only
    /// while the workload runs: one already exiting keeps its own code.
    fn stop(&mut self, code: i32, reason: String) {
        if !matches!(self.phase, Phase::Running) {
            return;
        }
        let event = if code == exitcode::LIMIT_STOP {
            "limit.action"
        } else {
            "stop"
        };
        if process::exiting(self.child) {
            tracing::info!(event, action = "none", code, reason = %reason,
                "not stopping the workload: it is already exiting on its own ({reason}); \
                 its own exit code is kept");
            return;
        }
        if code == exitcode::LIMIT_STOP {
            self.settings
                .counters
                .limit_actions
                .fetch_add(1, Ordering::Relaxed);
        }
        let grace = self.settings.grace;
        tracing::error!(event, action = "stop", code, reason = %reason,
            "stopping the workload: {reason}; SIGTERM now, SIGKILL in {grace:?}, then exit {code}");
        let _ = signals::send(self.target, libc::SIGTERM, None);
        let _ = signals::send(self.target, libc::SIGCONT, None);
        self.phase = Phase::Stopping {
            deadline: poll::deadline_after(Instant::now(), grace),
            stop: Stop { code, reason },
        };
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        if self.phase.deadline().is_none_or(|d| d > now) {
            return;
        }
        let first = matches!(self.phase, Phase::Draining { .. });
        match std::mem::replace(&mut self.phase, Phase::Running) {
            Phase::Stopping { stop, .. } => {
                tracing::warn!(
                    event = "signal",
                    signal = "SIGKILL",
                    to = self.child,
                    "workload did not stop within the grace period; sending SIGKILL"
                );
                let _ = signals::send(-self.child, libc::SIGKILL, None);
                let _ = signals::send(self.child, libc::SIGKILL, None);
                self.phase = Phase::Stopping {
                    deadline: None,
                    stop,
                };
            }
            Phase::Draining { main, stop, .. } | Phase::Killing { main, stop, .. } => {
                let left = self.remaining();
                if self.pid1 {
                    signal_all(libc::SIGKILL);
                } else {
                    for pid in &left {
                        let _ = signals::send(*pid, libc::SIGKILL, None);
                    }
                    let _ = signals::send(-self.child, libc::SIGKILL, None);
                }
                if first {
                    tracing::warn!(
                        event = "signal",
                        signal = "SIGKILL",
                        remaining = left.len() as u64,
                        "{} process(es) still running after the grace period; sent SIGKILL",
                        left.len()
                    );
                }
                // Keep checking every second for late orphans (SIGKILL is
                // final, but a process may still be forking while it dies).
                self.phase = Phase::Killing {
                    main,
                    stop,
                    next: now + Duration::from_secs(1),
                };
                self.reap_all();
            }
            other => self.phase = other,
        }
    }

    fn outcome(&self) -> Outcome {
        let (main, stop) = match &self.phase {
            Phase::Done { main, stop } => (Some(*main), stop.as_ref()),
            _ => (self.phase.main(), None),
        };
        outcome(main, stop, &self.settings.remap_exit)
    }
}

fn log_child_exit(pid: i32, ended: Ended) {
    let (code, how) = match ended {
        Ended::Exited(c) => (c, format!("exited with code {c}")),
        Ended::Signaled(n) => (
            exitcode::for_signal(n),
            format!("was killed by {}", signal_name(n)),
        ),
    };
    // Debug: a clean run of an init says nothing (tini, catatonit).
    tracing::debug!(
        event = "child.exit",
        pid,
        code,
        "workload (pid {pid}) {how}"
    );
}

/// `kill(-1, sig)`: every process in our PID namespace but us (PID 1 only).
fn signal_all(sig: i32) {
    let _ = signals::send(-1, sig, None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pending_phases_have_deadlines() {
        let now = Instant::now();
        let stop = Stop {
            code: 77,
            reason: String::new(),
        };
        assert_eq!(Phase::Running.deadline(), None);
        let p = Phase::Stopping {
            deadline: Some(now),
            stop: stop.clone(),
        };
        assert_eq!((p.deadline(), p.main()), (Some(now), None));
        let p = Phase::Draining {
            main: Ended::Exited(1),
            stop: None,
            deadline: None,
        };
        assert_eq!((p.deadline(), p.main()), (None, Some(Ended::Exited(1))));
        let p = Phase::Killing {
            main: Ended::Exited(1),
            stop: Some(stop),
            next: now,
        };
        assert_eq!(p.deadline(), Some(now));
    }
}
