//! A small client for the local api: readiness, batch upload and status, metrics.

use std::path::Path;
use std::time::Duration;

use rates_contract::routes;
use serde_json::Value;

use crate::{Error, Result};

/// Talks to the api at `base` (e.g. `http://127.0.0.1:40123`). envctl's commands are
/// synchronous; the client runs its requests on a private single-threaded runtime.
pub(super) struct ApiClient {
    base: String,
    http: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

/// A batch as the api describes it (`GET /batches/{id}`, `GET /batches`).
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct BatchInfo {
    pub id: String,
    pub status: String,
    /// The whole JSON document, for fields envctl does not interpret (rows, errors, times).
    pub raw: Value,
}

impl BatchInfo {
    fn parse(value: Value) -> Option<BatchInfo> {
        let id = match &value["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let status = value["status"].as_str().unwrap_or("unknown").to_string();
        Some(BatchInfo {
            id,
            status,
            raw: value,
        })
    }

    /// Whether the batch reached a final state (committed, rejected or failed).
    pub(super) fn is_final(&self) -> bool {
        rates_contract::BatchStatus::parse(&self.status).is_some_and(|s| s.is_final())
    }
}

impl ApiClient {
    /// `token` goes on every request as the bearer token (probes need none).
    pub(super) fn new(base: &str, token: Option<&str>) -> Result<ApiClient> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::io("starting the HTTP client runtime"))?;
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| local("the API token is not a valid header value".into()))?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(Duration::from_secs(120))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| local(format!("building the HTTP client: {e}")))?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_string(),
            http,
            runtime,
        })
    }

    pub(super) fn base(&self) -> &str {
        &self.base
    }

    /// The status code of `GET path`, or the connection error as text.
    pub(super) fn probe(&self, path: &str) -> std::result::Result<u16, String> {
        let url = format!("{}{path}", self.base);
        self.runtime.block_on(async {
            self.http
                .get(&url)
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| root_cause(&e))
        })
    }

    /// `GET /metrics` as text.
    pub(super) fn metrics(&self) -> Result<String> {
        let url = format!("{}{}", self.base, routes::METRICS.path);
        self.runtime.block_on(async {
            let response = self
                .http
                .get(&url)
                .send()
                .await
                .map_err(|e| request_failed(&url, &e))?;
            let status = response.status();
            let body = response
                .text()
                .await
                .map_err(|e| request_failed(&url, &e))?;
            if !status.is_success() {
                return Err(local(format!("GET {url}: {status}: {body}")));
            }
            Ok(body)
        })
    }

    /// Posts a batch file (CSV) with an idempotency key; the same key returns the same batch.
    pub(super) fn post_batch(&self, file: &Path, idempotency_key: &str) -> Result<BatchInfo> {
        let url = format!("{}{}", self.base, routes::BATCHES.path);
        let body = std::fs::read(file).map_err(Error::io(format!("reading {}", file.display())))?;
        self.runtime.block_on(async {
            let response = self
                .http
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "text/csv")
                .header("Idempotency-Key", idempotency_key)
                .body(body)
                .send()
                .await
                .map_err(|e| request_failed(&url, &e))?;
            let status = response.status();
            let text = response
                .text()
                .await
                .map_err(|e| request_failed(&url, &e))?;
            if !status.is_success() {
                return Err(local(format!("POST {url} answered {status}: {text}")));
            }
            serde_json::from_str(&text)
                .ok()
                .and_then(BatchInfo::parse)
                .ok_or_else(|| {
                    local(format!(
                        "POST {url} answered {status} without a batch id: {text}"
                    ))
                })
        })
    }

    /// `GET /batches/{id}`.
    pub(super) fn batch(&self, id: &str) -> Result<BatchInfo> {
        let url = format!("{}{}", self.base, routes::batch_path(id));
        let value = self.get_json(&url)?;
        BatchInfo::parse(value.clone())
            .ok_or_else(|| local(format!("GET {url}: unexpected answer {value}")))
    }

    /// `GET /batches?limit=N`: the most recent batches.
    pub(super) fn recent_batches(&self, limit: usize) -> Result<Vec<BatchInfo>> {
        let url = format!("{}{}?limit={limit}", self.base, routes::BATCHES.path);
        let value = self.get_json(&url)?;
        let items = match value {
            Value::Array(items) => items,
            Value::Object(mut obj) => match obj.remove("batches").or_else(|| obj.remove("items")) {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(local(format!(
                        "GET {url}: no list of batches in the answer"
                    )))
                }
            },
            other => return Err(local(format!("GET {url}: unexpected answer {other}"))),
        };
        Ok(items.into_iter().filter_map(BatchInfo::parse).collect())
    }

    fn get_json(&self, url: &str) -> Result<Value> {
        self.runtime.block_on(async {
            let response = self
                .http
                .get(url)
                .send()
                .await
                .map_err(|e| request_failed(url, &e))?;
            let status = response.status();
            let text = response.text().await.map_err(|e| request_failed(url, &e))?;
            if !status.is_success() {
                return Err(local(format!("GET {url} answered {status}: {text}")));
            }
            serde_json::from_str(&text)
                .map_err(|e| local(format!("GET {url}: invalid JSON ({e}): {text}")))
        })
    }
}

/// The queue depth from Prometheus text: the sum of the samples of the first metric whose
/// name mentions the queue depth (labels, e.g. per status, are added up).
pub(super) fn queue_depth(metrics: &str) -> Option<f64> {
    let mut name: Option<&str> = None;
    let mut total = None;
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (series, value) = line.rsplit_once(' ')?;
        let metric = series.split('{').next().unwrap_or(series);
        let wanted = match name {
            Some(n) => metric == n,
            None if metric.contains("queue_depth") => {
                name = Some(metric);
                true
            }
            None => false,
        };
        if wanted {
            if let Ok(v) = value.trim().parse::<f64>() {
                *total.get_or_insert(0.0) += v;
            }
        }
    }
    total
}

fn local(message: String) -> Error {
    Error::Local {
        message,
        help: None,
    }
}

fn request_failed(url: &str, e: &reqwest::Error) -> Error {
    local(format!("request to {url} failed: {}", root_cause(e)))
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_depth_adds_up_the_labelled_samples_of_one_metric() {
        let text = "# HELP rates_batch_queue_depth Jobs waiting\n\
                    # TYPE rates_batch_queue_depth gauge\n\
                    rates_batch_queue_depth{state=\"queued\"} 3\n\
                    rates_batch_queue_depth{state=\"processing\"} 1\n\
                    rates_http_requests_total{route=\"/rates\"} 12\n";
        assert_eq!(queue_depth(text), Some(4.0));
        assert_eq!(queue_depth("rates_http_requests_total 1\n"), None);
    }

    #[test]
    fn batch_ids_may_be_strings_or_numbers() {
        let b = BatchInfo::parse(serde_json::json!({"id": 7, "status": "queued"})).unwrap();
        assert_eq!((b.id.as_str(), b.status.as_str()), ("7", "queued"));
        assert!(BatchInfo::parse(serde_json::json!({"status": "queued"})).is_none());
    }
}
