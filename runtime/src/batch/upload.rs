//! Staging an upload: streams the body into the staging store while hashing it,
//! then records the batch and its job in the same transaction; only then is the
//! upload accepted. The body is never held whole in memory. A repeat of a known
//! Idempotency-Key with the same content names the existing batch.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use super::payload::Format;
use super::record::{self, BatchView, NewBatch, Source};
use super::staging;
use super::Ingest;
use crate::error::{DbContext, Error, Result};

/// What an upload became.
#[derive(Debug)]
pub enum Uploaded {
    /// A new batch, staged and queued.
    Accepted(Uuid),
    /// The batch its Idempotency-Key already names (same content).
    Existing(Box<BatchView>),
}

impl Ingest {
    /// Stages `body` for `client` (at most `RATES_MAX_BATCH_BYTES`; `declared_length` is the
    /// Content-Length, refused early when larger) as a batch of `format`.
    pub async fn upload<S, E>(
        &self,
        client: Option<Uuid>,
        format: Format,
        key: Option<String>,
        declared_length: Option<u64>,
        body: S,
    ) -> Result<Uploaded>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let ingest = self;
        let limit = ingest.settings().max_batch_bytes;
        if declared_length.is_some_and(|length| length > limit) {
            return Err(Error::PayloadTooLarge { limit_bytes: limit });
        }
        if let Some(key) = &key {
            if let Some(existing) = record::find_by_key(ingest.pool(), key).await? {
                let hash = hash_body(body, limit).await?;
                return repeat(ingest, key, existing.id, &existing.content_hash, &hash).await;
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
        let mut stream = body;
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
            client_id: client,
        };
        if !record::insert(&mut tx, &batch).await? {
            // A concurrent upload with the same key won the race.
            drop(tx);
            staging::discard(&backend.staging, &location).await;
            let key = key.unwrap_or_default();
            let existing = record::find_by_key(ingest.pool(), &key)
                .await?
                .ok_or_else(|| Error::Other(format!("idempotency key `{key}` vanished")))?;
            return repeat(ingest, &key, existing.id, &existing.content_hash, &hash).await;
        }
        if let Err(e) = backend.queue.enqueue_in(&mut tx, id).await {
            drop(tx);
            staging::discard(&backend.staging, &location).await;
            return Err(e);
        }
        tx.commit().await.db("committing the upload")?;
        let _ = conn.close().await;
        tracing::info!(batch_id = %id, size_bytes = size, format = format.as_str(), key = key.as_deref().unwrap_or(""), "batch queued");
        Ok(Uploaded::Accepted(id))
    }
}

/// A repeat of a known key: the existing batch, or 409 for other content.
async fn repeat(
    ingest: &Ingest,
    key: &str,
    id: Uuid,
    stored_hash: &str,
    hash: &str,
) -> Result<Uploaded> {
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
    Ok(Uploaded::Existing(Box::new(view)))
}

/// Reads the whole body only to hash it (a repeat of a known key).
async fn hash_body<S, E>(mut body: S, limit: u64) -> Result<String>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| Error::InvalidBody {
            message: format!("the request body could not be read: {e}"),
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(Error::PayloadTooLarge { limit_bytes: limit });
        }
        hasher.update(&chunk);
    }
    Ok(hex::encode(hasher.finalize()))
}
