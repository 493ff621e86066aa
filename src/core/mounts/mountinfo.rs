//! `/proc/self/mountinfo`: parsing of the proc(5) format into a
//! [`MountTable`], and the lookups the checks need (`at`, `containing`).
//! Classification of each mount lives in `core::mounts::classify`.
//!
//! Line format (proc(5), "/proc/pid/mountinfo"):
//!
//! ```text
//! 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//! (1)(2)(3)   (4)   (5)      (6)      (7)   (8) (9)   (10)         (11)
//! ```
//!
//! mount ID, parent ID, major:minor, root, mount point, per-mount options,
//! zero or more optional fields, a lone `-`, filesystem type, source, super
//! options. The kernel escapes space, tab, newline and backslash as octal
//! (`\040`, `\011`, `\012`, `\134`) in paths, source and options; we undo
//! every `\ooo` escape, keep paths as raw bytes (non-UTF-8 safe), and keep a
//! backslash that is not followed by three octal digits as it is (as
//! util-linux does). The source may be empty (`mount -t tmpfs "" /x` prints
//! two spaces), which we accept.
//!
//! Nothing is skipped silently: [`MountTable::parse`] fails on the first
//! malformed line with its 1-based number; [`MountTable::parse_lenient`]
//! keeps the good lines and returns every error beside them. Neither panics
//! on any input.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
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
    pub mount_options: Options,
    /// Optional fields (`shared:N`, `master:N`, ...).
    pub optional: Options,
    pub fs_type: String,
    /// Mount source (`/dev/vda1`, `tmpfs`, `shm`, or empty), unescaped;
    /// non-UTF-8 bytes are replaced by U+FFFD.
    pub source: String,
    /// Super-block options (last field): `size=`, `mode=`, ...
    pub super_options: Options,
}

/// A list of options (or optional fields), each unescaped, kept in one
/// string: one allocation per list rather than one per option (the start
/// path parses every mount's lists, a good part of reading the table).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The options, each followed by a NUL (the kernel prints them from C
    /// strings; an escaped `\000` is kept as U+FFFD, so it cannot split one).
    joined: String,
}

impl Options {
    fn push(&mut self, opt: &str) {
        if opt.contains('\0') {
            self.joined.push_str(&opt.replace('\0', "\u{fffd}"));
        } else {
            self.joined.push_str(opt);
        }
        self.joined.push('\0');
    }

    /// Pushes a raw field, unescaped (non-UTF-8 bytes become U+FFFD).
    fn push_field(&mut self, raw: &[u8]) {
        match unescape(raw) {
            Cow::Borrowed(b) => self.push(&String::from_utf8_lossy(b)),
            Cow::Owned(v) => self.push(&String::from_utf8_lossy(&v)),
        }
    }

    /// The options, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        // Split by bytes (a `char` pattern searches through a generic
        // searcher for each piece; the checks ask every mount's options).
        // Every piece ends at an ASCII NUL of a `String`: valid UTF-8.
        let joined = self.joined.as_bytes();
        let body = joined.strip_suffix(b"\0").unwrap_or(joined);
        let empty = joined.is_empty();
        body.split(|&b| b == 0)
            .filter(move |_| !empty)
            .map(|piece| std::str::from_utf8(piece).unwrap_or_default())
    }

    pub fn len(&self) -> usize {
        self.joined.bytes().filter(|&b| b == 0).count()
    }

    pub fn is_empty(&self) -> bool {
        self.joined.is_empty()
    }

    /// The options joined by `sep` (`","`: as mountinfo prints them,
    /// unescaped).
    pub fn join(&self, sep: &str) -> String {
        self.iter().collect::<Vec<_>>().join(sep)
    }
}

impl<'a> FromIterator<&'a str> for Options {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Options {
        let mut o = Options::default();
        for opt in iter {
            o.push(opt);
        }
        o
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl MountEntry {
    /// Read-only by the per-mount flag (what runc sets for `readonly`).
    pub fn is_read_only(&self) -> bool {
        self.has_option("ro")
    }

    /// Read-only at the super-block (the whole filesystem, every mount of it).
    pub fn is_super_read_only(&self) -> bool {
        self.super_options.iter().any(|o| o == "ro")
    }

    /// Whether the per-mount options contain `opt` exactly.
    pub fn has_option(&self, opt: &str) -> bool {
        self.mount_options.iter().any(|o| o == opt)
    }

    /// Value of a `key=value` super option (`super_option("size")` on a
    /// tmpfs gives `"65536k"`).
    pub fn super_option(&self, key: &str) -> Option<&str> {
        self.super_options
            .iter()
            .find_map(|o| o.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }

    /// Parses one mountinfo line (without its newline). `line_no` (1-based)
    /// is only used in the error.
    pub fn parse_line(line: &[u8], line_no: usize) -> Result<MountEntry, ParseError> {
        parse_fields(line).map_err(|reason| ParseError {
            line: line_no,
            reason,
        })
    }
}

/// Why a mountinfo line was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mountinfo line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// The parsed mount table, in kernel order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountTable {
    pub entries: Vec<MountEntry>,
}

impl MountTable {
    /// Parses the whole mountinfo text; the first malformed line is an error.
    pub fn parse(text: &[u8]) -> Result<MountTable, ParseError> {
        let mut entries = Vec::with_capacity(estimate_lines(text));
        for (i, line) in lines(text) {
            entries.push(MountEntry::parse_line(line, i)?);
        }
        Ok(MountTable { entries })
    }

