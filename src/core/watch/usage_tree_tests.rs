//! Unit tests of [`super::UsageTree`]: each case replays listings and
//! events and checks the totals du would print.

use super::*;

const DEV: u64 = 7;

fn file(ino: u64, bytes: u64) -> EntryStat {
    EntryStat {
        dev: DEV,
        ino,
        bytes,
        nlink: 1,
        mode: libc::S_IFREG | 0o644,
        ..EntryStat::default()
    }
}

fn link(ino: u64, bytes: u64, nlink: u64) -> EntryStat {
    EntryStat {
        nlink,
        ..file(ino, bytes)
    }
}

fn dir(ino: u64, bytes: u64) -> EntryStat {
    EntryStat {
        is_dir: true,
        nlink: 2,
        mode: libc::S_IFDIR | 0o755,
        ..file(ino, bytes)
    }
}

fn tree() -> UsageTree {
    UsageTree::new(1, dir(2, 4096), true)
}

/// Lists `wd` (own size 4096) with `entries`.
fn list(t: &mut UsageTree, wd: Wd, entries: &[(&str, EntryStat)]) -> Relisted {
    let mut l = t.begin_listing(wd, 0);
    l.set_own(4096);
    for (n, st) in entries {
        t.listing_add(&mut l, n.as_bytes(), st);
    }
    t.commit_listing(l, 0)
}

fn totals(t: &UsageTree) -> (u64, u64) {
    (t.bytes(), t.inodes())
}

#[test]
fn root_alone_counts_itself() {
    assert_eq!(totals(&tree()), (4096, 1));
}

#[test]
fn listing_replaces_a_directory_contribution() {
    let mut t = tree();
    list(&mut t, 1, &[("a", file(10, 8192)), ("b", file(11, 100))]);
    assert_eq!(totals(&t), (4096 + 8292, 3));
    list(&mut t, 1, &[("a", file(10, 4096))]);
    assert_eq!(totals(&t), (8192, 2), "b gone, a shrank");
    list(&mut t, 1, &[("a", file(10, 4096))]);
    assert_eq!(totals(&t), (8192, 2), "a replayed listing counts once");
}

#[test]
fn created_file_is_a_delta_then_hot() {
    let mut t = tree();
    list(&mut t, 1, &[]);
    t.begin_batch();
    t.begin_batch(); // the listing is older than the coming events
    let o = t.event(1, b"a", Ev::Created, false, Some(file(10, 0)), 0);
    assert_eq!((o, totals(&t)), (Outcome::Done, (4096, 2)));
    let o = t.event(1, b"a", Ev::Written, false, Some(file(10, 8192)), 1);
    assert_eq!((o, totals(&t)), (Outcome::Done, (4096 + 8192, 2)));
    assert_eq!(t.hot_len(), 1);
    let o = t.event(1, b"a", Ev::Removed, false, None, 2);
    assert_eq!((o, totals(&t)), (Outcome::Done, (4096, 1)));
    assert_eq!(t.hot_len(), 0);
}

#[test]
fn create_right_after_a_listing_counts_once() {
    let mut t = tree();
    // The listing already saw `a`, whose create event is still queued; it
    // made `a` hot, so the event is a delta from what it counted.
    list(&mut t, 1, &[("a", file(10, 100))]);
    assert_eq!(t.hot_len(), 1, "a listed file is hot");
    t.begin_batch();
    let o = t.event(1, b"a", Ev::Created, false, Some(file(10, 4096)), 0);
    assert_eq!((o, totals(&t)), (Outcome::Done, (4096 + 4096, 2)));
    // `b`, created after the listing: the listing met every file, so `b`
    // is new.
    let o = t.event(1, b"b", Ev::Created, false, Some(file(11, 100)), 0);
    assert_eq!((o, totals(&t)), (Outcome::Done, (4096 + 4196, 3)));
}

/// A file of `bytes` whose ctime is `sec`.
fn at(ino: u64, bytes: u64, sec: i64) -> EntryStat {
    EntryStat {
        ctime: (sec, 0),
        ..file(ino, bytes)
    }
}

#[test]
fn a_first_listing_makes_hot_big_files_written_lately_before_the_watch() {
    // A directory followed a moment after it was made (or a volume kept
    // across a restart): a big file written just before the watch may
    // still be grown by writeback, with no event; an old or small one not.
    let mut t = tree();
    let big = WRITEBACK_MIN;
    let secs = WRITEBACK_SECS as i64;
    let mut l = t.begin_listing(1, 0);
    l.watched_at((1000, 0));
    t.listing_add(&mut l, b"big-lately", &at(10, big, 1000 - secs));
    t.listing_add(&mut l, b"big-old", &at(11, big, 1000 - secs - 1));
    t.listing_add(&mut l, b"small-lately", &at(12, big - 512, 999));
    t.commit_listing(l, 0);
    assert_eq!(t.hot_len(), 1, "only the big file written lately is hot");
    // Its writeback growth is a delta, not a re-list.
    assert!(!t.restat(
        1,
        name_key(b"big-lately"),
        Some(at(10, big + 4096, 1000 - secs))
    ));
    assert_eq!(totals(&t).0, big + 4096 + big + big - 512);
}

