//! The recipe `main` follows, one function per step in call order:
//! parse the command line, set up logging, resolve the configuration (one
//! [`Config`], folded by [`crate::core::cli::config::fold`] from profile, spec
//! file, env and flags), then run its [`Command`]: for a workload, check the
//! storage contract, spawn, supervise, and return the exit code. Before the
//! spawn any step may fail with an exit code; after it, nothing returns
//! early.

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tracing::Level;

use crate::core::checks::is_plain_init;
use crate::core::cli::config::{self, Command, Config, Output, Verbosity};
use crate::core::cli::options::LogFormat;
use crate::core::cli::parser::{self, Layer, Parsed, Sub, UsageError};
use crate::core::contract::spec::{Spec, ViolationPolicy};
use crate::core::mounts::facts::SkippedLines;
use crate::core::{cli::help, contract::plan, exitcode, render::manifest, render::report};
use crate::edge::probe::ProbeFiles;
use crate::edge::signals::{self, Inherited};
use crate::edge::{log, probe, process};
use crate::orchestra::spawn::{
    become_reaper, note_termination, note_violation, runs_a_workload, signals_before_spawn,
    spawn_workload, TERMINATION_LOG,
};
use crate::orchestra::startup::{self, CheckOutcome};
use crate::orchestra::supervisor::{self, Request, Requests};
use crate::orchestra::tamper::{self, ExecDropConfig, TamperSink};
use crate::orchestra::watcher::{self, WatchConfig, WatchEvent, WatchedMount};
use crate::orchestra::{contract, metrics};

/// The live mount table.
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// `sealinit --version`: the version and the commit it was built from
/// (`build.rs`; "unknown" outside a git checkout).
pub const VERSION_LINE: &str = concat!(
    "sealinit ",
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("BUILD_GIT_COMMIT"),
    ")\n"
);

/// Runs sealinit with its command line (`args`, without the program name)
/// and returns the process exit code.
pub fn run(inherited: io::Result<Inherited>, args: Vec<OsString>) -> i32 {
    // Before anything opens a descriptor: a closed stdin/stdout/stderr must
    // not be taken by the signalfd, a pipe or a socket.
    process::reserve_std_fds();
    // Known before anything can fail, so a usage error is reported in it.
    let hint = parser::log_format_hint(&args, std::env::var_os("SEALINIT_LOG_FORMAT").as_deref());
    let (parsed, env) = match parse_command_line(&args) {
        Ok(v) => v,
        Err(e) => {
            if runs_a_workload(&args) {
                let raw = std::env::var_os("SEALINIT_TERMINATION_LOG");
                let _ = TERMINATION_LOG.set(config::termination_log_hint(raw.as_deref()));
            }
            return early_usage_error(&e, hint);
        }
    };
    // The init's own exits (64 included) are explained from here on.
    if parsed.sub == Sub::Run {
        let _ = TERMINATION_LOG.set(config::termination_log_of(&parsed.flags, &env));
    }
    let out = match config::output(&parsed.flags, &env) {
        Ok(o) => o,
        Err(e) => return early_usage_error(&e, hint),
    };
    init_logging(out);
    for var in &env.unknown {
        tracing::warn!(event = "config", variable = %var,
            "{var} is not a sealinit setting and is ignored (see sealinit --help for the SEALINIT_* names)");
    }
    if parsed.help {
        return print_stdout(&help::for_sub(parsed.sub));
    }
    if parsed.version {
        return print_stdout(VERSION_LINE);
    }
    let config = match contract::load(&parsed, &env) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    let inherited = match inherited {
        Ok(i) => i,
        Err(err) => return os_error(&format!("cannot block signals: {err}")),
    };
    match &config.command {
        Command::Run { argv } => run_workload(&config, argv, inherited),
        Command::Check { print_spec: true } => print_stdout(&config.print_spec()),
        Command::Check { print_spec: false } => run_check(&config.spec),
        Command::Mounts => run_mounts(&config.spec, config.output),
        Command::Manifest { options } => run_manifest(&config.spec, options),
        Command::Plan { input } => run_plan(input),
        Command::Learn {
            argv,
            out,
            report_every,
        } => crate::orchestra::learn::run(
            crate::orchestra::learn::LearnParams {
                argv: argv.clone(),
                out: out.clone(),
                report_every: *report_every,
                declared: config.spec.mounts.clone(),
                grace: config.grace,
                pgroup: config.pgroup,
                rewrite: config.rewrite.clone(),
                remap_exit: config.remap_exit.clone(),
                pdeathsig: config.pdeathsig,
                log_format: config.output.format,
            },
            inherited,
        ),
    }
}

