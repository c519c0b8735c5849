//! The application state shared by every handler, and the router built from each
//! part's routes.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::Db;
use crate::metrics::Metrics;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub metrics: Metrics,
    /// GET /rates answers by prices version (RATES_CACHE_ENTRIES).
    pub rates_cache: Arc<crate::rates_cache::RatesCache>,
    /// Batch ingestion (uploads, status, the worker's handles).
    pub batches: crate::batch::Ingest,
    /// API request metrics for CloudWatch (EMF), aggregated per interval.
    pub api_emf: crate::api_emf::ApiEmf,
    /// Cancelled on SIGTERM/SIGINT: readiness turns false, the listener closes,
    /// workers stop taking new jobs.
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(config: Config, db: Db) -> AppState {
        let metrics = Metrics::new();
        let batches =
            crate::batch::Ingest::new(config.batch.clone(), db.primary.clone(), metrics.clone());
        let rates_cache = Arc::new(crate::rates_cache::RatesCache::new(config.cache_entries));
        let api_emf = crate::api_emf::ApiEmf::new(batches.observer().emf().clone());
        AppState {
            api_emf,
            rates_cache,
            config: Arc::new(config),
            db,
            metrics,
            batches,
            shutdown: CancellationToken::new(),
        }
    }

    /// True once shutdown has begun.
    pub fn draining(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}

/// The full HTTP router: each part contributes its routes, then the request
/// observation layer (one log line and metrics per request) wraps them all.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::health::routes())
        .merge(crate::rates::routes())
        .merge(crate::prices::routes())
        .merge(crate::openapi::routes())
        .merge(crate::batch::routes(state.batches.clone()))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// Unknown paths get the same JSON error shape as everything else.
async fn not_found(uri: axum::http::Uri) -> crate::error::Error {
    crate::error::Error::NotFound {
        resource: "route",
        id: uri.path().to_string(),
    }
}

/// Logs one JSON line per request and records its metrics, labelled by the
/// route template (never the raw path, which would explode cardinality).
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let method = request.method().as_str().to_string();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state
        .metrics
        .record_request(&route, &method, status, elapsed.as_secs_f64());
    state
        .api_emf
        .record(&route, status, elapsed.as_secs_f64() * 1000.0);
    tracing::info!(
        target: "rates::http",
        route = %route,
        method = %method,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}
