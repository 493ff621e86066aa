//! Records the git commit sealinit is built from, for `sealinit --version`
//! (`BUILD_GIT_COMMIT`): `git rev-parse --short=12 HEAD` when git and a
//! checkout are there, "unknown" otherwise. Never fails the build. The name
//! is not a `SEALINIT_*` one on purpose: cargo also sets it in the
//! environment of `cargo test`/`cargo run`, where sealinit would warn about
//! it as a misspelt setting.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
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
