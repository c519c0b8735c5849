//! Rate limits per client (tower-governor's GCRA buckets): a caller is its token's id
//! when it sends a well-formed one, else its address, the last `X-Forwarded-For` entry
//! (what the load balancer saw) or the peer address. Past the limit: 429 with
//! `Retry-After`. The limit is checked before the token is, so a flood of made-up
//! tokens is held back before it costs a database lookup.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{header, Request};
use axum::response::IntoResponse;
use axum::Router;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};
use uuid::Uuid;

use crate::auth::token::PresentedToken;
use crate::error::Error;

/// Who a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    Token(Uuid),
    Address(IpAddr),
    Unknown,
}

/// Finds the [`ClientKey`] of a request.
#[derive(Debug, Clone, Copy)]
pub struct ClientKeyExtractor;

impl KeyExtractor for ClientKeyExtractor {
    type Key = ClientKey;

    fn extract<T>(&self, request: &Request<T>) -> Result<ClientKey, GovernorError> {
        let headers = request.headers();
        if let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(PresentedToken::from_authorization)
        {
            return Ok(ClientKey::Token(token.id));
        }
        // The load balancer appends the address it saw: only the last entry is
        // the load balancer's own word; the ones before it are the client's.
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|entry| entry.trim().parse::<IpAddr>().ok());
        if let Some(address) = forwarded {
            return Ok(ClientKey::Address(address));
        }
        Ok(request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(ClientKey::Unknown, |c| ClientKey::Address(c.0.ip())))
    }
}

/// `routes` with the rate limit: `per_second` requests per second on average per
/// client, in bursts of up to `burst`; unchanged when `per_second` is 0 (no limit).
pub(super) fn apply<S>(routes: Router<S>, per_second: u32, burst: u32) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    if per_second == 0 {
        return routes;
    }
    let Some(config) = GovernorConfigBuilder::default()
        // One request's worth of quota comes back every 1/per_second seconds.
        .period(Duration::from_nanos(1_000_000_000 / u64::from(per_second)))
        .burst_size(burst.max(1))
        .key_extractor(ClientKeyExtractor)
        .finish()
    else {
        // finish() refuses only a zero period or burst, both excluded above.
        return routes;
    };
    routes.layer(GovernorLayer::new(config).error_handler(|error| {
        match error {
            GovernorError::TooManyRequests { wait_time, .. } => Error::TooManyRequests {
                retry_after_secs: wait_time.max(1),
            }
            .into_response(),
            other => Error::Other(format!("rate limiting failed: {other}")).into_response(),
        }
    }))
}
