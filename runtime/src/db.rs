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
    pub fn connect(config: &Config) -> Result<Db> {
        let primary = pool(&config.database_url, config.db_pool_size, "DATABASE_URL")?;
        let read = match &config.database_read_url {
            Some(url) => Some(pool(url, config.read_pool_size, "DATABASE_READ_URL")?),
            None => None,
        };
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

    /// The pool for read-only queries: the replica when configured, else the primary.
    pub fn reader(&self) -> &PgPool {
        self.read.as_ref().unwrap_or(&self.primary)
    }

    /// The replica pool, if one is configured.
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

fn pool(url: &str, max: u32, variable: &'static str) -> Result<PgPool> {
    let options: PgConnectOptions = url.parse().map_err(|e| {
        crate::error::Error::config(variable, format!("not a valid PostgreSQL URL: {e}"))
    })?;
    Ok(PgPoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options.application_name("rates")))
}
