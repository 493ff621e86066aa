//! sealinit's entry point: the only place that exits.
//!
//! `#![no_main]`: the Rust runtime's `main` shim would set SIGPIPE to
//! SIG_IGN before our code runs, hiding the disposition sealinit inherited;
//! with our own C `main` the very first thing that happens is blocking every
//! signal and recording what the caller gave us.
#![no_main]

use std::io::Write;

use sealinit::orchestra::app;

#[no_mangle]
// The C runtime calls it with its own argc and argv, the only caller.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    let inherited = sealinit::edge::signals::block_all_and_snapshot();
    // SAFETY: the C runtime's own argc and argv: argc NUL-terminated
    // strings that live as long as the process.
    let args = unsafe { sealinit::edge::process::args_from_main(argc, argv) };
    let code = app::run(inherited, args);
    let _ = std::io::stdout().flush();
    code
}
