//! Who is calling: bearer tokens verified against `api_tokens` (only hashes stored,
//! compared in constant time), scopes checked per route, and revocation that every
//! replica applies at once. Verified tokens are cached per process; a trigger NOTIFYs
//! every change of a token and each process drops that token from its cache. While the
//! notification connection is down the cache is not used, so a revocation is never
//! missed: each request then reads its token from the database. Writes always read
//! their token from the database, so a revocation stops them at once on every replica;
//! reads stop as soon as the notification arrives (milliseconds).

pub mod store;
pub mod token;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use rates_contract::scopes::Scope;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::{DbContext, Error, Result};
use store::TokenRecord;
use token::{PresentedToken, SecretHash};

/// The channel the `api_tokens` trigger notifies (migration 0004).
const CHANNEL: &str = "rates_api_tokens";

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
}

/// Verifies tokens. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    public_reads: bool,
    cache: Mutex<HashMap<Uuid, (SecretHash, TokenRecord)>>,
    /// True while the notification connection listens (the cache may be used).
    listening: AtomicBool,
}

impl Auth {
    pub fn new(pool: PgPool, public_reads: bool) -> Auth {
        Auth {
            inner: Arc::new(Inner {
                pool,
                public_reads,
                cache: Mutex::new(HashMap::new()),
                listening: AtomicBool::new(false),
            }),
        }
    }

    /// The client a request's `Authorization` header names, verified; None when the
    /// request has no such header. `fresh` skips the cache (writes).
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        fresh: bool,
    ) -> Result<Option<Client>> {
        let Some(value) = authorization else {
            return Ok(None);
        };
        let presented = PresentedToken::from_authorization(value).ok_or(Error::Unauthorized {
            reason:
                "the Authorization header is not `Bearer rates_...` with a token of this service",
        })?;
        let cached = if fresh {
            None
        } else {
            self.cached(presented.id)
        };
        let found = match cached {
            Some(entry) => Some(entry),
            None => {
                let found = store::lookup(&self.inner.pool, presented.id).await?;
                if let Some(entry) = &found {
                    self.remember(entry.clone());
                }
                found
            }
        };
        // One answer for an unknown id and a wrong secret: the id alone tells nothing.
        let invalid = Error::Unauthorized {
            reason: "the token is not valid (unknown, or its secret is wrong)",
        };
        let Some((hash, record)) = found else {
            return Err(invalid);
        };
        if !hash.matches(&presented) {
            return Err(invalid);
        }
        if record.revoked_at.is_some() {
            return Err(Error::Unauthorized {
                reason: "the token has been revoked",
            });
        }
        if !record.active_at(Utc::now()) {
            return Err(Error::Unauthorized {
                reason: "the token has expired",
            });
        }
        Ok(Some(Client {
            id: record.id,
            name: record.name,
            scopes: record.scopes,
        }))
    }

    /// Whether `client` may do what needs `scope` (`route` and `method` name it in the
    /// error).
    pub fn authorize(
        &self,
        client: Option<&Client>,
        scope: Scope,
        method: &str,
        route: &str,
    ) -> Result<()> {
        match client {
            None if scope.is_public_read() && self.inner.public_reads => Ok(()),
            None => Err(Error::Unauthorized {
                reason: "this route needs a bearer token (Authorization: Bearer rates_...)",
            }),
            Some(client) if client.scopes.contains(&scope) => Ok(()),
            Some(client) => Err(Error::Forbidden {
                client: client.name.clone(),
                scope,
                method: method.to_string(),
                route: route.to_string(),
            }),
        }
    }

    fn cached(&self, id: Uuid) -> Option<(SecretHash, TokenRecord)> {
        if !self.inner.listening.load(Ordering::Acquire) {
            return None;
        }
        self.lock().get(&id).cloned()
    }

    fn remember(&self, entry: (SecretHash, TokenRecord)) {
        if self.inner.listening.load(Ordering::Acquire) {
            self.lock().insert(entry.1.id, entry);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, (SecretHash, TokenRecord)>> {
        self.inner.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps the cache true to `api_tokens` until `shutdown`: listens for changes and
    /// forgets each changed token; while not listening, the cache is off and empty.
    pub async fn watch(self, shutdown: CancellationToken) {
        loop {
            let result: Result<()> = async {
                let mut listener = sqlx::postgres::PgListener::connect_with(&self.inner.pool)
                    .await
                    .db("listening for token changes")?;
                listener
                    .listen(CHANNEL)
                    .await
                    .db("listening for token changes")?;
                // Anything cached before now may have changed unseen.
                self.lock().clear();
                self.inner.listening.store(true, Ordering::Release);
                loop {
                    let notification = tokio::select! {
                        n = listener.try_recv() => n.db("listening for token changes")?,
                        () = shutdown.cancelled() => return Ok(()),
                    };
                    match notification {
                        Some(n) => match Uuid::try_parse(n.payload()) {
                            Ok(id) => {
                                self.lock().remove(&id);
                            }
                            Err(_) => self.lock().clear(),
                        },
                        // The connection dropped (and will be re-established): changes
                        // may have been missed meanwhile.
                        None => {
                            self.inner.listening.store(false, Ordering::Release);
                            self.lock().clear();
                            return Err(Error::Other("the notification connection dropped".into()));
                        }
                    }
                }
            }
            .await;
            self.inner.listening.store(false, Ordering::Release);
            self.lock().clear();
            match result {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "token cache off until token changes can be heard again")
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }
}
