//! Filesystem probes: the facts the start-up checks judge, gathered once.
//! Reads the mount table once, then per declared path `lstat`/`stat`,
//! `statfs` and, for writable kinds, a write probe that leaves no
//! trace. Returns plain data ([`Facts`]); no policy lives here.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::{lstat, stat, FileStat, Mode, SFlag};
use nix::unistd::{getegid, geteuid, unlink, write};

use crate::core::contract::spec::{MountSpec, Spec};
use crate::core::mounts::facts::{
    Facts, Identity, PathFacts, ProbeOutcome, SkippedLines, StatFacts, VfsFacts,
};
use crate::core::mounts::mountinfo::{MountTable, ParseError};
use crate::edge::tamper::MountWatch;

/// The write probes' unnamed files, held open until this is dropped:
/// closing one frees its inode (about 6 µs of ext4 work each on a small
/// VM), which the workload's start need not wait for. Dropped after the
/// spawn, before anything measures the mounts (on a tmpfs the probe's byte
/// holds a page).
#[derive(Debug, Default)]
pub struct ProbeFiles(Vec<OwnedFd>);

impl ProbeFiles {
    /// At most this many are held; a probe past them closes its file at
    /// once (a contract of many mounts must not eat the descriptors).
    pub const MAX: usize = 16;

    /// The held descriptors, for the child to close before its exec: with
    /// `CLONE_VFORK` the parent resumes before the child's close-on-exec,
    /// and the last close, the one that frees the inode, must be the
    /// parent's, after the spawn, never on the workload's exec.
    pub fn raw_fds(&self) -> Vec<RawFd> {
        self.0.iter().map(AsRawFd::as_raw_fd).collect()
    }
}

/// Gathers every fact the checks need: the mount table (read once from
/// `proc_mountinfo`), `/`, the identity, and each declared path.
pub fn gather(spec: &Spec, proc_mountinfo: Option<&Path>) -> Facts {
    gather_holding(spec, proc_mountinfo, &mut ProbeFiles::default())
}

/// [`gather`], the write probes' files left open in `held`.
pub fn gather_holding(spec: &Spec, proc_mountinfo: Option<&Path>, held: &mut ProbeFiles) -> Facts {
    let (mountinfo, mountinfo_skipped) = match proc_mountinfo.map(read_mount_table) {
        Some(Ok((table, skipped))) => (Ok(table), SkippedLines::of(&skipped)),
        Some(Err(e)) => (Err(e), None),
        None => (Ok(MountTable::default()), None),
    };
    // Every statfs before any probe: a held probe file takes a block and
    // an inode, which would count against its own mount's free space and
    // that of every later mount (or `/`) on the same filesystem.
    let root = vfs_facts(Path::new("/"));
    let mut paths: Vec<PathFacts> = spec.mounts.iter().map(facts_before_probe).collect();
    for (m, p) in spec.mounts.iter().zip(paths.iter_mut()) {
        p.probe = match p.stat {
            Some(s) if s.is_dir && m.kind.is_writable() => Some(write_probe_holding(&m.path, held)),
            _ => None,
        };
    }
    Facts {
        mountinfo,
        mountinfo_skipped,
        root,
        identity: identity(),
        paths,
    }
}

/// Reads a mountinfo file (proc(5)) with one buffer
/// ([`crate::edge::procfile`]: the data, then EOF) and parses it leniently:
/// the table of the lines that parse, and the lines that did not. An error
/// when the file cannot be read or has lines but none of them parses.
pub fn read_mount_table(path: &Path) -> Result<(MountTable, Vec<ParseError>), String> {
    let text = crate::edge::procfile::read_file(path).map_err(|e| e.to_string())?;
    parse_mount_table(&text, path)
}

/// [`MountTable::parse_lenient`] of the text read from `path`: an error
/// when it has lines but none of them parses.
fn parse_mount_table(text: &[u8], path: &Path) -> Result<(MountTable, Vec<ParseError>), String> {
    let (table, skipped) = MountTable::parse_lenient(text);
    match skipped.first() {
        Some(e) if table.is_empty() => Err(format!(
            "parse {} line {}: {}",
            path.display(),
            e.line,
            e.reason
        )),
        _ => Ok((table, skipped)),
    }
}

