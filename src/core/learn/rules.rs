//! `sealinit learn` rules, as pure functions: where a written path should be
//! mounted (the roll-up), what kind of volume that mount is, and how large.
//!
//! Roll-up ([`place`]): a written path becomes the mount of the directory the
//! server owns, never a system directory:
//! - `/dev/shm/...` → `/dev/shm` (tmpfs); `/tmp/...`, `/var/tmp/...` → that
//!   directory, whatever is below it (scratch names are random).
//! - Under `/etc`, `/usr`, `/bin`, `/sbin`, `/lib*`, `/boot`: the image's
//!   code and configuration, never a writable mount → drift.
//! - `/`, `/var`, `/var/lib`, `/var/spool`, `/opt`, `/srv`, `/home`, ... are
//!   never mounts: the mount is the first directory below them.
//! - `/run`, `/var/run`, `/var/log`, `/var/cache`, `/root` are mounts for a
//!   file written directly in them (`/run/nginx.pid` → `/run`), else the
//!   first directory below (`/run/postgresql`).
//! - Any other directory on the way is the mount when the workload created
//!   it or it was empty in the image; when it holds image content (the
//!   application's code in `/app`) the mount goes one level deeper
//!   (`/app/__pycache__`). A file written directly in a directory with image
//!   content has no mount of its own: a "stray" finding.

use std::path::{Component, Path, PathBuf};

use crate::core::contract::spec::MountKind;

const MI: u64 = 1 << 20;
const GI: u64 = 1 << 30;

/// Image trees: never a writable mount.
const IMAGE_ROOTS: &[&str] = &[
    "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/boot",
];
/// Directories whose whole content is scratch: the directory is the mount.
const WHOLE: &[&str] = &["/dev/shm", "/tmp", "/var/tmp"];
/// System directories that are never a mount themselves.
const NEVER: &[&str] = &[
    "/",
    "/var",
    "/var/lib",
    "/var/spool",
    "/var/opt",
    "/var/mail",
    "/var/www",
    "/var/local",
    "/opt",
    "/srv",
    "/home",
    "/mnt",
    "/media",
    "/dev",
];
/// System directories that are the mount for a file written directly in them.
const DIRECT: &[&str] = &["/run", "/var/run", "/var/log", "/var/cache", "/root"];

/// What the scan saw at a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryType {
    Dir,
    File,
    Socket,
    Fifo,
    Symlink,
    Other,
}

/// Where a written path belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Under this mount.
    Mount(PathBuf),
    /// In the image's code or configuration: drift, never a mount.
    Drift,
    /// A file directly in a directory that holds image content.
    Stray(PathBuf),
    /// A changed system directory with nothing placeable (e.g. `/var`).
    Ignore,
}

/// What [`place`] needs to know about a directory on the way.
pub trait ImageFacts {
    /// Whether `dir` existed before the workload started.
    fn existed(&self, dir: &Path) -> bool;
    /// How many entries `dir` held before the workload started.
    fn image_entries(&self, dir: &Path) -> u64;
}

fn is_under(path: &Path, root: &str) -> bool {
    path.starts_with(root)
}

fn in_list(p: &Path, list: &[&str]) -> bool {
    list.iter().any(|l| p == Path::new(l))
}

/// The roll-up of one written path (see the module header).
pub fn place(path: &Path, etype: EntryType, facts: &dyn ImageFacts) -> Placement {
    for w in WHOLE {
        if is_under(path, w) {
            return Placement::Mount(PathBuf::from(w));
        }
    }
    if IMAGE_ROOTS.iter().any(|r| is_under(path, r)) {
        return Placement::Drift;
    }
    // Walk the prefixes of the directory holding the entry (or the entry
    // itself, for a directory).
    let last = if etype == EntryType::Dir {
        path.to_path_buf()
    } else {
        match path.parent() {
            Some(p) => p.to_path_buf(),
            None => return Placement::Ignore,
        }
    };
    let mut prefix = PathBuf::new();
    for c in last.components() {
        match c {
            Component::RootDir => prefix.push("/"),
            Component::Normal(n) => prefix.push(n),
            _ => return Placement::Ignore,
        }
        if in_list(&prefix, NEVER) {
            continue;
        }
        if in_list(&prefix, DIRECT) {
            if prefix == last && (etype != EntryType::Dir || prefix == path) {
                return Placement::Mount(prefix);
            }
            continue;
        }
        if !facts.existed(&prefix) || facts.image_entries(&prefix) == 0 {
            return Placement::Mount(prefix);
        }
    }
    if etype == EntryType::Dir {
        Placement::Ignore
    } else {
        Placement::Stray(last)
    }
}

