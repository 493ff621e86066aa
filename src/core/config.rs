//! The resolved, documented configuration: every setting with its final
//! value after flags > env > spec file > profile > default.

use std::time::Duration;

use super::cli::{pick, typed, Layer, UsageError};
use super::options::{self, LimitAction, LogFormat, TamperPolicy};
use super::spec::{Settings, DEFAULT_ACT_AT, DEFAULT_GRACE, DEFAULT_WARN_AT};

/// Where the reason for an exit sealinit decides itself (64, 71, 75, 77,
/// 78) is written (`--termination-log PATH`; an empty value turns it off).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TerminationLog {
    /// `/dev/termination-log` when it exists and is writable (Kubernetes'
    /// default `terminationMessagePath`); nothing otherwise.
    #[default]
    Default,
    /// This file, created if missing.
    Path(std::path::PathBuf),
    /// Not written.
    Off,
}

impl TerminationLog {
    /// `""` is off, anything else a path.
    pub fn parse(s: &str) -> TerminationLog {
        if s.is_empty() {
            TerminationLog::Off
        } else {
            TerminationLog::Path(s.into())
        }
    }
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Verbosity {
    pub fn parse(s: &str) -> Result<Verbosity, String> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(Verbosity::Error),
            "warn" | "warning" => Ok(Verbosity::Warn),
            "info" => Ok(Verbosity::Info),
            "debug" => Ok(Verbosity::Debug),
            "trace" => Ok(Verbosity::Trace),
            _ => Err(format!(
                "expected error, warn, info, debug or trace, got {s:?}"
            )),
        }
    }
}

/// Output settings, resolved first so every later error can be logged in
/// the requested format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub format: LogFormat,
    pub verbosity: Verbosity,
}

/// Resolves `--log-format`, `--log`/`SEALINIT_LOG`, `-v`, `-q`.
pub fn output(flags: &Layer, env: &Layer) -> Result<Output, UsageError> {
    let format =
        typed(pick(flags, env, "log-format"), options::parse_log_format)?.unwrap_or_default();
    let mut verbosity =
        typed(pick(flags, env, "log"), Verbosity::parse)?.unwrap_or(Verbosity::Info);
    let v = flags.count("verbose") + env.count("verbose");
    let q = flags.count("quiet") + env.count("quiet");
    if v > 0 {
        verbosity = if v > 1 {
            Verbosity::Trace
        } else {
            Verbosity::Debug
        };
    }
    if q > 0 {
        verbosity = Verbosity::Warn;
    }
    Ok(Output { format, verbosity })
}

/// The supervisor and watcher settings after every layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    pub pgroup: bool,
    pub grace: Duration,
    pub warn_at: u8,
    pub act_at: u8,
    pub limit_action: LimitAction,
    pub rescan: Duration,
    pub on_tamper: TamperPolicy,
    pub ephemeral_limit: Option<u64>,
    /// `--metrics ADDR`.
    pub metrics: Option<String>,
}

/// Resolves the runtime settings: flags > env > `lower` (the spec file over
/// the profile, already merged: [`Settings`] `None` means "not set there") >
/// defaults. `--warn-at` must not exceed `--act-at`.
pub fn runtime(flags: &Layer, env: &Layer, lower: &Settings) -> Result<Runtime, UsageError> {
    let warn_at = typed(pick(flags, env, "warn-at"), options::parse_percent)?
        .or(lower.warn_at)
        .unwrap_or(DEFAULT_WARN_AT);
    let act_at = typed(pick(flags, env, "act-at"), options::parse_percent)?
        .or(lower.act_at)
        .unwrap_or(DEFAULT_ACT_AT);
    if warn_at > act_at {
        return Err(UsageError(format!(
            "--warn-at ({warn_at}%) must not be above --act-at ({act_at}%)"
        )));
    }
    let quantity = |s: &str| super::quantity::parse(s).map_err(|e| e.to_string());
    Ok(Runtime {
        pgroup: flags.count("pgroup") + env.count("pgroup") > 0,
        grace: typed(pick(flags, env, "grace"), options::parse_duration)?
            .or(lower.grace)
            .unwrap_or(DEFAULT_GRACE),
        warn_at,
        act_at,
        limit_action: typed(
            pick(flags, env, "limit-action"),
            options::parse_limit_action,
        )?
        .or(lower.limit_action)
        .unwrap_or_default(),
        rescan: typed(pick(flags, env, "rescan"), options::parse_duration)?
            .unwrap_or(Duration::from_secs(60)),
        on_tamper: typed(pick(flags, env, "on-tamper"), options::parse_tamper_policy)?
            .or(lower.on_tamper)
            .unwrap_or_default(),
        ephemeral_limit: typed(pick(flags, env, "ephemeral-limit"), quantity)?
            .or(lower.ephemeral_limit),
        metrics: pick(flags, env, "metrics").map(|(v, _)| v.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(v: &[(&'static str, &str)]) -> Layer {
        Layer {
            values: v.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            ..Layer::default()
        }
    }

    #[test]
    fn defaults_match_the_contract() {
        let rt = runtime(&Layer::default(), &Layer::default(), &Settings::default()).expect("ok");
        assert_eq!(rt.grace, Duration::from_secs(10));
        assert_eq!((rt.warn_at, rt.act_at), (80, 95));
        assert_eq!(rt.limit_action, LimitAction::Warn);
        assert_eq!(rt.on_tamper, TamperPolicy::Warn);
        assert!(!rt.pgroup);
        assert_eq!(rt.rescan, Duration::from_secs(60));
    }

    #[test]
    fn precedence_is_flag_env_lower_default() {
        let lower = Settings {
            grace: Some(Duration::from_secs(3)),
            warn_at: Some(50),
            ..Default::default()
        };
        let env = layer(&[("grace", "4s"), ("act-at", "90")]);
        let flags = layer(&[("grace", "5s")]);
        let rt = runtime(&flags, &env, &lower).expect("ok");
        assert_eq!(rt.grace, Duration::from_secs(5));
        assert_eq!(rt.act_at, 90);
        assert_eq!(rt.warn_at, 50);
        let rt = runtime(&Layer::default(), &env, &lower).expect("ok");
        assert_eq!(rt.grace, Duration::from_secs(4));
        let rt = runtime(&Layer::default(), &Layer::default(), &lower).expect("ok");
        assert_eq!(rt.grace, Duration::from_secs(3));
    }

    #[test]
    fn warn_above_act_is_rejected() {
        let err = runtime(
            &layer(&[("warn-at", "96")]),
            &Layer::default(),
            &Settings::default(),
        );
        assert!(err.expect_err("accepted").0.contains("--warn-at"));
    }

    #[test]
    fn verbosity_flags() {
        let o = output(&layer(&[("verbose", "")]), &Layer::default()).expect("ok");
        assert_eq!(o.verbosity, Verbosity::Debug);
        let o = output(&Layer::default(), &layer(&[("log", "error")])).expect("ok");
        assert_eq!(o.verbosity, Verbosity::Error);
        let o = output(&layer(&[("quiet", "")]), &Layer::default()).expect("ok");
        assert_eq!(o.verbosity, Verbosity::Warn);
        assert!(output(&layer(&[("log-format", "yaml")]), &Layer::default()).is_err());
    }
}