/// A mount table kept open and read again only when the kernel says it
/// changed (`POLLPRI` on the open file, proc(5)) or when the caller asks
/// ([`Self::forget`]): the watcher's trackers ask for it at their start
/// and at every rescan, and each read costs tens of microseconds of kernel
/// formatting (about 75 µs for 24 mounts on a small VM: nine reads were
/// most of the watcher's start-up). The kernel raises `POLLPRI` for mounts,
/// unmounts and remounts, not when a directory above a mount point is
/// renamed, which changes the mount points the table shows: a cached table
/// is good for one round of questions, not for the watcher's life.
#[derive(Debug)]
pub struct CachedMountTable {
    path: PathBuf,
    /// The open file (its change counter was taken at `open(2)`).
    watch: Option<MountWatch>,
    /// The table last read through it, unless forgotten since.
    table: Option<Arc<MountTable>>,
}

impl CachedMountTable {
    /// A cache of `path`; nothing is opened before [`Self::current`].
    pub fn new(path: &Path) -> CachedMountTable {
        CachedMountTable {
            path: path.to_path_buf(),
            watch: None,
            table: None,
        }
    }

    /// The table as it is now: the one read before when a zero-timeout
    /// poll shows no change since, else read again (`lseek` + read on the
    /// same file; opened first when there is none, or when it cannot be
    /// polled). The kernel's change counter is taken at `open(2)`, before
    /// the first read, so a change that races a read is seen by the next
    /// call, never lost. A failed read drops the file: the next call opens
    /// it again.
    pub fn current(&mut self) -> Result<Arc<MountTable>, String> {
        let watch = match (self.watch.take(), self.table.take()) {
            (Some(watch), Some(table)) => match watch.wait(Some(Duration::ZERO)) {
                Ok(false) => {
                    self.watch = Some(watch);
                    self.table = Some(Arc::clone(&table));
                    return Ok(table);
                }
                Ok(true) => watch,
                Err(_) => MountWatch::open(&self.path).map_err(|e| e.to_string())?,
            },
            (Some(watch), None) => watch,
            (None, _) => MountWatch::open(&self.path).map_err(|e| e.to_string())?,
        };
        let text = watch.read().map_err(|e| e.to_string())?;
        let table = Arc::new(parse_mount_table(&text, &self.path)?.0);
        self.watch = Some(watch);
        self.table = Some(Arc::clone(&table));
        Ok(table)
    }

    /// The next [`Self::current`] reads the table again (the file stays
    /// open).
    pub fn forget(&mut self) {
        self.table = None;
    }
}

/// Effective uid/gid and supplementary groups: geteuid(2), getegid(2),
/// getgroups(2) (asked for the count first: nix's `getgroups` sizes its
/// buffer from `sysconf(NGROUPS_MAX)`, which glibc reads from
/// `/proc/sys/kernel/ngroups_max`, three syscalls more on the start path).
pub fn identity() -> Identity {
    Identity {
        uid: geteuid().as_raw(),
        gid: getegid().as_raw(),
        groups: groups(),
    }
}

/// Supplementary group ids; empty when they cannot be read.
fn groups() -> Vec<u32> {
    for _ in 0..4 {
        // SAFETY: with size 0, getgroups(2) only returns the count and does
        // not touch the (null) list.
        let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
        let Ok(len) = usize::try_from(n) else {
            return Vec::new();
        };
        if len == 0 {
            return Vec::new();
        }
        let mut list: Vec<libc::gid_t> = vec![0; len];
        // SAFETY: `list` has room for `n` gids, the size passed.
        let got = unsafe { libc::getgroups(n, list.as_mut_ptr()) };
        match usize::try_from(got) {
            Ok(k) => {
                list.truncate(k);
                return list;
            }
            // EINVAL: the list grew in between; ask again.
            Err(_) if Errno::last() == Errno::EINVAL => continue,
            Err(_) => return Vec::new(),
        }
    }
    Vec::new()
}

/// One [`statfs(2)`](https://man7.org/linux/man-pages/man2/statfs.2.html)
/// of `path`, or the errno: the filesystem type, the `ST_RDONLY` and
/// `ST_NOEXEC` mount flags (`f_flags`, valid since Linux 2.6.36) and the
/// block and inode counts. glibc's `statvfs(3)` is the same syscall, so one
/// call gives every figure.
pub fn vfs_facts(path: &Path) -> Result<VfsFacts, i32> {
    let c =
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| libc::EINVAL)?;
    // SAFETY: a zeroed statfs is a valid out-parameter; `c` is a live
    // NUL-terminated path.
    let mut st: libc::statfs64 = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statfs64(c.as_ptr(), &mut st) } != 0 {
        return Err(Errno::last() as i32);
    }
    let flags = st.f_flags as u64;
    // Some filesystems leave f_frsize 0; statvfs(3) falls back to f_bsize.
    let frsize = if st.f_frsize > 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    #[allow(clippy::unnecessary_cast)]
    Ok(VfsFacts {
        read_only: flags & libc::ST_RDONLY as u64 != 0,
        noexec: flags & libc::ST_NOEXEC as u64 != 0,
        frsize: frsize as u64,
        blocks: st.f_blocks as u64,
        bfree: st.f_bfree as u64,
        bavail: st.f_bavail as u64,
        files: st.f_files as u64,
        ffree: st.f_ffree as u64,
        fs_magic: st.f_type as i64,
    })
}

