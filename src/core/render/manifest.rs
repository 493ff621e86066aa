//! `sealinit manifest`: the pod-side half of the storage contract. From a
//! resolved [`Spec`] it writes what a user pastes into a Deployment, a
//! StatefulSet, a compose file or a `podman run` line, so the image and the
//! platform declare the same mounts.
//!
//! This module owns the shared model (volume names, the `SEALINIT_MOUNTS`
//! value, the ephemeral-storage arithmetic of the seed's Part 4) and the
//! Kubernetes rendering; `docker` renders run flags and compose; `yaml` is
//! the hand-written emitter. Pure functions, no I/O.

mod docker;
mod kube;
pub mod yaml;

use std::collections::HashSet;

use crate::core::contract::profiles::{pod_layout, PodLayout};
use crate::core::contract::quantity;
use crate::core::contract::spec::{MountKind, MountSpec, Spec};

pub use docker::{docker_args, podman_volume_creates};

/// One MiB; fractional results are rounded up to a whole one.
const MI: u128 = 1 << 20;

/// Output format (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Pod-spec fragment (or a full workload) plus PersistentVolumeClaims.
    #[default]
    Kubernetes,
    /// `docker run` flags. Named volumes take their owner from the image's
    /// directory on first use, so the image must own its writable paths.
    Docker,
    /// `podman run` flags: as Docker, plus `--read-only-tmpfs=false` (podman
    /// would otherwise add writable tmpfs on /run, /tmp and /var/tmp outside
    /// the contract) and `:U` on named volumes (chown to `--user`).
    Podman,
    /// A docker-compose service plus its top-level named volumes.
    Compose,
}

impl Format {
    pub const NAMES: [&'static str; 4] = ["kubernetes", "docker", "podman", "compose"];

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "kubernetes" | "k8s" => Some(Format::Kubernetes),
            "docker" => Some(Format::Docker),
            "podman" => Some(Format::Podman),
            "compose" => Some(Format::Compose),
            _ => None,
        }
    }
}

/// Workload object wrapped around the pod spec (`--workload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// apps/v1 Deployment; PVCs are separate `---` documents.
    Deployment,
    /// apps/v1 StatefulSet; PVCs are `volumeClaimTemplates` (one claim per
    /// replica, named `<volume>-<name>-<ordinal>` by the controller).
    StatefulSet,
}

impl Workload {
    pub fn parse(s: &str) -> Option<Workload> {
        match s {
            "deployment" => Some(Workload::Deployment),
            "statefulset" => Some(Workload::StatefulSet),
            _ => None,
        }
    }
}

/// Everything `render` needs besides the spec. `Default` gives the
/// documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestOptions {
    /// `--format`, default Kubernetes.
    pub format: Format,
    /// `--workload`; None prints a pod-spec fragment. Kubernetes only.
    pub workload: Option<Workload>,
    /// `--name`: workload, container and label name, prefix of claim,
    /// ConfigMap, Secret and named-volume names. A DNS-1123 label. "app".
    pub name: String,
    /// `--image`, default the placeholder "IMAGE".
    pub image: String,
    /// `--run-as-user`, default 65532. 0 is refused (runAsNonRoot).
    pub run_as_user: u32,
    /// `--run-as-group`, default 65532.
    pub run_as_group: u32,
    /// `--fs-group`, default 65532 (Kubernetes only).
    pub fs_group: u32,
    /// `--ephemeral-request`: overrides the Part 4 request (bytes).
    pub ephemeral_request: Option<u64>,
    /// `--ephemeral-limit`: overrides the Part 4 limit (bytes).
    pub ephemeral_limit: Option<u64>,
    /// `--host-dir`: docker/podman/compose source directory for readonly and
    /// secret mounts, `<host_dir>/<volume-name>`. None: the placeholder
    /// `/path/to/<volume-name>`. For a secret, put it on a host tmpfs (e.g.
    /// under /run) so the contract's "read-only tmpfs" holds.
    pub host_dir: Option<String>,
    /// `--profile`: adds the seed's replicas, port, CPU and memory, probes
    /// and command for that application ([`pod_layout`]).
    pub profile: Option<String>,
    /// The port of `--metrics ADDR`, declared as a container port.
    pub metrics_port: Option<u16>,
}

