//! Resolving the storage contract from its four sources: a built-in profile,
//! the spec file, the environment and the flags (lowest precedence first).
//! Reads the spec file through the edge; everything else is pure.

use std::path::Path;

use crate::core::cli::{self, Layer, UsageError};
use crate::core::profiles;
use crate::core::spec::{
    self, MountKind, Resolved, RootPolicy, Settings, Sources, SpecFile, ViolationPolicy,
};
use crate::edge::specfile;

/// The mount flags and their kinds, in the table's order.
const MOUNT_FLAGS: [(&str, MountKind); 5] = [
    ("tmpfs", MountKind::Tmpfs),
    ("emptydir", MountKind::EmptyDir),
    ("pvc", MountKind::Pvc),
    ("readonly", MountKind::ReadOnly),
    ("secret", MountKind::Secret),
];

/// Resolves the contract; its `settings` are also the spec-file/profile layer
/// of the runtime settings ([`crate::core::config::runtime`]). Errors are
/// usage errors (exit 64) naming the source.
pub fn resolve(flags: &Layer, env: &Layer) -> Result<Resolved, UsageError> {
    let profile = match cli::pick(flags, env, "profile") {
        None => None,
        Some((name, src)) => Some(profiles::profile(name).ok_or_else(|| {
            UsageError(format!(
                "{src}: unknown profile {name:?}; expected one of {}",
                profiles::PROFILE_NAMES.join(", ")
            ))
        })?),
    };
    let file = match cli::pick(flags, env, "spec") {
        // Named like every other bad value: `--spec: ...` or `SEALINIT_SPEC: ...`.
        Some((path, src)) => {
            Some(load_spec(Path::new(path)).map_err(|e| UsageError(format!("{src}: {}", e.0)))?)
        }
        None if specfile::default_spec_path_exists() => {
            Some(load_spec(Path::new(specfile::DEFAULT_SPEC_PATH))?)
        }
        None => None,
    };
    let sources = Sources {
        profile,
        file,
        env: layer_spec(env, false)?,
        flags: layer_spec(flags, true)?,
    };
    Ok(sources.resolve())
}

fn load_spec(path: &Path) -> Result<SpecFile, UsageError> {
    let text = specfile::read_spec_file(path).map_err(|e| UsageError(e.to_string()))?;
    spec::parse_spec_toml(&text, path).map_err(|e| UsageError(e.to_string()))
}

/// The mounts and contract settings of one layer (flags or env).
fn layer_spec(layer: &Layer, is_flags: bool) -> Result<SpecFile, UsageError> {
    let name = |opt: &str| {
        if is_flags {
            format!("--{opt}")
        } else {
            cli::env_name(opt)
        }
    };
    let mut mounts = Vec::new();
    if let Some(list) = layer.get("mounts") {
        mounts = spec::parse_mounts_env(list)
            .map_err(|e| UsageError(format!("{}: {e}", name("mounts"))))?;
    }
    for (opt, kind) in MOUNT_FLAGS {
        for value in layer.all(opt) {
            let m = spec::parse_mount_flag(kind, value).map_err(|e| {
                // The message starts with the flag (`--tmpfs "VALUE": ...`):
                // name the real source once instead.
                let rest = e.strip_prefix(&format!("--{opt} ")).unwrap_or(&e);
                UsageError(format!("{}: {rest}", name(opt)))
            })?;
            mounts.push(m);
        }
    }
    if let Some(p) = spec::duplicate_path(&mounts) {
        return Err(UsageError(format!(
            "{} is declared twice in the {}; declare each path once",
            p.display(),
            if is_flags { "flags" } else { "environment" }
        )));
    }
    let mut settings = Settings::default();
    if let Some(v) = layer.get("root") {
        settings.root = Some(RootPolicy::parse(v).ok_or_else(|| {
            UsageError(format!(
                "{}: expected read-only or any, got {v:?}",
                name("root")
            ))
        })?);
    }
    if let Some(v) = layer.get("on-violation") {
        settings.on_violation = Some(ViolationPolicy::parse(v).ok_or_else(|| {
            UsageError(format!(
                "{}: expected fail or warn, got {v:?}",
                name("on-violation")
            ))
        })?);
    }
    if layer.count("require-non-root") > 0 {
        settings.require_non_root = Some(true);
    }
    Ok(SpecFile { settings, mounts })
}

/// The effective settings for `--print-spec`: every layer over defaults,
/// with the flag/env runtime values folded in.
pub fn effective_settings(resolved: &Resolved, rt: &crate::core::config::Runtime) -> Settings {
    let mut eff = Settings::defaults();
    eff.overlay(&resolved.settings);
    eff.warn_at = Some(rt.warn_at);
    eff.act_at = Some(rt.act_at);
    eff.limit_action = Some(rt.limit_action);
    eff.grace = Some(rt.grace);
    eff.on_tamper = Some(rt.on_tamper);
    eff.ephemeral_limit = rt.ephemeral_limit;
    eff
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (hardening): an unreadable `SEALINIT_SPEC` was reported
    /// without naming the variable it came from.
    #[test]
    fn spec_errors_name_their_source() {
        let missing = "/nonexistent/sealinit/spec.toml".to_string();
        let layer = Layer {
            values: vec![("spec", missing.clone())],
            ..Layer::default()
        };
        let cases = [
            (
                "env",
                Layer::default(),
                layer.clone(),
                "SEALINIT_SPEC: spec file ",
            ),
            ("flag", layer, Layer::default(), "--spec: spec file "),
        ];
        for (name, flags, env, want) in cases {
            let err = resolve(&flags, &env).expect_err(name);
            assert!(err.0.starts_with(want), "case {name}: {err}");
            assert!(err.0.contains(&missing), "case {name}: {err}");
        }
    }
}
