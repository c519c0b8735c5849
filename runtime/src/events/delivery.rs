//! Delivering outbox events to the webhook and the SNS topic: at least once, webhook
//! posts signed, retried with exponential backoff, given up on (and kept) after
//! `RATES_WEBHOOK_MAX_ATTEMPTS`. An event counts as delivered once every configured
//! destination took it (a retry may repeat it to one that already had it).
//!
//! A deliverer claims due events with a short lease (`FOR UPDATE SKIP LOCKED`, then
//! `next_attempt_at` moved a minute ahead) and posts them outside any transaction, so
//! several processes deliver side by side and a slow receiver holds no database lock.
//! A process killed after posting and before recording it leaves the lease to expire:
//! the receiver gets the event again, with the same `Rates-Event-Id`.
//!
//! Every post carries `Rates-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" with RATES_WEBHOOK_SECRET>`: a receiver recomputes it and refuses an old
//! `t`, so a captured event cannot be replayed later.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::{PgPool, Row};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use rates_contract::metrics as m;
use serde_json::{json, Map};

use super::settings::EventSettings;
use crate::emf::{Emf, EmfMetric};
use crate::error::{DbContext, Result};
use crate::metrics::Metrics;

/// How long a claimed event is kept from other deliverers while one posts it.
const LEASE: Duration = Duration::from_secs(60);
/// How long one post may take.
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Events claimed at once.
const BATCH: i64 = 16;
/// How often an idle deliverer looks for due events.
const POLL: Duration = Duration::from_secs(1);
/// How often the oldest undelivered event's age goes to CloudWatch (the alarm's period
/// is a minute at least; more would only cost).
const SAMPLE: Duration = Duration::from_secs(60);

/// The signature header of `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The wait before attempt `attempt + 1` after `attempt` failed ones: 1 s doubling, at
/// most 10 minutes.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.saturating_sub(1).min(10)).min(600))
}

/// Delivers the outbox to the configured destinations.
#[derive(Clone)]
pub struct Deliverer {
    pool: PgPool,
    client: reqwest::Client,
    settings: EventSettings,
    metrics: Metrics,
    emf: Emf,
    sns: Option<aws_sdk_sns::Client>,
}

