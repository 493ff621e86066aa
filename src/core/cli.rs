//! The command line and its environment mirrors, as pure functions.
//!
//! One table ([`OPTIONS`]) declares every option: its name, short form, value
//! name, which subcommands take it, and its help line. The environment mirror
//! of `--some-name` is always `SEALINIT_SOME_NAME`. [`parse_args`] turns argv
//! into a [`Parsed`]; [`Layer`] holds raw values from one source (flags or
//! env) and the typed getters report errors naming that source, so a bad
//! value says `--grace` or `SEALINIT_GRACE`, whichever it came from.

use std::ffi::{OsStr, OsString};

/// The subcommands; `Run` is the default (check, then supervise COMMAND).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sub {
    Run,
    Check,
    Mounts,
    Manifest,
    Plan,
    Learn,
}

impl Sub {
    pub fn name(self) -> &'static str {
        match self {
            Sub::Run => "run",
            Sub::Check => "check",
            Sub::Mounts => "mounts",
            Sub::Manifest => "manifest",
            Sub::Plan => "plan",
            Sub::Learn => "learn",
        }
    }
    fn bit(self) -> u8 {
        match self {
            Sub::Run => RUN,
            Sub::Check => CHECK,
            Sub::Mounts => MOUNTS,
            Sub::Manifest => MANIFEST,
            Sub::Plan => PLAN,
            Sub::Learn => LEARN,
        }
    }
}

const RUN: u8 = 1;
const CHECK: u8 = 2;
const MOUNTS: u8 = 4;
const MANIFEST: u8 = 8;
const PLAN: u8 = 16;
const LEARN: u8 = 32;
const CONTRACT: u8 = RUN | CHECK | MANIFEST | LEARN;
const ALL: u8 = RUN | CHECK | MOUNTS | MANIFEST | PLAN | LEARN;

/// One option of the table.
#[derive(Debug)]
pub struct OptDef {
    /// Long name without dashes; the env mirror is derived from it.
    pub name: &'static str,
    pub short: Option<char>,
    /// Value placeholder for help; `None` for a switch.
    pub value: Option<&'static str>,
    /// May be given several times (values accumulate).
    pub repeat: bool,
    /// Bitmask of the subcommands that accept it.
    pub subs: u8,
    /// Help section.
    pub group: &'static str,
    pub help: &'static str,
}

macro_rules! opt {
    ($name:literal, $short:expr, $value:expr, $repeat:expr, $subs:expr, $group:literal, $help:literal) => {
        OptDef {
            name: $name,
            short: $short,
            value: $value,
            repeat: $repeat,
            subs: $subs,
            group: $group,
            help: $help,
        }
    };
}

