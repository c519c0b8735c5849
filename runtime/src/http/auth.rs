//! Authentication and authorization of every request: the route's scope (from the
//! contract) against the caller's verified token. The verified client rides along in
//! the request's extensions, so handlers can record who did what.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rates_contract::scopes::{self, Scope};

use crate::state::AppState;

/// Refuses a request whose route needs a scope its caller lacks (401 without a usable
/// token, 403 without the scope); otherwise passes it on with the client attached.
pub(super) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // Both clones are cheap (a shared string, a standard method), so a request that
    // needs no token allocates nothing here.
    let Some(route) = request.extensions().get::<MatchedPath>().cloned() else {
        // Unknown paths answer 404 whoever asks.
        return next.run(request).await;
    };
    let method = request.method().clone();
    let Some(scope) = scopes::required(route.as_str(), method.as_str()) else {
        return next.run(request).await;
    };
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    // Writes read their token from the database: a revocation stops them at once.
    let fresh = matches!(scope, Scope::BatchesWrite | Scope::PricesWrite);
    let client = match state.auth.authenticate(authorization, fresh).await {
        Ok(client) => client,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = state
        .auth
        .authorize(client.as_ref(), scope, method.as_str(), route.as_str())
    {
        return e.into_response();
    }
    if let Some(client) = client {
        request.extensions_mut().insert(client);
    }
    next.run(request).await
}
