//! Syscall edges of tamper detection: waiting on `/proc/self/mountinfo` for
//! a mount-table change, re-reading it, and looking at a dropped file's
//! mode and first bytes (never more than [`HEAD_LEN`]).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{open, openat, AtFlags, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::{fstat, fstatat, Mode};
use nix::sys::statvfs::{fstatvfs, FsFlags};
use nix::unistd::{lseek, read, Whence};

use crate::core::watch::tamper::{recognise, FileFacts, HEAD_LEN};
use crate::core::watch::usage_tree::EntryStat;
use crate::edge::usage::{entry_stat, os_err};

/// An open mount table (`/proc/self/mountinfo`), pollable for changes.
#[derive(Debug)]
pub struct MountWatch {
    fd: OwnedFd,
    path: PathBuf,
}

impl MountWatch {
    /// `open(2)` of the mountinfo file, read-only, close-on-exec.
    pub fn open(path: &Path) -> io::Result<MountWatch> {
        let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| os_err("open", path, e))?;
        Ok(MountWatch {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Blocks in [`poll(2)`](https://man7.org/linux/man-pages/man2/poll.2.html)
    /// for `POLLPRI` (the kernel raises `POLLERR | POLLPRI` once per change
    /// of the mount namespace's table, see proc(5)). `None` waits forever.
    /// `Ok(true)`: the table changed; `Ok(false)`: timeout or `EINTR`.
    /// An error means this file cannot be polled (`POLLNVAL`, a poll error).
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(d) => {
                // Rounded up, so a deadline is never polled early; zero stays
                // zero (a non-blocking probe must not sleep a millisecond).
                let ms = d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLPRI)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(Errno::EINTR) => Ok(false),
            Ok(_) => {
                let r = fds[0].revents().unwrap_or(PollFlags::empty());
                if r.contains(PollFlags::POLLNVAL) {
                    return Err(os_err("poll", &self.path, Errno::EBADF));
                }
                Ok(r.intersects(PollFlags::POLLPRI | PollFlags::POLLERR))
            }
            Err(e) => Err(os_err("poll", &self.path, e)),
        }
    }

    /// The whole table as it is now: `lseek(2)` to 0, then one buffer read
    /// to the end ([`crate::edge::procfile::read_to_end`]).
    pub fn read(&self) -> io::Result<Vec<u8>> {
        lseek(self.fd.as_fd(), 0, Whence::SeekSet).map_err(|e| os_err("lseek", &self.path, e))?;
        crate::edge::procfile::read_to_end(self.fd.as_fd(), &self.path)
    }
}

/// A file looked at for an exec drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Looked {
    pub facts: FileFacts,
    pub dev: u64,
    pub ino: u64,
    /// The filesystem holding it is mounted `noexec` (`ST_NOEXEC`).
    pub noexec: bool,
}

/// Looks at entry `rel` under directory `root`: `fstatat(2)` without
/// following a symlink (or `seen`, the caller's own `lstat` of it moments
/// ago: the path is not looked up twice); for a regular file with an exec
/// bit (only such a file can be `execve`d; one without is judged on its
/// `stat` alone and never opened), `openat(2)` with `O_NOFOLLOW |
/// O_NONBLOCK | O_NOATIME` (without `O_NOATIME` when not the owner),
/// `fstat(2)` and a `read(2)` of at most [`HEAD_LEN`] bytes; `fstatvfs(3)`
/// only for a file recognised as executable (the severity). `Ok(None)` when
/// the entry is gone or not a regular file.
pub fn look_at(
    root: BorrowedFd<'_>,
    rel: &[u8],
    seen: Option<&EntryStat>,
) -> Result<Option<Looked>, Errno> {
    let name = OsStr::from_bytes(rel);
    let st = match seen {
        Some(st) => *st,
        None => match fstatat(root, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => entry_stat(&st),
            Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => return Ok(None),
            Err(e) => return Err(e),
        },
    };
    if st.mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    if st.mode & 0o111 == 0 {
        // Not executable as it stands: judged on the stat alone (a later
        // `chmod +x` is an IN_ATTRIB, and looked at then).
        return Ok(Some(Looked {
            facts: FileFacts {
                mode: st.mode,
                size: st.size,
                nlink: st.nlink,
                mtime: st.mtime,
                ctime: st.ctime,
                ..FileFacts::default()
            },
            dev: st.dev,
            ino: st.ino,
            noexec: false,
        }));
    }
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    // O_NOATIME: looking must not dirty the inode (EPERM unless owner).
    let fd = match openat(root, name, flags | OFlag::O_NOATIME, Mode::empty()) {
        Err(Errno::EPERM) => openat(root, name, flags, Mode::empty()),
        r => r,
    };
    let fd = match fd {
        Ok(fd) => fd,
        Err(Errno::ENOENT) | Err(Errno::ELOOP) => return Ok(None),
        Err(e) => return Err(e),
    };
    let st = fstat(fd.as_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(None);
    }
    let mut facts = FileFacts {
        mode: st.st_mode,
        size: u64::try_from(st.st_size).unwrap_or(0),
        nlink: st.st_nlink,
        mtime: (st.st_mtime, st.st_mtime_nsec),
        ctime: (st.st_ctime, st.st_ctime_nsec),
        ..FileFacts::default()
    };
    if facts.size > 0 {
        facts.head_len = read_head(fd.as_fd(), &mut facts.head);
    }
    let noexec = recognise(facts.mode, facts.head()).is_some()
        && fstatvfs(fd.as_fd())
            .map(|v| v.flags().contains(FsFlags::ST_NOEXEC))
            .unwrap_or(false);
    Ok(Some(Looked {
        facts,
        dev: st.st_dev,
        ino: st.st_ino,
        noexec,
    }))
}

/// Reads up to `buf.len()` bytes from the start; what could be read.
fn read_head(fd: BorrowedFd<'_>, buf: &mut [u8; HEAD_LEN]) -> usize {
    let mut got = 0;
    while got < HEAD_LEN {
        match read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    got
}
