//! Serving HTTP: bind, log the bound address, and drain gracefully on shutdown.

use std::future::IntoFuture;
use std::net::SocketAddr;

use rates_contract::startup;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{router, AppState};
use crate::error::{Error, Result};

/// A bound HTTP server, not yet serving.
pub struct Server {
    listener: TcpListener,
    state: AppState,
    addr: SocketAddr,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and logs `listening addr=...`.
    pub async fn bind(state: AppState, addr: SocketAddr) -> Result<Server> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("binding {addr} (RATES_BIND)"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        // The start-up line envctl reads the bound port from (the contract's format).
        tracing::info!({ startup::ADDR_FIELD } = %addr, "{}", startup::LISTENING);
        Ok(Server {
            listener,
            state,
            addr,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until the state's shutdown token is cancelled, then stops
    /// accepting and lets in-flight requests finish, for at most the
    /// configured drain timeout.
    pub async fn run(self) -> Result<()> {
        let shutdown = self.state.shutdown.clone();
        let drain_timeout = self.state.config.drain_timeout;
        let app = router(self.state);
        let token = shutdown.clone();
        let serve = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .into_future();
        tokio::pin!(serve);
        tokio::select! {
            result = &mut serve => {
                result.map_err(|e| Error::io("serving HTTP", e))?;
                tracing::info!("drained; all in-flight requests finished");
                Ok(())
            }
            () = async {
                shutdown.cancelled().await;
                tokio::time::sleep(drain_timeout).await;
            } => {
                tracing::error!(
                    drain_timeout_secs = drain_timeout.as_secs(),
                    "drain timeout elapsed with requests still in flight; they are cut off"
                );
                Err(Error::Other(format!(
                    "in-flight requests did not finish within RATES_DRAIN_TIMEOUT_SECS={}",
                    drain_timeout.as_secs()
                )))
            }
        }
    }
}

/// Cancels `token` on the first SIGTERM or SIGINT. Readiness turns false at
/// that moment because it reads the same token.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let signal = wait_for_signal().await;
        tracing::info!(signal, "shutdown requested; draining");
        token.cancel();
    });
}

async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
