//! Writing batch outcome events into the outbox (`batch_events`), inside the transaction
//! that makes the batch final, so an event exists exactly when the outcome does.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{DbContext, Result};

/// The most errors an event carries (the batch record keeps more): events stay far
/// below SNS's 256 KiB with room to spare (each error's value is cut to 200 bytes).
pub const MAX_EVENT_ERRORS: i64 = 20;

/// Records the outcome event of batch `batch_id`, which the caller's transaction has
/// just made final. The body is built from the batch record as it now stands; for a
/// committed batch `data_version` is the prices version its commit produced.
pub async fn record_in(conn: &mut PgConnection, batch_id: Uuid) -> Result<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO batch_events (id, batch_id, status, body)
         SELECT $2, b.id, b.status, jsonb_build_object(
             'event_id', $2::text,
             'type', 'batch.' || b.status,
             'batch_id', b.id,
             'status', b.status,
             'idempotency_key', b.idempotency_key,
             'source', b.source,
             'object', CASE WHEN b.source = 'object_drop' THEN b.payload_location END,
             'row_count', b.row_count,
             'error_count', b.error_count,
             'errors', coalesce((SELECT jsonb_agg(e.value ORDER BY e.ordinality)
                                 FROM jsonb_array_elements(coalesce(b.errors, '[]'::jsonb))
                                      WITH ORDINALITY AS e
                                 WHERE e.ordinality <= $3), '[]'::jsonb),
             'failure', b.failure,
             'queued_at', b.created_at,
             'started_at', b.started_at,
             'finished_at', b.finished_at,
             'data_version', (SELECT version FROM prices_version))
         FROM batches b WHERE b.id = $1",
    )
    .bind(batch_id)
    .bind(id)
    .bind(MAX_EVENT_ERRORS)
    .execute(conn)
    .await
    .db("recording the batch's outcome event")?;
    Ok(id)
}
