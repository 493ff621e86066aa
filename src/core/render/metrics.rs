//! Metrics, the pure half: the Prometheus text exposition format 0.0.4 body
//! rendered from plain data ([`render`]), and the HTTP request-line routing
//! and response bytes of the `/metrics` endpoint ([`route`], [`response`]).
//! The server thread that feeds them lives in `orchestra::metrics`.
//! Nothing here can panic (no unwrap, no indexing out of a checked range):
//! the server runs in PID 1 under `panic = "abort"`.
//!
//! Series (names follow the Prometheus conventions: base unit bytes,
//! `_total` on counters, HELP and TYPE lines, label values escaped):
//!
//! | series | type | labels |
//! |---|---|---|
//! | `sealinit_build_info` = 1 | gauge | `version` |
//! | `sealinit_checks` | gauge | `verdict` = `pass\|warn\|fail` |
//! | `sealinit_mount_used_bytes` | gauge | `path`, `kind` |
//! | `sealinit_mount_limit_bytes` (only when known) | gauge | `path`, `kind` |
//! | `sealinit_mount_used_inodes` | gauge | `path`, `kind` |
//! | `sealinit_usage_threshold_crossings_total` | counter | `path`, `kind`, `threshold` = `warn\|act` |
//! | `sealinit_limit_actions_total` | counter | |
//! | `sealinit_tamper_events_total` | counter | |

use std::fmt::Write as _;

use crate::core::checks::Summary;

/// The `Content-Type` of the body [`render`] returns.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The path the body is served on.
pub const METRICS_PATH: &str = "/metrics";

/// One watched mount (or the ephemeral-storage total), as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSample {
    /// The mount path (lossily converted to UTF-8), or `ephemeral-storage`.
    pub path: String,
    /// `tmpfs`, `emptydir`, `pvc`, or `ephemeral-storage`.
    pub kind: String,
    /// Bytes used (allocated blocks, as the kubelet counts them).
    pub used: u64,
    /// The effective sizeLimit; `None` omits the limit sample.
    pub limit: Option<u64>,
    pub inodes: u64,
    /// Times `--warn-at` / `--act-at` was crossed upwards.
    pub warn_crossings: u64,
    pub act_crossings: u64,
}

/// Process-wide counters the supervisor bumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// `--limit-action` executions (signal sent or stop begun).
    pub limit_actions: u64,
    /// Tamper events seen (mount-table drift after start-up).
    pub tamper_events: u64,
}

/// Renders the whole exposition body. Every family always has its HELP and
/// TYPE lines, so the body's shape does not depend on the data.
pub fn render(mounts: &[MountSample], checks: &Summary, extra: &Counters) -> String {
    let mut out = String::with_capacity(1024 + mounts.len() * 512);
    family(
        &mut out,
        "sealinit_build_info",
        "gauge",
        "Always 1; the version label carries the sealinit version.",
    );
    sample(
        &mut out,
        "sealinit_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1,
    );

    family(
        &mut out,
        "sealinit_checks",
        "gauge",
        "Start-up storage contract checks, by verdict.",
    );
    for (verdict, n) in [
        ("pass", checks.pass),
        ("warn", checks.warn),
        ("fail", checks.fail),
    ] {
        sample(&mut out, "sealinit_checks", &[("verdict", verdict)], n);
    }

    family(
        &mut out,
        "sealinit_mount_used_bytes",
        "gauge",
        "Bytes used on a watched writable mount (allocated blocks, as the kubelet counts them).",
    );
    for m in mounts {
        sample(&mut out, "sealinit_mount_used_bytes", &labels(m), m.used);
    }
    family(
        &mut out,
        "sealinit_mount_limit_bytes",
        "gauge",
        "The mount's effective sizeLimit in bytes; absent when unknown.",
    );
    for m in mounts {
        if let Some(limit) = m.limit {
            sample(&mut out, "sealinit_mount_limit_bytes", &labels(m), limit);
        }
    }
    family(
        &mut out,
        "sealinit_mount_used_inodes",
        "gauge",
        "Inodes (files and directories) used on a watched writable mount.",
    );
    for m in mounts {
        sample(&mut out, "sealinit_mount_used_inodes", &labels(m), m.inodes);
    }

    let crossings = "sealinit_usage_threshold_crossings_total";
    family(
        &mut out,
        crossings,
        "counter",
        "Upward crossings of the --warn-at and --act-at usage thresholds.",
    );
    for m in mounts {
        for (threshold, n) in [("warn", m.warn_crossings), ("act", m.act_crossings)] {
            let [path, kind] = labels(m);
            sample(
                &mut out,
                crossings,
                &[path, kind, ("threshold", threshold)],
                n,
            );
        }
    }

    family(
        &mut out,
        "sealinit_limit_actions_total",
        "counter",
        "Times the --limit-action (signal or stop) was carried out.",
    );
    sample(
        &mut out,
        "sealinit_limit_actions_total",
        &[],
        extra.limit_actions,
    );
    family(
        &mut out,
        "sealinit_tamper_events_total",
        "counter",
        "Tamper findings after start-up: mount-table changes and executables dropped into writable mounts.",
    );
    sample(
        &mut out,
        "sealinit_tamper_events_total",
        &[],
        extra.tamper_events,
    );
    out
}

fn labels(m: &MountSample) -> [(&'static str, &str); 2] {
    [("path", m.path.as_str()), ("kind", m.kind.as_str())]
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(&escape_label_value(v));
            out.push('"');
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Escapes a label value: `\` → `\\`, `"` → `\"`, newline → `\n`.
pub fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// Escapes HELP text: `\` → `\\`, newline → `\n`.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// What a request asks for, from its request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /metrics` (`head_only` for `HEAD`).
    Metrics { head_only: bool },
    /// Another path (404).
    NotFound { head_only: bool },
    /// `/metrics` with a method other than GET or HEAD (405).
    MethodNotAllowed,
    /// Not an HTTP/1.x request line (400).
    BadRequest,
}

/// Routes a request by its first line (`METHOD SP TARGET SP HTTP/1.x`,
/// without the line end). The query string is ignored. Never panics.
pub fn route(request_line: &[u8]) -> Route {
    let Ok(line) = std::str::from_utf8(request_line) else {
        return Route::BadRequest;
    };
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    let method_ok = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    if !method_ok || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    let head_only = method == "HEAD";
    if path != METRICS_PATH {
        return Route::NotFound { head_only };
    }
    match method {
        "GET" | "HEAD" => Route::Metrics { head_only },
        _ => Route::MethodNotAllowed,
    }
}

/// The first line of a request head: everything before the first `\n`
/// (a trailing `\r` removed), or `None` while no line end has arrived.
pub fn request_line(head: &[u8]) -> Option<&[u8]> {
    let end = head.iter().position(|&b| b == b'\n')?;
    let line = &head[..end];
    Some(line.strip_suffix(b"\r").unwrap_or(line))
}

/// Whether `buf` holds a whole request head (ends with an empty line).
pub fn head_complete(buf: &[u8]) -> bool {
    buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n")
}

/// A complete HTTP/1.1 response (`Connection: close`, with
/// `Content-Length`); the body is left out for a HEAD request.
pub fn response(status: &str, content_type: &str, body: &str, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if !head_only {
        bytes.extend_from_slice(body.as_bytes());
    }
    bytes
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
