//! Resolving the configuration: the spec file is read here, at the edge
//! (`--spec FILE`, `SEALINIT_SPEC`, or `/etc/sealinit/spec.toml` if present),
//! then [`config::fold`] folds profile, spec file, env and flags into one
//! [`Config`].

use std::path::PathBuf;

use crate::core::cli::config::{self, Config, SpecText};
use crate::core::cli::parser::{Layer, Parsed, UsageError};
use crate::edge::specfile;

/// The configuration for `parsed` and `env`, or a usage error (exit 64)
/// naming its source.
pub fn load(parsed: &Parsed, env: &Layer) -> Result<Config, UsageError> {
    let spec_file = read_spec(parsed, env);
    config::fold(parsed, env, spec_file.as_ref())
}

/// Reads the spec file the command line names, or the default one if it
/// exists; None when there is none to read.
fn read_spec(parsed: &Parsed, env: &Layer) -> Option<SpecText> {
    if !config::needs_contract(parsed.sub) {
        return None;
    }
    let (path, named_by) = match config::named_spec_file(parsed, env) {
        Some((path, by)) => (path, Some(by)),
        None if specfile::default_spec_path_exists() => {
            (PathBuf::from(specfile::DEFAULT_SPEC_PATH), None)
        }
        None => return None,
    };
    let text = specfile::read_spec_file(&path).map_err(|e| e.to_string());
    Some(SpecText {
        path,
        named_by,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cli::parser::{Opt, Sub};

    fn parsed(flags: Layer) -> Parsed {
        Parsed {
            sub: Sub::Check,
            flags,
            argv: Vec::new(),
            help: false,
            version: false,
        }
    }

    /// Regression (hardening): an unreadable `SEALINIT_SPEC` was reported
    /// without naming the variable it came from.
    #[test]
    fn spec_errors_name_their_source() {
        let missing = "/nonexistent/sealinit/spec.toml".to_string();
        let mut flag = Layer::flags();
        flag.values.push((Opt::Spec, missing.clone()));
        let mut env = Layer::env();
        env.values.push((Opt::Spec, missing.clone()));
        let cases = [
            ("env", Layer::flags(), env, "SEALINIT_SPEC: spec file "),
            ("flag", flag, Layer::env(), "--spec: spec file "),
        ];
        for (name, flags, env, want) in cases {
            let err = load(&parsed(flags), &env).expect_err(name);
            assert!(err.0.starts_with(want), "case {name}: {err}");
            assert!(err.0.contains(&missing), "case {name}: {err}");
        }
    }
}
