//! The resolved configuration: one documented [`Config`], folded by one pure
//! function, [`fold`], from four sources, lowest precedence first:
//!
//! ```text
//! built-in profile  <  spec file  <  SEALINIT_* environment  <  flags  (then defaults fill the rest)
//! ```
//!
//! The spec file is read at the edge ([`crate::orchestra::contract`]) and
//! handed in as text ([`SpecText`]); everything here is pure. Each source
//! becomes a [`SpecFile`] (mounts plus [`Settings`]), [`spec::merge`] lays
//! them over each other once (a setting comes from the latest source that
//! sets it; mounts, rewrites and exit remaps merge per key), and the result
//! is laid over [`Settings::defaults`]. `--print-spec` renders the same
//! [`Config`] back ([`Config::spec_settings`]), so it prints what will run.
//!
//! Output settings ([`Output`]) are resolved first and apart, from flags and
//! env only, so that every later error is reported in the asked-for format.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use super::options::TerminationLog;
use super::options::{self, LimitAction, LogFormat, TamperPolicy};
use super::parser::{pick, typed, Layer, Opt, Parsed, Sub, UsageError};
use crate::core::contract::spec::{
    self, MountKind, RootPolicy, Settings, Spec, SpecFile, ViolationPolicy,
};
use crate::core::{cli::initopts, contract::plan, contract::profiles, render::manifest};

mod commands;

pub use commands::{manifest_options, plan_input};

/// Default `--warn-at`, percent of a sizeLimit (DESIGN.md).
pub const DEFAULT_WARN_AT: u8 = 80;
/// Default `--act-at`, percent of a sizeLimit (DESIGN.md).
pub const DEFAULT_ACT_AT: u8 = 95;
/// Default `--grace` (DESIGN.md).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// Default `--rescan`: the full usage rescan under inotify.
pub const DEFAULT_RESCAN: Duration = Duration::from_secs(60);
/// Default `sealinit learn --report-every`.
pub const DEFAULT_REPORT_EVERY: Duration = Duration::from_secs(60);

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
    /// `--log-format`, default text.
    pub format: LogFormat,
    /// `--log LEVEL`, `-v` (debug), `-vv` (trace), `-q` (errors only).
    pub verbosity: Verbosity,
    /// `--log-timestamps`: an RFC 3339 `ts` on every line.
    pub log_timestamps: bool,
}

/// Resolves `--log-format`, `--log`/`SEALINIT_LOG`, `-v`, `-q`,
/// `--log-timestamps` (flags over env).
pub fn output(flags: &Layer, env: &Layer) -> Result<Output, UsageError> {
    let format =
        typed(pick(flags, env, Opt::LogFormat), options::parse_log_format)?.unwrap_or_default();
    let mut verbosity =
        typed(pick(flags, env, Opt::Log), Verbosity::parse)?.unwrap_or(Verbosity::Info);
    let v = flags.count(Opt::Verbose) + env.count(Opt::Verbose);
    if v > 0 {
        verbosity = if v > 1 {
            Verbosity::Trace
        } else {
            Verbosity::Debug
        };
    }
    if flags.on(Opt::Quiet) || env.on(Opt::Quiet) {
        verbosity = Verbosity::Error;
    }
    Ok(Output {
        format,
        verbosity,
        log_timestamps: flags.on(Opt::LogTimestamps) || env.on(Opt::LogTimestamps),
    })
}

/// What to do, with what each subcommand needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `sealinit [OPTIONS] -- COMMAND`: check, then supervise `argv`.
    Run { argv: Vec<OsString> },
    /// `sealinit check`: exit 0 clean, 1 violations; or print the spec.
    Check { print_spec: bool },
    /// `sealinit mounts`: the live mount table, classified.
    Mounts,
    /// `sealinit manifest`: YAML or runtime flags for the contract.
    Manifest { options: manifest::ManifestOptions },
    /// `sealinit plan KIND`: the seed's sizing rules as a spec file.
    Plan { input: plan::PlanInput },
    /// `sealinit learn -- COMMAND`: run `argv`, learn the contract.
    Learn {
        argv: Vec<OsString>,
        /// `--out FILE`: where the learned spec is written (atomically).
        out: Option<PathBuf>,
        /// `--report-every`: how often it is written (default 60 s).
        report_every: Duration,
    },
}

