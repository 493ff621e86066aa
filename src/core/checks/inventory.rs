//! The inventory: every visible writable mount that the contract does not
//! declare, classified, so undeclared writable surfaces show in the report.
//! Platform mounts (`/etc/hosts`, `/dev/shm`, `/proc`, ...) are not drift.

use std::path::Path;

use super::{is_memory_fs, Finding, Verdict};
use crate::core::facts::{Facts, PathFacts};
use crate::core::mountinfo::{MountEntry, MountTable};
use crate::core::spec::Spec;

/// Undeclared writable mounts, classified; platform mounts are not flagged.
pub(super) fn check_inventory(spec: &Spec, facts: &Facts, t: &MountTable) -> Vec<Finding> {
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
        if e.is_read_only() || !visible[i] || e.mount_point == Path::new("/") {
            continue;
        }
        let class = classify_mount(e);
        if class.is_platform() {
            continue;
        }
        writable += 1;
        if declared.contains(&e.mount_point.as_path()) {
            continue;
        }
        let mp = e.mount_point.display().to_string();
        out.push(Finding {
            check: "inventory",
            path: mp.clone(),
            kind: "undeclared".into(),
            expected: "declared in the contract, or mounted read-only".into(),
            observed: format!("{} rw, {}", e.fs_type, class.label()),
            verdict: Verdict::Warn,
            why: "an undeclared writable mount: not size-watched by sealinit, and a \
                  writable surface outside the contract"
                .into(),
            fix: Some(format!(
                "declare it (spec: [[mount]] path = \"{mp}\" kind = \"{}\", or \
                 --{} {mp}), or add `readOnly: true` to its volumeMount if the workload \
                 does not write there",
                class.suggested_kind(),
                class.suggested_kind()
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

/// Where a mount comes from. SWAP: private stand-in for
/// `core::mountinfo::classify` (landing on the parsers branch); replace this
/// type and [`classify_mount`] with it when it is on main.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountClass {
    Root,
    /// `/pods/<uid>/volumes/kubernetes.io~<plugin>/<name>` in the root field.
    Kubernetes {
        plugin: String,
        name: String,
    },
    /// `/etc/hosts`, `/dev/shm`, `/proc`, ...: the runtime's own mounts.
    Platform,
    /// A tmpfs of the runtime (`--tmpfs`) or a memory emptyDir.
    Tmpfs,
    /// A bind mount of part of another filesystem.
    Bind,
    Other,
}

impl MountClass {
    pub fn label(&self) -> String {
        match self {
            MountClass::Root => "root filesystem".into(),
            MountClass::Kubernetes { plugin, name } => {
                format!("kubernetes {plugin} volume \"{name}\"")
            }
            MountClass::Platform => "platform mount".into(),
            MountClass::Tmpfs => "tmpfs (runtime --tmpfs or emptyDir medium: Memory)".into(),
            MountClass::Bind => "bind mount".into(),
            MountClass::Other => "filesystem mount".into(),
        }
    }

    fn is_platform(&self) -> bool {
        *self == MountClass::Platform
    }

    fn suggested_kind(&self) -> &'static str {
        match self {
            MountClass::Tmpfs => "tmpfs",
            MountClass::Kubernetes { plugin, .. } if plugin != "empty-dir" => "pvc",
            _ => "emptydir",
        }
    }
}

const PLATFORM_FILES: [&str; 5] = [
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/dev/termination-log",
    "/run/.containerenv",
];
const PLATFORM_TREES: [&str; 3] = ["/dev", "/proc", "/sys"];
const PSEUDO_FS: [&str; 18] = [
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "devtmpfs",
    "mqueue",
    "securityfs",
    "debugfs",
    "tracefs",
    "pstore",
    "bpf",
    "configfs",
    "fusectl",
    "binfmt_misc",
    "nsfs",
    "autofs",
    "hugetlbfs",
];

/// Classifies one mount (SWAP: see [`MountClass`]).
pub fn classify_mount(e: &MountEntry) -> MountClass {
    let mp = e.mount_point.as_path();
    if mp == Path::new("/") {
        return MountClass::Root;
    }
    if PLATFORM_FILES.iter().any(|p| mp == Path::new(p))
        || PLATFORM_TREES.iter().any(|p| mp.starts_with(p))
        || PSEUDO_FS.contains(&e.fs_type.as_str())
    {
        return MountClass::Platform;
    }
    let root = e.root.to_string_lossy();
    if let Some(i) = root.find("/volumes/kubernetes.io~") {
        if root[..i].rsplit('/').nth(1) == Some("pods") {
            let rest = &root[i + "/volumes/kubernetes.io~".len()..];
            let mut parts = rest.split('/');
            let plugin = parts.next().unwrap_or_default().to_string();
            let name = parts.next().unwrap_or_default().to_string();
            if !plugin.is_empty() && !name.is_empty() {
                return MountClass::Kubernetes { plugin, name };
            }
        }
    }
    if is_memory_fs(&e.fs_type) && e.root == Path::new("/") {
        MountClass::Tmpfs
    } else if e.root != Path::new("/") {
        MountClass::Bind
    } else {
        MountClass::Other
    }
}