/// The fix for a drift finding at `path`.
pub fn drift_fix(path: &Path) -> String {
    if is_under(path, "/etc") {
        format!(
            "the workload rewrites {} at run time: render it at deploy time into a ConfigMap \
             mounted read-only, or move the generated file to an emptyDir and point the server there",
            path.display()
        )
    } else {
        format!(
            "the workload writes into the image's {}: bake the final file into the image, or move \
             it to an emptyDir (a path under a writable mount) and point the workload there",
            path.display()
        )
    }
}

/// What the files under a mount say about it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Sockets, `*.pid`, `*.lock`, `*.sock`, `LOCK`.
    pub runtime_files: u64,
    /// Files that are none of the above.
    pub other_files: u64,
    /// A database marker seen (PG_VERSION, *.rdb, *.aof, ...), its name.
    pub database: Option<&'static str>,
    /// Files ending in `.log`.
    pub logs: u64,
    /// Directories created below the mount.
    pub dirs: u64,
}

/// Database markers: a name (or suffix) and what it says.
const DB_NAMES: &[(&str, &str)] = &[
    ("PG_VERSION", "PostgreSQL data directory (PG_VERSION)"),
    ("pg_wal", "PostgreSQL write-ahead log (pg_wal)"),
    ("appendonlydir", "Redis append-only file (appendonlydir)"),
    ("ibdata1", "MySQL/MariaDB InnoDB data (ibdata1)"),
    ("WiredTiger", "MongoDB WiredTiger data"),
    ("meta.properties", "Kafka log directory (meta.properties)"),
];
const DB_SUFFIXES: &[(&str, &str)] = &[
    (".rdb", "Redis snapshot (*.rdb)"),
    (".aof", "Redis append-only file (*.aof)"),
    (".sqlite", "SQLite database (*.sqlite)"),
    (".sqlite3", "SQLite database (*.sqlite3)"),
    (".db", "database file (*.db)"),
    (".wt", "MongoDB WiredTiger data (*.wt)"),
];

impl Evidence {
    /// Adds what one entry at `path` says.
    pub fn add(&mut self, path: &Path, etype: EntryType) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        if self.database.is_none() {
            self.database = DB_NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .or_else(|| DB_SUFFIXES.iter().find(|(s, _)| name.ends_with(s)))
                .map(|(_, why)| *why);
        }
        match etype {
            EntryType::Dir => self.dirs += 1,
            // A link says nothing about the data; neither a mount's kind.
            EntryType::Symlink => {}
            EntryType::Socket | EntryType::Fifo => self.runtime_files += 1,
            _ if is_runtime_name(&name) => self.runtime_files += 1,
            _ => {
                self.other_files += 1;
                if name.ends_with(".log") || path.starts_with("/var/log") {
                    self.logs += 1;
                }
            }
        }
    }

    /// Merges another scan's evidence (the union across scans).
    pub fn merge(&mut self, o: &Evidence) {
        self.runtime_files = self.runtime_files.max(o.runtime_files);
        self.other_files = self.other_files.max(o.other_files);
        self.logs = self.logs.max(o.logs);
        self.dirs = self.dirs.max(o.dirs);
        self.database = self.database.or(o.database);
    }
}

fn is_runtime_name(name: &str) -> bool {
    name.ends_with(".pid")
        || name.ends_with(".lock")
        || name.ends_with(".sock")
        || name.ends_with(".lck")
        || name == "LOCK"
        || name.starts_with(".s.PGSQL.")
}

/// The classification of one mount: kind, why, and the sizing rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub kind: MountKind,
    /// The role, for the summary (`runtime`, `data`, `scratch`, ...).
    pub role: &'static str,
    pub reason: String,
    /// The smallest size_limit this role gets.
    pub floor: u64,
}

