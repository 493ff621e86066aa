//! The storage contract: which paths must be which kind of mount, and the
//! policy settings that travel with it.
//!
//! This file owns the types ([`Spec`], [`MountSpec`], [`Settings`],
//! [`SpecFile`], [`SpecError`]), lexical path normalisation and the merge of
//! the contract's sources. The parsers of the sources live in [`parse`] (TOML
//! spec file, `SEALINIT_MOUNTS`, `--tmpfs PATH[:SIZE]`), the TOML renderer of
//! the resolved contract in [`render`], the built-in layouts in
//! [`crate::core::contract::profiles`].
//!
//! # How the contract is resolved
//!
//! ```text
//! profile  <  spec file  <  SEALINIT_MOUNTS + SEALINIT_* env  <  flags
//! ```
//!
//! [`crate::core::cli::config::fold`] turns each source into a [`SpecFile`]
//! (`profiles::profile(name)`, [`parse_spec_toml`] of the text the edge
//! read, and the env and flag layers with [`parse_mounts_env`] and
//! [`parse_mount_flag`]) and calls [`merge`] once. The result's
//! [`Resolved::spec`] carries the defaults of DESIGN.md for `root`,
//! `on_violation` and `require_non_root`; the other settings stay `Option`
//! in [`Resolved::settings`], laid over [`Settings::defaults`] by the fold.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::cli::config::{DEFAULT_ACT_AT, DEFAULT_GRACE, DEFAULT_RESCAN, DEFAULT_WARN_AT};
use crate::core::cli::options::{LimitAction, TamperPolicy, TerminationLog};

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
    /// The contract accepts exec on this mount (`allow_exec = true`,
    /// `--allow-exec PATH`): no noexec hardening advice for it.
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

/// Policy and runtime settings a source may set. `None` (or an empty list)
/// means "this source does not say"; [`Settings::overlay`] lets a later
/// source win. The spec file sets the ones with a spec key; the others come
/// from flags and env only.
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
    /// `rescan`, `--rescan`: full usage rescan period, at least 1 s.
    pub rescan: Option<Duration>,
    /// `rewrite = ["TERM:QUIT"]`, `--rewrite`: signal FROM is delivered as
    /// TO. Merged per FROM (a later source replaces that FROM's TO).
    pub rewrite: Vec<(i32, i32)>,
    /// `remap_exit = ["143:0"]`, `--remap-exit`: exit code FROM is reported
    /// as TO. Merged per FROM.
    pub remap_exit: Vec<(u8, u8)>,
    /// `pdeathsig`, `--pdeathsig`.
    pub pdeathsig: Option<i32>,
    /// `--allow-exec PATH` (flags, env): declared mounts that accept exec.
    /// Accumulates over sources; the spec file says it per mount.
    pub allow_exec: Vec<PathBuf>,
    /// `-g`, `--pgroup` (flags, env).
    pub pgroup: Option<bool>,
    /// `--metrics` (flags, env).
    pub metrics: Option<std::net::SocketAddr>,
    /// `--termination-log` (flags, env).
    pub termination_log: Option<TerminationLog>,
}

impl Settings {
    /// DESIGN.md's defaults, every field set except `ephemeral_limit`,
    /// `pdeathsig` and `metrics` (off unless declared). Overlay the resolved
    /// settings on this to get the effective values.
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
            rescan: Some(DEFAULT_RESCAN),
            rewrite: Vec::new(),
            remap_exit: Vec::new(),
            pdeathsig: None,
            allow_exec: Vec::new(),
            pgroup: Some(false),
            metrics: None,
            termination_log: Some(TerminationLog::Default),
        }
    }

    /// Takes every field that `other` sets (`other` wins where `Some`;
    /// lists merge per key).
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
        take(&mut self.rescan, &other.rescan);
        merge_pairs(&mut self.rewrite, &other.rewrite);
        merge_pairs(&mut self.remap_exit, &other.remap_exit);
        take(&mut self.pdeathsig, &other.pdeathsig);
        for p in &other.allow_exec {
            if !self.allow_exec.contains(p) {
                self.allow_exec.push(p.clone());
            }
        }
        take(&mut self.pgroup, &other.pgroup);
        take(&mut self.metrics, &other.metrics);
        take(&mut self.termination_log, &other.termination_log);
    }
}

/// Merges `(from, to)` pairs keyed by `from`: a `from` already present takes
/// the new `to` in place, a new one is appended (first declaration keeps
/// its position). Within one list the last pair for a `from` wins.
pub fn merge_pairs<A: PartialEq + Copy, B: Copy>(into: &mut Vec<(A, B)>, pairs: &[(A, B)]) {
    for &(from, to) in pairs {
        match into.iter_mut().find(|(f, _)| *f == from) {
            Some(slot) => slot.1 = to,
            None => into.push((from, to)),
        }
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
/// appended; `allow_exec` once set stays set.
pub fn merge_mounts(into: &mut Vec<MountSpec>, mounts: &[MountSpec]) {
    let mut index: HashMap<PathBuf, usize> = into
        .iter()
        .enumerate()
        .map(|(i, m)| (m.path.clone(), i))
        .collect();
    for m in mounts {
        match index.get(&m.path) {
            // A later source redeclares kind and size; exec acceptance
            // said by any source stays (only the spec file can say it per
            // mount, and a flag cannot unsay it).
            Some(&i) => {
                let allow_exec = into[i].allow_exec || m.allow_exec;
                into[i] = MountSpec {
                    allow_exec,
                    ..m.clone()
                };
            }
            None => {
                index.insert(m.path.clone(), into.len());
                into.push(m.clone());
            }
        }
    }
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

/// Merges sources given lowest precedence first: a path declared by a
/// later source replaces the earlier entry's kind and size, keeping the
/// position of its first declaration; each setting comes from the latest
/// source that sets it. [`crate::core::cli::config::fold`] calls it once with
/// profile, spec file, env, flags.
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
