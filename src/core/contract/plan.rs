//! `sealinit plan`: the seed's Part 4 sizing guide as a calculator that
//! shows its arithmetic and prints the result as a spec file `--spec`
//! accepts, so plan → spec → manifest → running check is one chain.
//!
//! Units: the seed writes "MB"/"GB" where its own manifests write `Mi`/`Gi`
//! ("100MB is sufficient" → `sizeLimit: 100Mi`, "700GB" of Kafka logs →
//! `storage: 700Gi`), and PostgreSQL's `shared_buffers = 4GB` means 4 GiB.
//! So the rule constants are binary (100 MB base = 100Mi). Inputs are byte
//! counts (the CLI parses Kubernetes quantities, so `100G` and `100Gi` both
//! work and keep their meaning). Fractions are exact when the result is a
//! whole number of bytes, else rounded up to a whole MiB
//! ([`manifest::scale_up`](crate::core::render::manifest::scale_up)).
//!
//! Rules (seed Part 3 and 4):
//! - Web: `/tmp` = 100Mi base + 10Mi × concurrent requests + cache; the cache
//!   is given, or 20% of the working memory (the top of the seed's 10–20%).
//! - Data: `/tmp` = input + factor × intermediate + output, factor 2 or 3.
//! - PostgreSQL: `/tmp` = the given sort/hash need, else 0.5–0.75 ×
//!   shared_buffers (reproduces "4 GB shared buffers → 2–3 GB /tmp"; the
//!   sizeLimit takes the upper bound); `/var/run/postgresql` = 100Mi (the
//!   Part 4 example; Part 3 says 10 MB suffices for the sockets alone);
//!   `/dev/shm` = 25% of shared_buffers; data PVC = 2 × the data if given.
//! - Kafka: PVC = retention days × daily volume, `/tmp` = 10% of that.
//!
//! Every plan ends with the ephemeral-storage request/limit of
//! [`manifest::ephemeral_rule`](crate::core::render::manifest::ephemeral_rule).

use std::path::PathBuf;

use crate::core::contract::quantity;
use crate::core::contract::spec::{MountKind, MountSpec, Spec};
use crate::core::render::manifest::{ephemeral_rule, scale_up};

const MI: u64 = 1 << 20;

/// What to size. Sizes are bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanInput {
    /// `--concurrency N [--cache SIZE | --working-memory SIZE]`
    Web {
        concurrency: u64,
        cache: Option<u64>,
        working_memory: Option<u64>,
    },
    /// `--input SIZE --intermediate SIZE [--factor 2|3] --output SIZE`
    Data {
        input: u64,
        intermediate: u64,
        factor: u64,
        output: u64,
    },
    /// `--shared-buffers SIZE [--sort-hash SIZE] [--data SIZE]`
    Postgres {
        shared_buffers: u64,
        sort_hash: Option<u64>,
        data: Option<u64>,
    },
    /// `--daily SIZE --retention-days N`
    Kafka { daily: u64, retention_days: u64 },
}

/// One planned mount and the reason for its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMount {
    pub mount: MountSpec,
    pub why: String,
}

/// The result: the arithmetic as lines, and the mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub title: String,
    /// Human-readable arithmetic, one step per line.
    pub lines: Vec<String>,
    pub mounts: Vec<PlannedMount>,
    /// ephemeral-storage (request, limit) by the Part 4 rule, if any
    /// disk-backed emptyDir was planned.
    pub ephemeral: Option<(u64, u64)>,
}

impl Plan {
    /// The plan as a contract (read-only root, the planned mounts).
    pub fn spec(&self) -> Spec {
        Spec {
            mounts: self.mounts.iter().map(|m| m.mount.clone()).collect(),
            ..Spec::default()
        }
    }

