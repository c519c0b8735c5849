//! Liveness, readiness and the Prometheus metrics endpoint.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rates_contract::routes;
use serde::Serialize;

use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(routes::HEALTHZ.path, get(healthz))
        .route(routes::READYZ.path, get(readyz))
        .route(routes::METRICS.path, get(metrics))
}

/// Health or readiness status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok`, `draining` or `database_unreachable`.
    pub status: String,
}

/// Liveness, and the contract the runtime was built with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// The version of the contract between envctl and the runtime (settings, metrics,
    /// statuses, routes) this build follows: `rates_contract::CONTRACT_VERSION`.
    pub contract_version: u32,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The process is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        contract_version: rates_contract::CONTRACT_VERSION,
    })
}

/// The process can take traffic: the database answers and no shutdown has begun.
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses(
        (status = 200, description = "Ready for traffic", body = Status),
        (status = 503, description = "Draining or the database is unreachable", body = Status)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.draining() {
        return not_ready("draining");
    }
    match state.db.ping().await {
        Ok(()) => Json(Status {
            status: "ok".into(),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            not_ready("database_unreachable")
        }
    }
}

fn not_ready(status: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(Status {
            status: status.into(),
        }),
    )
        .into_response()
}

/// Prometheus text exposition: request counts and latency histograms by route
/// and status, and database pool usage.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    m.record_pool("primary", &state.db.primary);
    m.record_pool("read", state.db.reader());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
        .into_response()
}
