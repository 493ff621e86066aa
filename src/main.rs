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
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let inherited = sealinit::edge::signals::block_all_and_snapshot();
    let code = app::run(inherited);
    let _ = std::io::stdout().flush();
    code
}
