//! The CloudWatch metrics the runtime emits as Embedded Metric Format documents, under the
//! namespace `RATES_METRICS_NAMESPACE` (a profile setting, so not part of this contract).
//!
//! The runtime can emit only these (its EMF writer takes a [`Metric`], not a name); envctl's
//! alarms and dashboard take their metric names from here, and a test fails when one of
//! them reads a metric of the runtime's namespace that is not listed, or with other
//! dimensions. Another test drives the runtime and checks it emits exactly [`ALL`].

/// A metric the runtime emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    /// The CloudWatch metric name.
    pub name: &'static str,
    /// The unit every value is sent with.
    pub unit: Unit,
    /// The dimensions every value is sent with.
    pub dimensions: Dimensions,
    /// Which process writes it, and when.
    pub emitted_by: Emitter,
    /// What it counts or measures, in one line.
    pub meaning: &'static str,
}

/// A CloudWatch unit (the `StandardUnit` names of the PutMetricData API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
    CountPerSecond,
}

impl Unit {
    /// The unit as CloudWatch spells it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
            Unit::CountPerSecond => "Count/Second",
        }
    }
}

/// The dimension sets a metric is emitted with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimensions {
    /// One set: exactly the deployment's dimensions, the names (and values) of
    /// `RATES_METRICS_DIMENSIONS` (envctl writes the profile's `Environment=...,...`).
    /// An alarm must name all of them with the same values, or it reads nothing.
    Deployment,
}

impl Dimensions {
    /// The dimension sets, as lists of names, given the deployment's dimension names.
    pub fn sets(self, deployment: &[&str]) -> Vec<Vec<String>> {
        match self {
            Dimensions::Deployment => vec![deployment.iter().map(|d| d.to_string()).collect()],
        }
    }
}

/// Which part of the runtime emits a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emitter {
    /// The api, once per interval (a minute) per process, whatever the traffic.
    Api,
    /// A worker, once per batch that becomes final.
    BatchOutcome,
    /// A worker, once per committed batch.
    BatchCommitted,
    /// A worker, each time it samples the queue (every 15 seconds).
    QueueSample,
    /// The outbox's deliverer (every process that delivers events).
    Outbox,
}

const fn metric(
    name: &'static str,
    unit: Unit,
    emitted_by: Emitter,
    meaning: &'static str,
) -> Metric {
    Metric {
        name,
        unit,
        dimensions: Dimensions::Deployment,
        emitted_by,
        meaning,
    }
}

/// API requests answered (probes and scrapes left out, see `routes::Route::probe`).
pub const API_REQUESTS: Metric = metric(
    "ApiRequests",
    Unit::Count,
    Emitter::Api,
    "api requests answered in the interval (probes and scrapes left out)",
);
/// API requests answered with a 5xx status.
pub const API_5XX_ERRORS: Metric = metric(
    "Api5xxErrors",
    Unit::Count,
    Emitter::Api,
    "api requests answered with a 5xx status in the interval",
);
/// API latency samples, so CloudWatch computes percentiles across processes.
pub const API_LATENCY: Metric = metric(
    "ApiLatency",
    Unit::Milliseconds,
    Emitter::Api,
    "api request latencies, a uniform sample of at most 1,000 per interval",
);
/// Batches committed.
pub const BATCHES_COMMITTED: Metric = metric(
    "BatchesCommitted",
    Unit::Count,
    Emitter::BatchOutcome,
    "1 per batch that committed",
);
/// Batches rejected for bad data.
pub const BATCHES_REJECTED: Metric = metric(
    "BatchesRejected",
    Unit::Count,
    Emitter::BatchOutcome,
    "1 per batch rejected for errors in its data",
);
/// Batches failed after their retries.
pub const BATCHES_FAILED: Metric = metric(
    "BatchesFailed",
    Unit::Count,
    Emitter::BatchOutcome,
    "1 per batch parked as failed after its attempts ran out",
);
/// How long a batch took from claim to final status.
pub const BATCH_DURATION: Metric = metric(
    "BatchDuration",
    Unit::Seconds,
    Emitter::BatchOutcome,
    "seconds from a batch's claim to its final status",
);
/// Rows a committed batch inserted.
pub const ROWS_INGESTED: Metric = metric(
    "RowsIngested",
    Unit::Count,
    Emitter::BatchCommitted,
    "rows a committed batch inserted",
);
/// A committed batch's throughput.
pub const ROWS_PER_SECOND: Metric = metric(
    "RowsPerSecond",
    Unit::CountPerSecond,
    Emitter::BatchCommitted,
    "a committed batch's rows per second",
);
/// Batches waiting.
pub const QUEUE_DEPTH: Metric = metric(
    "QueueDepth",
    Unit::Count,
    Emitter::QueueSample,
    "batches queued, waiting for a worker",
);
/// The oldest waiting batch's age.
pub const OLDEST_QUEUED_AGE: Metric = metric(
    "OldestQueuedAge",
    Unit::Seconds,
    Emitter::QueueSample,
    "age of the oldest queued batch",
);

/// Every metric the runtime emits.
/// Age of the oldest batch outcome event not yet delivered (0 when none waits).
pub const OLDEST_UNDELIVERED_EVENT_AGE: Metric = metric(
    "OldestUndeliveredEventAge",
    Unit::Seconds,
    Emitter::Outbox,
    "seconds the oldest undelivered batch outcome event has waited, sampled every minute by each deliverer",
);
/// Events given up on after their delivery attempts.
pub const EVENTS_GIVEN_UP: Metric = metric(
    "EventsGivenUp",
    Unit::Count,
    Emitter::Outbox,
    "1 per batch outcome event given up after RATES_WEBHOOK_MAX_ATTEMPTS failed deliveries",
);

pub const ALL: &[Metric] = &[
    API_REQUESTS,
    API_5XX_ERRORS,
    API_LATENCY,
    BATCHES_COMMITTED,
    BATCHES_REJECTED,
    BATCHES_FAILED,
    BATCH_DURATION,
    ROWS_INGESTED,
    ROWS_PER_SECOND,
    QUEUE_DEPTH,
    OLDEST_QUEUED_AGE,
    OLDEST_UNDELIVERED_EVENT_AGE,
    EVENTS_GIVEN_UP,
];

/// The metric named `name`, if the runtime emits one.
pub fn find(name: &str) -> Option<&'static Metric> {
    ALL.iter().find(|m| m.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_valid_cloudwatch_metric_names() {
        for (i, m) in ALL.iter().enumerate() {
            // CloudWatch: 1-255 characters; EMF documents carry them as JSON keys too,
            // which must not clash with `_aws` or a dimension.
            assert!(
                (1..=255).contains(&m.name.len())
                    && m.name.chars().all(|c| c.is_ascii_alphanumeric()),
                "{}",
                m.name
            );
            assert!(ALL[i + 1..].iter().all(|o| o.name != m.name), "{}", m.name);
            assert_eq!(find(m.name), Some(m));
        }
        assert_eq!(
            API_LATENCY.dimensions.sets(&["Environment", "Service"]),
            [["Environment", "Service"]]
        );
        assert_eq!(ROWS_PER_SECOND.unit.as_str(), "Count/Second");
    }
}
