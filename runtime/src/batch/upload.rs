//! `POST /batches`: streams the body into the staging store while hashing it,
//! then records the batch and its job in the same transaction, and only then
//! answers 202. The body is never held whole in memory.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::payload::Format;
use super::record::{self, status_url, BatchStatus, NewBatch, Source};
use super::staging;
use super::Ingest;
use crate::error::{DbContext, Error, Result};

/// The longest accepted Idempotency-Key.
pub const MAX_KEY_LEN: usize = 255;

/// The answer to an accepted upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchAccepted {
    pub id: Uuid,
    /// Always `queued`.
    pub status: BatchStatus,
    /// Poll this for the outcome.
    pub status_url: String,
}

/// Uploads a batch of prices (CSV with header `orig_code,dest_code,day,price`,
/// or NDJSON with one `{"orig_code","dest_code","day","price"}` per line).
/// The batch is staged durably and queued before the answer; a worker then
/// commits it whole or rejects it whole.
#[utoipa::path(post, path = "/batches", tag = "batches",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Names the batch: a repeat with the same content returns the existing batch (200), with other content 409. Up to 255 visible ASCII characters.")),
    request_body(content = String, description = "The payload: text/csv or application/x-ndjson", content_type = "text/csv"),
    responses(
        (status = 202, description = "Staged and queued", body = BatchAccepted,
            headers(("Location" = String, description = "The status URL"))),
        (status = 200, description = "The batch this Idempotency-Key already names (same content)", body = super::record::BatchView),
        (status = 400, description = "Empty body or bad Idempotency-Key", body = crate::error::ErrorBody),
        (status = 409, description = "The Idempotency-Key names a batch with other content", body = crate::error::ErrorBody),
        (status = 413, description = "Larger than RATES_MAX_BATCH_BYTES", body = crate::error::ErrorBody),
        (status = 415, description = "Content-Type is not text/csv or application/x-ndjson", body = crate::error::ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn create_batch(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let format = content_format(&headers)?;
    let key = idempotency_key(&headers)?;
    let limit = ingest.settings().max_batch_bytes;
    if let Some(length) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if length > limit {
            return Err(Error::PayloadTooLarge { limit_bytes: limit });
        }
    }
    if let Some(key) = &key {
        if let Some(existing) = record::find_by_key(ingest.pool(), key).await? {
            let (hash, _) = hash_body(body, limit).await?;
            return repeat(&ingest, key, existing.id, &existing.content_hash, &hash).await;
        }
    }

    let backend = ingest.backend().await?;
    let id = Uuid::now_v7();
    // A dedicated connection: a slow client streaming a large batch must not
    // hold one of the pool's connections that queries need.
    let _permit = ingest.upload_permit().await;
    let mut conn = PgConnection::connect_with(&ingest.pool().connect_options())
        .await
        .db("connecting for the upload")?;
    let mut tx = conn.begin().await.db("starting the upload")?;
    let mut writer = backend.staging.writer(id, format.content_type());
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                writer.abort().await;
                return Err(Error::InvalidBody {
                    message: format!("the request body could not be read: {e}"),
                });
            }
        };
        size += chunk.len() as u64;
        if size > limit {
            writer.abort().await;
            return Err(Error::PayloadTooLarge { limit_bytes: limit });
        }
        hasher.update(&chunk);
        if let Err(e) = writer.write(&mut tx, &chunk).await {
            writer.abort().await;
            return Err(e);
        }
    }
    if size == 0 {
        writer.abort().await;
        return Err(Error::InvalidBody {
            message: format!(
                "the body is empty; send a {} payload",
                format.content_type()
            ),
        });
    }
    let location = writer.finish(&mut tx).await?;
    let hash = hex::encode(hasher.finalize());
    let batch = NewBatch {
        id,
        idempotency_key: key.clone(),
        content_hash: hash.clone(),
        format,
        source: Source::Upload,
        payload_location: location.clone(),
        size_bytes: size,
    };
    if !record::insert(&mut tx, &batch).await? {
        // A concurrent upload with the same key won the race.
        drop(tx);
        staging::discard(&backend.staging, &location).await;
        let key = key.unwrap_or_default();
        let existing = record::find_by_key(ingest.pool(), &key)
            .await?
            .ok_or_else(|| Error::Other(format!("idempotency key `{key}` vanished")))?;
        return repeat(&ingest, &key, existing.id, &existing.content_hash, &hash).await;
    }
    if let Err(e) = backend.queue.enqueue_in(&mut tx, id).await {
        drop(tx);
        staging::discard(&backend.staging, &location).await;
        return Err(e);
    }
    tx.commit().await.db("committing the upload")?;
    let _ = conn.close().await;
    tracing::info!(batch_id = %id, size_bytes = size, format = format.as_str(), key = key.as_deref().unwrap_or(""), "batch queued");
    let url = status_url(id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, url.clone())],
        Json(BatchAccepted {
            id,
            status: BatchStatus::Queued,
            status_url: url,
        }),
    )
        .into_response())
}

/// A repeat of a known key: the existing batch (200), or 409 for other content.
async fn repeat(
    ingest: &Ingest,
    key: &str,
    id: Uuid,
    stored_hash: &str,
    hash: &str,
) -> Result<Response> {
    if stored_hash != hash {
        return Err(Error::Conflict {
            message: format!(
                "Idempotency-Key `{key}` already names batch {id}, which has different content; use a new key for new content"
            ),
        });
    }
    let view = record::get(ingest.pool(), id)
        .await?
        .ok_or_else(|| Error::NotFound {
            resource: "batch",
            id: id.to_string(),
        })?;
    Ok((
        StatusCode::OK,
        [(header::LOCATION, view.status_url.clone())],
        Json(view),
    )
        .into_response())
}

/// Reads the whole body only to hash it (a repeat of a known key).
async fn hash_body(body: Body, limit: u64) -> Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::InvalidBody {
            message: format!("the request body could not be read: {e}"),
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(Error::PayloadTooLarge { limit_bytes: limit });
        }
        hasher.update(&chunk);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

fn content_format(headers: &HeaderMap) -> Result<Format> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(Error::UnsupportedMediaType {
            content_type: String::new(),
            expected: "text/csv or application/x-ndjson",
        });
    };
    let text = value.to_str().unwrap_or("");
    Format::from_content_type(text).ok_or_else(|| Error::UnsupportedMediaType {
        content_type: text.to_string(),
        expected: "text/csv or application/x-ndjson (charset utf-8)",
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = |why: &str| Error::invalid("Idempotency-Key", why.to_string());
    let text = value
        .to_str()
        .map_err(|_| invalid("must be visible ASCII"))?
        .trim();
    if text.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if text.len() > MAX_KEY_LEN {
        return Err(invalid(&format!(
            "must be at most {MAX_KEY_LEN} characters"
        )));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("must be visible ASCII without spaces"));
    }
    Ok(Some(text.to_string()))
}
