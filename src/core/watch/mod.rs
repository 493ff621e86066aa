//! What the runtime watch decides, without the watching itself (that is
//! `orchestra::watcher`, `tracker` and `tamper`): `usage_tree` (du-style
//! accounting of a watched tree, memory bounded by directories),
//! `threshold` (the per-mount warn/act state machine) and `tamper` (what a
//! changed mount table or a dropped executable means, and the rate limiter).

pub mod tamper;
pub mod threshold;
pub mod usage_tree;