/// Every option sealinit accepts.
#[rustfmt::skip]
pub const OPTIONS: &[OptDef] = &[
    opt!("spec", None, Some("FILE"), false, CONTRACT, "contract", "storage contract file (TOML); default /etc/sealinit/spec.toml if present"),
    opt!("profile", None, Some("NAME"), false, CONTRACT, "contract", "built-in contract: postgres, redis-cache, redis-db, kafka, nginx, app"),
    opt!("tmpfs", None, Some("PATH[:SIZE]"), true, CONTRACT, "contract", "PATH must be a tmpfs (emptyDir medium: Memory); SIZE is its sizeLimit"),
    opt!("emptydir", None, Some("PATH[:SIZE]"), true, CONTRACT, "contract", "PATH must be a writable disk-backed mount (emptyDir)"),
    opt!("pvc", None, Some("PATH[:SIZE]"), true, CONTRACT, "contract", "PATH must be a writable persistent mount (PersistentVolumeClaim)"),
    opt!("readonly", None, Some("PATH"), true, CONTRACT, "contract", "PATH must be a read-only mount (ConfigMap, certificates)"),
    opt!("secret", None, Some("PATH"), true, CONTRACT, "contract", "PATH must be a read-only tmpfs (Secret)"),
    opt!("mounts", None, Some("LIST"), false, CONTRACT, "contract", "the five above as kind:path[:size],... (mostly set as SEALINIT_MOUNTS)"),
    opt!("root", None, Some("read-only|any"), false, RUN | CHECK, "checks", "what / must be (default read-only; any = no root check)"),
    opt!("on-violation", None, Some("fail|warn"), false, RUN | CHECK, "checks", "fail: exit 78 before the workload starts (default); warn: log and start"),
    opt!("require-non-root", None, None, false, RUN | CHECK, "checks", "fail when running as uid 0"),
    opt!("print-spec", None, None, false, CHECK, "checks", "print the resolved contract as TOML and exit"),
    opt!("warn-at", None, Some("PCT"), false, RUN, "usage", "usage warning threshold, percent of sizeLimit (default 80)"),
    opt!("act-at", None, Some("PCT"), false, RUN, "usage", "usage threshold for --limit-action (default 95)"),
    opt!("limit-action", None, Some("warn|signal:SIG|stop"), false, RUN, "usage", "what to do at --act-at (default warn); stop exits 75"),
    opt!("rescan", None, Some("DURATION"), false, RUN, "usage", "full usage rescan period, the safety net under inotify (default 60s)"),
    opt!("ephemeral-limit", None, Some("SIZE"), false, RUN | MANIFEST, "usage", "the pod's limits.ephemeral-storage (set from the downward API)"),
    opt!("metrics", None, Some("ADDR"), false, RUN | MANIFEST, "usage", "serve Prometheus text on http://ADDR/metrics (off by default); manifest: declare its port"),
    opt!("on-tamper", None, Some("warn|stop"), false, RUN, "usage", "what a tamper event does (default warn); stop exits 77"),
    opt!("grace", None, Some("DURATION"), false, RUN | LEARN, "init", "TERM-to-KILL delay for processes left at shutdown (default 10s)"),
    opt!("pgroup", Some('g'), None, false, RUN | LEARN, "init", "forward signals to the child's whole process group"),
    opt!("rewrite", None, Some("FROM:TO"), true, RUN | LEARN, "init", "deliver signal TO when FROM arrives (repeatable; TO 0 drops FROM)"),
    opt!("remap-exit", None, Some("FROM:TO"), true, RUN | LEARN, "init", "report the workload's exit code FROM as TO (repeatable; e.g. 143:0)"),
    opt!("pdeathsig", None, Some("SIG"), false, RUN | LEARN, "init", "signal the workload gets if sealinit dies"),
    opt!("termination-log", None, Some("PATH"), false, RUN, "init", "where the reason for an exit sealinit decides is written; empty: off (default /dev/termination-log if writable)"),
    opt!("format", None, Some("kubernetes|docker|podman|compose"), false, MANIFEST, "manifest", "output format (default kubernetes)"),
    opt!("workload", None, Some("deployment|statefulset"), false, MANIFEST, "manifest", "wrap the fragment in a full object"),
    opt!("name", None, Some("NAME"), false, MANIFEST, "manifest", "workload and container name (default app)"),
    opt!("image", None, Some("IMAGE"), false, MANIFEST, "manifest", "container image (default IMAGE)"),
    opt!("run-as-user", None, Some("UID"), false, MANIFEST, "manifest", "runAsUser (default 65532)"),
    opt!("run-as-group", None, Some("GID"), false, MANIFEST, "manifest", "runAsGroup (default 65532)"),
    opt!("fs-group", None, Some("GID"), false, MANIFEST, "manifest", "fsGroup (default 65532)"),
    opt!("ephemeral-request", None, Some("SIZE"), false, MANIFEST, "manifest", "override requests.ephemeral-storage (default: disk sizeLimits + 20%)"),
    opt!("host-dir", None, Some("DIR"), false, MANIFEST, "manifest", "host directory for readonly/secret sources in docker/podman/compose output"),
    opt!("concurrency", None, Some("N"), false, PLAN, "plan", "web: maximum concurrent requests (10MB each)"),
    opt!("cache", None, Some("SIZE"), false, PLAN, "plan", "web: cache share"),
    opt!("working-memory", None, Some("SIZE"), false, PLAN, "plan", "web: working memory (cache = 20% of it)"),
    opt!("input", None, Some("SIZE"), false, PLAN, "plan", "data: largest input batch"),
    opt!("intermediate", None, Some("SIZE"), false, PLAN, "plan", "data: largest intermediate data set"),
    opt!("factor", None, Some("2|3"), false, PLAN, "plan", "data: intermediate multiplier (default 3)"),
    opt!("output", None, Some("SIZE"), false, PLAN, "plan", "data: final result set"),
    opt!("shared-buffers", None, Some("SIZE"), false, PLAN, "plan", "postgres: shared_buffers"),
    opt!("sort-hash", None, Some("SIZE"), false, PLAN, "plan", "postgres: largest sort/hash spill (overrides the rule)"),
    opt!("data", None, Some("SIZE"), false, PLAN, "plan", "postgres: database size (PVC = 2x)"),
    opt!("daily", None, Some("SIZE"), false, PLAN, "plan", "kafka: daily message volume"),
    opt!("retention-days", None, Some("N"), false, PLAN, "plan", "kafka: retention in days"),
    opt!("out", None, Some("FILE"), false, LEARN, "learn", "write the learned spec TOML here (atomically); default: stderr only"),
    opt!("report-every", None, Some("DURATION"), false, LEARN, "learn", "how often the learned contract is reported and written (default 60s)"),
    opt!("log-format", None, Some("text|json"), false, ALL, "output", "stderr format (default text)"),
    opt!("verbose", Some('v'), None, true, ALL, "output", "more detail (repeat for trace); SEALINIT_LOG=LEVEL sets it too"),
    opt!("quiet", Some('q'), None, true, ALL, "output", "warnings and errors only"),
    opt!("log", None, Some("LEVEL"), false, ALL, "output", "error, warn, info, debug or trace"),
];

