//! The staging store: where an uploaded payload is kept, durably, between the
//! 202 and the worker. PostgreSQL (chunks in `batch_payload_chunks`, written in
//! the upload's transaction) or S3 (one object per batch, multipart).

use std::io;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use sqlx::{PgConnection, PgPool};
use tokio::io::AsyncRead;
use uuid::Uuid;

use super::location::PayloadLocation;
use crate::error::{DbContext, Error, Result};

/// PostgreSQL chunk size: big enough for few round trips, small enough to stream.
const PG_CHUNK_BYTES: usize = 1024 * 1024;
/// S3 multipart part size (S3's minimum is 5 MiB for all but the last part).
const S3_PART_BYTES: usize = 8 * 1024 * 1024;

/// Where payloads are staged.
#[derive(Clone, Debug)]
pub enum StagingStore {
    Postgres,
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
    },
}

/// A payload being written.
pub enum StagingWriter {
    Postgres {
        batch_id: Uuid,
        seq: i32,
        buf: BytesMut,
    },
    S3 {
        client: aws_sdk_s3::Client,
        bucket: String,
        key: String,
        content_type: &'static str,
        upload_id: Option<String>,
        parts: Vec<CompletedPart>,
        buf: BytesMut,
    },
}

impl StagingStore {
    /// Starts writing the payload of `batch_id`.
    pub fn writer(&self, batch_id: Uuid, content_type: &'static str) -> StagingWriter {
        match self {
            StagingStore::Postgres => StagingWriter::Postgres {
                batch_id,
                seq: 0,
                buf: BytesMut::with_capacity(PG_CHUNK_BYTES),
            },
            StagingStore::S3 { client, bucket } => StagingWriter::S3 {
                client: client.clone(),
                bucket: bucket.clone(),
                key: upload_key(batch_id),
                content_type,
                upload_id: None,
                parts: Vec::new(),
                buf: BytesMut::new(),
            },
        }
    }
}

/// The S3 key an uploaded payload is staged under.
pub fn upload_key(batch_id: Uuid) -> String {
    format!("batches/{batch_id}")
}

impl StagingWriter {
    /// Appends bytes. PostgreSQL chunks go through `conn` (the upload's transaction).
    pub async fn write(&mut self, conn: &mut PgConnection, data: &[u8]) -> Result<()> {
        match self {
            StagingWriter::Postgres { .. } => {
                let mut rest = data;
                while !rest.is_empty() {
                    let StagingWriter::Postgres { buf, .. } = self else {
                        unreachable!("matched above")
                    };
                    let take = rest.len().min(PG_CHUNK_BYTES - buf.len());
                    buf.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if buf.len() == PG_CHUNK_BYTES {
                        self.flush_pg(conn).await?;
                    }
                }
                Ok(())
            }
            StagingWriter::S3 { buf, .. } => {
                buf.extend_from_slice(data);
                if buf.len() >= S3_PART_BYTES {
                    self.upload_part().await?;
                }
                Ok(())
            }
        }
    }

    async fn flush_pg(&mut self, conn: &mut PgConnection) -> Result<()> {
        let StagingWriter::Postgres { batch_id, seq, buf } = self else {
            return Ok(());
        };
        if buf.is_empty() {
            return Ok(());
        }
        let chunk = buf.split().freeze();
        sqlx::query("INSERT INTO batch_payload_chunks (batch_id, seq, data) VALUES ($1, $2, $3)")
            .bind(*batch_id)
            .bind(*seq)
            .bind(chunk.as_ref())
            .execute(conn)
            .await
            .db("staging a payload chunk")?;
        *seq += 1;
        Ok(())
    }

    async fn upload_part(&mut self) -> Result<()> {
        let StagingWriter::S3 {
            client,
            bucket,
            key,
            content_type,
            upload_id,
            parts,
            buf,
        } = self
        else {
            return Ok(());
        };
        if upload_id.is_none() {
            let created = client
                .create_multipart_upload()
                .bucket(bucket.as_str())
                .key(key.as_str())
                .content_type(*content_type)
                .send()
                .await
                .map_err(|e| aws_error(format!("starting the upload of s3://{bucket}/{key}"), e))?;
            *upload_id = created.upload_id;
        }
        let number = parts.len() as i32 + 1;
        let body = buf.split().freeze();
        let part = client
            .upload_part()
            .bucket(bucket.as_str())
            .key(key.as_str())
            .upload_id(upload_id.clone().unwrap_or_default())
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| aws_error(format!("uploading part {number} of s3://{bucket}/{key}"), e))?;
        parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(part.e_tag)
                .build(),
        );
        Ok(())
    }

    /// Writes what is buffered and returns the payload's location.
    pub async fn finish(mut self, conn: &mut PgConnection) -> Result<PayloadLocation> {
        match &mut self {
            StagingWriter::Postgres { .. } => {
                self.flush_pg(conn).await?;
                Ok(PayloadLocation::Postgres)
            }
            StagingWriter::S3 {
                client,
                bucket,
                key,
                content_type,
                upload_id,
                buf,
                ..
            } => {
                if upload_id.is_none() {
                    // Small payload: one PUT.
                    let body = buf.split().freeze();
                    client
                        .put_object()
                        .bucket(bucket.as_str())
                        .key(key.as_str())
                        .content_type(*content_type)
                        .body(ByteStream::from(body))
                        .send()
                        .await
                        .map_err(|e| aws_error(format!("writing s3://{bucket}/{key}"), e))?;
                    return Ok(PayloadLocation::S3 {
                        bucket: bucket.clone(),
                        key: key.clone(),
                    });
                }
                if !buf.is_empty() {
                    self.upload_part().await?;
                }
                let StagingWriter::S3 {
                    client,
                    bucket,
                    key,
                    upload_id,
                    parts,
                    ..
                } = self
                else {
                    unreachable!("matched above")
                };
                client
                    .complete_multipart_upload()
                    .bucket(bucket.as_str())
                    .key(key.as_str())
                    .upload_id(upload_id.unwrap_or_default())
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| aws_error(format!("completing s3://{bucket}/{key}"), e))?;
                Ok(PayloadLocation::S3 { bucket, key })
            }
        }
    }

    /// Gives up on the payload (upload refused or failed). PostgreSQL chunks go
    /// with the rolled-back transaction; an S3 upload is aborted or deleted.
    pub async fn abort(self) {
        if let StagingWriter::S3 {
            client,
            bucket,
            key,
            upload_id,
            ..
        } = self
        {
            let result = match upload_id {
                Some(id) => client
                    .abort_multipart_upload()
                    .bucket(&bucket)
                    .key(&key)
                    .upload_id(id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => Ok(()),
            };
            if let Err(error) = result {
                tracing::warn!(%error, bucket, key, "could not abort a staged upload; an S3 lifecycle rule removes it");
            }
        }
    }
}

