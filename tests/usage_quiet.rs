//! A directory too busy to follow event by event turns quiet: its watch
//! is narrowed to moves and its own removal (checked in the kernel's own
//! account, `/proc/self/fdinfo`), it is listed on a timer instead, and the
//! figure stays equal to `du -sx -B1` for every kind of change in it; an
//! exec drop in it is still a candidate; it stays quiet while busy and
//! through a rebuild, and once calm its full mask is back; a huge
//! directory never turns quiet. Root only; each test runs in a private
//! mount namespace of its thread.

mod common;

use common::usage::*;
use common::*;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::mount::{umount2, MntFlags};
use sealinit::orchestra::tracker::MountTracker;

/// The mask of the watch on the directory with inode `ino`, as the kernel
/// reports it for the tracker's inotify fd.
fn watch_mask(t: &MountTracker, ino: u64) -> Option<u32> {
    let fd = t.fd().expect("event-driven").as_raw_fd();
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).expect("fdinfo");
    info.lines()
        .filter(|l| l.starts_with("inotify "))
        .find(|l| l.split(' ').any(|f| f == format!("ino:{ino:x}")))
        .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("mask:")))
        .map(|m| u32::from_str_radix(m, 16).expect("hex mask"))
}

/// A burst of `n` small files created in `dir`, read as one batch.
fn burst(t: &mut MountTracker, dir: &Path, n: usize) {
    for i in 0..n {
        write(&dir.join(format!("b{i}")), 100);
    }
    t.on_readable();
}

/// Drives the tracker's timers for `d`.
fn run_for(t: &mut MountTracker, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        t.on_readable();
        if t.settle_due().is_some_and(|d| d <= Instant::now()) {
            t.settle();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

const FULL: u32 = libc::IN_MODIFY | libc::IN_CREATE | libc::IN_DELETE | libc::IN_CLOSE_WRITE;

#[test]
fn a_busy_directory_turns_quiet_and_stays_exact() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let m = base.join("mnt");
    mount_ext4(&base, &m, 256);
    let vol = m.join("vol");
    let busy = vol.join("busy");
    fs::create_dir_all(&busy).expect("mkdir");
    write(&busy.join("old"), 5000);
    fs::create_dir_all(vol.join("calm")).expect("mkdir");
    let ino = fs::metadata(&busy).expect("stat").ino();
    let mut t = MountTracker::new(vol.clone(), true);
    let want = || expected(&vol, &[]);
    converge(&mut t, "start", &want);
    assert_eq!(watch_mask(&t, ino).map(|m| m & FULL), Some(FULL));

    burst(&mut t, &busy, 400);
    assert_eq!(t.quiet_dirs(), 1, "the busy directory turned quiet");
    let m1 = watch_mask(&t, ino).expect("still watched");
    assert_eq!(m1 & FULL, 0, "no create, write, close or delete events");
    assert_ne!(m1 & libc::IN_MOVED_FROM, 0, "moves still followed");
    converge(&mut t, "after the burst", &want);
    // A full rebuild (an overflow, the safety rescan) keeps it quiet: back
    // on the full mask, the burst that overflowed would overflow again.
    t.rescan();
    assert_eq!(t.quiet_dirs(), 1, "still quiet after a rebuild");
    assert_eq!(watch_mask(&t, ino).map(|m| m & FULL), Some(0));

    // Every kind of change, with no event to say it.
    append(&busy.join("old"), 300_000);
    converge(&mut t, "append to an old file", &want);
    fs::remove_file(busy.join("b7")).expect("rm");
    std::fs::File::create(busy.join("b8"))
        .and_then(|f| f.set_len(0))
        .expect("truncate");
    fs::hard_link(busy.join("old"), vol.join("calm/link")).expect("link");
    converge(&mut t, "rm, truncate, hard link out", &want);
    fs::create_dir_all(busy.join("sub/deeper")).expect("mkdir");
    write(&busy.join("sub/deeper/f"), 70_000);
    converge(&mut t, "a new subtree", &want);
    let mut open = OpenOptions::new()
        .create(true)
        .append(true)
        .open(busy.join("growing"))
        .expect("open");
    for _ in 0..5 {
        open.write_all(&[7u8; 64 * 1024]).expect("write");
        converge(&mut t, "a file open for writing grows", &want);
    }
    drop(open);
    fs::rename(busy.join("sub"), vol.join("calm/sub")).expect("mv");
    converge(&mut t, "a subtree moved out of the quiet directory", &want);
    write(&vol.join("calm/sub/deeper/g"), 9000);
    converge(&mut t, "written in the moved subtree", &want);
    fs::remove_file(vol.join("calm/link")).expect("rm");
    converge(&mut t, "link removed", &want);

    // Busy for longer than the hold: it stays quiet (each change of mask
    // costs the kernel a walk of the directory's children).
    for i in 0..25 {
        write(&busy.join(format!("c{i}")), 2000);
        run_for(&mut t, Duration::from_millis(100));
    }
    assert_eq!(t.quiet_dirs(), 1, "still busy, still quiet");
    converge(&mut t, "busy for a while", &want);

    // Calm: the full mask is back, and events are followed again.
    run_for(&mut t, Duration::from_millis(2500));
    assert_eq!(t.quiet_dirs(), 0, "quiet for a while only");
    assert_eq!(watch_mask(&t, ino).map(|m| m & FULL), Some(FULL));
    append(&busy.join("old"), 40_000);
    converge(&mut t, "events again", &want);
    let _ = umount2(&m, MntFlags::MNT_DETACH);
    let _ = fs::remove_dir_all(&base);
}

#[test]
fn an_exec_drop_in_a_quiet_directory_is_a_candidate() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let m = base.join("mnt");
    mount_tmpfs(&m, "64m");
    let vol = m.join("vol");
    let busy = vol.join("busy");
    fs::create_dir_all(&busy).expect("mkdir");
    let mut t = MountTracker::with_exec(vol.clone(), true, true);
    burst(&mut t, &busy, 400);
    assert_eq!(t.quiet_dirs(), 1, "the busy directory turned quiet");
    t.drain_exec(|_| {});
    fs::write(busy.join("payload"), b"\x7fELF\x02\x01\x01\0 not really").expect("drop");
    let start = Instant::now();
    let mut seen = Vec::new();
    while !seen.iter().any(|r: &Vec<u8>| r == b"busy/payload") && start.elapsed() < GUARD {
        run_for(&mut t, Duration::from_millis(50));
        t.drain_exec(|c| seen.push(c.rel.to_vec()));
    }
    assert!(
        seen.iter().any(|r| r == b"busy/payload"),
        "the drop is a candidate: {seen:?}"
    );
    // Found once: the next listings start after it.
    seen.clear();
    run_for(&mut t, Duration::from_millis(500));
    t.drain_exec(|c| seen.push(c.rel.to_vec()));
    assert!(seen.is_empty(), "not handed again: {seen:?}");
    let _ = umount2(&m, MntFlags::MNT_DETACH);
    let _ = fs::remove_dir_all(&base);
}

