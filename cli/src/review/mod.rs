//! Per-pull-request review stacks: their names, their cloud-side record (a tagged
//! CloudFormation marker stack per PR), listing, expiry and garbage collection.

pub mod clock;
pub mod cloud;
pub mod comment;
pub mod gc;
pub mod lifecycle;
pub mod marker;
pub mod name;
pub mod record;

pub use marker::{Listing, Marker, MarkerStore};
pub use name::{PrNumber, ReviewName};
pub use record::{ReviewRecord, Status};
