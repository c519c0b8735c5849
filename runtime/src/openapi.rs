//! The OpenAPI document, served at /openapi.json and kept in runtime/openapi.json.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "rates",
        description = "The rates runtime: average freight prices per day between ports and regions, and price ingestion."
    ),
    paths(
        crate::rates::rates,
        crate::rates::rates_null,
        crate::prices::post_prices,
        crate::health::healthz,
        crate::health::readyz,
        crate::health::metrics,
        openapi_json,
    ),
    components(schemas(
        crate::rates::DayRate,
        crate::prices::NewPrices,
        crate::prices::PricesInserted,
        crate::error::ErrorBody,
        crate::error::ErrorDetail,
        crate::health::Status,
        crate::health::Health,
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
    document.merge(<crate::batch::BatchApi as OpenApi>::openapi());
    document
}

/// The document as pretty JSON with a trailing newline (the repo copy's form).
pub fn document_json() -> String {
    let mut json = serde_json::to_string_pretty(&document()).expect("the document serialises");
    json.push('\n');
    json
}

pub fn routes() -> Router<AppState> {
    Router::new().route(rates_contract::routes::OPENAPI.path, get(openapi_json))
}

/// This OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
