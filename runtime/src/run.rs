//! Runs one parsed command: the process's roles wired together.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command, MigrateArgs, SeedArgs, ServeArgs, WorkArgs};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::startup::{connect, App, Role};
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
        Command::Migrate(args) => migrate(args).await,
        Command::Seed(args) => seed(args).await,
        Command::Openapi => {
            let mut out = std::io::stdout().lock();
            out.write_all(crate::http::openapi::document_json().as_bytes())
                .map_err(|e| Error::io("writing the OpenAPI document", e))
        }
        Command::Token(command) => crate::tokens::run(command).await,
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let config = Config::from_env()?;
    telemetry::init(&config.log, LogTarget::Stdout);
    let db = connect(&config, args.migrate || config.migrate_on_start).await?;
    let role = Role::Serve {
        with_worker: args.with_worker,
    };
    let app = App::build(config, db, role).await?;
    cancel_on_signals(app.state().shutdown.clone());
    app.run().await
}

async fn work(args: WorkArgs) -> Result<()> {
    let mut config = Config::from_env()?;
    if let Some(n) = args.concurrency {
        config.batch.worker_concurrency = n;
    }
    telemetry::init(&config.log, LogTarget::Stdout);
    let db = connect(&config, args.migrate || config.migrate_on_start).await?;
    let app = App::build(config, db, Role::Work).await?;
    cancel_on_signals(app.state().shutdown.clone());
    app.run().await
}

async fn migrate(args: MigrateArgs) -> Result<()> {
    let config = Config::from_env()?;
    telemetry::init(&config.log, LogTarget::Stderr);
    let db = connect(&config, true).await?;
    if let Some(var) = &args.admin_token_from_env {
        crate::tokens::register_admin(&db.primary, var).await?;
    }
    Ok(())
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
    let db = connect(&config, false).await?;
    let report = crate::seed::seed(&db.primary, args.network_only, args.rows).await?;
    tracing::info!(
        regions = report.regions,
        ports = report.ports,
        prices = report.prices,
        "seeded the synthetic network"
    );
    Ok(())
}

/// Cancels `token` on the first SIGTERM or SIGINT. Readiness turns false at
/// that moment because it reads the same token.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutdown requested; draining");
        token.cancel();
    });
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
