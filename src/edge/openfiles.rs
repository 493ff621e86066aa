//! Which inodes of one filesystem are open for writing, or mapped shared
//! and writable, by this process or its descendants (the workload's
//! tree, found through `/proc/<pid>/task/<tid>/children`): a scan of
//! `/proc/<pid>/fdinfo/*` (`flags:`, `mnt_id:`, `ino:`; one small read per
//! fd, no stat) and `/proc/<pid>/maps` (`rw?s` mappings of the device).
//! Not every process of the host: a shared host has hundreds, and the
//! scan runs every second while the workload writes.
//!
//! See [proc_pid_fdinfo(5)](https://man7.org/linux/man-pages/man5/proc_pid_fdinfo.5.html)
//! and [proc_pid_maps(5)](https://man7.org/linux/man-pages/man5/proc_pid_maps.5.html).

use std::collections::HashSet;
use std::fs;
use std::io::Read;
use std::path::PathBuf;

/// Inode numbers open for writing through a mount in `mnt_ids`, or mapped
/// shared-writable from device `dev` (`st_dev`). Unreadable entries (a
/// process that exited meanwhile) are skipped.
///
/// Only this process and its descendants are looked at (the workload's
/// tree: sealinit is PID 1 or a subreaper, so orphans stay in it; a
/// container shows no other process): `/proc/<pid>/task/<tid>/children`,
/// one small read per thread. Without that file (a kernel built without
/// `CONFIG_PROC_CHILDREN`) every process of `/proc` is looked at.
pub fn open_for_write(mnt_ids: &HashSet<u64>, dev: u64) -> HashSet<u64> {
    let mut out = HashSet::new();
    let pids = descendants(std::process::id()).or_else(all_pids);
    let Some(pids) = pids else {
        return out;
    };
    let want_dev = format!("{:02x}:{:02x}", libc::major(dev), libc::minor(dev));
    let me = std::process::id();
    let mut buf = String::new();
    for pid in pids {
        let base = PathBuf::from(format!("/proc/{pid}"));
        if let Ok(fds) = fs::read_dir(base.join("fdinfo")) {
            for fd in fds.flatten() {
                // Our own inotify instance's fdinfo lists every watch (one
                // line per watched directory, formatted by the kernel at
                // each read): not a file, never read.
                if pid == me && is_anon_inode(&base.join("fd").join(fd.file_name())) {
                    continue;
                }
                buf.clear();
                let read = fs::File::open(fd.path()).and_then(|mut f| f.read_to_string(&mut buf));
                if read.is_ok() {
                    if let Some(ino) = writable_ino(&buf, mnt_ids) {
                        out.insert(ino);
                    }
                }
            }
        }
        buf.clear();
        let read = fs::File::open(base.join("maps")).and_then(|mut f| f.read_to_string(&mut buf));
        if read.is_ok() {
            out.extend(shared_writable(&buf, &want_dev));
        }
    }
    out
}

/// Whether the descriptor behind `/proc/<pid>/fd/<n>` is an anonymous
/// inode (inotify, signalfd, eventfd: no file of any mount).
fn is_anon_inode(link: &std::path::Path) -> bool {
    fs::read_link(link).is_ok_and(|t| t.as_os_str().as_encoded_bytes().starts_with(b"anon_inode:"))
}

/// At most this many processes are looked at through `children`.
const TREE_MAX: usize = 65_536;

/// `root` and its descendants (`None`: `children` cannot be read).
fn descendants(root: u32) -> Option<Vec<u32>> {
    let mut out = vec![root];
    let mut i = 0;
    let mut buf = String::new();
    while i < out.len() && out.len() < TREE_MAX {
        let pid = out[i];
        i += 1;
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            continue; // exited meanwhile
        };
        for t in tasks.flatten() {
            buf.clear();
            let read = fs::File::open(t.path().join("children"))
                .and_then(|mut f| f.read_to_string(&mut buf));
            match read {
                Ok(_) => out.extend(
                    buf.split_ascii_whitespace()
                        .filter_map(|c| c.parse::<u32>().ok()),
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && pid == root => return None,
                Err(_) => {}
            }
        }
    }
    Some(out)
}