    /// Parses every line it can: the good lines make the table, each bad line
    /// becomes an error with its number. For the runtime, so that one strange
    /// line does not blind every check.
    pub fn parse_lenient(text: &[u8]) -> (MountTable, Vec<ParseError>) {
        let mut entries = Vec::with_capacity(estimate_lines(text));
        let mut errors = Vec::new();
        for (i, line) in lines(text) {
            match MountEntry::parse_line(line, i) {
                Ok(e) => entries.push(e),
                Err(e) => errors.push(e),
            }
        }
        (MountTable { entries }, errors)
    }

    /// The mount whose mount point is exactly `path` (the last one wins, as
    /// the kernel stacks later mounts on top).
    pub fn at(&self, path: &Path) -> Option<&MountEntry> {
        // Bytes first: mount points are spelled normalised, so a normalised
        // `path` is found so (a component-wise comparison per entry was a
        // good part of the start-up checks); any other spelling the slow way.
        let b = path.as_os_str().as_encoded_bytes();
        self.entries
            .iter()
            .rev()
            .find(|e| e.mount_point.as_os_str().as_encoded_bytes() == b)
            .or_else(|| self.entries.iter().rev().find(|e| e.mount_point == path))
    }

    /// The mount that contains `path`: the mount point with the most path
    /// components that is a prefix of `path` (by components, so `/data` does
    /// not contain `/database`), the last one winning a tie. `path` should be
    /// absolute and normalised (no `..`, symlinks resolved by the caller).
    pub fn containing(&self, path: &Path) -> Option<&MountEntry> {
        self.entries
            .iter()
            .filter(|e| path.starts_with(&e.mount_point))
            .max_by_key(|e| e.mount_point.components().count())
    }

    /// For each entry, whether it is the one visible at its mount point:
    /// the last mount there (earlier ones are covered by it). One pass with
    /// a hash set, so a table of tens of thousands of mounts stays linear.
    /// Paths compare as `Path`s do (`/data/` is `/data`); when every mount
    /// point is spelled plainly, as the kernel spells them, that is byte
    /// equality, hashed as bytes (`Path`'s own hash walks components: most
    /// of this on the start path).
    pub fn visible(&self) -> Vec<bool> {
        let points = || self.entries.iter().map(|e| &e.mount_point);
        if points().all(|p| spelled_plainly(p.as_os_str().as_encoded_bytes())) {
            last_of_each(points().map(|p| p.as_os_str().as_encoded_bytes()))
        } else {
            last_of_each(points().map(PathBuf::as_path))
        }
    }

