//! The usage engine's oracle for the root tests: a loop-mounted ext4, `du`
//! less the nested mounts, and a tracker driven until its figure matches.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use sealinit::orchestra::tracker::MountTracker;

use super::du;

thread_local! {
    pub static DBG_ROOT: std::cell::RefCell<Option<PathBuf>> = const { std::cell::RefCell::new(None) };
}

pub const GUARD: Duration = Duration::from_secs(20);

/// A loop-mounted ext4 of `mib` MiB at `at` (autoclear: the loop device
/// goes with the mount, or with the test thread's namespace).
pub fn mount_ext4(base: &Path, at: &Path, mib: u64) {
    let img = base.join("disk.img");
    File::create(&img)
        .and_then(|f| f.set_len(mib << 20))
        .expect("image");
    // /usr/sbin is not on every root's PATH (`su` without `-`).
    let mkfs = Path::new("/usr/sbin/mkfs.ext4");
    let mkfs = if mkfs.exists() {
        mkfs
    } else {
        Path::new("mkfs.ext4")
    };
    let ok = Command::new(mkfs)
        .args(["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0"])
        .arg(&img)
        .status()
        .expect("mkfs.ext4");
    assert!(ok.success(), "mkfs.ext4 failed");
    fs::create_dir_all(at).expect("mkdir");
    let ok = Command::new("mount")
        .args(["-o", "loop"])
        .arg(&img)
        .arg(at)
        .status()
        .expect("mount -o loop");
    assert!(ok.success(), "mount -o loop failed");
}

pub fn bind(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).expect("mkdir bind target");
    mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind mount");
}

/// What du says about `root`, less the nested mounts (siblings on the
/// node: du -x enters a same-device bind mount, the kubelet does not).
pub fn expected(root: &Path, nested: &[PathBuf]) -> (u64, u64) {
    let (mut b, mut i) = (du(&["-B1"], root), du(&["--inodes"], root));
    for n in nested {
        b -= du(&["-B1"], n);
        i -= du(&["--inodes"], n);
    }
    (b, i)
}

/// Reads the tracker's queued events, then runs its timers that are due.
pub fn step(t: &mut MountTracker) {
    t.on_readable();
    if t.settle_due().is_some_and(|d| d <= Instant::now()) {
        t.settle();
    }
}

/// Drives the tracker (events, then its timers) until its figure equals
/// `want()`, or fails after [`GUARD`].
pub fn converge(t: &mut MountTracker, what: &str, want: &dyn Fn() -> (u64, u64)) {
    let start = Instant::now();
    let mut last;
    loop {
        step(t);
        let f = t.figures();
        let w = want();
        last = ((f.used, f.inodes), w);
        if (f.used, f.inodes) == w {
            return;
        }
        if start.elapsed() > GUARD {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if let Some(r) = DBG_ROOT.with(|r| r.borrow().clone()) {
        let out = Command::new("du")
            .args(["-xS", "-B1"])
            .arg(&r)
            .output()
            .expect("du");
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        let out = Command::new("find")
            .arg(&r)
            .args(["-xdev", "-printf", "FIND %i %n %b %y %p\n"])
            .output()
            .expect("find");
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    }
    for (p, b, l) in t.per_dir() {
        eprintln!(
            "  tracker: {:>10} links {l:?} {}",
            b,
            String::from_utf8_lossy(&p)
        );
    }
    panic!(
        "{what}: figure (bytes, inodes) {:?} never matched du {:?}",
        last.0, last.1
    );
}

pub fn write(p: &Path, len: usize) {
    fs::write(p, vec![0x5au8; len]).expect("write");
}

pub fn append(p: &Path, len: usize) {
    OpenOptions::new()
        .append(true)
        .open(p)
        .and_then(|mut f| f.write_all(&vec![1u8; len]))
        .expect("append");
}

/// An ext4 volume directory (emptyDir-like) for one named case.
pub fn ext4_volume(mib: u64) -> (PathBuf, PathBuf, PathBuf) {
    let base = super::scratch("/var/tmp");
    let m = base.join("mnt");
    mount_ext4(&base, &m, mib);
    let vol = m.join("vol");
    fs::create_dir_all(&vol).expect("mkdir");
    (base, m, vol)
}

pub fn cleanup(base: &Path, m: &Path) {
    let _ = umount2(m, MntFlags::MNT_DETACH);
    let _ = fs::remove_dir_all(base);
}

/// A scratch directory with a `mib` MiB ext4 mounted at its `mnt`.
pub fn ext4_scratch(mib: u64) -> (PathBuf, PathBuf) {
    let base = super::scratch("/var/tmp");
    let m = base.join("mnt");
    mount_ext4(&base, &m, mib);
    (base, m)
}

/// A scratch directory with a tmpfs of `size` mounted at its `mnt`.
pub fn tmpfs_scratch(size: &str) -> (PathBuf, PathBuf) {
    let base = super::scratch("/var/tmp");
    let m = base.join("mnt");
    super::mount_tmpfs(&m, size);
    (base, m)
}