    /// The plan as a spec file (TOML), the arithmetic in comments.
    pub fn spec_toml(&self) -> String {
        let mut out = format!("# sealinit plan: {} (seed Part 4 sizing)\n", self.title);
        for l in &self.lines {
            out.push_str(&format!("# {l}\n"));
        }
        out.push_str("# Use: sealinit --spec FILE -- CMD; sealinit manifest --spec FILE\n");
        out.push_str("root = \"read-only\"\n");
        for m in &self.mounts {
            out.push_str(&format!("\n[[mount]]\n# {}\n", m.why));
            out.push_str(&format!(
                "path = {}\n",
                toml_quote(&m.mount.path.to_string_lossy())
            ));
            out.push_str(&format!("kind = \"{}\"\n", m.mount.kind.as_str()));
            if let Some(s) = m.mount.size_limit {
                out.push_str(&format!("size_limit = \"{}\"\n", quantity::format(s)));
            }
        }
        out
    }
}

fn toml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses a count flag (`--concurrency`, `--retention-days`, `--factor`):
/// a whole number, with the flag named in the error.
pub fn parse_count(what: &str, s: &str) -> Result<u64, String> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| format!("{what}: expected a whole number of at least 1, got {s:?}"))
}

/// Parses a size flag as a Kubernetes quantity, with the flag named.
pub fn parse_size(what: &str, s: &str) -> Result<u64, String> {
    quantity::parse(s).map_err(|e| format!("{what}: {e}"))
}

fn q(n: u64) -> String {
    quantity::format(n)
}

fn positive(what: &str, n: u64, meaning: &str) -> Result<u64, String> {
    if n == 0 {
        Err(format!("{what}: expected {meaning} of at least 1, got 0"))
    } else {
        Ok(n)
    }
}

fn overflow(what: &str) -> String {
    format!("{what} overflows 2^64 bytes; check the units of the inputs")
}

fn mul(a: u64, b: u64, what: &str) -> Result<u64, String> {
    a.checked_mul(b).ok_or_else(|| overflow(what))
}

fn sum(parts: &[u64], what: &str) -> Result<u64, String> {
    parts
        .iter()
        .try_fold(0u64, |acc, &p| acc.checked_add(p))
        .ok_or_else(|| overflow(what))
}

fn ratio(x: u64, num: u64, den: u64, what: &str) -> Result<u64, String> {
    scale_up(x, num, den).ok_or_else(|| overflow(what))
}

fn mount(path: &str, kind: MountKind, size: Option<u64>, why: String) -> PlannedMount {
    PlannedMount {
        mount: MountSpec {
            path: PathBuf::from(path),
            kind,
            size_limit: size,
            allow_exec: false,
        },
        why,
    }
}

/// Sizes the workload. Errors name the input and what was expected.
pub fn plan(input: &PlanInput) -> Result<Plan, String> {
    let mut p = match input {
        PlanInput::Web {
            concurrency,
            cache,
            working_memory,
        } => web(*concurrency, *cache, *working_memory)?,
        PlanInput::Data {
            input,
            intermediate,
            factor,
            output,
        } => data(*input, *intermediate, *factor, *output)?,
        PlanInput::Postgres {
            shared_buffers,
            sort_hash,
            data,
        } => postgres(*shared_buffers, *sort_hash, *data)?,
        PlanInput::Kafka {
            daily,
            retention_days,
        } => kafka(*daily, *retention_days)?,
    };
    finish(&mut p)?;
    Ok(p)
}