/// Everything sealinit does, resolved. Built by [`fold`] only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub command: Command,
    pub output: Output,
    /// The storage contract: `root`, `on_violation`, `require_non_root` and
    /// the declared mounts (with `allow_exec`), in declaration order.
    pub spec: Spec,
    /// `--warn-at`, percent of a sizeLimit (default 80).
    pub warn_at: u8,
    /// `--act-at`, percent of a sizeLimit (default 95), at least `warn_at`.
    pub act_at: u8,
    /// `--limit-action` at `act_at` (default warn).
    pub limit_action: LimitAction,
    /// `--rescan`: full usage rescan period (default 60 s, at least 1 s).
    pub rescan: Duration,
    /// `--on-tamper` (default warn).
    pub on_tamper: TamperPolicy,
    /// The pod's `limits.ephemeral-storage` in bytes, if known.
    pub ephemeral_limit: Option<u64>,
    /// `--metrics`: a literal address; None is off.
    pub metrics: Option<SocketAddr>,
    /// `--grace`: TERM→KILL delay (default 10 s).
    pub grace: Duration,
    /// `-g`: forward signals to the child's process group.
    pub pgroup: bool,
    /// `--rewrite FROM:TO`: signal FROM is delivered as TO (the nginx
    /// profile: TERM→QUIT). One entry per FROM.
    pub rewrite: Vec<(i32, i32)>,
    /// `--remap-exit FROM:TO`: the workload's exit code FROM is reported as
    /// TO. One entry per FROM.
    pub remap_exit: Vec<(u8, u8)>,
    /// `--pdeathsig SIG`: what the workload gets if sealinit dies.
    pub pdeathsig: Option<i32>,
    /// `--termination-log`: where the reason for an exit sealinit decides
    /// is written.
    pub termination_log: TerminationLog,
}

impl Config {
    /// The settings with a spec key, as [`spec::render_toml`] prints them
    /// (`--print-spec`): every one set, to the value that will run.
    pub fn spec_settings(&self) -> Settings {
        Settings {
            warn_at: Some(self.warn_at),
            act_at: Some(self.act_at),
            limit_action: Some(self.limit_action),
            grace: Some(self.grace),
            on_tamper: Some(self.on_tamper),
            ephemeral_limit: self.ephemeral_limit,
            rescan: Some(self.rescan),
            rewrite: self.rewrite.clone(),
            remap_exit: self.remap_exit.clone(),
            pdeathsig: self.pdeathsig,
            ..Settings::default()
        }
    }

    /// `sealinit check --print-spec`: the contract and settings that will
    /// run, as a spec file `--spec` reads back to this same configuration.
    pub fn print_spec(&self) -> String {
        spec::render_toml(&self.spec, &self.spec_settings())
    }
}

/// `--termination-log`/`SEALINIT_TERMINATION_LOG` as far as it can be
/// read without failing, so that even a usage error in the rest of the
/// command line is explained to Kubernetes: an unreadable value counts as
/// the default (the fold then reports it).
pub fn termination_log_of(flags: &Layer, env: &Layer) -> TerminationLog {
    typed(
        pick(flags, env, Opt::TerminationLog),
        options::parse_termination_log,
    )
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// [`termination_log_of`] from the raw variable alone, for a command line
/// that did not parse.
pub fn termination_log_hint(raw: Option<&std::ffi::OsStr>) -> TerminationLog {
    raw.and_then(std::ffi::OsStr::to_str)
        .and_then(|v| options::parse_termination_log(v).ok())
        .unwrap_or_default()
}

/// The spec file as the edge read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecText {
    pub path: PathBuf,
    /// `--spec` or `SEALINIT_SPEC` when named there; None for the default
    /// path (read because it exists).
    pub named_by: Option<String>,
    /// The text, or why it could not be read (names the path and the call).
    pub text: Result<String, String>,
}

