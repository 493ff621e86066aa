//! Reading a whole `/proc` file (the mount table) with as few syscalls as
//! the kernel allows: one buffer sized for the common case up front
//! ([`FIRST_READ`], doubled only when a read fills it), read until EOF.
//! A `seq_file` such as `/proc/self/mountinfo` reports no size (`st_size`
//! is 0), so a size-hinted reader (std's `fs::read`) starts small and grows
//! (eight reads for a 1.5 KiB table); this one needs two: the data, then
//! the EOF. The EOF read is kept: a short read of a `seq_file` is not a
//! documented end of file.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

use crate::edge::usage::os_err;

/// First buffer: a mount table of a few hundred mounts fits.
pub const FIRST_READ: usize = 64 * 1024;

/// Reads `fd` from its current offset to EOF; `path` names it in errors.
/// `read(2)` goes straight into the vector's spare capacity: the buffer is
/// not zeroed first, so only the pages the kernel writes are touched (a
/// zeroed 64 KiB buffer cost 16 page faults on the start path).
pub fn read_to_end(fd: BorrowedFd<'_>, path: &Path) -> io::Result<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::with_capacity(FIRST_READ);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(buf.capacity());
        }
        let spare = buf.spare_capacity_mut();
        // SAFETY: read(2) writes at most `spare.len()` bytes into the
        // vector's allocated, unused tail; `fd` is a live descriptor.
        let n = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) };
        match n {
            0 => break,
            // SAFETY: the kernel initialised the `n` bytes it returned, all
            // within the spare capacity.
            n if n > 0 => unsafe { buf.set_len(buf.len() + n as usize) },
            _ => match Errno::last() {
                Errno::EINTR => {}
                e => return Err(os_err("read", path, e)),
            },
        }
    }
    Ok(buf)
}

/// `open(2)` read-only and close-on-exec, [`read_to_end`], close.
pub fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let fd = open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| os_err("open", path, e))?;
    read_to_end(std::os::fd::AsFd::as_fd(&fd), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_file_larger_than_the_first_buffer_whole() {
        let dir = std::env::temp_dir().join(format!("sealinit-procfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("big");
        let data: Vec<u8> = (0..FIRST_READ * 3 + 17).map(|i| (i % 251) as u8).collect();
        std::fs::write(&f, &data).unwrap();
        assert_eq!(read_file(&f).unwrap(), data);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_the_mount_table_and_names_the_path_on_error() {
        let t = read_file(Path::new("/proc/self/mountinfo")).unwrap();
        assert!(t.ends_with(b"\n") && t.split(|&b| b == b'\n').count() > 1);
        let e = read_file(Path::new("/nonexistent/mountinfo")).unwrap_err();
        assert!(
            e.to_string().starts_with("open /nonexistent/mountinfo: "),
            "{e}"
        );
    }
}
