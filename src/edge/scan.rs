//! The `sealinit learn` scan: a depth-first walk of one filesystem tree
//! that hands every entry's path and `ctime` to a visitor, and the atomic
//! write of the learned spec file.
//!
//! Uses `open(2)`, `getdents64(2)` (via `readdir(3)`) and
//! [`fstatat(2)`](https://man7.org/linux/man-pages/man2/fstatat.2.html) with
//! `AT_SYMLINK_NOFOLLOW`, relative to directory fds opened with `O_NOFOLLOW`.
//! It does not descend into the mount points it is told to skip (`/proc`,
//! `/sys`, `/dev`, declared volumes), nor into a directory on another
//! device. A `ctime` cannot prune a subtree (a directory's `ctime` moves only
//! for its own entries), so every scan is a full walk: one `fstatat` per
//! entry, nothing else.

use std::collections::HashSet;
use std::ffi::{CString, OsStr};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstatat, FileStat, Mode, SFlag};

use crate::core::learn::EntryType;

/// What the visitor is told about one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub etype: EntryType,
    /// `st_ctime` in nanoseconds.
    pub ctime_ns: i128,
    /// `st_mtime` in nanoseconds.
    pub mtime_ns: i128,
    /// `st_blocks * 512`.
    pub bytes: u64,
    pub uid: u32,
    pub gid: u32,
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
}

/// How a walk went.
#[derive(Debug, Default)]
pub struct WalkStats {
    pub entries: u64,
    /// The first few errors (operation and path), and how many in all.
    pub errors: Vec<String>,
    pub error_count: u64,
}

impl WalkStats {
    fn error(&mut self, op: &str, path: &[u8], e: Errno) {
        self.error_count += 1;
        if self.errors.len() < 5 {
            self.errors.push(format!(
                "{op} {}: {}",
                Path::new(OsStr::from_bytes(path)).display(),
                e.desc()
            ));
        }
    }
}

fn facts(st: &FileStat) -> Facts {
    let fmt = st.st_mode & SFlag::S_IFMT.bits();
    let etype = if fmt == SFlag::S_IFDIR.bits() {
        EntryType::Dir
    } else if fmt == SFlag::S_IFREG.bits() {
        EntryType::File
    } else if fmt == SFlag::S_IFSOCK.bits() {
        EntryType::Socket
    } else if fmt == SFlag::S_IFIFO.bits() {
        EntryType::Fifo
    } else if fmt == SFlag::S_IFLNK.bits() {
        EntryType::Symlink
    } else {
        EntryType::Other
    };
    Facts {
        etype,
        ctime_ns: i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
        mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
        bytes: u64::try_from(st.st_blocks).unwrap_or(0).saturating_mul(512),
        uid: st.st_uid,
        gid: st.st_gid,
        dev: st.st_dev,
        ino: st.st_ino,
        nlink: st.st_nlink,
    }
}

struct Pending {
    parent: Option<Rc<Dir>>,
    path: Vec<u8>,
}

fn name_of(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) if path.len() > 1 => &path[i + 1..],
        _ => path,
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(dir.len() + 1 + name.len());
    p.extend_from_slice(dir);
    if dir.last() != Some(&b'/') {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// Walks the tree at `root` (an absolute path), calling `visit(path,
/// facts)` for `root` and every entry below it, not entering the paths in
/// `skip` (nor visiting them) nor a directory on another device.
pub fn walk(
    root: &Path,
    skip: &HashSet<Vec<u8>>,
    visit: &mut dyn FnMut(&[u8], &Facts),
) -> WalkStats {
    let mut stats = WalkStats::default();
    let root_bytes = root.as_os_str().as_bytes().to_vec();
    let root_st = match nix::sys::stat::lstat(root) {
        Ok(st) => facts(&st),
        Err(e) => {
            stats.error("lstat", &root_bytes, e);
            return stats;
        }
    };
    stats.entries += 1;
    visit(&root_bytes, &root_st);
    if root_st.etype != EntryType::Dir {
        return stats;
    }
    let dev = root_st.dev;
    let mut stack = vec![Pending {
        parent: None,
        path: root_bytes,
    }];
    while let Some(p) = stack.pop() {
        let opened = match &p.parent {
            None => Dir::open(
                OsStr::from_bytes(&p.path),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ),
            Some(parent) => match CString::new(name_of(&p.path)) {
                Ok(c) => Dir::openat(
                    parent.as_fd(),
                    c.as_c_str(),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                    Mode::empty(),
                ),
                Err(_) => Err(Errno::EINVAL),
            },
        };
        let mut dir = match opened {
            Ok(d) => d,
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => continue,
            Err(e) => {
                stats.error("open", &p.path, e);
                continue;
            }
        };
        let mut names: Vec<Vec<u8>> = Vec::new();
        for ent in dir.iter() {
            match ent {
                Ok(ent) => {
                    let n = ent.file_name().to_bytes();
                    if n != b"." && n != b".." {
                        names.push(n.to_vec());
                    }
                }
                Err(e) => {
                    stats.error("readdir", &p.path, e);
                    break;
                }
            }
        }
        let dir = Rc::new(dir);
        for name in names {
            let path = join(&p.path, &name);
            if skip.contains(&path) {
                continue;
            }
            let st = match fstatat(
                dir.as_fd(),
                OsStr::from_bytes(&name),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(st) => facts(&st),
                Err(Errno::ENOENT) => continue,
                Err(e) => {
                    stats.error("fstatat", &path, e);
                    continue;
                }
            };
            stats.entries += 1;
            visit(&path, &st);
            if st.etype == EntryType::Dir && st.dev == dev {
                stack.push(Pending {
                    parent: Some(Rc::clone(&dir)),
                    path,
                });
            }
        }
    }
    stats
}

/// Writes `data` to `path` atomically: a temporary file in the same
/// directory, `fsync(2)`, `rename(2)` over `path`, then `fsync` of the
/// directory, so a reader (or a crash) sees the old file or the new one.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let ctx = |op: &str, p: &Path, e: io::Error| {
        io::Error::new(e.kind(), format!("{op} {}: {e}", p.display()))
    };
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| ctx("create", &tmp, e))?;
        f.write_all(data).map_err(|e| ctx("write", &tmp, e))?;
        f.sync_all().map_err(|e| ctx("fsync", &tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| ctx("rename", path, e))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