#[test]
fn a_huge_directory_never_turns_quiet() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let m = base.join("mnt");
    mount_tmpfs(&m, "256m");
    let vol = m.join("vol");
    let big = vol.join("big");
    fs::create_dir_all(&big).expect("mkdir");
    for i in 0..5000 {
        fs::File::create(big.join(format!("e{i}"))).expect("create");
    }
    let mut t = MountTracker::new(vol.clone(), true);
    burst(&mut t, &big, 400);
    assert_eq!(t.quiet_dirs(), 0, "listing it on a timer would cost more");
    converge(&mut t, "events", &|| expected(&vol, &[]));
    let _ = umount2(&m, MntFlags::MNT_DETACH);
    let _ = fs::remove_dir_all(&base);
}

#[test]
fn under_pressure_the_busiest_directories_turn_quiet() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let m = base.join("mnt");
    mount_tmpfs(&m, "256m");
    let vol = m.join("vol");
    let dirs: Vec<_> = (0..60).map(|i| vol.join(format!("s{i}"))).collect();
    for d in &dirs {
        fs::create_dir_all(d).expect("mkdir");
    }
    let mut t = MountTracker::new(vol.clone(), true);
    let want = || expected(&vol, &[]);
    converge(&mut t, "start", &want);
    // 5,400 events in one batch, 90 per directory: none is busy alone, but
    // the queue is a third full (a full one would be a full rescan).
    for f in 0..30 {
        for d in &dirs {
            write(&d.join(format!("f{f}")), 100);
        }
    }
    t.on_readable();
    let q = t.quiet_dirs();
    assert!(
        (30..60).contains(&q),
        "the busiest turn quiet until the rest is light: {q} of 60"
    );
    converge(&mut t, "spread writes", &want);
    let _ = umount2(&m, MntFlags::MNT_DETACH);
    let _ = fs::remove_dir_all(&base);
}
