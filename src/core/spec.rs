//! The storage contract: which paths must be which kind of mount, and the
//! policy settings that travel with it. Types only here; the sources that
//! produce a [`Spec`] (TOML file, `SEALINIT_MOUNTS`, flags, profiles) are
//! parsed in this module too.

use std::path::PathBuf;

/// What a declared path must be. Names follow the Kubernetes volume kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MountKind {
    /// emptyDir `medium: Memory`: a tmpfs, writable, sized by `size=`.
    Tmpfs,
    /// emptyDir on the node's disk: writable, not tmpfs.
    EmptyDir,
    /// PersistentVolumeClaim: writable, persistent.
    Pvc,
    /// ConfigMap, certificates: a read-only mount.
    ReadOnly,
    /// Secret: a read-only tmpfs.
    Secret,
}

impl MountKind {
    /// All kinds, in the order they are documented.
    pub const ALL: [MountKind; 5] = [
        MountKind::Tmpfs,
        MountKind::EmptyDir,
        MountKind::Pvc,
        MountKind::ReadOnly,
        MountKind::Secret,
    ];

    /// The spelling used in flags, the spec file and events.
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Tmpfs => "tmpfs",
            MountKind::EmptyDir => "emptydir",
            MountKind::Pvc => "pvc",
            MountKind::ReadOnly => "readonly",
            MountKind::Secret => "secret",
        }
    }

    /// Parses the spelling of [`MountKind::as_str`].
    pub fn parse(s: &str) -> Option<MountKind> {
        MountKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether the workload must be able to write to the path.
    pub fn is_writable(self) -> bool {
        matches!(
            self,
            MountKind::Tmpfs | MountKind::EmptyDir | MountKind::Pvc
        )
    }

    /// Whether usage counts against the node's disk (kubelet du-style walk).
    pub fn is_disk_backed(self) -> bool {
        matches!(self, MountKind::EmptyDir | MountKind::Pvc)
    }
}

/// One declared path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Absolute path inside the container.
    pub path: PathBuf,
    pub kind: MountKind,
    /// The Kubernetes `sizeLimit` (or PVC size) in bytes, if declared.
    pub size_limit: Option<u64>,
}

/// What `/` must be (`--root`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootPolicy {
    #[default]
    ReadOnly,
    /// No root check at all.
    Any,
}

impl RootPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RootPolicy::ReadOnly => "read-only",
            RootPolicy::Any => "any",
        }
    }
    pub fn parse(s: &str) -> Option<RootPolicy> {
        match s {
            "read-only" => Some(RootPolicy::ReadOnly),
            "any" => Some(RootPolicy::Any),
            _ => None,
        }
    }
}

/// What a start-up violation does (`--on-violation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ViolationPolicy {
    /// Exit 78 before the workload starts.
    #[default]
    Fail,
    /// Log and start the workload anyway.
    Warn,
}

impl ViolationPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationPolicy::Fail => "fail",
            ViolationPolicy::Warn => "warn",
        }
    }
    pub fn parse(s: &str) -> Option<ViolationPolicy> {
        match s {
            "fail" => Some(ViolationPolicy::Fail),
            "warn" => Some(ViolationPolicy::Warn),
            _ => None,
        }
    }
}

/// The resolved storage contract.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spec {
    pub root: RootPolicy,
    pub on_violation: ViolationPolicy,
    pub require_non_root: bool,
    /// Declared paths, unique by path, in declaration order.
    pub mounts: Vec<MountSpec>,
}
