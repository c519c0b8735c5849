//! The job queue: which batch a worker takes next, the lease it holds while
//! working, and what happens to the job afterwards. PostgreSQL (`batch_jobs`,
//! `FOR UPDATE SKIP LOCKED`, leases) or SQS ([`super::sqs::SqsQueue`]).

use std::time::Duration;

use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::settings::BatchSettings;
use super::sqs::SqsQueue;
use crate::error::{DbContext, Result};

/// The channel uploads NOTIFY so idle workers wake at once.
pub const NOTIFY_CHANNEL: &str = "rates_batches";

/// A job queue.
#[derive(Clone)]
pub enum Queue {
    Postgres(PgQueue),
    Sqs(SqsQueue),
}

/// A claimed job: the batch and how to give it back.
#[derive(Debug, Clone)]
pub struct Lease {
    pub batch_id: Uuid,
    /// 1 on the first delivery.
    pub attempt: u32,
    pub handle: LeaseHandle,
}

#[derive(Debug, Clone)]
pub enum LeaseHandle {
    Postgres { owner: String },
    Sqs { receipt_handle: String },
}

/// What the claim found.
pub enum Claim {
    /// A batch to process.
    Job(Lease),
    /// A job was handled without processing (parked as failed, a stray or
    /// bookkeeping message); look again at once.
    Handled,
    /// Nothing to do now.
    Empty,
}

impl Queue {
    /// Adds the job of a new batch inside the upload's transaction. For SQS the
    /// message is sent before that transaction commits: a worker that sees it
    /// first finds no batch yet and retries it shortly.
    pub async fn enqueue_in(&self, conn: &mut PgConnection, batch_id: Uuid) -> Result<()> {
        match self {
            Queue::Postgres(_) => PgQueue::enqueue_in(conn, batch_id).await,
            Queue::Sqs(sqs) => sqs.send_job(batch_id).await,
        }
    }

    /// Takes the next job, if any.
    pub async fn claim(&self, settings: &BatchSettings) -> Result<Claim> {
        match self {
            Queue::Postgres(pg) => pg.claim(settings).await,
            Queue::Sqs(sqs) => sqs.claim(settings).await,
        }
    }

