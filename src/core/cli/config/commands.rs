//! The inputs of `sealinit manifest` and `sealinit plan`, parsed from the
//! flags and their env mirrors (flags win) into the typed options
//! [`crate::core::render::manifest::render`] and [`crate::core::contract::plan::plan`] take.

use crate::core::cli::parser::{pick, typed, Layer, Opt, Parsed, UsageError};
use crate::core::{contract::plan, contract::quantity, render::manifest};

/// `--format`, `--workload`, `--name`, ... over [`manifest::ManifestOptions`]'s
/// defaults.
pub fn manifest_options(
    flags: &Layer,
    env: &Layer,
) -> Result<manifest::ManifestOptions, UsageError> {
    let (f, e) = (flags, env);
    let size = |s: &str| quantity::parse(s).map_err(|e| e.to_string());
    // Only an explicit --ephemeral-limit overrides the seed's Part 4 rule: a
    // profile's runtime limit (the seed's example manifests) is not a sizing.
    let mut o = manifest::ManifestOptions {
        ephemeral_limit: typed(pick(f, e, Opt::EphemeralLimit), size)?,
        ..Default::default()
    };
    if let Some(v) = typed(pick(f, e, Opt::Format), |s| {
        manifest::Format::parse(s).ok_or_else(|| {
            format!(
                "expected one of {}, got {s:?}",
                manifest::Format::NAMES.join(", ")
            )
        })
    })? {
        o.format = v;
    }
    o.workload = typed(pick(f, e, Opt::Workload), |s| {
        manifest::Workload::parse(s)
            .ok_or_else(|| format!("expected deployment or statefulset, got {s:?}"))
    })?;
    let id = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("expected a numeric id, got {s:?}"))
    };
    if let Some(v) = typed(pick(f, e, Opt::RunAsUser), id)? {
        o.run_as_user = v;
    }
    if let Some(v) = typed(pick(f, e, Opt::RunAsGroup), id)? {
        o.run_as_group = v;
    }
    if let Some(v) = typed(pick(f, e, Opt::FsGroup), id)? {
        o.fs_group = v;
    }
    if let Some((v, _)) = pick(f, e, Opt::Name) {
        o.name = v.to_string();
    }
    if let Some((v, _)) = pick(f, e, Opt::Image) {
        o.image = v.to_string();
    }
    o.ephemeral_request = typed(pick(f, e, Opt::EphemeralRequest), size)?;
    o.host_dir = pick(f, e, Opt::HostDir).map(|(v, _)| v.to_string());
    o.profile = pick(f, e, Opt::Profile).map(|(v, _)| v.to_string());
    if pick(f, e, Opt::Name).is_none() {
        // `--profile postgres` names its objects postgres (a DNS label).
        if let Some(p) = &o.profile {
            o.name.clone_from(p);
        }
    }
    // `metrics_port` comes from the resolved `--metrics` (config::fold).
    Ok(o)
}

/// `sealinit plan KIND --key value...`: the kind from the positional
/// argument, the sizes and counts from the flags; a missing required value
/// names its flag.
pub fn plan_input(parsed: &Parsed, env: &Layer) -> Result<plan::PlanInput, UsageError> {
    let f = &parsed.flags;
    let kind = match parsed.argv.as_slice() {
        [k] => k.to_string_lossy().into_owned(),
        [] => {
            return Err(UsageError(
                "sealinit plan: which workload? expected web, data, postgres or kafka".into(),
            ))
        }
        _ => {
            return Err(UsageError(
                "sealinit plan takes one workload kind (web, data, postgres or kafka)".into(),
            ))
        }
    };
    // The plan parsers name the source in their messages themselves.
    let picked = |opt: Opt,
                  parse: fn(&str, &str) -> Result<u64, String>|
     -> Result<Option<u64>, UsageError> {
        match pick(f, env, opt) {
            None => Ok(None),
            Some((v, src)) => parse(&src, v).map(Some).map_err(UsageError),
        }
    };
    let need = |opt: Opt, v: Option<u64>| {
        v.ok_or_else(|| UsageError(format!("sealinit plan {kind}: {} is required", opt.flag())))
    };
    let size = |opt: Opt| picked(opt, plan::parse_size);
    let count = |opt: Opt| picked(opt, plan::parse_count);
    Ok(match kind.as_str() {
        "web" => plan::PlanInput::Web {
            concurrency: need(Opt::Concurrency, count(Opt::Concurrency)?)?,
            cache: size(Opt::Cache)?,
            working_memory: size(Opt::WorkingMemory)?,
        },
        "data" => plan::PlanInput::Data {
            input: need(Opt::Input, size(Opt::Input)?)?,
            intermediate: need(Opt::Intermediate, size(Opt::Intermediate)?)?,
            factor: count(Opt::Factor)?.unwrap_or(3),
            output: need(Opt::Output, size(Opt::Output)?)?,
        },
        "postgres" => plan::PlanInput::Postgres {
            shared_buffers: need(Opt::SharedBuffers, size(Opt::SharedBuffers)?)?,
            sort_hash: size(Opt::SortHash)?,
            data: size(Opt::Data)?,
        },
        "kafka" => plan::PlanInput::Kafka {
            daily: need(Opt::Daily, size(Opt::Daily)?)?,
            retention_days: need(Opt::RetentionDays, count(Opt::RetentionDays)?)?,
        },
        other => {
            return Err(UsageError(format!(
            "sealinit plan: unknown workload kind {other:?}; expected web, data, postgres or kafka"
        )))
        }
    })
}
