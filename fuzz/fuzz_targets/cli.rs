//! Argument parser: arbitrary argv (the input split at NUL bytes, so
//! arguments may be any bytes, non-UTF-8 included) through `parse_args`,
//! and the env mirrors (`NAME=VALUE` pieces after a `\n\n` separator)
//! through `env_layer`, then the log-format hint and the whole fold into a
//! `Config` (with the rest of the input as a spec file's text) and its
//! `--print-spec` rendering.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use libfuzzer_sys::fuzz_target;
use sealinit::core::cli::parser;
use sealinit::core::cli::config::{self, SpecText};

fuzz_target!(|data: &[u8]| {
    let (argv_part, env_part) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let argv: Vec<OsString> = if argv_part.is_empty() {
        Vec::new()
    } else {
        argv_part
            .split(|&b| b == 0)
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect()
    };
    let env: Vec<(Vec<u8>, OsString)> = env_part
        .split(|&b| b == 0)
        .filter_map(|kv| {
            let eq = kv.iter().position(|&b| b == b'=')?;
            Some((kv[..eq].to_vec(), OsString::from_vec(kv[eq + 1..].to_vec())))
        })
        .collect();
    let vars = env
        .into_iter()
        .map(|(k, v)| (OsString::from_vec(k), v));
    let _ = parser::log_format_hint(&argv, None);
    let parsed = parser::parse_args(&argv);
    let env_layer = parser::env_layer(vars);
    if let (Ok(p), Ok(e)) = (&parsed, &env_layer) {
        let _ = config::output(&p.flags, e);
        // The env part doubles as a spec file's text.
        let spec = SpecText {
            path: "/fuzz/spec.toml".into(),
            named_by: None,
            text: String::from_utf8(env_part.to_vec()).map_err(|e| e.to_string()),
        };
        for file in [None, Some(&spec)] {
            if let Ok(c) = config::fold(p, e, file) {
                let _ = c.print_spec();
            }
        }
    }
});