/// Every process of `/proc`.
fn all_pids() -> Option<Vec<u32>> {
    let procs = fs::read_dir("/proc").ok()?;
    Some(
        procs
            .flatten()
            .filter_map(|p| p.file_name().to_str()?.parse::<u32>().ok())
            .collect(),
    )
}

/// The `ino:` of an fdinfo text whose `flags:` (octal) open for writing
/// and whose `mnt_id:` is in `mnt_ids`.
pub fn writable_ino(text: &str, mnt_ids: &HashSet<u64>) -> Option<u64> {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
    };
    let flags = u32::from_str_radix(field("flags:")?, 8).ok()?;
    let mode = flags & libc::O_ACCMODE as u32;
    if mode != libc::O_WRONLY as u32 && mode != libc::O_RDWR as u32 {
        return None;
    }
    let mnt: u64 = field("mnt_id:")?.parse().ok()?;
    if !mnt_ids.contains(&mnt) {
        return None;
    }
    field("ino:")?.parse().ok()
}

/// Inodes of the shared, writable mappings of device `dev` (`"fd:01"`).
pub fn shared_writable<'a>(maps: &'a str, dev: &'a str) -> impl Iterator<Item = u64> + 'a {
    maps.lines().filter_map(move |l| {
        let mut f = l.split_ascii_whitespace();
        let perms = f.nth(1)?.as_bytes();
        let d = f.nth(1)?;
        let ino: u64 = f.next()?.parse().ok()?;
        (perms.get(1) == Some(&b'w') && perms.get(3) == Some(&b's') && d == dev && ino != 0)
            .then_some(ino)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_inotify_and_signal_descriptors_are_anonymous_inodes() {
        let n = nix::sys::inotify::Inotify::init(nix::sys::inotify::InitFlags::IN_CLOEXEC)
            .expect("inotify");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&std::os::fd::AsFd::as_fd(&n));
        assert!(is_anon_inode(&PathBuf::from(format!("/proc/self/fd/{fd}"))));
        let f = fs::File::open("/proc/self/status").expect("open");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
        assert!(!is_anon_inode(&PathBuf::from(format!(
            "/proc/self/fd/{fd}"
        ))));
        assert!(!is_anon_inode(&PathBuf::from("/proc/self/fd/999999")));
    }

    #[test]
    fn fdinfo_writable_on_our_mount() {
        let ids: HashSet<u64> = [27].into_iter().collect();
        let cases: &[(&str, &str, Option<u64>)] = &[
            (
                "rdwr",
                "pos:\t0\nflags:\t0100002\nmnt_id:\t27\nino:\t42\n",
                Some(42),
            ),
            (
                "wronly append",
                "flags:\t02102001\nmnt_id:\t27\nino:\t7\n",
                Some(7),
            ),
            (
                "read only",
                "flags:\t0100000\nmnt_id:\t27\nino:\t42\n",
                None,
            ),
            (
                "other mount",
                "flags:\t0100002\nmnt_id:\t28\nino:\t42\n",
                None,
            ),
            ("garbage", "flags: x\n", None),
        ];
        for (name, text, want) in cases {
            assert_eq!(writable_ino(text, &ids), *want, "{name}");
        }
    }

    #[test]
    fn maps_shared_writable_of_the_device() {
        let maps = "7f00-7f10 rw-s 00000000 fd:01 1234 /data/mapped\n\
                    7f10-7f20 r--s 00000000 fd:01 99 /data/ro\n\
                    7f20-7f30 rw-p 00000000 fd:01 98 /data/private\n\
                    7f30-7f40 rw-s 00000000 08:02 97 /other\n\
                    7f40-7f50 rw-s 00000000 00:00 0 \n";
        let got: Vec<u64> = shared_writable(maps, "fd:01").collect();
        assert_eq!(got, vec![1234]);
    }
}
