//! The PostgreSQL job queue: one `batch_jobs` row per queued batch, claimed with
//! `FOR UPDATE SKIP LOCKED` and held by a lease (`leased_until`) the worker renews.

use std::time::Duration;

use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::lease::{Claim, Lease, LeaseHandle};
use super::settings::BatchSettings;
use super::status::Transition;
use crate::error::{DbContext, Result};

/// The channel uploads NOTIFY so idle workers wake at once.
pub const NOTIFY_CHANNEL: &str = "rates_batches";

/// The PostgreSQL queue.
#[derive(Clone)]
pub struct PgQueue {
    pool: PgPool,
    /// Identifies this worker process in `lease_owner`.
    owner: String,
}

impl PgQueue {
    pub fn new(pool: PgPool) -> PgQueue {
        PgQueue {
            pool,
            owner: format!("{}-{}", std::process::id(), Uuid::new_v4()),
        }
    }

    pub(super) async fn enqueue_in(conn: &mut PgConnection, batch_id: Uuid) -> Result<()> {
        sqlx::query("INSERT INTO batch_jobs (batch_id) VALUES ($1)")
            .bind(batch_id)
            .execute(&mut *conn)
            .await
            .db("queueing the batch")?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(batch_id.to_string())
            .execute(&mut *conn)
            .await
            .db("notifying workers")?;
        Ok(())
    }

    pub(super) async fn claim(&self, settings: &BatchSettings) -> Result<Claim> {
        let mut tx = self.pool.begin().await.db("claiming a job")?;
        // A job is claimable when due and not leased (run_after is moved past
        // the lease on claim). Locked rows belong to other claimers, and a
        // locked batch row to a worker still holding it: skip both.
        let row = sqlx::query(
            "SELECT j.batch_id, j.attempts, j.last_error, j.lease_owner IS NOT NULL AS lease_expired
             FROM batch_jobs j JOIN batches b ON b.id = j.batch_id
             WHERE j.run_after <= now()
             ORDER BY j.run_after, j.batch_id
             LIMIT 1
             FOR UPDATE OF j, b SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await
        .db("claiming a job")?;
        let Some(row) = row else {
            return Ok(Claim::Empty);
        };
        let batch_id: Uuid = row.get("batch_id");
        let attempts: i32 = row.get("attempts");
        let lease_expired: bool = row.get("lease_expired");
        if lease_expired {
            tracing::warn!(batch_id = %batch_id, attempts, "a lease expired (worker crashed or stalled); taking the job over");
        }
        if attempts as u32 >= settings.max_attempts {
            let last: Option<String> = row.get("last_error");
            let reason = format!(
                "gave up after {attempts} attempts; last error: {}",
                last.unwrap_or_else(|| "the worker stopped while holding it (lease expired)".into())
            );
            Transition::Fail { failure: &reason }
                .apply(&mut tx, batch_id)
                .await?;
            sqlx::query("DELETE FROM batch_jobs WHERE batch_id = $1")
                .bind(batch_id)
                .execute(&mut *tx)
                .await
                .db("removing the job of a failed batch")?;
            tx.commit().await.db("parking a batch as failed")?;
            tracing::error!(batch_id = %batch_id, reason, "batch failed");
            return Ok(Claim::Handled);
        }
        let lease_secs = settings.lease.as_secs_f64();
        sqlx::query(
            "UPDATE batch_jobs
             SET attempts = attempts + 1, lease_owner = $2,
                 leased_until = now() + make_interval(secs => $3),
                 run_after = now() + make_interval(secs => $3)
             WHERE batch_id = $1",
        )
        .bind(batch_id)
        .bind(&self.owner)
        .bind(lease_secs)
        .execute(&mut *tx)
        .await
        .db("leasing the job")?;
        Transition::Start {
            attempt: attempts as u32 + 1,
        }
        .apply(&mut tx, batch_id)
        .await?;
        tx.commit().await.db("claiming a job")?;
        Ok(Claim::Job(Lease {
            batch_id,
            attempt: attempts as u32 + 1,
            handle: LeaseHandle::Postgres {
                owner: self.owner.clone(),
            },
        }))
    }

    pub(super) async fn renew(&self, batch_id: Uuid, owner: &str, lease: Duration) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE batch_jobs
             SET leased_until = now() + make_interval(secs => $3),
                 run_after = now() + make_interval(secs => $3)
             WHERE batch_id = $1 AND lease_owner = $2",
        )
        .bind(batch_id)
        .bind(owner)
        .bind(lease.as_secs_f64())
        .execute(&self.pool)
        .await
        .db("renewing the lease")?
        .rows_affected();
        Ok(updated == 1)
    }
}