/// The spec file `--spec`/`SEALINIT_SPEC` names, and which of the two
/// named it. None: the caller reads the default path if it exists.
pub fn named_spec_file(parsed: &Parsed, env: &Layer) -> Option<(PathBuf, String)> {
    if !needs_contract(parsed.sub) {
        return None;
    }
    pick(&parsed.flags, env, Opt::Spec).map(|(p, src)| (PathBuf::from(p), src))
}

/// Whether the command reads the contract at all (`plan` does not).
pub fn needs_contract(sub: Sub) -> bool {
    sub != Sub::Plan
}

/// The one fold: profile < spec file < env < flags < defaults, into a
/// [`Config`] for the parsed subcommand. Every error is a usage error (exit
/// 64) naming its source: the flag, the variable, or the spec file's
/// `file:line: key`. `sealinit mounts` shows the declared mounts when the
/// contract resolves and none when it does not (it is a read-only view).
pub fn fold(
    parsed: &Parsed,
    env: &Layer,
    spec_file: Option<&SpecText>,
) -> Result<Config, UsageError> {
    let flags = &parsed.flags;
    let output = output(flags, env)?;
    let command = match parsed.sub {
        Sub::Run => Command::Run {
            argv: need_argv(parsed, "sealinit [OPTIONS] -- COMMAND [ARG...]")?,
        },
        Sub::Check => Command::Check {
            print_spec: flags.on(Opt::PrintSpec),
        },
        Sub::Mounts => Command::Mounts,
        Sub::Manifest => Command::Manifest {
            options: manifest_options(flags, env)?,
        },
        Sub::Plan => Command::Plan {
            input: plan_input(parsed, env)?,
        },
        Sub::Learn => Command::Learn {
            argv: need_argv(parsed, "sealinit learn [OPTIONS] -- COMMAND [ARG...]")?,
            out: typed(pick(flags, env, Opt::Out), |s| {
                if s.is_empty() {
                    Err("expected a file name, got an empty value".to_string())
                } else {
                    Ok(PathBuf::from(s))
                }
            })?,
            // A scan per report: any period above zero (learn is for staging).
            report_every: typed(pick(flags, env, Opt::ReportEvery), |v| {
                options::parse_duration(v).and_then(|d| {
                    if d.is_zero() {
                        Err(format!("expected a period above 0, got {v:?}"))
                    } else {
                        Ok(d)
                    }
                })
            })?
            .unwrap_or(DEFAULT_REPORT_EVERY),
        },
    };
    let sources = match parsed.sub {
        Sub::Plan => Sources::default(),
        // Only the declared mounts matter here; a broken contract shows none.
        Sub::Mounts => contract_sources(flags, env, spec_file)
            .map(Sources::mounts_only)
            .unwrap_or_default(),
        _ => contract_sources(flags, env, spec_file)?,
    };
    let mut config = settle(command, output, &sources)?;
    if let Command::Manifest { options } = &mut config.command {
        // `--metrics` in a manifest declares the port it will listen on.
        options.metrics_port = config.metrics.map(|a| a.port());
    }
    Ok(config)
}

fn need_argv(parsed: &Parsed, usage: &str) -> Result<Vec<OsString>, UsageError> {
    if parsed.argv.is_empty() {
        let help = match parsed.sub {
            Sub::Run => "sealinit --help".to_string(),
            sub => format!("sealinit {} --help", sub.name()),
        };
        return Err(UsageError(format!(
            "no command to run: {usage} (see {help})"
        )));
    }
    Ok(parsed.argv.clone())
}

/// The four sources, each parsed (lowest precedence first).
#[derive(Debug, Clone, Default)]
struct Sources {
    profile: Option<SpecFile>,
    file: Option<SpecFile>,
    env: SpecFile,
    flags: SpecFile,
    /// The spelling of each layer for `--allow-exec` errors.
    labels: [String; 2],
}

