//! The `rates` command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The rates runtime: atomic freight-price batch ingestion and the rates query API.
///
/// Configuration comes from environment variables (DATABASE_URL, RATES_BIND, ...);
/// see docs/runtime.md.
#[derive(Debug, Parser)]
#[command(name = "rates", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API until SIGTERM/SIGINT, then drain and exit 0.
    Serve(ServeArgs),
    /// Run the batch worker until SIGTERM/SIGINT: take queued batches and commit
    /// or reject each in one transaction. Serves /healthz, /readyz and /metrics
    /// on RATES_BIND.
    Work(WorkArgs),
    /// Apply the embedded database migrations and exit.
    Migrate,
    /// Load demo data.
    Seed(SeedArgs),
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Apply the embedded migrations before serving (also RATES_MIGRATE_ON_START=true).
    #[arg(long)]
    pub migrate: bool,
    /// Also run the batch worker in this process (one-process setups).
    #[arg(long)]
    pub with_worker: bool,
}

#[derive(Debug, Args)]
pub struct WorkArgs {
    /// Batches processed at once by this process (default: RATES_WORKER_CONCURRENCY, else 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// Apply the embedded migrations first (also RATES_MIGRATE_ON_START=true).
    #[arg(long)]
    pub migrate: bool,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Use the built-in deterministic synthetic network and prices.
    #[arg(long, required = true)]
    pub synthetic: bool,
    /// Load regions and ports only, no prices.
    #[arg(long, conflicts_with = "prices_csv")]
    pub network_only: bool,
    /// Write the synthetic prices as a batch CSV file (`-` for stdout) instead
    /// of loading anything; touches no table and needs no database.
    #[arg(long, value_name = "PATH")]
    pub prices_csv: Option<PathBuf>,
    /// Number of synthetic price rows (deterministic for a given N).
    #[arg(long, value_name = "N", default_value_t = crate::seed::DEFAULT_ROWS)]
    pub rows: u64,
}
