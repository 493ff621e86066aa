//! The recipe `main` follows, one function per step in call order:
//! parse the command line, set up logging, resolve the configuration, check
//! the storage contract, spawn the workload, supervise it, and return the
//! exit code. Before the spawn any step may fail with an exit code; after
//! it, nothing returns early.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use tracing::Level;

use crate::core::cli::{self, Layer, Parsed, Sub, UsageError};
use crate::core::config::{self, Output, Runtime, TerminationLog, Verbosity};
use crate::core::facts::SkippedLines;
use crate::core::spec::{Resolved, ViolationPolicy};
use crate::core::{exitcode, manifest, plan, report, spec};
use crate::edge::signals::{self, Inherited};
use crate::edge::{log, probe, process};
use crate::orchestra::spawn::{
    become_reaper, init_options, note_termination, note_violation, runs_a_workload,
    signals_before_spawn, spawn_workload, termination_log, TERMINATION_LOG,
};
use crate::orchestra::startup::{self, CheckOutcome};
use crate::orchestra::supervisor::{self, Request, Requests};
use crate::orchestra::tamper::{self, ExecDropConfig, TamperSink};
use crate::orchestra::watcher::{self, WatchConfig, WatchEvent, WatchedMount};
use crate::orchestra::{contract, metrics};

/// The live mount table.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Runs sealinit and returns the process exit code.
pub fn run(inherited: io::Result<Inherited>) -> i32 {
    // Before anything opens a descriptor: a closed stdin/stdout/stderr must
    // not be taken by the signalfd, a pipe or a socket.
    process::reserve_std_fds();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let (parsed, env) = match parse_command_line(&args) {
        Ok(v) => v,
        Err(e) => {
            if runs_a_workload(&args) {
                let raw = std::env::var("SEALINIT_TERMINATION_LOG").ok();
                let _ = TERMINATION_LOG
                    .set(raw.map_or(TerminationLog::Default, |v| TerminationLog::parse(&v)));
            }
            return usage_error(&e);
        }
    };
    if parsed.sub == Sub::Run {
        let _ = TERMINATION_LOG.set(termination_log(&parsed, &env));
    }
    let out = match config::output(&parsed.flags, &env) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    init_logging(out);
    for var in &env.unknown {
        tracing::warn!(event = "config", variable = %var,
            "{var} is not a sealinit setting and is ignored (see sealinit --help for the SEALINIT_* names)");
    }
    if parsed.help {
        return print_stdout(&crate::core::help::text());
    }
    if parsed.version {
        return print_stdout(&format!("sealinit {}\n", env!("CARGO_PKG_VERSION")));
    }
    let inherited = match inherited {
        Ok(i) => i,
        Err(err) => return os_error(&format!("cannot block signals: {err}")),
    };
    match parsed.sub {
        Sub::Run => run_workload(&parsed, &env, inherited),
        Sub::Check => run_check(&parsed, &env),
        Sub::Mounts => run_mounts(&parsed, &env, out),
        Sub::Manifest => run_manifest(&parsed, &env),
        Sub::Plan => run_plan(&parsed, &env),
        Sub::Learn => match learn_params(&parsed, &env, out) {
            Ok(p) => crate::orchestra::learn::run(p, inherited),
            Err(e) => usage_error(&e),
        },
    }
}

/// `sealinit learn`: the plain parameters of [`crate::orchestra::learn::run`].
fn learn_params(
    parsed: &Parsed,
    env: &Layer,
    out: Output,
) -> Result<crate::orchestra::learn::LearnParams, UsageError> {
    let (resolved, rt) = resolve(parsed, env)?;
    let init = init_options(parsed, env)?;
    let report_every = cli::typed(
        cli::pick(&parsed.flags, env, "report-every"),
        crate::core::options::parse_duration,
    )?
    .unwrap_or(Duration::from_secs(60));
    Ok(crate::orchestra::learn::LearnParams {
        argv: parsed.argv.clone(),
        out: cli::pick(&parsed.flags, env, "out").map(|(v, _)| v.into()),
        report_every,
        declared: resolved.spec.mounts,
        grace: rt.grace,
        pgroup: rt.pgroup,
        rewrite: init.rewrite,
        remap_exit: init.remap_exit,
        pdeathsig: init.pdeathsig,
        log_format: out.format,
    })
}

fn parse_command_line(args: &[OsString]) -> Result<(Parsed, Layer), UsageError> {
    let parsed = cli::parse_args(args)?;
    let env = cli::env_layer(std::env::vars_os())?;
    Ok((parsed, env))
}

