//! Black-box tests of the command line through the real binary: usage
//! errors exit 64 naming the flag or variable (and never start the
//! workload), in JSON when asked even before logging is set up; `-V`;
//! subcommand help; `-q`; `--print-spec` of the new settings.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::process::{Command, Output};

use sealinit::core::cli::parser::{Sub, OPTIONS};

/// The binary with `args`, `--root any`-free, and `env` added.
fn cmd(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run(c)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bad_values_exit_64_name_their_source_and_start_nothing() {
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case] = &[
        (
            "metrics not an IP",
            &["--metrics", "999.1.1.1:80"],
            &[],
            "--metrics:",
        ),
        (
            "metrics host name",
            &[],
            &[("SEALINIT_METRICS", "localhost:9090")],
            "SEALINIT_METRICS:",
        ),
        (
            "rescan below 1s",
            &["--rescan", "0s"],
            &[],
            "--rescan: expected a period of at least 1s",
        ),
        (
            "rescan env",
            &[],
            &[("SEALINIT_RESCAN", "500ms")],
            "SEALINIT_RESCAN:",
        ),
        (
            "rewrite",
            &["--rewrite", "TERM"],
            &[],
            "--rewrite: expected FROM:TO",
        ),
        (
            "rewrite env",
            &[],
            &[("SEALINIT_REWRITE", "TERM:QUIT,KILL:TERM")],
            "SEALINIT_REWRITE:",
        ),
        (
            "remap-exit",
            &["--remap-exit", "143:256"],
            &[],
            "--remap-exit:",
        ),
        ("pdeathsig", &["--pdeathsig", "DIE"], &[], "--pdeathsig:"),
        (
            "termination-log",
            &["--termination-log", "rel/path"],
            &[],
            "--termination-log:",
        ),
        (
            "allow-exec undeclared",
            &["--allow-exec", "/nope"],
            &[],
            "--allow-exec: /nope is not a declared mount",
        ),
        (
            "log format",
            &["--log-format", "yaml"],
            &[],
            "--log-format:",
        ),
    ];
    for (name, args, env, want) in cases {
        let mut argv = vec!["--root", "any"];
        argv.extend_from_slice(args);
        argv.extend(["--", "sh", "-c", "echo RAN"]);
        let out = cmd(&argv, env);
        assert_eq!(out.status.code(), Some(64), "{name}\n{}", show(&out));
        assert!(stderr(&out).contains(want), "{name}\n{}", show(&out));
        assert!(!stdout(&out).contains("RAN"), "{name}: the workload ran");
    }
}

#[test]
fn learn_needs_a_command() {
    let out = cmd(&["learn", "--out", "/tmp/x.toml"], &[]);
    assert_eq!(out.status.code(), Some(64), "{}", show(&out));
    assert!(
        stderr(&out).contains("no command to run: sealinit learn"),
        "{}",
        show(&out)
    );
}

/// `SEALINIT_LOG_FORMAT=json` covers usage errors, including those found
/// before logging is set up (a bad flag, a bad `--log` level).
#[test]
fn usage_errors_are_json_exit_events_when_json_is_asked() {
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (
            "unknown flag, env json",
            &["--nope", "--", "true"],
            &[("SEALINIT_LOG_FORMAT", "json")],
        ),
        (
            "unknown flag, flag json",
            &["--log-format", "json", "--nope"],
            &[],
        ),
        (
            "bad level",
            &["--log", "loud", "--", "true"],
            &[("SEALINIT_LOG_FORMAT", "json")],
        ),
        (
            "bad env switch",
            &["--log-format=json", "--", "true"],
            &[("SEALINIT_PGROUP", "maybe")],
        ),
        (
            "bad value after logging",
            &["--log-format=json", "--rescan", "0s", "--", "true"],
            &[],
        ),
    ];
    for (name, args, env) in cases {
        let out = cmd(args, env);
        assert_eq!(out.status.code(), Some(64), "{name}\n{}", show(&out));
        let err = stderr(&out);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: one line\n{err}");
        let line = lines[0];
        assert!(
            line.starts_with('{')
                && line.contains("\"event\":\"exit\"")
                && line.contains("\"code\":64")
                && line.contains("\"level\":\"error\""),
            "{name}: {line}"
        );
    }
    let out = cmd(&["--nope"], &[]);
    assert!(
        stderr(&out).starts_with("sealinit: error: unknown option --nope"),
        "{}",
        show(&out)
    );
}

