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
        step(t);
        std::thread::sleep(Duration::from_millis(20));
    }
}

const FULL: u32 = libc::IN_MODIFY | libc::IN_CREATE | libc::IN_DELETE | libc::IN_CLOSE_WRITE;

#[test]
fn a_busy_directory_turns_quiet_and_stays_exact() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let (base, m) = ext4_scratch(256);
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

    // Calm: the full mask is back, and events are followed again (the
    // hold grows with the listing's time, so a loaded machine takes longer).
    calms_down(&mut t, &busy);
    append(&busy.join("old"), 40_000);
    converge(&mut t, "events again", &want);
    cleanup(&base, &m);
}

#[test]
fn an_exec_drop_in_a_quiet_directory_is_a_candidate() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let (base, m) = tmpfs_scratch("64m");
    let vol = m.join("vol");
    let busy = vol.join("busy");
    fs::create_dir_all(&busy).expect("mkdir");
    let mut t = MountTracker::with_exec(vol.clone(), true, true);
    burst(&mut t, &busy, 400);
    assert_eq!(t.quiet_dirs(), 1, "the busy directory turned quiet");
    t.drain_exec(|_| {});
    write_exec(&busy.join("payload"), b"\x7fELF\x02\x01\x01\0 not really");
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
    cleanup(&base, &m);
}

#[test]
fn a_huge_directory_never_turns_quiet() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let (base, m) = tmpfs_scratch("256m");
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
    cleanup(&base, &m);
}

#[test]
fn under_pressure_the_busiest_directories_turn_quiet() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let (base, m) = tmpfs_scratch("256m");
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
    cleanup(&base, &m);
}

// ---- Hostile cases: a quiet directory moved, removed, mounted on, linked,
// mapped, rebuilt, shared. ----

/// A loop ext4 at `<base>/mnt` with `vol/busy` (one old file) and
/// `vol/calm`, a tracker of `vol` (exec-drop candidates when `exec`), and
/// `busy` made quiet by a burst. Returns the tracker and `vol`.
fn quiet_fixture(base: &Path, exec: bool) -> (MountTracker, std::path::PathBuf) {
    let m = base.join("mnt");
    mount_ext4(base, &m, 256);
    let vol = m.join("vol");
    fs::create_dir_all(vol.join("busy")).expect("mkdir");
    fs::create_dir_all(vol.join("calm")).expect("mkdir");
    write(&vol.join("busy/old"), 5000);
    let mut t = MountTracker::with_exec(vol.clone(), true, exec);
    burst(&mut t, &vol.join("busy"), 400);
    assert_eq!(t.quiet_dirs(), 1, "the busy directory turned quiet");
    (t, vol)
}

fn ino(p: &Path) -> u64 {
    fs::metadata(p).expect("stat").ino()
}

/// Waits (driving the tracker) until no directory is quiet, then checks
/// the kernel mask of `dir` is the full one.
fn calms_down(t: &mut MountTracker, dir: &Path) {
    let start = Instant::now();
    while t.quiet_dirs() > 0 && start.elapsed() < GUARD {
        run_for(t, Duration::from_millis(100));
    }
    assert_eq!(t.quiet_dirs(), 0, "calm: nothing quiet any more");
    assert_eq!(
        watch_mask(t, ino(dir)).map(|m| m & FULL),
        Some(FULL),
        "{} followed by events again",
        dir.display()
    );
}

#[test]
fn a_quiet_directory_renamed_is_followed_under_its_new_name() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, false);
    let want = || expected(&vol, &[]);
    fs::rename(vol.join("busy"), vol.join("calm/moved")).expect("mv");
    let moved = vol.join("calm/moved");
    write(&moved.join("new"), 70_000);
    append(&moved.join("old"), 30_000);
    converge(&mut t, "written right after the rename", &want);
    append(&moved.join("b3"), 123_000);
    converge(&mut t, "written again", &want);
    calms_down(&mut t, &moved);
    append(&moved.join("b4"), 50_000);
    converge(&mut t, "events again under the new name", &want);
    cleanup(&base, &base.join("mnt"));
}

