//! Reading the outbox and handing an event back for delivery: what operators see at
//! `GET /events` and do with `POST /events/{id}/redeliver`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::{DbContext, Error, Result};

/// Where an event is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet; being tried.
    Pending,
    Delivered,
    /// Every attempt failed; kept until redelivered.
    GivenUp,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::Delivered,
        DeliveryState::GivenUp,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::GivenUp => "given_up",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        DeliveryState::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One event and its delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: Uuid,
    pub batch_id: Uuid,
    /// The batch's final status: committed, rejected or failed.
    pub status: String,
    pub state: DeliveryState,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub given_up_at: Option<DateTime<Utc>>,
    /// What was (or will be) sent.
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
}

const STATE_SQL: &str = "CASE WHEN delivered_at IS NOT NULL THEN 'delivered'
                              WHEN given_up_at IS NOT NULL THEN 'given_up'
                              ELSE 'pending' END";

fn view(row: &sqlx::postgres::PgRow) -> Result<EventView> {
    let state: String = row.get("state");
    Ok(EventView {
        id: row.get("id"),
        batch_id: row.get("batch_id"),
        status: row.get("status"),
        state: DeliveryState::parse(&state)
            .ok_or_else(|| Error::Other(format!("unknown delivery state `{state}`")))?,
        attempts: row.get("attempts"),
        last_error: row.get("last_error"),
        created_at: row.get("created_at"),
        delivered_at: row.get("delivered_at"),
        given_up_at: row.get("given_up_at"),
        body: row.get("body"),
    })
}

/// The newest `limit` events, optionally in one delivery state.
pub async fn list(
    pool: &PgPool,
    state: Option<DeliveryState>,
    limit: i64,
) -> Result<Vec<EventView>> {
    let rows = sqlx::query(&format!(
        "SELECT id, batch_id, status, attempts, last_error, created_at, delivered_at,
                given_up_at, body, {STATE_SQL} AS state
         FROM batch_events
         WHERE $1::text IS NULL OR {STATE_SQL} = $1
         ORDER BY created_at DESC, id DESC
         LIMIT $2"
    ))
    .bind(state.map(|s| s.as_str()))
    .bind(limit)
    .fetch_all(pool)
    .await
    .db("listing events")?;
    rows.iter().map(view).collect()
}

/// Hands event `id` back for delivery now, with a fresh count of attempts (a given-up
/// event after its receiver was fixed; a delivered one a receiver lost). None when
/// there is no such event.
pub async fn redeliver(pool: &PgPool, id: Uuid) -> Result<Option<EventView>> {
    let row = sqlx::query(&format!(
        "UPDATE batch_events
         SET delivered_at = NULL, given_up_at = NULL, attempts = 0, last_error = NULL,
             next_attempt_at = clock_timestamp()
         WHERE id = $1
         RETURNING id, batch_id, status, attempts, last_error, created_at, delivered_at,
                   given_up_at, body, {STATE_SQL} AS state"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .db("handing an event back for delivery")?;
    row.as_ref().map(view).transpose()
}
