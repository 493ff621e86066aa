//! Tests of the parser, the env mirrors and the format hint.

use super::*;
use crate::core::cli::options::LogFormat;

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs
        .iter()
        .map(|(k, v)| (OsString::from(k), OsString::from(v)))
        .collect()
}

#[test]
fn workload_starts_at_first_positional_or_after_double_dash() {
    type Case<'a> = (&'a [&'a str], Sub, &'a [&'a str], &'a [(Opt, &'a str)]);
    let cases: &[Case] = &[
        (&["--", "sh", "-c", "x"], Sub::Run, &["sh", "-c", "x"], &[]),
        (
            &["-g", "sleep", "-v"],
            Sub::Run,
            &["sleep", "-v"],
            &[(Opt::Pgroup, "")],
        ),
        (
            &["--grace=3s", "--", "check"],
            Sub::Run,
            &["check"],
            &[(Opt::Grace, "3s")],
        ),
        (
            &["--grace", "3s", "true"],
            Sub::Run,
            &["true"],
            &[(Opt::Grace, "3s")],
        ),
        (
            &["check", "--profile", "nginx"],
            Sub::Check,
            &[],
            &[(Opt::Profile, "nginx")],
        ),
        (
            &["--profile", "app", "check"],
            Sub::Check,
            &[],
            &[(Opt::Profile, "app")],
        ),
        (&["plan", "web", "x"], Sub::Plan, &["web", "x"], &[]),
        (
            &["-vv", "true"],
            Sub::Run,
            &["true"],
            &[(Opt::Verbose, ""), (Opt::Verbose, "")],
        ),
        (
            &["learn", "--out", "/tmp/l.toml", "--", "nginx", "-g", "x"],
            Sub::Learn,
            &["nginx", "-g", "x"],
            &[(Opt::Out, "/tmp/l.toml")],
        ),
        (
            &[
                "learn",
                "--report-every",
                "5s",
                "redis-server",
                "--port",
                "1",
            ],
            Sub::Learn,
            &["redis-server", "--port", "1"],
            &[(Opt::ReportEvery, "5s")],
        ),
        (
            &["--rewrite", "TERM:QUIT", "--rewrite=USR1:USR2", "nginx"],
            Sub::Run,
            &["nginx"],
            &[(Opt::Rewrite, "TERM:QUIT"), (Opt::Rewrite, "USR1:USR2")],
        ),
        (
            &["--termination-log=", "true"],
            Sub::Run,
            &["true"],
            &[(Opt::TerminationLog, "")],
        ),
    ];
    for (args, sub, argv, flags) in cases {
        let p = parse_args(&os(args)).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(p.sub, *sub, "{args:?}");
        assert_eq!(p.argv, os(argv), "{args:?}");
        let want: Vec<(Opt, String)> = flags.iter().map(|(n, v)| (*n, v.to_string())).collect();
        assert_eq!(p.flags.values, want, "{args:?}");
    }
}

#[test]
fn version_and_help_switches() {
    for args in [&["-V"][..], &["--version"], &["-gV", "true"]] {
        let p = parse_args(&os(args)).expect("parses");
        assert!(p.version, "{args:?}");
    }
    let p = parse_args(&os(&["check", "-h"])).expect("parses");
    assert!(p.help && p.sub == Sub::Check);
    let p = parse_args(&os(&["learn", "--help"])).expect("parses");
    assert!(p.help && p.sub == Sub::Learn);
    let err = parse_args(&os(&["--version=1"])).expect_err("accepted");
    assert!(err.0.contains("--version takes no value"), "{err}");
}

#[test]
fn bad_arguments_name_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--nope"], "--nope"),
        (&["-x"], "-x"),
        (&["--grace"], "--grace needs a value"),
        (&["--rewrite"], "--rewrite needs a value: --rewrite FROM:TO"),
        (&["--pgroup=1"], "--pgroup takes no value"),
        (&["check", "extra"], "unexpected argument"),
        (
            &["mounts", "--grace", "1s"],
            "--grace does not apply to sealinit mounts",
        ),
        (
            &["check", "--out", "x"],
            "--out does not apply to sealinit check",
        ),
        (
            &["plan", "web", "--rewrite", "TERM:QUIT"],
            "--rewrite does not apply to sealinit plan",
        ),
        (
            &["learn", "--metrics", ":9090", "--", "x"],
            "--metrics does not apply to sealinit learn; it is an option of sealinit [OPTIONS] -- COMMAND",
        ),
        (
            &["--report-every", "5s", "--", "x"],
            "--report-every does not apply to running a command; it is an option of sealinit learn (see sealinit --help)",
        ),
        (
            &["plan", "web", "--grace", "1s"],
            "it is an option of sealinit [OPTIONS] -- COMMAND, sealinit learn (see sealinit plan --help)",
        ),
    ];
    for (args, want) in cases {
        let err = parse_args(&os(args)).expect_err(&format!("{args:?} accepted"));
        assert!(err.0.contains(want), "{args:?}: {err}");
    }
}

#[test]
fn env_mirrors_every_option() {
    for def in OPTIONS {
        let var = env_name(def.name);
        assert!(var.starts_with("SEALINIT_") && !var.contains('-'), "{var}");
        assert_eq!(def.id.env(), var);
    }
    assert_eq!(env_name("on-violation"), "SEALINIT_ON_VIOLATION");
    let layer = env_layer(vars(&[
        ("SEALINIT_GRACE", "5s"),
        ("SEALINIT_PGROUP", "true"),
        ("SEALINIT_TMPFS", "/a:1Gi,/b"),
        ("SEALINIT_REWRITE", "TERM:QUIT, USR1:USR2"),
        ("SEALINIT_GRACEE", "typo"),
        ("sealinit_grace", "lower case is not a mirror"),
        ("PATH", "/bin"),
    ]))
    .expect("env");
    assert_eq!(layer.get(Opt::Grace), Some("5s"));
    assert_eq!(layer.count(Opt::Pgroup), 1);
    assert_eq!(
        layer.all(Opt::Tmpfs).collect::<Vec<_>>(),
        vec!["/a:1Gi", "/b"]
    );
    assert_eq!(
        layer.all(Opt::Rewrite).collect::<Vec<_>>(),
        vec!["TERM:QUIT", "USR1:USR2"]
    );
    assert_eq!(layer.unknown, vec!["SEALINIT_GRACEE".to_string()]);
    let bad = env_layer(vars(&[("SEALINIT_PGROUP", "maybe")]));
    assert!(bad.expect_err("accepted").0.starts_with("SEALINIT_PGROUP:"));
    let lower = env_layer(vars(&[("SEALINIT_grace", "5s")])).expect("env");
    assert_eq!(lower.get(Opt::Grace), None, "only upper-case mirrors count");
}

#[test]
fn flags_win_over_env_and_errors_name_the_source() {
    let mut flags = Layer::flags();
    flags.values.push((Opt::Grace, "bad".into()));
    let mut env = Layer::env();
    env.values.push((Opt::Grace, "5s".into()));
    env.values.push((Opt::WarnAt, "x".into()));
    let g = typed(
        pick(&flags, &env, Opt::Grace),
        crate::core::cli::options::parse_duration,
    );
    assert!(g.expect_err("accepted").0.starts_with("--grace:"));
    let w = typed(
        pick(&Layer::flags(), &env, Opt::WarnAt),
        crate::core::cli::options::parse_percent,
    );
    assert!(w.expect_err("accepted").0.starts_with("SEALINIT_WARN_AT:"));
    let ok = typed(
        pick(&Layer::flags(), &env, Opt::Grace),
        crate::core::cli::options::parse_duration,
    );
    assert_eq!(ok, Ok(Some(std::time::Duration::from_secs(5))));
}

/// The format of a usage error is known before the command line is valid.
#[test]
fn log_format_hint_never_fails() {
    let json = Some(std::ffi::OsStr::new("json"));
    type Case<'a> = (
        &'a str,
        &'a [&'a str],
        Option<&'a std::ffi::OsStr>,
        LogFormat,
    );
    let cases: &[Case] = &[
        ("nothing", &[], None, LogFormat::Text),
        ("env json", &["--nope"], json, LogFormat::Json),
        (
            "flag json",
            &["--log-format", "json", "--nope"],
            None,
            LogFormat::Json,
        ),
        (
            "inline flag",
            &["check", "--log-format=json"],
            None,
            LogFormat::Json,
        ),
        (
            "flag beats env",
            &["--log-format=text"],
            json,
            LogFormat::Text,
        ),
        (
            "bad value ignored",
            &["--log-format=yaml"],
            json,
            LogFormat::Json,
        ),
        (
            "workload args are not sealinit's",
            &["--", "prog", "--log-format", "json"],
            None,
            LogFormat::Text,
        ),
        (
            "after the command",
            &["prog", "--log-format", "json"],
            None,
            LogFormat::Text,
        ),
        (
            "a value that looks like a subcommand",
            &["--grace", "check", "--log-format", "json"],
            None,
            LogFormat::Json,
        ),
        ("dangling", &["--log-format"], None, LogFormat::Text),
    ];
    for (name, args, env, want) in cases {
        assert_eq!(log_format_hint(&os(args), *env), *want, "{name}");
    }
}