    /// Number of mounts.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table has no mounts.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// For each key, whether no later key equals it (one pass from the end).
fn last_of_each<K: std::hash::Hash + Eq>(
    keys: impl DoubleEndedIterator<Item = K> + ExactSizeIterator,
) -> Vec<bool> {
    let mut seen =
        crate::core::fasthash::FastSet::with_capacity_and_hasher(keys.len(), Default::default());
    let mut out: Vec<bool> = keys.rev().map(|k| seen.insert(k)).collect();
    out.reverse();
    out
}

/// An absolute path whose bytes are its one spelling as a `Path`: no empty
/// or `.` component and no trailing `/` (but `/` itself). Two such paths
/// are equal as `Path`s exactly when their bytes are.
fn spelled_plainly(p: &[u8]) -> bool {
    p == b"/"
        || (p.first() == Some(&b'/')
            && p[1..]
                .split(|&b| b == b'/')
                .all(|c| !c.is_empty() && c != b"."))
}

/// Lines with their 1-based numbers. The empty piece after a final newline
/// is not a line; any other empty line is passed on (and rejected).
fn lines(text: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let empty = text.is_empty();
    body.split(|&b| b == b'\n')
        .enumerate()
        .filter(move |_| !empty)
        .map(|(i, l)| (i + 1, l))
}

fn estimate_lines(text: &[u8]) -> usize {
    // Real lines are ~100-200 bytes; cap so hostile input cannot make us
    // reserve a lot up front.
    (text.len() / 96).min(1 << 16)
}

/// The fields of one line, or a reason naming the field that is wrong.
fn parse_fields(line: &[u8]) -> Result<MountEntry, String> {
    if line.is_empty() {
        return Err("empty line".to_string());
    }
    let mut fields = line.split(|&b| b == b' ');
    let mut next = |name: &str| {
        fields
            .next()
            .ok_or_else(|| format!("line ends before the {name} field"))
    };
    let mount_id = number(next("mount ID")?, "mount ID")?;
    let parent_id = number(next("parent ID")?, "parent ID")?;
    let dev = next("major:minor")?;
    let colon = dev
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| format!("major:minor {} has no ':'", show(dev)))?;
    let major = number(&dev[..colon], "major device number")?;
    let minor = number(&dev[colon + 1..], "minor device number")?;
    let root = path(non_empty(next("root")?, "root")?);
    let mount_point = path(non_empty(next("mount point")?, "mount point")?);
    let mount_options = options(non_empty(next("mount options")?, "mount options")?);
    let mut optional = Options::default();
    loop {
        let f = next("'-' separator")?;
        if f == b"-" {
            break;
        }
        optional.push_field(non_empty(f, "optional")?);
    }
    let fs_type = text(non_empty(next("filesystem type")?, "filesystem type")?);
    let source = text(next("source")?); // may be empty
    let super_options = options(next("super options")?);
    // (Not `next`: its error message would be formatted for every line.)
    if let Some(extra) = fields.next() {
        return Err(format!(
            "unexpected field {} after the super options",
            show(extra)
        ));
    }
    Ok(MountEntry {
        mount_id,
        parent_id,
        major,
        minor,
        root,
        mount_point,
        mount_options,
        optional,
        fs_type,
        source,
        super_options,
    })
}

/// A decimal u32: digits only (no sign, no spaces), checked for overflow.
fn number(field: &[u8], name: &str) -> Result<u32, String> {
    if field.is_empty() || !field.iter().all(u8::is_ascii_digit) {
        return Err(format!("{name} {} is not a number", show(field)));
    }
    field.iter().try_fold(0u32, |acc, &b| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(b - b'0')))
            .ok_or_else(|| format!("{name} {} is too large", show(field)))
    })
}

fn non_empty<'a>(field: &'a [u8], name: &str) -> Result<&'a [u8], String> {
    if field.is_empty() {
        Err(format!("empty {name} field (two spaces in a row)"))
    } else {
        Ok(field)
    }
}

fn path(field: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(field).into_owned()))
}

fn text(field: &[u8]) -> String {
    if !field.contains(&b'\\') {
        if let Ok(s) = std::str::from_utf8(field) {
            return s.to_owned();
        }
    }
    match unescape(field) {
        Cow::Borrowed(b) => String::from_utf8_lossy(b).into_owned(),
        Cow::Owned(v) => String::from_utf8(v)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Comma-separated options, each unescaped (the kernel escapes `,` inside a
/// value, e.g. an overlay `lowerdir`, as `\054`, so splitting first is right).
fn options(field: &[u8]) -> Options {
    // The common case in one pass: nothing escaped and no NUL. Then each
    // option is its bytes as they stand, so the list is the field with
    // every `,` made a NUL and one NUL after the last option (both ASCII:
    // the bytes are UTF-8 after the swap exactly when they were before).
    if !field.is_empty() && !field.iter().any(|&b| b == b'\\' || b == 0) {
        let mut bytes = Vec::with_capacity(field.len() + 1);
        bytes.extend(field.iter().map(|&b| if b == b',' { 0 } else { b }));
        bytes.push(0);
        if let Ok(joined) = String::from_utf8(bytes) {
            return Options { joined };
        }
    }
    options_each(field)
}

/// [`options`] the general way: each option unescaped and checked alone.
fn options_each(field: &[u8]) -> Options {
    let mut out = Options {
        joined: String::with_capacity(field.len() + 1),
    };
    if field.is_empty() {
        return out;
    }
    for opt in field.split(|&b| b == b',') {
        out.push_field(opt);
    }
    out
}

/// Undoes the kernel's `\ooo` octal escapes; borrows when there are none.
pub fn unescape(field: &[u8]) -> Cow<'_, [u8]> {
    if !field.contains(&b'\\') {
        return Cow::Borrowed(field);
    }
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let b = field[i];
        if b == b'\\' {
            if let Some(v) = octal3(&field[i + 1..]) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    Cow::Owned(out)
}

/// The byte value of three leading octal digits, if they are there and fit.
fn octal3(s: &[u8]) -> Option<u8> {
    let d = s.get(..3)?;
    if !d.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    let v = u32::from(d[0] - b'0') * 64 + u32::from(d[1] - b'0') * 8 + u32::from(d[2] - b'0');
    u8::try_from(v).ok()
}

/// A field for an error message: escaped, at most ~64 bytes.
fn show(field: &[u8]) -> String {
    const MAX: usize = 64;
    let cut = &field[..field.len().min(MAX)];
    let more = if field.len() > MAX { "..." } else { "" };
    format!("\"{}{more}\"", cut.escape_ascii())
}

#[cfg(test)]
#[path = "mountinfo_tests.rs"]
mod tests;