    /// Extends the lease while the batch is being worked on.
    pub async fn renew(&self, lease: &Lease, settings: &BatchSettings) -> Result<bool> {
        match (self, &lease.handle) {
            (Queue::Postgres(pg), LeaseHandle::Postgres { owner }) => {
                pg.renew(lease.batch_id, owner, settings.lease).await
            }
            (Queue::Sqs(sqs), LeaseHandle::Sqs { receipt_handle }) => {
                sqs.set_visibility(receipt_handle, settings.lease).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Removes the job inside the worker's final transaction. False when the
    /// lease was lost (another worker may hold the job now): roll back.
    pub async fn complete_in(&self, conn: &mut PgConnection, lease: &Lease) -> Result<bool> {
        match &lease.handle {
            LeaseHandle::Postgres { owner } => {
                let deleted =
                    sqlx::query("DELETE FROM batch_jobs WHERE batch_id = $1 AND lease_owner = $2")
                        .bind(lease.batch_id)
                        .bind(owner)
                        .execute(conn)
                        .await
                        .db("removing the finished job")?
                        .rows_affected();
                Ok(deleted == 1)
            }
            // The message is deleted after the commit; a redelivery in between
            // finds the batch final and is dropped.
            LeaseHandle::Sqs { .. } => Ok(true),
        }
    }

    /// After the final transaction committed.
    pub async fn after_commit(&self, lease: &Lease) -> Result<()> {
        match (self, &lease.handle) {
            (Queue::Sqs(sqs), LeaseHandle::Sqs { receipt_handle }) => {
                sqs.delete(receipt_handle).await
            }
            _ => Ok(()),
        }
    }

    /// Drops a job whose batch is already final (a redelivery).
    pub async fn discard(&self, pool: &PgPool, lease: &Lease) -> Result<()> {
        match (self, &lease.handle) {
            (Queue::Postgres(_), LeaseHandle::Postgres { owner }) => {
                sqlx::query("DELETE FROM batch_jobs WHERE batch_id = $1 AND lease_owner = $2")
                    .bind(lease.batch_id)
                    .bind(owner)
                    .execute(pool)
                    .await
                    .db("removing a job of a finished batch")?;
                Ok(())
            }
            (Queue::Sqs(sqs), LeaseHandle::Sqs { receipt_handle }) => {
                sqs.delete(receipt_handle).await
            }
            _ => Ok(()),
        }
    }

    /// Gives the job back untouched (shutdown): it does not count as an attempt.
    pub async fn release(&self, pool: &PgPool, lease: &Lease) -> Result<()> {
        let mut tx = pool.begin().await.db("releasing a job")?;
        if let (Queue::Postgres(_), LeaseHandle::Postgres { owner }) = (self, &lease.handle) {
            sqlx::query(
                "UPDATE batch_jobs SET leased_until = NULL, lease_owner = NULL, run_after = now(),
                        attempts = greatest(attempts - 1, 0)
                 WHERE batch_id = $1 AND lease_owner = $2",
            )
            .bind(lease.batch_id)
            .bind(owner)
            .execute(&mut *tx)
            .await
            .db("releasing the job")?;
        }
        sqlx::query(
            "UPDATE batches SET status = 'queued', attempts = greatest(attempts - 1, 0)
             WHERE id = $1 AND status = 'processing'",
        )
        .bind(lease.batch_id)
        .execute(&mut *tx)
        .await
        .db("returning the batch to the queue")?;
        tx.commit().await.db("releasing the job")?;
        if let (Queue::Sqs(sqs), LeaseHandle::Sqs { receipt_handle }) = (self, &lease.handle) {
            sqs.set_visibility(receipt_handle, Duration::ZERO).await?;
        }
        Ok(())
    }

    /// After an infrastructure failure: retry later with backoff, or park the
    /// batch as failed once the attempts are used up. Returns true when parked.
    pub async fn retry_or_fail(
        &self,
        pool: &PgPool,
        lease: &Lease,
        error: &str,
        settings: &BatchSettings,
    ) -> Result<bool> {
        let give_up = lease.attempt >= settings.max_attempts;
        let delay = settings.backoff(lease.attempt);
        let mut tx = pool.begin().await.db("recording a failed attempt")?;
        if give_up {
            mark_failed(
                &mut tx,
                lease.batch_id,
                &format!(
                    "gave up after {} attempts; last error: {error}",
                    lease.attempt
                ),
            )
            .await?;
        } else {
            sqlx::query(
                "UPDATE batches SET status = 'queued', failure = $2 WHERE id = $1 AND status = 'processing'",
            )
            .bind(lease.batch_id)
            .bind(format!("attempt {} failed (will retry): {error}", lease.attempt))
            .execute(&mut *tx)
            .await
            .db("recording a failed attempt")?;
        }
        if let (Queue::Postgres(_), LeaseHandle::Postgres { owner }) = (self, &lease.handle) {
            if give_up {
                sqlx::query("DELETE FROM batch_jobs WHERE batch_id = $1 AND lease_owner = $2")
                    .bind(lease.batch_id)
                    .bind(owner)
                    .execute(&mut *tx)
                    .await
                    .db("removing the job of a failed batch")?;
            } else {
                sqlx::query(
                    "UPDATE batch_jobs SET leased_until = NULL, lease_owner = NULL, last_error = $3,
                            run_after = now() + make_interval(secs => $4)
                     WHERE batch_id = $1 AND lease_owner = $2",
                )
                .bind(lease.batch_id)
                .bind(owner)
                .bind(error)
                .bind(delay.as_secs_f64())
                .execute(&mut *tx)
                .await
                .db("scheduling the retry")?;
            }
        }
        tx.commit().await.db("recording a failed attempt")?;
        if let (Queue::Sqs(sqs), LeaseHandle::Sqs { receipt_handle }) = (self, &lease.handle) {
            if give_up {
                // Left in place with no visibility delay: the queue's redrive
                // policy moves it to the dead-letter queue on the next receive.
                sqs.set_visibility(receipt_handle, Duration::ZERO).await?;
            } else {
                sqs.set_visibility(receipt_handle, delay).await?;
            }
        }
        Ok(give_up)
    }
}

/// Marks a batch failed (inside `conn`'s transaction); its payload stays staged.
pub async fn mark_failed(conn: &mut PgConnection, batch_id: Uuid, failure: &str) -> Result<()> {
    sqlx::query(
        "UPDATE batches SET status = 'failed', failure = $2, finished_at = clock_timestamp(),
                started_at = coalesce(started_at, clock_timestamp())
         WHERE id = $1 AND status IN ('queued', 'processing')",
    )
    .bind(batch_id)
    .bind(failure)
    .execute(conn)
    .await
    .db("marking the batch failed")?;
    Ok(())
}

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

    async fn enqueue_in(conn: &mut PgConnection, batch_id: Uuid) -> Result<()> {
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

    async fn claim(&self, settings: &BatchSettings) -> Result<Claim> {
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
            mark_failed(&mut tx, batch_id, &reason).await?;
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
        sqlx::query(
            "UPDATE batches SET status = 'processing', attempts = $2, started_at = clock_timestamp()
             WHERE id = $1 AND status IN ('queued', 'processing')",
        )
        .bind(batch_id)
        .bind(attempts + 1)
        .execute(&mut *tx)
        .await
        .db("marking the batch processing")?;
        tx.commit().await.db("claiming a job")?;
        Ok(Claim::Job(Lease {
            batch_id,
            attempt: attempts as u32 + 1,
            handle: LeaseHandle::Postgres {
                owner: self.owner.clone(),
            },
        }))
    }

    async fn renew(&self, batch_id: Uuid, owner: &str, lease: Duration) -> Result<bool> {
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

/// How many batches wait and how old the oldest is (seconds), from the batch
/// records (the same for both backends).
pub async fn depth(pool: &PgPool) -> Result<(i64, f64)> {
    let row = sqlx::query(
        "SELECT count(*) AS depth,
                coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest
         FROM batches WHERE status = 'queued'",
    )
    .fetch_one(pool)
    .await
    .db("measuring the queue")?;
    Ok((row.get("depth"), row.get("oldest")))
}
