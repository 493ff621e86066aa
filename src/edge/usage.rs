//! Usage measurement: `statvfs` for tmpfs (O(1)) and the kubelet's du-style
//! walk for disk-backed mounts, plus the per-entry stat and per-directory
//! listing the incremental watcher uses.
//!
//! The walk is the one `du -sx -B1 PATH` does: `st_blocks * 512` summed over
//! every entry including directories and the root itself, a file with
//! `st_nlink > 1` counted once per `(dev, ino)`, never descending into (nor
//! counting) an entry on another device. It is iterative and dirfd-relative
//! (`openat` + `statx`, no path strings), so depth is limited by memory,
//! not by the stack or `PATH_MAX`. Names are raw bytes.

use std::collections::HashSet;
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};

use crate::core::watch::usage_tree::EntryStat;

/// What `statvfs` says about a filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// `(f_blocks - f_bfree) * f_frsize`.
    pub used_bytes: u64,
    /// `f_blocks * f_frsize` (a tmpfs's `size=`).
    pub size_bytes: u64,
    /// `f_files - f_ffree`.
    pub used_inodes: u64,
    /// `f_files`.
    pub total_inodes: u64,
}

/// Result of [`walk_usage`].
#[derive(Debug, Default)]
pub struct WalkResult {
    /// Allocated bytes, as `du -sx -B1`.
    pub bytes: u64,
    /// Entries counted, as `du -sx --inodes`.
    pub inodes: u64,
    /// Subtrees that could not be read (their own entry is still counted).
    pub unreadable: Vec<(PathBuf, io::Error)>,
    /// Directories read.
    pub dirs: u64,
    /// Paths (relative to the root) of the regular files whose ctime is not
    /// before [`WalkOpts::changed_since`], at most [`WalkOpts::max_recent`].
    pub recent: Vec<Vec<u8>>,
}

/// Options of [`walk_usage_opts`].
#[derive(Debug, Default)]
pub struct WalkOpts {
    /// Directories (`(dev, ino)` of mount roots) neither counted nor entered.
    pub exclude: HashSet<(u64, u64)>,
    pub changed_since: Option<(i64, i64)>,
    pub max_recent: usize,
}

/// Wraps an errno with the operation and the path it concerned.
pub(crate) fn os_err(op: &str, path: &Path, e: Errno) -> io::Error {
    io::Error::new(
        io::Error::from(e).kind(),
        format!("{op} {}: {}", path.display(), e.desc()),
    )
}

/// Filesystem usage of the filesystem holding `path`, by
/// [`statvfs(3)`](https://man7.org/linux/man-pages/man3/statvfs.3.html). O(1).
pub fn statfs_usage(path: &Path) -> io::Result<Usage> {
    let st = nix::sys::statvfs::statvfs(path).map_err(|e| os_err("statvfs", path, e))?;
    let frsize = st.fragment_size();
    let blocks = st.blocks();
    Ok(Usage {
        used_bytes: blocks
            .saturating_sub(st.blocks_free())
            .saturating_mul(frsize),
        size_bytes: blocks.saturating_mul(frsize),
        used_inodes: st.files().saturating_sub(st.files_free()),
        total_inodes: st.files(),
    })
}

/// The wall clock as file timestamps take it (`CLOCK_REALTIME_COARSE`: a
/// ctime set after this call is not before it), as `(seconds, ns)`; the
/// earliest time there is if the clock cannot be read.
pub fn coarse_now() -> (i64, i64) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } != 0 {
        return (i64::MIN, 0);
    }
    (ts.tv_sec, ts.tv_nsec)
}

/// Converts a `stat` result into the plain facts the accounting needs.
pub fn entry_stat(st: &FileStat) -> EntryStat {
    EntryStat {
        dev: st.st_dev,
        ino: st.st_ino,
        bytes: u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512),
        nlink: st.st_nlink,
        is_dir: (st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR.bits(),
        mode: st.st_mode,
        ctime: (st.st_ctime, st.st_ctime_nsec),
        size: u64::try_from(st.st_size).unwrap_or(0),
        mtime: (st.st_mtime, st.st_mtime_nsec),
    }
}

