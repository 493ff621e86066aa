//! Around the spawn (the init options that shape it, `--rewrite`,
//! `--remap-exit`, `--pdeathsig`, `--termination-log`, are fields of the
//! resolved [`crate::core::cli::config::Config`]): the signals that arrived
//! before the spawn (a TERM or INT cancels it), the spawn itself with its exit codes (126, 127), and the termination log
//! for exits sealinit decides (64, 71, 75, 77, 78).

use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::OnceLock;

use crate::core::cli::config::TerminationLog;
use crate::core::{exitcode, render::termination};
use crate::edge::process;
use crate::edge::signals::{self, Inherited, Received};
use crate::orchestra::startup::CheckOutcome;

/// Kubernetes' default `terminationMessagePath`.
const DEFAULT_TERMINATION_LOG: &str = "/dev/termination-log";

/// Where exits sealinit decides are explained; set once the command line
/// says this is the init (`sealinit -- COMMAND`), never for `check` and the
/// other subcommands (a `kubectl exec ... sealinit check` must not replace
/// the container's message). Unset: nothing is written.
pub static TERMINATION_LOG: OnceLock<TerminationLog> = OnceLock::new();

/// Whether a command line that did not parse was meant to run a workload
/// (no subcommand word first), so its usage error is the container's exit.
pub fn runs_a_workload(args: &[OsString]) -> bool {
    !matches!(
        args.first().and_then(|a| a.to_str()),
        Some("check" | "mounts" | "manifest" | "plan" | "learn")
    )
}

/// Writes the reason for an exit sealinit decided (64, 71, 75, 77, 78) to
/// the termination log, if this run has one. Never fails loudly: a log
/// that cannot be written is a debug line.
pub fn note_termination(code: i32, what: &str, path: Option<&str>, fix: Option<&str>) {
    let (path_buf, create) = match TERMINATION_LOG.get() {
        None | Some(TerminationLog::Off) => return,
        Some(TerminationLog::Default) => (Path::new(DEFAULT_TERMINATION_LOG).to_path_buf(), false),
        Some(TerminationLog::Path(p)) => (p.clone(), true),
    };
    let text = termination::message(code, what, path, fix);
    if let Err(err) = process::write_termination_log(&path_buf, &text, create) {
        tracing::debug!(event = "exit", error = %err, "termination message not written: {err}");
    }
}

/// The start-up violation, for the termination log: the first failing
/// check (what, where, the first line of its fix).
pub fn note_violation(outcome: &CheckOutcome) {
    let failed: Vec<_> = outcome
        .findings
        .iter()
        .filter(|f| f.verdict == crate::core::checks::Verdict::Fail)
        .collect();
    let Some(f) = failed.first() else {
        return;
    };
    let mut what = format!(
        "storage contract violated: {} ({}) expected {}, observed {}",
        f.path, f.kind, f.expected, f.observed
    );
    if failed.len() > 1 {
        what.push_str(&format!(
            " (and {} more failing check(s))",
            failed.len() - 1
        ));
    }
    note_termination(exitcode::VIOLATION, &what, Some(&f.path), f.fix.as_deref());
}

/// Reads what arrived on the signalfd before the spawn. A TERM or INT
/// (from another process) means the workload is not started: exit 128+N.
/// Every other signal is handed to the supervisor, which handles it first
/// (forwards it to the workload as soon as it exists), so none is lost.
pub fn signals_before_spawn(sigfd: &OwnedFd) -> Result<Vec<Received>, i32> {
    use std::os::fd::AsRawFd;
    let mut early = Vec::new();
    if let Err(err) = signals::read_signals(sigfd.as_raw_fd(), &mut early) {
        tracing::warn!(event = "signal", error = %err, "cannot read the signalfd before the spawn: {err}");
    }
    let me = std::process::id();
    let cancel = early
        .iter()
        .find(|s| (s.signo == libc::SIGTERM || s.signo == libc::SIGINT) && s.pid != me);
    if let Some(s) = cancel {
        let code = exitcode::for_signal(s.signo);
        let name = crate::core::cli::options::signal_name(s.signo);
        tracing::warn!(event = "exit", code, signal = %name, from = s.pid,
            reason = "signal before start",
            "received {name} before the workload was started: not starting it; exit {code}");
        return Err(code);
    }
    Ok(early)
}

pub fn become_reaper() {
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

pub fn spawn_workload(
    argv: &[OsString],
    inherited: Inherited,
    opts: process::SpawnOptions,
) -> Result<i32, i32> {
    match process::spawn(argv, inherited, opts) {
        Ok(pid) => {
            let cmd = argv
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ");
            // Debug: a clean run of an init says nothing (tini, catatonit).
            tracing::debug!(event = "spawn", pid, command = %cmd, "started {cmd} as pid {pid}");
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
