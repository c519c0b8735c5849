//! The runtime's settings: every environment variable it reads, with its default.
//!
//! The runtime reads each variable by the name here and parses its default from the text
//! here; envctl writes the runtime's environment (the Kubernetes ConfigMaps and Secrets,
//! the local processes' environment) with these names. docs/runtime.md's configuration
//! table lists exactly [`ALL`] (a test checks it).

/// One environment variable the runtime reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The variable's name.
    pub name: &'static str,
    /// What applies when the variable is unset or empty.
    pub default: DefaultValue,
    /// What it means, in one line.
    pub meaning: &'static str,
}

/// What applies when a setting is not given (an empty variable counts as not given).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    /// The runtime refuses to start without it.
    Required,
    /// Nothing: the feature it configures is off, or another setting stands in (the
    /// meaning says which).
    Unset,
    /// This value, as the variable would spell it.
    Value(&'static str),
}

impl DefaultValue {
    /// The default value's text, when there is one.
    pub const fn value(self) -> Option<&'static str> {
        match self {
            DefaultValue::Value(v) => Some(v),
            DefaultValue::Required | DefaultValue::Unset => None,
        }
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

const fn setting(name: &'static str, default: DefaultValue, meaning: &'static str) -> Setting {
    Setting {
        name,
        default,
        meaning,
    }
}

use DefaultValue::{Required, Unset, Value};

// The server and its database.

/// The primary (read-write) database.
pub const DATABASE_URL: Setting = setting(
    "DATABASE_URL",
    Required,
    "the primary (read-write) database, a PostgreSQL URL",
);
/// A read replica for the queries.
pub const DATABASE_READ_URL: Setting = setting(
    "DATABASE_READ_URL",
    Unset,
    "a read replica for GET /rates and /rates_null; the primary when unset",
);
/// The CA bundle that signs the database's certificate.
pub const RATES_DATABASE_CA_FILE: Setting = setting(
    "RATES_DATABASE_CA_FILE",
    Unset,
    "PEM bundle of the CA that signs the database's certificate; with it connections verify the server",
);
/// RDS IAM authentication instead of a password.
pub const RATES_DATABASE_IAM_AUTH: Setting = setting(
    "RATES_DATABASE_IAM_AUTH",
    Value("false"),
    "log in with RDS IAM tokens made from the process's AWS credentials",
);
/// The AWS region; read by the AWS SDK, not by the runtime's own configuration.
pub const AWS_REGION: Setting = setting(
    "AWS_REGION",
    Unset,
    "the AWS region of the queue, the bucket and RDS IAM tokens (read by the AWS SDK)",
);
/// The HTTP listen address.
pub const RATES_BIND: Setting = setting(
    "RATES_BIND",
    Value("0.0.0.0:8080"),
    "listen address; port 0 picks a free port",
);
/// The primary pool's size.
pub const RATES_DB_POOL_SIZE: Setting = setting(
    "RATES_DB_POOL_SIZE",
    Value("10"),
    "maximum connections to the primary for writes and batches",
);
/// The query pool's size.
pub const RATES_READ_POOL_SIZE: Setting = setting(
    "RATES_READ_POOL_SIZE",
    Value("10"),
    "maximum connections for the queries (to the replica, else the primary)",
);
/// The log filter.
pub const RATES_LOG: Setting = setting(
    "RATES_LOG",
    Value("info"),
    "log filter in tracing's EnvFilter syntax",
);
/// The drain bound after SIGTERM.
pub const RATES_DRAIN_TIMEOUT_SECS: Setting = setting(
    "RATES_DRAIN_TIMEOUT_SECS",
    Value("30"),
    "how long in-flight work may run after SIGTERM",
);
/// The longest date range of a query.
pub const RATES_MAX_RANGE_DAYS: Setting = setting(
    "RATES_MAX_RANGE_DAYS",
    Value("366"),
    "the longest date range of a query or POST /prices",
);
/// Migrations before serving.
pub const RATES_MIGRATE_ON_START: Setting = setting(
    "RATES_MIGRATE_ON_START",
    Value("false"),
    "run the embedded migrations before serving",
);
/// The query cache's size.
pub const RATES_CACHE_ENTRIES: Setting = setting(
    "RATES_CACHE_ENTRIES",
    Value("10000"),
    "query answers cached per prices version; 0 turns the cache off",
);

// Clients: authentication and rate limits.

/// Reads without a token.
pub const RATES_PUBLIC_READS: Setting = setting(
    "RATES_PUBLIC_READS",
    Value("false"),
    "GET /rates and /rates_null without a token; every other route still needs one",
);
/// Requests per second per client.
pub const RATES_RATE_LIMIT_PER_SECOND: Setting = setting(
    "RATES_RATE_LIMIT_PER_SECOND",
    Value("200"),
    "requests per second each client (token, or address without one) may make on average; 0 turns the limit off",
);
/// The burst a client may make above the rate.
pub const RATES_RATE_LIMIT_BURST: Setting = setting(
    "RATES_RATE_LIMIT_BURST",
    Value("400"),
    "requests a client may make at once before the per-second rate applies",
);

// Batch ingestion.

/// Where jobs and payloads live.
pub const RATES_QUEUE_BACKEND: Setting = setting(
    "RATES_QUEUE_BACKEND",
    Value("postgres"),
    "where jobs and payloads live: postgres or sqs",
);
/// The SQS job queue.
pub const RATES_SQS_QUEUE_URL: Setting = setting(
    "RATES_SQS_QUEUE_URL",
    Unset,
    "the SQS job queue's URL; required with the sqs backend",
);
/// The S3 staging bucket.
pub const RATES_S3_BUCKET: Setting = setting(
    "RATES_S3_BUCKET",
    Unset,
    "the S3 bucket payloads are staged in; required with the sqs backend",
);
/// The object-drop prefix.
pub const RATES_S3_DROP_PREFIX: Setting = setting(
    "RATES_S3_DROP_PREFIX",
    Unset,
    "only objects under this prefix are ingested from bucket notifications (unset: any key)",
);
/// The largest upload.
pub const RATES_MAX_BATCH_BYTES: Setting = setting(
    "RATES_MAX_BATCH_BYTES",
    Value("1073741824"),
    "larger uploads are refused with 413",
);
/// Concurrent uploads per process.
pub const RATES_MAX_CONCURRENT_UPLOADS: Setting = setting(
    "RATES_MAX_CONCURRENT_UPLOADS",
    Value("16"),
    "uploads staged at once per process, each on its own connection; the rest wait",
);
/// Concurrent batches per worker process.
pub const RATES_WORKER_CONCURRENCY: Setting = setting(
    "RATES_WORKER_CONCURRENCY",
    Value("1"),
    "batches processed at once per worker process",
);
/// The lease (visibility timeout) of a claimed job.
pub const RATES_BATCH_LEASE_SECS: Setting = setting(
    "RATES_BATCH_LEASE_SECS",
    Value("30"),
    "how long a claimed job stays invisible without a renewal (renewed every third)",
);
/// Deliveries before a batch fails.
pub const RATES_BATCH_MAX_ATTEMPTS: Setting = setting(
    "RATES_BATCH_MAX_ATTEMPTS",
    Value("5"),
    "attempts before a batch is parked as failed",
);
/// The first retry delay.
pub const RATES_BATCH_RETRY_BASE_SECS: Setting = setting(
    "RATES_BATCH_RETRY_BASE_SECS",
    Value("5"),
    "the first retry delay, doubling per attempt (at most 15 minutes)",
);
/// Errors kept on a rejected batch.
pub const RATES_BATCH_MAX_ERRORS: Setting = setting(
    "RATES_BATCH_MAX_ERRORS",
    Value("100"),
    "errors kept on a rejected batch",
);
/// The idle poll interval.
pub const RATES_WORKER_POLL_MS: Setting = setting(
    "RATES_WORKER_POLL_MS",
    Value("1000"),
    "how often an idle worker looks for work when no notification arrives",
);

// Metrics.

/// The CloudWatch namespace of the EMF metrics (envctl writes the profile's
/// `observability.metrics_namespace`).
pub const RATES_METRICS_NAMESPACE: Setting = setting(
    "RATES_METRICS_NAMESPACE",
    Value("Rates"),
    "the CloudWatch namespace of the EMF metrics",
);
/// The deployment's dimensions, `Name=value,...`.
pub const RATES_METRICS_DIMENSIONS: Setting = setting(
    "RATES_METRICS_DIMENSIONS",
    Unset,
    "Name=value,... dimensions of every EMF metric (see metrics::Dimensions::Deployment)",
);
/// The CloudWatch agent's EMF listener.
pub const RATES_EMF_ENDPOINT: Setting = setting(
    "RATES_EMF_ENDPOINT",
    Unset,
    "the CloudWatch agent's EMF listener, tcp://host:port or udp://host:port; stdout when unset",
);
/// The log group the agent writes EMF documents to.
pub const RATES_EMF_LOG_GROUP: Setting = setting(
    "RATES_EMF_LOG_GROUP",
    Unset,
    "the log group the agent writes the EMF documents to; only with RATES_EMF_ENDPOINT",
);

// Batch outcome events.

/// Where batch outcome events are posted.
pub const RATES_WEBHOOK_URL: Setting = setting(
    "RATES_WEBHOOK_URL",
    Unset,
    "an HTTP(S) URL every final batch outcome is posted to (JSON, signed); no webhook when unset",
);
/// The webhook's signing secret.
pub const RATES_WEBHOOK_SECRET: Setting = setting(
    "RATES_WEBHOOK_SECRET",
    Unset,
    "the HMAC-SHA256 key the webhook's Rates-Signature header is made with; required with RATES_WEBHOOK_URL",
);
/// The shortest [`RATES_WEBHOOK_SECRET`] the runtime accepts: the secret is the
/// receiver's only proof, and a short one can be guessed offline from one signed event.
/// envctl makes 64 hex characters (32 random bytes).
pub const WEBHOOK_SECRET_MIN_LEN: usize = 16;
/// Delivery attempts before an event is given up on.
pub const RATES_WEBHOOK_MAX_ATTEMPTS: Setting = setting(
    "RATES_WEBHOOK_MAX_ATTEMPTS",
    Value("10"),
    "delivery attempts of one event, to the webhook and the SNS topic (backing off from 1 s to 10 min), before it is kept as given up",
);

/// The SNS topic batch outcome events are published to.
pub const RATES_EVENTS_TOPIC_ARN: Setting = setting(
    "RATES_EVENTS_TOPIC_ARN",
    Unset,
    "an SNS topic every final batch outcome is published to (message attributes status and type); none when unset",
);

/// Every setting, in the order docs/runtime.md lists them.
pub const ALL: &[Setting] = &[
    DATABASE_URL,
    DATABASE_READ_URL,
    RATES_DATABASE_CA_FILE,
    RATES_DATABASE_IAM_AUTH,
    AWS_REGION,
    RATES_BIND,
    RATES_DB_POOL_SIZE,
    RATES_READ_POOL_SIZE,
    RATES_LOG,
    RATES_DRAIN_TIMEOUT_SECS,
    RATES_MAX_RANGE_DAYS,
    RATES_MIGRATE_ON_START,
    RATES_CACHE_ENTRIES,
    RATES_PUBLIC_READS,
    RATES_RATE_LIMIT_PER_SECOND,
    RATES_RATE_LIMIT_BURST,
    RATES_QUEUE_BACKEND,
    RATES_SQS_QUEUE_URL,
    RATES_S3_BUCKET,
    RATES_S3_DROP_PREFIX,
    RATES_MAX_BATCH_BYTES,
    RATES_MAX_CONCURRENT_UPLOADS,
    RATES_WORKER_CONCURRENCY,
    RATES_BATCH_LEASE_SECS,
    RATES_BATCH_MAX_ATTEMPTS,
    RATES_BATCH_RETRY_BASE_SECS,
    RATES_BATCH_MAX_ERRORS,
    RATES_WORKER_POLL_MS,
    RATES_METRICS_NAMESPACE,
    RATES_METRICS_DIMENSIONS,
    RATES_EMF_ENDPOINT,
    RATES_EMF_LOG_GROUP,
    RATES_WEBHOOK_URL,
    RATES_WEBHOOK_SECRET,
    RATES_WEBHOOK_MAX_ATTEMPTS,
    RATES_EVENTS_TOPIC_ARN,
];

/// The setting named `name`, if the runtime reads one.
pub fn find(name: &str) -> Option<&'static Setting> {
    ALL.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_upper_case_identifiers() {
        for (i, s) in ALL.iter().enumerate() {
            assert!(
                !s.name.is_empty()
                    && s.name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{s}"
            );
            assert!(
                ALL[i + 1..].iter().all(|o| o.name != s.name),
                "{s} is listed twice"
            );
            assert!(
                !s.meaning.is_empty() && !s.meaning.contains('\n'),
                "{s}: one line"
            );
            assert_eq!(find(s.name), Some(s));
        }
        assert_eq!(find("RATES_NOPE"), None);
    }