/// Opens a directory relative to `dirfd` without following a final symlink,
/// by [`openat(2)`](https://man7.org/linux/man-pages/man2/openat.2.html).
pub fn open_dir_at<Fd: AsFd>(dirfd: Fd, name: &CStr) -> Result<OwnedFd, Errno> {
    openat(
        dirfd,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

/// Opens `path` as a directory (following symlinks, as `du PATH` does for its
/// operand's mount point), by `open(2)`.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| os_err("open", path, e))
}

/// The facts of entry `name` of `dirfd`, not following a final symlink
/// ([`lstat_entry`]). `Ok(None)` when the entry does not exist (any more).
pub fn stat_at<Fd: AsFd>(dirfd: Fd, name: &[u8]) -> Result<Option<EntryStat>, Errno> {
    let name = if name.is_empty() { &b"."[..] } else { name };
    let got = with_cstr(name, |c| lstat_entry(dirfd.as_fd(), c)).unwrap_or(Err(Errno::EINVAL));
    match got {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Calls `f` with `name` NUL-terminated, from a stack buffer when it fits
/// (every name a directory holds does: `NAME_MAX` is 255), so the watcher's
/// per-event stat allocates nothing. `None`: `name` holds a NUL.
fn with_cstr<T>(name: &[u8], f: impl FnOnce(&CStr) -> T) -> Option<T> {
    let mut buf = [0u8; 512];
    if name.len() < buf.len() {
        buf[..name.len()].copy_from_slice(name);
        CStr::from_bytes_with_nul(&buf[..=name.len()]).ok().map(f)
    } else {
        CString::new(name).ok().map(|c| f(&c))
    }
}

/// `statx(2)` asked for what [`EntryStat`] holds and nothing more, without
/// following a final symlink: measured a tenth to a fifth cheaper than
/// `fstatat` per call on ext4 (no full `struct stat` to fill and copy), and
/// the watcher makes one per file it meets. Kernels or seccomp profiles
/// without `statx` (`ENOSYS`, `EPERM`) get `fstatat`, remembered.
pub fn lstat_entry(dirfd: BorrowedFd<'_>, name: &CStr) -> Result<EntryStat, Errno> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static NO_STATX: AtomicBool = AtomicBool::new(false);
    if !NO_STATX.load(Ordering::Relaxed) {
        // SAFETY: all-zero bytes are a valid `struct statx` (plain integers).
        let mut sx: libc::statx = unsafe { std::mem::zeroed() };
        let mask = libc::STATX_TYPE
            | libc::STATX_MODE
            | libc::STATX_NLINK
            | libc::STATX_INO
            | libc::STATX_SIZE
            | libc::STATX_BLOCKS
            | libc::STATX_MTIME
            | libc::STATX_CTIME;
        // SAFETY: `name` is NUL-terminated and `sx` writable, both for the
        // call's duration; `dirfd` is an open descriptor.
        let r = unsafe {
            libc::statx(
                dirfd.as_raw_fd(),
                name.as_ptr(),
                // As `fstatat` does (and du): an automount point is not
                // triggered, it is measured as the directory it is.
                libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
                mask,
                &mut sx,
            )
        };
        match Errno::result(r) {
            Ok(_) => return Ok(statx_entry(&sx)),
            Err(Errno::ENOSYS) | Err(Errno::EPERM) => NO_STATX.store(true, Ordering::Relaxed),
            Err(e) => return Err(e),
        }
    }
    fstatat(dirfd, name, AtFlags::AT_SYMLINK_NOFOLLOW).map(|st| entry_stat(&st))
}

/// The facts of a `statx` result, as [`entry_stat`] takes them from `stat`.
fn statx_entry(sx: &libc::statx) -> EntryStat {
    let mode = u32::from(sx.stx_mode);
    EntryStat {
        dev: libc::makedev(sx.stx_dev_major, sx.stx_dev_minor),
        ino: sx.stx_ino,
        bytes: sx.stx_blocks.saturating_mul(512),
        nlink: u64::from(sx.stx_nlink),
        is_dir: mode & libc::S_IFMT == libc::S_IFDIR,
        mode,
        ctime: (sx.stx_ctime.tv_sec, i64::from(sx.stx_ctime.tv_nsec)),
        size: sx.stx_size,
        mtime: (sx.stx_mtime.tv_sec, i64::from(sx.stx_mtime.tv_nsec)),
    }
}

/// Lists directory `rel` under `root` (`rel` empty for the root itself):
/// stats each entry and hands `(name, stat)` to `f`, streaming (no
/// name is kept); entries that vanished meanwhile are skipped. Returns the
/// directory's own stat; fails with the errno of the first step that
/// failed. One `getdents64` pass ([`each_dirent`]) and one [`lstat_entry`]
/// per entry.
///
/// Without `stat_files`, entries that `getdents64` says are neither
/// directories nor of unknown type are handed over unstat'ed as a
/// default [`EntryStat`] with `mode` 0 (callers that keep directories only).
pub fn list_each<Fd: AsFd>(
    root: Fd,
    rel: &[u8],
    stat_files: bool,
    mut f: impl FnMut(&[u8], &EntryStat),
) -> Result<EntryStat, Errno> {
    let rel = if rel.is_empty() { &b"."[..] } else { rel };
    let fd = with_cstr(rel, |c| open_dir_at(root, c)).unwrap_or(Err(Errno::EINVAL))?;
    let me = entry_stat(&fstat(&fd)?);
    let mut failed = None;
    each_dirent(fd.as_fd(), |name, d_type, _| {
        let b = name.to_bytes();
        if !stat_files && !matches!(d_type, libc::DT_UNKNOWN | libc::DT_DIR) {
            let st = EntryStat {
                dev: me.dev,
                nlink: 1,
                ..EntryStat::default()
            };
            f(b, &st);
            return true;
        }
        match lstat_entry(fd.as_fd(), name) {
            Ok(st) => f(b, &st),
            Err(Errno::ENOENT) => {}
            Err(e) => {
                failed = Some(e);
                return false;
            }
        }
        true
    })?;
    failed.map_or(Ok(me), Err)
}

/// The inode numbers (`d_ino`) of directory `rel`'s entries, from
/// `getdents64` alone (no stat): whether any is in `want`.
pub fn has_ino<Fd: AsFd>(
    root: Fd,
    rel: &[u8],
    want: &std::collections::HashSet<u64>,
) -> Result<bool, Errno> {
    let rel = if rel.is_empty() { &b"."[..] } else { rel };
    let fd = with_cstr(rel, |c| open_dir_at(root, c)).unwrap_or(Err(Errno::EINVAL))?;
    let mut found = false;
    each_dirent(fd.as_fd(), |_, _, ino| {
        found = want.contains(&ino);
        !found
    })?;
    Ok(found)
}

/// The `getdents64(2)` buffer of [`each_dirent`]: a few hundred entries a
/// call.
const DENTS_BUF: usize = 32 * 1024;

/// Reads the open directory `fd` with `getdents64(2)` into a stack buffer
/// and hands each entry's name (`.` and `..` left out), `d_type` and `d_ino`
/// to `f` (`false` from `f` stops the reading). Compared with `readdir(3)`
/// through `fdopendir(3)`: no copy of each entry, and none of the `fstat`,
/// `fcntl` and `lseek` calls `fdopendir` and `closedir` make per directory;
/// the watcher lists every directory a workload fills. A directory removed
/// meanwhile (`getdents64` says ENOENT) ends the listing, as it ends
/// `readdir(3)`'s. A record the kernel could not have written (a length out
/// of bounds, a name without its NUL) is EIO.
pub fn each_dirent(
    fd: BorrowedFd<'_>,
    mut f: impl FnMut(&CStr, u8, u64) -> bool,
) -> Result<(), Errno> {
    // The fixed head of a `struct linux_dirent64`: d_ino (8), d_off (8),
    // d_reclen (2), d_type (1); the name follows, NUL-terminated.
    const NAME: usize = 19;
    let mut buf = std::mem::MaybeUninit::<[u8; DENTS_BUF]>::uninit();
    loop {
        // SAFETY: the kernel writes at most DENTS_BUF bytes into `buf`,
        // which is that large; `fd` is open.
        let got = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast::<u8>(),
                DENTS_BUF,
            )
        };
        let n = match Errno::result(got) {
            // ENOENT: the directory was removed; readdir(3) ends there too.
            Ok(0) | Err(Errno::ENOENT) => return Ok(()),
            Ok(n) => match usize::try_from(n) {
                Ok(n) if n <= DENTS_BUF => n,
                _ => return Err(Errno::EIO),
            },
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        };
        // SAFETY: getdents64 initialised the `n` bytes it returned.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), n) };
        let mut rest = bytes;
        while !rest.is_empty() {
            if rest.len() <= NAME {
                return Err(Errno::EIO);
            }
            let reclen = usize::from(u16::from_ne_bytes([rest[16], rest[17]]));
            if reclen <= NAME || reclen > rest.len() {
                return Err(Errno::EIO);
            }
            let mut ino = [0u8; 8];
            ino.copy_from_slice(&rest[..8]);
            let d_type = rest[18];
            let name = CStr::from_bytes_until_nul(&rest[NAME..reclen]).map_err(|_| Errno::EIO)?;
            rest = &rest[reclen..];
            if matches!(name.to_bytes(), b"." | b"..") {
                continue;
            }
            if !f(name, d_type, u64::from_ne_bytes(ino)) {
                return Ok(());
            }
        }
    }
}

/// A directory waiting to be read: its parent's open fd, its name there,
/// and its path (for error reports only; built lazily).
struct Pending {
    parent: Rc<OwnedFd>,
    name: CString,
    path: Rc<PathNode>,
}

/// A path as a chain of names, so that no string is built unless an error
/// needs to name it.
struct PathNode {
    name: Vec<u8>,
    parent: Option<Rc<PathNode>>,
}

impl PathNode {
    fn to_path(&self) -> PathBuf {
        let mut parts: Vec<&[u8]> = vec![&self.name];
        let mut cur = self.parent.as_deref();
        while let Some(n) = cur {
            parts.push(&n.name);
            cur = n.parent.as_deref();
        }
        let mut p = PathBuf::new();
        for part in parts.into_iter().rev() {
            p.push(OsStr::from_bytes(part));
        }
        p
    }
}

/// The kubelet's measurement of a disk-backed mount, identical to
/// `du -sx -B1 ROOT` (bytes) and `du -sx --inodes ROOT` (inodes).
///
/// Uses `open(2)`, `fstat(2)`, `getdents64(2)` ([`each_dirent`]) and
/// `statx(2)` relative to directory fds. Open fds are bounded by the number
/// of ancestors with unread siblings (depth-first order). A directory that
/// cannot be opened or read is reported in `unreadable`; its own entry is
/// still counted, as du does.
pub fn walk_usage(root: &Path) -> WalkResult {
    walk_usage_opts(root, &WalkOpts::default())
}

/// [`walk_usage`] with exclusions and the recently changed files listed.
pub fn walk_usage_opts(root: &Path, opts: &WalkOpts) -> WalkResult {
    let mut res = WalkResult::default();
    let root_fd = match open_dir(root) {
        Ok(fd) => fd,
        Err(e) => {
            res.unreadable.push((root.to_path_buf(), e));
            return res;
        }
    };
    let root_st = match fstat(&root_fd) {
        Ok(st) => entry_stat(&st),
        Err(e) => {
            res.unreadable
                .push((root.to_path_buf(), os_err("fstat", root, e)));
            return res;
        }
    };
    res.bytes = root_st.bytes;
    res.inodes = 1;
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let root_path = Rc::new(PathNode {
        name: root.as_os_str().as_bytes().to_vec(),
        parent: None,
    });
    let mut stack: Vec<Pending> = Vec::new();
    read_one(
        root_fd,
        &root_path,
        root_st.dev,
        opts,
        &mut seen,
        &mut stack,
        &mut res,
    );
    while let Some(p) = stack.pop() {
        let fd = match open_dir_at(&*p.parent, &p.name) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => continue,
            Err(e) => {
                let path = p.path.to_path();
                res.unreadable
                    .push((path.clone(), os_err("openat", &path, e)));
                continue;
            }
        };
        drop(p.parent);
        // The directory may have been replaced by a mount point since it was
        // stat'ed: never cross devices.
        match fstat(&fd) {
            Ok(st) if st.st_dev == root_st.dev => {}
            Ok(_) => continue,
            Err(e) => {
                let path = p.path.to_path();
                res.unreadable
                    .push((path.clone(), os_err("fstat", &path, e)));
                continue;
            }
        }
        read_one(
            fd,
            &p.path,
            root_st.dev,
            opts,
            &mut seen,
            &mut stack,
            &mut res,
        );
    }
    res
}

