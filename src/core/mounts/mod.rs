//! The mounts as the kernel reports them: `mountinfo` (parsing
//! `/proc/self/mountinfo` into a table), `classify` (what each mount is:
//! image root, platform, declared volume, ...) and `facts` (the plain data
//! `edge::probe` gathers at start-up for `core::checks` to judge).

pub mod classify;
pub mod facts;
pub mod mountinfo;
