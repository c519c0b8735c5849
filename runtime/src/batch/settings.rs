//! The ingestion side's configuration (part of [`crate::config::Config`]).

use std::time::Duration;

use rates_contract::settings as s;

use crate::env::Env;
use crate::error::{Error, Result};

/// Where jobs and payloads live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueBackend {
    /// Payload chunks and jobs in PostgreSQL (`FOR UPDATE SKIP LOCKED` with leases).
    Postgres,
    /// Payloads in S3, jobs as SQS messages (visibility timeout as the lease).
    Sqs {
        queue_url: String,
        bucket: String,
        /// Objects put under this prefix are ingested as batches (object drop).
        drop_prefix: Option<String>,
    },
}

/// Batch ingestion settings.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    /// `RATES_QUEUE_BACKEND` (+ `RATES_SQS_QUEUE_URL`, `RATES_S3_BUCKET`, `RATES_S3_DROP_PREFIX`).
    pub backend: QueueBackend,
    /// `RATES_MAX_BATCH_BYTES`: uploads beyond this are refused with 413.
    pub max_batch_bytes: u64,
    /// `RATES_WORKER_CONCURRENCY`: batches processed at once per worker process.
    pub worker_concurrency: u32,
    /// `RATES_MAX_CONCURRENT_UPLOADS`: uploads staged at once per process; each
    /// holds its own database connection (never one of the query pool's), the
    /// rest wait their turn.
    pub max_concurrent_uploads: u32,
    /// `RATES_BATCH_LEASE_SECS`: how long a claimed job stays invisible to other
    /// workers without a renewal (the worker renews every third of it).
    pub lease: Duration,
    /// `RATES_BATCH_MAX_ATTEMPTS`: deliveries before a batch is parked as failed.
    pub max_attempts: u32,
    /// `RATES_BATCH_RETRY_BASE_SECS`: the first retry delay; doubles per attempt.
    pub retry_base: Duration,
    /// `RATES_BATCH_MAX_ERRORS`: errors kept on a rejected batch.
    pub max_errors: u32,
    /// `RATES_WORKER_POLL_MS`: how often an idle worker looks for work when no
    /// notification arrives.
    pub poll_interval: Duration,
}

impl BatchSettings {
    pub fn from_env(env: &Env<'_>) -> Result<BatchSettings> {
        let backend = match env.string(s::RATES_QUEUE_BACKEND).trim() {
            "postgres" => QueueBackend::Postgres,
            "sqs" => QueueBackend::Sqs {
                queue_url: env.required(s::RATES_SQS_QUEUE_URL)?,
                bucket: env.required(s::RATES_S3_BUCKET)?,
                drop_prefix: env.get(s::RATES_S3_DROP_PREFIX),
            },
            other => {
                return Err(Error::config(
                    s::RATES_QUEUE_BACKEND.name,
                    format!("`{other}` is not a queue backend (use postgres or sqs)"),
                ))
            }
        };
        let max_batch_bytes: u64 = env.parsed(s::RATES_MAX_BATCH_BYTES)?;
        if max_batch_bytes == 0 {
            return Err(Error::config(
                s::RATES_MAX_BATCH_BYTES.name,
                "must be at least 1",
            ));
        }
        let lease_secs = env.positive(s::RATES_BATCH_LEASE_SECS)?;
        Ok(BatchSettings {
            backend,
            max_batch_bytes,
            worker_concurrency: env.positive(s::RATES_WORKER_CONCURRENCY)?,
            max_concurrent_uploads: env.positive(s::RATES_MAX_CONCURRENT_UPLOADS)?,
            lease: Duration::from_secs(lease_secs.into()),
            max_attempts: env.positive(s::RATES_BATCH_MAX_ATTEMPTS)?,
            retry_base: Duration::from_secs(env.parsed::<u64>(s::RATES_BATCH_RETRY_BASE_SECS)?),
            max_errors: env.positive(s::RATES_BATCH_MAX_ERRORS)?,
            poll_interval: Duration::from_millis(env.positive(s::RATES_WORKER_POLL_MS)?.into()),
        })
    }

    /// The delay before retry number `attempt` (1-based): base * 2^(attempt-1), at most 15 min.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(10);
        (self.retry_base * factor).min(Duration::from_secs(900))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<BatchSettings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |name: &str| map.get(name).cloned();
        BatchSettings::from_env(&Env(&lookup))
    }

    #[test]
    fn defaults() {
        let s = load(&[]).unwrap();
        assert_eq!(s.backend, QueueBackend::Postgres);
        assert_eq!(s.max_batch_bytes, 1 << 30);
        assert_eq!(s.worker_concurrency, 1);
        assert_eq!(s.backoff(1), Duration::from_secs(5));
        assert_eq!(s.backoff(3), Duration::from_secs(20));
    }

    #[test]
    fn sqs_needs_its_queue_and_bucket() {
        let err = load(&[("RATES_QUEUE_BACKEND", "sqs")]).unwrap_err();
        assert!(err.to_string().contains("RATES_SQS_QUEUE_URL"), "{err}");
        let s = load(&[
            ("RATES_QUEUE_BACKEND", "sqs"),
            ("RATES_SQS_QUEUE_URL", "http://q"),
            ("RATES_S3_BUCKET", "b"),
            ("RATES_S3_DROP_PREFIX", "drop/"),
        ])
        .unwrap();
        assert!(
            matches!(s.backend, QueueBackend::Sqs { drop_prefix: Some(ref p), .. } if p == "drop/")
        );
    }

    #[test]
    fn errors_name_the_variable() {
        for (name, value) in [
            ("RATES_QUEUE_BACKEND", "kafka"),
            ("RATES_MAX_BATCH_BYTES", "0"),
            ("RATES_MAX_BATCH_BYTES", "lots"),
            ("RATES_WORKER_CONCURRENCY", "0"),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }
}
