//! Build script: refuses to build a dynamically linked sealinit, and
//! records the git commit it is built from.
//!
//! sealinit is COPY'd into `FROM scratch` images, so it must be a static
//! executable. The static link comes from `-C target-feature=+crt-static`
//! in `.cargo/config.toml`, but Cargo finds that file from the directory it
//! runs in, not from the manifest: `cargo build --manifest-path
//! /src/sealinit/Cargo.toml` run from elsewhere (and any `RUSTFLAGS`, which
//! replaces the config's flags) silently gives a dynamic binary that fails in
//! a scratch image with "no such file or directory". A Cargo.toml profile
//! cannot carry target features (`profile.rustflags` is unstable), so the
//! check is here: Cargo tells build scripts the target's features in
//! `CARGO_CFG_TARGET_FEATURE`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    check_static();
    record_commit();
}

/// Fails the build unless the target links the C runtime statically.
/// cargo-fuzz builds (`--cfg fuzzing`) are exempt: sanitizers cannot link
/// into a static executable, and no fuzz build is shipped.
fn check_static() {
    println!("cargo:rerun-if-env-changed=CARGO_CFG_TARGET_FEATURE");
    println!("cargo:rerun-if-env-changed=CARGO_CFG_FUZZING");
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    if features.split(',').any(|f| f == "crt-static")
        || std::env::var_os("CARGO_CFG_FUZZING").is_some()
    {
        return;
    }
    eprintln!(
        "error: sealinit must be linked statically (it runs in FROM scratch images), but \
         this build does not have target-feature crt-static.\n\
         The flag lives in .cargo/config.toml, which Cargo reads from the directory it runs \
         in; a RUSTFLAGS variable replaces it.\n\
         Fix: run cargo from the sealinit directory (cd /path/to/sealinit && cargo build \
         --release), or pass the flags yourself:\n  \
         RUSTFLAGS='-C target-feature=+crt-static -C relocation-model=static' cargo build \
         --release --manifest-path /path/to/sealinit/Cargo.toml"
    );
    std::process::exit(1);
}

/// `BUILD_GIT_COMMIT` for `sealinit --version`: `git rev-parse --short=12
/// HEAD` when git and a checkout are there, "unknown" otherwise; never
/// fails the build. The name is not a `SEALINIT_*` one on purpose: cargo
/// also sets it in the environment of `cargo test`/`cargo run`, where
/// sealinit would warn about it as a misspelt setting. Reruns when HEAD
/// moves (`.git/HEAD` and the ref it points to).
fn record_commit() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // Rebuild when HEAD moves: .git/HEAD itself (a checkout) and the ref it
    // points to (a commit). In a worktree .git is a file naming the real
    // git directory; `git rev-parse --git-dir` finds it either way.
    if let Some(git_dir) = git_path(&["rev-parse", "--git-dir"]) {
        let head = git_dir.join("HEAD");
        println!("cargo:rerun-if-changed={}", head.display());
        if let Some(reference) = std::fs::read_to_string(&head)
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
        {
            // A branch ref may live in this git dir or the common one.
            let common = git_path(&["rev-parse", "--git-common-dir"]).unwrap_or(git_dir.clone());
            for dir in [&git_dir, &common] {
                let path = dir.join(&reference);
                if path.exists() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
            let packed = common.join("packed-refs");
            if packed.exists() {
                println!("cargo:rerun-if-changed={}", packed.display());
            }
        }
    }
}

/// A path printed by `git ARGS`, made absolute against the current directory.
fn git_path(args: &[&str]) -> Option<PathBuf> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    let p = Path::new(s.trim());
    if p.is_absolute() {
        Some(p.to_path_buf())
    } else {
        std::env::current_dir().ok().map(|d| d.join(p))
    }
}
