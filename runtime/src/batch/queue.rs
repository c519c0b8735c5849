//! The job queue: which batch a worker takes next, the lease it holds while
//! working, and what happens to the job afterwards. PostgreSQL
//! ([`super::pg_queue::PgQueue`]: `batch_jobs`, `FOR UPDATE SKIP LOCKED`, leases)
//! or SQS ([`super::sqs::SqsQueue`]).

use std::time::Duration;

use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::lease::{Claim, Lease, LeaseHandle};
use super::pg_queue::PgQueue;
use super::settings::BatchSettings;
use super::sqs::SqsQueue;
use super::status::Transition;
use crate::error::{DbContext, Result};

/// A job queue.
#[derive(Clone)]
pub enum Queue {
    Postgres(PgQueue),
    Sqs(SqsQueue),
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
        Transition::Release.apply(&mut tx, lease.batch_id).await?;
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
            let failure = format!(
                "gave up after {} attempts; last error: {error}",
                lease.attempt
            );
            Transition::Fail { failure: &failure }
                .apply(&mut tx, lease.batch_id)
                .await?;
        } else {
            let failure = format!("attempt {} failed (will retry): {error}", lease.attempt);
            Transition::Retry { failure: &failure }
                .apply(&mut tx, lease.batch_id)
                .await?;
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
