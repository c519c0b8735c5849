//! The runtime's HTTP routes, as axum matches them (path parameters in braces) and as the
//! OpenAPI document and the Prometheus `route` label spell them.

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The path template.
    pub path: &'static str,
    /// The methods it answers.
    pub methods: &'static [&'static str],
    /// A probe or scrape (kubelet, the load balancer, Prometheus), not client traffic:
    /// left out of the api's metrics, and served by workers too.
    pub probe: bool,
    /// What it is for, in one line.
    pub meaning: &'static str,
}

const fn route(
    path: &'static str,
    methods: &'static [&'static str],
    probe: bool,
    meaning: &'static str,
) -> Route {
    Route {
        path,
        methods,
        probe,
        meaning,
    }
}

/// Average price per day for a lane.
pub const RATES: Route = route(
    "/rates",
    &["GET"],
    false,
    "average price per day for a lane",
);
/// The same, null for days with fewer than three prices.
pub const RATES_NULL: Route = route(
    "/rates_null",
    &["GET"],
    false,
    "average price per day, null for days with fewer than three prices",
);
/// One price over a date range.
pub const PRICES: Route = route("/prices", &["POST"], false, "one price over a date range");
/// Upload a batch; list recent batches.
pub const BATCHES: Route = route(
    "/batches",
    &["GET", "POST"],
    false,
    "upload a batch (POST); recent batches (GET)",
);
/// One batch's status.
pub const BATCH: Route = route("/batches/{id}", &["GET"], false, "one batch's status");
/// Batch outcome events (the outbox), newest first.
pub const EVENTS: Route = route(
    "/events",
    &["GET"],
    false,
    "batch outcome events and their delivery state",
);
/// Deliver a (given up) event again.
pub const EVENT_REDELIVER: Route = route(
    "/events/{id}/redeliver",
    &["POST"],
    false,
    "deliver an event again",
);
/// Liveness, with the contract version.
pub const HEALTHZ: Route = route(
    "/healthz",
    &["GET"],
    true,
    "liveness, and the contract version the runtime was built with",
);
/// Readiness.
pub const READYZ: Route = route(
    "/readyz",
    &["GET"],
    true,
    "readiness: the database answers and no shutdown has begun",
);
/// Prometheus metrics.
pub const METRICS: Route = route("/metrics", &["GET"], true, "Prometheus text format");
/// The OpenAPI document.
pub const OPENAPI: Route = route("/openapi.json", &["GET"], false, "the OpenAPI document");

/// Every route `rates serve` answers.
pub const ALL: &[Route] = &[
    RATES,
    RATES_NULL,
    PRICES,
    BATCHES,
    BATCH,
    EVENTS,
    EVENT_REDELIVER,
    HEALTHZ,
    READYZ,
    METRICS,
    OPENAPI,
];

/// The path of one batch's status document.
pub fn batch_path(id: &str) -> String {
    BATCH.path.replace("{id}", id)
}

/// Whether `path` (a matched route template) is a probe or scrape.
pub fn is_probe(path: &str) -> bool {
    ALL.iter().any(|r| r.probe && r.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unique_and_absolute() {
        for (i, r) in ALL.iter().enumerate() {
            assert!(r.path.starts_with('/') && !r.methods.is_empty(), "{r:?}");
            assert!(ALL[i + 1..].iter().all(|o| o.path != r.path), "{r:?}");
        }
        assert_eq!(batch_path("b1"), "/batches/b1");
        assert!(is_probe("/readyz") && !is_probe("/rates") && !is_probe("unmatched"));
    }
}
