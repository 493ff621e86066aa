//! inotify for the usage watcher: one instance (shared by every watched
//! mount, see `orchestra::hub`), a watch per directory, events read in large
//! non-blocking batches and returned as plain data (raw-byte names).
//!
//! See [inotify(7)](https://man7.org/linux/man-pages/man7/inotify.7.html).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use crate::edge::usage::os_err;

/// What a directory watch listens for: everything that can change the
/// allocated size of an entry, its link count, or the set of entries.
pub fn dir_mask() -> AddWatchFlags {
    AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_ONLYDIR
        | AddWatchFlags::IN_DONT_FOLLOW
}

/// The mask of a directory too busy to follow event by event (the tracker
/// lists it on a timer instead, see `orchestra::tracker`): only what keeps
/// the tree of directories consistent (moves in and out, its own removal).
/// Creates, writes, closes and deletes in it raise no event, and cost the
/// writer nothing.
pub fn quiet_mask() -> AddWatchFlags {
    AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_ONLYDIR
        | AddWatchFlags::IN_DONT_FOLLOW
}

/// Mask bits of [`Event::mask`] the watcher interprets.
pub const IN_Q_OVERFLOW: u32 = libc::IN_Q_OVERFLOW;
pub const IN_IGNORED: u32 = libc::IN_IGNORED;
pub const IN_UNMOUNT: u32 = libc::IN_UNMOUNT;
pub const IN_ISDIR: u32 = libc::IN_ISDIR;

/// One inotify event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Watch descriptor (`-1` for `IN_Q_OVERFLOW`).
    pub wd: i32,
    pub mask: u32,
    /// The entry's name in the watched directory; empty for the directory
    /// itself.
    pub name: Name,
}

/// An entry name as an event carries it: kept inline up to [`Name::INLINE`]
/// bytes (nearly every name), on the heap beyond, so reading a batch of
/// events allocates nothing per event. Derefs to the raw bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Name(Repr);

#[derive(Clone, PartialEq, Eq)]
enum Repr {
    Inline(u8, [u8; Name::INLINE]),
    Heap(Box<[u8]>),
}

impl Name {
    /// The longest name kept inline (the enum stays the size of a `Vec`).
    pub const INLINE: usize = 22;

    pub fn new(bytes: &[u8]) -> Name {
        if bytes.len() <= Name::INLINE {
            let mut buf = [0u8; Name::INLINE];
            buf[..bytes.len()].copy_from_slice(bytes);
            Name(Repr::Inline(bytes.len() as u8, buf))
        } else {
            Name(Repr::Heap(bytes.into()))
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline(len, buf) => &buf[..usize::from(*len)],
            Repr::Heap(b) => b,
        }
    }
}

impl std::ops::Deref for Name {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.as_slice().escape_ascii())
    }
}

#[cfg(test)]
impl Event {
    /// An event as the kernel would queue it (unit tests).
    pub fn of(wd: i32, mask: u32, name: &str) -> Event {
        Event {
            wd,
            mask,
            name: Name::new(name.as_bytes()),
        }
    }
}

/// An inotify instance (non-blocking, close-on-exec).
#[derive(Debug)]
pub struct Notify {
    inner: Inotify,
}

impl Notify {
    /// [`inotify_init1(2)`](https://man7.org/linux/man-pages/man2/inotify_init1.2.html)
    /// with `IN_NONBLOCK | IN_CLOEXEC`.
    pub fn new() -> io::Result<Notify> {
        Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map(|inner| Notify { inner })
            .map_err(|e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!("inotify_init1: {}", e.desc()),
                )
            })
    }

    /// Watches directory `path` with [`dir_mask`], by
    /// [`inotify_add_watch(2)`](https://man7.org/linux/man-pages/man2/inotify_add_watch.2.html).
    /// Returns the raw errno so that the caller can tell `ENOSPC` (watch
    /// limit) from a directory that vanished (`ENOENT`, `ENOTDIR`).
    pub fn watch_dir(&self, path: &Path) -> Result<i32, Errno> {
        self.watch_dir_with(path, dir_mask())
    }

    /// [`Notify::watch_dir`] with `mask` (on a watched directory it
    /// replaces the mask and returns the same descriptor).
    pub fn watch_dir_with(&self, path: &Path, mask: AddWatchFlags) -> Result<i32, Errno> {
        let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        // SAFETY: `c` is a valid NUL-terminated string that outlives the
        // call; the fd is our open inotify instance.
        let wd = unsafe {
            libc::inotify_add_watch(self.inner.as_fd().as_raw_fd(), c.as_ptr(), mask.bits())
        };
        Errno::result(wd)
    }

    /// [`inotify_rm_watch(2)`](https://man7.org/linux/man-pages/man2/inotify_rm_watch.2.html);
    /// a watch the kernel already dropped (`EINVAL`) is not an error.
    pub fn unwatch(&self, wd: i32) {
        // SAFETY: two integers in, no memory of ours touched; a stale wd
        // only yields EINVAL, which is what "already gone" means here.
        let _ = unsafe { libc::inotify_rm_watch(self.inner.as_fd().as_raw_fd(), wd) };
    }

    /// Reads every queued event without blocking (`read(2)` until
    /// `EAGAIN`). `buf` is reused between calls.
    pub fn read_all(&self, buf: &mut Vec<u8>, out: &mut Vec<Event>) -> io::Result<()> {
        if buf.len() < 64 * 1024 {
            buf.resize(64 * 1024, 0);
        }
        loop {
            match nix::unistd::read(self.inner.as_fd(), buf) {
                Ok(0) => return Ok(()),
                Ok(n) => parse_events(&buf[..n], out),
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(os_err("read inotify", Path::new(""), e)),
            }
        }
    }
}

