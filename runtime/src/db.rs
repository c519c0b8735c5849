//! Database pools (the primary, and the query pool on a replica or the primary) and the embedded migrations.

use std::path::Path;
use std::time::Duration;

use rates_contract::settings::{DATABASE_READ_URL, DATABASE_URL};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgPool};

use crate::config::Config;
use crate::error::{DbContext, Error, Result};

/// The migrations in runtime/migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The primary pool (writes, batches) and the query pool (`/rates*`: on the
/// read replica when configured, else on the primary).
#[derive(Clone, Debug)]
pub struct Db {
    pub primary: PgPool,
    read: PgPool,
}

impl Db {
    /// Connects lazily: the pools open connections on first use, so the
    /// process starts (and reports not-ready) while the database is down.
    ///
    /// Queries always get their own pool so batch work cannot starve them.
    pub fn connect(config: &Config) -> Result<Db> {
        let tls = config.database_ca_file.as_deref();
        let primary = pool(
            &config.database_url,
            config.db_pool_size,
            DATABASE_URL.name,
            Use::Writes,
            tls,
        )?;
        let (read_url, variable) = match &config.database_read_url {
            Some(url) => (url, DATABASE_READ_URL.name),
            None => (&config.database_url, DATABASE_URL.name),
        };
        let read = pool(read_url, config.read_pool_size, variable, Use::Queries, tls)?;
        Ok(Db { primary, read })
    }

    /// With `RATES_DATABASE_IAM_AUTH`, gives both pools an RDS IAM token before their
    /// first connection and renews it for the life of the process; otherwise does nothing.
    pub async fn authenticate(&self, config: &Config) -> Result<()> {
        if !config.database_iam_auth {
            return Ok(());
        }
        crate::db_iam::start(&[&self.primary, &self.read]).await
    }

    /// The pool for read-only queries: on the replica when configured, else on the primary.
    pub fn reader(&self) -> &PgPool {
        &self.read
    }

    /// Runs the embedded migrations on the primary.
    pub async fn migrate(&self) -> Result<()> {
        migrate(&self.primary).await
    }

    /// True when both pools' databases answer a trivial query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.primary)
            .await
            .db("pinging the primary database")?;
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .db("pinging the database the queries read from")?;
        Ok(())
    }
}

/// Runs the embedded migrations.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    // Connect once outside the pool first: the pool retries a refused connection until
    // its acquire timeout and then reports only the timeout, while this says why (TLS,
    // credentials, address).
    let options = pool.connect_options();
    sqlx::PgConnection::connect_with(&options)
        .await
        .db("connecting to the primary database")?
        .close()
        .await
        .db("closing the first connection")?;
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// What a pool is for, which decides how its connections are set up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Writes,
    Queries,
}

fn pool(
    url: &str,
    max: u32,
    variable: &'static str,
    usage: Use,
    ca_file: Option<&Path>,
) -> Result<PgPool> {
    let mut options: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .map_err(|e| Error::config(variable, format!("not a valid PostgreSQL URL: {e}")))?
        .application_name("rates");
    if let Some(ca_file) = ca_file {
        options = options.ssl_root_cert(ca_file);
        // A CA bundle means the server must prove its name with it; the URL may still
        // ask for something else explicitly.
        if !names_sslmode(url) {
            options = options.ssl_mode(PgSslMode::VerifyFull);
        }
    }
    let mut pool = PgPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5));
    if usage == Use::Queries {
        // The rates statement's plan does not depend on its parameters, and
        // planning it anew costs more than running it.
        options = options.options([("plan_cache_mode", "force_generic_plan")]);
        // A broken connection fails its query and is dropped; pinging before
        // every acquire would double the round trips of the query API.
        pool = pool.test_before_acquire(false);
    }
    Ok(pool.connect_lazy_with(options))
}

/// Whether a PostgreSQL URL sets `sslmode` itself.
fn names_sslmode(url: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        form_urlencoded::parse(query.as_bytes()).any(|(key, _)| key == "sslmode")
    })
}
