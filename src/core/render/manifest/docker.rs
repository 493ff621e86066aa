//! Docker, podman and compose rendering of the contract.
//!
//! - tmpfs → `--tmpfs PATH:size=BYTES,mode=1777` (bytes: exact, and every
//!   runtime reads them).
//! - emptydir and pvc → a named volume `-v <name>-<volume>:PATH`. Runtimes
//!   cannot cap a named volume's size; sealinit's usage watch does, so the
//!   sizeLimit travels in `SEALINIT_MOUNTS`. emptydir is disk-backed in
//!   Kubernetes, so it is a disk volume here too, never a tmpfs.
//! - readonly and secret → `-v HOSTDIR:PATH:ro`, HOSTDIR from `--host-dir`
//!   or a `/path/to/...` placeholder.

use super::yaml::{emit, Map, Node};
use super::{contract, Contract, Format, ManifestOptions, Volume};
use crate::core::contract::spec::{MountKind, Spec};

/// The `run` flags for the contract, one argument per element, without the
/// `run` verb and the image: what a test passes to `podman run`.
/// `opts.format == Format::Podman` adds the podman-only flags; any other
/// format gives the docker set.
pub fn docker_args(spec: &Spec, opts: &ManifestOptions) -> Result<Vec<String>, String> {
    let c = contract(spec, opts)?;
    Ok(args(&c, opts))
}

fn podman(opts: &ManifestOptions) -> bool {
    opts.format == Format::Podman
}

fn named_volume(v: &Volume, opts: &ManifestOptions) -> String {
    format!("{}-{}", opts.name, v.name)
}

/// The host side of a read-only bind: the directory holding the volume's
/// files, or for a single-file mount the file in it (binding a directory
/// over a file fails: "not a directory").
fn host_source(v: &Volume, opts: &ManifestOptions) -> String {
    let dir = match &opts.host_dir {
        Some(d) => format!("{}/{}", d.trim_end_matches('/'), v.name),
        None => format!("/path/to/{}", v.name),
    };
    match v.file_name() {
        Some(f) => format!("{dir}/{f}"),
        None => dir,
    }
}

/// Hardening a runtime can set and Kubernetes cannot: noexec (unless the
/// contract has `allow_exec`), nosuid, nodev.
fn hardening(v: &Volume) -> &'static str {
    if v.allow_exec {
        "nosuid,nodev"
    } else {
        "noexec,nosuid,nodev"
    }
}

fn tmpfs_opts(v: &Volume) -> String {
    match v.size {
        Some(s) => format!("size={s},mode=1777,{}", hardening(v)),
        None => format!("mode=1777,{}", hardening(v)),
    }
}

/// One mount's flag and value.
fn flag_of(v: &Volume, opts: &ManifestOptions) -> (&'static str, String) {
    match v.kind {
        MountKind::Tmpfs => ("--tmpfs", format!("{}:{}", v.path, tmpfs_opts(v))),
        // podman's -v takes [no]exec, [no]suid, [no]dev; docker's -v does
        // not (and its --mount cannot set them on a named volume).
        MountKind::EmptyDir | MountKind::Pvc if podman(opts) => (
            "-v",
            format!("{}:{}:{}", named_volume(v, opts), v.path, hardening(v)),
        ),
        MountKind::EmptyDir | MountKind::Pvc => {
            ("-v", format!("{}:{}", named_volume(v, opts), v.path))
        }
        MountKind::ReadOnly | MountKind::Secret => {
            ("-v", format!("{}:{}:ro", host_source(v, opts), v.path))
        }
    }
}

/// One mount's flag as a shell word pair (a check's fix).
pub(super) fn one_flag(v: &Volume, opts: &ManifestOptions) -> String {
    let (flag, value) = flag_of(v, opts);
    format!("{flag} {}", shell_quote(&value))
}

/// The flags as (flag, value) pairs, in the order they are printed.
fn flags(c: &Contract, opts: &ManifestOptions) -> Vec<(&'static str, Option<String>)> {
    let mut f = Vec::new();
    if c.read_only_root {
        f.push(("--read-only", None));
        if podman(opts) {
            f.push(("--read-only-tmpfs=false", None));
        }
    }
    f.push((
        "--user",
        Some(format!("{}:{}", opts.run_as_user, opts.run_as_group)),
    ));
    f.push(("--security-opt", Some("no-new-privileges".to_string())));
    f.push(("--cap-drop", Some("ALL".to_string())));
    for v in &c.volumes {
        let (flag, value) = flag_of(v, opts);
        f.push((flag, Some(value)));
    }
    if !c.mounts_env.is_empty() {
        f.push(("-e", Some(format!("SEALINIT_MOUNTS={}", c.mounts_env))));
    }
    f
}

fn args(c: &Contract, opts: &ManifestOptions) -> Vec<String> {
    let mut a = Vec::new();
    for (flag, value) in flags(c, opts) {
        a.push(flag.to_string());
        a.extend(value);
    }
    a
}

