//! sealinit: a PID-1 init and storage guard for containers with a read-only root.
//!
//! The crate is split in the three rings of `DESIGN.md`, visible as modules:
//!
//! - [`core`]: pure logic, no syscalls, unit-tested without root.
//! - [`edge`]: thin syscall wrappers that return plain data.
//! - [`orchestra`]: the supervisor loop and the watcher threads that tie the
//!   two together. `main.rs` is the only place that exits.

pub mod core;
pub mod edge;
pub mod orchestra;
