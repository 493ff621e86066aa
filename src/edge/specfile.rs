//! Reading the spec file (`--spec FILE`, default `/etc/sealinit/spec.toml`)
//! safely: a FIFO does not hang, a device is not opened, a huge or binary
//! file is refused, and every error names the path and the operation.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where the spec file is looked for when `--spec` is not given.
pub const DEFAULT_SPEC_PATH: &str = "/etc/sealinit/spec.toml";

/// The largest spec file read (a real one is a few hundred bytes).
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// Why the spec file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecReadErrorKind {
    /// The path does not exist.
    NotFound,
    /// Any other error of the named operation.
    Io,
    /// A FIFO, socket, device or directory.
    NotRegular,
    /// Larger than [`MAX_SPEC_BYTES`].
    TooLarge,
    /// Contains a NUL byte.
    Binary,
    /// Not valid UTF-8.
    NotUtf8,
}

/// A spec file read error: the path, the operation, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecReadError {
    pub path: PathBuf,
    /// `stat`, `open`, `fstat`, `read` or `check` (content checks).
    pub op: &'static str,
    pub kind: SpecReadErrorKind,
    pub message: String,
}

impl fmt::Display for SpecReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "spec file {}: {}: {}",
            self.path.display(),
            self.op,
            self.message
        )
    }
}

impl std::error::Error for SpecReadError {}

/// Reads a spec file as UTF-8 text.
///
/// `stat(2)` first, so a FIFO or device is refused without being opened;
/// then `open(2)` with `O_NONBLOCK | O_CLOEXEC | O_NOCTTY` (if the path was
/// swapped for a FIFO in between, the open does not block) and `fstat(2)`
/// on the descriptor, which is what is trusted; then at most
/// [`MAX_SPEC_BYTES`] + 1 bytes are `read(2)` (a file that grows, or a
/// `/proc` file that reports size 0, is still bounded). NUL bytes and
/// invalid UTF-8 are refused with the byte offset and line.
pub fn read_spec_file(path: &Path) -> Result<String, SpecReadError> {
    let err = |op: &'static str, kind: SpecReadErrorKind, message: String| SpecReadError {
        path: path.to_path_buf(),
        op,
        kind,
        message,
    };
    let meta = fs::metadata(path).map_err(|e| io_error(path, "stat", e))?;
    if !meta.file_type().is_file() {
        return Err(not_regular(path, "stat", meta.file_type()));
    }
    let (file, meta) = open_regular(path)?;
    let too_large = |size: u64| {
        err(
            "check",
            SpecReadErrorKind::TooLarge,
            format!("is {size} bytes, more than the {MAX_SPEC_BYTES}-byte limit for a spec file"),
        )
    };
    if meta.len() > MAX_SPEC_BYTES {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(path, "read", e))?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    check_text(bytes).map_err(|(kind, message)| err("check", kind, message))
}

/// `open(2)` with `O_NONBLOCK | O_CLOEXEC | O_NOCTTY` (a FIFO opens at
/// once instead of waiting for a writer), then `fstat(2)` on the descriptor:
/// anything but a regular file is refused.
fn open_regular(path: &Path) -> Result<(File, fs::Metadata), SpecReadError> {
    let file: File = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| io_error(path, "open", e))?;
    let meta = file.metadata().map_err(|e| io_error(path, "fstat", e))?;
    if !meta.file_type().is_file() {
        return Err(not_regular(path, "fstat", meta.file_type()));
    }
    Ok((file, meta))
}

fn io_error(path: &Path, op: &'static str, e: io::Error) -> SpecReadError {
    let kind = if e.kind() == io::ErrorKind::NotFound {
        SpecReadErrorKind::NotFound
    } else {
        SpecReadErrorKind::Io
    };
    SpecReadError {
        path: path.to_path_buf(),
        op,
        kind,
        message: e.to_string(),
    }
}

fn not_regular(path: &Path, op: &'static str, ft: fs::FileType) -> SpecReadError {
    SpecReadError {
        path: path.to_path_buf(),
        op,
        kind: SpecReadErrorKind::NotRegular,
        message: format!(
            "is a {}, not a regular file (point --spec at a TOML file)",
            file_type_name(ft)
        ),
    }
}

