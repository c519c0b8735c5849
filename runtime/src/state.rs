//! The application state every HTTP handler reaches: configuration, database pools,
//! metrics, the query side, the ingestion side and the shutdown signal. Built once per
//! process by [`crate::startup`].

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::batch::Ingest;
use crate::config::Config;
use crate::db::Db;
use crate::emf::api::ApiEmf;
use crate::emf::Emf;
use crate::metrics::Metrics;
use crate::query::Rates;

/// What every handler can reach. Cheap to clone: one reference count, however many
/// parts it has (every layer and handler of every request clones it; cloning each part
/// instead cost about 7% of a request's CPU in the runtime, measured with perf).
#[derive(Clone)]
pub struct AppState(Arc<Parts>);

impl std::ops::Deref for AppState {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct Parts {
    pub config: Arc<Config>,
    pub db: Db,
    pub metrics: Metrics,
    /// Who is calling: tokens verified, scopes checked.
    pub auth: Auth,
    /// GET /rates answers, cached by prices version (RATES_CACHE_ENTRIES).
    pub rates: Rates,
    /// Batch ingestion (uploads, status, the worker's handles).
    pub batches: Ingest,
    /// API request metrics for CloudWatch (EMF), aggregated per interval.
    pub api_emf: ApiEmf,
    /// Cancelled on SIGTERM/SIGINT: readiness turns false, the listener closes,
    /// workers stop taking new jobs.
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(config: Config, db: Db) -> AppState {
        let metrics = Metrics::new();
        let emf = Emf::from_settings(&config.emf, &metrics);
        let batches = Ingest::new(
            config.batch.clone(),
            db.primary.clone(),
            metrics.clone(),
            emf.clone(),
        );
        let rates = Rates::new(db.reader().clone(), config.cache_entries, metrics.clone());
        let auth = Auth::new(db.primary.clone(), config.public_reads);
        AppState(Arc::new(Parts {
            auth,
            api_emf: ApiEmf::new(emf),
            rates,
            config: Arc::new(config),
            db,
            metrics,
            batches,
            shutdown: CancellationToken::new(),
        }))
    }

    /// True once shutdown has begun.
    pub fn draining(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    /// The EMF sink both sides write to.
    pub fn emf(&self) -> &Emf {
        self.batches.observer().emf()
    }
}
