//! The read side: the rates query, the network and lanes it keeps in memory per data
//! version, and its answer cache.

pub mod cache;
pub mod json;
pub mod lanes;
pub mod network;
pub mod rates;
pub mod version;

pub use rates::{DayRate, Rates, RatesQuery};
