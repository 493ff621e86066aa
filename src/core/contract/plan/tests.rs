//! One table-driven case per seed sizing example, the spec file read back
//! with a real TOML parser, and the errors for bad input.

use super::*;
use crate::core::render::manifest::{render, ManifestOptions};

const GI: u64 = 1 << 30;

/// (path, kind, size) of a planned mount.
type Want = (&'static str, MountKind, Option<u64>);

struct Case {
    name: &'static str,
    input: PlanInput,
    mounts: Vec<Want>,
    /// Substrings the arithmetic must show (quantities via `q`).
    shows: Vec<String>,
    ephemeral: Option<(u64, u64)>,
}

fn cases() -> Vec<Case> {
    use MountKind::*;
    vec![
        Case {
            // Seed Part 4: "PostgreSQL with 4GB of shared buffers ... 2-3GB for /tmp ...
            // 100MB for /var/run"; Part 3: /dev/shm about 25% of shared_buffers.
            name: "postgres 4 GB shared_buffers",
            input: PlanInput::Postgres {
                shared_buffers: 4 * GI,
                sort_hash: None,
                data: None,
            },
            mounts: vec![
                ("/var/lib/postgresql/data", Pvc, None),
                ("/var/run/postgresql", EmptyDir, Some(100 * MI)),
                ("/tmp", EmptyDir, Some(3 * GI)),
                ("/dev/shm", Tmpfs, Some(GI)),
            ],
            shows: vec![
                format!("= {} to {}", q(2 * GI), q(3 * GI)),
                format!("/dev/shm = 25% × {} shared_buffers = {}", q(4 * GI), q(GI)),
                format!("/var/run/postgresql = {}", q(100 * MI)),
            ],
            // (3Gi + 100Mi) = 3172Mi × 1.2 = 3806.4Mi → 3807Mi
            ephemeral: Some((3807 * MI, 7614 * MI)),
        },
        Case {
            name: "postgres with sort/hash need and data size",
            input: PlanInput::Postgres {
                shared_buffers: 8 * GI,
                sort_hash: Some(6 * GI),
                data: Some(25 * GI),
            },
            mounts: vec![
                ("/var/lib/postgresql/data", Pvc, Some(50 * GI)),
                ("/var/run/postgresql", EmptyDir, Some(100 * MI)),
                ("/tmp", EmptyDir, Some(6 * GI)),
                ("/dev/shm", Tmpfs, Some(2 * GI)),
            ],
            shows: vec![format!("= 2 × {} data = {}", q(25 * GI), q(50 * GI))],
            // (6Gi + 100Mi) = 6244Mi × 1.2 = 7492.8Mi → 7493Mi
            ephemeral: Some((7493 * MI, 14986 * MI)),
        },
        Case {
            // Seed Part 3: "100GB of messages per day ... 700GB for 7 days ...
            // 70GB of temporary space"; its manifest says 700Gi and 70Gi.
            name: "kafka 100Gi/day for 7 days",
            input: PlanInput::Kafka {
                daily: 100 * GI,
                retention_days: 7,
            },
            mounts: vec![
                ("/var/lib/kafka/data", Pvc, Some(700 * GI)),
                ("/tmp", EmptyDir, Some(70 * GI)),
            ],
            shows: vec![format!(
                "7 days × {} per day = {}",
                q(100 * GI),
                q(700 * GI)
            )],
            ephemeral: Some((84 * GI, 168 * GI)),
        },
        Case {
            name: "kafka 100G/day (decimal) for 30 days",
            input: PlanInput::Kafka {
                daily: 100_000_000_000,
                retention_days: 30,
            },
            mounts: vec![
                ("/var/lib/kafka/data", Pvc, Some(3_000_000_000_000)),
                ("/tmp", EmptyDir, Some(300_000_000_000)),
            ],
            shows: vec![format!(
                "10% × {} = {}",
                q(3_000_000_000_000),
                q(300_000_000_000)
            )],
            ephemeral: Some((360_000_000_000, 720_000_000_000)),
        },
        Case {
            // Seed Part 4: 100MB base + 10MB per concurrent request + cache.
            name: "web 8 requests, 200Mi cache",
            input: PlanInput::Web {
                concurrency: 8,
                cache: Some(200 * MI),
                working_memory: None,
            },
            mounts: vec![("/tmp", EmptyDir, Some(380 * MI))],
            shows: vec![format!(
                "web /tmp = {} base + 8 × {} per concurrent request + {} cache = {}",
                q(100 * MI),
                q(10 * MI),
                q(200 * MI),
                q(380 * MI)
            )],
            ephemeral: Some((456 * MI, 912 * MI)),
        },
        Case {
            name: "web 50 requests, cache 20% of 1Gi working memory",
            input: PlanInput::Web {
                concurrency: 50,
                cache: None,
                working_memory: Some(GI),
            },
            // 20% of 1024Mi = 204.8Mi → 205Mi; 100 + 500 + 205 = 805Mi
            mounts: vec![("/tmp", EmptyDir, Some(805 * MI))],
            shows: vec![format!(
                "cache = 20% of {} working memory = {}",
                q(GI),
                q(205 * MI)
            )],
            // 805Mi × 1.2 = 966Mi
            ephemeral: Some((966 * MI, 1932 * MI)),
        },
        Case {
            // Seed Part 4: input + 2-3 × intermediate + output.
            name: "data 10Gi in, 5Gi intermediate × 3, 2Gi out",
            input: PlanInput::Data {
                input: 10 * GI,
                intermediate: 5 * GI,
                factor: 3,
                output: 2 * GI,
            },
            mounts: vec![("/tmp", EmptyDir, Some(27 * GI))],
            shows: vec![format!("{} to {}", q(22 * GI), q(27 * GI))],
            // 27Gi × 1.2 = 32.4Gi = 33177.6Mi → 33178Mi
            ephemeral: Some((33178 * MI, 66356 * MI)),
        },
    ]
}

#[test]
fn seed_examples() {
    for c in cases() {
        let p = plan(&c.input).unwrap_or_else(|e| panic!("case {}: {e}", c.name));
        let got: Vec<Want> = p
            .mounts
            .iter()
            .map(|m| {
                let path = m.mount.path.to_str().expect("utf-8");
                let want = c.mounts.iter().find(|w| w.0 == path);
                (want.map_or("?", |w| w.0), m.mount.kind, m.mount.size_limit)
            })
            .collect();
        assert_eq!(got, c.mounts, "case {}", c.name);
        let text = p.lines.join("\n");
        for s in &c.shows {
            assert!(
                text.contains(s.as_str()),
                "case {}: {s:?} not in\n{text}",
                c.name
            );
        }
        assert_eq!(p.ephemeral, c.ephemeral, "case {}", c.name);
        let (req, lim) = c.ephemeral.expect("every seed plan has an emptyDir");
        let want = format!("+ 20% = {}; limit = 2 × {} = {}", q(req), q(req), q(lim));
        assert!(
            text.contains(&want),
            "case {}: {want:?} not in\n{text}",
            c.name
        );
        check_spec_file(c.name, &p);
        // plan → spec → manifest is one chain
        render(&p.spec(), &ManifestOptions::default())
            .unwrap_or_else(|e| panic!("case {}: manifest: {e}", c.name));
    }
}

/// The spec file reads back with a real TOML parser and says what the plan says.
fn check_spec_file(name: &str, p: &Plan) {
    let text = p.spec_toml();
    let doc: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("case {name}: not TOML: {e}\n{text}"));
    assert_eq!(doc["root"].as_str(), Some("read-only"), "case {name}");
    let mounts = doc["mount"].as_array().expect("[[mount]]");
    assert_eq!(mounts.len(), p.mounts.len(), "case {name}");
    for (t, m) in mounts.iter().zip(&p.mounts) {
        assert_eq!(
            t.as_table().map(|t| t.len()),
            Some(2 + usize::from(m.mount.size_limit.is_some()))
        );
        assert_eq!(t["path"].as_str(), m.mount.path.to_str(), "case {name}");
        assert_eq!(
            t["kind"].as_str(),
            Some(m.mount.kind.as_str()),
            "case {name}"
        );
        let size = t
            .get("size_limit")
            .map(|s| quantity::parse(s.as_str().expect("string")).expect("a quantity"));
        assert_eq!(size, m.mount.size_limit, "case {name}");
    }
    for l in &p.lines {
        assert!(
            text.contains(&format!("# {l}\n")),
            "case {name}: arithmetic in comments"
        );
    }
}

