//! Where a mount comes from, judged from its mountinfo line alone: a
//! Kubernetes volume, a tmpfs the runtime (or kubelet) mounted, a platform
//! mount every container has, the root, or something else. Pure: no
//! syscalls.
//!
//! Kubernetes volumes are recognised by the mountinfo ROOT (field 4), which
//! for a bind mount is the source directory's path inside its filesystem:
//! `.../pods/<uid>/volumes/kubernetes.io~<plugin>/<name>[/sub/path]`. We
//! match the components, not a `/var/lib/kubelet` prefix, because the
//! kubelet root varies (`/var/lib/kubelet`, `/lib/kubelet` when `/var` is its
//! own filesystem, `/pods` when the kubelet dir is, `/docker/volumes/...` in
//! kind/minikube). A trailing sub path is a `subPath` mount or a CSI
//! `.../<pv>/mount`.
//!
//! Known limit: a volume that is its own filesystem (memory-backed emptyDir,
//! secret, projected, a block or network PV) is bind-mounted from that
//! filesystem's root, so its root is `/` and nothing in the line names the
//! pod. Such a tmpfs is reported as [`Origin::RuntimeTmpfs`] (indistinguishable
//! from `docker/podman --tmpfs`), anything else as [`Origin::Other`].

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::mountinfo::MountEntry;

/// Where a mount comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A Kubernetes volume: `plugin` is the part after `kubernetes.io~`
    /// (`empty-dir`, `configmap`, `secret`, `projected`, `csi`,
    /// `local-volume`, ...), `volume` the volume's name in the pod spec.
    Kubernetes { plugin: String, volume: String },
    /// A tmpfs mounted directly at its mount point (root `/`): `--tmpfs` of
    /// docker/podman, or a memory-backed Kubernetes volume (see module doc).
    RuntimeTmpfs,
    /// A mount every container gets from its runtime: `hosts`, `hostname`,
    /// `resolv.conf`, `termination-log`, `dev` (and anything else under
    /// `/dev`, such as rootless podman's binds of device nodes), `devpts`,
    /// `shm`, `mqueue`,
    /// `console`, `init`, `proc`, `sys`, `cgroup`, `secrets-run`,
    /// `containerenv`, `serviceaccount`.
    Platform(&'static str),
    /// The container's root filesystem, `/`.
    Root,
    /// Anything else: a host bind mount, a PV on its own filesystem, ...
    Other,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Kubernetes { plugin, volume } => {
                write!(f, "kubernetes {plugin} volume \"{volume}\"")
            }
            Origin::RuntimeTmpfs => {
                f.write_str("tmpfs (runtime --tmpfs or emptyDir medium: Memory)")
            }
            Origin::Platform(_) => f.write_str("platform mount"),
            Origin::Root => f.write_str("root filesystem"),
            Origin::Other => f.write_str("filesystem mount"),
        }
    }
}

/// The phrase for a mount in `sealinit mounts` and the inventory: its
/// [`Origin`], with an [`Origin::Other`] that [`is_bind`] said as "bind mount".
pub fn describe(entry: &MountEntry) -> String {
    match classify(entry) {
        Origin::Other if is_bind(entry) => "bind mount".into(),
        origin => origin.to_string(),
    }
}

/// Whether the mount shows only part of its filesystem (mountinfo root is
/// not `/`): a bind mount of a host directory, a `subPath`, a file.
pub fn is_bind(entry: &MountEntry) -> bool {
    entry.root != Path::new("/")
}

/// Classifies one mount; see [`Origin`] and the module doc for the rules.
/// Order: root, Kubernetes volume, platform, tmpfs, other.
pub fn classify(entry: &MountEntry) -> Origin {
    if entry.mount_point.as_os_str().as_bytes() == b"/" {
        return Origin::Root;
    }
    if let Some((plugin, volume)) = kubernetes_volume(entry.root.as_os_str().as_bytes()) {
        return Origin::Kubernetes { plugin, volume };
    }
    if let Some(what) = platform(entry) {
        return Origin::Platform(what);
    }
    if entry.fs_type == "tmpfs" && entry.root == Path::new("/") {
        return Origin::RuntimeTmpfs;
    }
    Origin::Other
}

