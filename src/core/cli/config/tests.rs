//! Tests of the fold: one named case per precedence rule, each new option's
//! parse and its errors (flag, variable, spec file line and key), and the
//! `--print-spec` round trip.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::core::cli::parser::{env_layer, parse_args};
use crate::core::contract::spec::MountSpec;

const SPEC: &str = "/etc/sealinit/spec.toml";

/// Folds argv, env pairs and an optional spec file text (read from the
/// default path).
fn fold_with(
    args: &[&str],
    env: &[(&str, &str)],
    spec: Option<&str>,
) -> Result<Config, UsageError> {
    let argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    let parsed = parse_args(&argv)?;
    let env = env_layer(
        env.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    )?;
    let text = spec.map(|t| SpecText {
        path: PathBuf::from(SPEC),
        named_by: None,
        text: Ok(t.to_string()),
    });
    fold(&parsed, &env, text.as_ref())
}

fn ok(args: &[&str], env: &[(&str, &str)], spec: Option<&str>) -> Config {
    fold_with(args, env, spec).unwrap_or_else(|e| panic!("{args:?} {env:?}: {e}"))
}

fn mount<'a>(c: &'a Config, path: &str) -> &'a MountSpec {
    c.spec
        .mounts
        .iter()
        .find(|m| m.path == std::path::Path::new(path))
        .unwrap_or_else(|| panic!("{path} not declared"))
}

#[test]
fn defaults_match_the_contract() {
    let c = ok(&["true"], &[], None);
    assert_eq!(
        c.command,
        Command::Run {
            argv: vec!["true".into()]
        }
    );
    assert_eq!((c.warn_at, c.act_at), (80, 95));
    assert_eq!(c.grace, Duration::from_secs(10));
    assert_eq!(c.rescan, Duration::from_secs(60));
    assert_eq!(c.limit_action, LimitAction::Warn);
    assert_eq!(c.on_tamper, TamperPolicy::Warn);
    assert!(!c.pgroup);
    assert_eq!(c.metrics, None);
    assert!(c.rewrite.is_empty() && c.remap_exit.is_empty());
    assert_eq!(c.pdeathsig, None);
    assert_eq!(c.termination_log, TerminationLog::Default);
    assert_eq!(c.spec, Spec::default());
    assert_eq!(c.output.verbosity, Verbosity::Info);
    assert!(!c.output.log_timestamps);
}

#[test]
fn precedence_spec_file_beats_profile() {
    let c = ok(
        &["--profile", "nginx", "true"],
        &[],
        Some("ephemeral_limit = \"1Gi\"\n"),
    );
    assert_eq!(c.ephemeral_limit, Some(1 << 30));
    let c = ok(&["--profile", "nginx", "true"], &[], None);
    assert_eq!(c.ephemeral_limit, Some(2 << 30), "the profile's own");
}

#[test]
fn precedence_env_beats_spec_file() {
    let c = ok(
        &["true"],
        &[("SEALINIT_GRACE", "4s")],
        Some("grace = \"3s\"\n"),
    );
    assert_eq!(c.grace, Duration::from_secs(4));
}

#[test]
fn precedence_flag_beats_env() {
    let c = ok(
        &["--grace", "5s", "true"],
        &[("SEALINIT_GRACE", "4s")],
        Some("grace = \"3s\"\n"),
    );
    assert_eq!(c.grace, Duration::from_secs(5));
}

#[test]
fn precedence_defaults_fill_what_no_source_sets() {
    let c = ok(
        &["--act-at", "90", "true"],
        &[("SEALINIT_GRACE", "4s")],
        Some("warn_at = 50\n"),
    );
    assert_eq!((c.warn_at, c.act_at), (50, 90));
    assert_eq!(c.rescan, DEFAULT_RESCAN);
    assert_eq!(c.limit_action, LimitAction::Warn);
}

#[test]
fn precedence_mounts_merge_per_path() {
    let c = ok(
        &["--profile", "app", "--emptydir", "/tmp:2Gi", "true"],
        &[("SEALINIT_MOUNTS", "tmpfs:/dev/shm:1Gi")],
        None,
    );
    let paths: Vec<_> = c.spec.mounts.iter().map(|m| m.path.clone()).collect();
    assert_eq!(
        paths,
        [
            PathBuf::from("/tmp"),
            "/app/cache".into(),
            "/dev/shm".into()
        ]
    );
    assert_eq!(
        mount(&c, "/tmp").size_limit,
        Some(2 << 30),
        "flag over profile"
    );
}

