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

use tracing::Level;

use crate::core::cli::{self, Layer, Parsed, Sub, UsageError};
use crate::core::config::{self, Output, Runtime, Verbosity};
use crate::core::spec::{Resolved, ViolationPolicy};
use crate::core::{exitcode, manifest, plan, report, spec};
use crate::edge::signals::{self, Inherited};
use crate::edge::{log, probe, process};
use crate::orchestra::startup::{self, CheckOutcome};
use crate::orchestra::supervisor::{self, Request, Requests};
use crate::orchestra::watcher::{self, WatchConfig, WatchedMount};
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
        Err(e) => return usage_error(&e),
    };
    let out = match config::output(&parsed.flags, &env) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    init_logging(out);
    if parsed.help {
        return print_stdout(&crate::core::help::text());
    }
    if parsed.version {
        return print_stdout(&format!("sealinit {}\n", env!("CARGO_PKG_VERSION")));
    }
    let inherited = match inherited {
        Ok(i) => i,
        Err(err) => {
            tracing::error!(
                event = "exit",
                code = exitcode::OS_ERROR,
                "cannot block signals: {err}"
            );
            return exitcode::OS_ERROR;
        }
    };
    match parsed.sub {
        Sub::Run => run_workload(&parsed, &env, inherited),
        Sub::Check => run_check(&parsed, &env),
        Sub::Mounts => run_mounts(&parsed, &env, out),
        Sub::Manifest => run_manifest(&parsed, &env),
        Sub::Plan => run_plan(&parsed, &env),
    }
}

fn parse_command_line(args: &[OsString]) -> Result<(Parsed, Layer), UsageError> {
    let parsed = cli::parse_args(args)?;
    let env = cli::env_layer(|k| std::env::var_os(k))?;
    Ok((parsed, env))
}

fn usage_error(e: &UsageError) -> i32 {
    // Logging may not be set up yet (the error may be in --log-format
    // itself), so write the line directly in the text format.
    let _ = writeln!(io::stderr(), "sealinit: error: {e}");
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
    log::init(out.format, level);
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
    let (resolved, lower) = contract::resolve(&parsed.flags, env)?;
    let rt = config::runtime(&parsed.flags, env, &lower)?;
    Ok((resolved, rt))
}

/// Runs the start-up checks once and logs the report.
fn check_contract(resolved: &Resolved) -> CheckOutcome {
    let outcome = startup::run_checks(&resolved.spec, Path::new(MOUNTINFO));
    startup::emit(&outcome);
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
        return code;
    }
    become_reaper();
    let sigfd = match signals::signalfd_all() {
        Ok(fd) => fd,
        Err(err) => {
            tracing::error!(
                event = "exit",
                code = exitcode::OS_ERROR,
                "cannot create a signalfd: {err}"
            );
            return exitcode::OS_ERROR;
        }
    };
    let child = match spawn_workload(&parsed.argv, inherited) {
        Ok(pid) => pid,
        Err(code) => return code,
    };
    // From here on sealinit never returns early: the loop owns the exit.
    let counters = metrics::SharedCounters::default();
    let (requests, snapshot) = start_watchers(&resolved, &rt);
    start_metrics(&rt, snapshot, &outcome, &counters);
    let outcome = supervisor::run(
        child,
        &sigfd,
        supervisor::Settings {
            pgroup: rt.pgroup,
            grace: rt.grace,
            limit_action: rt.limit_action,
            counters,
        },
        requests,
    );
    finish(outcome)
}

