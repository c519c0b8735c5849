//! The rates runtime: atomic freight-price batch ingestion and the rates query API.

pub mod api_emf;
pub mod app;
pub mod batch;
pub mod cli;
pub mod config;
pub mod date_range;
pub mod db;
pub mod db_iam;
pub mod error;
pub mod health;
pub mod metrics;
pub mod network;
pub mod openapi;
pub mod prices;
pub mod rates;
pub mod rates_cache;
pub mod run;
pub mod seed;
pub mod server;
pub mod telemetry;

pub use error::{Error, Result};