fn parse_command_line(args: &[OsString]) -> Result<(Parsed, Layer), UsageError> {
    let parsed = parser::parse_args(args)?;
    let env = parser::env_layer(std::env::vars_os())?;
    Ok((parsed, env))
}

/// Logs the usage error as an `exit` event (code 64), writes it to the
/// termination log of an init, and returns 64.
fn usage_error(e: &UsageError) -> i32 {
    note_termination(exitcode::USAGE, &e.0, None, Some("see sealinit --help"));
    tracing::error!(event = "exit", code = exitcode::USAGE, "{e}");
    exitcode::USAGE
}

/// A usage error found before logging is set up (the error may be in the
/// output options themselves): logging is set up in `format` (the hint
/// found without failing), errors only, then it is reported as usual.
fn early_usage_error(e: &UsageError, format: LogFormat) -> i32 {
    log::init(format, Level::ERROR, false);
    usage_error(e)
}

fn init_logging(out: Output) {
    let level = match out.verbosity {
        Verbosity::Error => Level::ERROR,
        Verbosity::Warn => Level::WARN,
        Verbosity::Info => Level::INFO,
        Verbosity::Debug => Level::DEBUG,
        Verbosity::Trace => Level::TRACE,
    };
    log::init(out.format, level, out.log_timestamps);
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

/// Runs the start-up checks once and logs the report.
///
/// A plain init (no contract: [`is_plain_init`]) does not read the mount
/// table unless its debug log or its metrics would show what it says:
/// nothing is judged against it (the inventory of a plain init only says
/// "pass", at debug level, and counts in the metrics) and no mount is
/// watched. Reading it is the kernel formatting every mount's options,
/// about a tenth of a plain start.
fn check_contract(config: &Config, held: &mut ProbeFiles) -> CheckOutcome {
    let spec = &config.spec;
    let table = !is_plain_init(spec) || config.metrics.is_some() || log::enabled("debug");
    let outcome = startup::run_checks_holding(spec, table.then_some(Path::new(MOUNTINFO)), held);
    startup::emit(&outcome, spec);
    outcome
}

/// `sealinit [OPTIONS] -- COMMAND`: check, spawn, supervise.
fn run_workload(config: &Config, argv: &[OsString], inherited: Inherited) -> i32 {
    // Before the checks: the probes' held files must not take the last
    // descriptor the signalfd needs.
    let sigfd = match signals::signalfd_all() {
        Ok(fd) => fd,
        Err(err) => return os_error(&format!("cannot create a signalfd: {err}")),
    };
    let mut probe_files = ProbeFiles::default();
    let outcome = check_contract(config, &mut probe_files);
    if outcome.has_failures() && config.spec.on_violation == ViolationPolicy::Fail {
        let code = exitcode::VIOLATION;
        tracing::error!(event = "exit", code, reason = "start-up violation",
            "not starting the workload: the storage contract is violated (see the fixes above); exit {code}. \
             Use --on-violation warn to start anyway.");
        note_violation(&outcome);
        return code;
    }
    become_reaper();
    let early = match signals_before_spawn(&sigfd) {
        Ok(early) => early,
        Err(code) => return code,
    };
    let spawn_opts = process::SpawnOptions {
        pdeathsig: config.pdeathsig,
        close_in_child: probe_files.raw_fds(),
    };
    let child = match spawn_workload(argv, inherited, spawn_opts) {
        Ok(pid) => pid,
        Err(code) => return code,
    };
    // The write probes' files are closed once the workload is on its way
    // (closing frees their inodes), before anything measures the mounts.
    drop(probe_files);
    // From here on sealinit never returns early: the loop owns the exit.
    // Nothing starts that has nothing to do: no pipe, no thread. What does
    // start, starts after the spawn, off the workload's start path: the
    // pipe and channels, the usage watcher's walk (exec drops are judged
    // from a clock taken a second earlier), the tamper watch (its first
    // read diffs against the start-up table, so nothing in between is
    // missed). A workload gone at once leaves nothing to watch.
    let gone = exited_at_once(&sigfd, child);
    let watch_mounts = !gone && mount_watch_needed(config, &outcome);
    let watch_usage = !gone && config.spec.mounts.iter().any(|m| m.kind.is_writable());
    if watch_mounts || watch_usage {
        tracing::debug!(
            event = "watch",
            usage = watch_usage,
            mounts = watch_mounts,
            "starting the watches (usage: {watch_usage}, mount table: {watch_mounts})"
        );
    }
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
        .map(|ch| start_usage_watcher(config, ch, &counters))
        .unwrap_or_default();
    if let (Some(ch), true) = (&channels, watch_mounts) {
        start_tamper_watch(config, &outcome, ch, &counters);
    }
    let requests = channels.map(|ch| ch.requests);
    start_metrics(config, snapshot, &outcome, &counters);
    let outcome = supervisor::run(
        child,
        &sigfd,
        supervisor::Settings {
            pgroup: config.pgroup,
            grace: config.grace,
            limit_action: config.limit_action,
            counters,
            rewrite: config.rewrite.clone(),
            remap_exit: config.remap_exit.clone(),
            on_stop_signal: None,
        },
        requests,
        early,
    );
    finish(outcome)
}

/// How long the watchers wait for a workload that ends at once (a short
/// command, a job with nothing to do): one that has exited by then leaves
/// nothing to watch, and their start-up (threads, the mount table, inotify
/// and its teardown at exit) would be most of the time between its exit
/// and sealinit's. A signal ends the wait early; the supervisor handles it.
const WATCH_START_WAIT: Duration = Duration::from_millis(1);

/// Whether the workload `child` has exited within [`WATCH_START_WAIT`] of
/// its spawn, leaving nothing behind: the signalfd turned readable (a
/// SIGCHLD is pending, left for the supervisor), `waitid(2)` with `WNOWAIT`
/// sees it a zombie, not reaped (not merely exiting: its children are
/// re-parented before it becomes one), and sealinit has no other child
/// (what it started in the background was re-parented to sealinit and
/// lives on to be watched).
fn exited_at_once(sigfd: &OwnedFd, child: i32) -> bool {
    let deadline = Instant::now() + WATCH_START_WAIT;
    let gone = matches!(
        crate::edge::poll::wait_readable([sigfd.as_raw_fd()], Some(deadline)),
        Ok([true])
    ) && process::exited(child)
        && process::children().is_ok_and(|c| c.iter().all(|&pid| pid == child));
    if gone {
        tracing::debug!(
            event = "watch",
            pid = child,
            "the workload exited at once: no usage or tamper watch is started"
        );
    }
    gone
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
    fn tamper_sink(
        &self,
        config: &Config,
        counters: &metrics::SharedCounters,
    ) -> Option<TamperSink> {
        let wake = self.wake_tx.try_clone().ok()?;
        Some(
            TamperSink::new(config.on_tamper, self.req_tx.clone(), wake)
                .counting(counters.tamper_events.clone()),
        )
    }
}

/// Starts the usage watcher (with exec-drop detection) for the writable
/// mounts; it measures them in its own thread, after the spawn. Failures
/// are logged; supervision goes on.
fn start_usage_watcher(
    config: &Config,
    ch: &Channels,
    counters: &metrics::SharedCounters,
) -> watcher::Snapshot {
    let mounts: Vec<WatchedMount> = config
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
        warn_at: config.warn_at,
        act_at: config.act_at,
        rescan: config.rescan,
        ephemeral_limit: config.ephemeral_limit,
        ..WatchConfig::default()
    };
    let exec_drop = ch.tamper_sink(config, counters).map(ExecDropConfig::new);
    match watcher::spawn_watcher_with(mounts, cfg, ch.usage_tx.clone(), wake, exec_drop) {
        // Not waited for: the walk and the watches happen on the watcher's
        // thread while the workload starts (watch, then list, so nothing
        // written meanwhile is missed; `usage.ready` says when done).
        Ok(handle) => handle.snapshot,
        Err(err) => {
            tracing::error!(event = "error", error = %err, "cannot start the usage watcher: {err}; usage is not watched");
            watcher::Snapshot::default()
        }
    }
}