fn web(concurrency: u64, cache: Option<u64>, working_memory: Option<u64>) -> Result<Plan, String> {
    positive(
        "concurrency",
        concurrency,
        "the maximum number of concurrent requests",
    )?;
    let mut lines = Vec::new();
    let cache = match (cache, working_memory) {
        (Some(_), Some(_)) => {
            return Err(
                "cache, working-memory: give one of them, not both (the cache share \
                        is either explicit or 20% of the working memory)"
                    .to_string(),
            )
        }
        (Some(c), None) => c,
        (None, Some(w)) => {
            positive("working-memory", w, "a size")?;
            let c = ratio(w, 1, 5, "20% of working-memory")?;
            lines.push(format!(
                "cache = 20% of {} working memory = {} (seed: reserve 10-20%; the upper end)",
                q(w),
                q(c)
            ));
            c
        }
        (None, None) => {
            lines.push("cache = 0 (no cache or working-memory given)".to_string());
            0
        }
    };
    let per_req = mul(concurrency, 10 * MI, "concurrency × 10Mi")?;
    let total = sum(&[100 * MI, per_req, cache], "the web /tmp size")?;
    lines.push(format!(
        "web /tmp = {} base + {concurrency} × {} per concurrent request + {} cache = {}",
        q(100 * MI),
        q(10 * MI),
        q(cache),
        q(total)
    ));
    Ok(Plan {
        title: "web application".to_string(),
        lines,
        mounts: vec![mount(
            "/tmp",
            MountKind::EmptyDir,
            Some(total),
            "base + uploads per concurrent request + cache".to_string(),
        )],
        ephemeral: None,
    })
}

fn data(input: u64, intermediate: u64, factor: u64, output: u64) -> Result<Plan, String> {
    if !(2..=3).contains(&factor) {
        return Err(format!(
            "factor: expected 2 or 3 (the seed's 2-3 × the intermediate data), got {factor}"
        ));
    }
    let inter = mul(intermediate, factor, "factor × intermediate")?;
    let total = sum(&[input, inter, output], "the data /tmp size")?;
    if total == 0 {
        return Err(
            "input, intermediate, output: expected at least one size above 0, got all 0"
                .to_string(),
        );
    }
    let lo = sum(
        &[input, mul(intermediate, 2, "2 × intermediate")?, output],
        "the data /tmp size",
    )?;
    let hi = sum(
        &[input, mul(intermediate, 3, "3 × intermediate")?, output],
        "the data /tmp size",
    )?;
    let lines = vec![
        format!(
            "data /tmp = {} input + {factor} × {} intermediate + {} output = {}",
            q(input),
            q(intermediate),
            q(output),
            q(total)
        ),
        format!(
            "(range over the seed's 2-3 × intermediate: {} to {})",
            q(lo),
            q(hi)
        ),
    ];
    Ok(Plan {
        title: "data processing".to_string(),
        lines,
        mounts: vec![mount(
            "/tmp",
            MountKind::EmptyDir,
            Some(total),
            "staged input + intermediate data + staged output".to_string(),
        )],
        ephemeral: None,
    })
}

