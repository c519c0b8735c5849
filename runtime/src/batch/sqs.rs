//! The SQS queue: each job is an SQS message `{"batch_id": ...}` whose
//! visibility timeout is the lease (a dead-letter queue takes it after the
//! queue's maxReceiveCount), and S3 event notifications for objects dropped
//! under the configured prefix become batches (keyed by object key and ETag).

use std::time::Duration;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde::Deserialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::lease::{Claim, Lease, LeaseHandle};
use super::location::PayloadLocation;
use super::payload::Format;
use super::record::{self, NewBatch, Source};
use super::settings::BatchSettings;
use super::status::{BatchStatus, Transition};
use crate::error::{DbContext, Error, Result};

/// The SQS backend's handle.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    pool: PgPool,
    drop_prefix: Option<String>,
}

/// The body of a job message.
#[derive(Debug, serde::Serialize, Deserialize)]
struct JobMessage {
    batch_id: Uuid,
}

/// The parts of an S3 event notification we read.
#[derive(Debug, Deserialize)]
struct S3Event {
    #[serde(rename = "Records", default)]
    records: Vec<S3Record>,
    /// Present on the `s3:TestEvent` S3 sends when notifications are configured.
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Debug, Deserialize)]
struct S3Record {
    #[serde(rename = "eventName")]
    event_name: String,
    s3: S3Entity,
}

#[derive(Debug, Deserialize)]
struct S3Entity {
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Debug, Deserialize)]
struct S3Bucket {
    name: String,
}

#[derive(Debug, Deserialize)]
struct S3Object {
    key: String,
    #[serde(default)]
    size: u64,
    #[serde(rename = "eTag", default)]
    etag: String,
}

fn sqs_error<E, R>(context: &str, error: aws_sdk_sqs::error::SdkError<E, R>) -> Error
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sqs::error::DisplayErrorContext;
    Error::Other(format!("SQS: {context}: {}", DisplayErrorContext(&error)))
}

impl SqsQueue {
    pub fn new(
        client: aws_sdk_sqs::Client,
        queue_url: String,
        pool: PgPool,
        drop_prefix: Option<String>,
    ) -> SqsQueue {
        SqsQueue {
            client,
            queue_url,
            pool,
            drop_prefix,
        }
    }

