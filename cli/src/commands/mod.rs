//! One module per command; each takes the [`Context`](crate::context::Context) and its parsed flags.

pub mod bootstrap;
pub mod completions;
pub mod diff;
pub mod down;
pub mod drift;
pub mod history;
pub mod list;
pub mod logs;
pub mod plan;
pub mod profile;
pub mod render;
pub mod review;
pub mod rollback;
pub mod status;
pub mod up;
