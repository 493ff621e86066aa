//! The static link does not depend on the directory cargo runs from: a
//! build through `--manifest-path` from another directory either links
//! statically (flags given) or fails loudly (build.rs `check_static`), never
//! yields a dynamic binary that dies in a FROM scratch image.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::has_interp;

fn manifest() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")
}

/// `cargo build --manifest-path .../Cargo.toml` run from a temp directory,
/// with its own target directory (kept between runs, so reruns are cheap).
fn cargo_build_elsewhere(rustflags: Option<&str>) -> (Output, PathBuf) {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/static-build-test");
    let cwd = std::env::temp_dir().join(format!("sealinit-static-cwd-{}", std::process::id()));
    std::fs::create_dir_all(&cwd).expect("mkdir cwd");
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(&cwd)
        .args(["build", "--offline", "--bin", "sealinit", "--manifest-path"])
        .arg(manifest())
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    if let Some(flags) = rustflags {
        c.env("RUSTFLAGS", flags);
    }
    let out = c.output().expect("run cargo");
    std::fs::remove_dir_all(&cwd).expect("rm cwd");
    (out, target.join("debug/sealinit"))
}

#[test]
fn a_build_from_another_directory_is_static_or_fails_loudly() {
    // Without the repository's .cargo/config.toml: refused, with the fix.
    let (out, bin) = cargo_build_elsewhere(None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "built without crt-static:\n{err}");
    assert!(
        err.contains("must be linked statically") && err.contains("target-feature=+crt-static"),
        "the failure does not say why and how:\n{err}"
    );
    // With the flags the message gives: a static binary.
    let (out, _) = cargo_build_elsewhere(Some(
        "-C target-feature=+crt-static -C relocation-model=static",
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&bin).expect("read the built binary");
    assert!(
        !has_interp(&bytes),
        "{} is dynamically linked",
        bin.display()
    );
}
