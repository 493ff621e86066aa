//! The usage watcher end to end, as root, in a private mount namespace of
//! the test thread (inherited by the watcher thread it spawns): a tmpfs and
//! a disk-backed bind mount filled past 80% and 95% produce the transitions
//! in order; dropping back re-arms; the ephemeral total fires on the sum.
//! Synchronises on the channel only (`recv_timeout` is a failure guard).
//! Run: `cargo test --test watcher_ns`.

mod common;

use common::*;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use sealinit::core::contract::spec::MountKind;
use sealinit::core::watch::threshold::Transition::{self, *};
use sealinit::edge::usage::statfs_usage;
use sealinit::orchestra::tracker::{MountTracker, NEW_DIR_DELAY};
use sealinit::orchestra::watcher::{
    spawn_watcher, UsageKind, WatchConfig, WatchEvent, WatchedMount, WatcherHandle, EPHEMERAL,
};

const GUARD: Duration = Duration::from_secs(20);

fn bind(src: &Path, dst: &Path) {
    fs::create_dir_all(dst).expect("mkdir bind target");
    mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>).expect("bind mount");
}

fn pipe() -> (OwnedFd, OwnedFd) {
    nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).expect("pipe2")
}

fn fill(p: &Path, len: usize) {
    fs::write(p, vec![7u8; len]).expect("write");
}

/// The next event must be `transition` for `path`.
fn expect(rx: &Receiver<WatchEvent>, path: &Path, transition: Transition) -> WatchEvent {
    let ev = rx
        .recv_timeout(GUARD)
        .unwrap_or_else(|e| panic!("no event ({e}); expected {transition:?} for {path:?}"));
    assert_eq!(
        (ev.path.as_path(), ev.transition),
        (path, transition),
        "unexpected event {ev:?}"
    );
    ev
}

/// A crossing event may be sent while the write that caused it is still
/// under way (the line is passed before its last bytes land): its figure
/// is past `percent` of its limit and at most `whole`, the figure once the
/// write returned.
fn crossed_within(ev: &WatchEvent, limit: u64, percent: u64, whole: u64) {
    assert!(
        ev.used * 100 >= limit * percent && ev.used <= whole,
        "{ev:?}: not past {percent}% of {limit} or above the final {whole}"
    );
}