#[test]
fn version_names_the_commit() {
    let git = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    for flag in ["-V", "--version"] {
        let out = cmd(&[flag], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let text = stdout(&out);
        let want_prefix = format!("sealinit {} (", env!("CARGO_PKG_VERSION"));
        assert!(
            text.starts_with(&want_prefix) && text.ends_with(")\n"),
            "{text:?}"
        );
        let commit = &text[want_prefix.len()..text.len() - 2];
        match &git {
            // The binary may be older than HEAD only if the test harness
            // did not rebuild it; cargo reruns build.rs when HEAD moves.
            Some(head) => assert_eq!(commit, head, "{text:?}"),
            None => assert_eq!(commit, "unknown"),
        }
    }
}

/// The `--x` words on the option lines of a help text.
fn listed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("  -") || l.starts_with("      --"))
        .flat_map(|l| l.split_whitespace().take(3))
        .filter(|w| w.starts_with("--"))
        .map(|w| w.trim_end_matches(',').to_string())
        .collect()
}

#[test]
fn subcommand_help_lists_that_subcommands_options_only() {
    for sub in Sub::ALL.into_iter().skip(1) {
        let out = cmd(&[sub.name(), "--help"], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        let want: BTreeSet<String> = OPTIONS
            .iter()
            .filter(|o| o.applies_to(sub))
            .map(|o| format!("--{}", o.name))
            .collect();
        assert_eq!(
            listed(&stdout(&out)),
            want,
            "sealinit {} --help",
            sub.name()
        );
    }
    let out = cmd(&["--help"], &[]);
    let all: BTreeSet<String> = OPTIONS.iter().map(|o| format!("--{}", o.name)).collect();
    let text = stdout(&out);
    assert_eq!(listed(&text), all, "sealinit --help is complete");
    assert!(
        text.contains("EXAMPLES") && text.contains("TERM:QUIT"),
        "{text}"
    );
}

/// `-q` is errors only: a warning (an unknown `SEALINIT_*` variable) is
/// not printed; without it, it is.
#[test]
fn quiet_means_errors_only() {
    let env = [("SEALINIT_NOT_A_SETTING", "1")];
    let loud = cmd(&["--root", "any", "--", "true"], &env);
    assert!(
        stderr(&loud).contains("SEALINIT_NOT_A_SETTING"),
        "{}",
        show(&loud)
    );
    let quiet = cmd(&["-q", "--root", "any", "--", "true"], &env);
    assert_eq!(quiet.status.code(), Some(0), "{}", show(&quiet));
    assert!(
        !stderr(&quiet).contains("SEALINIT_NOT_A_SETTING"),
        "{}",
        show(&quiet)
    );
    let err = cmd(&["-q", "--rescan", "0s", "--", "true"], &[]);
    assert!(
        stderr(&err).contains("--rescan"),
        "errors still print\n{}",
        show(&err)
    );
}

/// What `--print-spec` prints is what runs: the nginx profile's rewrite,
/// new settings from env, and `allow_exec` per mount, read back unchanged.
#[test]
fn print_spec_carries_the_new_settings_and_reads_back() {
    let env = [
        ("SEALINIT_REMAP_EXIT", "143:0"),
        ("SEALINIT_PDEATHSIG", "TERM"),
        ("SEALINIT_RESCAN", "5m"),
    ];
    let out = cmd(
        &[
            "check",
            "--profile",
            "nginx",
            "--allow-exec",
            "/tmp",
            "--print-spec",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = stdout(&out);
    for want in [
        "rewrite = [\"SIGTERM:SIGQUIT\"]",
        "remap_exit = [\"143:0\"]",
        "pdeathsig = \"SIGTERM\"",
        "rescan = \"300s\"",
        "allow_exec = true",
    ] {
        assert!(text.contains(want), "{want} missing\n{text}");
    }
    let dir = tempdir();
    let file = dir.join("printed.toml");
    std::fs::write(&file, &text).expect("write");
    let mut c = Command::new(bin());
    c.args(["check", "--print-spec", "--spec"]).arg(&file);
    let again = run(c);
    assert_eq!(stdout(&again), text, "{}", show(&again));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The nginx profile delivers Kubernetes' TERM as QUIT (nginx's graceful
/// stop); `--rewrite TERM:TERM` undoes it. Through the real binary: the
/// profile's setting reaches the supervisor via the one Config.
#[test]
fn nginx_profile_turns_term_into_quit() {
    let script = "trap 'echo QUIT; exit 0' QUIT; trap 'echo TERM; exit 1' TERM; \
                  echo ready; while :; do sleep 0.05; done";
    let cases: &[(&str, &[&str], &str, i32)] = &[
        ("profile rewrites", &[], "QUIT", 0),
        ("undone by a flag", &["--rewrite", "TERM:TERM"], "TERM", 1),
    ];
    for (name, extra, want, code) in cases {
        let mut c = Command::new(bin());
        c.args([
            "-q",
            "--root",
            "any",
            "--on-violation",
            "warn",
            "--profile",
            "nginx",
        ]);
        c.args(*extra);
        c.args(["--", "sh", "-c", script]);
        let mut live = Live::start(c);
        live.expect_line("ready");
        live.signal(libc::SIGTERM);
        let (status, seen) = live.wait();
        assert!(seen.iter().any(|l| l == want), "{name}: {seen:?}");
        assert_eq!(status.code(), Some(*code), "{name}: {seen:?}");
    }
}
