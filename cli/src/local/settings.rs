//! The settings of the local environment's processes: from the profile (worker count and
//! concurrency, pools, drain timeout, log filter, limits) and `up`'s flags.

use rates_contract::settings as rs;
use sha2::{Digest, Sha256};

use crate::cli::UpArgs;
use crate::profile::Profile;
use crate::{Error, Result};

/// What the runtime's processes are started with.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LocalSettings {
    pub environment: String,
    /// Worker processes: `--workers`, else the profile's `runtime.worker.replicas.min` (at least 1).
    pub workers: u32,
    /// A fixed api port (`--api-port`); none: the previous run's port when free, else any.
    pub api_port: Option<u16>,
    /// A fixed PostgreSQL port (`--db-port`); none: the previous run's port when free, else any.
    pub db_port: Option<u16>,
    pub worker_concurrency: u32,
    pub api_pool_size: u32,
    pub read_pool_size: u32,
    pub worker_pool_size: u32,
    pub drain_timeout_secs: u32,
    pub log: String,
    pub max_batch_bytes: u64,
    pub max_range_days: u32,
    pub public_reads: bool,
    pub rate_limit: crate::profile::RateLimit,
    pub metrics_namespace: String,
    pub metric_dimensions: String,
    /// Where batch outcome events are posted (`--webhook-url`, else the profile's).
    pub webhook_url: Option<crate::profile::WebhookUrl>,
    pub event_max_attempts: u32,
}

impl LocalSettings {
    pub(super) fn resolve(profile: &Profile, args: &UpArgs) -> Result<LocalSettings> {
        let runtime = &profile.runtime;
        let workers = args.workers.unwrap_or(runtime.worker.replicas.min.max(1));
        if workers == 0 {
            return Err(Error::InvalidArgument {
                what: "--workers".into(),
                value: "0".into(),
                message: "at least one worker is needed to commit batches".into(),
            });
        }
        Ok(LocalSettings {
            environment: profile.name.to_string(),
            workers,
            api_port: args.api_port,
            db_port: args.db_port,
            worker_concurrency: runtime.worker.concurrency.max(1),
            api_pool_size: runtime.api.db_pool_size.max(1),
            read_pool_size: runtime.api.read_pool_size.max(1),
            worker_pool_size: runtime.worker.db_pool_size.max(1),
            drain_timeout_secs: runtime.drain_timeout_seconds,
            log: runtime.log.as_str().to_string(),
            max_batch_bytes: runtime.max_batch_bytes,
            max_range_days: runtime.max_range_days,
            public_reads: runtime.api.public_reads,
            rate_limit: runtime.api.rate_limit,
            metrics_namespace: profile.observability.metrics_namespace.clone(),
            metric_dimensions: profile
                .metric_dimensions()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            webhook_url: runtime.events.webhook_url.clone(),
            event_max_attempts: runtime.events.max_attempts,
        })
    }

    /// The environment shared by every runtime process (the api adds `RATES_BIND`), by
    /// the contract's names. Every process delivers outcome events, so each gets the
    /// webhook and its key (`webhook_secret`, required with a webhook).
    pub(super) fn runtime_env(
        &self,
        database_url: &str,
        webhook_secret: Option<&str>,
    ) -> Vec<(String, String)> {
        let webhook = self.webhook_url.as_ref().zip(webhook_secret);
        let mut env = named([
            (rs::DATABASE_URL, database_url.to_string()),
            (rs::RATES_QUEUE_BACKEND, "postgres".to_string()),
            (rs::RATES_LOG, self.log.clone()),
            (
                rs::RATES_DRAIN_TIMEOUT_SECS,
                self.drain_timeout_secs.to_string(),
            ),
            (rs::RATES_MAX_BATCH_BYTES, self.max_batch_bytes.to_string()),
            (rs::RATES_MAX_RANGE_DAYS, self.max_range_days.to_string()),
            (rs::RATES_PUBLIC_READS, self.public_reads.to_string()),
            (
                rs::RATES_RATE_LIMIT_PER_SECOND,
                self.rate_limit.per_second.to_string(),
            ),
            (
                rs::RATES_RATE_LIMIT_BURST,
                self.rate_limit.burst.to_string(),
            ),
            (rs::RATES_METRICS_NAMESPACE, self.metrics_namespace.clone()),
            (rs::RATES_METRICS_DIMENSIONS, self.metric_dimensions.clone()),
            (
                rs::RATES_WEBHOOK_MAX_ATTEMPTS,
                self.event_max_attempts.to_string(),
            ),
        ]);
        if let Some((url, secret)) = webhook {
            env.extend(named([
                (rs::RATES_WEBHOOK_URL, url.to_string()),
                (rs::RATES_WEBHOOK_SECRET, secret.to_string()),
            ]));
        }
        env
    }

    /// The api's extra environment.
    pub(super) fn api_env(&self) -> Vec<(String, String)> {
        named([
            (rs::RATES_DB_POOL_SIZE, self.api_pool_size.to_string()),
            (rs::RATES_READ_POOL_SIZE, self.read_pool_size.to_string()),
        ])
    }

    /// A worker's extra environment.
    pub(super) fn worker_env(&self) -> Vec<(String, String)> {
        named([
            (rs::RATES_DB_POOL_SIZE, self.worker_pool_size.to_string()),
            (
                rs::RATES_WORKER_CONCURRENCY,
                self.worker_concurrency.to_string(),
            ),
        ])
    }
}

fn named<const N: usize>(settings: [(rs::Setting, String); N]) -> Vec<(String, String)> {
    settings
        .into_iter()
        .map(|(setting, value)| (setting.name.to_string(), value))
        .collect()
}

/// How long a SIGTERM'd process may take before SIGKILL: the profile's drain timeout plus a
/// margin for the process to exit.
pub(super) fn stop_bound(profile: &Profile) -> std::time::Duration {
    std::time::Duration::from_secs(u64::from(profile.runtime.drain_timeout_seconds) + 5)
}

/// A digest of the binary (path, size, modification time) and an environment: processes
/// started with a different one are restarted by the next `up`.
pub(super) fn fingerprint(binary: &std::path::Path, env: &[(String, String)]) -> String {
    let mut hash = Sha256::new();
    hash.update(binary.as_os_str().as_encoded_bytes());
    if let Ok(meta) = binary.metadata() {
        hash.update(meta.len().to_le_bytes());
        if let Ok(modified) = meta
            .modified()
            .map(|t| t.duration_since(std::time::UNIX_EPOCH))
        {
            hash.update(modified.unwrap_or_default().as_nanos().to_le_bytes());
        }
    }
    for (k, v) in env {
        hash.update(k.as_bytes());
        hash.update([0]);
        hash.update(v.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..12])
}