/// The env mirror of an option name: `SEALINIT_` + upper case, `-` → `_`.
pub fn env_name(name: &str) -> String {
    let mut s = String::from("SEALINIT_");
    s.extend(name.chars().map(|c| {
        if c == '-' {
            '_'
        } else {
            c.to_ascii_uppercase()
        }
    }));
    s
}

/// Where a value came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
}

/// A usage error: exit 64 with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Raw values from one source, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    pub values: Vec<(&'static str, String)>,
    /// `SEALINIT_*` environment names that mirror no option.
    pub unknown: Vec<String>,
}

impl Layer {
    /// The last value of a single-valued option.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of a repeatable option.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.values
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
    /// How many times a switch was given.
    pub fn count(&self, name: &str) -> usize {
        self.values.iter().filter(|(n, _)| *n == name).count()
    }
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub sub: Sub,
    pub flags: Layer,
    /// The workload command (`Run`) or positional arguments (`Plan`).
    pub argv: Vec<OsString>,
    pub help: bool,
    pub version: bool,
}

fn find_long(name: &str) -> Option<&'static OptDef> {
    OPTIONS.iter().find(|o| o.name == name)
}

fn find_short(c: char) -> Option<&'static OptDef> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

fn utf8(arg: &OsStr, what: &str) -> Result<String, UsageError> {
    arg.to_str()
        .map(str::to_string)
        .ok_or_else(|| UsageError(format!("{what}: the value is not valid UTF-8")))
}

/// Parses argv (without the program name).
///
/// `sealinit [OPTIONS] [--] COMMAND [ARG...]`: option parsing stops at `--`
/// or at the first positional argument, which starts the workload. A first
/// positional of `check`, `mounts`, `manifest` or `plan` (before any `--`)
/// selects that subcommand instead; run a program of that name with
/// `sealinit -- check`.
pub fn parse_args(args: &[OsString]) -> Result<Parsed, UsageError> {
    let mut p = Parsed {
        sub: Sub::Run,
        flags: Layer::default(),
        argv: Vec::new(),
        help: false,
        version: false,
    };
    let mut i = 0;
    let mut sub_chosen = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            p.argv.extend(args[i..].iter().cloned());
            break;
        }
        if bytes.len() > 1 && bytes[0] == b'-' {
            let text = utf8(arg, "argument")?;
            if let Some(long) = text.strip_prefix("--") {
                let (name, inline) = match long.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (long, None),
                };
                match name {
                    "help" => {
                        p.help = true;
                        continue;
                    }
                    "version" => {
                        p.version = true;
                        continue;
                    }
                    _ => {}
                }
                let def = find_long(name).ok_or_else(|| {
                    UsageError(format!("unknown option --{name} (see sealinit --help)"))
                })?;
                let value = take_value(def, inline, args, &mut i, &format!("--{name}"))?;
                p.flags.values.push((def.name, value));
            } else {
                // A cluster of short switches, e.g. -gv or -vv.
                for c in text[1..].chars() {
                    if c == 'h' {
                        p.help = true;
                        continue;
                    }
                    let def = find_short(c).ok_or_else(|| {
                        UsageError(format!("unknown option -{c} (see sealinit --help)"))
                    })?;
                    if def.value.is_some() {
                        return Err(UsageError(format!("-{c} needs a value")));
                    }
                    p.flags.values.push((def.name, String::new()));
                }
            }
            continue;
        }
        // A positional argument.
        if !sub_chosen && p.argv.is_empty() && p.sub == Sub::Run {
            let sub = match bytes {
                b"check" => Some(Sub::Check),
                b"mounts" => Some(Sub::Mounts),
                b"manifest" => Some(Sub::Manifest),
                b"plan" => Some(Sub::Plan),
                b"learn" => Some(Sub::Learn),
                _ => None,
            };
            if let Some(sub) = sub {
                p.sub = sub;
                sub_chosen = true;
                continue;
            }
        }
        match p.sub {
            Sub::Run | Sub::Learn => {
                p.argv.push(arg.clone());
                p.argv.extend(args[i..].iter().cloned());
                break;
            }
            Sub::Plan => p.argv.push(arg.clone()),
            other => {
                return Err(UsageError(format!(
                    "sealinit {}: unexpected argument {:?}",
                    other.name(),
                    arg
                )))
            }
        }
    }
    for (name, _) in &p.flags.values {
        if let Some(def) = find_long(name) {
            if def.subs & p.sub.bit() == 0 {
                return Err(UsageError(format!(
                    "--{name} does not apply to sealinit {}",
                    p.sub.name()
                )));
            }
        }
    }
    Ok(p)
}

