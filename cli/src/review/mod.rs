//! Per-pull-request review stacks: their names, their cloud-side record (a tagged
//! CloudFormation marker stack per PR), listing, expiry (warnings, extensions, a hard
//! maximum) and garbage collection.

pub mod clock;
pub mod cloud;
pub mod comment;
pub mod expiry;
pub mod gc;
pub mod github;
pub mod lifecycle;
pub mod marker;
pub mod name;
pub mod record;

pub use marker::{Listing, Marker, MarkerStore};
pub use name::{PrNumber, ReviewName};
pub use record::{ReviewRecord, Status};
