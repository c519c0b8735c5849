//! The ingestion side's configuration (part of [`crate::config::Config`]).

use std::time::Duration;

use rates_contract::settings as s;

use crate::config::Env;
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
    /// `RATES_METRICS_NAMESPACE`: CloudWatch EMF namespace.
    pub metrics_namespace: String,
    /// `RATES_METRICS_DIMENSIONS`: `Name=value,...` added to every EMF line.
    pub metrics_dimensions: Vec<(String, String)>,
    /// `RATES_EMF_ENDPOINT`: the CloudWatch agent's EMF listener; EMF goes to stdout when unset.
    pub emf_endpoint: Option<super::emf_agent::Endpoint>,
    /// `RATES_EMF_LOG_GROUP`: the log group the agent writes the documents to
    /// (`_aws.LogGroupName`); only with `RATES_EMF_ENDPOINT`.
    pub emf_log_group: Option<String>,
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
        let emf_endpoint = env
            .get(s::RATES_EMF_ENDPOINT)
            .map(|raw| {
                super::emf_agent::Endpoint::parse(&raw)
                    .map_err(|e| Error::config(s::RATES_EMF_ENDPOINT.name, e))
            })
            .transpose()?;
        let emf_log_group = env
            .get(s::RATES_EMF_LOG_GROUP)
            .map(|g| g.trim().to_string());
        if let Some(group) = &emf_log_group {
            check_log_group(group)?;
            if emf_endpoint.is_none() {
                // Lines on stdout land wherever the log shipper puts them; a log group
                // named here would silently mean nothing.
                return Err(Error::config(
                    s::RATES_EMF_LOG_GROUP.name,
                    "applies only to the CloudWatch agent: set RATES_EMF_ENDPOINT too",
                ));
            }
        }
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
            metrics_namespace: env.string(s::RATES_METRICS_NAMESPACE),
            metrics_dimensions: parse_dimensions(
                &env.get(s::RATES_METRICS_DIMENSIONS).unwrap_or_default(),
            )?,
            emf_endpoint,
            emf_log_group,
        })
    }

    /// The delay before retry number `attempt` (1-based): base * 2^(attempt-1), at most 15 min.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(10);
        (self.retry_base * factor).min(Duration::from_secs(900))
    }
}

/// CloudWatch Logs' rule for log group names (CreateLogGroup API reference): 1 to 512
/// characters of `a-z A-Z 0-9 _ - / . #`.
fn check_log_group(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | '#'));
    if valid {
        Ok(())
    } else {
        Err(Error::config(
            s::RATES_EMF_LOG_GROUP.name,
            format!(
                "`{name}` is not a CloudWatch Logs group name (1-512 of a-z A-Z 0-9 _ - / . #)"
            ),
        ))
    }
}

fn parse_dimensions(raw: &str) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, value)) = part.split_once('=') else {
            return Err(Error::config(
                s::RATES_METRICS_DIMENSIONS.name,
                format!("`{part}` is not Name=value"),
            ));
        };
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || value.is_empty() {
            return Err(Error::config(
                s::RATES_METRICS_DIMENSIONS.name,
                format!("`{part}` needs both a name and a value"),
            ));
        }
        if out.iter().any(|(n, _)| n == name) {
            return Err(Error::config(
                s::RATES_METRICS_DIMENSIONS.name,
                format!("dimension `{name}` is given twice"),
            ));
        }
        // CloudWatch allows at most 30 dimensions per metric.
        if out.len() == 30 {
            return Err(Error::config(
                s::RATES_METRICS_DIMENSIONS.name,
                "at most 30 dimensions",
            ));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
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
        assert_eq!(s.metrics_namespace, "Rates");
        assert!(s.metrics_dimensions.is_empty());
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
    fn emf_goes_to_the_agent_when_an_endpoint_is_set() {
        let s = load(&[]).unwrap();
        assert!(s.emf_endpoint.is_none() && s.emf_log_group.is_none());
        let s = load(&[
            ("RATES_EMF_ENDPOINT", "tcp://10.0.3.4:25888"),
            (
                "RATES_EMF_LOG_GROUP",
                "/aws/containerinsights/rates-dev/rates-emf",
            ),
        ])
        .unwrap();
        assert_eq!(s.emf_endpoint.unwrap().to_string(), "tcp://10.0.3.4:25888");
        assert_eq!(
            s.emf_log_group.as_deref(),
            Some("/aws/containerinsights/rates-dev/rates-emf")
        );
        let err = load(&[
            ("RATES_EMF_ENDPOINT", "udp://10.0.3.4:25888"),
            ("RATES_EMF_LOG_GROUP", "rates emf"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("RATES_EMF_LOG_GROUP"), "{err}");
    }

    #[test]
    fn errors_name_the_variable() {
        for (name, value) in [
            ("RATES_QUEUE_BACKEND", "kafka"),
            ("RATES_MAX_BATCH_BYTES", "0"),
            ("RATES_MAX_BATCH_BYTES", "lots"),
            ("RATES_WORKER_CONCURRENCY", "0"),
            ("RATES_METRICS_DIMENSIONS", "Environment"),
            ("RATES_METRICS_DIMENSIONS", "A=1,A=2"),
            ("RATES_EMF_ENDPOINT", "10.0.0.1:25888"),
            ("RATES_EMF_ENDPOINT", "tcp://$(HOST_IP):25888"),
            (
                "RATES_EMF_LOG_GROUP",
                "/aws/containerinsights/rates-dev/rates-emf",
            ),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
        let s = load(&[(
            s::RATES_METRICS_DIMENSIONS.name,
            "Environment=staging, Service=rates",
        )])
        .unwrap();
        assert_eq!(
            s.metrics_dimensions,
            vec![
                ("Environment".to_string(), "staging".to_string()),
                ("Service".to_string(), "rates".to_string())
            ]
        );
    }
}
