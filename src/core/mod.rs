//! The pure core: parsing, classification, evaluation and rendering.
//! Nothing here makes a syscall; everything is testable without root.

pub mod checks;
pub mod exitcode;
pub mod facts;
pub mod mountinfo;
pub mod options;
pub mod quantity;
pub mod report;
pub mod spec;
