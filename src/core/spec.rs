//! The storage contract: which paths must be which kind of mount, and the
//! policy settings that travel with it.
//!
//! This file owns the types ([`Spec`], [`MountSpec`], [`Settings`],
//! [`SpecFile`], [`SpecError`]), lexical path normalisation and the merge of
//! the contract's sources. The parsers of the sources live in [`parse`] (TOML
//! spec file, `SEALINIT_MOUNTS`, `--tmpfs PATH[:SIZE]`), the TOML renderer of
//! the resolved contract in [`render`], the built-in layouts in
//! [`crate::core::profiles`].
//!
//! # How the CLI resolves the contract
//!
//! ```text
//! profile  <  spec file  <  SEALINIT_MOUNTS + SEALINIT_* env  <  flags
//! ```
//!
//! 1. `profiles::profile(name)` → `Option<SpecFile>`.
//! 2. `edge::specfile::read_spec_file(path)` then `parse_spec_toml(&text, path)`.
//! 3. `parse_mounts_env(value)` for `SEALINIT_MOUNTS`; env settings go in a
//!    [`Settings`] the CLI fills from `SEALINIT_<NAME>`.
//! 4. `parse_mount_flag(kind, value)` per `--tmpfs`/... flag; flag settings
//!    likewise.
//! 5. [`Sources::resolve`] merges them: a path declared by a later source
//!    replaces the earlier entry's kind and size, keeping the position of its
//!    first declaration; each setting comes from the latest source that sets
//!    it. The result's [`Resolved::spec`] carries the defaults of DESIGN.md
//!    for `root`, `on_violation` and `require_non_root`; the runtime settings
//!    stay `Option` in [`Resolved::settings`] so the caller can see what was
//!    set and apply [`Settings::defaults`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::options::{LimitAction, TamperPolicy};

pub mod parse;
pub mod render;

pub use parse::{parse_mount_flag, parse_mounts_env, parse_spec_toml};
pub use render::render_toml;

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
    /// The contract accepts exec on this mount (spec key `allow_exec`): no
    /// noexec advice is given for it.
    pub allow_exec: bool,
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

/// Policy and runtime settings a source may set. `None` means "this source
/// does not say"; [`Settings::overlay`] lets a later source win.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Settings {
    /// `root`, `--root`.
    pub root: Option<RootPolicy>,
    /// `on_violation`, `--on-violation`.
    pub on_violation: Option<ViolationPolicy>,
    /// `require_non_root`, `--require-non-root`.
    pub require_non_root: Option<bool>,
    /// `warn_at`, `--warn-at`: percent of a sizeLimit, 1..=100.
    pub warn_at: Option<u8>,
    /// `act_at`, `--act-at`: percent of a sizeLimit, 1..=100.
    pub act_at: Option<u8>,
    /// `limit_action`, `--limit-action`.
    pub limit_action: Option<LimitAction>,
    /// `grace`, `--grace`: TERM→KILL delay.
    pub grace: Option<Duration>,
    /// `on_tamper`, `--on-tamper`.
    pub on_tamper: Option<TamperPolicy>,
    /// `ephemeral_limit`: the pod's `ephemeral-storage` limit in bytes.
    pub ephemeral_limit: Option<u64>,
}

/// Default `--warn-at` (DESIGN.md).
pub const DEFAULT_WARN_AT: u8 = 80;
/// Default `--act-at` (DESIGN.md).
pub const DEFAULT_ACT_AT: u8 = 95;
/// Default `--grace` (DESIGN.md).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

impl Settings {
    /// DESIGN.md's defaults, every field set except `ephemeral_limit`
    /// (no default: unknown unless declared). Overlay the resolved settings
    /// on this to get the effective values.
    pub fn defaults() -> Settings {
        Settings {
            root: Some(RootPolicy::default()),
            on_violation: Some(ViolationPolicy::default()),
            require_non_root: Some(false),
            warn_at: Some(DEFAULT_WARN_AT),
            act_at: Some(DEFAULT_ACT_AT),
            limit_action: Some(LimitAction::default()),
            grace: Some(DEFAULT_GRACE),
            on_tamper: Some(TamperPolicy::default()),
            ephemeral_limit: None,
        }
    }

    /// Takes every field that `other` sets (`other` wins where `Some`).
    pub fn overlay(&mut self, other: &Settings) {
        fn take<T: Clone>(mine: &mut Option<T>, theirs: &Option<T>) {
            if theirs.is_some() {
                mine.clone_from(theirs);
            }
        }
        take(&mut self.root, &other.root);
        take(&mut self.on_violation, &other.on_violation);
        take(&mut self.require_non_root, &other.require_non_root);
        take(&mut self.warn_at, &other.warn_at);
        take(&mut self.act_at, &other.act_at);
        take(&mut self.limit_action, &other.limit_action);
        take(&mut self.grace, &other.grace);
        take(&mut self.on_tamper, &other.on_tamper);
        take(&mut self.ephemeral_limit, &other.ephemeral_limit);
    }
}

