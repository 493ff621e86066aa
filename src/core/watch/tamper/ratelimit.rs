//! The tamper rate limiter: the first N events one by one, then one
//! summary per interval with counts per kind and severity. Pure: time is
//! passed in.

use std::time::{Duration, Instant};

use super::{Severity, TamperKind};

/// Events of one kind and severity not logged one by one in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suppressed {
    pub kind: TamperKind,
    pub severity: Severity,
    pub count: u64,
}

/// One summary line's worth: what was suppressed over `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub window: Duration,
    /// Non-zero counts, by kind then severity (error first).
    pub counts: Vec<Suppressed>,
}

/// The first `first` events are logged one by one; after that, events are
/// counted and [`RateLimiter::flush`] gives one summary per `interval`.
/// The budget refills once a whole interval passed without events. Time is
/// passed in, so the limiter is pure; the caller wakes at
/// [`RateLimiter::due`] (and never otherwise: no summary pending, no timer).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    first: u32,
    interval: Duration,
    budget: u32,
    last: Option<Instant>,
    window: Option<Instant>,
    counts: [[u64; 2]; 4],
    totals: [u64; 4],
}

impl RateLimiter {
    pub fn new(first: u32, interval: Duration) -> RateLimiter {
        RateLimiter {
            first,
            interval,
            budget: first,
            last: None,
            window: None,
            counts: [[0; 2]; 4],
            totals: [0; 4],
        }
    }

    /// Counts one event; `true` if it is to be logged individually. Call
    /// [`RateLimiter::flush`] first when it is due.
    pub fn admit(&mut self, kind: TamperKind, severity: Severity, now: Instant) -> bool {
        let quiet = self
            .last
            .is_some_and(|l| now.saturating_duration_since(l) >= self.interval);
        if quiet && self.window.is_none() {
            self.budget = self.first;
        }
        self.last = Some(now);
        self.totals[kind.index()] = self.totals[kind.index()].saturating_add(1);
        if self.budget > 0 {
            self.budget -= 1;
            return true;
        }
        let c = &mut self.counts[kind.index()][severity as usize];
        *c = c.saturating_add(1);
        self.window.get_or_insert(now);
        false
    }

    /// When the pending summary is due, if one is.
    pub fn due(&self) -> Option<Instant> {
        self.window.map(|w| w + self.interval)
    }

    /// The summary of the window, once it is due; `None` before.
    pub fn flush(&mut self, now: Instant) -> Option<Summary> {
        let start = self.window?;
        if now < start + self.interval {
            return None;
        }
        self.window = None;
        let mut counts = Vec::new();
        for kind in TamperKind::ALL {
            for severity in [Severity::Error, Severity::Warn] {
                let c = std::mem::take(&mut self.counts[kind.index()][severity as usize]);
                if c > 0 {
                    counts.push(Suppressed {
                        kind,
                        severity,
                        count: c,
                    });
                }
            }
        }
        Some(Summary {
            window: now.saturating_duration_since(start),
            counts,
        })
    }

    /// Events of `kind` seen since start, logged or not.
    pub fn total(&self, kind: TamperKind) -> u64 {
        self.totals[kind.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limiter_storm_then_quiet() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut rl = RateLimiter::new(3, Duration::from_secs(1));
        assert_eq!(rl.due(), None);
        // (name, at ms, kind, severity, logged individually)
        let steps: &[(&str, u64, TamperKind, Severity, bool)] = &[
            ("1st", 0, TamperKind::ExecDrop, Severity::Error, true),
            ("2nd", 1, TamperKind::ExecDrop, Severity::Error, true),
            ("3rd", 2, TamperKind::ExecDrop, Severity::Warn, true),
            (
                "4th suppressed",
                3,
                TamperKind::ExecDrop,
                Severity::Error,
                false,
            ),
            (
                "5th suppressed",
                4,
                TamperKind::ExecDrop,
                Severity::Warn,
                false,
            ),
            (
                "other kind suppressed",
                5,
                TamperKind::MountAdded,
                Severity::Warn,
                false,
            ),
        ];
        for (name, at, kind, sev, want) in steps {
            assert_eq!(rl.admit(*kind, *sev, ms(*at)), *want, "step {name}");
        }
        assert_eq!(rl.due(), Some(ms(1003)));
        assert_eq!(rl.flush(ms(1002)), None, "not due yet");
        let s = rl.flush(ms(1003)).expect("summary");
        assert_eq!(s.window, Duration::from_millis(1000));
        assert_eq!(
            s.counts,
            vec![
                Suppressed {
                    kind: TamperKind::MountAdded,
                    severity: Severity::Warn,
                    count: 1
                },
                Suppressed {
                    kind: TamperKind::ExecDrop,
                    severity: Severity::Error,
                    count: 1
                },
                Suppressed {
                    kind: TamperKind::ExecDrop,
                    severity: Severity::Warn,
                    count: 1
                },
            ]
        );
        assert_eq!(rl.due(), None, "no timer while nothing is pending");
        // Still inside the storm (less than an interval since the last event):
        // the budget stays empty.
        assert!(!rl.admit(TamperKind::ExecDrop, Severity::Error, ms(1004)));
        let s = rl.flush(ms(2004)).expect("second summary");
        assert_eq!(s.counts.len(), 1);
        // A quiet interval refills the budget.
        assert!(rl.admit(TamperKind::ExecDrop, Severity::Error, ms(3005)));
        assert_eq!(rl.total(TamperKind::ExecDrop), 7);
        assert_eq!(rl.total(TamperKind::MountAdded), 1);
    }

    #[test]
    fn rate_limiter_bounds_a_storm_and_keeps_the_count() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(20, Duration::from_secs(1));
        let (mut lines, mut counted) = (0u64, 0u64);
        // 10,000 events over 2.5 s, flushing whenever due.
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_micros(i * 250);
            if rl.due().is_some_and(|d| d <= now) {
                let s = rl.flush(now).expect("due");
                lines += s.counts.len() as u64;
                counted += s.counts.iter().map(|c| c.count).sum::<u64>();
            }
            if rl.admit(TamperKind::ExecDrop, Severity::Error, now) {
                lines += 1;
                counted += 1;
            }
        }
        let end = t0 + Duration::from_secs(10);
        if let Some(s) = rl.flush(end) {
            lines += s.counts.len() as u64;
            counted += s.counts.iter().map(|c| c.count).sum::<u64>();
        }
        assert_eq!(counted, 10_000);
        assert_eq!(
            lines,
            20 + 3,
            "20 individual lines and one summary per second"
        );
        assert_eq!(rl.total(TamperKind::ExecDrop), 10_000);
    }
}