impl Default for ManifestOptions {
    fn default() -> Self {
        ManifestOptions {
            format: Format::Kubernetes,
            workload: None,
            name: "app".to_string(),
            image: "IMAGE".to_string(),
            run_as_user: 65532,
            run_as_group: 65532,
            fs_group: 65532,
            ephemeral_request: None,
            ephemeral_limit: None,
            host_dir: None,
            profile: None,
            metrics_port: None,
        }
    }
}

/// One contract entry with its derived volume name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Volume {
    pub name: String,
    pub path: String,
    pub kind: MountKind,
    pub size: Option<u64>,
    /// The contract accepts exec here: no `noexec` in run flags.
    pub allow_exec: bool,
}

impl Volume {
    fn of(m: &MountSpec, path: String, name: String) -> Volume {
        Volume {
            name,
            path,
            kind: m.kind,
            size: m.size_limit,
            allow_exec: m.allow_exec,
        }
    }

    /// For a read-only mount of a single file (`/etc/nginx/nginx.conf`):
    /// the file's name, which is the ConfigMap key (`subPath`) and the file
    /// bound from the host directory. A file is a last path component with
    /// an extension of letters (`nginx.conf`, `tls.pem`), but not `.d`
    /// (`conf.d` is a directory, and so is `app-1.2`).
    pub fn file_name(&self) -> Option<&str> {
        if self.kind.is_writable() {
            return None;
        }
        let base = self.path.rsplit('/').next()?;
        let (stem, ext) = base.rsplit_once('.')?;
        let is_ext =
            !ext.is_empty() && ext.len() <= 10 && ext.bytes().all(|b| b.is_ascii_alphabetic());
        (!stem.is_empty() && is_ext && ext != "d").then_some(base)
    }
}

/// The `volumes` and `volumeMounts` YAML for one declared mount, exactly as
/// `sealinit manifest` writes them (default options): the fix a failing
/// check prints. `size_limit` replaces the declared one (a raised limit).
pub fn mount_snippet(m: &MountSpec, size_limit: Option<u64>) -> String {
    let mut v = snippet_volume(m);
    v.size = size_limit;
    kube::snippet(&v, &ManifestOptions::default())
}

/// Just the `volumeMounts` entry of [`mount_snippet`] (`readOnly: true`
/// for the read-only kinds).
pub fn mount_entry_snippet(m: &MountSpec) -> String {
    kube::mount_snippet(&snippet_volume(m))
}

/// The `run` flag for one declared mount, as `manifest --format docker`
/// (or `podman`) writes it, shell-quoted: `--tmpfs /tmp:size=...,noexec,...`.
pub fn mount_run_flag(m: &MountSpec, format: Format) -> String {
    let opts = ManifestOptions {
        format,
        ..ManifestOptions::default()
    };
    docker::one_flag(&snippet_volume(m), &opts)
}

fn snippet_volume(m: &MountSpec) -> Volume {
    let path = m.path.to_string_lossy().into_owned();
    let name = volume_name(&path);
    Volume::of(m, path, name)
}

/// The ephemeral-storage figures and how they were reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ephemeral {
    /// Sum of the disk-backed emptyDir sizeLimits.
    pub disk_sum: u64,
    pub request: u64,
    pub limit: u64,
    /// One line per step, for a comment above `resources`.
    pub explain: String,
}

/// The checked model every format renders from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Contract {
    pub volumes: Vec<Volume>,
    pub mounts_env: String,
    pub ephemeral: Option<Ephemeral>,
    /// Sum of the tmpfs sizeLimits (memory), and whether some had none.
    pub tmpfs_sum: u64,
    pub tmpfs_unsized: bool,
    pub read_only_root: bool,
    /// The profile's pod figures (`--profile`).
    pub pod: Option<PodLayout>,
}

/// Renders the contract in `opts.format`.
pub fn render(spec: &Spec, opts: &ManifestOptions) -> Result<String, String> {
    let contract = contract(spec, opts)?;
    match opts.format {
        Format::Kubernetes => kube::render(&contract, opts),
        Format::Docker | Format::Podman => Ok(docker::render_run(&contract, opts)),
        Format::Compose => Ok(docker::render_compose(&contract, opts)),
    }
}