/// Classifies the mount at `path` from its evidence.
pub fn classify(path: &Path, ev: &Evidence) -> Class {
    if path == Path::new("/dev/shm") {
        return Class {
            kind: MountKind::Tmpfs,
            role: "shm",
            reason: "POSIX shared memory (/dev/shm): a memory-backed emptyDir".into(),
            floor: 64 * MI,
        };
    }
    if let Some(db) = ev.database {
        return Class {
            kind: MountKind::Pvc,
            role: "data",
            reason: format!(
                "holds a {db}: data that must survive a restart, so a PersistentVolumeClaim \
                 (an emptyDir would lose it with the pod)"
            ),
            floor: GI,
        };
    }
    let scratch_dir = path == Path::new("/tmp") || path == Path::new("/var/tmp");
    let runtime_only = ev.runtime_files > 0 && ev.other_files == 0;
    let nothing_left = ev.runtime_files == 0 && ev.other_files == 0 && ev.dirs == 0;
    if (runtime_only || nothing_left) && !scratch_dir {
        return Class {
            kind: MountKind::EmptyDir,
            role: "runtime",
            reason: if ev.runtime_files > 0 {
                "sockets, pid and lock files only: a small emptyDir".into()
            } else {
                "files created and removed again (seen as a changed directory): a small emptyDir"
                    .into()
            },
            floor: 10 * MI,
        };
    }
    let (role, what) = if scratch_dir {
        ("scratch", "scratch files (seen or created and removed)")
    } else if ev.logs > 0 && ev.logs * 2 >= ev.other_files {
        ("logs", "log files")
    } else if path.starts_with("/var/cache") || path.ends_with("__pycache__") {
        ("cache", "cache files")
    } else {
        ("scratch", "cache and scratch files")
    };
    Class {
        kind: MountKind::EmptyDir,
        role,
        reason: format!("{what} that need not survive a restart: an emptyDir"),
        floor: 100 * MI,
    }
}

/// The sizing headroom: the seed's Part 4 sets the limit at twice the
/// request, and Part 3 sizes a database volume at twice its data; one run
/// saw a sample, not the peak, so the learned figure is doubled.
pub const HEADROOM: u64 = 2;

/// `size_limit` from a high-water mark: twice the mark, at least `floor`,
/// rounded up to the next 1-2-5 step (10Mi, 20Mi, 50Mi, 100Mi, ... 1Gi,
/// 2Gi, 5Gi, 10Gi, ...).
pub fn size_limit(high_water: u64, floor: u64) -> u64 {
    let want = high_water.saturating_mul(HEADROOM).max(floor);
    round_up_canonical(want)
}

/// The smallest 1-2-5 step of Mi, Gi or Ti at or above `bytes` (1Mi, 2Mi,
/// 5Mi, 10Mi, 20Mi, ... 500Mi, 1Gi, 2Gi, ... 500Ti); beyond, whole Ti.
pub fn round_up_canonical(bytes: u64) -> u64 {
    const TI: u64 = 1 << 40;
    for unit in [MI, GI, TI] {
        for m in [1u64, 2, 5, 10, 20, 50, 100, 200, 500] {
            let v = m * unit;
            if v >= bytes {
                return v;
            }
        }
    }
    bytes
        .div_ceil(TI)
        .checked_mul(TI)
        .unwrap_or(u64::MAX / TI * TI)
}

/// The advice for who writes into a mount: the securityContext that makes
/// a volume writable for that uid/gid.
pub fn ownership_advice(path: &Path, uid: u32, gid: u32, user: Option<&str>) -> Option<String> {
    if uid == 0 {
        return None;
    }
    let who = match user {
        Some(u) => format!("uid {uid} ({u})"),
        None => format!("uid {uid}"),
    };
    Some(format!(
        "{} is written as {who}, gid {gid}: set securityContext.fsGroup: {gid} (the volume \
         becomes group-writable) or runAsUser: {uid}; with docker/podman, --user {uid}:{gid} and \
         a volume owned by it",
        path.display()
    ))
}

/// The user name for `uid` in an `/etc/passwd` text.
pub fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        let id: u32 = f.next()?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}
