//! The pure core: parsing, classification, evaluation and rendering.
//! Nothing here makes a syscall; everything is testable without root.
//!
//! One room per subject:
//!
//! - [`cli`]: the command line and what it resolves to: the option table and
//!   parser, typed option values, the one resolved `Config`, the help text.
//! - [`contract`]: what the image declares: the spec (mounts, settings, their
//!   sources), quantities, the built-in profiles, sizing plans.
//! - [`mounts`]: the kernel's mount table: mountinfo parsing, classification
//!   of each mount, the start-up facts the checks judge.
//! - [`checks`]: the start-up check evaluation (contract against facts).
//! - [`watch`]: the runtime decisions: usage accounting of a watched tree,
//!   the warn/act thresholds, tamper judgement and rate limiting.
//! - [`render`]: everything written for a reader: check reports, manifests,
//!   the metrics text, the stderr log formats, the termination message.
//! - [`learn`]: `sealinit learn`'s baseline, roll-up, rules and findings.
//! - [`exitcode`]: the exit codes of the contract; [`fasthash`]: the seeded
//!   fast hasher of the usage watcher's maps; `testkit` (tests only).

pub mod checks;
pub mod cli;
pub mod contract;
pub mod exitcode;
pub mod fasthash;
pub mod learn;
pub mod mounts;
pub mod render;
#[cfg(test)]
mod testkit;
pub mod watch;
