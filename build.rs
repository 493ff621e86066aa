//! Build script: refuses to build a dynamically linked sealinit.
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

fn main() {
    check_static();
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
