//! The one place the app is assembled, for `rates serve`, `rates work` and the tests:
//! pools → state → bound server → the background tasks of the role → drain → flush.

use std::net::SocketAddr;

use crate::batch::worker;
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::http::{self, Server};
use crate::state::AppState;

/// What the process does besides answering its probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The API; with the batch worker in the same process, or only the queue's
    /// depth and age published (`rates serve [--with-worker]`).
    Serve { with_worker: bool },
    /// The batch worker, with /healthz, /readyz and /metrics for probes and
    /// scraping (`rates work`).
    Work,
}

/// An assembled app: state built, listener bound, nothing running yet.
pub struct App {
    state: AppState,
    server: Server,
    role: Role,
}

/// The database pools, authenticated (RDS IAM tokens when configured) and, when
/// `migrate` is set, migrated.
pub async fn connect(config: &Config, migrate: bool) -> Result<Db> {
    let db = Db::connect(config)?;
    // The token refresher lives as long as the process.
    db.authenticate(config).await?;
    if migrate {
        db.migrate().await?;
        tracing::info!("migrations applied");
    }
    Ok(db)
}

impl App {
    /// Builds the state on `db` and binds `config.bind` (port 0 picks a free port).
    pub async fn build(config: Config, db: Db, role: Role) -> Result<App> {
        let bind = config.bind;
        let state = AppState::new(config, db);
        let server = Server::bind(bind).await?;
        Ok(App {
            state,
            server,
            role,
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The state (its `shutdown` token stops [`App::run`]).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs the role until the state's shutdown token is cancelled and everything
    /// in hand has drained, then delivers the last metrics.
    pub async fn run(self) -> Result<()> {
        let App {
            state,
            server,
            role,
        } = self;
        let drain_timeout = state.config.drain_timeout;
        // Token changes (revocations) reach this process's cache as they happen; only the
        // api verifies tokens (a worker's probes need none).
        if matches!(role, Role::Serve { .. }) {
            tokio::spawn(state.auth.clone().watch(state.shutdown.clone()));
        }
        // Histogram observations are folded into their buckets here, not only when
        // /metrics is scraped (nothing scrapes it on EKS).
        tokio::spawn(
            state
                .metrics
                .clone()
                .run_upkeep(crate::metrics::UPKEEP_INTERVAL, state.shutdown.clone()),
        );
        // Every process delivers outcome events: the api always runs, so delivery goes on
        // while the workers are scaled to zero.
        if state.config.events.enabled() {
            let deliverer = crate::events::delivery::Deliverer::new(
                state.db.primary.clone(),
                state.config.events.clone(),
                state.metrics.clone(),
                state.emf().clone(),
            );
            tokio::spawn(deliverer.run(state.shutdown.clone()));
        }
        let result = match role {
            Role::Serve { with_worker } => {
                tokio::spawn(crate::emf::api::run(
                    state.api_emf.clone(),
                    state.shutdown.clone(),
                ));
                let batches = if with_worker {
                    tokio::spawn(worker::run(
                        state.batches.clone(),
                        state.shutdown.clone(),
                        drain_timeout,
                    ))
                } else {
                    // Without a worker, still publish the queue depth and age.
                    let (ingest, token) = (state.batches.clone(), state.shutdown.clone());
                    tokio::spawn(async move {
                        worker::sample_queue(ingest, token).await;
                        Ok(())
                    })
                };
                let served = server
                    .run(
                        http::router(state.clone()),
                        state.shutdown.clone(),
                        drain_timeout,
                    )
                    .await;
                // The server drained; the worker's batch in hand settles within its own bound.
                state.shutdown.cancel();
                let worked = batches
                    .await
                    .map_err(|e| Error::Other(format!("the batch worker panicked: {e}")));
                // The last window of API metrics goes out with the batch metrics below.
                state.api_emf.flush();
                served.and(worked?)
            }
            Role::Work => {
                let probes = tokio::spawn(server.run(
                    http::probes_router(state.clone()),
                    state.shutdown.clone(),
                    drain_timeout,
                ));
                let worked =
                    worker::run(state.batches.clone(), state.shutdown.clone(), drain_timeout).await;
                state.shutdown.cancel();
                let _ = probes.await;
                worked
            }
        };
        // Buffered EMF documents go to the CloudWatch agent within a short bound.
        state.emf().flush(crate::emf::agent::FLUSH_BOUND).await;
        result
    }
}
