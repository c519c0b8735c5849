//! The batch endpoints: upload (`POST /batches`), one batch (`GET /batches/{id}`)
//! and recent batches (`GET /batches?status=&limit=`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use rates_contract::routes;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Client;
use crate::batch::payload::Format;
use crate::batch::record::{self, status_url, BatchView, Cursor, ListFilter, Source};
use crate::batch::status::BatchStatus;
use crate::batch::upload::Uploaded;
use crate::error::{Error, ErrorBody, Result};
use crate::state::AppState;

use super::params;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(routes::BATCHES.path, post(create_batch).get(list_batches))
        .route(routes::BATCH.path, get(get_batch))
}

/// The OpenAPI paths and schemas of the batch routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(create_batch, get_batch, list_batches, super::events::list_events, super::events::redeliver_event),
    components(schemas(
        BatchAccepted,
        BatchView,
        crate::batch::record::BatchClient,
        BatchStatus,
        crate::batch::record::Source,
        crate::batch::price_row::RowError,
        BatchList,
        super::events::EventList,
        crate::events::record::EventView,
        crate::events::record::DeliveryState,
    )),
    tags((name = "batches", description = "Upload price batches and follow them to commit"))
)]
pub(super) struct BatchApi;

/// The longest accepted Idempotency-Key.
pub const MAX_KEY_LEN: usize = 255;

/// The answer to an accepted upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchAccepted {
    pub id: Uuid,
    /// Always `queued`.
    pub status: BatchStatus,
    /// Poll this for the outcome.
    pub status_url: String,
}

/// Uploads a batch of prices (CSV with header `orig_code,dest_code,day,price`,
/// or NDJSON with one `{"orig_code","dest_code","day","price"}` per line).
/// The batch is staged durably and queued before the answer; a worker then
/// commits it whole or rejects it whole.
#[utoipa::path(post, path = "/batches", tag = "batches",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Names the batch: a repeat with the same content returns the existing batch (200), with other content 409. Up to 255 visible ASCII characters.")),
    request_body(content = String, description = "The payload: text/csv or application/x-ndjson", content_type = "text/csv"),
    responses(
        (status = 202, description = "Staged and queued", body = BatchAccepted,
            headers(("Location" = String, description = "The status URL"))),
        (status = 200, description = "The batch this Idempotency-Key already names (same content)", body = BatchView),
        (status = 400, description = "Empty body or bad Idempotency-Key", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key names a batch with other content", body = ErrorBody),
        (status = 413, description = "Larger than RATES_MAX_BATCH_BYTES", body = ErrorBody),
        (status = 415, description = "Content-Type is not text/csv or application/x-ndjson", body = ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn create_batch(
    State(state): State<AppState>,
    client: Option<Extension<Client>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response> {
    let format = content_format(&headers)?;
    let key = idempotency_key(&headers)?;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let body = body.into_data_stream();
    let client = client.map(|Extension(c)| c.id);
    match state
        .batches
        .upload(client, format, key, declared_length, body)
        .await?
    {
        Uploaded::Accepted(id) => {
            let url = status_url(id);
            Ok((
                StatusCode::ACCEPTED,
                [(header::LOCATION, url.clone())],
                Json(BatchAccepted {
                    id,
                    status: BatchStatus::Queued,
                    status_url: url,
                }),
            )
                .into_response())
        }
        Uploaded::Existing(view) => Ok((
            StatusCode::OK,
            [(header::LOCATION, view.status_url.clone())],
            Json(*view),
        )
            .into_response()),
    }
}

/// A batch's status: queued, processing, committed, rejected or failed, with
/// its row count, timings and (rejected) the first errors by line.
#[utoipa::path(get, path = "/batches/{id}", tag = "batches",
    params(("id" = String, Path, description = "The batch id (a UUID)")),
    responses(
        (status = 200, description = "The batch", body = BatchView),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such batch", body = ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn get_batch(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<BatchView>> {
    let id = params::id(&id, "batch")?;
    record::get(state.batches.pool(), id)
        .await?
        .map(Json)
        .ok_or_else(|| Error::NotFound {
            resource: "batch",
            id: id.to_string(),
        })
}

/// Query parameters of `GET /batches`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    /// Only batches with this status: queued, processing, committed, rejected or failed.
    pub status: Option<String>,
    /// Only batches from this source: upload or object_drop.
    pub source: Option<String>,
    /// Only batches created at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
    pub created_from: Option<String>,
    /// Only batches created before this time (RFC 3339).
    pub created_before: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// How many (newest first); 1 to 500, default 50.
    pub limit: Option<String>,
}

/// A page of batches, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchList {
    pub batches: Vec<BatchView>,
    /// Pass as `cursor` (with the same filters) for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Batches newest first, filtered by status, source and creation time, a page at a
/// time (cursor pagination).
#[utoipa::path(get, path = "/batches", tag = "batches",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of batches", body = BatchList),
        (status = 400, description = "A bad filter, cursor or limit; the parameter is named", body = ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn list_batches(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<BatchList>> {
    let given = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let status = match given(&query.status) {
        None => None,
        Some(raw) => Some(BatchStatus::parse(&raw).ok_or_else(|| {
            let known: Vec<&str> = rates_contract::BatchStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect();
            Error::invalid(
                "status",
                format!("`{raw}` is not a batch status ({})", known.join(", ")),
            )
        })?),
    };
    let source = match given(&query.source) {
        None => None,
        Some(raw) => Some(Source::parse(&raw).ok_or_else(|| {
            Error::invalid(
                "source",
                format!("`{raw}` is not a source (upload, object_drop)"),
            )
        })?),
    };
    let time = |name: &'static str, value: Option<String>| {
        value
            .map(|raw| {
                DateTime::parse_from_rfc3339(&raw)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        Error::invalid(
                            name,
                            format!("`{raw}` is not an RFC 3339 time (e.g. 2026-12-01T00:00:00Z)"),
                        )
                    })
            })
            .transpose()
    };
    let created_from = time("created_from", given(&query.created_from))?;
    let created_before = time("created_before", given(&query.created_before))?;
    let after = match given(&query.cursor) {
        None => None,
        Some(raw) => Some(Cursor::decode(&raw).ok_or_else(|| {
            Error::invalid(
                "cursor",
                "is not a cursor this service gave (next_cursor of a page)",
            )
        })?),
    };
    let limit = params::limit(query.limit.as_deref())?;
    let filter = ListFilter {
        status,
        source,
        created_from,
        created_before,
        after,
    };
    let (batches, next) = record::list(state.batches.pool(), &filter, limit).await?;
    Ok(Json(BatchList {
        batches,
        next_cursor: next.map(|c| c.encode()),
    }))
}

fn content_format(headers: &HeaderMap) -> Result<Format> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(Error::UnsupportedMediaType {
            content_type: String::new(),
            expected: "text/csv or application/x-ndjson",
        });
    };
    let text = value.to_str().unwrap_or("");
    Format::from_content_type(text).ok_or_else(|| Error::UnsupportedMediaType {
        content_type: text.to_string(),
        expected: "text/csv or application/x-ndjson (charset utf-8)",
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = |why: &str| Error::invalid("Idempotency-Key", why.to_string());
    let text = value
        .to_str()
        .map_err(|_| invalid("must be visible ASCII"))?
        .trim();
    if text.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if text.len() > MAX_KEY_LEN {
        return Err(invalid(&format!(
            "must be at most {MAX_KEY_LEN} characters"
        )));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("must be visible ASCII without spaces"));
    }
    Ok(Some(text.to_string()))
}