impl Sources {
    /// The same sources without their settings (for `sealinit mounts`).
    fn mounts_only(mut self) -> Sources {
        let layers = (self.profile.iter_mut())
            .chain(self.file.iter_mut())
            .chain([&mut self.env, &mut self.flags]);
        for layer in layers {
            layer.settings = Settings::default();
        }
        self
    }
}

fn contract_sources(
    flags: &Layer,
    env: &Layer,
    spec_file: Option<&SpecText>,
) -> Result<Sources, UsageError> {
    let profile = match pick(flags, env, Opt::Profile) {
        None => None,
        Some((name, src)) => Some(profiles::profile(name).ok_or_else(|| {
            UsageError(format!(
                "{src}: unknown profile {name:?}; expected one of {}",
                profiles::PROFILE_NAMES.join(", ")
            ))
        })?),
    };
    let file = spec_file.map(parse_spec_text).transpose()?;
    Ok(Sources {
        profile,
        file,
        env: layer_settings(env)?,
        flags: layer_settings(flags)?,
        labels: [env.label(Opt::AllowExec), flags.label(Opt::AllowExec)],
    })
}

/// Parses the spec file's text; errors are `file:line: key ...`, prefixed
/// with `--spec: ` or `SEALINIT_SPEC: ` when one of them named the file.
fn parse_spec_text(t: &SpecText) -> Result<SpecFile, UsageError> {
    let prefix = |msg: String| match &t.named_by {
        Some(src) => UsageError(format!("{src}: {msg}")),
        None => UsageError(msg),
    };
    let text = t.text.as_deref().map_err(|e| prefix(e.to_string()))?;
    spec::parse_spec_toml(text, &t.path).map_err(|e| prefix(e.to_string()))
}

/// The mount flags and their kinds, in the table's order.
const MOUNT_FLAGS: [(Opt, MountKind); 5] = [
    (Opt::Tmpfs, MountKind::Tmpfs),
    (Opt::Emptydir, MountKind::EmptyDir),
    (Opt::Pvc, MountKind::Pvc),
    (Opt::Readonly, MountKind::ReadOnly),
    (Opt::Secret, MountKind::Secret),
];

/// Everything one layer (flags or env) says about the contract and the
/// runtime, as a [`SpecFile`]; errors name the option as the layer spells it.
fn layer_settings(layer: &Layer) -> Result<SpecFile, UsageError> {
    let label = |opt: Opt| layer.label(opt);
    let mut mounts = Vec::new();
    if let Some(list) = layer.get(Opt::Mounts) {
        mounts = spec::parse_mounts_env(list)
            .map_err(|e| UsageError(format!("{}: {e}", label(Opt::Mounts))))?;
    }
    for (opt, kind) in MOUNT_FLAGS {
        for value in layer.all(opt) {
            let m = spec::parse_mount_flag(kind, value).map_err(|e| {
                // The message starts with the flag (`--tmpfs "VALUE": ...`):
                // name the real source once instead.
                let rest = e.strip_prefix(&format!("{} ", opt.flag())).unwrap_or(&e);
                UsageError(format!("{}: {rest}", label(opt)))
            })?;
            mounts.push(m);
        }
    }
    if let Some(p) = spec::duplicate_path(&mounts) {
        return Err(UsageError(format!(
            "{} is declared twice in the {}; declare each path once",
            p.display(),
            match layer.source {
                super::parser::Source::Flag => "flags",
                super::parser::Source::Env => "environment",
            }
        )));
    }
    let quantity = |s: &str| crate::core::contract::quantity::parse(s).map_err(|e| e.to_string());
    let settings = Settings {
        root: layer.typed(Opt::Root, |v| {
            RootPolicy::parse(v).ok_or_else(|| format!("expected read-only or any, got {v:?}"))
        })?,
        on_violation: layer.typed(Opt::OnViolation, |v| {
            ViolationPolicy::parse(v).ok_or_else(|| format!("expected fail or warn, got {v:?}"))
        })?,
        require_non_root: layer.on(Opt::RequireNonRoot).then_some(true),
        warn_at: layer.typed(Opt::WarnAt, options::parse_percent)?,
        act_at: layer.typed(Opt::ActAt, options::parse_percent)?,
        limit_action: layer.typed(Opt::LimitAction, options::parse_limit_action)?,
        grace: layer.typed(Opt::Grace, options::parse_duration)?,
        on_tamper: layer.typed(Opt::OnTamper, options::parse_tamper_policy)?,
        ephemeral_limit: layer.typed(Opt::EphemeralLimit, quantity)?,
        rescan: layer.typed(Opt::Rescan, options::parse_period)?,
        rewrite: pairs(layer, Opt::Rewrite, initopts::parse_rewrite)?,
        remap_exit: pairs(layer, Opt::RemapExit, initopts::parse_remap_exit)?,
        pdeathsig: layer.typed(Opt::Pdeathsig, options::parse_signal)?,
        allow_exec: layer.typed_all(Opt::AllowExec, spec::normalize_path)?,
        pgroup: layer.on(Opt::Pgroup).then_some(true),
        metrics: layer.typed(Opt::Metrics, options::parse_metrics_addr)?,
        termination_log: layer.typed(Opt::TerminationLog, options::parse_termination_log)?,
    };
    Ok(SpecFile { settings, mounts })
}

