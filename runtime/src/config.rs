//! Runtime configuration, parsed once from environment variables.

use std::net::SocketAddr;
use std::time::Duration;

use rates_contract::settings::{self as s};

use crate::emf::settings::EmfSettings;
use crate::env::Env;
use crate::error::{Error, Result};

/// Everything the runtime reads from its environment. Add fields here (with a
/// default and a line in docs/runtime.md) rather than reading env vars elsewhere.
#[derive(Debug, Clone)]
pub struct Config {
    /// `DATABASE_URL`: the primary (read-write) database.
    pub database_url: String,
    /// `DATABASE_READ_URL`: a read replica for GET /rates*; the primary when unset.
    pub database_read_url: Option<String>,
    /// `RATES_DATABASE_CA_FILE`: PEM bundle of the CA that signs the database's
    /// certificate (the RDS bundle in the image); with it, connections verify the
    /// server's certificate and name (`sslmode=verify-full` unless the URL says otherwise).
    pub database_ca_file: Option<std::path::PathBuf>,
    /// `RATES_DATABASE_IAM_AUTH`: log in with RDS IAM tokens made from the process's AWS
    /// credentials instead of a password in the URL.
    pub database_iam_auth: bool,
    /// `RATES_BIND`: listen address.
    pub bind: SocketAddr,
    /// `RATES_DB_POOL_SIZE`: primary pool maximum.
    pub db_pool_size: u32,
    /// `RATES_READ_POOL_SIZE`: query pool maximum (on the replica, else the primary).
    pub read_pool_size: u32,
    /// `RATES_LOG`: tracing EnvFilter directives.
    pub log: String,
    /// `RATES_DRAIN_TIMEOUT_SECS`: how long in-flight work may take after SIGTERM.
    pub drain_timeout: Duration,
    /// `RATES_MAX_RANGE_DAYS`: the longest date range a query or POST /prices may span.
    pub max_range_days: u32,
    /// `RATES_MIGRATE_ON_START`: run the embedded migrations before serving.
    pub migrate_on_start: bool,
    /// `RATES_CACHE_ENTRIES`: GET /rates answers kept per prices version; 0 disables.
    pub cache_entries: usize,
    /// `RATES_PUBLIC_READS`: GET /rates and /rates_null without a token.
    pub public_reads: bool,
    /// `RATES_RATE_LIMIT_PER_SECOND`: requests per second per client; 0 is no limit.
    pub rate_limit_per_second: u32,
    /// `RATES_RATE_LIMIT_BURST`: the burst above that rate.
    pub rate_limit_burst: u32,
    /// Batch ingestion: queue backend, size limit, worker settings.
    pub batch: crate::batch::BatchSettings,
    /// Where EMF metrics go and their namespace and dimensions.
    pub emf: EmfSettings,
    /// Where batch outcome events go (webhook, SNS topic), if anywhere.
    pub events: crate::events::settings::EventSettings,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config> {
        let env = Env(&lookup);
        let config = Config {
            database_url: env.required_url(s::DATABASE_URL)?,
            database_read_url: env.optional_url(s::DATABASE_READ_URL)?,
            database_ca_file: env.ca_file(s::RATES_DATABASE_CA_FILE)?,
            database_iam_auth: env.boolean(s::RATES_DATABASE_IAM_AUTH)?,
            bind: env.parsed(s::RATES_BIND)?,
            db_pool_size: env.positive(s::RATES_DB_POOL_SIZE)?,
            read_pool_size: env.positive(s::RATES_READ_POOL_SIZE)?,
            log: env.string(s::RATES_LOG),
            drain_timeout: Duration::from_secs(env.parsed(s::RATES_DRAIN_TIMEOUT_SECS)?),
            max_range_days: env.positive(s::RATES_MAX_RANGE_DAYS)?,
            migrate_on_start: env.boolean(s::RATES_MIGRATE_ON_START)?,
            cache_entries: env.parsed(s::RATES_CACHE_ENTRIES)?,
            public_reads: env.boolean(s::RATES_PUBLIC_READS)?,
            rate_limit_per_second: env.parsed(s::RATES_RATE_LIMIT_PER_SECOND)?,
            rate_limit_burst: env.positive(s::RATES_RATE_LIMIT_BURST)?,
            batch: crate::batch::BatchSettings::from_env(&env)?,
            emf: EmfSettings::from_env(&env)?,
            events: crate::events::settings::from_env(&env)?,
        };
        tracing_subscriber::EnvFilter::try_new(&config.log).map_err(|e| {
            Error::config(s::RATES_LOG.name, format!("not a valid log filter: {e}"))
        })?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rates_contract::settings::Setting;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Config> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_database_is_set() {
        let c = load(&[("DATABASE_URL", "postgres://u@localhost/db")]).unwrap();
        assert_eq!(c.bind.to_string(), "0.0.0.0:8080");
        assert_eq!(c.db_pool_size, 10);
        assert_eq!(c.max_range_days, 366);
        assert_eq!(c.drain_timeout, Duration::from_secs(30));
        assert!(c.database_read_url.is_none());
        assert!(!c.migrate_on_start);
    }

    /// The configuration reads every setting of the contract by its name and nothing else
    /// (AWS_REGION is read by the AWS SDK), and every contract default parses.
    #[test]
    fn reads_exactly_the_contracts_settings() {
        let read = std::cell::RefCell::new(std::collections::BTreeSet::new());
        let given: HashMap<&str, &str> = HashMap::from([
            ("DATABASE_URL", "postgres://u@localhost/db"),
            // The sqs backend and the agent endpoint make their dependent settings read.
            ("RATES_QUEUE_BACKEND", "sqs"),
            ("RATES_SQS_QUEUE_URL", "http://q"),
            ("RATES_S3_BUCKET", "b"),
            ("RATES_EMF_ENDPOINT", "tcp://127.0.0.1:25888"),
        ]);
        Config::from_lookup(|name| {
            read.borrow_mut().insert(name.to_string());
            given.get(name).map(|v| v.to_string())
        })
        .unwrap();
        let contract: std::collections::BTreeSet<String> = s::ALL
            .iter()
            .filter(|setting| setting.name != s::AWS_REGION.name)
            .map(|setting| setting.name.to_string())
            .collect();
        assert_eq!(
            read.into_inner(),
            contract,
            "the variables Config reads (left) vs the contract's settings (right)"
        );
    }

    #[test]
    fn defaults_are_the_contracts() {
        let c = load(&[("DATABASE_URL", "postgres://u@localhost/db")]).unwrap();
        let default = |setting: Setting| setting.default.value().unwrap();
        assert_eq!(c.bind.to_string(), default(s::RATES_BIND));
        assert_eq!(c.log, default(s::RATES_LOG));
        assert_eq!(c.cache_entries.to_string(), default(s::RATES_CACHE_ENTRIES));
        assert_eq!(
            c.batch.max_batch_bytes.to_string(),
            default(s::RATES_MAX_BATCH_BYTES)
        );
        assert_eq!(c.emf.namespace, default(s::RATES_METRICS_NAMESPACE));
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "DATABASE_URL"),
            (&[("DATABASE_URL", "mysql://x")], "DATABASE_URL"),
            (
                &[
                    ("DATABASE_URL", "postgres://u@h/d"),
                    ("DATABASE_READ_URL", "nope"),
                ],
                "DATABASE_READ_URL",
            ),
            (
                &[
                    ("DATABASE_URL", "postgres://u@h/d"),
                    ("RATES_BIND", "localhost"),
                ],
                "RATES_BIND",
            ),
            (
                &[
                    ("DATABASE_URL", "postgres://u@h/d"),
                    ("RATES_DB_POOL_SIZE", "0"),
                ],
                "RATES_DB_POOL_SIZE",
            ),
            (
                &[
                    ("DATABASE_URL", "postgres://u@h/d"),
                    ("RATES_MAX_RANGE_DAYS", "-3"),
                ],
                "RATES_MAX_RANGE_DAYS",
            ),
            (
                &[
                    ("DATABASE_URL", "postgres://u@h/d"),
                    ("RATES_MIGRATE_ON_START", "maybe"),
                ],
                "RATES_MIGRATE_ON_START",
            ),
            (
                &[
                    ("DATABASE_URL", "postgres://u@h/d"),
                    ("RATES_LOG", "info,["),
                ],
                "RATES_LOG",
            ),
        ];
        for (vars, variable) in cases {
            let err = load(vars).unwrap_err();
            assert!(
                matches!(&err, Error::Config { variable: v, .. } if v == variable),
                "{vars:?}: {err}"
            );
            assert!(err.to_string().contains(variable), "{err}");
        }
    }
}