/// Starts the usage watcher for the writable mounts and returns the channels
/// the supervisor listens on and the usage snapshot for metrics. Failures
/// are logged; supervision goes on.
fn start_watchers(resolved: &Resolved, rt: &Runtime) -> (Option<Requests>, watcher::Snapshot) {
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
    let none = (None, watcher::Snapshot::default());
    if mounts.is_empty() {
        return none;
    }
    let (wake_rx, wake_tx) = match wake_pipe() {
        Ok(p) => p,
        Err(err) => {
            tracing::error!(event = "error", error = %err, "cannot create the watcher pipe: {err}; usage is not watched");
            return none;
        }
    };
    let (_req_tx, req_rx) = mpsc::channel::<Request>();
    let (usage_tx, usage_rx) = mpsc::channel();
    let cfg = WatchConfig {
        warn_at: rt.warn_at,
        act_at: rt.act_at,
        rescan: rt.rescan,
        ephemeral_limit: rt.ephemeral_limit,
    };
    match watcher::spawn_watcher(mounts, cfg, usage_tx, wake_tx) {
        Ok(handle) => {
            let requests = Requests {
                rx: req_rx,
                usage: usage_rx,
                wake: wake_rx,
            };
            (Some(requests), handle.snapshot)
        }
        Err(err) => {
            tracing::error!(event = "error", error = %err, "cannot start the usage watcher: {err}; usage is not watched");
            none
        }
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
    let outcome = check_contract(&resolved);
    if outcome.has_failures() {
        exitcode::CHECK_VIOLATIONS
    } else {
        0
    }
}

/// `sealinit mounts`: the live mount table, classified, on stdout.
fn run_mounts(parsed: &Parsed, env: &Layer, out: Output) -> i32 {
    let declared = contract::resolve(&parsed.flags, env)
        .map(|(r, _)| r.spec.mounts)
        .unwrap_or_default();
    let table = match probe::read_mount_table(Path::new(MOUNTINFO)) {
        Ok(t) => t,
        Err(err) => {
            tracing::error!(
                event = "exit",
                code = exitcode::OS_ERROR,
                "cannot read {MOUNTINFO}: {err}"
            );
            return exitcode::OS_ERROR;
        }
    };
    let text = match out.format {
        crate::core::options::LogFormat::Json => report::render_mounts_json(&table, &declared),
        crate::core::options::LogFormat::Text => report::render_mounts_table(&table, &declared),
    };
    print_stdout(&text)
}

/// `sealinit manifest`: pod-side YAML (or docker/compose) for the contract.
fn run_manifest(parsed: &Parsed, env: &Layer) -> i32 {
    let result = resolve(parsed, env).and_then(|(resolved, rt)| {
        let opts = manifest_options(parsed, env, &rt)?;
        manifest::render(&resolved.spec, &opts).map_err(UsageError)
    });
    match result {
        Ok(text) => print_stdout(&text),
        Err(e) => usage_error(&e),
    }
}

fn manifest_options(
    parsed: &Parsed,
    env: &Layer,
    rt: &Runtime,
) -> Result<manifest::ManifestOptions, UsageError> {
    let f = &parsed.flags;
    let mut o = manifest::ManifestOptions {
        ephemeral_limit: rt.ephemeral_limit,
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
    let size = |s: &str| crate::core::quantity::parse(s).map_err(|e| e.to_string());
    o.ephemeral_request = cli::typed(cli::pick(f, env, "ephemeral-request"), size)?;
    o.host_dir = cli::pick(f, env, "host-dir").map(|(v, _)| v.to_string());
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
    let size = |name: &'static str| move |s: &str| plan::parse_size(&format!("--{name}"), s);
    let count = |name: &'static str| move |s: &str| plan::parse_count(&format!("--{name}"), s);
    let need = |name: &str, v: Option<u64>| {
        v.ok_or_else(|| UsageError(format!("sealinit plan {kind}: --{name} is required")))
    };
    let get_size = |name: &'static str| cli::typed(cli::pick(f, env, name), size(name));
    let get_count = |name: &'static str| cli::typed(cli::pick(f, env, name), count(name));
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

fn become_reaper() {
    if std::process::id() == 1 {
        return;
    }
    match process::become_subreaper() {
        Ok(()) => tracing::debug!(
            event = "reaper",
            "not PID 1: registered as a child subreaper, orphans will be re-parented to sealinit"
        ),
        Err(err) => tracing::warn!(event = "reaper", error = %err,
            "not PID 1 and cannot become a child subreaper ({err}): orphans of the workload will not be reaped by sealinit"),
    }
}

fn spawn_workload(argv: &[OsString], inherited: Inherited) -> Result<i32, i32> {
    match process::spawn(argv, inherited) {
        Ok(pid) => {
            let cmd = argv
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ");
            tracing::info!(event = "spawn", pid, command = %cmd, "started {cmd} as pid {pid}");
            Ok(pid)
        }
        Err(e) => {
            let program = e.program.to_string_lossy();
            let (code, what) = match e.error.raw_os_error() {
                Some(libc::ENOENT) => (exitcode::NOT_FOUND, "not found"),
                Some(libc::EACCES) => (
                    exitcode::NOT_EXECUTABLE,
                    "not executable (permission denied or a noexec mount)",
                ),
                Some(libc::ENOEXEC) => (
                    exitcode::NOT_EXECUTABLE,
                    "not executable (unknown binary format)",
                ),
                Some(libc::EISDIR) => (exitcode::NOT_EXECUTABLE, "not executable (a directory)"),
                _ => (exitcode::NOT_EXECUTABLE, "could not be executed"),
            };
            tracing::error!(event = "exit", code, path = %program, error = %e.error,
                "cannot run {program}: {what}: {}", e.error);
            Err(code)
        }
    }
}

fn finish(outcome: supervisor::Outcome) -> i32 {
    tracing::info!(event = "exit", code = outcome.code, reason = %outcome.reason,
        "exiting with code {}: {}", outcome.code, outcome.reason);
    outcome.code
}
