//! Serving HTTP: bind, log the bound address, and drain gracefully on shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use rates_contract::startup;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// A bound HTTP server, not yet serving.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Server {
    /// Binds `addr` (port 0 picks a free port) and logs `listening addr=...`.
    pub async fn bind(addr: SocketAddr) -> Result<Server> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("binding {addr} (RATES_BIND)"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the bound address", e))?;
        // The start-up line envctl reads the bound port from (the contract's format).
        tracing::info!({ startup::ADDR_FIELD } = %addr, "{}", startup::LISTENING);
        Ok(Server { listener, addr })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `app` until `shutdown` is cancelled, then stops accepting and lets
    /// in-flight requests finish, for at most `drain_timeout`.
    pub async fn run(
        self,
        app: axum::Router,
        shutdown: CancellationToken,
        drain_timeout: Duration,
    ) -> Result<()> {
        let serve = serve(self.listener, app, shutdown.clone());
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

/// The largest request head (request line and header fields) the HTTP parser reads.
/// Above the documented limit ([`super::layers::MAX_HEADER_BYTES`]) so that the router's
/// layer, which answers in JSON, refuses oversized headers; only a head past this
/// gets the parser's own 431 without a body, and its connection closed. 64 KiB is
/// also what an AWS Application Load Balancer forwards at most.
pub const MAX_REQUEST_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields the HTTP parser reads: above the documented limit
/// ([`super::layers::MAX_HEADER_FIELDS`], also hyper's default) so the router's layer
/// refuses 101 to 256 fields in JSON. Not more: past its default hyper allocates this
/// many slots for every request it parses, measured at about 0.8 ns per slot per
/// request (+0.2 µs at 256, +0.8 µs at 1,024, where hyper parses a request and writes
/// its answer in about 0.8 µs).
pub const MAX_PARSED_HEADER_FIELDS: usize = 256;

/// Accepts connections and serves `app` on each (HTTP/1.1, keep-alive) until
/// `shutdown` is cancelled; then closes the listener, lets every connection finish
/// the request it is serving and close, and returns once all have.
async fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.max_header_size(MAX_REQUEST_HEAD_BYTES)
        .max_headers(MAX_PARSED_HEADER_FIELDS);
    // Each connection task holds a receiver; `closed()` resolves once all are gone.
    let (all_closed, connection) = tokio::sync::watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // The peer's address, for the rate limit of callers without a token.
        let service = tower::ServiceBuilder::new()
            .map_request(
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    request
                },
            )
            .service(app.clone());
        let service = hyper_util::service::TowerToHyperService::new(service);
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let shutdown = shutdown.clone();
        let connection = connection.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                () = shutdown.cancelled() => {
                    // Finish the request in flight (if any), then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(connection);
        });
    }
    drop(listener);
    drop(connection);
    all_closed.closed().await;
    Ok(())
}

/// An accept that failed: a connection the peer gave up on is nothing; anything
/// else (out of file descriptors) is logged and retried after a pause, as
/// `axum::serve` does.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %error, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}