#[test]
fn a_first_listing_makes_hot_only_files_made_since_the_watch() {
    let mut t = tree();
    // An unpacking archive's directory, watched at t=100 after `old` was
    // made and closed: no create event of this watch can name `old`.
    let mut l = t.begin_listing(1, 0);
    l.set_own(4096);
    l.watched_at((100, 0));
    t.listing_add(&mut l, b"old", &at(10, 100, 99));
    t.listing_add(&mut l, b"new", &at(11, 200, 100));
    t.commit_listing(l, 0);
    assert_eq!(t.hot_len(), 1, "only the file made since the watch is hot");
    t.begin_batch();
    // `new`'s create event, queued after the watch: a delta, not twice.
    let o = t.event(1, b"new", Ev::Created, false, Some(at(11, 4096, 100)), 0);
    assert_eq!((o, totals(&t)), (Outcome::Done, (4096 + 100 + 4096, 3)));
    // A file made after the listing is new (the listing met all others
    // that could still be named by a create).
    let o = t.event(1, b"later", Ev::Created, false, Some(at(12, 50, 101)), 0);
    assert_eq!(
        (o, totals(&t)),
        (Outcome::Done, (4096 + 100 + 4096 + 50, 4))
    );
    // A later write to `old`, not hot: its directory is listed again.
    let o = t.event(1, b"old", Ev::Written, false, Some(at(10, 8192, 102)), 0);
    assert_eq!(o, Outcome::Relist);
    // Its re-listing counts the write.
    let mut l = t.begin_listing(1, 0);
    l.set_own(4096);
    for (n, st) in [
        ("old", at(10, 8192, 102)),
        ("new", at(11, 4096, 100)),
        ("later", at(12, 50, 101)),
    ] {
        t.listing_add(&mut l, n.as_bytes(), &st);
    }
    t.commit_listing(l, 0);
    assert_eq!(totals(&t), (4096 + 8192 + 4096 + 50, 4));
}

#[test]
fn create_right_after_a_large_listing_relists_instead_of_counting_twice() {
    let mut t = tree();
    // Too many files to make hot: a create may name one the listing met.
    let names: Vec<String> = (0..=LISTED_HOT_MAX).map(|i| format!("f{i}")).collect();
    let entries: Vec<(&str, EntryStat)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), file(100 + i as u64, 0)))
        .collect();
    list(&mut t, 1, &entries);
    assert_eq!(t.hot_len(), 0, "none made hot");
    t.begin_batch();
    let o = t.event(1, b"f3", Ev::Created, false, Some(file(103, 0)), 0);
    assert_eq!(o, Outcome::Relist);
    let o = t.event(1, b"new", Ev::Created, false, Some(file(9, 0)), 0);
    assert_eq!(o, Outcome::Relist, "unknown either way");
}

#[test]
fn delete_of_a_cold_file_asks_for_a_relist_gone_one_does_not() {
    let mut t = tree();
    list(&mut t, 1, &[("old", file(10, 100))]);
    t.cool((1, name_key(b"old")));
    t.begin_batch();
    t.begin_batch();
    assert_eq!(
        t.event(1, b"old", Ev::Removed, false, None, 0),
        Outcome::Relist
    );
    // Created and gone before the event was read: its delete is free.
    assert_eq!(
        t.event(1, b"tmp", Ev::Created, false, None, 0),
        Outcome::Done
    );
    assert_eq!(
        t.event(1, b"tmp", Ev::Removed, false, None, 0),
        Outcome::Done
    );
}

