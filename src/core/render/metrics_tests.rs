//! Unit tests of `core::render::metrics`: the Prometheus text exposition, label
//! escaping, and the HTTP request routing and responses of the endpoint.

use super::*;

fn mount(path: &str, kind: &str, limit: Option<u64>) -> MountSample {
    MountSample {
        path: path.into(),
        kind: kind.into(),
        used: 1024,
        limit,
        inodes: 3,
        warn_crossings: 1,
        act_crossings: 0,
    }
}

#[test]
fn renders_the_exact_body_for_a_small_input() {
    let mounts = [
        mount("/tmp", "tmpfs", Some(67_108_864)),
        MountSample {
            used: 5,
            inodes: 1,
            warn_crossings: 2,
            act_crossings: 1,
            ..mount("/data", "pvc", None)
        },
    ];
    let checks = Summary {
        pass: 4,
        warn: 1,
        fail: 0,
    };
    let extra = Counters {
        limit_actions: 1,
        tamper_events: 0,
    };
    let want = format!(
        r#"# HELP sealinit_build_info Always 1; the version label carries the sealinit version.
# TYPE sealinit_build_info gauge
sealinit_build_info{{version="{}"}} 1
# HELP sealinit_checks Start-up storage contract checks, by verdict.
# TYPE sealinit_checks gauge
sealinit_checks{{verdict="pass"}} 4
sealinit_checks{{verdict="warn"}} 1
sealinit_checks{{verdict="fail"}} 0
# HELP sealinit_mount_used_bytes Bytes used on a watched writable mount (allocated blocks, as the kubelet counts them).
# TYPE sealinit_mount_used_bytes gauge
sealinit_mount_used_bytes{{path="/tmp",kind="tmpfs"}} 1024
sealinit_mount_used_bytes{{path="/data",kind="pvc"}} 5
# HELP sealinit_mount_limit_bytes The mount's effective sizeLimit in bytes; absent when unknown.
# TYPE sealinit_mount_limit_bytes gauge
sealinit_mount_limit_bytes{{path="/tmp",kind="tmpfs"}} 67108864
# HELP sealinit_mount_used_inodes Inodes (files and directories) used on a watched writable mount.
# TYPE sealinit_mount_used_inodes gauge
sealinit_mount_used_inodes{{path="/tmp",kind="tmpfs"}} 3
sealinit_mount_used_inodes{{path="/data",kind="pvc"}} 1
# HELP sealinit_usage_threshold_crossings_total Upward crossings of the --warn-at and --act-at usage thresholds.
# TYPE sealinit_usage_threshold_crossings_total counter
sealinit_usage_threshold_crossings_total{{path="/tmp",kind="tmpfs",threshold="warn"}} 1
sealinit_usage_threshold_crossings_total{{path="/tmp",kind="tmpfs",threshold="act"}} 0
sealinit_usage_threshold_crossings_total{{path="/data",kind="pvc",threshold="warn"}} 2
sealinit_usage_threshold_crossings_total{{path="/data",kind="pvc",threshold="act"}} 1
# HELP sealinit_limit_actions_total Times the --limit-action (signal or stop) was carried out.
# TYPE sealinit_limit_actions_total counter
sealinit_limit_actions_total 1
# HELP sealinit_tamper_events_total Tamper findings after start-up: mount-table changes and executables dropped into writable mounts.
# TYPE sealinit_tamper_events_total counter
sealinit_tamper_events_total 0
"#,
        env!("CARGO_PKG_VERSION")
    );
    let got = render(&mounts, &checks, &extra);
    assert_eq!(got, want, "got:\n{got}");
}

#[test]
fn no_mounts_keeps_every_family_header() {
    let got = render(&[], &Summary::default(), &Counters::default());
    for name in [
        "sealinit_mount_used_bytes",
        "sealinit_mount_limit_bytes",
        "sealinit_mount_used_inodes",
        "sealinit_usage_threshold_crossings_total",
    ] {
        assert!(got.contains(&format!("# TYPE {name} ")), "{name}:\n{got}");
        assert!(!got.contains(&format!("\n{name}{{")), "{name}:\n{got}");
    }
}

