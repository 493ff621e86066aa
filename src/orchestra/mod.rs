//! Orchestration: the supervisor loop and the threads that feed it.

pub mod app;
pub mod contract;
pub mod exec_queue;
pub mod hub;
pub mod learn;
pub mod metrics;
pub mod spawn;
pub mod startup;
pub mod supervisor;
pub mod tamper;
pub mod tracker;
pub mod watcher;