fn usage_error(e: &UsageError) -> i32 {
    note_termination(exitcode::USAGE, &e.0, None, Some("see sealinit --help"));
    if tracing::dispatcher::has_been_set() {
        tracing::error!(event = "exit", code = exitcode::USAGE, "{e}");
    } else {
        // Logging is not set up yet (the error may be in --log-format
        // itself): write the line directly in the text format.
        let _ = writeln!(io::stderr(), "sealinit: error: {e}");
    }
    exitcode::USAGE
}

fn init_logging(out: Output) {
    let level = match out.verbosity {
        Verbosity::Error => Level::ERROR,
        Verbosity::Warn => Level::WARN,
        Verbosity::Info => Level::INFO,
        Verbosity::Debug => Level::DEBUG,
        Verbosity::Trace => Level::TRACE,
    };
    // The `config` branch passes --log-timestamps here.
    log::init(out.format, level, false);
}

/// Logs `event = "exit"` for an operating-system failure before the
/// workload runs, and returns its exit code.
fn os_error(msg: &str) -> i32 {
    note_termination(exitcode::OS_ERROR, msg, None, None);
    tracing::error!(event = "exit", code = exitcode::OS_ERROR, "{msg}");
    exitcode::OS_ERROR
}

fn print_stdout(text: &str) -> i32 {
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => 0,
        Err(_) => exitcode::OS_ERROR,
    }
}

/// The contract and the runtime settings, or a usage error (exit 64).
fn resolve(parsed: &Parsed, env: &Layer) -> Result<(Resolved, Runtime), UsageError> {
    let resolved = contract::resolve(&parsed.flags, env)?;
    let rt = config::runtime(&parsed.flags, env, &resolved.settings)?;
    Ok((resolved, rt))
}

/// Runs the start-up checks once and logs the report.
fn check_contract(resolved: &Resolved) -> CheckOutcome {
    let outcome = startup::run_checks(&resolved.spec, Path::new(MOUNTINFO));
    startup::emit(&outcome, &resolved.spec);
    outcome
}

/// `sealinit [OPTIONS] -- COMMAND`: resolve, check, spawn, supervise.
fn run_workload(parsed: &Parsed, env: &Layer, inherited: Inherited) -> i32 {
    if parsed.argv.is_empty() {
        return usage_error(&UsageError(
            "no command to run: sealinit [OPTIONS] -- COMMAND [ARG...] (see sealinit --help)"
                .into(),
        ));
    }
    let (resolved, rt) = match resolve(parsed, env) {
        Ok(v) => v,
        Err(e) => return usage_error(&e),
    };
    let outcome = check_contract(&resolved);
    if outcome.has_failures() && resolved.spec.on_violation == ViolationPolicy::Fail {
        let code = exitcode::VIOLATION;
        tracing::error!(event = "exit", code, reason = "start-up violation",
            "not starting the workload: the storage contract is violated (see the fixes above); exit {code}. \
             Use --on-violation warn to start anyway.");
        note_violation(&outcome);
        return code;
    }
    become_reaper();
    let sigfd = match signals::signalfd_all() {
        Ok(fd) => fd,
        Err(err) => return os_error(&format!("cannot create a signalfd: {err}")),
    };
    // Nothing starts that has nothing to do: no pipe, no thread.
    let watch_mounts = mount_watch_needed(&resolved, &outcome);
    let watch_usage = resolved.spec.mounts.iter().any(|m| m.kind.is_writable());
    let channels = (watch_mounts || watch_usage)
        .then(|| {
            Channels::new()
                .map_err(|err| {
                    tracing::error!(event = "error", error = %err,
                    "cannot create the watcher pipe: {err}; usage and tamper are not watched")
                })
                .ok()
        })
        .flatten();
    let counters = metrics::SharedCounters::default();
    let snapshot = channels
        .as_ref()
        .map(|ch| start_usage_watcher(&resolved, &rt, ch, &counters))
        .unwrap_or_default();
    let init = match init_options(parsed, env) {
        Ok(v) => v,
        Err(e) => return usage_error(&e),
    };
    let early = match signals_before_spawn(&sigfd) {
        Ok(early) => early,
        Err(code) => return code,
    };
    let spawn_opts = process::SpawnOptions {
        pdeathsig: init.pdeathsig,
    };
    let child = match spawn_workload(&parsed.argv, inherited, spawn_opts) {
        Ok(pid) => pid,
        Err(code) => return code,
    };
    // From here on sealinit never returns early: the loop owns the exit.
    if let (Some(ch), true) = (&channels, watch_mounts) {
        start_tamper_watch(&resolved, &rt, &outcome, ch, &counters);
    }
    let requests = channels.map(|ch| ch.requests);
    start_metrics(&rt, snapshot, &outcome, &counters);
    let outcome = supervisor::run(
        child,
        &sigfd,
        supervisor::Settings {
            pgroup: rt.pgroup,
            grace: rt.grace,
            limit_action: rt.limit_action,
            counters,
            rewrite: init.rewrite,
            remap_exit: init.remap_exit,
            on_stop_signal: None,
        },
        requests,
        early,
    );
    finish(outcome)
}