#[test]
fn precedence_rewrites_merge_per_signal() {
    let c = ok(&["--profile", "nginx", "nginx"], &[], None);
    assert_eq!(
        c.rewrite,
        vec![(libc::SIGTERM, libc::SIGQUIT)],
        "nginx: TERM→QUIT"
    );
    let c = ok(
        &["--profile", "nginx", "--rewrite", "TERM:TERM", "nginx"],
        &[],
        None,
    );
    assert_eq!(c.rewrite, vec![(libc::SIGTERM, libc::SIGTERM)], "undone");
    let c = ok(
        &["--profile", "nginx", "--rewrite", "USR1:USR2", "nginx"],
        &[("SEALINIT_REWRITE", "HUP:QUIT")],
        None,
    );
    assert_eq!(
        c.rewrite,
        vec![
            (libc::SIGTERM, libc::SIGQUIT),
            (libc::SIGHUP, libc::SIGQUIT),
            (libc::SIGUSR1, libc::SIGUSR2)
        ]
    );
    let c = ok(&["--rewrite", "TERM:QUIT,HUP:0", "x"], &[], None);
    assert_eq!(
        c.rewrite,
        vec![(15, 3), (1, 0)],
        "a flag may list pairs; TO 0 drops"
    );
    let c = ok(
        &["--remap-exit", "143:0", "x"],
        &[("SEALINIT_REMAP_EXIT", "143:1,2:3")],
        None,
    );
    assert_eq!(
        c.remap_exit,
        vec![(143, 0), (2, 3)],
        "flag's TO for 143 wins"
    );
}

#[test]
fn precedence_allow_exec_from_spec_survives_a_flag_redeclaring_the_mount() {
    let spec = "[[mount]]\npath = \"/tmp\"\nkind = \"emptydir\"\nallow_exec = true\n";
    let c = ok(&["--emptydir", "/tmp:1Gi", "true"], &[], Some(spec));
    assert!(mount(&c, "/tmp").allow_exec);
    assert_eq!(mount(&c, "/tmp").size_limit, Some(1 << 30));
    let c = ok(
        &[
            "--emptydir",
            "/a",
            "--emptydir",
            "/b",
            "--allow-exec",
            "/b/",
            "true",
        ],
        &[],
        None,
    );
    assert!(!mount(&c, "/a").allow_exec);
    assert!(mount(&c, "/b").allow_exec, "normalised path matches");
    let c = ok(
        &["--tmpfs", "/a", "true"],
        &[("SEALINIT_ALLOW_EXEC", "/a")],
        None,
    );
    assert!(mount(&c, "/a").allow_exec);
}

#[test]
fn new_options_parse_into_typed_fields() {
    let c = ok(
        &[
            "--rewrite",
            "TERM:QUIT",
            "--remap-exit",
            "143:0",
            "--pdeathsig",
            "KILL",
            "--metrics",
            "[::1]:9090",
            "--rescan",
            "1s",
            "--termination-log",
            "/tmp/why",
            "--log-timestamps",
            "-q",
            "true",
        ],
        &[],
        None,
    );
    assert_eq!(c.rewrite, vec![(15, 3)]);
    assert_eq!(c.remap_exit, vec![(143, 0)]);
    assert_eq!(c.pdeathsig, Some(libc::SIGKILL));
    assert_eq!(c.metrics, Some("[::1]:9090".parse().expect("addr")));
    assert_eq!(c.rescan, Duration::from_secs(1));
    assert_eq!(c.termination_log, TerminationLog::Path("/tmp/why".into()));
    assert!(c.output.log_timestamps);
    assert_eq!(c.output.verbosity, Verbosity::Error, "-q: errors only");
    let c = ok(
        &["true"],
        &[
            ("SEALINIT_TERMINATION_LOG", ""),
            ("SEALINIT_LOG_TIMESTAMPS", "1"),
        ],
        None,
    );
    assert_eq!(c.termination_log, TerminationLog::Off, "empty value: off");
    assert!(c.output.log_timestamps);
    let c = ok(&["learn", "--out", "/tmp/l.toml", "--", "nginx"], &[], None);
    assert_eq!(
        c.command,
        Command::Learn {
            argv: vec!["nginx".into()],
            out: Some("/tmp/l.toml".into()),
            report_every: DEFAULT_REPORT_EVERY,
        }
    );
    let c = ok(&["learn", "x"], &[("SEALINIT_REPORT_EVERY", "5m")], None);
    assert!(
        matches!(c.command, Command::Learn { report_every, out: None, .. } if report_every == Duration::from_secs(300))
    );
    let c = ok(&["check", "--print-spec"], &[], None);
    assert_eq!(c.command, Command::Check { print_spec: true });
}

