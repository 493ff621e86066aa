//! mountinfo parser: `MountTable::parse` and `parse_lenient` never panic, agree
//! with each other, and every parsed entry can be classified and looked up;
//! the visibility pass and the `sealinit mounts` renderings take any table,
//! and the text table has exactly one row per visible mount.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealinit::core::mounts::classify;
use sealinit::core::mounts::mountinfo::MountTable;
use sealinit::core::render::report;

fuzz_target!(|data: &[u8]| {
    let strict = MountTable::parse(data);
    let (lenient, errors) = MountTable::parse_lenient(data);
    match &strict {
        // A clean strict parse is exactly what the lenient parse keeps.
        Ok(t) => {
            assert!(errors.is_empty(), "lenient found errors strict did not");
            assert_eq!(t, &lenient);
        }
        // The strict error is the first lenient error.
        Err(e) => assert_eq!(errors.first(), Some(e)),
    }
    for entry in &lenient.entries {
        let _ = classify::classify(entry);
        let _ = classify::is_platform(entry);
        let _ = classify::is_writable_surface(entry);
        let _ = entry.super_option("size");
        let _ = lenient.at(&entry.mount_point);
        let _ = lenient.containing(&entry.mount_point);
    }
    let visible = lenient.visible().iter().filter(|v| **v).count();
    let table = report::render_mounts_table(&lenient, &[]);
    assert_eq!(table.lines().count(), visible + 1, "{table}");
    let json = report::render_mounts_json(&lenient, &[]);
    assert_eq!(json.lines().count(), visible);
});
