//! The pure core: parsing, classification, evaluation and rendering.
//! Nothing here makes a syscall; everything is testable without root.

pub mod checks;
pub mod cli;
pub mod contract;
pub mod exitcode;
pub mod learn;
pub mod mounts;
pub mod render;
#[cfg(test)]
mod testkit;
pub mod watch;
