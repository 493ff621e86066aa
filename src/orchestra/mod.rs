//! Orchestration: the supervisor loop and the threads that feed it.

pub mod tracker;
pub mod watcher;
