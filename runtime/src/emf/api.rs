//! API metrics as CloudWatch EMF, aggregated per interval: `ApiRequests` and
//! `Api5xxErrors` (counts) and `ApiLatency` (milliseconds, as samples so CloudWatch can
//! compute percentiles) — what the api's 5xx-rate and p99-latency alarms read.
//!
//! One document per request would cost a log event per request; instead each request
//! only updates a small in-memory window, and every [`INTERVAL`] the window becomes a few
//! documents. Latencies are kept as a uniform random sample (reservoir sampling) of at
//! most [`MAX_SAMPLES`] per interval: every request while traffic is below that, an
//! unbiased sample above it. A document carries at most 100 values of a metric (the EMF
//! limit), so a full window is ten documents.
//!
//! Probe and scrape routes (`/healthz`, `/readyz`, `/metrics`) are left out: kubelet and
//! Prometheus are not clients, and `/readyz` answering 503 while a pod drains is not an
//! api failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use rates_contract::metrics::{API_5XX_ERRORS, API_LATENCY, API_REQUESTS};
use rates_contract::routes;
use serde_json::{json, Map};
use tokio_util::sync::CancellationToken;

use super::{Emf, EmfMetric, EmfSeries, MAX_SERIES_VALUES};

/// How often the window is written out: CloudWatch's standard resolution.
pub const INTERVAL: Duration = Duration::from_secs(60);
/// Latency samples kept per interval.
pub const MAX_SAMPLES: usize = 1000;

#[derive(Default)]
struct Window {
    requests: u64,
    errors_5xx: u64,
    /// The reservoir: a uniform sample of this window's latencies (ms).
    latencies_ms: Vec<f64>,
}

/// The per-process aggregator; cheap to clone.
#[derive(Clone)]
pub struct ApiEmf {
    emf: Emf,
    window: Arc<Mutex<Window>>,
}

impl ApiEmf {
    pub fn new(emf: Emf) -> ApiEmf {
        ApiEmf {
            emf,
            window: Arc::new(Mutex::new(Window::default())),
        }
    }

    /// Counts one answered request (`route` is the path template, or `unmatched`).
    pub fn record(&self, route: &str, status: u16, latency_ms: f64) {
        // Probes and scrapes (the contract's probe routes) are not client traffic.
        if routes::is_probe(route) {
            return;
        }
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        w.requests += 1;
        if status >= 500 {
            w.errors_5xx += 1;
        }
        // Algorithm R: the n-th request replaces a random kept sample with probability
        // MAX_SAMPLES / n, which keeps every request equally likely to be in the sample.
        if w.latencies_ms.len() < MAX_SAMPLES {
            w.latencies_ms.push(latency_ms);
        } else {
            let slot = rand::thread_rng().gen_range(0..w.requests);
            if let Some(kept) = w.latencies_ms.get_mut(slot as usize) {
                *kept = latency_ms;
            }
        }
    }

    /// Writes the window out as EMF documents and starts a new one. An idle window still
    /// reports zero requests, so dashboards and the 5xx-rate alarm see a quiet api as
    /// quiet rather than as missing.
    pub fn flush(&self) {
        let window = std::mem::take(&mut *self.window.lock().unwrap_or_else(|e| e.into_inner()));
        let mut chunks = window.latencies_ms.chunks(MAX_SERIES_VALUES);
        let props = |part: usize| {
            let mut props = Map::new();
            props.insert("message".into(), json!("api metrics"));
            props.insert("interval_seconds".into(), json!(INTERVAL.as_secs()));
            props.insert("part".into(), json!(part));
            props
        };
        let counts = [
            EmfMetric {
                metric: &API_REQUESTS,
                value: window.requests as f64,
            },
            EmfMetric {
                metric: &API_5XX_ERRORS,
                value: window.errors_5xx as f64,
            },
        ];
        let first: Vec<EmfSeries<'_>> = chunks
            .next()
            .map(|values| EmfSeries {
                metric: &API_LATENCY,
                values,
            })
            .into_iter()
            .collect();
        self.emf.emit_with_series(&counts, &first, props(1));
        for (i, values) in chunks.enumerate() {
            self.emf.emit_with_series(
                &[],
                &[EmfSeries {
                    metric: &API_LATENCY,
                    values,
                }],
                props(i + 2),
            );
        }
    }
}

/// Writes the window out every [`INTERVAL`] until shutdown; the last window is written
/// by the shutdown path (after the server drained), not here.
pub async fn run(api: ApiEmf, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + INTERVAL, INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => api.flush(),
        }
    }
}