/// Reads one directory: counts every entry, queues the subdirectories.
fn read_one(
    dir: OwnedFd,
    path: &Rc<PathNode>,
    root_dev: u64,
    opts: &WalkOpts,
    seen: &mut HashSet<(u64, u64)>,
    stack: &mut Vec<Pending>,
    res: &mut WalkResult,
) {
    let mut subdirs: Vec<CString> = Vec::new();
    res.dirs += 1;
    let read_err = each_dirent(dir.as_fd(), |name, _, _| {
        let st = match lstat_entry(dir.as_fd(), name) {
            Ok(st) => st,
            Err(Errno::ENOENT) => return true,
            Err(e) => {
                let p = child_path(path, name).to_path();
                res.unreadable.push((p.clone(), os_err("stat", &p, e)));
                return true;
            }
        };
        if st.dev != root_dev || (st.is_dir && opts.exclude.contains(&(st.dev, st.ino))) {
            return true; // a mount point: du -x neither counts nor enters it
        }
        if !st.is_dir
            && st.mode & libc::S_IFMT == libc::S_IFREG
            && opts.changed_since.is_some_and(|t| st.ctime >= t)
            && res.recent.len() < opts.max_recent
        {
            res.recent.push(rel_of(&child_path(path, name)));
        }
        if !st.is_dir && st.nlink > 1 && !seen.insert((st.dev, st.ino)) {
            return true;
        }
        res.bytes = res.bytes.saturating_add(st.bytes);
        res.inodes += 1;
        if st.is_dir {
            subdirs.push(name.to_owned());
        }
        true
    })
    .err();
    if let Some(e) = read_err {
        let p = path.to_path();
        res.unreadable.push((p.clone(), os_err("readdir", &p, e)));
    }
    if subdirs.is_empty() {
        return;
    }
    let parent = Rc::new(dir);
    for name in subdirs.into_iter().rev() {
        let node = child_path(path, &name);
        stack.push(Pending {
            parent: Rc::clone(&parent),
            name,
            path: node,
        });
    }
}