#[test]
fn a_quiet_directory_removed_and_made_again_is_a_new_one() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, false);
    let want = || expected(&vol, &[]);
    let busy = vol.join("busy");
    fs::remove_dir_all(&busy).expect("rm -r");
    fs::create_dir(&busy).expect("mkdir");
    write(&busy.join("f"), 40_000);
    converge(&mut t, "removed and made again", &want);
    assert_eq!(watch_mask(&t, ino(&busy)).map(|m| m & FULL), Some(FULL));
    calms_down(&mut t, &busy);
    append(&busy.join("f"), 40_000);
    converge(&mut t, "events in the new one", &want);
    cleanup(&base, &base.join("mnt"));
}

#[test]
fn a_quiet_directory_moved_out_and_back() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, false);
    let want = || expected(&vol, &[]);
    let busy = vol.join("busy");
    let out = base.join("mnt/outside");
    fs::rename(&busy, &out).expect("mv out");
    converge(&mut t, "moved out", &want);
    write(&out.join("while-out"), 90_000);
    converge(&mut t, "written outside", &want);
    fs::rename(&out, &busy).expect("mv back");
    write(&busy.join("back"), 20_000);
    converge(&mut t, "moved back", &want);
    calms_down(&mut t, &busy);
    append(&busy.join("back"), 20_000);
    converge(&mut t, "events after the way back", &want);
    cleanup(&base, &base.join("mnt"));
}

#[test]
fn a_subdirectory_made_and_filled_in_a_quiet_directory() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, false);
    let want = || expected(&vol, &[]);
    let sub = vol.join("busy/sub");
    fs::create_dir_all(sub.join("deep")).expect("mkdir");
    write(&sub.join("f"), 33_000);
    write(&sub.join("deep/g"), 66_000);
    converge(&mut t, "found by the listing", &want);
    for d in [&sub, &sub.join("deep")] {
        assert_eq!(
            watch_mask(&t, ino(d)).map(|m| m & FULL),
            Some(FULL),
            "{} is watched with the full mask",
            d.display()
        );
    }
    append(&sub.join("deep/g"), 100_000);
    write(&sub.join("h"), 12_000);
    converge(&mut t, "written in the new subdirectory", &want);
    cleanup(&base, &base.join("mnt"));
}

#[test]
fn a_bind_mount_in_a_quiet_directory_is_not_counted() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let (base, m) = ext4_scratch(256);
    let vol = m.join("vol");
    let busy = vol.join("busy");
    fs::create_dir_all(&busy).expect("mkdir");
    let other = m.join("other");
    fs::create_dir_all(other.join("d")).expect("mkdir");
    write(&other.join("big"), 500_000);
    let mp = busy.join("mp");
    bind(&other, &mp);
    let mut t = MountTracker::new(vol.clone(), true);
    let nested = [mp.clone()];
    let want = || expected(&vol, &nested);
    converge(&mut t, "start", &want);
    burst(&mut t, &busy, 400);
    assert_eq!(t.quiet_dirs(), 1, "the busy directory turned quiet");
    converge(&mut t, "quiet", &want);
    write(&mp.join("more"), 300_000);
    write(&mp.join("d/deeper"), 300_000);
    write(&busy.join("x"), 10_000);
    run_for(&mut t, Duration::from_millis(600));
    converge(&mut t, "written in the nested mount", &want);
    calms_down(&mut t, &busy);
    converge(&mut t, "calm", &want);
    let _ = umount2(&mp, MntFlags::MNT_DETACH);
    cleanup(&base, &m);
}

#[test]
fn hard_links_between_a_quiet_and_a_calm_directory() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, false);
    let want = || expected(&vol, &[]);
    let (q, c) = (vol.join("busy/shared"), vol.join("calm/shared"));
    write(&q, 10_000);
    fs::hard_link(&q, &c).expect("link");
    converge(&mut t, "linked", &want);
    append(&q, 200_000);
    converge(&mut t, "appended through the quiet name", &want);
    append(&c, 300_000);
    converge(&mut t, "appended through the calm name", &want);
    let (q2, c2) = (vol.join("busy/other"), vol.join("calm/other"));
    write(&c2, 1000);
    fs::hard_link(&c2, &q2).expect("link");
    append(&q2, 400_000);
    converge(&mut t, "linked the other way and appended", &want);
    fs::remove_file(&c).expect("rm");
    append(&q, 100_000);
    converge(&mut t, "calm name removed", &want);
    fs::remove_file(&q2).expect("rm");
    append(&c2, 100_000);
    converge(&mut t, "quiet name removed", &want);
    calms_down(&mut t, &vol.join("busy"));
    append(&q, 100_000);
    converge(&mut t, "calm", &want);
    cleanup(&base, &base.join("mnt"));
}

