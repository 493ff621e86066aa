//! Observed facts about the container's storage, as plain data: what
//! `edge::probe` gathers once at start-up and `core::checks` judges. Types and
//! pure helpers only; nothing here makes a syscall, so tests build facts by
//! hand.

use std::path::PathBuf;

use crate::core::mounts::mountinfo::{MountTable, ParseError};

/// Who the checks ran as (effective ids, as the workload will run).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (getgroups(2)); may or may not contain `gid`.
    pub groups: Vec<u32>,
}

impl Identity {
    /// Whether the process is in group `gid` (primary or supplementary).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// `uid=65532 gid=65532 groups=65532,1000` (`groups=` empty when none).
    pub fn describe(&self) -> String {
        let groups: Vec<String> = self.groups.iter().map(u32::to_string).collect();
        format!(
            "uid={} gid={} groups={}",
            self.uid,
            self.gid,
            groups.join(",")
        )
    }
}

/// `statvfs(3)` and `statfs(2)` of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VfsFacts {
    /// `ST_RDONLY`: the mount or its super block is read-only.
    pub read_only: bool,
    /// `ST_NOEXEC`.
    pub noexec: bool,
    /// `f_frsize`: the unit of the block counts.
    pub frsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    /// Blocks available to an unprivileged user.
    pub bavail: u64,
    /// Inodes (0 on filesystems without a fixed inode count).
    pub files: u64,
    pub ffree: u64,
    /// `statfs` `f_type` magic (`TMPFS_MAGIC`, `EXT4_SUPER_MAGIC`, ...).
    pub fs_magic: i64,
}

impl VfsFacts {
    pub fn total_bytes(&self) -> u64 {
        self.blocks.saturating_mul(self.frsize)
    }
    pub fn avail_bytes(&self) -> u64 {
        self.bavail.saturating_mul(self.frsize)
    }
    pub fn used_bytes(&self) -> u64 {
        self.blocks
            .saturating_sub(self.bfree)
            .saturating_mul(self.frsize)
    }
    /// No block or no inode left for an unprivileged writer.
    pub fn is_full(&self) -> bool {
        (self.blocks > 0 && self.bavail == 0) || (self.files > 0 && self.ffree == 0)
    }
    /// Memory-backed by the `f_type` magic (tmpfs or ramfs).
    pub fn is_memory(&self) -> bool {
        self.fs_magic == TMPFS_MAGIC || self.fs_magic == RAMFS_MAGIC
    }
}

/// `statfs` `f_type` of tmpfs (linux/magic.h). `f_type` is i64 on x86_64
/// glibc but not on every target, hence the cast.
#[allow(clippy::unnecessary_cast)]
pub const TMPFS_MAGIC: i64 = libc::TMPFS_MAGIC as i64;
/// `f_type` of ramfs (linux/magic.h; libc has no constant for it).
pub const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// `stat(2)`/`lstat(2)` of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatFacts {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits only (`0o7777`).
    pub mode: u32,
    pub is_dir: bool,
    pub is_symlink: bool,
    pub dev: u64,
}

/// What the write probe (O_TMPFILE, else create+unlink) found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    Writable,
    /// EROFS: the mount is read-only.
    ReadOnlyFs,
    /// EACCES: owner/group/mode do not let this user write.
    Denied,
    /// EPERM: refused by something other than the mode bits (LSM, attributes).
    NotPermitted,
    /// ENOSPC or EDQUOT.
    NoSpace,
    /// ENOENT.
    Missing,
    Other(i32),
}

impl ProbeOutcome {
    /// Classifies the errno of a failed open/write.
    pub fn from_errno(errno: i32) -> ProbeOutcome {
        match errno {
            libc::EROFS => ProbeOutcome::ReadOnlyFs,
            libc::EACCES => ProbeOutcome::Denied,
            libc::EPERM => ProbeOutcome::NotPermitted,
            libc::ENOSPC | libc::EDQUOT => ProbeOutcome::NoSpace,
            libc::ENOENT => ProbeOutcome::Missing,
            e => ProbeOutcome::Other(e),
        }
    }
}

/// Everything observed about one declared path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathFacts {
    /// The path as declared in the spec.
    pub path: PathBuf,
    /// The canonical path when it differs (a symlink on the way); mount
    /// points in mountinfo are canonical.
    pub resolved: Option<PathBuf>,
    /// `lstat` of the declared path, or the errno.
    pub lstat: Result<StatFacts, i32>,
    /// `stat` following symlinks, when it succeeded.
    pub stat: Option<StatFacts>,
    /// `statvfs`+`statfs` of the path, or the errno.
    pub vfs: Result<VfsFacts, i32>,
    /// The write probe, for writable kinds that exist; `None` otherwise.
    pub probe: Option<ProbeOutcome>,
}

impl PathFacts {
    /// The path to look up in the mount table.
    pub fn lookup_path(&self) -> &std::path::Path {
        self.resolved.as_deref().unwrap_or(&self.path)
    }
}