    /// The rows of the first table under `## Configuration` in `text`: (line number,
    /// variable, default cell).
    fn documented(text: &str) -> Result<Vec<(usize, String, String)>, String> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
        lines
            .by_ref()
            .find(|(_, l)| *l == "## Configuration")
            .ok_or("no `## Configuration` section")?;
        let mut rows = Vec::new();
        for (n, line) in lines
            .skip_while(|(_, l)| !l.starts_with('|'))
            .take_while(|(_, l)| l.starts_with('|'))
        {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            if cells[0] == "variable" || cells[0].starts_with("---") {
                continue;
            }
            let name = cells[0]
                .strip_prefix('`')
                .and_then(|c| c.strip_suffix('`'))
                .ok_or(format!(
                    "line {n}: the variable is not in backticks: {line}"
                ))?;
            let default = cells.get(1).ok_or(format!("line {n}: no default cell"))?;
            rows.push((n, name.to_string(), default.to_string()));
        }
        Ok(rows)
    }

    /// How docs/runtime.md writes a default.
    fn cell(default: DefaultValue) -> String {
        match default {
            Required => "required".into(),
            Unset => "unset".into(),
            Value(v) => format!("`{v}`"),
        }
    }

    /// The table's rows against the contract, as a list of problems naming the line.
    fn differences(text: &str) -> Vec<String> {
        let rows = match documented(text) {
            Ok(rows) => rows,
            Err(e) => return vec![e],
        };
        let mut problems = Vec::new();
        for (i, (n, name, default)) in rows.iter().enumerate() {
            if rows[..i].iter().any(|(_, other, _)| other == name) {
                problems.push(format!("line {n}: `{name}` is listed twice"));
            }
            match find(name) {
                None => problems.push(format!(
                    "line {n}: `{name}` is no setting of the contract (contract/src/settings.rs)"
                )),
                Some(s) if cell(s.default) != *default => problems.push(format!(
                    "line {n}: `{name}` has default {default}; the contract's is {}",
                    cell(s.default)
                )),
                Some(_) => {}
            }
        }
        for s in ALL {
            if !rows.iter().any(|(_, name, _)| name == s.name) {
                problems.push(format!(
                    "`{}` (default {}) is missing from the table",
                    s.name,
                    cell(s.default)
                ));
            }
        }
        problems
    }

    const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/runtime.md");

    /// docs/runtime.md's configuration table lists exactly the contract's settings, each
    /// with the contract's default.
    #[test]
    fn the_runtime_docs_list_exactly_the_contracts_settings() {
        let text = std::fs::read_to_string(DOCS).expect("docs/runtime.md");
        let problems = differences(&text);
        assert!(
            problems.is_empty(),
            "docs/runtime.md, configuration table:\n{}",
            problems.join("\n")
        );
    }

    /// The check catches a wrong default, a missing row and an unknown variable.
    #[test]
    fn the_docs_check_names_the_line_at_fault() {
        let text = std::fs::read_to_string(DOCS).expect("docs/runtime.md");
        let wrong_default = text.replacen(
            "| `RATES_DB_POOL_SIZE` | `10` |",
            "| `RATES_DB_POOL_SIZE` | `20` |",
            1,
        );
        let missing = text.replacen(
            "| `RATES_BATCH_MAX_ERRORS` |",
            "| `RATES_BATCH_MAX_ERORS` |",
            1,
        );
        assert_ne!(wrong_default, text);
        assert_ne!(missing, text);
        let problems = differences(&wrong_default).join("\n");
        assert!(
            problems.contains("`RATES_DB_POOL_SIZE` has default `20`; the contract's is `10`")
                && problems.starts_with("line "),
            "{problems}"
        );
        let problems = differences(&missing).join("\n");
        assert!(
            problems.contains("`RATES_BATCH_MAX_ERORS` is no setting")
                && problems.contains("`RATES_BATCH_MAX_ERRORS` (default `100`) is missing"),
            "{problems}"
        );
    }
}