/// One source of the contract: a parsed spec file, a profile, or what the
/// environment or the flags declare.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpecFile {
    pub settings: Settings,
    /// Declared paths, normalised, in declaration order.
    pub mounts: Vec<MountSpec>,
}

/// A spec file error, pointing at the file, the 1-based line and the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub file: PathBuf,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// Dotted key (`root`, `mount.size_limit`); empty for TOML syntax errors.
    pub key: String,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.file.display(), self.line)?;
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        write!(f, "expected {}, found {}", self.expected, self.found)
    }
}

impl std::error::Error for SpecError {}

/// What a value should have been and what it was; the sources turn it into
/// a [`SpecError`] or a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub expected: String,
    pub found: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}, found {}", self.expected, self.found)
    }
}

/// Normalises a declared path lexically: it must be absolute, `//` and `.`
/// collapse, a trailing `/` goes, `..` is refused (no filesystem access, so
/// `..` cannot be resolved safely), and `/` itself is refused (that is the
/// `root` setting). `/tmp/` and `/tmp` are the same path.
pub fn normalize_path(raw: &str) -> Result<PathBuf, String> {
    normalize(raw).map_err(|p| p.to_string())
}

pub(crate) fn normalize(raw: &str) -> Result<PathBuf, Problem> {
    let bad = |expected: &str, found: String| Problem {
        expected: expected.to_string(),
        found,
    };
    const ABS: &str = "an absolute path like /tmp";
    if raw.is_empty() {
        return Err(bad(ABS, "an empty path".into()));
    }
    if !raw.starts_with('/') {
        return Err(bad(ABS, format!("the relative path {raw:?}")));
    }
    if raw.contains('\0') {
        return Err(bad(ABS, format!("a NUL byte in {raw:?}")));
    }
    let mut out = String::with_capacity(raw.len());
    for comp in raw.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(bad("a path without `..` components", format!("{raw:?}"))),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        return Err(bad(
            "a path below / (what / must be is the `root` setting)",
            format!("{raw:?}"),
        ));
    }
    Ok(PathBuf::from(out))
}

/// The first path declared twice in `mounts`, if any. Within one source a
/// duplicate is a mistake (the spec file and `SEALINIT_MOUNTS` parsers
/// refuse it); the CLI can use this to refuse `--tmpfs /tmp --pvc /tmp`.
pub fn duplicate_path(mounts: &[MountSpec]) -> Option<&Path> {
    let mut seen = HashSet::new();
    mounts
        .iter()
        .map(|m| m.path.as_path())
        .find(|p| !seen.insert(*p))
}

/// Merges `mounts` into `into`: a path already present takes the new kind
/// and size in place (first declaration keeps its position), a new path is
/// appended.
pub fn merge_mounts(into: &mut Vec<MountSpec>, mounts: &[MountSpec]) {
    let mut index: HashMap<PathBuf, usize> = into
        .iter()
        .enumerate()
        .map(|(i, m)| (m.path.clone(), i))
        .collect();
    for m in mounts {
        match index.get(&m.path) {
            Some(&i) => into[i] = m.clone(),
            None => {
                index.insert(m.path.clone(), into.len());
                into.push(m.clone());
            }
        }
    }
}

/// The contract's sources, lowest precedence first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sources {
    /// `--profile NAME` ([`crate::core::profiles::profile`]).
    pub profile: Option<SpecFile>,
    /// `--spec FILE`, or `/etc/sealinit/spec.toml` if present.
    pub file: Option<SpecFile>,
    /// `SEALINIT_MOUNTS` ([`parse_mounts_env`]) and the `SEALINIT_<NAME>`
    /// settings.
    pub env: SpecFile,
    /// `--tmpfs/--emptydir/--pvc/--readonly/--secret` ([`parse_mount_flag`])
    /// and the setting flags.
    pub flags: SpecFile,
}

/// The merged contract.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    /// Mounts plus `root`/`on_violation`/`require_non_root` with defaults
    /// applied.
    pub spec: Spec,
    /// Every setting from the latest source that sets it; `None` where no
    /// source does (overlay on [`Settings::defaults`] for effective values).
    pub settings: Settings,
}

impl Sources {
    /// Merges profile < file < env < flags (see the module docs).
    pub fn resolve(&self) -> Resolved {
        let layers = [self.profile.as_ref(), self.file.as_ref()]
            .into_iter()
            .flatten()
            .chain([&self.env, &self.flags]);
        merge(layers)
    }
}

/// Merges sources given lowest precedence first (the general form of
/// [`Sources::resolve`]).
pub fn merge<'a>(layers: impl IntoIterator<Item = &'a SpecFile>) -> Resolved {
    let mut settings = Settings::default();
    let mut mounts = Vec::new();
    for layer in layers {
        settings.overlay(&layer.settings);
        merge_mounts(&mut mounts, &layer.mounts);
    }
    let spec = Spec {
        root: settings.root.unwrap_or_default(),
        on_violation: settings.on_violation.unwrap_or_default(),
        require_non_root: settings.require_non_root.unwrap_or(false),
        mounts,
    };
    Resolved { spec, settings }
}

#[cfg(test)]
mod tests;
