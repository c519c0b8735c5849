//! The batch record: one row of `batches`, how it is created and read, and the
//! JSON view the status endpoints return. Its status changes only through
//! [`super::status::Transition`].

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use super::location::PayloadLocation;
use super::payload::Format;
use super::price_row::RowError;
use super::status::BatchStatus;
use crate::error::{DbContext, Error, Result};

/// Where a batch came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `POST /batches`.
    Upload,
    /// An object a producer put under the drop prefix of the batch bucket.
    ObjectDrop,
}

impl Source {
    pub const ALL: [Source; 2] = [Source::Upload, Source::ObjectDrop];

    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Upload => "upload",
            Source::ObjectDrop => "object_drop",
        }
    }

    pub fn parse(stored: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == stored)
    }
}

/// A batch about to be recorded.
#[derive(Debug, Clone)]
pub struct NewBatch {
    pub id: Uuid,
    pub idempotency_key: Option<String>,
    pub content_hash: String,
    pub format: Format,
    pub source: Source,
    pub payload_location: PayloadLocation,
    pub size_bytes: u64,
    /// The client whose token uploaded it (None for object drops).
    pub client_id: Option<Uuid>,
}

/// What an existing idempotency key refers to.
#[derive(Debug, Clone)]
pub struct KeyedBatch {
    pub id: Uuid,
    pub content_hash: String,
}

/// The status document of a batch (`GET /batches/{id}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    pub id: Uuid,
    pub status: BatchStatus,
    /// Where to poll this document.
    pub status_url: String,
    /// The Idempotency-Key it was uploaded with, or `s3://bucket/key#etag` for object drops.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// `csv` or `ndjson`.
    pub format: String,
    pub source: Source,
    /// The client that uploaded it (absent for object drops).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<BatchClient>,
    pub size_bytes: i64,
    /// Rows inserted (committed) or parsed (rejected); absent before processing ends.
    pub row_count: Option<i64>,
    /// How many errors the payload has in total (rejected only).
    pub error_count: Option<i64>,
    /// The first errors, by line (rejected only).
    pub errors: Vec<RowError>,
    /// Why the batch failed, or the last failure that was retried.
    pub failure: Option<String>,
    /// How many times a worker took the batch.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds from the worker's last start to the final status.
    pub duration_seconds: Option<f64>,
}

/// The client that uploaded a batch: its token's id and name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchClient {
    pub id: Uuid,
    pub name: String,
}

/// The URL path of a batch's status document.
pub fn status_url(id: Uuid) -> String {
    format!("/batches/{id}")
}

const VIEW_COLUMNS: &str = "b.id, b.status, b.idempotency_key, b.format, b.source, b.size_bytes, \
    b.row_count, b.error_count, b.errors, b.failure, b.attempts, b.created_at, b.started_at, \
    b.finished_at, b.client_id, c.name AS client_name";
/// The batches with the client that uploaded each.
const VIEW_FROM: &str = "batches b LEFT JOIN api_tokens c ON c.id = b.client_id";

fn view_from_row(row: &sqlx::postgres::PgRow) -> Result<BatchView> {
    let id: Uuid = row.get("id");
    let status: String = row.get("status");
    let errors: Option<serde_json::Value> = row.get("errors");
    let errors = match errors {
        Some(value) => serde_json::from_value::<Vec<StoredError>>(value)
            .map_err(|e| Error::Other(format!("batch {id}: stored errors are unreadable: {e}")))?
            .into_iter()
            .map(|e| RowError {
                line: e.line,
                column: e.column,
                value: e.value,
                reason: e.reason,
            })
            .collect(),
        None => Vec::new(),
    };
    let started_at: Option<DateTime<Utc>> = row.get("started_at");
    let finished_at: Option<DateTime<Utc>> = row.get("finished_at");
    Ok(BatchView {
        id,
        status: BatchStatus::parse(&status)
            .ok_or_else(|| Error::Other(format!("batch {id} has unknown status `{status}`")))?,
        status_url: status_url(id),
        idempotency_key: row.get("idempotency_key"),
        format: row.get("format"),
        source: parse_source(id, row.get("source"))?,
        client: row
            .get::<Option<Uuid>, _>("client_id")
            .zip(row.get::<Option<String>, _>("client_name"))
            .map(|(id, name)| BatchClient { id, name }),
        size_bytes: row.get("size_bytes"),
        row_count: row.get("row_count"),
        error_count: row.get("error_count"),
        errors,
        failure: row.get("failure"),
        attempts: row.get("attempts"),
        created_at: row.get("created_at"),
        started_at,
        finished_at,
        duration_seconds: match (started_at, finished_at) {
            (Some(s), Some(f)) => Some((f - s).num_milliseconds() as f64 / 1000.0),
            _ => None,
        },
    })
}

fn parse_source(id: Uuid, stored: String) -> Result<Source> {
    Source::parse(&stored)
        .ok_or_else(|| Error::Other(format!("batch {id} has unknown source `{stored}`")))
}

#[derive(serde::Deserialize)]
struct StoredError {
    line: u64,
    column: String,
    value: String,
    reason: String,
}

