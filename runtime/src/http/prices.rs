//! POST /prices: one price for every day of a date range, in one transaction.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Serialize;

use crate::error::{ErrorBody, Result};
use crate::prices::{insert_price_range, PriceRange};
use crate::state::AppState;

/// The largest POST /prices body (it is read whole): axum's default, made explicit so it
/// is documented. A larger body gets 413 `payload_too_large`.
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        rates_contract::routes::PRICES.path,
        post(post_prices).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
    )
}

/// The request body of POST /prices.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct NewPrices {
    /// First day, YYYY-MM-DD.
    #[schema(value_type = String, format = Date, example = "2016-01-01")]
    date_from: String,
    /// Last day (inclusive), YYYY-MM-DD.
    #[schema(value_type = String, format = Date, example = "2016-01-10")]
    date_to: String,
    /// Origin port code.
    #[schema(example = "CNSGH")]
    origin_code: String,
    /// Destination port code.
    #[schema(example = "NLRTM")]
    destination_code: String,
    /// Price in whole USD, greater than 0.
    #[schema(minimum = 1, maximum = 2147483647, example = 1200)]
    price: i32,
}

/// What POST /prices stored.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PricesInserted {
    /// Rows inserted: one per day of the range.
    pub inserted: i64,
}

/// Insert one price for every day from date_from to date_to, in one transaction.
#[utoipa::path(post, path = "/prices", tag = "rates", request_body = NewPrices,
    responses(
        (status = 201, description = "The prices were stored", body = PricesInserted),
        (status = 400, description = "A field is missing or invalid, or a port does not exist; nothing was stored", body = ErrorBody),
        (status = 413, description = "The body is larger than 2 MiB", body = ErrorBody),
        (status = 503, description = "The database is unavailable (down, restarting or failing over): code `database_unavailable`; retry after Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn post_prices(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<(StatusCode, Json<PricesInserted>)> {
    let request = PriceRange::parse(&body, state.config.max_range_days)?;
    let inserted = insert_price_range(&state.db.primary, &request).await?;
    Ok((StatusCode::CREATED, Json(PricesInserted { inserted })))
}
