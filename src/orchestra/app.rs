//! The recipe `main` follows, one function per step in call order:
//! parse the command line, set up logging, resolve the configuration, check
//! the storage contract, spawn the workload, supervise it, and return the
//! exit code. Before the spawn any step may fail with an exit code; after
//! it, nothing returns early.

use std::ffi::OsString;
use std::io::{self, Write};
use std::sync::mpsc;

use tracing::Level;

use crate::core::cli::{self, Layer, Parsed, Sub, UsageError};
use crate::core::config::{self, Output, Runtime, RuntimeLayer, Verbosity};
use crate::core::exitcode;
use crate::edge::signals::{self, Inherited};
use crate::edge::{log, process};
use crate::orchestra::supervisor::{self, Requests};

/// Runs sealinit and returns the process exit code.
pub fn run(inherited: io::Result<Inherited>) -> i32 {
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
        other => {
            tracing::error!(
                event = "exit",
                code = exitcode::USAGE,
                "sealinit {} is not available in this build",
                other.name()
            );
            exitcode::USAGE
        }
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

/// `sealinit [OPTIONS] -- COMMAND`: resolve, spawn, supervise.
fn run_workload(parsed: &Parsed, env: &Layer, inherited: Inherited) -> i32 {
    if parsed.argv.is_empty() {
        return usage_error(&UsageError(
            "no command to run: sealinit [OPTIONS] -- COMMAND [ARG...] (see sealinit --help)"
                .into(),
        ));
    }
    let rt = match config::runtime(&parsed.flags, env, &RuntimeLayer::default()) {
        Ok(rt) => rt,
        Err(e) => return usage_error(&e),
    };
    if let Some((v, src)) = cli::pick(&parsed.flags, env, "root") {
        if crate::core::spec::RootPolicy::parse(v).is_none() {
            return usage_error(&UsageError(format!(
                "{src}: expected read-only or any, got {v:?}"
            )));
        }
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
    let requests = request_channel();
    let outcome = supervisor::run(
        child,
        &sigfd,
        supervisor::Settings {
            pgroup: rt.pgroup,
            grace: rt.grace,
        },
        requests.map(|(r, _tx)| r),
    );
    finish(outcome, &rt)
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

/// The channel the watcher threads use to reach the supervisor.
fn request_channel() -> Option<(
    Requests,
    (mpsc::Sender<supervisor::Request>, std::os::fd::OwnedFd),
)> {
    let (rx, wx) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK).ok()?;
    let (tx, chan) = mpsc::channel();
    Some((Requests { rx: chan, wake: rx }, (tx, wx)))
}

fn finish(outcome: supervisor::Outcome, _rt: &Runtime) -> i32 {
    tracing::info!(event = "exit", code = outcome.code, reason = %outcome.reason,
        "exiting with code {}: {}", outcome.code, outcome.reason);
    outcome.code
}