/// UTF-8 text without NUL bytes, or where the first bad byte is.
fn check_text(bytes: Vec<u8>) -> Result<String, (SpecReadErrorKind, String)> {
    let line_at = |pos: usize| 1 + bytes[..pos].iter().filter(|&&b| b == b'\n').count();
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err((
            SpecReadErrorKind::Binary,
            format!(
                "is binary (NUL byte at offset {pos}, line {}), expected a TOML text file",
                line_at(pos)
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let pos = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let line = 1 + bytes[..pos].iter().filter(|&&b| b == b'\n').count();
        (
            SpecReadErrorKind::NotUtf8,
            format!("is not UTF-8 (invalid byte 0x{:02x} at offset {pos}, line {line}), expected a TOML text file", bytes[pos]),
        )
    })
}

fn file_type_name(ft: fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// Whether `/etc/sealinit/spec.toml` should be read: true when it exists
/// (whatever it is, so that a directory or FIFO there is reported by
/// [`read_spec_file`], not silently ignored) and when its existence cannot
/// be determined (`stat(2)` failed with something other than ENOENT, e.g.
/// EACCES: reading it will report the error).
pub fn default_spec_path_exists() -> bool {
    spec_path_exists(Path::new(DEFAULT_SPEC_PATH))
}

/// One `stat(2)` (std's `try_exists` makes it a `statx` plus, on its
/// first failure, a second `statx` probing for statx support).
fn spec_path_exists(path: &Path) -> bool {
    !matches!(nix::sys::stat::stat(path), Err(nix::errno::Errno::ENOENT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p = std::env::temp_dir()
                .join(format!("sealinit-specfile-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.0.join(name);
        fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    #[test]
    fn regular_file_is_read() {
        let d = TempDir::new("regular");
        let p = write(&d, "spec.toml", b"root = \"any\"\n");
        assert_eq!(read_spec_file(&p).unwrap(), "root = \"any\"\n");
    }

    #[test]
    fn refusals_name_path_operation_and_reason() {
        let d = TempDir::new("refusals");
        let fifo = d.0.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let huge = d.0.join("huge");
        fs::File::create(&huge)
            .unwrap()
            .set_len(MAX_SPEC_BYTES + 1)
            .unwrap();
        let cases: Vec<(&str, PathBuf, &str, SpecReadErrorKind, &str)> = vec![
            (
                "missing file",
                d.0.join("nope"),
                "stat",
                SpecReadErrorKind::NotFound,
                "No such file",
            ),
            (
                "directory",
                d.0.clone(),
                "stat",
                SpecReadErrorKind::NotRegular,
                "is a directory",
            ),
            (
                "FIFO, no hang",
                fifo,
                "stat",
                SpecReadErrorKind::NotRegular,
                "is a FIFO",
            ),
            (
                "character device",
                PathBuf::from("/dev/null"),
                "stat",
                SpecReadErrorKind::NotRegular,
                "is a character device",
            ),
            (
                "huge file",
                huge,
                "check",
                SpecReadErrorKind::TooLarge,
                "1048577 bytes",
            ),
            (
                "NUL byte",
                write(&d, "bin", b"root = \"any\"\nwarn\0_at = 1"),
                "check",
                SpecReadErrorKind::Binary,
                "NUL byte at offset 17, line 2",
            ),
            (
                "ELF binary",
                write(&d, "elf", b"\x7fELF\x02\x01\x01\0\0\0"),
                "check",
                SpecReadErrorKind::Binary,
                "offset 7, line 1",
            ),
            (
                "Latin-1 text",
                write(&d, "latin1", b"# ok\n# caf\xe9\n"),
                "check",
                SpecReadErrorKind::NotUtf8,
                "byte 0xe9 at offset 10, line 2",
            ),
        ];
        for (name, path, op, kind, msg) in cases {
            let e = read_spec_file(&path).expect_err(name);
            assert_eq!(e.path, path, "{name}: path");
            assert_eq!(e.op, op, "{name}: op");
            assert_eq!(e.kind, kind, "{name}: kind");
            assert!(e.message.contains(msg), "{name}: {e}");
            let shown = e.to_string();
            assert!(
                shown.starts_with(&format!("spec file {}: {op}: ", path.display())),
                "{name}: {shown}"
            );
        }
    }

    /// The FIFO may replace the file between `stat` and `open`: the open
    /// itself must not wait for a writer, and `fstat` refuses it.
    #[test]
    fn fifo_swapped_in_after_stat_does_not_hang() {
        let d = TempDir::new("fifo-open");
        let fifo = d.0.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = open_regular(&fifo).map(|_| ()).unwrap_err();
        assert_eq!((e.op, e.kind), ("fstat", SpecReadErrorKind::NotRegular));
        assert!(e.message.contains("is a FIFO"), "{e}");
    }

    #[test]
    fn exactly_the_limit_is_accepted() {
        let d = TempDir::new("limit");
        let p = write(&d, "max", &vec![b'#'; MAX_SPEC_BYTES as usize]);
        assert_eq!(read_spec_file(&p).unwrap().len() as u64, MAX_SPEC_BYTES);
    }

    #[test]
    fn existence_of_the_spec_path() {
        let d = TempDir::new("exists");
        let p = write(&d, "spec.toml", b"");
        assert!(spec_path_exists(&p), "regular file");
        assert!(
            spec_path_exists(&d.0),
            "directory still counts: reading reports it"
        );
        assert!(!spec_path_exists(&d.0.join("missing")), "missing");
    }
}
