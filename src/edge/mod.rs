//! Thin syscall edges: each function makes the calls and returns plain data
//! (or an error naming the operation and the path). No policy lives here.

pub mod inotify;
pub mod log;
pub mod openfiles;
pub mod poll;
pub mod probe;
pub mod process;
pub mod procfile;
pub mod scan;
pub mod signals;
pub mod specfile;
pub mod tamper;
pub mod usage;
