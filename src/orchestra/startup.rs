//! Start-up checks, end to end: gather the facts once (`edge::probe`), judge
//! them (`core::checks`), and emit one `check` event per finding and a final
//! `checks.summary` (the lead's log layer formats them). The caller decides
//! what a failure means (`--on-violation`, `sealinit check`'s exit code).

use std::path::Path;

use crate::core::checks::{evaluate, is_plain_init, Finding, Summary};
use crate::core::contract::spec::Spec;
use crate::core::mounts::facts::Facts;
use crate::core::render::logfmt::Record;
use crate::core::render::report::{check_records, check_records_at, headline, Audience};
use crate::edge::log;
use crate::edge::probe::{gather_holding, ProbeFiles};

/// What one check run found.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The facts the findings were judged from (the mount table is reusable,
    /// e.g. for `sealinit mounts` or the usage watcher).
    pub facts: Facts,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl CheckOutcome {
    /// Whether any finding failed (a violation of the contract).
    pub fn has_failures(&self) -> bool {
        self.summary.fail > 0
    }

    /// The report's headline (`check: FAIL 2 failed, ...`).
    pub fn headline(&self) -> String {
        headline(&self.findings, &self.facts)
    }
}

/// Gathers the facts once (one read of `proc_mountinfo`, one probe per
/// declared path) and evaluates them against `spec`. No `proc_mountinfo`:
/// the table is not read and judged as empty (a plain init's, see
/// `app::check_contract`).
pub fn run_checks(spec: &Spec, proc_mountinfo: Option<&Path>) -> CheckOutcome {
    run_checks_holding(spec, proc_mountinfo, &mut ProbeFiles::default())
}

/// [`run_checks`], the write probes' files left open in `held` (closed
/// when the caller drops it: after the spawn, for an init).
pub fn run_checks_holding(
    spec: &Spec,
    proc_mountinfo: Option<&Path>,
    held: &mut ProbeFiles,
) -> CheckOutcome {
    let facts = gather_holding(spec, proc_mountinfo, held);
    let findings = evaluate(spec, &facts);
    let summary = Summary::of(&findings);
    CheckOutcome {
        facts,
        findings,
        summary,
    }
}

/// Writes the report to the log (stderr): see [`check_records`] for what a
/// clean result says at each level. `plain`: the spec is no contract
/// ([`is_plain_init`]), so a clean result prints nothing.
pub fn emit(outcome: &CheckOutcome, spec: &Spec) {
    let audience = Audience::Startup {
        plain: is_plain_init(spec),
    };
    let records = check_records_at(&outcome.findings, &outcome.facts, audience, log::enabled);
    if !records.is_empty() {
        log::emit(&records);
    }
}

/// `sealinit check`: the report on stdout, every line.
pub fn print(outcome: &CheckOutcome) -> std::io::Result<()> {
    log::print(&records(outcome, Audience::Check))
}

/// The report's records.
pub fn records(outcome: &CheckOutcome, audience: Audience) -> Vec<Record> {
    check_records(&outcome.findings, &outcome.facts, audience)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::contract::spec::{MountKind, MountSpec, RootPolicy};
    use crate::core::render::logfmt::{self, Value};

    fn field<'a>(r: &'a Record, name: &str) -> Option<&'a Value> {
        r.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    fn str_field<'a>(r: &'a Record, name: &str) -> Option<&'a str> {
        match field(r, name) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    #[test]
    fn a_real_failing_report_has_every_line_and_fits_120_columns() {
        let dir = std::env::temp_dir().join(format!("sealinit-startup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let spec = Spec {
            root: RootPolicy::Any,
            mounts: vec![MountSpec {
                path: dir.join("missing"),
                kind: MountKind::EmptyDir,
                size_limit: Some(1 << 20),
                allow_exec: false,
            }],
            ..Spec::default()
        };
        let outcome = run_checks(&spec, Some(Path::new("/proc/self/mountinfo")));
        std::fs::remove_dir_all(&dir).expect("cleanup");
        let recs = records(&outcome, Audience::Startup { plain: false });

        assert_eq!(recs.len(), outcome.findings.len() + 1);
        let missing = recs
            .iter()
            .find(|r| str_field(r, "verdict") == Some("fail"))
            .expect("a failing check record");
        assert_eq!(missing.level, "error");
        assert_eq!(missing.event, "check");
        assert_eq!(str_field(missing, "kind"), Some("emptydir"));
        assert!(str_field(missing, "observed").is_some_and(|o| o.ends_with("does not exist")));
        assert!(str_field(missing, "fix").is_some_and(|f| f.contains("sizeLimit:")));
        let passes: Vec<_> = recs
            .iter()
            .filter(|r| str_field(r, "verdict") == Some("pass"))
            .collect();
        assert!(!passes.is_empty(), "identity passes: {recs:?}");
        assert!(
            passes
                .iter()
                .all(|r| r.level == "info" && field(r, "fix").is_none()),
            "passes show (something failed) and carry no fix: {passes:?}"
        );
        let last = recs.last().expect("summary");
        assert_eq!(last.level, "error");
        assert_eq!(last.event, "checks.summary");
        assert_eq!(field(last, "fail"), Some(&Value::U64(1)));
        assert!(last.msg.starts_with("check: FAIL 1 failed"));
        assert!(outcome.has_failures());

        // As `kubectl logs` shows it: every line within 120 columns, the
        // why and the fix on lines of their own.
        let text: String = recs.iter().map(logfmt::text).collect();
        // (A single word longer than a line, such as a long path from the
        // host's mount table, is kept whole.)
        for line in text.lines() {
            let one_word = line["sealinit:".len()..].split_whitespace().count() == 1;
            assert!(
                line.chars().count() <= logfmt::TEXT_WIDTH || one_word,
                "{} columns: {line}\n{text}",
                line.chars().count()
            );
        }
        assert!(text.contains("\nsealinit:   why: "), "{text}");
        assert!(text.contains("\nsealinit:   fix:\n"), "{text}");
    }
}
