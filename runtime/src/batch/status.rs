//! The status endpoints: one batch (`GET /batches/{id}`) and recent batches
//! (`GET /batches?status=&limit=`).

use axum::extract::{Path, Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::record::{self, BatchStatus, BatchView};
use super::Ingest;
use crate::error::{Error, Result};

/// The most batches one list returns.
pub const MAX_LIMIT: i64 = 500;
const DEFAULT_LIMIT: i64 = 50;

/// A batch's status: queued, processing, committed, rejected or failed, with
/// its row count, timings and (rejected) the first errors by line.
#[utoipa::path(get, path = "/batches/{id}", tag = "batches",
    params(("id" = String, Path, description = "The batch id (a UUID)")),
    responses(
        (status = 200, description = "The batch", body = BatchView),
        (status = 400, description = "The id is not a UUID", body = crate::error::ErrorBody),
        (status = 404, description = "No such batch", body = crate::error::ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn get_batch(
    State(ingest): State<Ingest>,
    Path(id): Path<String>,
) -> Result<Json<BatchView>> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| Error::invalid("id", format!("`{id}` is not a batch id (a UUID)")))?;
    record::get(ingest.pool(), id)
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
    /// How many (newest first); 1 to 500, default 50.
    pub limit: Option<String>,
}

/// Recent batches, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchList {
    pub batches: Vec<BatchView>,
}

/// Recent batches, newest first, optionally of one status.
#[utoipa::path(get, path = "/batches", tag = "batches",
    params(ListQuery),
    responses(
        (status = 200, description = "Recent batches", body = BatchList),
        (status = 400, description = "Bad status or limit", body = crate::error::ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = crate::error::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn list_batches(
    State(ingest): State<Ingest>,
    Query(query): Query<ListQuery>,
) -> Result<Json<BatchList>> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(BatchStatus::parse(raw).ok_or_else(|| {
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
    let limit = match query.limit.as_deref().filter(|s| !s.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => {
                return Err(Error::invalid(
                    "limit",
                    format!("`{raw}` is not a whole number from 1 to {MAX_LIMIT}"),
                ))
            }
        },
    };
    let batches = record::list(ingest.pool(), status, limit).await?;
    Ok(Json(BatchList { batches }))
}
