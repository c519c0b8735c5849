//! The domain's value types, parsed once at the edge: port codes, places and date
//! ranges. Depends on nothing but the error type.

pub mod date_range;
pub mod place;
pub mod port_code;

pub use date_range::DateRange;
pub use place::PlaceRef;
pub use port_code::{PortCode, PortCodeError};