/// Checks the options and the spec and derives the shared model.
pub(crate) fn contract(spec: &Spec, opts: &ManifestOptions) -> Result<Contract, String> {
    check_label("--name", &opts.name)?;
    if opts.run_as_user == 0 {
        return Err(
            "--run-as-user 0 contradicts runAsNonRoot: true (the restricted Pod \
                    Security Standard); pick a non-root uid such as 65532"
                .to_string(),
        );
    }
    if opts.workload.is_some() && opts.format != Format::Kubernetes {
        return Err("--workload applies to --format kubernetes only".to_string());
    }
    let pod = match opts.profile.as_deref() {
        None => None,
        Some(p) => Some(
            pod_layout(p).ok_or_else(|| format!("--profile {p:?} is not a built-in profile"))?,
        ),
    };
    let mut paths = Vec::with_capacity(spec.mounts.len());
    for m in &spec.mounts {
        paths.push(check_path(&m.path)?);
    }
    let names = volume_names(&paths);
    let volumes: Vec<Volume> = spec
        .mounts
        .iter()
        .zip(paths)
        .zip(names)
        .map(|((m, path), name)| Volume::of(m, path, name))
        .collect();
    let mut tmpfs_sum = 0u64;
    let mut tmpfs_unsized = false;
    for v in volumes.iter().filter(|v| v.kind == MountKind::Tmpfs) {
        match v.size {
            Some(s) => tmpfs_sum = add(tmpfs_sum, s, "the tmpfs sizeLimits")?,
            None => tmpfs_unsized = true,
        }
    }
    Ok(Contract {
        mounts_env: mounts_env(&volumes),
        ephemeral: ephemeral(&volumes, opts)?,
        volumes,
        tmpfs_sum,
        tmpfs_unsized,
        read_only_root: spec.root == crate::core::contract::spec::RootPolicy::ReadOnly,
        pod,
    })
}

fn add(a: u64, b: u64, what: &str) -> Result<u64, String> {
    a.checked_add(b)
        .ok_or_else(|| format!("the sum of {what} overflows 2^64 bytes"))
}

/// A path as the manifest needs it: UTF-8, absolute, and without the `,`
/// and `:` that separate `SEALINIT_MOUNTS` entries and `-v` fields.
fn check_path(p: &std::path::Path) -> Result<String, String> {
    let s = p
        .to_str()
        .ok_or_else(|| format!("mount path {} is not UTF-8", p.display()))?;
    if !s.starts_with('/') {
        return Err(format!("mount path {s:?} must be absolute"));
    }
    if let Some(c) = s.chars().find(|c| matches!(c, ',' | ':') || c.is_control()) {
        return Err(format!(
            "mount path {s:?} contains {c:?}, which SEALINIT_MOUNTS and -v cannot carry"
        ));
    }
    Ok(s.to_string())
}

/// Fails unless `s` is an RFC 1123 label: 1-63 of `[a-z0-9-]`, alphanumeric
/// at both ends (what Kubernetes requires of container and volume names).
pub fn check_label(what: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {s:?} is not a DNS-1123 label: 1-63 lower-case letters, digits and '-', \
             starting and ending with a letter or digit"
        ))
    }
}

/// The volume name for a path: lower-case alphanumerics kept, every other
/// run of characters becomes one `-`, trimmed, at most 63 characters, `root`
/// for `/`. `/var/cache/nginx` → `var-cache-nginx`.
pub fn volume_name(path: &str) -> String {
    let mut out = String::new();
    for c in path.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out = truncate_label(&out, 63);
    if out.is_empty() {
        out = "root".to_string();
    }
    out
}

fn truncate_label(s: &str, max: usize) -> String {
    let cut = &s[..s.len().min(max)];
    cut.trim_end_matches('-').to_string()
}

/// Volume names for `paths`, in order, unique: a name already taken gets
/// `-2`, `-3`, ... (the base shortened to keep 63 characters).
pub fn volume_names(paths: &[String]) -> Vec<String> {
    let mut taken = HashSet::new();
    let mut names = Vec::with_capacity(paths.len());
    for p in paths {
        let base = volume_name(p);
        let mut name = base.clone();
        let mut n = 2u32;
        while taken.contains(&name) {
            let suffix = format!("-{n}");
            name = format!("{}{suffix}", truncate_label(&base, 63 - suffix.len()));
            n += 1;
        }
        taken.insert(name.clone());
        names.push(name);
    }
    names
}