/// All facts of one check run, gathered once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The mount table, or why it could not be read/parsed (operation, path,
    /// error).
    pub mountinfo: Result<MountTable, String>,
    /// Lines of the mount table that did not parse and were left out of it.
    pub mountinfo_skipped: Option<SkippedLines>,
    /// `statvfs`+`statfs` of `/`.
    pub root: Result<VfsFacts, i32>,
    pub identity: Identity,
    /// One per declared mount, in spec order.
    pub paths: Vec<PathFacts>,
}

/// Mount table lines that did not parse: left out so that the other mounts
/// are still checked (`MountTable::parse_lenient`), and reported as a warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLines {
    pub count: u64,
    /// The first bad line: its 1-based number and why it was rejected.
    pub first: ParseError,
}

impl SkippedLines {
    /// `None` when every line parsed.
    pub fn of(errors: &[ParseError]) -> Option<SkippedLines> {
        errors.first().map(|first| SkippedLines {
            count: errors.len() as u64,
            first: first.clone(),
        })
    }
}

/// `EACCES (Permission denied)`: the symbolic name and meaning of an errno,
/// stable across libcs (for messages and tests).
pub fn describe_errno(errno: i32) -> String {
    let (name, text) = match errno {
        libc::EPERM => ("EPERM", "Operation not permitted"),
        libc::ENOENT => ("ENOENT", "No such file or directory"),
        libc::EIO => ("EIO", "Input/output error"),
        libc::EACCES => ("EACCES", "Permission denied"),
        libc::EBUSY => ("EBUSY", "Device or resource busy"),
        libc::EEXIST => ("EEXIST", "File exists"),
        libc::ENOTDIR => ("ENOTDIR", "Not a directory"),
        libc::EISDIR => ("EISDIR", "Is a directory"),
        libc::EINVAL => ("EINVAL", "Invalid argument"),
        libc::ENOSPC => ("ENOSPC", "No space left on device"),
        libc::EROFS => ("EROFS", "Read-only file system"),
        libc::ELOOP => ("ELOOP", "Too many levels of symbolic links"),
        libc::ENAMETOOLONG => ("ENAMETOOLONG", "File name too long"),
        libc::EOPNOTSUPP => ("EOPNOTSUPP", "Operation not supported"),
        libc::EDQUOT => ("EDQUOT", "Disk quota exceeded"),
        libc::ESTALE => ("ESTALE", "Stale file handle"),
        libc::ENOTCONN => ("ENOTCONN", "Transport endpoint is not connected"),
        _ => return format!("errno {errno}"),
    };
    format!("{name} ({text})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_outcome_from_errno_names_each_case() {
        let cases = [
            ("erofs", libc::EROFS, ProbeOutcome::ReadOnlyFs),
            ("eacces", libc::EACCES, ProbeOutcome::Denied),
            ("eperm", libc::EPERM, ProbeOutcome::NotPermitted),
            ("enospc", libc::ENOSPC, ProbeOutcome::NoSpace),
            ("edquot", libc::EDQUOT, ProbeOutcome::NoSpace),
            ("enoent", libc::ENOENT, ProbeOutcome::Missing),
            ("eio", libc::EIO, ProbeOutcome::Other(libc::EIO)),
        ];
        for (name, errno, want) in cases {
            assert_eq!(ProbeOutcome::from_errno(errno), want, "case {name}");
        }
    }

    #[test]
    fn vfs_is_full_by_blocks_or_inodes() {
        let base = VfsFacts {
            frsize: 4096,
            blocks: 100,
            bfree: 50,
            bavail: 50,
            files: 10,
            ffree: 5,
            ..VfsFacts::default()
        };
        let cases = [
            ("room", base, false),
            ("no blocks", VfsFacts { bavail: 0, ..base }, true),
            ("no inodes", VfsFacts { ffree: 0, ..base }, true),
            (
                "no inode count (btrfs)",
                VfsFacts {
                    files: 0,
                    ffree: 0,
                    ..base
                },
                false,
            ),
            (
                "empty fs reports nothing",
                VfsFacts {
                    blocks: 0,
                    bavail: 0,
                    ..base
                },
                false,
            ),
        ];
        for (name, v, want) in cases {
            assert_eq!(v.is_full(), want, "case {name}");
        }
    }

    #[test]
    fn describe_errno_names_and_falls_back() {
        assert_eq!(describe_errno(libc::EROFS), "EROFS (Read-only file system)");
        assert_eq!(describe_errno(9999), "errno 9999");
    }

    #[test]
    fn identity_describe_and_groups() {
        let id = Identity {
            uid: 65532,
            gid: 65532,
            groups: vec![65532, 1000],
        };
        assert_eq!(id.describe(), "uid=65532 gid=65532 groups=65532,1000");
        assert!(id.in_group(1000));
        assert!(!id.in_group(0));
    }
}