/// Records a new queued batch. Returns false when its idempotency key is
/// already taken (a concurrent upload won).
pub async fn insert(conn: &mut PgConnection, batch: &NewBatch) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO batches (id, idempotency_key, content_hash, format, source, payload_location, size_bytes, client_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (idempotency_key) DO NOTHING",
    )
    .bind(batch.id)
    .bind(&batch.idempotency_key)
    .bind(&batch.content_hash)
    .bind(batch.format.as_str())
    .bind(batch.source.as_str())
    .bind(batch.payload_location.to_string())
    .bind(batch.size_bytes as i64)
    .bind(batch.client_id)
    .execute(conn)
    .await
    .db("recording the batch")?
    .rows_affected();
    Ok(inserted == 1)
}

/// The batch an idempotency key names, if any.
pub async fn find_by_key(pool: &PgPool, key: &str) -> Result<Option<KeyedBatch>> {
    let row = sqlx::query("SELECT id, content_hash FROM batches WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(pool)
        .await
        .db("looking up the idempotency key")?;
    Ok(row.map(|r| KeyedBatch {
        id: r.get("id"),
        content_hash: r.get("content_hash"),
    }))
}

/// The status document of one batch.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<BatchView>> {
    let row = sqlx::query(&format!(
        "SELECT {VIEW_COLUMNS} FROM {VIEW_FROM} WHERE b.id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .db("reading the batch")?;
    row.as_ref().map(view_from_row).transpose()
}

/// Which batches a list holds: filters, and where the page starts.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<BatchStatus>,
    pub source: Option<Source>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_before: Option<DateTime<Utc>>,
    /// Only batches older than this one (the previous page's last), newest first.
    pub after: Option<Cursor>,
}

/// A position in the newest-first order: a batch's creation time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// The opaque text clients pass back: the time in microseconds and the id, in hex.
    pub fn encode(&self) -> String {
        let mut bytes = [0u8; 24];
        bytes[..8].copy_from_slice(&self.created_at.timestamp_micros().to_be_bytes());
        bytes[8..].copy_from_slice(self.id.as_bytes());
        hex::encode(bytes)
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let mut bytes = [0u8; 24];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        let micros = i64::from_be_bytes(bytes[..8].try_into().ok()?);
        Some(Cursor {
            created_at: DateTime::from_timestamp_micros(micros)?,
            id: Uuid::from_slice(&bytes[8..]).ok()?,
        })
    }
}

/// Up to `limit` batches matching `filter`, newest first, and the cursor of the next
/// page when there are more. Keyset pagination on (created_at, id): a page stays right
/// while new batches arrive.
pub async fn list(
    pool: &PgPool,
    filter: &ListFilter,
    limit: i64,
) -> Result<(Vec<BatchView>, Option<Cursor>)> {
    let rows = sqlx::query(&format!(
        "SELECT {VIEW_COLUMNS} FROM {VIEW_FROM}
         WHERE ($1::text IS NULL OR b.status = $1)
           AND ($2::text IS NULL OR b.source = $2)
           AND ($3::timestamptz IS NULL OR b.created_at >= $3)
           AND ($4::timestamptz IS NULL OR b.created_at < $4)
           AND ($5::timestamptz IS NULL OR (b.created_at, b.id) < ($5, $6))
         ORDER BY b.created_at DESC, b.id DESC
         LIMIT $7"
    ))
    .bind(filter.status.map(|s| s.as_str()))
    .bind(filter.source.map(|s| s.as_str()))
    .bind(filter.created_from)
    .bind(filter.created_before)
    .bind(filter.after.map(|c| c.created_at))
    .bind(filter.after.map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(pool)
    .await
    .db("listing batches")?;
    let mut batches = rows.iter().map(view_from_row).collect::<Result<Vec<_>>>()?;
    let next = if batches.len() as i64 > limit {
        batches.truncate(limit as usize);
        batches.last().map(|b| Cursor {
            created_at: b.created_at,
            id: b.id,
        })
    } else {
        None
    };
    Ok((batches, next))
}

/// What the worker needs to know about a batch it is about to process.
#[derive(Debug, Clone)]
pub struct WorkItem {
    pub id: Uuid,
    pub status: BatchStatus,
    pub format: Format,
    pub payload_location: PayloadLocation,
    pub content_hash: String,
    pub source: Source,
    pub size_bytes: u64,
}

/// Locks the batch row for the rest of `conn`'s transaction, so that no other
/// worker can commit or reject it at the same time.
pub async fn lock_for_work(conn: &mut PgConnection, id: Uuid) -> Result<Option<WorkItem>> {
    let row = sqlx::query(
        "SELECT id, status, format, payload_location, content_hash, source, size_bytes
         FROM batches WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
    .db("locking the batch")?;
    row.map(|r| {
        let status: String = r.get("status");
        let format: String = r.get("format");
        Ok(WorkItem {
            id,
            status: BatchStatus::parse(&status)
                .ok_or_else(|| Error::Other(format!("batch {id} has unknown status `{status}`")))?,
            format: Format::parse(&format)
                .ok_or_else(|| Error::Other(format!("batch {id} has unknown format `{format}`")))?,
            payload_location: {
                let stored: String = r.get("payload_location");
                PayloadLocation::parse(&stored).ok_or_else(|| {
                    Error::Other(format!(
                        "batch {id} has unknown payload location `{stored}`"
                    ))
                })?
            },
            content_hash: r.get("content_hash"),
            source: parse_source(id, r.get("source"))?,
            size_bytes: r.get::<i64, _>("size_bytes") as u64,
        })
    })
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_796_146_704_465_123).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        for bad in [
            "",
            "zz",
            &cursor.encode()[1..],
            &format!("{}00", cursor.encode()),
        ] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