fn to_stat_facts(s: &FileStat) -> StatFacts {
    let fmt = SFlag::from_bits_truncate(s.st_mode & SFlag::S_IFMT.bits());
    StatFacts {
        uid: s.st_uid,
        gid: s.st_gid,
        mode: s.st_mode & 0o7777,
        is_dir: fmt == SFlag::S_IFDIR,
        is_symlink: fmt == SFlag::S_IFLNK,
        dev: s.st_dev,
    }
}

/// `lstat(2)` (`follow` false) or `stat(2)` of `path`, or the errno.
pub fn stat_facts(path: &Path, follow: bool) -> Result<StatFacts, i32> {
    let s = if follow { stat(path) } else { lstat(path) };
    s.map(|s| to_stat_facts(&s)).map_err(|e| e as i32)
}

/// Everything about one declared path. Only writable kinds are write-probed:
/// read-only kinds (and secrets above all) are never written to.
pub fn path_facts(m: &MountSpec) -> PathFacts {
    let mut p = facts_before_probe(m);
    p.probe = match p.stat {
        Some(s) if s.is_dir && m.kind.is_writable() => Some(write_probe(&m.path)),
        _ => None,
    };
    p
}

/// Everything about one declared path but the write probe.
fn facts_before_probe(m: &MountSpec) -> PathFacts {
    let lstat = stat_facts(&m.path, false);
    // Following links changes nothing unless the path itself is one: one
    // syscall per declared path saved on the start path.
    let stat = match &lstat {
        Ok(l) if !l.is_symlink => Some(*l),
        _ => stat_facts(&m.path, true).ok(),
    };
    let resolved = std::fs::canonicalize(&m.path).ok().filter(|r| *r != m.path);
    PathFacts {
        path: m.path.clone(),
        resolved,
        lstat,
        stat,
        vfs: vfs_facts(&m.path),
        probe: None,
    }
}

/// Proves that the effective user can create and fill a file in `dir`,
/// leaving nothing behind: `open(2)` with `O_TMPFILE` (an unnamed inode that
/// vanishes on close), then `write(2)` of one byte so a full filesystem
/// answers ENOSPC. Filesystems without `O_TMPFILE` (overlayfs, FUSE, old
/// kernels: EOPNOTSUPP, EISDIR, EINVAL) get a create of a unique
/// `.sealinit-probe-<pid>-<nanos>` with `O_EXCL`, the same write, and
/// `unlink(2)`.
pub fn write_probe(dir: &Path) -> ProbeOutcome {
    write_probe_holding(dir, &mut ProbeFiles::default())
}

/// [`write_probe`], the unnamed file left open in `held`. The files held
/// are sealinit's own doing: a descriptor each, and an inode and a page on
/// their filesystem, which may be `dir`'s (two declared paths on one disk,
/// a bind mount). An answer they could have caused (EMFILE, ENFILE, ENOSPC,
/// EDQUOT) is no fact about `dir`: they are let go and it is asked again.
fn write_probe_holding(dir: &Path, held: &mut ProbeFiles) -> ProbeOutcome {
    match probe_once(dir, held) {
        ProbeOutcome::NoSpace | ProbeOutcome::Other(libc::EMFILE | libc::ENFILE)
            if !held.0.is_empty() =>
        {
            held.0.clear();
            probe_once(dir, held)
        }
        outcome => outcome,
    }
}

/// One write probe of `dir`; the file is kept in `held` while there is
/// room ([`ProbeFiles::MAX`]), else closed at once.
fn probe_once(dir: &Path, held: &mut ProbeFiles) -> ProbeOutcome {
    let flags = OFlag::O_TMPFILE | OFlag::O_WRONLY | OFlag::O_CLOEXEC;
    match open(dir, flags, Mode::from_bits_truncate(0o600)) {
        Ok(fd) => {
            let outcome = write_one(&fd);
            if outcome == ProbeOutcome::Writable && held.0.len() < ProbeFiles::MAX {
                held.0.push(fd);
            }
            outcome
        }
        Err(Errno::EOPNOTSUPP | Errno::EISDIR | Errno::EINVAL) => create_probe(dir),
        Err(e) => ProbeOutcome::from_errno(e as i32),
    }
}

fn write_one(fd: &std::os::fd::OwnedFd) -> ProbeOutcome {
    match write(fd, b"s") {
        Ok(_) => ProbeOutcome::Writable,
        Err(e) => ProbeOutcome::from_errno(e as i32),
    }
}

