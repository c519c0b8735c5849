//! The rates runtime: atomic freight-price batch ingestion and the rates query API.
//!
//! Modules depend one way (checked by `cargo modules dependencies --acyclic`, see
//! ARCHITECTURE.md):
//!
//! ```text
//! run, cli, tokens ─▶ startup ─▶ http ─▶ state ─▶ auth, query, prices, batch, seed ─▶ domain, events
//!                                              │
//!                                              ▼
//!              config, env, db, db_iam, emf, metrics, telemetry, error
//! ```

pub mod auth;
pub mod batch;
pub mod cli;
pub mod config;
pub mod db;
pub mod db_iam;
pub mod domain;
pub mod emf;
pub mod env;
pub mod error;
pub mod events;
pub mod http;
pub mod metrics;
pub mod prices;
pub mod query;
pub mod run;
pub mod seed;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod tokens;

pub use error::{Error, Result};
