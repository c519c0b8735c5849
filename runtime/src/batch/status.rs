//! A batch's status and the one way it changes: every write of `batches.status`
//! after the upload goes through a [`Transition`], which names the statuses it may
//! leave and refuses (returns false) when the batch is in another one. The state
//! machine:
//!
//! ```text
//!   queued ──Start──▶ processing ──Commit──▶ committed
//!     ▲  ╲              │  │  ╲──Reject──▶ rejected
//!     │   ╲─Fail──┐     │  └──Fail──▶ failed
//!     └─Release/Retry───┘
//! ```
//!
//! (`Start` also takes over a `processing` batch whose worker lost its lease.)

use serde::Serialize;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{DbContext, Result};

/// Where a batch is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BatchStatus {
    /// Staged and waiting for a worker.
    Queued,
    /// A worker holds it (a lease or an SQS receive).
    Processing,
    /// Every row is in `prices`.
    Committed,
    /// The payload has errors; nothing was inserted.
    Rejected,
    /// Infrastructure failures exhausted the retries; nothing was inserted.
    Failed,
}

impl BatchStatus {
    pub const ALL: [BatchStatus; 5] = [
        BatchStatus::Queued,
        BatchStatus::Processing,
        BatchStatus::Committed,
        BatchStatus::Rejected,
        BatchStatus::Failed,
    ];

    /// The contract's status: its spelling and finality are the contract's.
    pub fn contract(&self) -> rates_contract::BatchStatus {
        use rates_contract::BatchStatus as C;
        match self {
            BatchStatus::Queued => C::Queued,
            BatchStatus::Processing => C::Processing,
            BatchStatus::Committed => C::Committed,
            BatchStatus::Rejected => C::Rejected,
            BatchStatus::Failed => C::Failed,
        }
    }

    pub fn as_str(&self) -> &'static str {
        self.contract().as_str()
    }

    pub fn parse(value: &str) -> Option<BatchStatus> {
        BatchStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn is_final(&self) -> bool {
        self.contract().is_final()
    }
}

/// A change of one batch's status, with what it records.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition<'a> {
    /// A worker took the batch (its `attempt`-th delivery).
    Start { attempt: u32 },
    /// Handed back untouched at shutdown: the attempt does not count.
    Release,
    /// An attempt failed and will be retried; `failure` says why.
    Retry { failure: &'a str },
    /// Given up on; the payload stays staged for inspection.
    Fail { failure: &'a str },
    /// Every row is in `prices`.
    Commit { rows: u64 },
    /// The payload has `errors` errors; `first` are the first of them, by line.
    Reject {
        rows: u64,
        errors: u64,
        first: &'a serde_json::Value,
    },
}

impl Transition<'_> {
    /// The statuses this transition may leave.
    pub fn from(&self) -> &'static [BatchStatus] {
        use BatchStatus::*;
        match self {
            Transition::Start { .. } => &[Queued, Processing],
            Transition::Fail { .. } => &[Queued, Processing],
            Transition::Release
            | Transition::Retry { .. }
            | Transition::Commit { .. }
            | Transition::Reject { .. } => &[Processing],
        }
    }

    /// The status it leads to.
    pub fn to(&self) -> BatchStatus {
        match self {
            Transition::Start { .. } => BatchStatus::Processing,
            Transition::Release | Transition::Retry { .. } => BatchStatus::Queued,
            Transition::Fail { .. } => BatchStatus::Failed,
            Transition::Commit { .. } => BatchStatus::Committed,
            Transition::Reject { .. } => BatchStatus::Rejected,
        }
    }

    /// Applies the transition to batch `id` on `conn` (inside the caller's
    /// transaction). False when the batch is not in one of [`Transition::from`]'s
    /// statuses (or does not exist): nothing was changed.
    pub async fn apply(&self, conn: &mut PgConnection, id: Uuid) -> Result<bool> {
        let from: Vec<&str> = self.from().iter().map(BatchStatus::as_str).collect();
        let to = self.to().as_str();
        let query = match self {
            Transition::Start { attempt } => sqlx::query(
                "UPDATE batches SET status = $3, attempts = $4, started_at = clock_timestamp()
                 WHERE id = $1 AND status = ANY($2)",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(*attempt as i32),
            Transition::Release => sqlx::query(
                "UPDATE batches SET status = $3, attempts = greatest(attempts - 1, 0)
                 WHERE id = $1 AND status = ANY($2)",
            )
            .bind(id)
            .bind(from)
            .bind(to),
            Transition::Retry { failure } => sqlx::query(
                "UPDATE batches SET status = $3, failure = $4 WHERE id = $1 AND status = ANY($2)",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(*failure),
            Transition::Fail { failure } => sqlx::query(
                "UPDATE batches SET status = $3, failure = $4, finished_at = clock_timestamp(),
                        started_at = coalesce(started_at, clock_timestamp())
                 WHERE id = $1 AND status = ANY($2)",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(*failure),
            Transition::Commit { rows } => sqlx::query(
                "UPDATE batches SET status = $3, row_count = $4, error_count = 0, errors = NULL,
                        failure = NULL, finished_at = clock_timestamp()
                 WHERE id = $1 AND status = ANY($2)",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(*rows as i64),
            Transition::Reject {
                rows,
                errors,
                first,
            } => sqlx::query(
                "UPDATE batches SET status = $3, row_count = $4, error_count = $5, errors = $6,
                        failure = NULL, finished_at = clock_timestamp()
                 WHERE id = $1 AND status = ANY($2)",
            )
            .bind(id)
            .bind(from)
            .bind(to)
            .bind(*rows as i64)
            .bind(*errors as i64)
            .bind(*first),
        };
        let changed = query
            .execute(&mut *conn)
            .await
            .db("changing the batch's status")?
            .rows_affected();
        if changed == 1 && self.to().is_final() {
            // The outcome event, in the same transaction as the outcome.
            crate::events::outbox::record_in(conn, id).await?;
        }
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON the API writes (serde) is the contract's spelling, and every contract
    /// status has exactly one counterpart here.
    #[test]
    fn statuses_serialize_as_the_contract_spells_them() {
        let contract: Vec<rates_contract::BatchStatus> =
            BatchStatus::ALL.iter().map(BatchStatus::contract).collect();
        assert_eq!(contract, rates_contract::BatchStatus::ALL);
        for status in BatchStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.contract().as_str())
            );
            assert_eq!(BatchStatus::parse(status.as_str()), Some(status));
        }
    }

    /// Final statuses are never left, and only the contract's final statuses are
    /// reached as final.
    #[test]
    fn final_statuses_are_never_left() {
        let value = serde_json::json!([]);
        let all = [
            Transition::Start { attempt: 1 },
            Transition::Release,
            Transition::Retry { failure: "x" },
            Transition::Fail { failure: "x" },
            Transition::Commit { rows: 1 },
            Transition::Reject {
                rows: 1,
                errors: 1,
                first: &value,
            },
        ];
        for t in &all {
            assert!(
                t.from().iter().all(|s| !s.is_final()),
                "{t:?} leaves a final status"
            );
            assert!(
                !t.from().contains(&t.to()) || t.to() == BatchStatus::Processing,
                "{t:?}"
            );
        }
        // Every status is reachable and every non-final one can be left.
        for status in BatchStatus::ALL {
            if status != BatchStatus::Queued {
                assert!(
                    all.iter().any(|t| t.to() == status),
                    "{status:?} unreachable"
                );
            }
            if !status.is_final() {
                assert!(
                    all.iter().any(|t| t.from().contains(&status)),
                    "{status:?} is a dead end"
                );
            }
        }
    }
}