/// `SEALINIT_MOUNTS`: `kind:path[:size],...` in declaration order, sizes in
/// canonical quantity form.
fn mounts_env(volumes: &[Volume]) -> String {
    let parts: Vec<String> = volumes
        .iter()
        .map(|v| match v.size {
            Some(s) => format!("{}:{}:{}", v.kind.as_str(), v.path, quantity::format(s)),
            None => format!("{}:{}", v.kind.as_str(), v.path),
        })
        .collect();
    parts.join(",")
}

/// `SEALINIT_MOUNTS` for a spec (the value the manifests carry).
pub fn sealinit_mounts(spec: &Spec) -> Result<String, String> {
    let mut paths = Vec::new();
    for m in &spec.mounts {
        paths.push(check_path(&m.path)?);
    }
    let volumes: Vec<Volume> = spec
        .mounts
        .iter()
        .zip(paths)
        .map(|(m, path)| Volume::of(m, path, String::new()))
        .collect();
    Ok(mounts_env(&volumes))
}

/// `x × num / den`, exact when that is a whole number of bytes, otherwise
/// rounded up to a whole MiB (so derived sizes print as short quantities and
/// never fall below the rule). None on overflow or `den == 0`.
pub fn scale_up(x: u64, num: u64, den: u64) -> Option<u64> {
    let den = u128::from(den);
    if den == 0 {
        return None;
    }
    let p = u128::from(x) * u128::from(num);
    let v = if p % den == 0 {
        p / den
    } else {
        p.div_ceil(den).div_ceil(MI) * MI
    };
    u64::try_from(v).ok()
}

/// The seed's Part 4 rule for the sum of the disk-backed emptyDir
/// sizeLimits: request = sum + 20%, limit = 2 × request. Returns
/// (request, limit).
pub fn ephemeral_rule(disk_sum: u64) -> Result<(u64, u64), String> {
    let overflow = || "ephemeral-storage request overflows 2^64 bytes".to_string();
    let request = scale_up(disk_sum, 6, 5).ok_or_else(overflow)?;
    let limit = request.checked_mul(2).ok_or_else(overflow)?;
    Ok((request, limit))
}

fn ephemeral(volumes: &[Volume], opts: &ManifestOptions) -> Result<Option<Ephemeral>, String> {
    let disk: Vec<&Volume> = volumes
        .iter()
        .filter(|v| v.kind == MountKind::EmptyDir)
        .collect();
    let mut sum = 0u64;
    let mut terms = Vec::new();
    let mut no_size = Vec::new();
    for v in &disk {
        match v.size {
            Some(s) => {
                sum = add(sum, s, "the emptyDir sizeLimits")?;
                terms.push(format!("{} {}", v.path, quantity::format(s)));
            }
            None => no_size.push(v.path.as_str()),
        }
    }
    if terms.is_empty() && opts.ephemeral_request.is_none() && opts.ephemeral_limit.is_none() {
        return Ok(None);
    }
    let (rule_req, rule_lim) = ephemeral_rule(sum)?;
    let q = quantity::format;
    let mut explain = format!(
        "ephemeral-storage (seed Part 4), PVCs excluded:\n\
         request = emptyDir sizeLimits ({}) = {} + 20% = {}\n\
         limit = 2 x request = {}",
        if terms.is_empty() {
            "none".to_string()
        } else {
            terms.join(" + ")
        },
        q(sum),
        q(rule_req),
        q(rule_lim)
    );
    if !no_size.is_empty() {
        explain.push_str(&format!(
            "\nemptyDir without sizeLimit, not counted (unbounded until eviction): {}",
            no_size.join(", ")
        ));
    }
    let request = opts.ephemeral_request.unwrap_or(rule_req);
    let limit = match (opts.ephemeral_limit, opts.ephemeral_request) {
        (Some(l), _) => l,
        (None, Some(r)) => r
            .checked_mul(2)
            .ok_or_else(|| "--ephemeral-request x 2 overflows 2^64 bytes".to_string())?,
        (None, None) => rule_lim,
    };
    if request > limit {
        return Err(format!(
            "ephemeral-storage request {} exceeds its limit {}; Kubernetes rejects that",
            q(request),
            q(limit)
        ));
    }
    if opts.ephemeral_request.is_some() || opts.ephemeral_limit.is_some() {
        explain.push_str(&format!(
            "\nset by options: request {}, limit {}",
            q(request),
            q(limit)
        ));
    }
    Ok(Some(Ephemeral {
        disk_sum: sum,
        request,
        limit,
        explain,
    }))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_docker;
#[cfg(test)]
mod tests_profiles;