#[test]
fn hard_links_count_once_and_ask_for_a_hunt() {
    let mut t = tree();
    let (d1, d2) = (2, 3);
    list(&mut t, 1, &[("d1", dir(20, 4096)), ("d2", dir(21, 4096))]);
    assert!(t.attach_dir(1, b"d1", d1).0);
    assert!(t.attach_dir(1, b"d2", d2).0);
    list(&mut t, d1, &[("a", file(10, 4096))]);
    list(&mut t, d2, &[]);
    let base = t.bytes() - 4096;
    // ln d1/a d2/l: only d2 sees an event; d1 still counts a alone.
    list(&mut t, d2, &[("l", link(10, 4096, 2))]);
    let hunt = t.take_hunt();
    assert!(hunt.contains(&10), "the other name must be hunted");
    list(&mut t, d1, &[("a", link(10, 4096, 2))]);
    assert_eq!(t.bytes(), base + 4096, "counted once");
    // Append 50 MB through d2/l, then rm d2/l: a keeps the bytes.
    list(&mut t, d2, &[("l", link(10, 50_000_000, 2))]);
    assert_eq!(t.bytes(), base + 50_000_000);
    t.take_hunt();
    list(&mut t, d2, &[]);
    assert_eq!(t.bytes(), base + 50_000_000, "a still holds the inode");
    assert!(
        t.take_hunt().contains(&10),
        "a name went: the others are re-listed"
    );
    list(&mut t, d1, &[("a", file(10, 50_000_000))]);
    assert_eq!(t.bytes(), base + 50_000_000);
    assert!(t.take_hunt().is_empty());
}

#[test]
fn subtree_moves_and_removals() {
    let mut t = tree();
    let r = list(&mut t, 1, &[("s", dir(20, 4096))]);
    assert_eq!(r.new_dirs, vec![b"s".to_vec()]);
    t.attach_dir(1, b"s", 2);
    let r = list(&mut t, 2, &[("x", dir(21, 4096)), ("f", file(30, 1000))]);
    assert_eq!(r.new_dirs, vec![b"x".to_vec()]);
    t.attach_dir(2, b"x", 3);
    list(&mut t, 3, &[("g", file(31, 2000))]);
    assert_eq!(totals(&t), (4096 * 3 + 3000, 5));
    // mv s out: its whole subtree goes.
    t.begin_batch();
    assert_eq!(t.event(1, b"s", Ev::Removed, true, None, 0), Outcome::Done);
    let mut dropped = t.take_dropped();
    dropped.sort();
    assert_eq!(dropped, vec![2, 3]);
    assert_eq!(totals(&t), (4096, 1));
    // mv a directory in: a new directory to watch and list.
    assert_eq!(
        t.event(1, b"in", Ev::MovedIn, true, Some(dir(40, 4096)), 0),
        Outcome::NewDir
    );
}

#[test]
fn excluded_mount_points_and_other_devices_are_not_counted() {
    let mut t = tree();
    t.exclude([(DEV, 50)]);
    let other = EntryStat {
        dev: DEV + 1,
        ..dir(60, 4096)
    };
    let r = list(
        &mut t,
        1,
        &[
            ("nested", dir(50, 4096)),
            ("mnt", other),
            ("f", file(1, 512)),
        ],
    );
    assert!(r.new_dirs.is_empty());
    assert_eq!(totals(&t), (4096 + 512, 2));
}

#[test]
fn restat_of_a_hot_file_follows_mmap_and_writeback() {
    let mut t = tree();
    list(&mut t, 1, &[]);
    t.begin_batch();
    t.begin_batch();
    t.event(1, b"m", Ev::Created, false, Some(file(10, 0)), 0);
    let key = name_key(b"m");
    assert!(!t.restat(1, key, Some(file(10, 98 << 20))));
    assert_eq!(t.bytes(), 4096 + (98 << 20));
    assert!(
        t.restat(1, key, Some(link(10, 1, 2))),
        "now linked: re-list"
    );
}

/// Seen in the random workload with hard links: `mv b a` over a hot file
/// then an append to `a`, read in one batch. The rename must not leave the
/// old inode's remembered size in place of what the directory counts: the
/// append's delta would take away bytes the directory never counted (here
/// more than its whole sum, lost for good to the saturating arithmetic).
#[test]
fn rename_over_a_hot_file_then_a_write_in_one_batch() {
    let mut t = tree();
    // `c`'s bytes are in the link map, not in the directory's own sum.
    list(&mut t, 1, &[("c", link(12, 100_000, 2))]);
    t.begin_batch();
    t.begin_batch(); // the listing is older than the coming events
    t.event(1, b"a", Ev::Created, false, Some(file(10, 4096)), 0);
    t.event(1, b"b", Ev::Created, false, Some(file(11, 8192)), 0);
    assert_eq!(totals(&t), (4096 + 100_000 + 4096 + 8192, 4));
    t.begin_batch();
    // mv b a; append 12 KiB to a (each stat is taken when its event is read).
    let after = file(11, 20_480);
    t.event(1, b"b", Ev::Removed, false, None, 1);
    let o = t.event(1, b"a", Ev::MovedIn, false, Some(after), 1);
    assert_eq!(o, Outcome::Relist);
    t.event(1, b"a", Ev::Written, false, Some(after), 1);
    t.event(1, b"a", Ev::Closed, false, Some(after), 1);
    list(&mut t, 1, &[("a", after), ("c", link(12, 100_000, 2))]);
    assert_eq!(totals(&t), (4096 + 100_000 + 20_480, 3));
    // Hot again (its size followed by events).
    let bigger = file(11, 24_576);
    let o = t.event(1, b"a", Ev::Written, false, Some(bigger), 2);
    assert_eq!(
        (o, totals(&t)),
        (Outcome::Done, (4096 + 100_000 + 24_576, 3))
    );
}

