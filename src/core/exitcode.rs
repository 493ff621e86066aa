//! Exit codes of the `sealinit` contract (DESIGN.md, "Exit codes").

/// `sealinit check`: at least one violation.
pub const CHECK_VIOLATIONS: i32 = 1;
/// The command was found but could not be executed.
pub const NOT_EXECUTABLE: i32 = 126;
/// The command was not found.
pub const NOT_FOUND: i32 = 127;
/// Usage or spec error (BSD `EX_USAGE`).
pub const USAGE: i32 = 64;
/// Start-up violation under `--on-violation fail` (BSD `EX_CONFIG`).
pub const VIOLATION: i32 = 78;
/// Workload stopped by `--limit-action stop` (BSD `EX_TEMPFAIL`).
pub const LIMIT_STOP: i32 = 75;
/// Workload stopped by `--on-tamper stop` (BSD `EX_NOPERM`).
pub const TAMPER_STOP: i32 = 77;
/// sealinit itself failed before the workload started (BSD `EX_OSERR`).
pub const OS_ERROR: i32 = 71;

/// The exit code for a child that was killed by signal `signo`: 128+N.
pub fn for_signal(signo: i32) -> i32 {
    128 + signo
}
