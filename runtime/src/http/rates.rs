//! GET /rates and GET /rates_null: the average price per day between two places.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use chrono::NaiveDate;

use crate::error::{Error, ErrorBody, Result};
use crate::query::{DayRate, RatesQuery};
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(rates_contract::routes::RATES.path, get(rates))
        .route(rates_contract::routes::RATES_NULL.path, get(rates_null))
}

/// The query parameters of /rates and /rates_null (documentation only; the
/// handlers parse the raw pairs to report precise errors).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RatesParams {
    /// First day, YYYY-MM-DD.
    #[param(example = "2016-01-01")]
    date_from: NaiveDate,
    /// Last day (inclusive), YYYY-MM-DD; at most RATES_MAX_RANGE_DAYS (default 366) days after date_from.
    #[param(example = "2016-01-10")]
    date_to: NaiveDate,
    /// Origin: a port code, or a region slug standing for every port in it and in all regions below it.
    #[param(example = "CNSGH")]
    origin: String,
    /// Destination: a port code or a region slug, as for origin.
    #[param(example = "north_europe_main")]
    destination: String,
}

/// Average price per day between two places: one entry per day of the range, ascending.
#[utoipa::path(get, path = "/rates", tag = "rates", params(RatesParams),
    responses(
        (status = 200, description = "One entry per day from date_from to date_to; average_price is null on days without prices", body = [DayRate]),
        (status = 400, description = "A parameter is missing or invalid, or names no known port or region", body = ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn rates(
    State(state): State<AppState>,
    pairs: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response> {
    let query = RatesQuery::parse(&query_pairs(pairs)?, state.config.max_range_days)?;
    Ok(json_body(state.rates.answer(query, 1).await?))
}

/// Like /rates, but the average is null on days with fewer than 3 prices.
#[utoipa::path(get, path = "/rates_null", tag = "rates", params(RatesParams),
    responses(
        (status = 200, description = "One entry per day from date_from to date_to; average_price is null on days with fewer than 3 prices", body = [DayRate]),
        (status = 400, description = "A parameter is missing or invalid, or names no known port or region", body = ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn rates_null(
    State(state): State<AppState>,
    pairs: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response> {
    let query = RatesQuery::parse(&query_pairs(pairs)?, state.config.max_range_days)?;
    Ok(json_body(state.rates.answer(query, 3).await?))
}

fn json_body(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn query_pairs(
    pairs: std::result::Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Vec<(String, String)>> {
    pairs.map(|Query(p)| p).map_err(|e| {
        Error::invalid(
            "query",
            format!("the query string cannot be read: {}", e.body_text()),
        )
    })
}