fn postgres(
    shared_buffers: u64,
    sort_hash: Option<u64>,
    data: Option<u64>,
) -> Result<Plan, String> {
    positive("shared-buffers", shared_buffers, "a size")?;
    let sb = q(shared_buffers);
    let mut lines = Vec::new();
    let tmp = match sort_hash {
        Some(s) => {
            positive("sort-hash", s, "a size")?;
            lines.push(format!(
                "postgres /tmp = {} sort/hash working set (given)",
                q(s)
            ));
            s
        }
        None => {
            let lo = ratio(shared_buffers, 1, 2, "0.5 × shared-buffers")?;
            let hi = ratio(shared_buffers, 3, 4, "0.75 × shared-buffers")?;
            lines.push(format!(
                "postgres /tmp = 0.5-0.75 × {sb} shared_buffers = {} to {}; sizeLimit {} \
                 (seed: 2-3 GB for 4 GB shared buffers)",
                q(lo),
                q(hi),
                q(hi)
            ));
            lines.push(
                "(the seed's 2.5-3.5 GB total for this example is /tmp + /var/run with \
                 headroom; the Part 4 rule below adds 20%)"
                    .to_string(),
            );
            hi
        }
    };
    let run = 100 * MI;
    lines.push(format!(
        "postgres /var/run/postgresql = {} (seed Part 4 example; Part 3: 10 MB for the sockets alone)",
        q(run)
    ));
    let shm = ratio(shared_buffers, 1, 4, "25% of shared-buffers")?;
    lines.push(format!(
        "postgres /dev/shm = 25% × {sb} shared_buffers = {} (tmpfs)",
        q(shm)
    ));
    let pvc = match data {
        Some(d) => {
            positive("data", d, "a size")?;
            let s = mul(d, 2, "2 × data")?;
            lines.push(format!(
                "postgres PVC /var/lib/postgresql/data = 2 × {} data = {} (WAL and index overhead)",
                q(d),
                q(s)
            ));
            Some(s)
        }
        None => {
            lines.push(
                "postgres PVC /var/lib/postgresql/data: no data size given; size it about \
                 2 × the largest expected database"
                    .to_string(),
            );
            None
        }
    };
    Ok(Plan {
        title: "PostgreSQL".to_string(),
        lines,
        mounts: vec![
            mount(
                "/var/lib/postgresql/data",
                MountKind::Pvc,
                pvc,
                "data directory and WAL: persistent".to_string(),
            ),
            mount(
                "/var/run/postgresql",
                MountKind::EmptyDir,
                Some(run),
                "Unix sockets and lock files".to_string(),
            ),
            mount(
                "/tmp",
                MountKind::EmptyDir,
                Some(tmp),
                "large sorts, hash joins, temporary tables".to_string(),
            ),
            mount(
                "/dev/shm",
                MountKind::Tmpfs,
                Some(shm),
                "parallel query shared memory (dynamic_shared_memory_type = posix)".to_string(),
            ),
        ],
        ephemeral: None,
    })
}

fn kafka(daily: u64, retention_days: u64) -> Result<Plan, String> {
    positive("daily", daily, "a size")?;
    positive("retention-days", retention_days, "a number of days")?;
    let logs = mul(daily, retention_days, "daily × retention-days")?;
    let tmp = ratio(logs, 1, 10, "10% of the log size")?;
    let lines = vec![
        format!(
            "kafka PVC /var/lib/kafka/data = {retention_days} days × {} per day = {}",
            q(daily),
            q(logs)
        ),
        format!("kafka /tmp = 10% × {} = {}", q(logs), q(tmp)),
    ];
    Ok(Plan {
        title: "Kafka".to_string(),
        lines,
        mounts: vec![
            mount(
                "/var/lib/kafka/data",
                MountKind::Pvc,
                Some(logs),
                "message log segments for the retention window".to_string(),
            ),
            mount(
                "/tmp",
                MountKind::EmptyDir,
                Some(tmp),
                "log compaction and temporary operations".to_string(),
            ),
        ],
        ephemeral: None,
    })
}

/// Appends the ephemeral-storage and memory lines common to every plan.
fn finish(p: &mut Plan) -> Result<(), String> {
    let disk: Vec<u64> = p
        .mounts
        .iter()
        .filter(|m| m.mount.kind == MountKind::EmptyDir)
        .filter_map(|m| m.mount.size_limit)
        .collect();
    if !disk.is_empty() {
        let s = sum(&disk, "the emptyDir sizeLimits")?;
        let (req, lim) = ephemeral_rule(s)?;
        let terms: Vec<String> = disk.iter().map(|&d| q(d)).collect();
        p.lines.push(format!(
            "ephemeral-storage request = ({}) = {} + 20% = {}; limit = 2 × {} = {}",
            terms.join(" + "),
            q(s),
            q(req),
            q(req),
            q(lim)
        ));
        p.ephemeral = Some((req, lim));
    }
    let mem: Vec<u64> = p
        .mounts
        .iter()
        .filter(|m| m.mount.kind == MountKind::Tmpfs)
        .filter_map(|m| m.mount.size_limit)
        .collect();
    if !mem.is_empty() {
        let s = sum(&mem, "the tmpfs sizeLimits")?;
        p.lines.push(format!(
            "memory: tmpfs {} counts against the container's memory limit",
            q(s)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