#[test]
fn a_file_kept_open_in_a_quiet_directory_grows_by_write_and_mmap() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, false);
    let want = || expected(&vol, &[]);
    let p = vol.join("busy/open");
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(&p)
        .expect("open");
    f.write_all(&[1u8; 100_000]).expect("write");
    converge(&mut t, "written", &want);
    let len = 8 << 20;
    f.set_len(len as u64).expect("ftruncate");
    converge(&mut t, "sparse", &want);
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    for chunk in 0..4 {
        let s = unsafe { std::slice::from_raw_parts_mut(map as *mut u8, len) };
        s[chunk * (1 << 20)..(chunk + 1) * (1 << 20)].fill(9);
        unsafe { libc::msync(map, len, libc::MS_SYNC) };
        converge(&mut t, "mmap stores", &want);
    }
    // Calm (nothing changes), then mapped stores again: no event says it.
    calms_down(&mut t, &vol.join("busy"));
    let s = unsafe { std::slice::from_raw_parts_mut(map as *mut u8, len) };
    s[5 << 20..6 << 20].fill(3);
    unsafe { libc::msync(map, len, libc::MS_SYNC) };
    converge(&mut t, "mmap stores after the calm", &want);
    f.write_all(&[2u8; 70_000]).expect("write");
    converge(&mut t, "written after the calm", &want);
    unsafe { libc::munmap(map, len) };
    drop(f);
    cleanup(&base, &base.join("mnt"));
}

/// A safety rescan (a rebuild that judges nothing it finds) lands between
/// a drop in a quiet directory and the directory's next listing: the drop
/// must still be a candidate (the quiet directory's `since` survives).
#[test]
fn an_exec_drop_in_a_quiet_directory_survives_a_rebuild() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, true);
    t.drain_exec(|_| {});
    let elf = b"\x7fELF\x02\x01\x01\0 not really";
    write_exec(&vol.join("busy/payload"), elf);
    fs::create_dir(vol.join("busy/sub")).expect("mkdir");
    write_exec(&vol.join("busy/sub/payload"), elf);
    std::thread::sleep(Duration::from_millis(30));
    t.rescan();
    assert_eq!(t.quiet_dirs(), 1, "still quiet after the rebuild");
    let want: [&[u8]; 2] = [b"busy/payload", b"busy/sub/payload"];
    let start = Instant::now();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    while !want.iter().all(|w| seen.iter().any(|r| r == w)) && start.elapsed() < GUARD {
        run_for(&mut t, Duration::from_millis(50));
        t.drain_exec(|c| seen.push(c.rel.to_vec()));
    }
    for w in want {
        assert!(
            seen.iter().any(|r| r == w),
            "{} is a candidate: {:?}",
            String::from_utf8_lossy(w),
            seen.iter()
                .map(|r| String::from_utf8_lossy(r))
                .collect::<Vec<_>>()
        );
    }
    cleanup(&base, &base.join("mnt"));
}