/// The channels the watcher threads use to reach the supervisor.
struct Channels {
    requests: Requests,
    req_tx: mpsc::Sender<Request>,
    usage_tx: mpsc::Sender<WatchEvent>,
    wake_tx: OwnedFd,
}

impl Channels {
    fn new() -> io::Result<Channels> {
        let (wake_rx, wake_tx) = wake_pipe()?;
        let (req_tx, rx) = mpsc::channel::<Request>();
        let (usage_tx, usage) = mpsc::channel();
        Ok(Channels {
            requests: Requests {
                rx,
                usage,
                wake: wake_rx,
            },
            req_tx,
            usage_tx,
            wake_tx,
        })
    }

    /// A tamper sink of its own: a clone of the sender, a dup of the
    /// wake pipe's write end; its findings count into `counters`.
    fn tamper_sink(&self, rt: &Runtime, counters: &metrics::SharedCounters) -> Option<TamperSink> {
        let wake = self.wake_tx.try_clone().ok()?;
        Some(
            TamperSink::new(rt.on_tamper, self.req_tx.clone(), wake)
                .counting(counters.tamper_events.clone()),
        )
    }
}

/// Starts the usage watcher (with exec-drop detection) for the writable
/// mounts, and waits until its watches are in place, so that nothing the
/// workload writes goes unseen. Failures are logged; supervision goes on.
fn start_usage_watcher(
    resolved: &Resolved,
    rt: &Runtime,
    ch: &Channels,
    counters: &metrics::SharedCounters,
) -> watcher::Snapshot {
    let mounts: Vec<WatchedMount> = resolved
        .spec
        .mounts
        .iter()
        .filter(|m| m.kind.is_writable())
        .map(|m| WatchedMount {
            path: m.path.clone(),
            kind: m.kind,
            limit: m.size_limit,
        })
        .collect();
    if mounts.is_empty() {
        return watcher::Snapshot::default();
    }
    let Ok(wake) = ch.wake_tx.try_clone() else {
        tracing::error!(
            event = "error",
            "cannot duplicate the watcher pipe; usage is not watched"
        );
        return watcher::Snapshot::default();
    };
    let cfg = WatchConfig {
        warn_at: rt.warn_at,
        act_at: rt.act_at,
        rescan: rt.rescan,
        ephemeral_limit: rt.ephemeral_limit,
    };
    let exec_drop = ch.tamper_sink(rt, counters).map(ExecDropConfig::new);
    match watcher::spawn_watcher_with(mounts, cfg, ch.usage_tx.clone(), wake, exec_drop) {
        Ok(handle) => {
            if !handle.wait_ready(Duration::from_secs(10)) {
                tracing::warn!(event = "usage",
                    "the usage watcher is still setting up its watches after 10 s; starting the workload anyway (files written meanwhile are not checked for exec drops)");
            }
            handle.snapshot
        }
        Err(err) => {
            tracing::error!(event = "error", error = %err, "cannot start the usage watcher: {err}; usage is not watched");
            watcher::Snapshot::default()
        }
    }
}

/// Whether the mount-table watch has anything to find
/// ([`tamper::mount_watch_needed`]); never without a start-up table.
fn mount_watch_needed(resolved: &Resolved, checks: &CheckOutcome) -> bool {
    checks.facts.mountinfo.as_ref().is_ok_and(|baseline| {
        crate::core::tamper::mount_watch_needed(resolved.spec.root, baseline, &resolved.spec.mounts)
    })
}

/// Starts the mount-table tamper watch against the table the start-up
/// checks judged. (After the spawn is fine: its first read diffs against
/// that snapshot, so nothing in between is missed.)
fn start_tamper_watch(
    resolved: &Resolved,
    rt: &Runtime,
    checks: &CheckOutcome,
    ch: &Channels,
    counters: &metrics::SharedCounters,
) {
    if let (Ok(baseline), Some(sink)) = (&checks.facts.mountinfo, ch.tamper_sink(rt, counters)) {
        // None: already said why (warning), and supervision goes on.
        let _ = tamper::spawn_tamper_watch(baseline.clone(), resolved.spec.mounts.clone(), sink);
    }
}

