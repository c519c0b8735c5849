//! The OpenAPI document, served at /openapi.json and kept in runtime/openapi.json.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    modifiers(&BearerAuth),
    security(("bearer" = [])),
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

/// Every API route needs `Authorization: Bearer rates_...` with the route's scope
/// (docs/security.md); probes and this document need none.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A client token (`rates token create`); each route needs its scope: rates:read, batches:read, batches:write or prices:write",
                    ))
                    .build(),
            ),
        );
    }
}

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
#[utoipa::path(get, path = "/openapi.json", tag = "operations", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}