/// The snapshot's figure for `path` becomes `want` (the write complete and
/// measured; `GUARD` is a failure guard, not a timed assertion).
fn settles_to(h: &WatcherHandle, path: &Path, want: u64) {
    let start = std::time::Instant::now();
    loop {
        let used = h
            .snapshot
            .lock()
            .expect("snapshot")
            .iter()
            .find(|m| m.path == path)
            .map(|m| m.used);
        if used == Some(want) {
            return;
        }
        assert!(
            start.elapsed() < GUARD,
            "{path:?}: snapshot figure {used:?} never became {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The default `--warn-at`, in percent.
fn warn_pct() -> u64 {
    u64::from(WatchConfig::default().warn_at)
}

fn statfs_used(p: &Path) -> u64 {
    statfs_usage(p).expect("statfs").used_bytes
}

fn no_more(rx: &Receiver<WatchEvent>) {
    if let Ok(ev) = rx.try_recv() {
        panic!("unexpected extra event {ev:?}");
    }
}

#[test]
fn tmpfs_and_disk_mount_cross_and_rearm() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let tmp = base.join("tmp");
    mount_tmpfs(&tmp, "4m"); // no declared limit: its size= is the limit
    let backing = base.join("backing");
    fs::create_dir(&backing).expect("mkdir backing");
    let disk = base.join("cache");
    bind(&backing, &disk);
    let limit: u64 = 1_000_000;
    let (rd, wr) = pipe();
    let (tx, rx) = channel();
    let cfg = WatchConfig {
        rescan: Duration::from_secs(3600), // events only: no rescan helps
        ..WatchConfig::default()
    };
    let mounts = vec![
        WatchedMount {
            path: tmp.clone(),
            kind: MountKind::Tmpfs,
            limit: None,
        },
        WatchedMount {
            path: disk.clone(),
            kind: MountKind::EmptyDir,
            limit: Some(limit),
        },
    ];
    let h = spawn_watcher(mounts, cfg, tx, wr).expect("spawn watcher");

    // tmpfs, 4 MiB (4194304): 3.5 MB is 83%, 4.0 MB is 95.4%, 0.5 MB is 12%.
    fill(&tmp.join("a"), 3_500_000);
    let ev = expect(&rx, &tmp, CrossedWarn);
    assert_eq!(ev.limit, Some(4 << 20));
    assert_eq!(ev.kind, UsageKind::Mount(MountKind::Tmpfs));
    fill(&tmp.join("b"), 500_000);
    expect(&rx, &tmp, CrossedAct);
    fs::remove_file(tmp.join("a")).expect("rm");
    expect(&rx, &tmp, ClearedAct);
    expect(&rx, &tmp, ClearedWarn);

    // Disk-backed bind mount, 1 MB limit, files in a new subdirectory (the
    // watcher must watch it to see them).
    fs::create_dir(disk.join("sub")).expect("mkdir sub");
    fill(&disk.join("sub/x"), 800_000);
    let ev = expect(&rx, &disk, CrossedWarn);
    assert!(ev.used >= 800_000 && ev.used < 950_000, "{ev:?}");
    assert_eq!(ev.inodes, 3);
    // Hovering: small changes above the line produce no event; the next
    // event must be the act crossing.
    fill(&disk.join("sub/tiny"), 10);
    fs::remove_file(disk.join("sub/tiny")).expect("rm");
    fill(&disk.join("sub/y"), 150_000);
    let ev = expect(&rx, &disk, CrossedAct);
    assert!(ev.used * 100 >= limit * 95, "{ev:?}");
    // Drop below both re-arm lines (removing a whole directory).
    fs::remove_dir_all(disk.join("sub")).expect("rm -r");
    expect(&rx, &disk, ClearedAct);
    expect(&rx, &disk, ClearedWarn);
    // Re-armed: crossing again fires again; the removed subtree is gone
    // from the count (root + again).
    fill(&disk.join("again"), 850_000);
    let ev = expect(&rx, &disk, CrossedWarn);
    assert_eq!(ev.inodes, 2, "{ev:?}");
    no_more(&rx);

    // The wake pipe got a byte per event (4 tmpfs + 5 disk).
    let mut buf = [0u8; 64];
    let n = nix::unistd::read(&rd, &mut buf).expect("read wake pipe");
    assert_eq!(n, 9);

    // The snapshot has both mounts.
    let snap = h.snapshot.lock().expect("snapshot").clone();
    assert_eq!(snap.len(), 2);
    assert_eq!(snap[1].warn_crossings, 2);
    assert_eq!(snap[1].act_crossings, 1);
    assert_eq!(snap[1].method, "events");

    umount2(&disk, MntFlags::MNT_DETACH).expect("umount");
    umount2(&tmp, MntFlags::MNT_DETACH).expect("umount");
    let _ = fs::remove_dir_all(&base);
}

#[test]
fn ephemeral_total_fires_on_the_sum_of_emptydirs() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (a, b) = (base.join("a"), base.join("b"));
    fs::create_dir(&a).expect("mkdir");
    fs::create_dir(&b).expect("mkdir");
    let (_rd, wr) = pipe();
    let (tx, rx) = channel();
    let cfg = WatchConfig {
        rescan: Duration::from_secs(3600),
        ephemeral_limit: Some(2_000_000),
        ..WatchConfig::default()
    };
    let mk = |p: &Path, kind| WatchedMount {
        path: p.to_path_buf(),
        kind,
        limit: None, // no sizeLimit: never acted on alone
    };
    let pvc = base.join("pvc");
    fs::create_dir(&pvc).expect("mkdir");
    let mounts = vec![
        mk(&a, MountKind::EmptyDir),
        mk(&b, MountKind::EmptyDir),
        mk(&pvc, MountKind::Pvc),
    ];
    let h = spawn_watcher(mounts, cfg, tx, wr).expect("spawn");
    // A PVC does not count towards ephemeral storage.
    fill(&pvc.join("big"), 3_000_000);
    fill(&a.join("f"), 900_000);
    fill(&b.join("f"), 900_000);
    let eph = Path::new(EPHEMERAL);
    let ev = expect(&rx, eph, CrossedWarn);
    assert_eq!(ev.kind, UsageKind::EphemeralTotal);
    let sum = du(&["-B1"], &a) + du(&["-B1"], &b);
    assert!((1_800_000..1_900_000).contains(&sum), "du a + b: {sum}");
    crossed_within(&ev, 2_000_000, warn_pct(), sum);
    settles_to(&h, eph, sum);
    fs::remove_file(a.join("f")).expect("rm");
    expect(&rx, eph, ClearedWarn);
    no_more(&rx);
    let _ = fs::remove_dir_all(&base);
}

/// Drains the events (they are queued by the syscalls themselves, so once
/// the operations returned they are all there) and compares with du.
fn assert_tracker_matches_du(t: &mut MountTracker, root: &Path, step: &str) {
    t.on_readable();
    let f = t.figures();
    assert_eq!(
        (f.used, f.inodes),
        (du(&["-B1"], root), du(&["--inodes"], root)),
        "after {step}: tracker vs du (bytes, inodes)"
    );
}

/// A named change applied to the tree.
type Step = (&'static str, Box<dyn Fn(&Path)>);

#[test]
fn incremental_totals_match_du_after_each_change() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let root = scratch("/var/tmp");
    fs::create_dir_all(root.join("pre/sub")).expect("mkdir");
    fill(&root.join("pre/sub/old"), 5000);
    let mut t = MountTracker::new(root.clone(), true);
    assert_eq!(t.method().as_str(), "events");
    let steps: Vec<Step> = vec![
        (
            "create files",
            Box::new(|r| {
                fill(&r.join("a"), 10_000);
                fill(&r.join("pre/b b\n"), 123);
            }),
        ),
        (
            "grow and truncate",
            Box::new(|r| {
                fill(&r.join("a"), 300_000);
                fs::OpenOptions::new()
                    .write(true)
                    .open(r.join("pre/sub/old"))
                    .and_then(|f| f.set_len(1 << 30))
                    .expect("sparse grow");
            }),
        ),
        (
            "hard links in and across dirs",
            Box::new(|r| {
                fs::hard_link(r.join("a"), r.join("a2")).expect("link");
                fs::hard_link(r.join("a"), r.join("pre/sub/a3")).expect("link");
            }),
        ),
        (
            "remove one link",
            Box::new(|r| fs::remove_file(r.join("a")).expect("rm")),
        ),
        (
            "new deep directory with content at once",
            Box::new(|r| {
                fs::create_dir_all(r.join("n1/n2/n3/n4")).expect("mkdir -p");
                for i in 0..50 {
                    fill(&r.join(format!("n1/n2/n3/n4/f{i}")), i * 1000);
                }
            }),
        ),
        (
            "rename a directory",
            Box::new(|r| {
                fs::rename(r.join("n1/n2"), r.join("moved")).expect("mv dir");
                fill(&r.join("moved/n3/after-move"), 4096);
            }),
        ),
        (
            "move a file across dirs, over another",
            Box::new(|r| {
                fill(&r.join("moved/n3/n4/f1"), 77_000);
                fs::rename(r.join("moved/n3/n4/f1"), r.join("pre/b b\n")).expect("mv over");
            }),
        ),
        (
            "move a directory out of the tree and back in",
            Box::new(|r| {
                let out = r.with_extension("outside");
                fs::rename(r.join("moved"), &out).expect("mv out");
                fill(&out.join("n3/written-outside"), 9999);
                fs::rename(&out, r.join("back")).expect("mv in");
            }),
        ),
        (
            "remove a whole subtree",
            Box::new(|r| {
                fs::remove_dir_all(r.join("back")).expect("rm -r");
            }),
        ),
        (
            "replace a directory by a file",
            Box::new(|r| {
                fs::remove_dir_all(r.join("pre/sub")).expect("rm -r");
                fill(&r.join("pre/sub"), 2048);
            }),
        ),
    ];
    assert_tracker_matches_du(&mut t, &root, "start");
    for (name, op) in steps {
        op(&root);
        if name.starts_with("new ") {
            // A directory the workload makes is followed NEW_DIR_DELAY
            // after it is seen (renamed or moved-in ones at once: the other
            // steps are checked as soon as their events are read).
            t.on_readable();
            std::thread::sleep(NEW_DIR_DELAY + Duration::from_millis(20));
            common::usage::step(&mut t);
        }
        assert_tracker_matches_du(&mut t, &root, name);
    }
    // The safety rescan agrees with the incremental state.
    let before = t.figures();
    t.rescan();
    assert_eq!(t.figures(), before);
    let _ = fs::remove_dir_all(&root);
}

fn vm_rss_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident memory and build time of the event tracker on a 100,000-file
/// tree (built by `usage_du`'s bench, or here). Run in release:
/// `cargo test --release --test watcher_ns -- --ignored --nocapture bench_`
#[test]
#[ignore]
fn bench_tracker_memory_100k() {
    let root = PathBuf::from("/var/tmp/sealinit-bench-100k");
    if !root.join("done").exists() {
        for d in 0..100 {
            let dir = root.join(format!("d{d:03}"));
            fs::create_dir_all(&dir).expect("mkdir");
            for f in 0..1000 {
                fill(&dir.join(format!("f{f:04}")), (d * 1000 + f) % 5000);
            }
        }
        fill(&root.join("done"), 0);
    }
    let before = vm_rss_kib();
    let t0 = std::time::Instant::now();
    let mut t = MountTracker::new(root.clone(), true);
    let built = t0.elapsed();
    let after = vm_rss_kib();
    assert_eq!(t.figures().inodes, 100_102);
    // One write's cost: the event re-stats one entry.
    let t1 = std::time::Instant::now();
    fill(&root.join("d050/f0001"), 4096);
    t.on_readable();
    let one = t1.elapsed();
    eprintln!(
        "tracker on 100k files / {} dirs: RSS +{} KiB, initial scan+watch {built:?}, \
         one write to figures {one:?}",
        t.watched_dirs(),
        after.saturating_sub(before)
    );
}

/// The watches of this process's inotify instances, read from
/// `/proc/self/fdinfo` (inotify(7)): one set of `(kernel dev, ino)` per
/// instance.
fn inotify_instances() -> Vec<Vec<(u64, u64)>> {
    let mut out = Vec::new();
    for e in fs::read_dir("/proc/self/fd")
        .expect("ls /proc/self/fd")
        .flatten()
    {
        let is_inotify = fs::read_link(e.path())
            .map(|l| l.to_string_lossy() == "anon_inode:inotify")
            .unwrap_or(false);
        let Ok(info) = fs::read_to_string(Path::new("/proc/self/fdinfo").join(e.file_name()))
        else {
            continue;
        };
        if !is_inotify {
            continue;
        }
        let field = |line: &str, key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| u64::from_str_radix(v, 16).ok())
        };
        let watches = info
            .lines()
            .filter(|l| l.starts_with("inotify wd:"))
            .filter_map(|l| Some((field(l, "sdev:")?, field(l, "ino:")?)))
            .collect();
        out.push(watches);
    }
    out
}

