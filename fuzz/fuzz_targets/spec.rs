//! Spec parsers: the TOML spec file, `SEALINIT_MOUNTS` and the
//! `--tmpfs PATH[:SIZE]` family. None may panic on any text, and each error
//! renders. A spec that parses renders (`--print-spec`) to TOML that parses
//! back to the same contract.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sealinit::core::contract::spec::{self, MountKind};

const KINDS: [MountKind; 5] = [
    MountKind::Tmpfs,
    MountKind::EmptyDir,
    MountKind::Pvc,
    MountKind::ReadOnly,
    MountKind::Secret,
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match spec::parse_spec_toml(&text, Path::new("/fuzz/spec.toml")) {
        Ok(file) => {
            // Every declared path is absolute and declared once.
            assert!(spec::duplicate_path(&file.mounts).is_none());
            for m in &file.mounts {
                assert!(m.path.is_absolute(), "{:?}", m.path);
            }
            let resolved = spec::merge([&file]);
            let text = spec::render_toml(&resolved.spec, &resolved.settings);
            let back = spec::parse_spec_toml(&text, Path::new("/fuzz/printed.toml"))
                .unwrap_or_else(|e| panic!("printed spec does not parse: {e}\n{text}"));
            let again = spec::merge([&back]);
            assert_eq!(again.spec, resolved.spec, "{text}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    match spec::parse_mounts_env(&text) {
        Ok(mounts) => assert!(spec::duplicate_path(&mounts).is_none()),
        Err(e) => assert!(!e.is_empty()),
    }
    // The first byte picks the kind for the flag parsers.
    let kind = KINDS[usize::from(data.first().copied().unwrap_or(0)) % KINDS.len()];
    let flag = String::from_utf8_lossy(data.get(1..).unwrap_or(&[]));
    if let Ok(m) = spec::parse_mount_flag(kind, &flag) {
        assert!(m.path.is_absolute());
        assert!(m.size_limit.is_none() || kind.is_writable());
    }
});
