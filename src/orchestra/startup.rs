//! Start-up checks, end to end: gather the facts once (`edge::probe`), judge
//! them (`core::checks`), and emit one `check` event per finding and a final
//! `checks.summary` (the lead's log layer formats them). The caller decides
//! what a failure means (`--on-violation`, `sealinit check`'s exit code).

use std::path::Path;

use crate::core::checks::{evaluate, Finding, Summary, Verdict};
use crate::core::facts::Facts;
use crate::core::report::{finding_line, headline};
use crate::core::spec::Spec;
use crate::edge::probe::gather;

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
/// declared path) and evaluates them against `spec`.
pub fn run_checks(spec: &Spec, proc_mountinfo: &Path) -> CheckOutcome {
    let facts = gather(spec, proc_mountinfo);
    let findings = evaluate(spec, &facts);
    let summary = Summary::of(&findings);
    CheckOutcome {
        facts,
        findings,
        summary,
    }
}

/// Logs one finding as an `event = "check"` at the verdict's level; the
/// `fix` field is left out when there is none (an `Option` field records
/// nothing for `None`).
macro_rules! check_event {
    ($level:ident, $f:expr) => {{
        let f: &Finding = $f;
        tracing::$level!(
            event = "check",
            check = f.check,
            path = %f.path,
            kind = %f.kind,
            expected = %f.expected,
            observed = %f.observed,
            verdict = f.verdict.as_str(),
            why = %f.why,
            fix = f.fix.as_deref(),
            "{}",
            finding_line(f)
        )
    }};
}

/// Emits every finding (pass=info, warn=warn, fail=error), then
/// `event = "checks.summary"` with the counts and the headline as message.
pub fn emit(outcome: &CheckOutcome) {
    for f in &outcome.findings {
        match f.verdict {
            Verdict::Pass => check_event!(info, f),
            Verdict::Warn => check_event!(warn, f),
            Verdict::Fail => check_event!(error, f),
        }
    }
    let s = outcome.summary;
    let msg = outcome.headline();
    let id = &outcome.facts.identity;
    macro_rules! summary_event {
        ($level:ident) => {
            tracing::$level!(
                event = "checks.summary",
                verdict = s.verdict().as_str(),
                pass = s.pass,
                warn = s.warn,
                fail = s.fail,
                uid = u64::from(id.uid),
                gid = u64::from(id.gid),
                "{msg}"
            )
        };
    }
    match s.verdict() {
        Verdict::Pass => summary_event!(info),
        Verdict::Warn => summary_event!(warn),
        Verdict::Fail => summary_event!(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{MountKind, MountSpec, RootPolicy};
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing::{Event, Subscriber};
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    /// Records each event as (level, fields) for assertions.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<Recorded>>>);

    /// (level, [(field, value)]) of one event.
    type Recorded = (String, Vec<(String, String)>);

    struct Fields(Vec<(String, String)>);
    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0
                .push((field.name().to_string(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push((field.name().to_string(), value.to_string()));
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.0.push((field.name().to_string(), value.to_string()));
        }
    }

    impl<S: Subscriber> Layer<S> for Recorder {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            let mut f = Fields(Vec::new());
            event.record(&mut f);
            if let Ok(mut v) = self.0.lock() {
                v.push((event.metadata().level().to_string(), f.0));
            }
        }
    }

    fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn emit_logs_each_finding_then_the_summary() {
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
        let outcome = run_checks(&spec, Path::new("/proc/self/mountinfo"));
        let rec = Recorder::default();
        let sub = tracing_subscriber::registry().with(rec.clone());
        tracing::subscriber::with_default(sub, || emit(&outcome));
        let events = rec.0.lock().expect("lock").clone();
        std::fs::remove_dir_all(&dir).expect("cleanup");

        assert_eq!(events.len(), outcome.findings.len() + 1);
        let missing = events
            .iter()
            .find(|(_, f)| field(f, "verdict") == Some("fail"))
            .expect("a failing check event");
        assert_eq!(missing.0, "ERROR");
        assert_eq!(field(&missing.1, "event"), Some("check"));
        assert_eq!(field(&missing.1, "kind"), Some("emptydir"));
        assert!(field(&missing.1, "observed").is_some_and(|o| o.ends_with("does not exist")));
        assert!(field(&missing.1, "fix").is_some_and(|f| f.contains("sizeLimit:")));
        let passes: Vec<_> = events
            .iter()
            .filter(|(_, f)| field(f, "verdict") == Some("pass"))
            .collect();
        assert!(!passes.is_empty(), "identity passes: {events:?}");
        assert!(
            passes.iter().all(|(_, f)| field(f, "fix").is_none()),
            "no fix field without a fix: {passes:?}"
        );
        let (level, last) = events.last().expect("summary");
        assert_eq!(level, "ERROR");
        assert_eq!(field(last, "event"), Some("checks.summary"));
        assert_eq!(field(last, "fail"), Some("1"));
        assert!(field(last, "message").is_some_and(|m| m.starts_with("check: FAIL 1 failed")));
        assert!(outcome.has_failures());
    }
}
