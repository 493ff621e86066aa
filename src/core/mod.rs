//! The pure core: parsing, classification, evaluation and rendering.
//! Nothing here makes a syscall; everything is testable without root.

pub mod exitcode;
pub mod mountinfo;
pub mod options;
pub mod quantity;
pub mod spec;
pub mod threshold;
pub mod usage_tree;