/// Every bad value is a usage error naming where it came from: the flag,
/// the variable, or the spec file's line and key.
#[test]
#[rustfmt::skip]
fn bad_values_name_their_source() {
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], Option<&'a str>, &'a str);
    let cases: &[Case] = &[
        ("rewrite flag", &["--rewrite", "TERM", "x"], &[], None, "--rewrite: expected FROM:TO with signal names"),
        ("rewrite env", &["x"], &[("SEALINIT_REWRITE", "TERM:QUIT,NOPE:HUP")], None, "SEALINIT_REWRITE: expected FROM:TO"),
        ("rewrite spec", &["x"], &[], Some("\nrewrite = [\"TERM:9999\"]\n"), "/etc/sealinit/spec.toml:2: key `rewrite`"),
        ("remap flag", &["--remap-exit", "143:256", "x"], &[], None, "--remap-exit: expected FROM:TO with exit codes"),
        ("remap env", &["x"], &[("SEALINIT_REMAP_EXIT", "x:0")], None, "SEALINIT_REMAP_EXIT: expected FROM:TO"),
        ("remap spec", &["x"], &[], Some("remap_exit = [\"-1:0\"]"), "spec.toml:1: key `remap_exit`"),
        ("pdeathsig flag", &["--pdeathsig", "DIE", "x"], &[], None, "--pdeathsig: expected a signal"),
        ("pdeathsig env", &["x"], &[("SEALINIT_PDEATHSIG", "0")], None, "SEALINIT_PDEATHSIG: expected a signal"),
        ("pdeathsig spec", &["x"], &[], Some("pdeathsig = 9"), "spec.toml:1: key `pdeathsig`"),
        ("metrics not an IP", &["--metrics", "999.1.1.1:80", "x"], &[], None, "--metrics: expected IP:PORT"),
        ("metrics host name", &["x"], &[("SEALINIT_METRICS", "localhost:9090")], None, "SEALINIT_METRICS: expected IP:PORT"),
        ("metrics no port", &["--metrics", "10.0.0.1", "x"], &[], None, "no port"),
        ("rescan zero", &["--rescan", "0s", "x"], &[], None, "--rescan: expected a period of at least 1s"),
        ("rescan env", &["x"], &[("SEALINIT_RESCAN", "999ms")], None, "SEALINIT_RESCAN: expected a period of at least 1s"),
        ("rescan spec", &["x"], &[], Some("rescan = \"0s\""), "spec.toml:1: key `rescan`"),
        ("termination log relative", &["--termination-log", "log", "x"], &[], None, "--termination-log: expected an absolute path"),
        ("report-every zero", &["learn", "--report-every", "0s", "x"], &[], None, "--report-every: expected a period above 0"),
        ("out empty", &["learn", "--out=", "x"], &[], None, "--out: expected a file name"),
        ("learn without command", &["learn"], &[], None, "no command to run: sealinit learn"),
        ("allow-exec undeclared", &["--allow-exec", "/x", "true"], &[], None, "--allow-exec: /x is not a declared mount"),
        ("allow-exec env undeclared", &["true"], &[("SEALINIT_ALLOW_EXEC", "/x")], None, "SEALINIT_ALLOW_EXEC: /x is not a declared mount"),
        ("allow-exec relative", &["--allow-exec", "x", "true"], &[], None, "--allow-exec: expected an absolute path"),
        ("allow_exec spec", &["x"], &[], Some("[[mount]]\npath = \"/a\"\nkind = \"pvc\"\nallow_exec = 1"), "spec.toml:4: key `mount.allow_exec`"),
        ("log format", &["--log-format", "yaml", "x"], &[], None, "--log-format: expected text or json"),
        ("warn above act", &["--warn-at", "96", "x"], &[], None, "--warn-at (96%) must not be above --act-at (95%)"),
        ("no command", &[], &[], None, "no command to run: sealinit [OPTIONS] -- COMMAND"),
    ];
    for (name, args, env, spec, want) in cases {
        let err = fold_with(args, env, *spec).expect_err(name);
        assert!(err.0.contains(want), "{name}: {err}");
    }
}

