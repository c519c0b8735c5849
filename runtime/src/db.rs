//! Database pools (primary and optional read replica) and the embedded migrations.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::Config;
use crate::error::{DbContext, Result};

/// The migrations in runtime/migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The primary pool and, when configured, a read-replica pool.
#[derive(Clone, Debug)]
pub struct Db {
    pub primary: PgPool,
    read: Option<PgPool>,
    pub primary_max: u32,
    pub read_max: u32,
}

impl Db {
    /// Connects lazily: the pools open connections on first use, so the
    /// process starts (and reports not-ready) while the database is down.
    ///
    /// Queries always get their own pool (on the replica when configured,
    /// else on the primary) so batch work cannot starve them, with generic
    /// plans: the rates statement's plan does not depend on its parameters,
    /// and planning it anew costs more than running it.
    pub fn connect(config: &Config) -> Result<Db> {
        let primary = pool(
            &config.database_url,
            config.db_pool_size,
            "DATABASE_URL",
            false,
        )?;
        let (read_url, variable) = match &config.database_read_url {
            Some(url) => (url, "DATABASE_READ_URL"),
            None => (&config.database_url, "DATABASE_URL"),
        };
        let read = Some(pool(read_url, config.read_pool_size, variable, true)?);
        Ok(Db {
            primary,
            read,
            primary_max: config.db_pool_size,
            read_max: config.read_pool_size,
        })
    }

    /// Wraps existing pools (tests).
    pub fn from_pools(primary: PgPool, read: Option<PgPool>) -> Db {
        let primary_max = primary.options().get_max_connections();
        let read_max = read
            .as_ref()
            .map_or(0, |p| p.options().get_max_connections());
        Db {
            primary,
            read,
            primary_max,
            read_max,
        }
    }

    /// The pool for read-only queries: on the replica when configured, else on the primary.
    pub fn reader(&self) -> &PgPool {
        self.read.as_ref().unwrap_or(&self.primary)
    }

    /// The query pool (None only for pools built with `from_pools` without one).
    pub fn read_pool(&self) -> Option<&PgPool> {
        self.read.as_ref()
    }

    /// Runs the embedded migrations on the primary.
    pub async fn migrate(&self) -> Result<()> {
        migrate(&self.primary).await
    }

    /// True when every configured database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.primary)
            .await
            .db("pinging the primary database")?;
        if let Some(read) = &self.read {
            sqlx::query("SELECT 1")
                .execute(read)
                .await
                .db("pinging the read replica")?;
        }
        Ok(())
    }
}

/// Runs the embedded migrations.
pub async fn migrate(pool: &PgPool) -> Result<()> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

fn pool(url: &str, max: u32, variable: &'static str, generic_plans: bool) -> Result<PgPool> {
    let mut options: PgConnectOptions = url.parse().map_err(|e| {
        crate::error::Error::config(variable, format!("not a valid PostgreSQL URL: {e}"))
    })?;
    options = options.application_name("rates");
    if generic_plans {
        options = options.options([("plan_cache_mode", "force_generic_plan")]);
    }
    Ok(PgPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        // A broken connection fails its query and is dropped; pinging before
        // every acquire would double the round trips of the query API.
        .test_before_acquire(false)
        .connect_lazy_with(options))
}