/// `--metrics ADDR`: serves Prometheus text from its own thread. A bind
/// failure is logged and supervision goes on without metrics.
fn start_metrics(
    rt: &Runtime,
    snapshot: watcher::Snapshot,
    checks: &CheckOutcome,
    counters: &metrics::SharedCounters,
) {
    let Some(addr) = rt.metrics.as_deref() else {
        return;
    };
    let source = metrics::MetricsSource {
        snapshot,
        checks: checks.summary,
        counters: counters.clone(),
    };
    match metrics::spawn_metrics_server(addr, source) {
        // The server logs its own address once it listens.
        Ok(_server) => {}
        Err(err) => {
            tracing::error!(event = "metrics", addr = %addr, error = %err, "{err}; continuing without metrics")
        }
    }
}

/// A close-on-exec, non-blocking pipe: (read end, write end).
fn wake_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
        .map_err(io::Error::from)
}

/// `sealinit check`: exit 0 clean, 1 violations; `--print-spec` prints the
/// resolved contract instead.
fn run_check(parsed: &Parsed, env: &Layer) -> i32 {
    let (resolved, rt) = match resolve(parsed, env) {
        Ok(v) => v,
        Err(e) => return usage_error(&e),
    };
    if parsed.flags.count("print-spec") > 0 {
        let settings = contract::effective_settings(&resolved, &rt);
        return print_stdout(&spec::render_toml(&resolved.spec, &settings));
    }
    // A report, not a log: on stdout, so `sealinit check | jq` works.
    let outcome = startup::run_checks(&resolved.spec, Path::new(MOUNTINFO));
    if let Err(err) = startup::print(&outcome) {
        return os_error(&format!("cannot write the report to stdout: {err}"));
    }
    if outcome.has_failures() {
        exitcode::CHECK_VIOLATIONS
    } else {
        0
    }
}

/// `sealinit mounts`: the live mount table, classified, on stdout.
fn run_mounts(parsed: &Parsed, env: &Layer, out: Output) -> i32 {
    let declared = contract::resolve(&parsed.flags, env)
        .map(|r| r.spec.mounts)
        .unwrap_or_default();
    let table = match probe::read_mount_table(Path::new(MOUNTINFO)) {
        Ok((t, skipped)) => {
            if let Some(s) = SkippedLines::of(&skipped) {
                tracing::warn!(
                    event = "check",
                    path = MOUNTINFO,
                    kind = "mountinfo",
                    verdict = "warn",
                    "{MOUNTINFO}: {} malformed line(s) not shown, the first at line {}: {}",
                    s.count,
                    s.first.line,
                    s.first.reason
                );
            }
            t
        }
        Err(err) => return os_error(&format!("cannot read {MOUNTINFO}: {err}")),
    };
    let text = match out.format {
        crate::core::options::LogFormat::Json => report::render_mounts_json(&table, &declared),
        crate::core::options::LogFormat::Text => report::render_mounts_table(&table, &declared),
    };
    print_stdout(&text)
}

/// `sealinit manifest`: pod-side YAML (or docker/compose) for the contract.
fn run_manifest(parsed: &Parsed, env: &Layer) -> i32 {
    let result = resolve(parsed, env).and_then(|(resolved, _rt)| {
        let opts = manifest_options(parsed, env)?;
        manifest::render(&resolved.spec, &opts).map_err(UsageError)
    });
    match result {
        Ok(text) => print_stdout(&text),
        Err(e) => usage_error(&e),
    }
}