/// A rebuild while the quiet directory's move is still queued: the tree
/// is rebuilt from what is on disk, the stale move events after it are
/// harmless, and the figure stays exact.
#[test]
fn a_rebuild_while_a_quiet_directory_moved() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, true);
    let want = || expected(&vol, &[]);
    fs::rename(vol.join("busy"), vol.join("moved")).expect("mv");
    fs::create_dir(vol.join("busy")).expect("mkdir");
    write(&vol.join("busy/n"), 10_000);
    t.rescan();
    converge(&mut t, "rebuilt after the move", &want);
    write(&vol.join("moved/m"), 50_000);
    append(&vol.join("busy/n"), 50_000);
    converge(&mut t, "written in both", &want);
    let start = Instant::now();
    while t.quiet_dirs() > 0 && start.elapsed() < GUARD {
        run_for(&mut t, Duration::from_millis(100));
    }
    assert_eq!(t.quiet_dirs(), 0, "calm");
    for d in ["busy", "moved"] {
        assert_eq!(
            watch_mask(&t, ino(&vol.join(d))).map(|m| m & FULL),
            Some(FULL),
            "{d}"
        );
    }
    append(&vol.join("moved/m"), 50_000);
    converge(&mut t, "events", &want);
    cleanup(&base, &base.join("mnt"));
}

/// Two declared mounts of one source (bind mounts) in one hub share each
/// directory's watch: it never turns quiet (the other mount follows it by
/// its events); a directory quiet before the second mount watched it gets
/// its full mask from that watch, and must not stay quiet for ever.
#[test]
fn a_directory_reached_from_two_mounts_never_stays_quiet() {
    use sealinit::orchestra::hub::{Batch, Hub};
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let (base, m) = ext4_scratch(256);
    let src = m.join("src");
    fs::create_dir_all(src.join("busy")).expect("mkdir");
    let (a_path, b_path) = (base.join("a"), base.join("b"));
    bind(&src, &a_path);
    bind(&src, &b_path);
    let busy_ino = ino(&src.join("busy"));
    let mut hub = Hub::new();
    let mut batch = Batch::default();
    let mut a = MountTracker::in_hub(a_path.clone(), true, false, &mut hub, 0);
    let mut b = MountTracker::in_hub(b_path.clone(), true, false, &mut hub, 1);
    let mask = |hub: &Hub| {
        let fd = hub.fd().expect("inotify").as_raw_fd();
        let info = fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).expect("fdinfo");
        info.lines()
            .filter(|l| l.starts_with("inotify "))
            .find(|l| l.split(' ').any(|f| f == format!("ino:{busy_ino:x}")))
            .and_then(|l| l.split(' ').find_map(|f| f.strip_prefix("mask:")))
            .map(|m| u32::from_str_radix(m, 16).expect("hex mask"))
    };
    let mut drive = |a: &mut MountTracker, b: &mut MountTracker, hub: &mut Hub, d: Duration| {
        let end = Instant::now() + d;
        loop {
            hub.read(&mut batch).expect("read");
            a.apply_events(hub, batch.events(0));
            b.apply_events(hub, batch.events(1));
            if batch.overflow {
                a.overflowed(hub);
                b.overflowed(hub);
            }
            a.tick(hub, Instant::now());
            b.tick(hub, Instant::now());
            if Instant::now() >= end {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    for i in 0..400 {
        write(&a_path.join(format!("busy/b{i}")), 100);
    }
    drive(&mut a, &mut b, &mut hub, Duration::ZERO);
    assert_eq!(
        (a.quiet_dirs(), b.quiet_dirs()),
        (0, 0),
        "shared: never quiet"
    );
    assert_eq!(mask(&hub).map(|m| m & FULL), Some(FULL));
    for (t, p) in [(&a, &a_path), (&b, &b_path)] {
        assert_eq!(
            (t.figures().used, t.figures().inodes),
            expected(p, &[]),
            "{}",
            p.display()
        );
    }

    // The second mount comes (back) while the first has the directory
    // quiet: e.g. its safety rescan after having lost its root.
    drop(b);
    hub.release(1);
    for i in 0..400 {
        write(&a_path.join(format!("busy/c{i}")), 100);
    }
    drive(
        &mut a,
        &mut MountTracker::pending(b_path.clone(), true, false, &mut hub, 1),
        &mut hub,
        Duration::ZERO,
    );
    assert_eq!(a.quiet_dirs(), 1, "alone: quiet");
    let mut b = MountTracker::in_hub(b_path.clone(), true, false, &mut hub, 1);
    assert_eq!(
        mask(&hub).map(|m| m & FULL),
        Some(FULL),
        "b follows by events"
    );
    let start = Instant::now();
    while a.quiet_dirs() > 0 && start.elapsed() < GUARD {
        drive(&mut a, &mut b, &mut hub, Duration::from_millis(100));
    }
    assert_eq!(a.quiet_dirs(), 0, "calm: not listed on a timer for ever");
    assert_eq!(mask(&hub).map(|m| m & FULL), Some(FULL));
    let _ = umount2(&a_path, MntFlags::MNT_DETACH);
    let _ = umount2(&b_path, MntFlags::MNT_DETACH);
    cleanup(&base, &m);
}

/// The quiet directory's listing comes before its move's events are read:
/// its old path names another directory (two swapped by renames), which
/// is listed under the quiet one's descriptor for a moment. Once the
/// events are read everything is in its place again, and exact.
#[test]
fn a_quiet_directory_swapped_before_its_listing() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, false);
    let want = || expected(&vol, &[]);
    fs::create_dir_all(vol.join("calm/sub/deep")).expect("mkdir");
    write(&vol.join("calm/sub/deep/f"), 80_000);
    write(&vol.join("calm/g"), 30_000);
    converge(&mut t, "start", &want);
    for _ in 0..3 {
        fs::rename(vol.join("busy"), vol.join("tmp")).expect("mv");
        fs::rename(vol.join("calm"), vol.join("busy")).expect("mv");
        fs::rename(vol.join("tmp"), vol.join("calm")).expect("mv");
        std::thread::sleep(Duration::from_millis(250));
        // Timers first: the quiet listing runs before the moves are read.
        t.settle();
        converge(&mut t, "swapped", &want);
        write(&vol.join("busy/after"), 20_000);
        let old = ["busy/old", "calm/old"].map(|r| vol.join(r));
        append(old.iter().find(|p| p.exists()).expect("old"), 20_000);
        converge(&mut t, "written after the swap", &want);
    }
    let start = Instant::now();
    while t.quiet_dirs() > 0 && start.elapsed() < GUARD {
        run_for(&mut t, Duration::from_millis(100));
    }
    assert_eq!(t.quiet_dirs(), 0, "calm");
    for d in [
        "busy",
        "calm",
        "busy/sub",
        "busy/sub/deep",
        "calm/sub",
        "calm/sub/deep",
    ] {
        let d = vol.join(d);
        let d = if d.exists() { d } else { continue };
        assert_eq!(
            watch_mask(&t, ino(&d)).map(|m| m & FULL),
            Some(FULL),
            "{}",
            d.display()
        );
    }
    let old = ["busy/old", "calm/old"].map(|r| vol.join(r));
    append(old.iter().find(|p| p.exists()).expect("old"), 20_000);
    let deep = ["busy/sub/deep", "calm/sub/deep"].map(|r| vol.join(r));
    write(
        &deep.iter().find(|p| p.exists()).expect("deep").join("h"),
        20_000,
    );
    converge(&mut t, "events", &want);
    cleanup(&base, &base.join("mnt"));
}

