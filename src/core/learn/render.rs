//! Renders the learned contract: the spec TOML (the existing spec renderer,
//! with the reasons as comments above it), the readable summary lines, and
//! the podman flags and Kubernetes YAML (the `manifest` code).

use std::fmt::Write as _;

use super::Learned;
use crate::core::contract::quantity;
use crate::core::contract::spec::{render_toml, Settings};
use crate::core::render::manifest::{self, Format, ManifestOptions};

/// A comment line's text: control characters (a newline in a path the
/// workload chose) become `?` so the comment cannot end early.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The spec TOML `--spec` accepts, with why each mount is there.
pub fn spec_toml(l: &Learned) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# sealinit learn: the storage contract learned from {} scan(s)",
        l.scans
    );
    out.push_str("# size_limit = 2 x the high-water mark, at least the role's floor, rounded up\n");
    for m in &l.mounts {
        let _ = writeln!(
            out,
            "# {} ({}, {}): high-water {}; {}",
            comment(&m.spec.path.to_string_lossy()),
            m.spec.kind.as_str(),
            m.role,
            quantity::format(m.high_water),
            comment(&m.reason)
        );
        for n in &m.notes {
            let _ = writeln!(out, "#   {}", comment(n));
        }
    }
    for d in &l.drift {
        let _ = writeln!(
            out,
            "# drift: {} {}: {}",
            comment(&d.path.to_string_lossy()),
            d.what,
            comment(&d.fix)
        );
    }
    if l.drift_dropped > 0 {
        let _ = writeln!(out, "# drift: {} more path(s) not listed", l.drift_dropped);
    }
    for s in &l.strays {
        let _ = writeln!(out, "# stray: {}", comment(&s.advice()));
    }
    out.push_str(&render_toml(&l.spec(), &Settings::default()));
    out
}

/// The manifest options for the learned contract: the non-root uid/gid the
/// workload wrote as, when there is one (so the volumes are writable for it).
pub fn manifest_options(l: &Learned, format: Format) -> ManifestOptions {
    let mut o = ManifestOptions {
        format,
        ..ManifestOptions::default()
    };
    if let Some((uid, gid)) = l.mounts.iter().find_map(|m| m.owner) {
        o.run_as_user = uid;
        o.run_as_group = gid;
        o.fs_group = gid;
    }
    o
}

/// The podman commands: a `podman volume create` per named volume (owned
/// by the uid that wrote there) and the `podman run` flags.
pub fn podman_flags(l: &Learned) -> Result<String, String> {
    manifest::render(&l.spec(), &manifest_options(l, Format::Podman))
}

/// The docker flags, one `docker run ...` line (arguments shell-quoted).
pub fn docker_line(l: &Learned) -> Result<String, String> {
    let args = manifest::docker_args(&l.spec(), &manifest_options(l, Format::Docker))?;
    let mut line = String::from("docker run");
    for a in args {
        line.push(' ');
        let safe = !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
        if safe {
            line.push_str(&a);
        } else {
            line.push_str(&format!("'{}'", a.replace('\'', "'\\''")));
        }
    }
    line.push_str(" IMAGE");
    Ok(line)
}

/// The Kubernetes pod-spec YAML.
pub fn kubernetes(l: &Learned) -> Result<String, String> {
    manifest::render(&l.spec(), &manifest_options(l, Format::Kubernetes))
}

/// One readable line per finding, for the `learn` events and the summary.
pub fn summary_lines(l: &Learned) -> Vec<String> {
    let mut v = Vec::new();
    if l.mounts.is_empty() && l.drift.is_empty() && l.strays.is_empty() {
        v.push("the workload wrote nothing outside its declared mounts: the learned contract needs no new mount".to_string());
    }
    for m in &l.mounts {
        v.push(format!(
            "mount {} as {} size_limit {} (high-water {}): {}",
            m.spec.path.display(),
            m.spec.kind.as_str(),
            m.spec.size_limit.map(quantity::format).unwrap_or_default(),
            quantity::format(m.high_water),
            m.reason
        ));
        for n in &m.notes {
            v.push(format!("  {n}"));
        }
    }
    for d in &l.drift {
        v.push(format!("drift: {} {}: {}", d.path.display(), d.what, d.fix));
    }
    for s in &l.strays {
        v.push(format!("stray: {}", s.advice()));
    }
    v
}