fn take_value(
    def: &OptDef,
    inline: Option<String>,
    args: &[OsString],
    i: &mut usize,
    shown: &str,
) -> Result<String, UsageError> {
    match (def.value, inline) {
        (None, None) => Ok(String::new()),
        (None, Some(_)) => Err(UsageError(format!("{shown} takes no value"))),
        (Some(_), Some(v)) => Ok(v),
        (Some(vn), None) => {
            let next = args
                .get(*i)
                .ok_or_else(|| UsageError(format!("{shown} needs a value: {shown} {vn}")))?;
            *i += 1;
            utf8(next, shown)
        }
    }
}

/// Reads the env mirrors from `vars` (the process environment, or a list
/// in tests), in one pass: only `SEALINIT_*` names are looked at.
/// Repeatable mount options take comma-separated lists in env
/// (`SEALINIT_TMPFS=/a:1Gi,/b`). Switches accept 1/true/yes/on and
/// 0/false/no/off; anything else is an error naming the variable. A
/// `SEALINIT_*` name that mirrors no option is kept in [`Layer::unknown`] so
/// the caller can warn about a likely typo.
pub fn env_layer(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<Layer, UsageError> {
    let mut layer = Layer::default();
    for (key, raw) in vars {
        let Some(suffix) = key.as_encoded_bytes().strip_prefix(b"SEALINIT_") else {
            continue;
        };
        let name: String = suffix
            .iter()
            .map(|&b| {
                if b == b'_' {
                    '-'
                } else {
                    b.to_ascii_lowercase() as char
                }
            })
            .collect();
        let var = key.to_string_lossy().into_owned();
        let Some(def) = find_long(&name).filter(|_| {
            suffix
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        }) else {
            layer.unknown.push(var);
            continue;
        };
        let value = utf8(&raw, &var)?;
        if def.value.is_none() {
            match value.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => layer.values.push((def.name, String::new())),
                "0" | "false" | "no" | "off" | "" => {}
                _ => {
                    return Err(UsageError(format!(
                        "{var}: expected 1/true/yes/on or 0/false/no/off, got {value:?}"
                    )))
                }
            }
        } else if def.repeat {
            for item in value.split(',').filter(|s| !s.is_empty()) {
                layer.values.push((def.name, item.to_string()));
            }
        } else {
            layer.values.push((def.name, value));
        }
    }
    Ok(layer)
}

/// Flags over env: the value of a single-valued option and where it came
/// from, so a parse error can name `--x` or `SEALINIT_X`.
pub fn pick<'a>(flags: &'a Layer, env: &'a Layer, name: &str) -> Option<(&'a str, String)> {
    if let Some(v) = flags.get(name) {
        return Some((v, format!("--{name}")));
    }
    env.get(name).map(|v| (v, env_name(name)))
}