#[test]
fn a_spec_file_named_by_a_flag_or_variable_is_named_in_its_errors() {
    let parsed = parse_args(&["check".into()]).expect("parses");
    for by in ["--spec", "SEALINIT_SPEC"] {
        let text = SpecText {
            path: "/s.toml".into(),
            named_by: Some(by.into()),
            text: Ok("grace = 1\n".into()),
        };
        let err = fold(
            &parsed,
            &crate::core::cli::parser::Layer::env(),
            Some(&text),
        )
        .expect_err(by);
        assert!(
            err.0.starts_with(&format!("{by}: /s.toml:1: key `grace`")),
            "{err}"
        );
    }
}

#[test]
fn mounts_shows_no_contract_when_it_does_not_resolve() {
    let c = ok(&["mounts"], &[("SEALINIT_MOUNTS", "nope")], None);
    assert_eq!(c.command, Command::Mounts);
    assert!(c.spec.mounts.is_empty());
    let c = ok(
        &["mounts"],
        &[("SEALINIT_TMPFS", "/a"), ("SEALINIT_GRACE", "bad")],
        None,
    );
    assert_eq!(
        c.spec.mounts.len(),
        0,
        "a bad setting breaks the contract: none shown"
    );
    let c = ok(&["mounts"], &[("SEALINIT_TMPFS", "/a")], None);
    assert_eq!(c.spec.mounts.len(), 1);
}

#[test]
fn plan_reads_no_contract() {
    let c = ok(
        &["plan", "kafka", "--daily", "10Gi", "--retention-days", "7"],
        &[("SEALINIT_GRACE", "bad")],
        None,
    );
    assert!(matches!(c.command, Command::Plan { .. }));
}

/// `--print-spec` prints what will run: folding its output alone gives the
/// same configuration.
#[test]
fn print_spec_round_trips_to_the_same_config() {
    type Case<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        ("defaults", &["check"], &[]),
        ("nginx profile", &["check", "--profile", "nginx"], &[]),
        (
            "postgres over env",
            &["check", "--profile", "postgres"],
            &[("SEALINIT_WARN_AT", "70")],
        ),
        (
            "every spec key",
            &[
                "check",
                "--tmpfs",
                "/dev/shm:1Gi",
                "--emptydir",
                "/tmp",
                "--allow-exec",
                "/tmp",
                "--readonly",
                "/etc/x",
                "--root",
                "any",
                "--on-violation",
                "warn",
                "--require-non-root",
            ],
            &[
                ("SEALINIT_GRACE", "1500ms"),
                ("SEALINIT_REWRITE", "TERM:QUIT,RTMIN+2:USR1,HUP:0"),
                ("SEALINIT_REMAP_EXIT", "143:0"),
                ("SEALINIT_PDEATHSIG", "KILL"),
                ("SEALINIT_RESCAN", "2m"),
                ("SEALINIT_LIMIT_ACTION", "signal:USR2"),
                ("SEALINIT_ON_TAMPER", "stop"),
                ("SEALINIT_EPHEMERAL_LIMIT", "3Gi"),
                ("SEALINIT_ACT_AT", "99"),
            ],
        ),
    ];
    for (name, args, env) in cases {
        let first = ok(args, env, None);
        let printed = first.print_spec();
        let again = ok(&["check"], &[], Some(&printed));
        assert_eq!(again, first, "{name}:\n{printed}");
        assert_eq!(again.print_spec(), printed, "{name}: stable");
    }
}