/// The path of `node` under the walk's root (the root's own name left out).
fn rel_of(node: &PathNode) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut cur = Some(node);
    while let Some(n) = cur {
        if n.parent.is_none() {
            break;
        }
        parts.push(&n.name);
        cur = n.parent.as_deref();
    }
    parts.iter().rev().fold(Vec::new(), |acc, p| {
        crate::core::watch::usage_tree::join(&acc, p)
    })
}

fn child_path(parent: &Rc<PathNode>, name: &CStr) -> Rc<PathNode> {
    Rc::new(PathNode {
        name: name.to_bytes().to_vec(),
        parent: Some(Rc::clone(parent)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statx_gives_the_facts_fstatat_gives() {
        let dir = std::env::temp_dir().join(format!("sealinit-statx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join("file"), vec![7u8; 50_000]).expect("write");
        std::fs::hard_link(dir.join("file"), dir.join("link")).expect("link");
        std::os::unix::fs::symlink("file", dir.join("sym")).expect("symlink");
        let fd = open_dir(&dir).expect("open");
        for name in ["file", "link", "sub", "sym", "."] {
            let c = CString::new(name).expect("cstr");
            let by_statx = lstat_entry(fd.as_fd(), &c).expect("statx");
            let st =
                fstatat(fd.as_fd(), c.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW).expect("fstatat");
            assert_eq!(by_statx, entry_stat(&st), "{name}");
        }
        let got = stat_at(fd.as_fd(), b"file")
            .expect("stat_at")
            .expect("exists");
        assert_eq!(got.nlink, 2);
        assert!(got.bytes >= 50_000, "{got:?}");
        assert_eq!(stat_at(fd.as_fd(), b"missing").expect("stat_at"), None);
        assert_eq!(stat_at(fd.as_fd(), b"a\0b"), Err(Errno::EINVAL));
        let long = vec![b'x'; 600];
        assert_eq!(stat_at(fd.as_fd(), &long), Err(Errno::ENAMETOOLONG));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn a_directory_larger_than_one_getdents_buffer_is_listed_whole_by_name_type_and_inode() {
        let dir = std::env::temp_dir().join(format!("sealinit-dents-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("d/sub")).expect("mkdir");
        // 1,500 names of 200 bytes: about ten 32 KiB getdents64 buffers.
        let mut want: Vec<Vec<u8>> = (0..1500)
            .map(|i| format!("{i:04}-{}", "n".repeat(195)).into_bytes())
            .collect();
        for n in &want {
            std::fs::write(dir.join("d").join(OsStr::from_bytes(n)), b"x").expect("write");
        }
        want.push(b"sub".to_vec());
        want.sort();
        let fd = open_dir(&dir.join("d")).expect("open");
        let mut got = Vec::new();
        let mut dirs = Vec::new();
        let mut unknown = 0;
        each_dirent(fd.as_fd(), |name, d_type, ino| {
            let b = name.to_bytes().to_vec();
            let st = std::fs::symlink_metadata(dir.join("d").join(OsStr::from_bytes(&b)))
                .expect("lstat");
            assert_eq!(ino, std::os::unix::fs::MetadataExt::ino(&st), "{name:?}");
            match d_type {
                libc::DT_DIR => dirs.push(b.clone()),
                libc::DT_UNKNOWN => unknown += 1,
                _ => {}
            }
            got.push(b);
            true
        })
        .expect("each_dirent");
        got.sort();
        assert_eq!(got.len(), want.len(), "every name once, no . or ..");
        assert!(got == want, "the names listed are the names made");
        // (A filesystem that does not fill in d_type says DT_UNKNOWN.)
        if unknown == 0 {
            assert_eq!(dirs, vec![b"sub".to_vec()]);
        }

        // Stops when told to.
        let fd = open_dir(&dir.join("d")).expect("open");
        let mut seen = 0;
        each_dirent(fd.as_fd(), |_, _, _| {
            seen += 1;
            seen < 3
        })
        .expect("each_dirent");
        assert_eq!(seen, 3);

        // list_each: a stat per entry (or, without stat_files, only for
        // directories) and the directory's own; has_ino by d_ino alone.
        let root = open_dir(&dir).expect("open root");
        let mut listed = 0u64;
        let mut bytes = 0u64;
        let me = list_each(root.as_fd(), b"d", true, |_, st| {
            listed += 1;
            bytes += st.bytes;
        })
        .expect("list_each");
        assert!(me.is_dir);
        assert_eq!(listed, 1501);
        let du: u64 = std::fs::read_dir(dir.join("d"))
            .expect("read_dir")
            .map(|e| {
                std::os::unix::fs::MetadataExt::blocks(&e.expect("entry").metadata().expect("md"))
                    * 512
            })
            .sum();
        assert_eq!(bytes, du);
        let mut unstated = 0;
        list_each(root.as_fd(), b"d", false, |name, st| {
            if name == b"sub" {
                assert!(st.is_dir);
            } else if st.mode == 0 {
                unstated += 1;
            }
        })
        .expect("list_each");
        if unknown == 0 {
            assert_eq!(unstated, 1500, "a file is not stat'ed without stat_files");
        }
        let sub_ino = std::os::unix::fs::MetadataExt::ino(
            &std::fs::metadata(dir.join("d/sub")).expect("stat"),
        );
        assert!(has_ino(root.as_fd(), b"d", &HashSet::from([sub_ino])).expect("has_ino"));
        assert!(!has_ino(root.as_fd(), b"d", &HashSet::from([u64::MAX])).expect("has_ino"));
        assert_eq!(
            list_each(root.as_fd(), b"missing", true, |_, _| ()).err(),
            Some(Errno::ENOENT)
        );
        // A directory removed after it was opened lists as empty.
        std::fs::create_dir(dir.join("gone")).expect("mkdir");
        let fd = open_dir(&dir.join("gone")).expect("open");
        std::fs::remove_dir(dir.join("gone")).expect("rmdir");
        let mut any = false;
        each_dirent(fd.as_fd(), |_, _, _| {
            any = true;
            true
        })
        .expect("a removed directory is an empty one");
        assert!(!any);
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