/// Quotes one argument for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn comments(c: &Contract, opts: &ManifestOptions, header: String) -> Vec<String> {
    let tool = if podman(opts) { "podman" } else { "docker" };
    let mut out = vec![header];
    let mut named = Vec::new();
    for v in &c.volumes {
        match v.kind {
            MountKind::Tmpfs => {}
            MountKind::EmptyDir | MountKind::Pvc => named.push(format!(
                "{}={}",
                v.path,
                v.size
                    .map(crate::core::contract::quantity::format)
                    .unwrap_or_else(|| "unsized".to_string())
            )),
            MountKind::ReadOnly | MountKind::Secret => out.push(format!(
                "{} {}: replace {} with the host directory holding its files{}",
                v.kind.as_str(),
                v.path,
                host_source(v, opts),
                if v.kind == MountKind::Secret {
                    " (on a host tmpfs, e.g. under /run)"
                } else {
                    ""
                }
            )),
        }
    }
    if !named.is_empty() {
        out.push(format!(
            "named volumes ({}): {tool} cannot cap their size, sealinit watches the sizeLimits",
            named.join(", ")
        ));
        out.push(if podman(opts) {
            "each named volume is created owned by --user first (podman 4's :U does not chown named volumes)".to_string()
        } else {
            "a new named volume takes its owner from the image's directory: chown it in the image"
                .to_string()
        });
    }
    if c.tmpfs_sum > 0 {
        out.push(format!(
            "the tmpfs mounts ({}) count against the memory limit",
            crate::core::contract::quantity::format(c.tmpfs_sum)
        ));
    }
    out
}

/// podman only: `podman volume create` commands that make each named
/// volume owned by `--user`, to run before `podman run` (a new named volume
/// otherwise takes root's ownership from the image's directory, and podman
/// 4's `:U` does not chown named volumes).
pub fn podman_volume_creates(
    spec: &Spec,
    opts: &ManifestOptions,
) -> Result<Vec<Vec<String>>, String> {
    let c = contract(spec, opts)?;
    Ok(volume_creates(&c, opts))
}

fn volume_creates(c: &Contract, opts: &ManifestOptions) -> Vec<Vec<String>> {
    c.volumes
        .iter()
        .filter(|v| matches!(v.kind, MountKind::EmptyDir | MountKind::Pvc))
        .map(|v| {
            vec![
                "podman".to_string(),
                "volume".to_string(),
                "create".to_string(),
                "--opt".to_string(),
                format!("o=uid={},gid={}", opts.run_as_user, opts.run_as_group),
                named_volume(v, opts),
            ]
        })
        .collect()
}

pub(super) fn render_run(c: &Contract, opts: &ManifestOptions) -> String {
    let tool = if podman(opts) { "podman" } else { "docker" };
    let mut out = String::new();
    let header = format!(
        "sealinit manifest: {tool} run flags for the storage contract; append the command."
    );
    for line in comments(c, opts, header) {
        out.push_str("# ");
        out.push_str(&super::yaml::comment_text(&line));
        out.push('\n');
    }
    if podman(opts) {
        for cmd in volume_creates(c, opts) {
            let words: Vec<String> = cmd.iter().map(|w| shell_quote(w)).collect();
            out.push_str(&words.join(" "));
            out.push('\n');
        }
    }
    out.push_str(tool);
    out.push_str(" run \\\n");
    for (flag, value) in flags(c, opts) {
        match value {
            Some(v) => out.push_str(&format!("  {flag} {} \\\n", shell_quote(&v))),
            None => out.push_str(&format!("  {flag} \\\n")),
        }
    }
    let mut last = vec![shell_quote(&opts.image)];
    if let Some(p) = c.pod {
        last.extend(p.args.iter().map(|a| shell_quote(a)));
    }
    out.push_str(&format!("  {}\n", last.join(" ")));
    out
}

/// A compose string: compose reads `$NAME` and `${NAME}` in every value as
/// a variable, so a literal `$` is written `$$`.
fn cs(s: &str) -> Node {
    Node::str(&s.replace('$', "$$"))
}

pub(super) fn render_compose(c: &Contract, opts: &ManifestOptions) -> String {
    let mut svc = Map::new().kv("image", cs(&opts.image));
    if let Some(p) = c.pod.filter(|p| !p.args.is_empty()) {
        svc.push("command", Node::seq(p.args.iter().map(|a| cs(a)).collect()));
    }
    if c.read_only_root {
        svc.push("read_only", Node::bool(true));
    }
    svc.push(
        "user",
        Node::str(&format!("{}:{}", opts.run_as_user, opts.run_as_group)),
    );
    svc.push("cap_drop", Node::seq(vec![Node::plain("ALL")]));
    svc.push(
        "security_opt",
        Node::seq(vec![Node::str("no-new-privileges:true")]),
    );
    let tmpfs: Vec<Node> = c
        .volumes
        .iter()
        .filter(|v| v.kind == MountKind::Tmpfs)
        .map(|v| cs(&format!("{}:{}", v.path, tmpfs_opts(v))))
        .collect();
    if !tmpfs.is_empty() {
        svc.push("tmpfs", Node::seq(tmpfs));
    }
    let mut vols = Vec::new();
    let mut top = Map::new();
    for v in &c.volumes {
        match v.kind {
            MountKind::Tmpfs => {}
            MountKind::EmptyDir | MountKind::Pvc => {
                let n = named_volume(v, opts);
                vols.push(cs(&format!("{n}:{}", v.path)));
                top.push(&n, Map::new().node());
            }
            MountKind::ReadOnly | MountKind::Secret => {
                vols.push(cs(&format!("{}:{}:ro", host_source(v, opts), v.path)));
            }
        }
    }
    if !vols.is_empty() {
        svc.push("volumes", Node::seq(vols));
    }
    if !c.mounts_env.is_empty() {
        svc.push(
            "environment",
            Map::new().kv("SEALINIT_MOUNTS", cs(&c.mounts_env)).node(),
        );
    }
    let mut doc = Map::new();
    let header = "sealinit manifest: compose service for the storage contract.".to_string();
    for line in comments(c, opts, header) {
        doc.push_comment(&line);
    }
    doc.push("services", Map::new().kv(&opts.name, svc.node()).node());
    if !top.0.is_empty() {
        doc.push("volumes", top.node());
    }
    emit(&doc)
}