/// Deletes a staged object that will not be recorded (lost an idempotency race).
pub async fn discard(store: &StagingStore, location: &PayloadLocation) {
    if let (StagingStore::S3 { client, .. }, PayloadLocation::S3 { bucket, key }) =
        (store, location)
    {
        if let Err(error) = client.delete_object().bucket(bucket).key(key).send().await {
            tracing::warn!(error = %error, %location, "could not delete a discarded staged payload");
        }
    }
}

/// A payload opened for reading.
pub type PayloadReader = Box<dyn AsyncRead + Send + Unpin>;

/// Opens the payload of a batch for streaming. `etag` pins the exact object
/// version of an object drop (a later overwrite of the key must not be read).
/// Reading fails unless exactly `size` bytes arrive: a lost chunk must never
/// pass for a shorter batch.
pub async fn open(
    store: &StagingStore,
    pool: &PgPool,
    batch_id: Uuid,
    location: &PayloadLocation,
    etag: Option<&str>,
    size: u64,
) -> Result<PayloadReader> {
    let inner = open_raw(store, pool, batch_id, location, etag).await?;
    Ok(Box::new(ExactSize {
        inner,
        read: 0,
        expected: size,
    }))
}

/// Fails at end of input unless the expected number of bytes were read.
struct ExactSize {
    inner: PayloadReader,
    read: u64,
    expected: u64,
}

impl AsyncRead for ExactSize {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let n = (buf.filled().len() - before) as u64;
                this.read += n;
                if this.read > this.expected || (n == 0 && this.read != this.expected) {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the staged payload has {} bytes where {} were recorded",
                            this.read, this.expected
                        ),
                    )));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

async fn open_raw(
    store: &StagingStore,
    pool: &PgPool,
    batch_id: Uuid,
    location: &PayloadLocation,
    etag: Option<&str>,
) -> Result<PayloadReader> {
    let (bucket, key) = match location {
        PayloadLocation::S3 { bucket, key } => (bucket, key),
        PayloadLocation::Postgres => {
            let pool = pool.clone();
            let chunks = futures::stream::try_unfold(0i32, move |seq| {
                let pool = pool.clone();
                async move {
                    let chunk: Option<Vec<u8>> = sqlx::query_scalar(
                        "SELECT data FROM batch_payload_chunks WHERE batch_id = $1 AND seq = $2",
                    )
                    .bind(batch_id)
                    .bind(seq)
                    .fetch_optional(&pool)
                    .await
                    .map_err(io::Error::other)?;
                    Ok::<_, io::Error>(chunk.map(|data| (Bytes::from(data), seq + 1)))
                }
            });
            return Ok(Box::new(tokio_util::io::StreamReader::new(Box::pin(
                chunks,
            ))));
        }
    };
    let StagingStore::S3 { client, .. } = store else {
        return Err(Error::Other(format!(
            "batch {batch_id} is staged in S3 ({location}) but this worker has no S3 backend configured"
        )));
    };
    let object = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_if_match(etag.map(str::to_string))
        .send()
        .await
        .map_err(|e| aws_error(format!("reading {location}"), e))?;
    Ok(Box::new(object.body.into_async_read()))
}

/// Deletes the staged payload of a batch that reached its final state
/// (PostgreSQL: inside the worker's transaction).
pub async fn delete_in(conn: &mut PgConnection, batch_id: Uuid) -> Result<()> {
    sqlx::query("DELETE FROM batch_payload_chunks WHERE batch_id = $1")
        .bind(batch_id)
        .execute(conn)
        .await
        .db("deleting the staged payload")?;
    Ok(())
}

/// An AWS SDK error with what we were doing, as the crate's error.
pub fn aws_error<E>(context: String, error: aws_sdk_s3::error::SdkError<E>) -> Error
where
    E: std::error::Error + 'static,
{
    use aws_sdk_s3::error::DisplayErrorContext;
    Error::Other(format!("{context}: {}", DisplayErrorContext(&error)))
}
