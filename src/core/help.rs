//! `sealinit --help`: generated from the option table so it can never drift
//! from what the parser accepts.

use std::fmt::Write as _;

use super::cli::{env_name, OPTIONS};

const HEAD: &str = "\
sealinit: PID 1 and storage guard for containers with a read-only root

USAGE
  sealinit [OPTIONS] [--] COMMAND [ARG...]   check the storage contract, then run COMMAND as PID 1
  sealinit check [OPTIONS]                   checks only: exit 0 clean, 1 violations (exec probes)
  sealinit mounts [--log-format json]        the live mount table, classified
  sealinit manifest [OPTIONS]                Kubernetes/docker/compose YAML for the contract
  sealinit plan KIND [OPTIONS]               size the mounts by the seed's rules, as a spec file
  sealinit learn [--out FILE] [OPTIONS] -- COMMAND [ARG...]
                                             run COMMAND on a writable root, learn its contract
  sealinit --help | --version

EXAMPLES
  ENTRYPOINT [\"/usr/bin/sealinit\", \"--profile\", \"nginx\", \"--\"]
  sealinit --tmpfs /dev/shm:1Gi --emptydir /tmp:500Mi --limit-action stop -- python3 app.py
  kubectl exec POD -- sealinit check --log-format json
  sealinit manifest --profile postgres --workload statefulset --name db --image postgres:16
";

const TAIL: &str = "
Every option has an environment mirror: --some-name is SEALINIT_SOME_NAME (switches take
1/0, repeatable mount options take comma-separated lists). Flags win over the environment,
the environment over the spec file, the spec file over a profile; mounts merge per path.
SIZE is a Kubernetes quantity: 100Mi, 5Gi, 1.5G, 500M, 1e9, 128974848.

SPEC FILE (TOML)
  root = \"read-only\"          # or \"any\"
  on_violation = \"fail\"       # or \"warn\"
  [[mount]]
  path = \"/var/cache/nginx\"
  kind = \"emptydir\"           # tmpfs | emptydir | pvc | readonly | secret
  size_limit = \"5Gi\"

EXIT CODES
  the workload's own code; 128+N if it died of signal N; 126 not executable; 127 not found;
  64 usage or spec error; 78 start-up violation (--on-violation fail);
  75 stopped by --limit-action stop; 77 stopped by --on-tamper stop; 71 internal error.

Diagnostics go to stderr, one event per line, prefixed `sealinit:` (or JSON objects with
--log-format json: level, event, msg and the event's fields).
";

/// The full help text.
pub fn text() -> String {
    let mut out = String::from(HEAD);
    let groups = [
        ("contract", "STORAGE CONTRACT"),
        ("checks", "START-UP CHECKS"),
        ("usage", "USAGE WATCH AND TAMPER"),
        ("init", "INIT"),
        ("manifest", "MANIFEST"),
        ("plan", "PLAN (sealinit plan web|data|postgres|kafka)"),
        ("learn", "LEARN (sealinit learn -- COMMAND)"),
        ("output", "OUTPUT"),
    ];
    for (key, title) in groups {
        let _ = write!(out, "\n{title}\n");
        for o in OPTIONS.iter().filter(|o| o.group == key) {
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
    out.push_str(TAIL);
    out
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
}
