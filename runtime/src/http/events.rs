//! The outbox for operators: `GET /events` (newest first, by delivery state) and
//! `POST /events/{id}/redeliver`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use rates_contract::routes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorBody, Result};
use crate::events::record::{self, DeliveryState, EventView};
use crate::state::AppState;

use super::params;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(routes::EVENTS.path, get(list_events))
        .route(routes::EVENT_REDELIVER.path, post(redeliver_event))
}

/// Query parameters of `GET /events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct EventsQuery {
    /// Only events in this delivery state: pending, delivered or given_up.
    pub state: Option<String>,
    /// How many (newest first); 1 to 500, default 50.
    pub limit: Option<String>,
}

/// Batch outcome events, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventList {
    pub events: Vec<EventView>,
}

/// Batch outcome events and their delivery, newest first.
#[utoipa::path(get, path = "/events", tag = "batches", params(EventsQuery),
    responses(
        (status = 200, description = "Events", body = EventList),
        (status = 400, description = "A bad state or limit", body = ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn list_events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Result<Json<EventList>> {
    let delivery = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(DeliveryState::parse(raw).ok_or_else(|| {
            Error::invalid(
                "state",
                format!("`{raw}` is not a delivery state (pending, delivered, given_up)"),
            )
        })?),
    };
    let limit = params::limit(query.limit.as_deref())?;
    let events = record::list(state.batches.pool(), delivery, limit).await?;
    Ok(Json(EventList { events }))
}

/// Deliver an event again (after its receiver was fixed), with a fresh count of attempts.
#[utoipa::path(post, path = "/events/{id}/redeliver", tag = "batches",
    params(("id" = String, Path, description = "The event id (Rates-Event-Id)")),
    responses(
        (status = 202, description = "Queued for delivery", body = EventView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn redeliver_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<EventView>)> {
    let id = params::id(&id, "event")?;
    let event = record::redeliver(state.batches.pool(), id)
        .await?
        .ok_or_else(|| Error::NotFound {
            resource: "event",
            id: id.to_string(),
        })?;
    tracing::info!(event_id = %id, batch_id = %event.batch_id, "event handed back for delivery");
    Ok((StatusCode::ACCEPTED, Json(event)))
}
