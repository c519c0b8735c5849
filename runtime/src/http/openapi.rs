//! The OpenAPI document, served at /openapi.json and kept in runtime/openapi.json.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rates",
        description = "The rates runtime: average freight prices per day between ports and regions, and price ingestion."
    ),
    paths(
        super::rates::rates,
        super::rates::rates_null,
        super::prices::post_prices,
        super::health::healthz,
        super::health::readyz,
        super::health::metrics,
        openapi_json,
    ),
    components(schemas(
        crate::query::DayRate,
        super::prices::NewPrices,
        super::prices::PricesInserted,
        crate::error::ErrorBody,
        crate::error::ErrorDetail,
        super::health::Status,
        super::health::Health,
    )),
    tags(
        (name = "rates", description = "Query and add prices"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
struct QueryApi;

/// The whole document: the query side plus every other part's paths.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut document = QueryApi::openapi();
    document.merge(<super::batches::BatchApi as OpenApi>::openapi());
    document
}

/// The document as pretty JSON with a trailing newline (the repo copy's form).
pub fn document_json() -> String {
    let mut json = serde_json::to_string_pretty(&document()).expect("the document serialises");
    json.push('\n');
    json
}

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(rates_contract::routes::OPENAPI.path, get(openapi_json))
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