/// The volume's root itself turns quiet, is rebuilt, changes, calms down.
#[test]
fn the_root_of_the_volume_turns_quiet() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let (base, m) = ext4_scratch(256);
    let vol = m.join("vol");
    fs::create_dir_all(vol.join("d")).expect("mkdir");
    let mut t = MountTracker::with_exec(vol.clone(), true, true);
    let want = || expected(&vol, &[]);
    burst(&mut t, &vol, 400);
    assert_eq!(t.quiet_dirs(), 1, "the root turned quiet");
    assert_eq!(watch_mask(&t, ino(&vol)).map(|m| m & FULL), Some(0));
    t.rescan();
    assert_eq!(t.quiet_dirs(), 1, "still quiet after a rebuild");
    t.drain_exec(|_| {});
    write(&vol.join("new"), 40_000);
    fs::remove_file(vol.join("b1")).expect("rm");
    converge(&mut t, "changed while quiet", &want);
    calms_down(&mut t, &vol);
    write(&vol.join("d/x"), 40_000);
    append(&vol.join("new"), 40_000);
    converge(&mut t, "events", &want);
    cleanup(&base, &m);
}

/// An old script in a quiet directory made executable (`chmod +x`: no
/// event reaches a quiet watch, its ctime changes) is a candidate.
#[test]
fn a_file_made_executable_in_a_quiet_directory_is_a_candidate() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let (base, m) = tmpfs_scratch("64m");
    let vol = m.join("vol");
    let busy = vol.join("busy");
    fs::create_dir_all(&busy).expect("mkdir");
    fs::write(busy.join("tool"), b"#!/bin/sh\necho hi\n").expect("write");
    let mut t = MountTracker::with_exec(vol.clone(), true, true);
    burst(&mut t, &busy, 400);
    assert_eq!(t.quiet_dirs(), 1, "the busy directory turned quiet");
    run_for(&mut t, Duration::from_millis(300));
    t.drain_exec(|_| {});
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(busy.join("tool"), fs::Permissions::from_mode(0o755)).expect("chmod");
    let start = Instant::now();
    let mut seen = Vec::new();
    while !seen.iter().any(|r: &Vec<u8>| r == b"busy/tool") && start.elapsed() < GUARD {
        run_for(&mut t, Duration::from_millis(50));
        t.drain_exec(|c| seen.push(c.rel.to_vec()));
    }
    assert!(
        seen.iter().any(|r| r == b"busy/tool"),
        "the chmod is found: {seen:?}"
    );
    cleanup(&base, &m);
}