/// Whether the mount is one the runtime gives every container (not drift).
pub fn is_platform(entry: &MountEntry) -> bool {
    matches!(classify(entry), Origin::Platform(_))
}

/// Kernel pseudo filesystems: writable flags on them do not make a place
/// where a workload can store files.
const PSEUDO_FS: &[&str] = &[
    "proc",
    "sysfs",
    "cgroup",
    "cgroup2",
    "devpts",
    "mqueue",
    "securityfs",
    "debugfs",
    "tracefs",
    "bpf",
    "configfs",
    "pstore",
    "fusectl",
    "nsfs",
    "binfmt_misc",
    "efivarfs",
    "selinuxfs",
];

/// Whether a workload could write files here: not read-only by the
/// per-mount flag, not a pseudo filesystem, and not under `/proc` or `/sys`
/// (runtimes mask paths there with writable binds of `/dev/null` or tmpfs).
pub fn is_writable_surface(entry: &MountEntry) -> bool {
    !entry.is_read_only()
        && !PSEUDO_FS.contains(&entry.fs_type.as_str())
        && !under(&entry.mount_point, "/proc")
        && !under(&entry.mount_point, "/sys")
}

/// `Path::starts_with` by bytes, for a mount point as mountinfo spells it
/// (absolute, normalised) and a `prefix` without a trailing slash: it is
/// `prefix` or below it. (The component-wise comparison was most of the
/// start-up checks' time.)
fn under(p: &Path, prefix: &str) -> bool {
    let b = p.as_os_str().as_bytes();
    b.strip_prefix(prefix.as_bytes())
        .is_some_and(|rest| rest.is_empty() || rest[0] == b'/')
}

/// `(plugin, volume)` from a root containing
/// `pods/<uid>/volumes/kubernetes.io~<plugin>/<volume>`; the rightmost match.
fn kubernetes_volume(root: &[u8]) -> Option<(String, String)> {
    let comps: Vec<&[u8]> = root.split(|&b| b == b'/').collect();
    (0..comps.len()).rev().find_map(|i| {
        let window = comps.get(i..i + 5)?;
        let plugin = window[3].strip_prefix(b"kubernetes.io~")?;
        let ok = window[0] == b"pods"
            && !window[1].is_empty()
            && window[2] == b"volumes"
            && !plugin.is_empty()
            && !window[4].is_empty();
        ok.then(|| {
            (
                String::from_utf8_lossy(plugin).into_owned(),
                String::from_utf8_lossy(window[4]).into_owned(),
            )
        })
    })
}

/// The platform name for a mount point, with the filesystem type as a
/// fallback for pseudo filesystems mounted somewhere unusual.
fn platform(entry: &MountEntry) -> Option<&'static str> {
    let p = entry.mount_point.as_path();
    const EXACT: &[(&str, &str)] = &[
        ("/etc/hosts", "hosts"),
        ("/etc/hostname", "hostname"),
        ("/etc/resolv.conf", "resolv.conf"),
        ("/dev/termination-log", "termination-log"),
        ("/dev", "dev"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "shm"),
        ("/dev/mqueue", "mqueue"),
        ("/dev/console", "console"),
        ("/dev/init", "init"),
        ("/run/.containerenv", "containerenv"),
    ];
    let b = p.as_os_str().as_bytes();
    if let Some((_, name)) = EXACT.iter().find(|(path, _)| b == path.as_bytes()) {
        return Some(name);
    }
    const UNDER: &[(&str, &str)] = &[
        (
            "/run/secrets/kubernetes.io/serviceaccount",
            "serviceaccount",
        ),
        (
            "/var/run/secrets/kubernetes.io/serviceaccount",
            "serviceaccount",
        ),
        ("/run/secrets", "secrets-run"),
        ("/dev", "dev"),
        ("/proc", "proc"),
        ("/sys/fs/cgroup", "cgroup"),
        ("/sys", "sys"),
    ];
    if let Some((_, name)) = UNDER.iter().find(|(path, _)| under(p, path)) {
        return Some(name);
    }
    match entry.fs_type.as_str() {
        "proc" => Some("proc"),
        "sysfs" => Some("sys"),
        "cgroup" | "cgroup2" => Some("cgroup"),
        "devpts" => Some("devpts"),
        "mqueue" => Some("mqueue"),
        _ => None,
    }
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;
