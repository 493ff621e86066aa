//! Option values shared by the command line, the environment and the spec
//! file: percentages, durations, signals, limit and tamper actions, the
//! termination log and the metrics address (signal rewrites and exit remaps:
//! [`crate::core::cli::initopts`]). Each parser returns a
//! message saying what was expected.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// What to do when a mount's usage crosses `--act-at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitAction {
    /// Log only.
    #[default]
    Warn,
    /// Send this signal to the workload once per crossing.
    Signal(i32),
    /// SIGTERM, SIGKILL after `--grace`, exit 75.
    Stop,
}

impl fmt::Display for LimitAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitAction::Warn => f.write_str("warn"),
            LimitAction::Stop => f.write_str("stop"),
            LimitAction::Signal(n) => write!(f, "signal:{}", signal_name(*n)),
        }
    }
}

/// What a tamper event does (`--on-tamper`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TamperPolicy {
    #[default]
    Warn,
    Stop,
}

/// Log output format (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where sealinit writes the reason for an exit it decides itself
/// (`--termination-log`), for `kubectl describe pod`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TerminationLog {
    /// `/dev/termination-log` if it exists and is writable (Kubernetes'
    /// default `terminationMessagePath`); decided at the edge when writing.
    #[default]
    Default,
    /// `--termination-log PATH`.
    Path(std::path::PathBuf),
    /// `--termination-log ""`: write nothing.
    Off,
}

/// An absolute path, or empty for off.
pub fn parse_termination_log(s: &str) -> Result<TerminationLog, String> {
    if s.is_empty() {
        return Ok(TerminationLog::Off);
    }
    if !s.starts_with('/') || s.contains('\0') {
        return Err(format!(
            "expected an absolute path like /dev/termination-log, or an empty value for off, got {s:?}"
        ));
    }
    Ok(TerminationLog::Path(s.into()))
}

/// `warn` | `signal:SIG` | `stop`.
pub fn parse_limit_action(s: &str) -> Result<LimitAction, String> {
    match s {
        "warn" => Ok(LimitAction::Warn),
        "stop" => Ok(LimitAction::Stop),
        _ => match s.strip_prefix("signal:") {
            Some(sig) => parse_signal(sig).map(LimitAction::Signal),
            None => Err(format!(
                "expected warn, signal:SIG (e.g. signal:USR1) or stop, got {s:?}"
            )),
        },
    }
}

/// `warn` | `stop`.
pub fn parse_tamper_policy(s: &str) -> Result<TamperPolicy, String> {
    match s {
        "warn" => Ok(TamperPolicy::Warn),
        "stop" => Ok(TamperPolicy::Stop),
        _ => Err(format!("expected warn or stop, got {s:?}")),
    }
}

/// `text` | `json`.
pub fn parse_log_format(s: &str) -> Result<LogFormat, String> {
    match s {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(format!("expected text or json, got {s:?}")),
    }
}

/// A whole percentage 1..=100 (a trailing `%` is accepted).
pub fn parse_percent(s: &str) -> Result<u8, String> {
    let digits = s.strip_suffix('%').unwrap_or(s);
    match digits.parse::<u8>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(format!("expected a percentage from 1 to 100, got {s:?}")),
    }
}

/// A duration: a number with unit `ms`, `s`, `m` or `h` (`10s`, `500ms`,
/// `2m`); a bare number means seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("expected a duration like 10s, 500ms, 2m or 1h, got {s:?}");
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| err())?;
    let ms = match unit {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => None,
    }
    .ok_or_else(err)?;
    Ok(Duration::from_millis(ms))
}

/// The shortest period accepted for `--rescan` and `--report-every`: a
/// full walk more often than once a second is a CPU hog, not a safety net.
pub const MIN_PERIOD: Duration = Duration::from_secs(1);

/// A [`parse_duration`] of at least [`MIN_PERIOD`].
pub fn parse_period(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < MIN_PERIOD {
        return Err(format!("expected a period of at least 1s, got {s:?}"));
    }
    Ok(d)
}