#[test]
fn bad_input_names_the_input() {
    let web = |concurrency, cache, working_memory| PlanInput::Web {
        concurrency,
        cache,
        working_memory,
    };
    let cases: Vec<(&str, PlanInput, &str)> = vec![
        (
            "zero concurrency",
            web(0, None, None),
            "concurrency: expected",
        ),
        (
            "cache and working memory",
            web(1, Some(1), Some(1)),
            "not both",
        ),
        (
            "zero working memory",
            web(1, None, Some(0)),
            "working-memory",
        ),
        ("web overflow", web(u64::MAX, None, None), "overflows"),
        (
            "factor 4",
            PlanInput::Data {
                input: 1,
                intermediate: 1,
                factor: 4,
                output: 1,
            },
            "factor: expected 2 or 3",
        ),
        (
            "all zero",
            PlanInput::Data {
                input: 0,
                intermediate: 0,
                factor: 2,
                output: 0,
            },
            "at least one size",
        ),
        (
            "data overflow",
            PlanInput::Data {
                input: u64::MAX,
                intermediate: 0,
                factor: 2,
                output: 1,
            },
            "overflows",
        ),
        (
            "zero shared_buffers",
            PlanInput::Postgres {
                shared_buffers: 0,
                sort_hash: None,
                data: None,
            },
            "shared-buffers",
        ),
        (
            "zero retention",
            PlanInput::Kafka {
                daily: GI,
                retention_days: 0,
            },
            "retention-days",
        ),
        (
            "kafka overflow",
            PlanInput::Kafka {
                daily: u64::MAX / 2,
                retention_days: 7,
            },
            "overflows",
        ),
        (
            "ephemeral overflow",
            web(1, Some(u64::MAX - 110 * MI), None),
            "overflows",
        ),
    ];
    for (name, input, want) in cases {
        match plan(&input) {
            Ok(p) => panic!("case {name}: expected an error, got {:?}", p.lines),
            Err(e) => assert!(e.contains(want), "case {name}: {e}"),
        }
    }
}

#[test]
fn flag_parsers() {
    assert_eq!(parse_count("--concurrency", "8"), Ok(8));
    let cases = [
        (
            "--concurrency",
            "-3",
            "--concurrency: expected a whole number",
        ),
        (
            "--concurrency",
            "1.5",
            "--concurrency: expected a whole number",
        ),
        ("--retention-days", "", "--retention-days: expected"),
    ];
    for (what, input, want) in cases {
        let e = parse_count(what, input).expect_err(input);
        assert!(e.starts_with(want), "case {input:?}: {e}");
    }
    assert_eq!(parse_size("--daily", "100Gi"), Ok(100 * GI));
    let e = parse_size("--daily", "lots").expect_err("not a quantity");
    assert!(e.starts_with("--daily: "), "{e}");
}
