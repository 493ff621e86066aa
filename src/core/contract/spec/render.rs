//! Renders a resolved contract as a TOML spec file (`sealinit check
//! --print-spec`) that [`super::parse_spec_toml`] reads back unchanged.

use std::fmt::Write as _;
use std::time::Duration;

use super::{Settings, Spec};
use crate::core::cli::options::{signal_name, TamperPolicy};
use crate::core::contract::quantity;

/// The contract as a spec file: `root`, `on_violation`, `require_non_root`
/// from `spec`; every runtime setting that `settings` sets (pass settings
/// overlaid on [`Settings::defaults`] to print effective values); then one
/// `[[mount]]` table per path, sizes in canonical quantity form. The
/// `root`/`on_violation`/`require_non_root` fields of `settings` are ignored
/// (`spec` holds the resolved values), and so are the settings without a
/// spec key (`pgroup`, `metrics`, `termination_log`, `allow_exec`, which
/// is said per mount).
pub fn render_toml(spec: &Spec, settings: &Settings) -> String {
    let mut out = String::new();
    out.push_str("# sealinit storage contract (profile < spec file < SEALINIT_MOUNTS < flags)\n");
    // Writing to a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(out, "root = {}", quote(spec.root.as_str()));
    let _ = writeln!(out, "on_violation = {}", quote(spec.on_violation.as_str()));
    let _ = writeln!(out, "require_non_root = {}", spec.require_non_root);
    if let Some(n) = settings.warn_at {
        let _ = writeln!(out, "warn_at = {n}");
    }
    if let Some(n) = settings.act_at {
        let _ = writeln!(out, "act_at = {n}");
    }
    if let Some(a) = settings.limit_action {
        let _ = writeln!(out, "limit_action = {}", quote(&a.to_string()));
    }
    if let Some(d) = settings.grace {
        let _ = writeln!(out, "grace = {}", quote(&format_duration(d)));
    }
    if let Some(t) = settings.on_tamper {
        let t = match t {
            TamperPolicy::Warn => "warn",
            TamperPolicy::Stop => "stop",
        };
        let _ = writeln!(out, "on_tamper = {}", quote(t));
    }
    if let Some(n) = settings.ephemeral_limit {
        let _ = writeln!(out, "ephemeral_limit = {}", quote(&quantity::format(n)));
    }
    if let Some(d) = settings.rescan {
        let _ = writeln!(out, "rescan = {}", quote(&format_duration(d)));
    }
    if !settings.rewrite.is_empty() {
        let pairs = settings
            .rewrite
            .iter()
            .map(|&(from, to)| quote(&format!("{}:{}", signal_name(from), signal_name(to))));
        let _ = writeln!(out, "rewrite = [{}]", pairs.collect::<Vec<_>>().join(", "));
    }
    if !settings.remap_exit.is_empty() {
        let pairs = settings
            .remap_exit
            .iter()
            .map(|&(from, to)| quote(&format!("{from}:{to}")));
        let _ = writeln!(
            out,
            "remap_exit = [{}]",
            pairs.collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(n) = settings.pdeathsig {
        let _ = writeln!(out, "pdeathsig = {}", quote(&signal_name(n)));
    }
    for m in &spec.mounts {
        out.push_str("\n[[mount]]\n");
        let _ = writeln!(out, "path = {}", quote(&m.path.to_string_lossy()));
        let _ = writeln!(out, "kind = {}", quote(m.kind.as_str()));
        if let Some(n) = m.size_limit {
            let _ = writeln!(out, "size_limit = {}", quote(&quantity::format(n)));
        }
        if m.allow_exec {
            out.push_str("allow_exec = true\n");
        }
    }
    out
}

/// `10s` for whole seconds, else `1500ms` (what `parse_duration` reads).
fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A TOML basic string: `"` and `\` escaped, control characters as `\uXXXX`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_render_as_parse_duration_reads_them() {
        let cases: &[(&str, u64, &str)] = &[
            ("whole seconds", 10_000, "10s"),
            ("zero", 0, "0s"),
            ("milliseconds", 1_500, "1500ms"),
            ("minutes stay seconds", 120_000, "120s"),
        ];
        for (name, ms, want) in cases {
            let d = Duration::from_millis(*ms);
            assert_eq!(format_duration(d), *want, "{name}");
            assert_eq!(
                crate::core::cli::options::parse_duration(want),
                Ok(d),
                "{name}: round trip"
            );
        }
    }

    #[test]
    fn quoting_escapes_what_toml_requires() {
        let cases: &[(&str, &str, &str)] = &[
            ("plain", "/tmp", "\"/tmp\""),
            ("quote", "/a\"b", "\"/a\\\"b\""),
            ("backslash", "/a\\b", "\"/a\\\\b\""),
            ("newline", "/a\nb", "\"/a\\u000Ab\""),
            ("tab", "/a\tb", "\"/a\\u0009b\""),
            ("delete", "/a\u{7f}b", "\"/a\\u007Fb\""),
            ("unicode kept", "/données", "\"/données\""),
        ];
        for (name, input, want) in cases {
            assert_eq!(quote(input), *want, "{name}");
        }
    }
}