/// A repeatable pair option (`--rewrite`, `--remap-exit`); a flag's value
/// may itself be a comma-separated list, like its env mirror.
fn pairs<T>(
    layer: &Layer,
    opt: Opt,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, UsageError> {
    initopts::parse_list(layer.all(opt), parse)
        .map_err(|e| UsageError(format!("{}: {e}", layer.label(opt))))
}

/// Merges the sources once and lays the result over the defaults.
fn settle(command: Command, output: Output, s: &Sources) -> Result<Config, UsageError> {
    let layers = [s.profile.as_ref(), s.file.as_ref()]
        .into_iter()
        .flatten()
        .chain([&s.env, &s.flags]);
    let resolved = spec::merge(layers);
    let mut eff = Settings::defaults();
    eff.overlay(&resolved.settings);
    let mut spec = resolved.spec;
    for (layer, label) in [&s.env, &s.flags].into_iter().zip(&s.labels) {
        for path in &layer.settings.allow_exec {
            mark_allow_exec(&mut spec, path, label)?;
        }
    }
    let warn_at = eff.warn_at.unwrap_or(DEFAULT_WARN_AT);
    let act_at = eff.act_at.unwrap_or(DEFAULT_ACT_AT);
    if warn_at > act_at {
        return Err(UsageError(format!(
            "--warn-at ({warn_at}%) must not be above --act-at ({act_at}%)"
        )));
    }
    Ok(Config {
        command,
        output,
        spec,
        warn_at,
        act_at,
        limit_action: eff.limit_action.unwrap_or_default(),
        rescan: eff.rescan.unwrap_or(DEFAULT_RESCAN),
        on_tamper: eff.on_tamper.unwrap_or_default(),
        ephemeral_limit: eff.ephemeral_limit,
        metrics: eff.metrics,
        grace: eff.grace.unwrap_or(DEFAULT_GRACE),
        pgroup: eff.pgroup.unwrap_or(false),
        rewrite: eff.rewrite,
        remap_exit: eff.remap_exit,
        pdeathsig: eff.pdeathsig,
        termination_log: eff.termination_log.unwrap_or_default(),
    })
}

/// `--allow-exec PATH`: PATH must be a declared mount.
fn mark_allow_exec(spec: &mut Spec, path: &Path, label: &str) -> Result<(), UsageError> {
    match spec.mounts.iter_mut().find(|m| m.path == path) {
        Some(m) => {
            m.allow_exec = true;
            Ok(())
        }
        None => Err(UsageError(format!(
            "{label}: {} is not a declared mount; declare it (e.g. --emptydir {}) or drop {label}",
            path.display(),
            path.display()
        ))),
    }
}

#[cfg(test)]
mod tests;