/// Parses a picked value with `parse`, prefixing errors with its source.
pub fn typed<T>(
    picked: Option<(&str, String)>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, UsageError> {
    match picked {
        None => Ok(None),
        Some((v, src)) => parse(v)
            .map(Some)
            .map_err(|e| UsageError(format!("{src}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn workload_starts_at_first_positional_or_after_double_dash() {
        type Case<'a> = (&'a [&'a str], Sub, &'a [&'a str], &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (&["--", "sh", "-c", "x"], Sub::Run, &["sh", "-c", "x"], &[]),
            (
                &["-g", "sleep", "-v"],
                Sub::Run,
                &["sleep", "-v"],
                &[("pgroup", "")],
            ),
            (
                &["--grace=3s", "--", "check"],
                Sub::Run,
                &["check"],
                &[("grace", "3s")],
            ),
            (
                &["--grace", "3s", "true"],
                Sub::Run,
                &["true"],
                &[("grace", "3s")],
            ),
            (
                &["check", "--profile", "nginx"],
                Sub::Check,
                &[],
                &[("profile", "nginx")],
            ),
            (
                &["--profile", "app", "check"],
                Sub::Check,
                &[],
                &[("profile", "app")],
            ),
            (&["plan", "web", "x"], Sub::Plan, &["web", "x"], &[]),
            (
                &["learn", "--out", "f.toml", "--", "nginx", "-g"],
                Sub::Learn,
                &["nginx", "-g"],
                &[("out", "f.toml")],
            ),
            (
                &["-vv", "true"],
                Sub::Run,
                &["true"],
                &[("verbose", ""), ("verbose", "")],
            ),
        ];
        for (args, sub, argv, flags) in cases {
            let p = parse_args(&os(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert_eq!(p.sub, *sub, "{args:?}");
            assert_eq!(p.argv, os(argv), "{args:?}");
            let want: Vec<(&str, String)> =
                flags.iter().map(|(n, v)| (*n, v.to_string())).collect();
            let got: Vec<(&str, String)> = p.flags.values.clone();
            assert_eq!(got, want, "{args:?}");
        }
    }

    #[test]
    fn bad_arguments_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--nope"], "--nope"),
            (&["-x"], "-x"),
            (&["--grace"], "--grace needs a value"),
            (&["--pgroup=1"], "--pgroup takes no value"),
            (&["check", "extra"], "unexpected argument"),
            (
                &["mounts", "--grace", "1s"],
                "--grace does not apply to sealinit mounts",
            ),
        ];
        for (args, want) in cases {
            let err = parse_args(&os(args)).expect_err(&format!("{args:?} accepted"));
            assert!(err.0.contains(want), "{args:?}: {err}");
        }
    }

    #[test]
    fn env_mirrors_every_option() {
        for def in OPTIONS {
            let var = env_name(def.name);
            assert!(var.starts_with("SEALINIT_") && !var.contains('-'), "{var}");
        }
        assert_eq!(env_name("on-violation"), "SEALINIT_ON_VIOLATION");
        let vars = |pairs: &[(&str, &str)]| -> Vec<(OsString, OsString)> {
            pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect()
        };
        let layer = env_layer(vars(&[
            ("SEALINIT_GRACE", "5s"),
            ("SEALINIT_PGROUP", "true"),
            ("SEALINIT_TMPFS", "/a:1Gi,/b"),
            ("SEALINIT_GRACEE", "typo"),
            ("sealinit_grace", "lower case is not a mirror"),
            ("PATH", "/bin"),
        ]))
        .expect("env");
        assert_eq!(layer.get("grace"), Some("5s"));
        assert_eq!(layer.count("pgroup"), 1);
        assert_eq!(layer.all("tmpfs").collect::<Vec<_>>(), vec!["/a:1Gi", "/b"]);
        assert_eq!(layer.unknown, vec!["SEALINIT_GRACEE".to_string()]);
        let bad = env_layer(vars(&[("SEALINIT_PGROUP", "maybe")]));
        assert!(bad.expect_err("accepted").0.starts_with("SEALINIT_PGROUP:"));
        let lower = env_layer(vars(&[("SEALINIT_grace", "5s")])).expect("env");
        assert_eq!(lower.get("grace"), None, "only upper-case mirrors count");
    }

    #[test]
    fn flags_win_over_env_and_errors_name_the_source() {
        let flags = Layer {
            values: vec![("grace", "bad".into())],
            ..Layer::default()
        };
        let env = Layer {
            values: vec![("grace", "5s".into()), ("warn-at", "x".into())],
            ..Layer::default()
        };
        let g = typed(
            pick(&flags, &env, "grace"),
            crate::core::options::parse_duration,
        );
        assert!(g.expect_err("accepted").0.starts_with("--grace:"));
        let w = typed(
            pick(&Layer::default(), &env, "warn-at"),
            crate::core::options::parse_percent,
        );
        assert!(w.expect_err("accepted").0.starts_with("SEALINIT_WARN_AT:"));
        let ok = typed(
            pick(&Layer::default(), &env, "grace"),
            crate::core::options::parse_duration,
        );
        assert_eq!(ok, Ok(Some(std::time::Duration::from_secs(5))));
    }
}