/// `(kernel dev, ino)` of a directory, as fdinfo prints them
/// (`MKDEV(major, minor)` is `major << 20 | minor` inside the kernel).
fn dev_ino(p: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(p).expect("stat");
    let dev = m.dev();
    let (major, minor) = (libc::major(dev) as u64, libc::minor(dev) as u64);
    (major << 20 | minor, m.ino())
}

/// The instance holding a watch on `dir`; it must be the only one.
fn instance_of(dir: (u64, u64)) -> Vec<(u64, u64)> {
    let mut holding: Vec<_> = inotify_instances()
        .into_iter()
        .filter(|w| w.contains(&dir))
        .collect();
    assert_eq!(holding.len(), 1, "instances watching {dir:?}: {holding:?}");
    holding.remove(0)
}

#[test]
fn mounts_share_one_instance_each_gets_its_own_events_and_one_can_vanish() {
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let (a, c) = (base.join("a"), base.join("c"));
    mount_tmpfs(&a, "4m");
    mount_tmpfs(&c, "4m");
    let backing = base.join("backing");
    fs::create_dir_all(backing.join("sub")).expect("mkdir backing");
    let b = base.join("b");
    bind(&backing, &b);
    let (_rd, wr) = pipe();
    let (tx, rx) = channel();
    let cfg = WatchConfig {
        // The rescan is what notices that `c` was unmounted (the tracker's
        // open root fd keeps a lazily detached mount alive until then).
        rescan: Duration::from_millis(200),
        ..WatchConfig::default()
    };
    let mk = |p: &Path, kind, limit| WatchedMount {
        path: p.to_path_buf(),
        kind,
        limit,
    };
    let mounts = vec![
        mk(&a, MountKind::Tmpfs, None),
        mk(&b, MountKind::EmptyDir, Some(1_000_000)),
        // 1 byte: quiet while empty, past both lines once it measures
        // anything else (the directory under the unmounted tmpfs).
        mk(&c, MountKind::Tmpfs, Some(1)),
    ];
    let h = spawn_watcher(mounts, cfg, tx, wr).expect("spawn watcher");
    assert!(h.wait_ready(GUARD), "watches in place");
    let roots = [
        dev_ino(&a),
        dev_ino(&b),
        dev_ino(&b.join("sub")),
        dev_ino(&c),
    ];
    let shared = instance_of(roots[0]);
    for r in roots {
        assert!(
            shared.contains(&r),
            "{r:?} not in the shared instance {shared:?}"
        );
    }
    let row = |p: &Path| {
        let snap = h.snapshot.lock().expect("snapshot").clone();
        snap.into_iter().find(|m| m.path == p).expect("row")
    };

    // Only `b` crosses: `a` and `c` stay quiet and keep their own figures.
    fill(&b.join("sub/x"), 850_000);
    let ev = expect(&rx, &b, CrossedWarn);
    assert_eq!(ev.used, du(&["-B1"], &b), "{ev:?}");
    no_more(&rx);
    assert_eq!((row(&a).used, row(&c).used), (0, 0));
    // Then only `a`: `b` keeps its figure.
    fill(&a.join("f"), 3_500_000);
    let ev = expect(&rx, &a, CrossedWarn);
    let whole = statfs_used(&a);
    assert!(
        (3_500_000..3_600_000).contains(&whole),
        "statfs of a: {whole}"
    );
    crossed_within(&ev, 4 << 20, warn_pct(), whole);
    settles_to(&h, &a, whole);
    assert_eq!(row(&b).used, du(&["-B1"], &b));
    no_more(&rx);

    // `c` goes away: the next rescan measures the directory underneath
    // (past its 1-byte limit) and lets the old watches go.
    umount2(&c, MntFlags::MNT_DETACH).expect("umount c");
    expect(&rx, &c, CrossedWarn);
    expect(&rx, &c, CrossedAct);
    let now = instance_of(roots[0]);
    assert!(
        !now.iter().any(|w| w.0 == roots[3].0),
        "watches of the unmounted tmpfs remain: {now:?}"
    );
    for r in &roots[..3] {
        assert!(now.contains(r), "{r:?} lost by the other mounts: {now:?}");
    }
    assert!(
        now.contains(&dev_ino(&c)),
        "the directory under c is watched: {now:?}"
    );

    // The others are still watched by events.
    fill(&a.join("g"), 500_000);
    expect(&rx, &a, CrossedAct);
    fs::remove_file(b.join("sub/x")).expect("rm");
    expect(&rx, &b, ClearedWarn);
    assert_eq!(row(&b).used, du(&["-B1"], &b));
    assert_eq!((row(&a).method, row(&b).method), ("events", "events"));
    no_more(&rx);
    umount2(&a, MntFlags::MNT_DETACH).expect("umount a");
    umount2(&b, MntFlags::MNT_DETACH).expect("umount b");
    let _ = fs::remove_dir_all(&base);
}