fn create_probe(dir: &Path) -> ProbeOutcome {
    let flags =
        OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    for attempt in 0..4u32 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            ".sealinit-probe-{}-{}",
            std::process::id(),
            nanos.wrapping_add(attempt)
        );
        let path = dir.join(name);
        match open(&path, flags, Mode::from_bits_truncate(0o600)) {
            Ok(fd) => {
                let outcome = write_one(&fd);
                drop(fd);
                // The probe just created this name; failing to remove it is
                // not a fact about writability, and there is no one to tell.
                let _ = unlink(&path);
                return outcome;
            }
            Err(Errno::EEXIST) => continue,
            Err(e) => return ProbeOutcome::from_errno(e as i32),
        }
    }
    ProbeOutcome::Other(libc::EEXIST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("sealinit-probe-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create scratch dir");
        d
    }

    fn entries(d: &Path) -> usize {
        std::fs::read_dir(d).expect("read_dir").count()
    }

    #[test]
    fn write_probe_on_writable_dir_leaves_no_trace() {
        let d = scratch("tmpfile");
        assert_eq!(write_probe(&d), ProbeOutcome::Writable);
        assert_eq!(create_probe(&d), ProbeOutcome::Writable);
        assert_eq!(entries(&d), 0, "probe left a file behind");
        std::fs::remove_dir(&d).expect("cleanup");
    }

    #[test]
    fn write_probe_on_missing_dir_is_missing() {
        let d = scratch("missing").join("nope");
        assert_eq!(write_probe(&d), ProbeOutcome::Missing);
        assert_eq!(create_probe(&d), ProbeOutcome::Missing);
    }

    #[test]
    fn identity_groups_match_getgroups() {
        let want: Vec<u32> = nix::unistd::getgroups()
            .unwrap()
            .into_iter()
            .map(|g| g.as_raw())
            .collect();
        assert_eq!(identity().groups, want);
    }

    #[test]
    fn read_mount_table_names_path_on_error() {
        let err = read_mount_table(Path::new("/nonexistent/mountinfo")).unwrap_err();
        assert!(err.starts_with("open /nonexistent/mountinfo: "), "{err}");
    }

    #[test]
    fn read_mount_table_skips_malformed_lines() {
        let d = scratch("mountinfo");
        let good = "1 0 0:5 / / ro - overlay overlay rw\n2 1 0:6 / /tmp rw - tmpfs tmpfs rw\n";
        // (name, text, entries and skipped line numbers, or None for an error)
        type Case = (&'static str, String, Option<(usize, Vec<usize>)>);
        let cases: Vec<Case> = vec![
            ("all good", good.to_string(), Some((2, vec![]))),
            (
                "one bad line among good ones",
                format!("{good}garbage\n3 1 0:7 / /run rw - tmpfs tmpfs rw\n"),
                Some((3, vec![3])),
            ),
            (
                "two bad lines",
                format!("x\n{good}y\n"),
                Some((2, vec![1, 4])),
            ),
            ("nothing parses", "x\ny\n".to_string(), None),
        ];
        let f = d.join("mountinfo");
        for (name, text, want) in cases {
            std::fs::write(&f, text).expect("write");
            match (read_mount_table(&f), want) {
                (Ok((t, skipped)), Some((n, lines))) => {
                    let got: Vec<usize> = skipped.iter().map(|e| e.line).collect();
                    assert_eq!((t.len(), got), (n, lines), "case {name}");
                }
                (Err(e), None) => assert!(
                    e.starts_with(&format!("parse {} line 1: ", f.display())),
                    "case {name}: {e}"
                ),
                (got, _) => panic!("case {name}: {got:?}"),
            }
        }
        std::fs::remove_dir_all(&d).expect("cleanup");
    }

    #[test]
    fn path_facts_of_a_symlink_resolves() {
        let d = scratch("link");
        let target = d.join("target");
        std::fs::create_dir_all(&target).expect("mkdir");
        let link = d.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let pf = path_facts(&MountSpec {
            path: link.clone(),
            kind: crate::core::contract::spec::MountKind::EmptyDir,
            size_limit: None,
            allow_exec: false,
        });
        assert!(pf.lstat.expect("lstat").is_symlink);
        assert!(pf.stat.expect("stat").is_dir);
        assert_eq!(
            pf.resolved.as_deref(),
            Some(std::fs::canonicalize(&target).expect("canon").as_path())
        );
        assert_eq!(pf.probe, Some(ProbeOutcome::Writable));
        std::fs::remove_dir_all(&d).expect("cleanup");
    }
}
