//! The HTTP side: one module per group of routes (handlers parse the request at the
//! edge and call into the query and batch sides through [`AppState`]), the layers
//! every route gets, and the server. Nothing below this module knows about HTTP.

pub mod auth;
pub mod batches;
pub mod events;
pub mod health;
pub mod layers;
pub mod openapi;
mod params;
pub mod prices;
pub mod rate_limit;
pub mod rates;
pub mod server;

use axum::Router;

pub use layers::{with_http_layers, MAX_HEADER_BYTES, MAX_HEADER_FIELDS};
pub use server::Server;

use crate::state::AppState;

/// The full API (`rates serve`): every route, with the layers.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(health::routes())
        .merge(rates::routes())
        .merge(prices::routes())
        .merge(openapi::routes())
        .merge(batches::routes())
        .merge(events::routes());
    with_http_layers(routes, state)
}

/// `rates work`'s probes: /healthz, /readyz and /metrics only, with the same layers.
pub fn probes_router(state: AppState) -> Router {
    with_http_layers(health::routes(), state)
}