/// A quiet directory that grows past `BIG_DIR` entries gets its full mask
/// back (its listings would cost more than its events) and stays exact.
#[test]
fn a_quiet_directory_grown_huge_is_followed_by_events_again() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (mut t, vol) = quiet_fixture(&base, false);
    let want = || expected(&vol, &[]);
    let busy = vol.join("busy");
    for i in 0..4200 {
        fs::File::create(busy.join(format!("e{i}"))).expect("create");
        if i % 500 == 0 {
            run_for(&mut t, Duration::from_millis(20));
        }
    }
    converge(&mut t, "grown", &want);
    calms_down(&mut t, &busy);
    append(&busy.join("e7"), 50_000);
    converge(&mut t, "events", &want);
    cleanup(&base, &base.join("mnt"));
}

/// Exec drops into a quiet directory by other ways than writing there: in
/// a new subdirectory, hard-linked from outside the volume, moved in from
/// outside the volume (the ELF itself older than the tracker).
#[test]
fn exec_drops_linked_or_moved_into_a_quiet_directory_are_candidates() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let (base, m) = ext4_scratch(256);
    let outside = m.join("outside");
    fs::create_dir_all(&outside).expect("mkdir");
    let elf = b"\x7fELF\x02\x01\x01\0 not really";
    write_exec(&outside.join("a"), elf);
    write_exec(&outside.join("b"), elf);
    std::thread::sleep(Duration::from_millis(50));
    let vol = m.join("vol");
    let busy = vol.join("busy");
    fs::create_dir_all(&busy).expect("mkdir");
    let mut t = MountTracker::with_exec(vol.clone(), true, true);
    burst(&mut t, &busy, 400);
    assert_eq!(t.quiet_dirs(), 1, "the busy directory turned quiet");
    run_for(&mut t, Duration::from_millis(300));
    t.drain_exec(|_| {});
    fs::create_dir(busy.join("sub")).expect("mkdir");
    write_exec(&busy.join("sub/payload"), elf);
    fs::hard_link(outside.join("a"), busy.join("linked")).expect("link");
    fs::rename(outside.join("b"), busy.join("moved")).expect("mv");
    let want: [&[u8]; 3] = [b"busy/sub/payload", b"busy/linked", b"busy/moved"];
    let start = Instant::now();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    while !want.iter().all(|w| seen.iter().any(|r| r == w)) && start.elapsed() < GUARD {
        run_for(&mut t, Duration::from_millis(50));
        t.drain_exec(|c| seen.push(c.rel.to_vec()));
    }
    for w in want {
        assert!(
            seen.iter().any(|r| r == w),
            "{} is a candidate: {:?}",
            String::from_utf8_lossy(w),
            seen.iter()
                .map(|r| String::from_utf8_lossy(r))
                .collect::<Vec<_>>()
        );
    }
    cleanup(&base, &m);
}
