//! What every route gets: JSON errors for everything the HTTP stack answers, the
//! header limits, panics as 500s, and the request observation (log line, metrics).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::Error;
use crate::state::AppState;

/// What every route gets: JSON errors for unknown paths (404), known paths with
/// another method (405, with `Allow`), panics (500), oversized headers (431) and any
/// other error answer the HTTP stack gives, and the request observation layer (one
/// log line and metrics per request).
pub fn with_http_layers(routes: Router<AppState>, state: AppState) -> Router {
    let routes = routes
        // After every route is added: it applies to the routes present.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        // Innermost first: a panic becomes a 500 the outer layers see; the caller's
        // token is checked against the route's scope; the rate limit holds back a
        // client past its quota before its token costs a lookup; any other error
        // answer that is not JSON yet becomes JSON; oversized headers are refused
        // before anything else runs; every answer is observed.
        .layer(CatchPanicLayer::custom(panicked))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            super::auth::authenticate,
        ));
    let limits = (
        state.config.rate_limit_per_second,
        state.config.rate_limit_burst,
    );
    super::rate_limit::apply(routes, limits.0, limits.1)
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(limit_headers))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

/// The most header bytes a request may carry: every field's name and value plus
/// the 4 bytes of `: ` and CRLF, as on the wire. Requests past it get 431 JSON.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The most header fields a request may carry (431 JSON past it).
pub const MAX_HEADER_FIELDS: usize = 100;

/// Unknown paths get the same JSON error shape as everything else.
async fn not_found(uri: Uri) -> Error {
    Error::NotFound {
        resource: "route",
        id: uri.path().to_string(),
    }
}

/// A known path with a method it does not answer. The router adds the `Allow`
/// header to this answer.
async fn method_not_allowed(method: Method, uri: Uri) -> Error {
    Error::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_string(),
    }
}

/// A handler panicked: 500 in the JSON shape; the panic goes to the log.
fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a non-string payload");
    Error::Other(format!("a request handler panicked: {what}")).into_response()
}

/// Refuses requests whose header fields are larger than [`MAX_HEADER_BYTES`] or more
/// than [`MAX_HEADER_FIELDS`]. The HTTP parser (server.rs) lets through up to its own,
/// larger limits so that this layer, which can answer in JSON, decides.
async fn limit_headers(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let fields = headers.len();
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > MAX_HEADER_BYTES || fields > MAX_HEADER_FIELDS {
        return Error::HeadersTooLarge {
            size,
            fields,
            limit_bytes: MAX_HEADER_BYTES,
            limit_fields: MAX_HEADER_FIELDS,
        }
        .into_response();
    }
    next.run(request).await
}

/// The largest non-JSON error body kept as the JSON error's message.
const MAX_REWRITTEN_MESSAGE: usize = 1024;

/// Every error answer is the JSON error shape: an error status that some part of the
/// HTTP stack answered otherwise (an extractor's plain-text rejection, an empty-bodied
/// status from a layer) is rewritten, keeping its status and headers (`Allow`,
/// `Retry-After`); a short plain-text body becomes the message.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REWRITTEN_MESSAGE).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("error")
            .to_ascii_lowercase()
    } else {
        text
    };
    let rewritten = Error::Http { status, message }.into_response();
    // The JSON answer's own Content-Type and Content-Length replace the old ones.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let (new_parts, new_body) = rewritten.into_parts();
    parts.headers.extend(new_parts.headers);
    Response::from_parts(parts, new_body)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
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
