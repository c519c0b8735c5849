//! What a client's bearer token allows: each API route and method needs one scope
//! (probes and the OpenAPI document need none). The runtime enforces these; envctl
//! creates each environment's first token with all of them; docs/security.md lists them.

/// One permission a token can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `GET /rates`, `GET /rates_null` (unless the environment makes reads public).
    RatesRead,
    /// `GET /batches`, `GET /batches/{id}`, `GET /events`.
    BatchesRead,
    /// `POST /batches`, `POST /events/{id}/redeliver`.
    BatchesWrite,
    /// `POST /prices`.
    PricesWrite,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::RatesRead,
        Scope::BatchesRead,
        Scope::BatchesWrite,
        Scope::PricesWrite,
    ];

    /// The scope as tokens and error messages spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::RatesRead => "rates:read",
            Scope::BatchesRead => "batches:read",
            Scope::BatchesWrite => "batches:write",
            Scope::PricesWrite => "prices:write",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A read of the rates: public when the environment says so (`RATES_PUBLIC_READS`).
    pub const fn is_public_read(self) -> bool {
        matches!(self, Scope::RatesRead)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scope `method` on the route `path` (a template from [`crate::routes`]) needs; None
/// for routes anyone may call (probes, the OpenAPI document) and unknown routes.
pub fn required(path: &str, method: &str) -> Option<Scope> {
    use crate::routes::{BATCH, BATCHES, EVENTS, EVENT_REDELIVER, PRICES, RATES, RATES_NULL};
    match (path, method) {
        (p, "GET" | "HEAD") if p == RATES.path || p == RATES_NULL.path => Some(Scope::RatesRead),
        (p, "GET" | "HEAD") if p == BATCHES.path || p == BATCH.path || p == EVENTS.path => {
            Some(Scope::BatchesRead)
        }
        (p, "POST") if p == BATCHES.path || p == EVENT_REDELIVER.path => Some(Scope::BatchesWrite),
        (p, "POST") if p == PRICES.path => Some(Scope::PricesWrite),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes;

    #[test]
    fn scopes_parse_back() {
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(Scope::parse("rates:write"), None);
    }

    /// Every method of every client route needs a scope, and only probes and the
    /// OpenAPI document are open: a route added without a scope fails here.
    #[test]
    fn every_client_route_needs_a_scope() {
        for route in routes::ALL {
            for method in route.methods {
                let open = route.probe || route.path == routes::OPENAPI.path;
                assert_eq!(
                    required(route.path, method).is_none(),
                    open,
                    "{method} {}",
                    route.path
                );
            }
        }
        let used: std::collections::BTreeSet<Scope> = routes::ALL
            .iter()
            .flat_map(|r| r.methods.iter().filter_map(|m| required(r.path, m)))
            .collect();
        assert_eq!(used.len(), Scope::ALL.len(), "a scope no route needs");
    }
}
