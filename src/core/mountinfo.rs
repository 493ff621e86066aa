//! `/proc/self/mountinfo`: parsing (proc(5) format, octal escapes, optional
//! fields, per-mount vs super options) and classification of each mount
//! (Kubernetes volume, runtime tmpfs, platform mount, ...).
//!
//! PLACEHOLDER parse: no escapes, no validation; replaced by the full parser.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_id: u32,
    pub parent_id: u32,
    pub major: u32,
    pub minor: u32,
    /// Root of the mount within its filesystem (field 4), unescaped.
    pub root: PathBuf,
    /// Mount point (field 5), unescaped.
    pub mount_point: PathBuf,
    /// Per-mount options (field 6): `ro`/`rw`, `noexec`, `nosuid`, ...
    pub mount_options: Vec<String>,
    /// Optional fields (`shared:N`, `master:N`, ...).
    pub optional: Vec<String>,
    pub fs_type: String,
    pub source: String,
    /// Super-block options (last field): `size=`, `mode=`, ...
    pub super_options: Vec<String>,
}

impl MountEntry {
    /// Read-only by the per-mount flag (what runc sets for `readonly`).
    pub fn is_read_only(&self) -> bool {
        self.has_option("ro")
    }

    /// Whether the per-mount options contain `opt` exactly.
    pub fn has_option(&self, opt: &str) -> bool {
        self.mount_options.iter().any(|o| o == opt)
    }

    /// Value of a `key=value` super option.
    pub fn super_option(&self, key: &str) -> Option<&str> {
        self.super_options
            .iter()
            .find_map(|o| o.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }
}

/// Why a mountinfo line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

/// The parsed mount table, in kernel order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountTable {
    pub entries: Vec<MountEntry>,
}

impl MountTable {
    /// Parses the whole mountinfo text.
    pub fn parse(text: &[u8]) -> Result<MountTable, ParseError> {
        let mut entries = Vec::new();
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() {
                continue;
            }
            let err = |reason: &str| ParseError {
                line: i + 1,
                reason: reason.to_string(),
            };
            let s = String::from_utf8_lossy(line);
            let fields: Vec<&str> = s.split(' ').collect();
            let sep = fields
                .iter()
                .position(|f| *f == "-")
                .ok_or_else(|| err("no separator"))?;
            if sep < 6 || fields.len() < sep + 4 {
                return Err(err("too few fields"));
            }
            let num = |s: &str| s.parse::<u32>().map_err(|_| err("bad number"));
            let (maj, min) = fields[2].split_once(':').ok_or_else(|| err("bad dev"))?;
            entries.push(MountEntry {
                mount_id: num(fields[0])?,
                parent_id: num(fields[1])?,
                major: num(maj)?,
                minor: num(min)?,
                root: PathBuf::from(OsString::from_vec(fields[3].as_bytes().to_vec())),
                mount_point: PathBuf::from(OsString::from_vec(fields[4].as_bytes().to_vec())),
                mount_options: fields[5].split(',').map(str::to_string).collect(),
                optional: fields[6..sep].iter().map(|s| s.to_string()).collect(),
                fs_type: fields[sep + 1].to_string(),
                source: fields[sep + 2].to_string(),
                super_options: fields[sep + 3].split(',').map(str::to_string).collect(),
            });
        }
        Ok(MountTable { entries })
    }

    /// The mount whose mount point is exactly `path` (the last one wins, as
    /// the kernel stacks later mounts on top).
    pub fn at(&self, path: &Path) -> Option<&MountEntry> {
        self.entries.iter().rev().find(|e| e.mount_point == path)
    }

    /// The mount that contains `path`: the longest mount point that is a
    /// prefix of `path`, last one winning.
    pub fn containing(&self, path: &Path) -> Option<&MountEntry> {
        self.entries
            .iter()
            .filter(|e| path.starts_with(&e.mount_point))
            .max_by_key(|e| e.mount_point.as_os_str().len())
    }
}
