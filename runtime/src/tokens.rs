//! `rates token create|list|revoke`: the API's clients and their bearer tokens, managed
//! where the database is reachable (a shell in a runtime pod, or envctl's migration Job
//! for an environment's first token).

use std::io::Write;

use chrono::{DateTime, Utc};
use rates_contract::scopes::Scope;

use crate::auth::store::{self, TokenRecord};
use crate::auth::token::NewToken;
use crate::cli::TokenCommand;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::startup::connect;
use crate::telemetry::{self, LogTarget};

pub async fn run(command: TokenCommand) -> Result<()> {
    let config = Config::from_env()?;
    telemetry::init(&config.log, LogTarget::Stderr);
    let db = connect(&config, false).await?;
    let pool = &db.primary;
    let mut out = std::io::stdout().lock();
    let write = |e| Error::io("writing to stdout", e);
    match command {
        TokenCommand::Create(args) => {
            let scopes = parse_scopes(&args.scopes)?;
            let expires_at = args.expires.as_deref().map(parse_expiry).transpose()?;
            let (token, print) = match &args.token_from_env {
                Some(var) => (given_token(var)?, false),
                None => (NewToken::generate(), true),
            };
            let record = match store::create(pool, &args.name, &token, &scopes, expires_at).await {
                Err(Error::Conflict { .. }) if args.if_absent => {
                    tracing::info!(name = %args.name, "a client of this name exists; nothing changed");
                    return Ok(());
                }
                other => other?,
            };
            tracing::info!(name = %record.name, id = %record.id, "client created");
            if print {
                writeln!(out, "{}", token.text).map_err(write)?;
            }
            Ok(())
        }
        TokenCommand::List { json } => {
            let records = store::list(pool).await?;
            if json {
                let text = serde_json::to_string_pretty(&records)
                    .map_err(|e| Error::Other(format!("encoding the list: {e}")))?;
                writeln!(out, "{text}").map_err(write)
            } else {
                write_table(&mut out, &records).map_err(write)
            }
        }
        TokenCommand::Revoke { name } => {
            let record = store::revoke(pool, &name).await?;
            tracing::info!(name = %record.name, id = %record.id, "token revoked");
            Ok(())
        }
    }
}

/// The client name of an environment's first token.
pub const ADMIN: &str = "admin";

/// Registers the token in `var` as client [`ADMIN`] with every scope, unless a client of
/// that name exists already.
pub async fn register_admin(pool: &sqlx::PgPool, var: &str) -> Result<()> {
    let token = given_token(var)?;
    match store::create(pool, ADMIN, &token, &Scope::ALL, None).await {
        Ok(record) => {
            tracing::info!(name = %record.name, id = %record.id, "the first client is registered");
            Ok(())
        }
        Err(Error::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

fn parse_scopes(given: &[String]) -> Result<Vec<Scope>> {
    let mut scopes = Vec::new();
    for text in given.iter().map(|s| s.trim()) {
        if text == "all" {
            scopes.extend(Scope::ALL);
            continue;
        }
        let scope = Scope::parse(text).ok_or_else(|| {
            let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            Error::invalid(
                "--scope",
                format!("`{text}` is not a scope ({}, or all)", known.join(", ")),
            )
        })?;
        scopes.push(scope);
    }
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// `90d`, `12h` (from now) or an RFC 3339 time, which must be in the future.
fn parse_expiry(text: &str) -> Result<DateTime<Utc>> {
    let at = match humantime::parse_duration(text) {
        Ok(duration) => {
            Utc::now()
                + chrono::Duration::from_std(duration)
                    .map_err(|_| Error::invalid("--expires", format!("`{text}` is too far away")))?
        }
        Err(_) => DateTime::parse_from_rfc3339(text)
            .map_err(|_| {
                Error::invalid(
                    "--expires",
                    format!("`{text}` is neither a duration (90d, 12h) nor a time (2027-01-31T00:00:00Z)"),
                )
            })?
            .with_timezone(&Utc),
    };
    if at <= Utc::now() {
        return Err(Error::invalid(
            "--expires",
            format!("`{text}` is in the past"),
        ));
    }
    Ok(at)
}

fn given_token(var: &str) -> Result<NewToken> {
    let text = std::env::var(var)
        .map_err(|_| Error::invalid("--token-from-env", format!("`{var}` is not set")))?;
    // The message never repeats the value.
    NewToken::from_text(text.trim()).ok_or_else(|| {
        Error::invalid(
            "--token-from-env",
            format!(
                "`{var}` does not hold a token of this service (rates_<32 hex>_<64 random hex>)"
            ),
        )
    })
}

fn write_table(out: &mut impl Write, records: &[TokenRecord]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<24} {:<52} {:<20} {:<20} REVOKED",
        "NAME", "SCOPES", "CREATED", "EXPIRES"
    )?;
    let time = |t: Option<DateTime<Utc>>| {
        t.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
    };
    for r in records {
        let scopes: Vec<&str> = r.scopes.iter().map(|s| s.as_str()).collect();
        writeln!(
            out,
            "{:<24} {:<52} {:<20} {:<20} {}",
            r.name,
            scopes.join(","),
            time(Some(r.created_at)),
            time(r.expires_at),
            time(r.revoked_at)
        )?;
    }
    Ok(())
}
