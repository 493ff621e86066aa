//! Unit tests of [`super::UsageTree`]: each case replays stat facts and
//! checks the totals du would print.

use super::*;

const DEV: u64 = 7;

fn file(ino: u64, bytes: u64) -> Option<EntryStat> {
    Some(EntryStat {
        dev: DEV,
        ino,
        bytes,
        nlink: 1,
        is_dir: false,
    })
}

fn link(ino: u64, bytes: u64, nlink: u64) -> Option<EntryStat> {
    Some(EntryStat {
        nlink,
        ..file(ino, bytes).unwrap_or_default()
    })
}

fn dir(ino: u64, bytes: u64) -> Option<EntryStat> {
    Some(EntryStat {
        is_dir: true,
        nlink: 2,
        ..file(ino, bytes).unwrap_or_default()
    })
}

fn tree() -> UsageTree {
    UsageTree::new(1, dir(2, 4096).unwrap_or_default())
}

#[test]
fn root_alone_counts_itself() {
    let t = tree();
    assert_eq!((t.bytes(), t.inodes()), (4096, 1));
}

#[test]
fn file_created_grown_and_deleted() {
    let mut t = tree();
    t.set_entry(1, b"a", file(10, 8192));
    assert_eq!((t.bytes(), t.inodes()), (4096 + 8192, 2));
    t.set_entry(1, b"a", file(10, 16384));
    assert_eq!((t.bytes(), t.inodes()), (4096 + 16384, 2));
    t.set_entry(1, b"a", None);
    assert_eq!((t.bytes(), t.inodes()), (4096, 1));
    // Replaying the delete is harmless.
    t.set_entry(1, b"a", None);
    assert_eq!((t.bytes(), t.inodes()), (4096, 1));
}

#[test]
fn replayed_create_counts_once() {
    let mut t = tree();
    t.set_entry(1, b"a", file(10, 100));
    t.set_entry(1, b"a", file(10, 100));
    assert_eq!((t.bytes(), t.inodes()), (4196, 2));
}

#[test]
fn hard_links_count_once_until_last_name_goes() {
    let mut t = tree();
    t.set_entry(1, b"a", link(10, 512, 2));
    t.set_entry(1, b"b", link(10, 512, 2));
    assert_eq!((t.bytes(), t.inodes()), (4096 + 512, 2));
    t.set_entry(1, b"a", None);
    assert_eq!((t.bytes(), t.inodes()), (4096 + 512, 2));
    t.set_entry(1, b"b", None);
    assert_eq!((t.bytes(), t.inodes()), (4096, 1));
}

#[test]
fn new_link_in_same_directory_adopts_the_old_name() {
    let mut t = tree();
    t.set_entry(1, b"a", file(10, 512));
    t.set_entry(1, b"b", link(10, 512, 2));
    assert_eq!((t.bytes(), t.inodes()), (4096 + 512, 2));
    t.set_entry(1, b"a", None);
    t.set_entry(1, b"b", None);
    assert_eq!((t.bytes(), t.inodes()), (4096, 1));
}

#[test]
fn other_device_is_not_counted() {
    let mut t = tree();
    let mut st = dir(50, 4096).unwrap_or_default();
    st.dev = DEV + 1;
    let f = t.set_entry(1, b"mnt", Some(st));
    assert!(!f.scan_dir);
    assert_eq!((t.bytes(), t.inodes()), (4096, 1));
}

#[test]
fn subdirectory_attach_populate_and_remove() {
    let mut t = tree();
    let f = t.set_entry(1, b"d", dir(20, 4096));
    assert!(f.scan_dir);
    assert!(t.attach_dir(1, b"d", 5).is_empty());
    assert_eq!(t.rel_path(5), Some(b"d".to_vec()));
    t.set_entry(5, b"e", dir(21, 4096));
    t.attach_dir(5, b"e", 6);
    t.set_entry(6, b"x", file(30, 1000));
    assert_eq!(t.rel_path(6), Some(b"d/e".to_vec()));
    assert_eq!((t.bytes(), t.inodes()), (4096 * 3 + 1000, 4));
    // The directory grows: only its own size changes, no rescan.
    let f = t.set_entry(1, b"d", dir(20, 8192));
    assert_eq!(f, Followup::default());
    assert_eq!(t.bytes(), 4096 * 4 + 1000);
    // Removed from the parent: the whole subtree goes, both watches dropped.
    let mut f = t.set_entry(1, b"d", None);
    f.dropped.sort();
    assert_eq!(f.dropped, vec![5, 6]);
    assert_eq!((t.bytes(), t.inodes()), (4096, 1));
    assert!(!t.contains(5));
}

#[test]
fn ignored_watch_forgets_subtree() {
    let mut t = tree();
    t.set_entry(1, b"d", dir(20, 4096));
    t.attach_dir(1, b"d", 5);
    t.set_entry(5, b"f", file(30, 512));
    assert_eq!(t.forget(5), Vec::<Wd>::new());
    assert_eq!((t.bytes(), t.inodes()), (4096, 1));
    // The root is never forgotten.
    t.forget(1);
    assert!(t.contains(1));
}

#[test]
fn renamed_directory_reattaches_same_watch() {
    let mut t = tree();
    t.set_entry(1, b"old", dir(20, 4096));
    t.attach_dir(1, b"old", 5);
    t.set_entry(5, b"f", file(30, 512));
    // Rename: the old name is gone, the new name appears; the kernel hands
    // back the same watch.
    t.set_entry(1, b"old", None);
    t.set_entry(1, b"new", dir(20, 4096));
    let dropped = t.attach_dir(1, b"new", 5);
    assert!(dropped.is_empty());
    t.set_entry(5, b"f", file(30, 512));
    assert_eq!(t.rel_path(5), Some(b"new".to_vec()));
    assert_eq!((t.bytes(), t.inodes()), (4096 * 2 + 512, 3));
}

#[test]
fn directory_replaced_by_file() {
    let mut t = tree();
    t.set_entry(1, b"d", dir(20, 4096));
    t.attach_dir(1, b"d", 5);
    t.set_entry(5, b"f", file(30, 512));
    let f = t.set_entry(1, b"d", file(31, 100));
    assert_eq!(f.dropped, vec![5]);
    assert_eq!((t.bytes(), t.inodes()), (4196, 2));
}

#[test]
fn root_self_and_unknown_watch() {
    let mut t = tree();
    t.set_dir_self(1, dir(2, 8192).unwrap_or_default());
    assert_eq!(t.bytes(), 8192);
    assert_eq!(t.set_entry(99, b"x", file(1, 1)), Followup::default());
    assert_eq!(t.rel_path(99), None);
    assert_eq!(t.bytes(), 8192);
}

#[test]
fn slot_stays_small() {
    // Memory per tracked file is dominated by (u64 key, Slot) buckets.
    assert_eq!(std::mem::size_of::<Slot>(), 24);
}