fn manifest_options(parsed: &Parsed, env: &Layer) -> Result<manifest::ManifestOptions, UsageError> {
    let f = &parsed.flags;
    let size = |s: &str| crate::core::quantity::parse(s).map_err(|e| e.to_string());
    // Only an explicit --ephemeral-limit overrides the seed's Part 4 rule: a
    // profile's runtime limit (the seed's example manifests) is not a sizing.
    let mut o = manifest::ManifestOptions {
        ephemeral_limit: cli::typed(cli::pick(f, env, "ephemeral-limit"), size)?,
        ..Default::default()
    };
    if let Some(v) = cli::typed(cli::pick(f, env, "format"), |s| {
        manifest::Format::parse(s).ok_or_else(|| {
            format!(
                "expected one of {}, got {s:?}",
                manifest::Format::NAMES.join(", ")
            )
        })
    })? {
        o.format = v;
    }
    o.workload = cli::typed(cli::pick(f, env, "workload"), |s| {
        manifest::Workload::parse(s)
            .ok_or_else(|| format!("expected deployment or statefulset, got {s:?}"))
    })?;
    let id = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("expected a numeric id, got {s:?}"))
    };
    if let Some(v) = cli::typed(cli::pick(f, env, "run-as-user"), id)? {
        o.run_as_user = v;
    }
    if let Some(v) = cli::typed(cli::pick(f, env, "run-as-group"), id)? {
        o.run_as_group = v;
    }
    if let Some(v) = cli::typed(cli::pick(f, env, "fs-group"), id)? {
        o.fs_group = v;
    }
    if let Some((v, _)) = cli::pick(f, env, "name") {
        o.name = v.to_string();
    }
    if let Some((v, _)) = cli::pick(f, env, "image") {
        o.image = v.to_string();
    }
    o.ephemeral_request = cli::typed(cli::pick(f, env, "ephemeral-request"), size)?;
    o.host_dir = cli::pick(f, env, "host-dir").map(|(v, _)| v.to_string());
    o.profile = cli::pick(f, env, "profile").map(|(v, _)| v.to_string());
    if cli::pick(f, env, "name").is_none() {
        // `--profile postgres` names its objects postgres (a DNS label).
        if let Some(p) = &o.profile {
            o.name.clone_from(p);
        }
    }
    o.metrics_port = cli::typed(cli::pick(f, env, "metrics"), |s| {
        s.rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| format!("expected ADDR:PORT, got {s:?}"))
    })?;
    Ok(o)
}

/// `sealinit plan KIND --key value...`: the seed's sizing rules with their
/// arithmetic, as a spec file `--spec` accepts.
fn run_plan(parsed: &Parsed, env: &Layer) -> i32 {
    match plan_input(parsed, env).and_then(|input| plan::plan(&input).map_err(UsageError)) {
        Ok(p) => print_stdout(&p.spec_toml()),
        Err(e) => usage_error(&e),
    }
}

fn plan_input(parsed: &Parsed, env: &Layer) -> Result<plan::PlanInput, UsageError> {
    let f = &parsed.flags;
    let kind = match parsed.argv.as_slice() {
        [k] => k.to_string_lossy().into_owned(),
        [] => {
            return Err(UsageError(
                "sealinit plan: which workload? expected web, data, postgres or kafka".into(),
            ))
        }
        _ => {
            return Err(UsageError(
                "sealinit plan takes one workload kind (web, data, postgres or kafka)".into(),
            ))
        }
    };
    // The plan parsers name the source in their messages themselves.
    let picked = |name: &str,
                  parse: fn(&str, &str) -> Result<u64, String>|
     -> Result<Option<u64>, UsageError> {
        match cli::pick(f, env, name) {
            None => Ok(None),
            Some((v, src)) => parse(&src, v).map(Some).map_err(UsageError),
        }
    };
    let need = |name: &str, v: Option<u64>| {
        v.ok_or_else(|| UsageError(format!("sealinit plan {kind}: --{name} is required")))
    };
    let get_size = |name: &str| picked(name, plan::parse_size);
    let get_count = |name: &str| picked(name, plan::parse_count);
    Ok(match kind.as_str() {
        "web" => plan::PlanInput::Web {
            concurrency: need("concurrency", get_count("concurrency")?)?,
            cache: get_size("cache")?,
            working_memory: get_size("working-memory")?,
        },
        "data" => plan::PlanInput::Data {
            input: need("input", get_size("input")?)?,
            intermediate: need("intermediate", get_size("intermediate")?)?,
            factor: get_count("factor")?.unwrap_or(3),
            output: need("output", get_size("output")?)?,
        },
        "postgres" => plan::PlanInput::Postgres {
            shared_buffers: need("shared-buffers", get_size("shared-buffers")?)?,
            sort_hash: get_size("sort-hash")?,
            data: get_size("data")?,
        },
        "kafka" => plan::PlanInput::Kafka {
            daily: need("daily", get_size("daily")?)?,
            retention_days: need("retention-days", get_count("retention-days")?)?,
        },
        other => {
            return Err(UsageError(format!(
            "sealinit plan: unknown workload kind {other:?}; expected web, data, postgres or kafka"
        )))
        }
    })
}

pub(crate) fn finish(outcome: supervisor::Outcome) -> i32 {
    if outcome.decided {
        note_termination(outcome.code, &outcome.reason, None, None);
    }
    // A clean exit is debug: an init that says nothing on a clean run.
    if outcome.code == 0 {
        tracing::debug!(event = "exit", code = outcome.code, reason = %outcome.reason,
            "exiting with code {}: {}", outcome.code, outcome.reason);
    } else {
        tracing::info!(event = "exit", code = outcome.code, reason = %outcome.reason,
            "exiting with code {}: {}", outcome.code, outcome.reason);
    }
    outcome.code
}
