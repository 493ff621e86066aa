//! The supervisor's rules, free of syscalls: what a stop is, which exit
//! code a run ends with (`--remap-exit`), which signal a received one
//! becomes (`--rewrite`), what `--limit-action` asks for, and the log
//! budget for signal storms.

use std::io;
use std::time::{Duration, Instant};

use crate::core::cli::options::{signal_name, LimitAction};
use crate::core::contract::quantity;
use crate::core::exitcode;
use crate::core::watch::threshold::Transition;
use crate::edge::process::Ended;
use crate::orchestra::watcher::WatchEvent;

use super::{Outcome, Request};

/// A stop sealinit began while the workload was running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stop {
    pub(super) code: i32,
    pub(super) reason: String,
}

/// At most [`LogBudget::PER_SECOND`] info-level lines per second; the rest
/// go to debug, and the next allowed line says how many were demoted.
#[derive(Debug, Default)]
pub(super) struct LogBudget {
    window: Option<Instant>,
    used: u32,
    demoted: u64,
}

impl LogBudget {
    const PER_SECOND: u32 = 20;

    pub(super) fn allow(&mut self, now: Instant) -> bool {
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

/// The exit code: a stop sealinit began while the workload ran wins; else
/// the workload's own code (exit status or 128+N) after `--remap-exit`.
pub(super) fn outcome(main: Option<Ended>, stop: Option<&Stop>, remap: &[(u8, u8)]) -> Outcome {
    if let Some(s) = stop {
        return Outcome {
            code: s.code,
            reason: s.reason.clone(),
            decided: true,
        };
    }
    let (own, reason) = match main {
        Some(Ended::Exited(c)) => (c, format!("workload exited with code {c}")),
        Some(Ended::Signaled(n)) => (
            exitcode::for_signal(n),
            format!("workload was killed by {}", signal_name(n)),
        ),
        None => {
            return Outcome {
                code: exitcode::OS_ERROR,
                reason: "workload status unknown".into(),
                decided: false,
            }
        }
    };
    match remapped(remap, own) {
        Some(to) => Outcome {
            code: to,
            reason: format!("{reason}, reported as {to} (--remap-exit {own}:{to})"),
            decided: false,
        },
        None => Outcome {
            code: own,
            reason,
            decided: false,
        },
    }
}

/// `--remap-exit`: the first pair whose FROM is `code`.
fn remapped(remap: &[(u8, u8)], code: i32) -> Option<i32> {
    remap
        .iter()
        .find(|(from, _)| i32::from(*from) == code)
        .map(|(_, to)| i32::from(*to))
}

/// `--rewrite`: the signal to deliver for `signo` (0: drop it).
pub(super) fn rewritten(rewrite: &[(i32, i32)], signo: i32) -> i32 {
    rewrite
        .iter()
        .find(|(from, _)| *from == signo)
        .map_or(signo, |(_, to)| *to)
}

/// What `--limit-action` asks for when a mount crosses `--act-at`; `None`
/// for every other transition. `warn` is logged here, since it asks
/// nothing of the supervisor.
pub(super) fn limit_request(ev: &WatchEvent, action: LimitAction) -> Option<Request> {
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
pub(super) fn must_wait(listed: &io::Result<Vec<i32>>) -> bool {
    !matches!(listed, Ok(left) if left.is_empty())
}

pub(super) fn describe(target: i32) -> String {
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

    #[test]
    fn the_exit_code_is_the_workloads_unless_sealinit_stopped_it() {
        let stop = Stop {
            code: exitcode::LIMIT_STOP,
            reason: "full".into(),
        };
        let remap: &[(u8, u8)] = &[(143, 0), (3, 4)];
        type Case<'a> = (
            &'a str,
            Option<Ended>,
            Option<&'a Stop>,
            &'a [(u8, u8)],
            i32,
            bool,
        );
        let cases: &[Case] = &[
            ("own code", Some(Ended::Exited(3)), None, &[], 3, false),
            (
                "signal death",
                Some(Ended::Signaled(15)),
                None,
                &[],
                143,
                false,
            ),
            (
                "stop wins",
                Some(Ended::Exited(0)),
                Some(&stop),
                &[],
                75,
                true,
            ),
            (
                "stop is never remapped",
                Some(Ended::Signaled(15)),
                Some(&stop),
                remap,
                75,
                true,
            ),
            (
                "remapped exit status",
                Some(Ended::Exited(3)),
                None,
                remap,
                4,
                false,
            ),
            (
                "remapped signal death (tini -e)",
                Some(Ended::Signaled(15)),
                None,
                remap,
                0,
                false,
            ),
            (
                "not in the map",
                Some(Ended::Exited(5)),
                None,
                remap,
                5,
                false,
            ),
            ("unknown", None, None, remap, exitcode::OS_ERROR, false),
        ];
        for (name, main, stop, remap, code, decided) in cases {
            let o = outcome(*main, *stop, remap);
            assert_eq!((o.code, o.decided), (*code, *decided), "case {name}: {o:?}");
        }
    }

    #[test]
    fn rewrites_map_the_first_match_and_zero_drops() {
        let rw = [(libc::SIGTERM, libc::SIGQUIT), (libc::SIGHUP, 0)];
        assert_eq!(rewritten(&rw, libc::SIGTERM), libc::SIGQUIT);
        assert_eq!(rewritten(&rw, libc::SIGHUP), 0);
        assert_eq!(rewritten(&rw, libc::SIGUSR1), libc::SIGUSR1);
        assert_eq!(rewritten(&[], libc::SIGTERM), libc::SIGTERM);
    }
}
