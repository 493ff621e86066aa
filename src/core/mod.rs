//! The pure core: parsing, classification, evaluation and rendering.
//! Nothing here makes a syscall; everything is testable without root.

pub mod exitcode;
pub mod manifest;
pub mod mountinfo;
pub mod options;
pub mod plan;
pub mod quantity;
pub mod spec;
