//! The inventory: every visible writable mount that the contract does not
//! declare, classified by [`crate::core::mounts::classify`], so undeclared writable
//! surfaces show in the report. Platform mounts (`/etc/hosts`, `/dev/shm`,
//! `/proc`, ...) and pseudo filesystems are not drift.

use std::path::Path;

use super::{is_plain_init, Finding, Verdict};
use crate::core::contract::spec::Spec;
use crate::core::mounts::classify::{classify, describe, is_writable_surface, Origin};
use crate::core::mounts::facts::{Facts, PathFacts};
use crate::core::mounts::mountinfo::MountTable;

/// Undeclared writable mounts, classified; platform mounts are not flagged.
/// Without a contract ([`is_plain_init`]) nothing is undeclared by choice:
/// the mounts are listed as passes, so a plain init says nothing.
pub(super) fn check_inventory(spec: &Spec, facts: &Facts, t: &MountTable) -> Vec<Finding> {
    let plain = is_plain_init(spec);
    let declared: Vec<&Path> = spec
        .mounts
        .iter()
        .map(|m| {
            facts
                .paths
                .iter()
                .find(|p| p.path == m.path)
                .map_or(m.path.as_path(), PathFacts::lookup_path)
        })
        .collect();
    let mut out = Vec::new();
    let mut writable = 0u64;
    let visible = t.visible();
    for (i, e) in t.entries.iter().enumerate() {
        if !is_writable_surface(e) || !visible[i] {
            continue;
        }
        let origin = classify(e);
        if matches!(origin, Origin::Root | Origin::Platform(_)) {
            continue;
        }
        writable += 1;
        if declared.contains(&e.mount_point.as_path()) {
            continue;
        }
        let mp = e.mount_point.display().to_string();
        if plain {
            out.push(Finding {
                check: "inventory",
                path: mp,
                kind: "undeclared".into(),
                expected: "anything (no contract)".into(),
                observed: format!("{} rw, {}", e.fs_type, describe(e)),
                verdict: Verdict::Pass,
                why: String::new(),
                fix: None,
            });
            continue;
        }
        out.push(Finding {
            check: "inventory",
            path: mp.clone(),
            kind: "undeclared".into(),
            expected: "declared in the contract, or mounted read-only".into(),
            observed: format!("{} rw, {}", e.fs_type, describe(e)),
            verdict: Verdict::Warn,
            why: "an undeclared writable mount: not size-watched by sealinit, and a \
                  writable surface outside the contract"
                .into(),
            fix: Some(format!(
                "declare it (spec: [[mount]] path = \"{mp}\" kind = \"{}\", or \
                 --{} {mp}), or add `readOnly: true` to its volumeMount if the workload \
                 does not write there",
                suggested_kind(&origin),
                suggested_kind(&origin)
            )),
        });
    }
    if out.is_empty() {
        out.push(Finding {
            check: "inventory",
            path: "-".into(),
            kind: "inventory".into(),
            expected: "no undeclared writable mounts".into(),
            observed: format!("{writable} writable non-platform mounts, all declared"),
            verdict: Verdict::Pass,
            why: String::new(),
            fix: None,
        });
    }
    out
}

/// The `--<kind>` to suggest for an undeclared writable mount.
fn suggested_kind(origin: &Origin) -> &'static str {
    match origin {
        Origin::RuntimeTmpfs => "tmpfs",
        Origin::Kubernetes { plugin, .. } if plugin != "empty-dir" => "pvc",
        _ => "emptydir",
    }
}
