//! `sealinit --help` and `sealinit SUBCOMMAND --help`: generated from the
//! option table so they can never drift from what the parser accepts. The
//! full page teaches (usage, examples, every option, the spec file, exit
//! codes); a subcommand's page lists that subcommand's options only.

use std::fmt::Write as _;

use super::parser::{env_name, OptDef, Sub, OPTIONS};

const HEAD: &str = "\
sealinit: PID 1 and storage guard for containers with a read-only root

USAGE
  sealinit [OPTIONS] [--] COMMAND [ARG...]   check the storage contract, then run COMMAND as PID 1
  sealinit check [OPTIONS]                   checks only: exit 0 clean, 1 violations (exec probes)
  sealinit mounts [--log-format json]        the live mount table, classified
  sealinit manifest [OPTIONS]                Kubernetes/docker/compose YAML for the contract
  sealinit plan KIND [OPTIONS]               size the mounts by the seed's rules, as a spec file
  sealinit learn [OPTIONS] -- COMMAND [ARG...]   run COMMAND on a writable root, learn the contract
  sealinit SUBCOMMAND --help                 that subcommand's options only
  sealinit --help | --version | -V

EXAMPLES
  ENTRYPOINT [\"/usr/bin/sealinit\", \"--profile\", \"nginx\", \"--\"]
  sealinit --tmpfs /dev/shm:1Gi --emptydir /tmp:500Mi --limit-action stop -- python3 app.py
  kubectl exec POD -- sealinit check --log-format json
  sealinit --profile nginx -- nginx -g 'daemon off;'     (TERM from Kubernetes reaches nginx as QUIT)
  sealinit --remap-exit 143:0 -- java -jar app.jar       (a JVM stopped by TERM exits 0)
  sealinit manifest --profile postgres --workload statefulset --name db --image postgres:16
";

const TAIL: &str = "
Every option has an environment mirror: --some-name is SEALINIT_SOME_NAME (switches take
1/0, repeatable mount options take comma-separated lists). Flags win over the environment,
the environment over the spec file, the spec file over a profile; mounts merge per path,
--rewrite and --remap-exit per FROM. Bad values exit 64 naming the flag or variable.
SIZE is a Kubernetes quantity: 100Mi, 5Gi, 1.5G, 500M, 1e9, 128974848.

SPEC FILE (TOML)
  root = \"read-only\"          # or \"any\"
  on_violation = \"fail\"       # or \"warn\"
  [[mount]]
  path = \"/var/cache/nginx\"
  kind = \"emptydir\"           # tmpfs | emptydir | pvc | readonly | secret
  size_limit = \"5Gi\"
  allow_exec = true           # optional: this mount may allow exec
  # also: warn_at, act_at, limit_action, grace, on_tamper, ephemeral_limit,
  # rescan = \"60s\", rewrite = [\"TERM:QUIT\"], remap_exit = [\"143:0\"], pdeathsig = \"TERM\"

EXIT CODES
  the workload's own code; 128+N if it died of signal N; 126 not executable; 127 not found;
  64 usage or spec error; 78 start-up violation (--on-violation fail);
  75 stopped by --limit-action stop; 77 stopped by --on-tamper stop; 71 internal error.

Diagnostics go to stderr, one event per line, prefixed `sealinit:` (or JSON objects with
--log-format json: level, event, msg and the event's fields).
";

/// The option sections, in order: (group key, title).
const GROUPS: [(&str, &str); 8] = [
    ("contract", "STORAGE CONTRACT"),
    ("checks", "START-UP CHECKS"),
    ("usage", "USAGE WATCH AND TAMPER"),
    ("init", "INIT"),
    ("learn", "LEARN"),
    ("manifest", "MANIFEST"),
    ("plan", "PLAN (sealinit plan web|data|postgres|kafka)"),
    ("output", "OUTPUT"),
];

/// The full help text.
pub fn text() -> String {
    let mut out = String::from(HEAD);
    write_options(&mut out, |_| true);
    out.push_str(TAIL);
    out
}

/// The help for `sub`: the full text for the default (`run`), else that
/// subcommand's usage line and its options only.
pub fn for_sub(sub: Sub) -> String {
    let usage = match sub {
        Sub::Run => return text(),
        Sub::Check => "sealinit check [OPTIONS]\n  run the start-up checks only: exit 0 clean, 1 violations (an exec probe),\n  or print the resolved contract (print-spec below)",
        Sub::Mounts => "sealinit mounts [OPTIONS]\n  the live mount table, classified, on stdout",
        Sub::Manifest => "sealinit manifest [OPTIONS]\n  Kubernetes, docker, podman or compose YAML/flags for the contract",
        Sub::Plan => "sealinit plan web|data|postgres|kafka [OPTIONS]\n  size the mounts by the seed's rules, printed as a spec file",
        Sub::Learn => "sealinit learn [OPTIONS] -- COMMAND [ARG...]\n  run COMMAND as PID 1 on a writable root and learn the storage contract it needs",
    };
    let mut out = format!("USAGE\n  {usage}\n");
    write_options(&mut out, |o| o.applies_to(sub));
    out.push_str("\nEvery option has an environment mirror SEALINIT_<NAME>; sealinit --help has the whole page.\n");
    out
}

fn write_options(out: &mut String, keep: impl Fn(&OptDef) -> bool) {
    for (key, title) in GROUPS {
        let mut rows = OPTIONS
            .iter()
            .filter(|o| o.group == key && keep(o))
            .peekable();
        if rows.peek().is_none() {
            continue;
        }
        let _ = write!(out, "\n{title}\n");
        for o in rows {
            let mut left = match o.short {
                Some(c) => format!("-{c}, --{}", o.name),
                None => format!("    --{}", o.name),
            };
            if let Some(v) = o.value {
                left.push(' ');
                left.push_str(v);
            }
            let _ = writeln!(out, "  {left:<40} {}", o.help);
            let _ = writeln!(out, "  {:<40} [env {}]", "", env_name(o.name));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn help_lists_every_option_and_its_env_mirror() {
        let text = super::text();
        for o in super::OPTIONS {
            assert!(
                text.contains(&format!("--{}", o.name)),
                "--{} missing",
                o.name
            );
            assert!(
                text.contains(&super::env_name(o.name)),
                "env of {} missing",
                o.name
            );
        }
    }

    /// The defaults are written once, in `config`; the help lines that
    /// quote them must agree.
    #[test]
    fn help_quotes_the_defaults_of_config() {
        use crate::core::cli::config as c;
        use crate::core::cli::parser::Opt;
        let secs = |d: std::time::Duration| format!("default {}s", d.as_secs());
        let cases = [
            (Opt::WarnAt, format!("default {}", c::DEFAULT_WARN_AT)),
            (Opt::ActAt, format!("default {}", c::DEFAULT_ACT_AT)),
            (Opt::Rescan, secs(c::DEFAULT_RESCAN)),
            (Opt::Grace, secs(c::DEFAULT_GRACE)),
            (Opt::ReportEvery, secs(c::DEFAULT_REPORT_EVERY)),
        ];
        for (opt, want) in cases {
            assert!(opt.def().help.contains(&want), "--{}: {want}", opt.name());
        }
    }

    #[test]
    fn every_option_has_a_help_section() {
        for o in super::OPTIONS {
            assert!(
                super::GROUPS.iter().any(|(k, _)| *k == o.group),
                "--{} is in no section",
                o.name
            );
        }
    }

    /// `sealinit check --help` (and each other subcommand's) lists exactly
    /// the options that subcommand accepts, each once.
    #[test]
    fn subcommand_help_lists_exactly_its_options() {
        use super::Sub;
        for sub in Sub::ALL.into_iter().skip(1) {
            let text = super::for_sub(sub);
            for o in super::OPTIONS {
                let shown = text
                    .lines()
                    .filter(|l| l.split_whitespace().any(|w| w == format!("--{}", o.name)))
                    .count();
                let want = usize::from(o.applies_to(sub));
                assert_eq!(shown, want, "sealinit {} --help: --{}", sub.name(), o.name);
            }
            assert!(text.starts_with(&format!("USAGE\n  sealinit {}", sub.name())));
        }
        assert_eq!(super::for_sub(Sub::Run), super::text());
    }
}