/// The watcher's mount table is read once and kept while the kernel reports
/// no change (`POLLPRI` on the open file): the same table comes back, not a
/// new read; a mount made or removed since is in the next one, and so is
/// anything after `forget` (a round of rescans starts).
#[test]
fn the_cached_mount_table_is_read_again_only_after_a_change() {
    use sealinit::edge::probe::CachedMountTable;
    use std::sync::Arc;
    assert!(is_root(), "needs root (run the tests as root)");
    private_ns();
    let base = scratch("/var/tmp");
    let mut cache = CachedMountTable::new(Path::new("/proc/thread-self/mountinfo"));
    let first = cache.current().expect("read the mount table");
    let again = cache.current().expect("read the mount table");
    assert!(Arc::ptr_eq(&first, &again), "no change: the same table");
    assert!(first.at(&base).is_none());

    mount_tmpfs(&base, "1m");
    let mounted = cache.current().expect("read the mount table");
    assert!(!Arc::ptr_eq(&first, &mounted), "a mount: read again");
    assert_eq!(mounted.at(&base).map(|m| m.fs_type.as_str()), Some("tmpfs"));
    let kept = cache.current().expect("read the mount table");
    assert!(
        Arc::ptr_eq(&mounted, &kept),
        "no change since: the same table"
    );
    cache.forget();
    let fresh = cache.current().expect("read the mount table");
    assert!(!Arc::ptr_eq(&kept, &fresh), "forgotten: read again");
    assert_eq!(*kept, *fresh, "nothing changed in between");

    umount2(&base, MntFlags::empty()).expect("umount");
    let unmounted = cache.current().expect("read the mount table");
    assert!(unmounted.at(&base).is_none(), "an unmount: read again");
    fs::remove_dir_all(&base).expect("cleanup");
}
