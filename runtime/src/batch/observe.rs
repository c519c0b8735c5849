//! What the ingestion side reports: Prometheus metrics (on the app's registry,
//! served at /metrics) and the same numbers as CloudWatch EMF log lines.

use rates_contract::metrics as m;
use serde_json::{json, Map};
use uuid::Uuid;

use super::status::BatchStatus;
use crate::emf::{Emf, EmfMetric};
use crate::metrics::Metrics;

/// Records batch outcomes and queue state.
#[derive(Clone)]
pub struct BatchObserver {
    metrics: Metrics,
    emf: Emf,
}

impl BatchObserver {
    pub fn new(metrics: Metrics, emf: Emf) -> BatchObserver {
        BatchObserver { metrics, emf }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Where the EMF documents go (flushed at shutdown).
    pub fn emf(&self) -> &Emf {
        &self.emf
    }

    /// A batch reached a final status.
    pub fn finished(&self, id: Uuid, status: BatchStatus, rows: u64, seconds: f64) {
        let status_label = [("status", status.as_str().to_string())];
        self.metrics
            .increment_counter("rates_batches_total", &status_label, 1);
        self.metrics
            .record_histogram("rates_batch_duration_seconds", &status_label, seconds);
        let mut emf_metrics = vec![
            EmfMetric {
                metric: match status {
                    BatchStatus::Committed => &m::BATCHES_COMMITTED,
                    BatchStatus::Rejected => &m::BATCHES_REJECTED,
                    _ => &m::BATCHES_FAILED,
                },
                value: 1.0,
            },
            EmfMetric {
                metric: &m::BATCH_DURATION,
                value: seconds,
            },
        ];
        if status == BatchStatus::Committed {
            let per_second = if seconds > 0.0 {
                rows as f64 / seconds
            } else {
                0.0
            };
            self.metrics
                .increment_counter("rates_batch_rows_ingested_total", &[], rows);
            self.metrics
                .record_histogram("rates_batch_rows_per_second", &[], per_second);
            emf_metrics.push(EmfMetric {
                metric: &m::ROWS_INGESTED,
                value: rows as f64,
            });
            emf_metrics.push(EmfMetric {
                metric: &m::ROWS_PER_SECOND,
                value: per_second,
            });
        }
        let mut props = Map::new();
        props.insert("message".into(), json!("batch metrics"));
        props.insert("batch_id".into(), json!(id.to_string()));
        props.insert("status".into(), json!(status.as_str()));
        self.emf.emit(&emf_metrics, props);
    }

    /// A failed attempt that will be retried.
    pub fn retried(&self) {
        self.metrics
            .increment_counter("rates_batch_retries_total", &[], 1);
    }

    /// The queue's depth and the age of its oldest batch.
    pub fn queue(&self, depth: i64, oldest_seconds: f64) {
        self.metrics
            .set_gauge("rates_batch_queue_depth", &[], depth as f64);
        self.metrics
            .set_gauge("rates_batch_oldest_queued_age_seconds", &[], oldest_seconds);
        let mut props = Map::new();
        props.insert("message".into(), json!("queue metrics"));
        self.emf.emit(
            &[
                EmfMetric {
                    metric: &m::QUEUE_DEPTH,
                    value: depth as f64,
                },
                EmfMetric {
                    metric: &m::OLDEST_QUEUED_AGE,
                    value: oldest_seconds,
                },
            ],
            props,
        );
    }
}