    pub(super) async fn send_job(&self, batch_id: Uuid) -> Result<()> {
        let body = serde_json::to_string(&JobMessage { batch_id })
            .map_err(|e| Error::Other(format!("encoding a job message: {e}")))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| sqs_error("sending the job message", e))?;
        Ok(())
    }

    pub(super) async fn set_visibility(
        &self,
        receipt_handle: &str,
        timeout: Duration,
    ) -> Result<()> {
        // SQS allows at most 12 hours.
        let secs = timeout.as_secs().min(43_200) as i32;
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| sqs_error("changing a message's visibility", e))?;
        Ok(())
    }

    pub(super) async fn delete(&self, receipt_handle: &str) -> Result<()> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| sqs_error("deleting a message", e))?;
        Ok(())
    }

    pub(super) async fn claim(&self, settings: &BatchSettings) -> Result<Claim> {
        let wait = settings.poll_interval.as_secs().clamp(1, 20) as i32;
        let received = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(1)
            .wait_time_seconds(wait)
            .visibility_timeout(settings.lease.as_secs().min(43_200) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(|e| sqs_error("receiving a message", e))?;
        let Some(message) = received.messages.and_then(|m| m.into_iter().next()) else {
            return Ok(Claim::Empty);
        };
        let receipt_handle = message.receipt_handle.unwrap_or_default();
        let receives: u32 = message
            .attributes
            .as_ref()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let body = message.body.unwrap_or_default();
        if let Ok(job) = serde_json::from_str::<JobMessage>(&body) {
            return self
                .claim_job(job.batch_id, receipt_handle, receives, settings)
                .await;
        }
        if let Ok(event) = serde_json::from_str::<S3Event>(&body) {
            if event.event.as_deref() == Some("s3:TestEvent") || !event.records.is_empty() {
                self.register_drops(&event).await?;
                self.delete(&receipt_handle).await?;
                return Ok(Claim::Handled);
            }
        }
        // Not ours to interpret: leave it; the redrive policy moves it to the
        // dead-letter queue after maxReceiveCount receives.
        tracing::error!(body = %truncate(&body, 300), receives, "unrecognised message on the batch queue; leaving it for the dead-letter queue");
        Ok(Claim::Handled)
    }

    async fn claim_job(
        &self,
        batch_id: Uuid,
        receipt_handle: String,
        receives: u32,
        settings: &BatchSettings,
    ) -> Result<Claim> {
        let mut tx = self.pool.begin().await.db("claiming a batch")?;
        // SKIP LOCKED: a locked row is being processed by a worker whose
        // visibility timeout ran out; let that worker finish.
        let row = sqlx::query("SELECT status FROM batches WHERE id = $1 FOR UPDATE SKIP LOCKED")
            .bind(batch_id)
            .fetch_optional(&mut *tx)
            .await
            .db("claiming a batch")?;
        let status: Option<String> = row.map(|r| r.get("status"));
        match status.as_deref().map(BatchStatus::parse) {
            None => {
                drop(tx);
                let exists: bool =
                    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM batches WHERE id = $1)")
                        .bind(batch_id)
                        .fetch_one(&self.pool)
                        .await
                        .db("looking up a batch")?;
                if exists {
                    // Held by another worker: look again after a lease.
                    self.set_visibility(&receipt_handle, settings.lease).await?;
                } else {
                    // The upload's transaction may not have committed yet (the
                    // message is sent just before). A message whose batch never
                    // appears ends in the dead-letter queue.
                    tracing::warn!(batch_id = %batch_id, receives, "job message for an unknown batch; retrying it shortly");
                    self.set_visibility(&receipt_handle, Duration::from_secs(2))
                        .await?;
                }
                Ok(Claim::Handled)
            }
            Some(None) => Err(Error::Other(format!(
                "batch {batch_id} has an unknown status `{}`",
                status.unwrap_or_default()
            ))),
            Some(Some(status)) if status.is_final() => {
                drop(tx);
                self.delete(&receipt_handle).await?;
                Ok(Claim::Handled)
            }
            Some(Some(_)) => {
                if receives > settings.max_attempts {
                    let failure = format!(
                        "gave up after {} deliveries (workers crashed or stalled while holding it)",
                        receives - 1
                    );
                    Transition::Fail { failure: &failure }
                        .apply(&mut tx, batch_id)
                        .await?;
                    tx.commit().await.db("parking a batch as failed")?;
                    self.delete(&receipt_handle).await?;
                    return Ok(Claim::Handled);
                }
                Transition::Start { attempt: receives }
                    .apply(&mut tx, batch_id)
                    .await?;
                tx.commit().await.db("claiming a batch")?;
                Ok(Claim::Job(Lease {
                    batch_id,
                    attempt: receives,
                    handle: LeaseHandle::Sqs { receipt_handle },
                }))
            }
        }
    }

    /// Records one batch per dropped object (idempotent: the key includes the
    /// ETag) and queues a job for each new one.
    async fn register_drops(&self, event: &S3Event) -> Result<()> {
        for record in &event.records {
            if !record.event_name.starts_with("ObjectCreated") {
                continue;
            }
            let key = decode_key(&record.s3.object.key);
            if let Some(prefix) = &self.drop_prefix {
                if !key.starts_with(prefix.as_str()) {
                    continue;
                }
            }
            let bucket = &record.s3.bucket.name;
            let etag = record.s3.object.etag.trim_matches('"').to_string();
            let Some(format) = Format::from_object_key(&key) else {
                tracing::error!(
                    bucket,
                    key,
                    "dropped object ignored: its name must end in .csv, .ndjson or .jsonl"
                );
                continue;
            };
            let batch = NewBatch {
                id: Uuid::now_v7(),
                idempotency_key: Some(format!("s3://{bucket}/{key}#{etag}")),
                content_hash: etag,
                format,
                source: Source::ObjectDrop,
                payload_location: PayloadLocation::S3 {
                    bucket: bucket.clone(),
                    key: key.clone(),
                },
                size_bytes: record.s3.object.size,
                client_id: None,
            };
            let mut tx = self.pool.begin().await.db("recording a dropped object")?;
            if record::insert(&mut tx, &batch).await? {
                self.send_job(batch.id).await?;
                tx.commit().await.db("recording a dropped object")?;
                tracing::info!(batch_id = %batch.id, bucket, key, "object drop queued as a batch");
            }
        }
        Ok(())
    }
}

/// S3 event keys are URL-encoded with `+` for spaces.
fn decode_key(raw: &str) -> String {
    form_urlencoded::parse(format!("k={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| raw.to_string())
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_decoded() {
        assert_eq!(decode_key("drop/my+file%2B1.csv"), "drop/my file+1.csv");
    }

    #[test]
    fn s3_events_parse() {
        let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"drop/a.csv","size":10,"eTag":"abc"}}}]}"#;
        let event: S3Event = serde_json::from_str(body).unwrap();
        assert_eq!(event.records[0].s3.object.etag, "abc");
        assert!(serde_json::from_str::<JobMessage>(body).is_err());
    }
}
