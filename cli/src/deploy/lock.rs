//! One deploy lock per environment (`envctl/locks/ENV.json` in the state bucket), held by
//! `up` (through its bake) and `rollback`, so two of them never interleave. It is taken
//! with an S3 conditional write (If-None-Match: *), kept alive by a heartbeat that
//! rewrites it (If-Match: its ETag) and taken over only once its lease has expired, so a
//! crashed run blocks the environment for one lease at most.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// How long a lock stays valid without a heartbeat.
const LEASE: Duration = Duration::from_secs(120);
/// How often the holder renews it.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// What the lock object says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LockRecord {
    pub holder: String,
    pub command: String,
    pub host: String,
    pub pid: u32,
    pub acquired_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A held lock; released on [`DeployLock::release`] (or left to expire when envctl dies).
pub struct DeployLock {
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    etag: Arc<Mutex<Option<String>>>,
    heartbeat: tokio::task::JoinHandle<()>,
}

fn key(env: &str) -> String {
    format!("envctl/locks/{env}.json")
}

fn is_precondition_failed<E: ProvideErrorMetadata>(err: &E) -> bool {
    matches!(
        err.code(),
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    )
}

impl DeployLock {
    /// Takes the environment's lock for `command`, or says who holds it.
    pub async fn acquire(
        s3: aws_sdk_s3::Client,
        bucket: &str,
        env: &str,
        holder: &str,
        command: &str,
    ) -> Result<DeployLock> {
        let key = key(env);
        let now = Utc::now();
        let record = LockRecord {
            holder: holder.to_string(),
            command: command.to_string(),
            host: hostname(),
            pid: std::process::id(),
            acquired_at: now,
            expires_at: lease_end(),
        };
        let body = serde_json::to_vec(&record).unwrap_or_default();
        let put = || {
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .content_type("application/json")
                .body(ByteStream::from(body.clone()))
        };
        let etag = match put().if_none_match("*").send().await {
            Ok(out) => out.e_tag,
            Err(err) if is_precondition_failed(&err) => {
                let (current, current_etag) = read(&s3, bucket, &key).await?;
                match current {
                    Some(held) if held.expires_at > Utc::now() => {
                        return Err(Error::Locked {
                            message: format!(
                                "environment `{env}` is locked: `{}` by {} on {} (pid {}) since {}",
                                held.command,
                                held.holder,
                                held.host,
                                held.pid,
                                held.acquired_at.to_rfc3339()
                            ),
                            help: Some(format!(
                                "wait for it to finish (an `up` holds the lock through its bake); \
                                 a run that died releases it by itself at {} (s3://{bucket}/{key})",
                                held.expires_at.to_rfc3339()
                            )),
                        });
                    }
                    _ => {
                        // Expired (or gone meanwhile): take it over, but only the very
                        // object we read, so two takers cannot both win.
                        let taken = match current_etag {
                            Some(etag) => put().if_match(etag).send().await,
                            None => put().if_none_match("*").send().await,
                        };
                        match taken {
                            Ok(out) => {
                                tracing::warn!("took over the expired deploy lock of {env}");
                                out.e_tag
                            }
                            Err(err) if is_precondition_failed(&err) => {
                                return Err(Error::Locked {
                                    message: format!(
                                        "environment `{env}` was locked by another run just now"
                                    ),
                                    help: Some("wait for it to finish and re-run".into()),
                                })
                            }
                            Err(err) => {
                                return Err(
                                    Error::aws(format!("s3:PutObject s3://{bucket}/{key}"))(err),
                                )
                            }
                        }
                    }
                }
            }
            Err(err) => {
                return Err(Error::aws(format!(
                    "s3:PutObject s3://{bucket}/{key} (taking the deploy lock)"
                ))(err))
            }
        };
        let etag = Arc::new(Mutex::new(etag));
        let heartbeat = tokio::spawn(heartbeat(
            s3.clone(),
            bucket.to_string(),
            key.clone(),
            record,
            etag.clone(),
        ));
        Ok(DeployLock {
            s3,
            bucket: bucket.to_string(),
            key,
            etag,
            heartbeat,
        })
    }

    /// Releases the lock if it is still this run's.
    pub async fn release(self) -> Result<()> {
        self.heartbeat.abort();
        let ours = self.etag.lock().map(|e| e.clone()).unwrap_or_default();
        let (_, now) = read(&self.s3, &self.bucket, &self.key).await?;
        if ours.is_some() && now == ours {
            self.s3
                .delete_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .send()
                .await
                .map_err(Error::aws(format!(
                    "s3:DeleteObject s3://{}/{} (releasing the deploy lock)",
                    self.bucket, self.key
                )))?;
        }
        Ok(())
    }
}

async fn read(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> Result<(Option<LockRecord>, Option<String>)> {
    match s3.get_object().bucket(bucket).key(key).send().await {
        Ok(out) => {
            let etag = out.e_tag.clone();
            let bytes = out
                .body
                .collect()
                .await
                .map(|b| b.into_bytes())
                .unwrap_or_default();
            Ok((serde_json::from_slice(&bytes).ok(), etag))
        }
        Err(err) if err.code() == Some("NoSuchKey") => Ok((None, None)),
        Err(err) => Err(Error::aws(format!("s3:GetObject s3://{bucket}/{key}"))(err)),
    }
}

/// Renews the lease until aborted; a lost lock (someone took it over after a stall) is
/// logged, and the run's own writes are still serialized by Terraform's and the API
/// server's own locking.
async fn heartbeat(
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    mut record: LockRecord,
    etag: Arc<Mutex<Option<String>>>,
) {
    loop {
        tokio::time::sleep(HEARTBEAT).await;
        record.expires_at = lease_end();
        let Some(current) = etag.lock().ok().and_then(|e| e.clone()) else {
            return;
        };
        let result = s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .content_type("application/json")
            .if_match(current)
            .body(ByteStream::from(
                serde_json::to_vec(&record).unwrap_or_default(),
            ))
            .send()
            .await;
        match result {
            Ok(out) => {
                if let Ok(mut e) = etag.lock() {
                    *e = out.e_tag;
                }
            }
            Err(err) => {
                tracing::warn!("could not renew the deploy lock s3://{bucket}/{key}: {err}");
                if is_precondition_failed(&err) {
                    return;
                }
            }
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn lease_end() -> DateTime<Utc> {
    Utc::now() + chrono::TimeDelta::seconds(LEASE.as_secs() as i64)
}
