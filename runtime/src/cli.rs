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
    Migrate(MigrateArgs),
    /// Load demo data.
    Seed(SeedArgs),
    /// Print the OpenAPI document (JSON) to stdout.
    Openapi,
    /// Manage the API's clients and their bearer tokens (needs DATABASE_URL).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a client with a new token and print the token, once: only its hash is
    /// kept. Give it to the client through a secret store, never in a ticket or chat.
    Create(TokenCreateArgs),
    /// List the clients: name, scopes, when created, expiry, revocation. No secrets.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a client's token at once, on every replica. Batches it uploaded keep
    /// naming it.
    Revoke {
        /// The client's name (or its token id).
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The client's name: letters, digits, `.`, `_` and `-`, at most 64.
    #[arg(long)]
    pub name: String,
    /// What the token allows: rates:read, batches:read, batches:write, prices:write, or
    /// `all`. Repeat the flag or separate with commas.
    #[arg(
        long = "scope",
        value_name = "SCOPE",
        required = true,
        value_delimiter = ','
    )]
    pub scopes: Vec<String>,
    /// When the token stops working: a duration from now (`90d`, `12h`) or a time
    /// (`2027-01-31T00:00:00Z`). Without it the token works until revoked.
    #[arg(long, value_name = "WHEN")]
    pub expires: Option<String>,
    /// Register the token held in this environment variable instead of making one
    /// (envctl makes an environment's first token and keeps it in Secrets Manager);
    /// nothing is printed.
    #[arg(long, value_name = "VAR")]
    pub token_from_env: Option<String>,
    /// Succeed without changing anything when a client of this name exists.
    #[arg(long)]
    pub if_absent: bool,
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
pub struct MigrateArgs {
    /// Then register the token held in this environment variable as client `admin` with
    /// every scope, unless a client of that name exists (envctl's migration Job passes an
    /// environment's first token this way; nothing is printed).
    #[arg(long, value_name = "VAR")]
    pub admin_token_from_env: Option<String>,
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