/// `--metrics`: `IP:PORT`, `[IPv6]:PORT`, or `:PORT` (every IPv4
/// address). A literal address only: host names are not resolved (no DNS
/// in PID 1), and `999.1.1.1:80` is an error, not "metrics off".
pub fn parse_metrics_addr(s: &str) -> Result<SocketAddr, String> {
    let err = |why: &str| {
        format!(
            "expected IP:PORT, [IPv6]:PORT or :PORT with a literal IP address, got {s:?} ({why})"
        )
    };
    if let Some(port) = s.strip_prefix(':') {
        let port = port.parse::<u16>().map_err(|_| err("bad port"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    s.parse::<SocketAddr>().map_err(|_| {
        let host = s.rsplit_once(':').map_or(s, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !s.contains(':') {
            err("no port")
        } else if host.parse::<IpAddr>().is_err() {
            err("not an IP address; host names are not resolved")
        } else {
            err("bad port")
        }
    })
}

const SIGNAL_NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The kernel's real-time signal range. glibc reserves the first two or three
/// for itself, but a process we forward to may use any of them, so the
/// kernel's numbers are used, not `SIGRTMIN()`.
pub const RT_MIN: i32 = 32;
/// See [`RT_MIN`].
pub const RT_MAX: i32 = 64;

/// Parses `TERM`, `SIGTERM`, `15`, `RTMIN+3`, `SIGRTMAX-1`.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    let err =
        || format!("expected a signal name or number (TERM, SIGUSR1, 10, RTMIN+2), got {s:?}");
    if let Ok(n) = s.parse::<i32>() {
        return if (1..=RT_MAX).contains(&n) {
            Ok(n)
        } else {
            Err(err())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = SIGNAL_NAMES.iter().find(|(nm, _)| *nm == name) {
        return Ok(n);
    }
    let rt = |base: i32, rest: &str, sign: i32| -> Result<i32, String> {
        let off = if rest.is_empty() {
            0
        } else {
            rest[1..].parse::<i32>().map_err(|_| err())?
        };
        let n = base + sign * off;
        if (RT_MIN..=RT_MAX).contains(&n) {
            Ok(n)
        } else {
            Err(err())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        if rest.is_empty() || rest.starts_with('+') {
            return rt(RT_MIN, rest, 1);
        }
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        if rest.is_empty() || rest.starts_with('-') {
            return rt(RT_MAX, rest, -1);
        }
    }
    Err(err())
}

/// `SIGTERM`, `SIGRTMIN+3`, or the number for anything else.
pub fn signal_name(n: i32) -> String {
    if let Some((name, _)) = SIGNAL_NAMES.iter().find(|(_, v)| *v == n) {
        return format!("SIG{name}");
    }
    if (RT_MIN..=RT_MAX).contains(&n) {
        return if n == RT_MIN {
            "SIGRTMIN".into()
        } else {
            format!("SIGRTMIN+{}", n - RT_MIN)
        };
    }
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_number_and_rt_offset() {
        let cases: &[(&str, Result<i32, ()>)] = &[
            ("TERM", Ok(15)),
            ("SIGTERM", Ok(15)),
            ("sigusr1", Ok(10)),
            ("9", Ok(9)),
            ("RTMIN", Ok(32)),
            ("RTMIN+3", Ok(35)),
            ("SIGRTMAX-1", Ok(63)),
            ("RTMAX", Ok(64)),
            ("RTMIN+40", Err(())),
            ("0", Err(())),
            ("65", Err(())),
            ("NOPE", Err(())),
            ("", Err(())),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_signal(input).map_err(|_| ()),
                *want,
                "input {input:?}"
            );
        }
    }

    #[test]
    fn signal_names_round_trip() {
        for n in 1..=RT_MAX {
            if n == 32 || n == 33 {
                continue;
            }
            assert_eq!(parse_signal(&signal_name(n)), Ok(n), "signal {n}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "10x", "-1s", "1.5s", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn percents_and_actions() {
        assert_eq!(parse_percent("80"), Ok(80));
        assert_eq!(parse_percent("95%"), Ok(95));
        assert!(parse_percent("0").is_err());
        assert!(parse_percent("101").is_err());
        assert_eq!(
            parse_limit_action("signal:USR1"),
            Ok(LimitAction::Signal(10))
        );
        assert_eq!(parse_limit_action("stop"), Ok(LimitAction::Stop));
        assert!(parse_limit_action("signal:").is_err());
        assert!(parse_limit_action("kill").is_err());
        assert_eq!(LimitAction::Signal(10).to_string(), "signal:SIGUSR1");
    }

    #[test]
    fn metrics_addresses_are_literal() {
        let ok: &[(&str, &str)] = &[
            ("127.0.0.1:9090", "127.0.0.1:9090"),
            ("[::1]:9090", "[::1]:9090"),
            (":9090", "0.0.0.0:9090"),
            ("0.0.0.0:0", "0.0.0.0:0"),
        ];
        for (input, want) in ok {
            assert_eq!(
                parse_metrics_addr(input).map(|a| a.to_string()),
                Ok(want.to_string()),
                "{input}"
            );
        }
        let bad: &[(&str, &str)] = &[
            ("999.1.1.1:80", "not an IP address"),
            ("localhost:80", "host names are not resolved"),
            ("127.0.0.1", "no port"),
            ("127.0.0.1:99999", "bad port"),
            (":x", "bad port"),
            ("::1:80", "IP"),
            ("", "no port"),
        ];
        for (input, want) in bad {
            let e = parse_metrics_addr(input).expect_err(input);
            assert!(e.contains(want), "{input:?}: {e}");
        }
    }

    #[test]
    fn periods_are_at_least_a_second() {
        assert_eq!(parse_period("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_period("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["0s", "999ms", "0"] {
            let e = parse_period(bad).expect_err(bad);
            assert!(e.contains("at least 1s"), "{bad:?}: {e}");
        }
    }
}