/// Whether the mount-table watch has anything to find
/// ([`crate::core::watch::tamper::mount_watch_needed`]); never without a start-up
/// table.
fn mount_watch_needed(config: &Config, checks: &CheckOutcome) -> bool {
    checks.facts.mountinfo.as_ref().is_ok_and(|baseline| {
        crate::core::watch::tamper::mount_watch_needed(
            config.spec.root,
            baseline,
            &config.spec.mounts,
        )
    })
}

/// Starts the mount-table tamper watch against the table the start-up
/// checks judged. (After the spawn is fine: its first read diffs against
/// that snapshot, so nothing in between is missed.)
fn start_tamper_watch(
    config: &Config,
    checks: &CheckOutcome,
    ch: &Channels,
    counters: &metrics::SharedCounters,
) {
    if let (Ok(baseline), Some(sink)) = (&checks.facts.mountinfo, ch.tamper_sink(config, counters))
    {
        // None: already said why (warning), and supervision goes on.
        let _ = tamper::spawn_tamper_watch(baseline.clone(), config.spec.mounts.clone(), sink);
    }
}

/// `--metrics ADDR`: serves Prometheus text from its own thread. A bind
/// failure is logged and supervision goes on without metrics.
fn start_metrics(
    config: &Config,
    snapshot: watcher::Snapshot,
    checks: &CheckOutcome,
    counters: &metrics::SharedCounters,
) {
    let Some(addr) = config.metrics else {
        return;
    };
    let source = metrics::MetricsSource {
        snapshot,
        checks: checks.summary,
        counters: counters.clone(),
    };
    match metrics::spawn_metrics_server(&addr.to_string(), source) {
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

/// `sealinit check`: exit 0 clean, 1 violations. A report, not a log: on
/// stdout, so `sealinit check | jq` works.
fn run_check(spec: &Spec) -> i32 {
    let outcome = startup::run_checks(spec, Some(Path::new(MOUNTINFO)));
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
fn run_mounts(declared: &Spec, out: Output) -> i32 {
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
        LogFormat::Json => report::render_mounts_json(&table, &declared.mounts),
        LogFormat::Text => report::render_mounts_table(&table, &declared.mounts),
    };
    print_stdout(&text)
}

/// `sealinit manifest`: pod-side YAML (or docker/compose) for the contract.
fn run_manifest(spec: &Spec, options: &manifest::ManifestOptions) -> i32 {
    match manifest::render(spec, options) {
        Ok(text) => print_stdout(&text),
        Err(e) => usage_error(&UsageError(e)),
    }
}

/// `sealinit plan KIND --key value...`: the seed's sizing rules with their
/// arithmetic, as a spec file `--spec` accepts.
fn run_plan(input: &plan::PlanInput) -> i32 {
    match plan::plan(input) {
        Ok(p) => print_stdout(&p.spec_toml()),
        Err(e) => usage_error(&UsageError(e)),
    }
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
