//! The per-mount threshold state machine: usage samples in, transition
//! events out, with hysteresis so that a mount hovering at a line does not
//! flood the log. Pure.
//!
//! States: `Normal` → (usage ≥ warn) `Warned` → (usage ≥ act) `Acted`.
//! A line re-arms only once usage drops below it by [`REARM_POINTS`]
//! percentage points (or half the line, when the line is lower than twice
//! that): `Acted` → `Warned` below `act − 5`, `Warned` → `Normal` below
//! `warn − 5`. A sample that jumps several lines emits every transition it
//! passes, in order. Without a known, non-zero limit nothing ever fires
//! (report only) and the state is kept as it was.

/// Percentage points under a line that usage must reach to re-arm it.
pub const REARM_POINTS: u8 = 5;

/// Where a mount stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Level {
    #[default]
    Normal,
    Warned,
    Acted,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Normal => "normal",
            Level::Warned => "warned",
            Level::Acted => "acted",
        }
    }
}

/// A change of [`Level`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    CrossedWarn,
    CrossedAct,
    ClearedAct,
    ClearedWarn,
}

impl Transition {
    /// The spelling used in events and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::CrossedWarn => "crossed_warn",
            Transition::CrossedAct => "crossed_act",
            Transition::ClearedAct => "cleared_act",
            Transition::ClearedWarn => "cleared_warn",
        }
    }
}

/// The two lines, in whole percent of the limit (`--warn-at`, `--act-at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub warn_at: u8,
    pub act_at: u8,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            warn_at: crate::core::cli::config::DEFAULT_WARN_AT,
            act_at: crate::core::cli::config::DEFAULT_ACT_AT,
        }
    }
}

/// Whether `used` is at or above `pct` percent of `limit` (exact integer math).
fn at_or_above(used: u64, limit: u64, pct: u8) -> bool {
    u128::from(used) * 100 >= u128::from(limit) * u128::from(pct)
}

/// The line under which `pct` re-arms.
pub fn rearm_line(pct: u8) -> u8 {
    pct - REARM_POINTS.min(pct / 2)
}

/// The state of one mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThresholdState {
    level: Level,
}

/// At most the transitions of one sample (a full jump is two).
pub type Transitions = Vec<Transition>;

impl ThresholdState {
    pub fn level(&self) -> Level {
        self.level
    }

    /// Feeds one sample; returns the transitions it caused, in order.
    pub fn observe(&mut self, t: Thresholds, used: u64, limit: Option<u64>) -> Transitions {
        let mut out = Vec::new();
        let Some(limit) = limit.filter(|l| *l > 0) else {
            return out;
        };
        let above = |pct: u8| at_or_above(used, limit, pct);
        let below_rearm = |pct: u8| !at_or_above(used, limit, rearm_line(pct));
        loop {
            let next = match self.level {
                Level::Normal if above(t.warn_at) || above(t.act_at) => {
                    Some((Level::Warned, Transition::CrossedWarn))
                }
                Level::Warned if above(t.act_at) => Some((Level::Acted, Transition::CrossedAct)),
                Level::Warned if below_rearm(t.warn_at) => {
                    Some((Level::Normal, Transition::ClearedWarn))
                }
                Level::Acted if below_rearm(t.act_at) => {
                    Some((Level::Warned, Transition::ClearedAct))
                }
                _ => None,
            };
            match next {
                Some((level, tr)) => {
                    self.level = level;
                    out.push(tr);
                }
                None => return out,
            }
            if out.len() >= 2 {
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Transition::*;
    use super::*;

    const T: Thresholds = Thresholds {
        warn_at: 80,
        act_at: 95,
    };

    /// (name, thresholds, limit, used series, expected (sample index, transition)).
    type Case<'a> = (
        &'a str,
        Thresholds,
        Option<u64>,
        &'a [u64],
        &'a [(usize, Transition)],
    );

    /// Replays a series of used-bytes samples against a limit of 100 and
    /// returns every transition, tagged with the sample index.
    fn run(t: Thresholds, limit: Option<u64>, series: &[u64]) -> Vec<(usize, Transition)> {
        let mut s = ThresholdState::default();
        let mut out = Vec::new();
        for (i, used) in series.iter().enumerate() {
            for tr in s.observe(t, *used, limit) {
                out.push((i, tr));
            }
        }
        out
    }

    #[test]
    fn series() {
        let cases: &[Case] = &[
            (
                "rising through both lines",
                T,
                Some(100),
                &[10, 50, 79, 80, 90, 94, 95, 99, 100],
                &[(3, CrossedWarn), (6, CrossedAct)],
            ),
            (
                "hovering at the warn line does not flood",
                T,
                Some(100),
                &[80, 79, 80, 78, 80, 76, 81, 75, 80],
                &[(0, CrossedWarn)],
            ),
            (
                "hovering at the act line does not flood",
                T,
                Some(100),
                &[95, 94, 95, 91, 96, 90, 95],
                &[(0, CrossedWarn), (0, CrossedAct)],
            ),
            (
                "dropping re-arms, then crossing fires again",
                T,
                Some(100),
                &[85, 74, 85, 96, 89, 96, 50, 96],
                &[
                    (0, CrossedWarn),
                    (1, ClearedWarn),
                    (2, CrossedWarn),
                    (3, CrossedAct),
                    (4, ClearedAct),
                    (5, CrossedAct),
                    (6, ClearedAct),
                    (6, ClearedWarn),
                    (7, CrossedWarn),
                    (7, CrossedAct),
                ],
            ),
            (
                "jumping straight past act emits both, in order",
                T,
                Some(1000),
                &[0, 2000],
                &[(1, CrossedWarn), (1, CrossedAct)],
            ),
            (
                "exactly at a re-arm line does not re-arm",
                T,
                Some(100),
                &[96, 90, 75],
                &[(0, CrossedWarn), (0, CrossedAct), (2, ClearedAct)],
            ),
            (
                "limit unknown never fires",
                T,
                None,
                &[0, 10_000, u64::MAX],
                &[],
            ),
            ("limit zero never fires", T, Some(0), &[0, 1, u64::MAX], &[]),
            (
                "huge values do not overflow",
                T,
                Some(u64::MAX),
                &[u64::MAX / 100 * 81, u64::MAX],
                &[(0, CrossedWarn), (1, CrossedAct)],
            ),
            (
                "act below warn: act still fires after warn",
                Thresholds {
                    warn_at: 90,
                    act_at: 50,
                },
                Some(100),
                &[60],
                &[(0, CrossedWarn), (0, CrossedAct)],
            ),
            (
                "low lines re-arm at half the line",
                Thresholds {
                    warn_at: 4,
                    act_at: 8,
                },
                Some(100),
                &[4, 2, 1],
                &[(0, CrossedWarn), (2, ClearedWarn)],
            ),
        ];
        for (name, t, limit, series, want) in cases {
            assert_eq!(run(*t, *limit, series), *want, "case: {name}");
        }
    }

    #[test]
    fn unknown_limit_keeps_the_level() {
        let mut s = ThresholdState::default();
        s.observe(T, 90, Some(100));
        assert!(s.observe(T, 0, None).is_empty());
        assert_eq!(s.level(), Level::Warned);
    }

    #[test]
    fn rearm_lines() {
        for (pct, want) in [(95, 90), (80, 75), (10, 5), (8, 4), (1, 1), (100, 95)] {
            assert_eq!(rearm_line(pct), want, "line {pct}");
        }
    }
}