impl AsFd for Notify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

/// Parses a buffer of `struct inotify_event` records (native endian).
/// Truncated trailing records are ignored; never panics.
pub fn parse_events(mut b: &[u8], out: &mut Vec<Event>) {
    const HDR: usize = 16;
    while b.len() >= HDR {
        let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        let wd = i32::from_ne_bytes(word(0));
        let mask = u32::from_ne_bytes(word(4));
        let len = u32::from_ne_bytes(word(12)) as usize;
        let Some(rec) = b.get(HDR..HDR + len) else {
            return;
        };
        let end = rec.iter().position(|c| *c == 0).unwrap_or(rec.len());
        out.push(Event {
            wd,
            mask,
            name: Name::new(&rec[..end]),
        });
        b = &b[HDR + len..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(wd: i32, mask: u32, name: &[u8], pad: usize) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&wd.to_ne_bytes());
        v.extend_from_slice(&mask.to_ne_bytes());
        v.extend_from_slice(&0u32.to_ne_bytes());
        let len = if name.is_empty() { 0 } else { name.len() + pad };
        v.extend_from_slice(&(len as u32).to_ne_bytes());
        if len > 0 {
            v.extend_from_slice(name);
            v.resize(v.len() + pad, 0);
        }
        v
    }

    #[test]
    fn parses_records() {
        let mut buf = rec(3, libc::IN_CREATE, b"a b\n\xff", 3);
        buf.extend(rec(-1, IN_Q_OVERFLOW, b"", 0));
        buf.extend(rec(4, IN_IGNORED, b"x", 7));
        let mut out = Vec::new();
        parse_events(&buf, &mut out);
        let want = vec![
            Event {
                wd: 3,
                mask: libc::IN_CREATE,
                name: Name::new(b"a b\n\xff"),
            },
            Event {
                wd: -1,
                mask: IN_Q_OVERFLOW,
                name: Name::new(b""),
            },
            Event {
                wd: 4,
                mask: IN_IGNORED,
                name: Name::new(b"x"),
            },
        ];
        assert_eq!(out, want);
    }

    #[test]
    fn names_long_and_short_read_back_whole() {
        for len in [0, 1, Name::INLINE - 1, Name::INLINE, Name::INLINE + 1, 255] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 250 + 1) as u8).collect();
            let mut out = Vec::new();
            parse_events(&rec(5, libc::IN_CLOSE_WRITE, &bytes, 4), &mut out);
            assert_eq!(out.len(), 1, "len {len}");
            assert_eq!(out[0].name.as_slice(), &bytes[..], "len {len}");
            assert_eq!(&*out[0].name.clone(), &bytes[..], "len {len}");
            assert_eq!(out[0].name.is_empty(), len == 0);
        }
        assert_eq!(format!("{:?}", Name::new(b"a\n")), r#""a\n""#);
        assert_ne!(Name::new(b"ab"), Name::new(b"ab\0"));
        assert_eq!(std::mem::size_of::<Name>(), std::mem::size_of::<Vec<u8>>());
    }

    #[test]
    fn truncated_input_never_panics() {
        let buf = rec(3, libc::IN_CREATE, b"name", 4);
        for cut in 0..buf.len() {
            let mut out = Vec::new();
            parse_events(&buf[..cut], &mut out);
            assert!(out.is_empty(), "cut at {cut}");
        }
        let mut huge = rec(1, 0, b"", 0);
        huge[12..16].copy_from_slice(&u32::MAX.to_ne_bytes());
        let mut out = Vec::new();
        parse_events(&huge, &mut out);
        assert!(out.is_empty());
    }
}