impl Deliverer {
    pub fn new(pool: PgPool, settings: EventSettings, metrics: Metrics, emf: Emf) -> Deliverer {
        let client = reqwest::Client::builder()
            .timeout(POST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with a timeout builds");
        Deliverer {
            pool,
            client,
            settings,
            metrics,
            emf,
            sns: None,
        }
    }

    /// Delivers until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        if self.settings.topic_arn.is_some() {
            let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            self.sns = Some(aws_sdk_sns::Client::new(&sdk));
        }
        tracing::info!(
            webhook = self.settings.webhook.as_ref().map(|w| w.to_string()),
            topic = self.settings.topic_arn.as_deref(),
            "delivering batch outcome events"
        );
        let mut sampled: Option<std::time::Instant> = None;
        loop {
            let delivered = match self.deliver_due().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "could not deliver batch events; trying again shortly");
                    0
                }
            };
            let emit = sampled.is_none_or(|at| at.elapsed() >= SAMPLE);
            self.observe(emit).await;
            if emit {
                sampled = Some(std::time::Instant::now());
            }
            if delivered == 0 {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(POLL) => {}
                }
            } else if shutdown.is_cancelled() {
                return;
            }
        }
    }

    /// Claims the due events, posts each, records the outcomes. Returns how many were
    /// claimed.
    pub async fn deliver_due(&self) -> Result<usize> {
        let claimed = sqlx::query(
            "UPDATE batch_events SET next_attempt_at = clock_timestamp() + make_interval(secs => $2)
             WHERE id IN (
                 SELECT id FROM batch_events
                 WHERE delivered_at IS NULL AND given_up_at IS NULL
                   AND next_attempt_at <= clock_timestamp()
                 ORDER BY next_attempt_at, id
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED)
             RETURNING id, status, body::text AS body, attempts",
        )
        .bind(BATCH)
        .bind(LEASE.as_secs_f64())
        .fetch_all(&self.pool)
        .await
        .db("claiming batch events")?;
        for row in &claimed {
            let id: Uuid = row.get("id");
            let status: String = row.get("status");
            let body: String = row.get("body");
            let attempts = row.get::<i32, _>("attempts") as u32 + 1;
            match self.send(id, &status, body).await {
                Ok(()) => {
                    sqlx::query(
                        "UPDATE batch_events SET delivered_at = clock_timestamp(), attempts = $2,
                                last_error = NULL
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(attempts as i32)
                    .execute(&self.pool)
                    .await
                    .db("recording a delivered event")?;
                    self.metrics
                        .increment_counter("rates_events_delivered_total", &[], 1);
                }
                Err(error) => {
                    let give_up = attempts >= self.settings.max_attempts;
                    sqlx::query(
                        "UPDATE batch_events SET attempts = $2, last_error = $3,
                                next_attempt_at = clock_timestamp() + make_interval(secs => $4),
                                given_up_at = CASE WHEN $5 THEN clock_timestamp() END
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(attempts as i32)
                    .bind(&error)
                    .bind(backoff(attempts).as_secs_f64())
                    .bind(give_up)
                    .execute(&self.pool)
                    .await
                    .db("recording a failed delivery")?;
                    if give_up {
                        self.metrics
                            .increment_counter("rates_events_given_up_total", &[], 1);
                        let mut props = Map::new();
                        props.insert("message".into(), json!("event given up"));
                        props.insert("event_id".into(), json!(id.to_string()));
                        self.emf.emit(
                            &[EmfMetric {
                                metric: &m::EVENTS_GIVEN_UP,
                                value: 1.0,
                            }],
                            props,
                        );
                        tracing::error!(event_id = %id, attempts, error, "gave up delivering a batch event; it is kept in batch_events");
                    } else {
                        tracing::warn!(event_id = %id, attempts, error, "batch event delivery failed; it will be retried");
                    }
                }
            }
        }
        Ok(claimed.len())
    }

    /// Sends one event to every destination; the first failure is the attempt's error.
    async fn send(&self, id: Uuid, status: &str, body: String) -> std::result::Result<(), String> {
        if let (Some(sns), Some(topic)) = (&self.sns, &self.settings.topic_arn) {
            self.publish(sns, topic, id, status, &body).await?;
        }
        if self.settings.webhook.is_some() {
            self.post(id, status, body).await?;
        }
        Ok(())
    }

    /// Publishes to the topic, with `status` and `type` as message attributes so
    /// subscriptions can filter (e.g. only `rejected`).
    async fn publish(
        &self,
        sns: &aws_sdk_sns::Client,
        topic: &str,
        id: Uuid,
        status: &str,
        body: &str,
    ) -> std::result::Result<(), String> {
        use aws_sdk_sns::types::MessageAttributeValue;
        let attribute = |value: String| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| format!("building a message attribute: {e}"))
        };
        sns.publish()
            .topic_arn(topic)
            .message(body)
            .message_attributes("status", attribute(status.to_string())?)
            .message_attributes("type", attribute(format!("batch.{status}"))?)
            .message_attributes("event_id", attribute(id.to_string())?)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "publishing to SNS: {}",
                    aws_sdk_sns::error::DisplayErrorContext(&e)
                )
            })?;
        Ok(())
    }

    async fn post(&self, id: Uuid, status: &str, body: String) -> std::result::Result<(), String> {
        let Some(webhook) = &self.settings.webhook else {
            return Ok(());
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let signature = signature(&webhook.secret, timestamp, body.as_bytes());
        let response = self
            .client
            .post(&webhook.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Rates-Event-Id", id.to_string())
            .header("Rates-Event-Type", format!("batch.{status}"))
            .header("Rates-Signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("posting: {}", without_url(&e)))?;
        let code = response.status();
        if code.is_success() {
            Ok(())
        } else {
            Err(format!("the webhook answered {code}"))
        }
    }

    /// Publishes the age of the oldest undelivered event (to CloudWatch when `emit`).
    async fn observe(&self, emit: bool) {
        let oldest: std::result::Result<f64, _> = sqlx::query_scalar(
            "SELECT coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)::float8
             FROM batch_events WHERE delivered_at IS NULL AND given_up_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await;
        if let Ok(oldest) = oldest {
            self.metrics
                .set_gauge("rates_events_oldest_undelivered_seconds", &[], oldest);
            if emit {
                let mut props = Map::new();
                props.insert("message".into(), json!("outbox metrics"));
                self.emf.emit(
                    &[EmfMetric {
                        metric: &m::OLDEST_UNDELIVERED_EVENT_AGE,
                        value: oldest,
                    }],
                    props,
                );
            }
        }
    }
}

/// A reqwest error's text without its URL (which may carry credentials).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "the webhook");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently, with OpenSSL:
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'secret-key-0123456789'
        assert_eq!(
            signature("secret-key-0123456789", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=95a94f8e9919abdf552708a6c1d5604116ad2a78af755c3113cf47afa01d92f2"
        );
    }

    #[test]
    fn backoff_doubles_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(16));
        assert_eq!(backoff(30), Duration::from_secs(600));
    }
}