/// Seen in the random workload with hard links: an append through `s/l`
/// (a name of an inode also named `y`), then `s` moved out of the tree,
/// read in one batch. The append's event cannot be stat'ed any more (its
/// directory is gone from the tree) and `y` saw no event: the inode's size
/// is found only by re-listing `y`'s directory, so the drop of `s` must
/// ask for that hunt.
#[test]
fn a_linked_name_written_then_moved_out_with_its_directory() {
    let mut t = tree();
    let out = list(&mut t, 1, &[("s", dir(20, 4096)), ("y", link(30, 8192, 2))]);
    assert_eq!(out.new_dirs, vec![b"s".to_vec()]);
    assert!(t.attach_dir(1, b"s", 2).0);
    list(&mut t, 2, &[("l", link(30, 8192, 2))]);
    t.take_hunt();
    assert_eq!(totals(&t), (4096 + 4096 + 8192, 3));
    t.begin_batch();
    // echo >> s/l; mv s /elsewhere
    let o = t.event(2, b"l", Ev::Written, false, None, 1);
    assert_eq!(o, Outcome::Relist);
    t.event(1, b"s", Ev::Removed, true, None, 1);
    assert_eq!(t.take_dropped(), vec![2]);
    assert!(
        t.take_hunt().contains(&30),
        "y's directory must be re-listed"
    );
    list(&mut t, 1, &[("y", link(30, 16_384, 2))]);
    assert_eq!(totals(&t), (4096 + 16_384, 2));
}

#[test]
fn a_full_hot_map_forgets_closed_small_files_first() {
    let mut t = tree();
    list(&mut t, 1, &[]);
    t.begin_batch();
    t.begin_batch();
    let n = HOT_MAX as u64;
    for i in 0..n - 2 {
        let name = format!("f{i}");
        t.event(
            1,
            name.as_bytes(),
            Ev::Created,
            false,
            Some(file(100 + i, 4096)),
            0,
        );
        t.event(
            1,
            name.as_bytes(),
            Ev::Closed,
            false,
            Some(file(100 + i, 4096)),
            0,
        );
    }
    let big = file(10, WRITEBACK_MIN);
    t.event(1, b"big", Ev::Created, false, Some(big), 0);
    t.event(1, b"big", Ev::Closed, false, Some(big), 0);
    t.event(1, b"open", Ev::Created, false, Some(file(11, 0)), 0);
    assert_eq!(t.hot_len(), HOT_MAX);
    // Too soon to forget anything: counted, not hot.
    let o = t.event(
        1,
        b"x",
        Ev::Created,
        false,
        Some(file(12, 4096)),
        EVICT_AGE / 2,
    );
    assert_eq!((o, t.hot_len()), (Outcome::Done, HOT_MAX));
    // Later: the closed small ones go, the big one (writeback) and the open
    // one stay, and the new file is hot.
    let o = t.event(
        1,
        b"y",
        Ev::Created,
        false,
        Some(file(13, 4096)),
        EVICT_AGE * 2,
    );
    assert_eq!((o, t.hot_len()), (Outcome::Done, 3));
    let files = (n - 2 + 2) * 4096 + WRITEBACK_MIN;
    assert_eq!(totals(&t), (4096 + files, 1 + n + 2));
}

#[test]
fn times_of_a_known_subdirectory_change_nothing() {
    let mut t = tree();
    list(&mut t, 1, &[("s", dir(20, 4096))]);
    t.attach_dir(1, b"s", 2);
    list(&mut t, 2, &[("f", file(30, 1000))]);
    let before = totals(&t);
    t.begin_batch();
    t.begin_batch();
    // `utimensat` on s (tar sets each directory's times): IN_MODIFY|IN_ISDIR.
    let o = t.event(1, b"s", Ev::Written, true, Some(dir(20, 4096)), 0);
    assert_eq!((o, totals(&t)), (Outcome::Done, before));
    // Another directory under that name now: re-list.
    let o = t.event(1, b"s", Ev::Written, true, Some(dir(21, 4096)), 0);
    assert_eq!(o, Outcome::Relist);
    let o = t.event(1, b"unknown", Ev::Written, true, Some(dir(22, 4096)), 0);
    assert_eq!(o, Outcome::Relist);
}
