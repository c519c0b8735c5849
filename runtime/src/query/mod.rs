//! The read side: the rates query and its answer cache.

pub mod cache;
pub mod rates;

pub use rates::{DayRate, Rates, RatesQuery};
