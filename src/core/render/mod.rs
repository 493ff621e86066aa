//! Everything sealinit writes for a reader, as text: `report` (check
//! findings as lines and fix snippets), `manifest` (Kubernetes, compose and
//! podman/docker renderings of the contract), `metrics` (the Prometheus text
//! body and the `/metrics` HTTP bytes), `logfmt` (the text and JSON stderr
//! formats) and `termination` (the Kubernetes termination message).

pub mod logfmt;
pub mod manifest;
pub mod metrics;
pub mod report;
pub mod termination;
