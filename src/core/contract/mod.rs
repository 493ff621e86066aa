//! The contract: what the image declares and what sealinit will enforce.
//! `spec` (the mounts and settings, their sources and the TOML renderer),
//! `quantity` (Kubernetes-style sizes), `profiles` (the built-in per-app
//! layouts) and `plan` (sizing a contract from measured figures).

pub mod plan;
pub mod profiles;
pub mod quantity;
pub mod spec;
