//! Runs one parsed command: the process's roles wired together.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::app::AppState;
use crate::cli::{Cli, Command, SeedArgs, ServeArgs, WorkArgs};
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::server::{cancel_on_signals, Server};
use crate::telemetry::{self, LogTarget};

/// The binary's entry point: parse, run, report errors on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // sqlx and the AWS SDK bring rustls with aws-lc-rs; a workspace build also enables
    // ring, and rustls then refuses to pick a default (a panic on the first verified
    // connection). One provider, chosen here, before anything connects.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Work(args) => work(args).await,
        Command::Migrate => migrate().await,
        Command::Seed(args) => seed(args).await,
        Command::Openapi => {
            let mut out = std::io::stdout().lock();
            out.write_all(crate::openapi::document_json().as_bytes())
                .map_err(|e| Error::io("writing the OpenAPI document", e))
        }
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let config = Config::from_env()?;
    telemetry::init(&config.log, LogTarget::Stdout);
    let db = connect(&config).await?;
    if args.migrate || config.migrate_on_start {
        db.migrate().await?;
        tracing::info!("migrations applied");
    }
    let bind = config.bind;
    let drain_timeout = config.drain_timeout;
    let state = AppState::new(config, db);
    cancel_on_signals(state.shutdown.clone());
    let server = Server::bind(state.clone(), bind).await?;
    tokio::spawn(crate::api_emf::run(
        state.api_emf.clone(),
        state.shutdown.clone(),
    ));
    let batches = if args.with_worker {
        tokio::spawn(crate::batch::worker::run(
            state.batches.clone(),
            state.shutdown.clone(),
            drain_timeout,
        ))
    } else {
        // Without a worker, still publish the queue depth and age.
        let (ingest, token) = (state.batches.clone(), state.shutdown.clone());
        tokio::spawn(async move {
            crate::batch::worker::sample_queue(ingest, token).await;
            Ok(())
        })
    };
    let served = server.run().await;
    // The server drained; the worker's batch in hand settles within its own bound.
    state.shutdown.cancel();
    let worked = batches
        .await
        .map_err(|e| Error::Other(format!("the batch worker panicked: {e}")));
    // The last window of API metrics, and the last batch's metrics (queued as it
    // finished), go to the agent before exit.
    state.api_emf.flush();
    flush_emf(&state).await;
    served.and(worked?)
}

async fn work(args: WorkArgs) -> Result<()> {
    let mut config = Config::from_env()?;
    if let Some(n) = args.concurrency {
        config.batch.worker_concurrency = n;
    }
    telemetry::init(&config.log, LogTarget::Stdout);
    let db = connect(&config).await?;
    if args.migrate || config.migrate_on_start {
        db.migrate().await?;
        tracing::info!("migrations applied");
    }
    let (bind, drain_timeout) = (config.bind, config.drain_timeout);
    let state = AppState::new(config, db);
    cancel_on_signals(state.shutdown.clone());
    let worked = crate::batch::worker::run_with_probes(state.clone(), bind, drain_timeout).await;
    flush_emf(&state).await;
    worked
}

/// Delivers buffered EMF documents to the CloudWatch agent, within a short bound.
async fn flush_emf(state: &AppState) {
    state
        .batches
        .observer()
        .emf()
        .flush(crate::batch::emf_agent::FLUSH_BOUND)
        .await;
}

async fn migrate() -> Result<()> {
    let config = Config::from_env()?;
    telemetry::init(&config.log, LogTarget::Stderr);
    connect(&config).await?.migrate().await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// The database pools, authenticated (RDS IAM tokens when configured).
async fn connect(config: &Config) -> Result<Db> {
    let db = Db::connect(config)?;
    // The token refresher lives as long as the process.
    db.authenticate(config).await?;
    Ok(db)
}

async fn seed(args: SeedArgs) -> Result<()> {
    if let Some(path) = &args.prices_csv {
        let context = format!("writing synthetic prices to {}", path.display());
        return if path.as_os_str() == "-" {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            crate::seed::write_prices_csv(&mut out, args.rows)
        } else {
            std::fs::File::create(path).and_then(|file| {
                let mut out = std::io::BufWriter::new(file);
                crate::seed::write_prices_csv(&mut out, args.rows)
            })
        }
        .map_err(|e| Error::io(context, e));
    }
    let config = Config::from_env()?;
    telemetry::init(&config.log, LogTarget::Stderr);
    let db = connect(&config).await?;
    let report = crate::seed::seed(&db.primary, args.network_only, args.rows).await?;
    tracing::info!(
        regions = report.regions,
        ports = report.ports,
        prices = report.prices,
        "seeded the synthetic network"
    );
    Ok(())
}
