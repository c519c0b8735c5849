//! Database pools (the primary, and the query pool on a replica or the primary) and the embedded migrations.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::Config;
use crate::error::{DbContext, Result};

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
        let primary = pool(
            &config.database_url,
            config.db_pool_size,
            "DATABASE_URL",
            Use::Writes,
        )?;
        let (read_url, variable) = match &config.database_read_url {
            Some(url) => (url, "DATABASE_READ_URL"),
            None => (&config.database_url, "DATABASE_URL"),
        };
        let read = pool(read_url, config.read_pool_size, variable, Use::Queries)?;
        Ok(Db { primary, read })
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
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// What a pool is for, which decides how its connections are set up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Writes,
    Queries,
}

fn pool(url: &str, max: u32, variable: &'static str, usage: Use) -> Result<PgPool> {
    let mut options: PgConnectOptions = url
        .parse::<PgConnectOptions>()
        .map_err(|e| {
            crate::error::Error::config(variable, format!("not a valid PostgreSQL URL: {e}"))
        })?
        .application_name("rates");
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