#[test]
fn label_values_are_escaped() {
    let cases: &[(&str, &str, &str)] = &[
        ("plain", "/var/cache", "/var/cache"),
        ("double quote", "/a\"b", "/a\\\"b"),
        ("backslash", "/a\\b", "/a\\\\b"),
        ("newline", "/a\nb", "/a\\nb"),
        ("backslash then n", "/a\\nb", "/a\\\\nb"),
        ("all three", "\\\"\n", "\\\\\\\"\\n"),
        ("non-ascii kept", "/données", "/données"),
        ("lossy replacement kept", "/a\u{fffd}", "/a\u{fffd}"),
    ];
    for (name, raw, want) in cases {
        assert_eq!(escape_label_value(raw), *want, "case {name}");
        let body = render(
            &[mount(raw, "emptydir", None)],
            &Summary::default(),
            &Counters::default(),
        );
        let line = format!("sealinit_mount_used_bytes{{path=\"{want}\",kind=\"emptydir\"}} 1024\n");
        assert!(body.contains(&line), "case {name}: no {line:?} in\n{body}");
        // Every sample stays on one line: no raw newline inside a label.
        for l in body.lines() {
            assert!(
                l.starts_with("# ") || l.starts_with("sealinit_"),
                "case {name}: stray line {l:?}"
            );
        }
    }
}

#[test]
fn routes_request_lines() {
    let cases: &[(&str, &[u8], Route)] = &[
        (
            "get metrics",
            b"GET /metrics HTTP/1.1",
            Route::Metrics { head_only: false },
        ),
        (
            "get metrics 1.0",
            b"GET /metrics HTTP/1.0",
            Route::Metrics { head_only: false },
        ),
        (
            "head metrics",
            b"HEAD /metrics HTTP/1.1",
            Route::Metrics { head_only: true },
        ),
        (
            "query ignored",
            b"GET /metrics?x=1 HTTP/1.1",
            Route::Metrics { head_only: false },
        ),
        (
            "root is 404",
            b"GET / HTTP/1.1",
            Route::NotFound { head_only: false },
        ),
        (
            "other path",
            b"GET /metricsx HTTP/1.1",
            Route::NotFound { head_only: false },
        ),
        (
            "head other",
            b"HEAD /x HTTP/1.1",
            Route::NotFound { head_only: true },
        ),
        (
            "post metrics",
            b"POST /metrics HTTP/1.1",
            Route::MethodNotAllowed,
        ),
        (
            "lower-case method",
            b"get /metrics HTTP/1.1",
            Route::BadRequest,
        ),
        ("http/0.9", b"GET /metrics", Route::BadRequest),
        ("http/2", b"GET /metrics HTTP/2.0", Route::BadRequest),
        (
            "absolute uri",
            b"GET http://x/metrics HTTP/1.1",
            Route::BadRequest,
        ),
        ("extra field", b"GET /metrics HTTP/1.1 x", Route::BadRequest),
        ("double space", b"GET  /metrics HTTP/1.1", Route::BadRequest),
        ("empty", b"", Route::BadRequest),
        ("binary", b"\xff\xfe\x00", Route::BadRequest),
    ];
    for (name, line, want) in cases {
        assert_eq!(route(line), *want, "case {name}");
    }
}

#[test]
fn finds_the_request_line_and_the_end_of_the_head() {
    /// (name, buffer, request line, head complete)
    type Case<'a> = (&'a str, &'a [u8], Option<&'a [u8]>, bool);
    let cases: &[Case] = &[
        (
            "crlf",
            b"GET / HTTP/1.0\r\n\r\n",
            Some(b"GET / HTTP/1.0"),
            true,
        ),
        (
            "bare lf",
            b"GET / HTTP/1.0\n\n",
            Some(b"GET / HTTP/1.0"),
            true,
        ),
        (
            "headers pending",
            b"GET / HTTP/1.0\r\nHost: x\r\n",
            Some(b"GET / HTTP/1.0"),
            false,
        ),
        ("partial line", b"GET /met", None, false),
        ("empty", b"", None, false),
    ];
    for (name, buf, line, complete) in cases {
        assert_eq!(request_line(buf), *line, "case {name}");
        assert_eq!(head_complete(buf), *complete, "case {name}");
    }
}

#[test]
fn responses_carry_length_and_drop_the_body_for_head() {
    let get = response("200 OK", CONTENT_TYPE, "abc\n", false);
    assert_eq!(
        String::from_utf8_lossy(&get),
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: 4\r\nConnection: close\r\n\r\nabc\n"
    );
    let head = response("200 OK", CONTENT_TYPE, "abc\n", true);
    assert!(
        String::from_utf8_lossy(&head).ends_with("Content-Length: 4\r\nConnection: close\r\n\r\n")
    );
    let not_allowed = response("405 Method Not Allowed", "text/plain", "", false);
    assert!(String::from_utf8_lossy(&not_allowed).contains("\r\nAllow: GET, HEAD\r\n"));
}
