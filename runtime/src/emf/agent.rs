//! Delivery of EMF documents to the CloudWatch agent's EMF listener (`RATES_EMF_ENDPOINT`).
//!
//! On EKS the container's stdout is shipped by Fluent Bit, which wraps every line in its own
//! JSON envelope; CloudWatch extracts no metrics from that. The agent's listener
//! (`logs.metrics_collected.emf`, port 25888 by default, TCP and UDP) takes EMF documents
//! as they are: one JSON object per line, newline-terminated, and writes each to the log
//! group named in its `_aws.LogGroupName` (the AWS embedded-metrics libraries' agent sinks
//! do exactly this: `aws-embedded-metrics-python` `AgentSink`/`TcpClient`,
//! `aws-embedded-metrics-java` `AgentSink`).
//!
//! Metrics must never slow the request or batch path, so [`AgentSender::send`] only puts
//! the line in a bounded buffer (`try_send`). One background thread owns the socket: it
//! connects, reconnects with exponential backoff while the agent is down (holding the line
//! in hand, so the buffer fills and the newest lines are dropped and counted), and on
//! shutdown [`AgentSender::flush`] delivers what is buffered within a bound.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot, Notify};

use crate::metrics::Metrics;

/// Documents buffered while the sender is busy or the agent is down (each is well under
/// 1 KiB, so this bounds the buffer to about a megabyte).
pub const BUFFER_DOCUMENTS: usize = 1000;
/// First and longest wait between connection attempts while the agent is unreachable.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A connect or write that takes longer than this counts as failed (an agent that
/// accepts but stops reading must not stall the sender forever).
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Writes of one line before it is given up (connection failures do not count: the line
/// waits for the agent, and the buffer bounds how much waits).
const WRITE_ATTEMPTS: u32 = 3;
/// How long a shutting-down process waits for buffered documents to reach the agent: a
/// small part of the pod's grace period, which the drain has mostly used already.
pub const FLUSH_BOUND: Duration = Duration::from_secs(2);
/// The largest UDP payload IPv4 can carry; a longer document cannot be sent over UDP.
const MAX_DATAGRAM: usize = 65_507;

/// The transport of the agent's listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

/// `RATES_EMF_ENDPOINT`: `tcp://host:port` or `udp://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub protocol: Protocol,
    /// A DNS name or an IP address (IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// Parses `tcp://host:port` or `udp://host:port` (IPv6 as `[addr]`); the error says
    /// what is wrong, the caller names the variable.
    pub fn parse(raw: &str) -> Result<Endpoint, String> {
        let raw = raw.trim();
        let form = "use tcp://host:port or udp://host:port";
        let (protocol, rest) = if let Some(rest) = raw.strip_prefix("tcp://") {
            (Protocol::Tcp, rest)
        } else if let Some(rest) = raw.strip_prefix("udp://") {
            (Protocol::Udp, rest)
        } else {
            return Err(format!("`{raw}` has no tcp:// or udp:// scheme ({form})"));
        };
        if rest.contains("$(") {
            // Kubernetes leaves `$(VAR)` as it is when VAR is not defined before it.
            return Err(format!(
                "`{raw}` holds an unexpanded variable reference: define it (HOST_IP from \
                 status.hostIP) before RATES_EMF_ENDPOINT in the pod's env"
            ));
        }
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "`{raw}` has a path, query or user part; only host and port ({form})"
            ));
        }
        let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("`{raw}`: `[` without `]` around an IPv6 address"))?;
            host.parse::<std::net::Ipv6Addr>()
                .map_err(|_| format!("`{raw}`: `{host}` is not an IPv6 address"))?;
            let port = after
                .strip_prefix(':')
                .ok_or_else(|| format!("`{raw}` has no port ({form})"))?;
            (host, port)
        } else {
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("`{raw}` has no port ({form})"))?;
            if host.contains(':') {
                return Err(format!("`{raw}`: write an IPv6 address as [address]:port"));
            }
            if host.is_empty()
                || !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            {
                return Err(format!("`{raw}`: `{host}` is not a host name or address"));
            }
            (host, port)
        };
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{raw}`: `{port}` is not a port (1-65535)"))?;
        Ok(Endpoint {
            protocol,
            host: host.to_string(),
            port,
        })
    }

    /// `host:port` for resolving, with brackets around an IPv6 address.
    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        };
        write!(f, "{scheme}://{}", self.authority())
    }
}

enum Message {
    Line(String),
    Flush(oneshot::Sender<()>),
}

struct Shared {
    metrics: Metrics,
    /// Set by [`AgentSender::flush`]: stop waiting for an unreachable agent.
    closing: AtomicBool,
    wake: Notify,
}

impl Shared {
    fn dropped(&self, reason: &'static str, count: u64) {
        self.metrics.increment_counter(
            "rates_emf_dropped_total",
            &[("reason", reason.into())],
            count,
        );
    }
}

/// The handle the emitters hold; cheap to clone. The sender thread ends when the last
/// handle is dropped.
#[derive(Clone)]
pub struct AgentSender {
    endpoint: Arc<Endpoint>,
    tx: mpsc::Sender<Message>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AgentSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSender")
            .field("endpoint", &self.endpoint.to_string())
            .finish_non_exhaustive()
    }
}

impl AgentSender {
    /// Starts the sender thread. Nothing connects yet: the first line does, so the process
    /// starts while the agent is still coming up.
    pub fn start(endpoint: Endpoint, metrics: Metrics) -> AgentSender {
        let (tx, rx) = mpsc::channel(BUFFER_DOCUMENTS);
        let shared = Arc::new(Shared {
            metrics,
            closing: AtomicBool::new(false),
            wake: Notify::new(),
        });
        let endpoint = Arc::new(endpoint);
        let (thread_endpoint, thread_shared) = (endpoint.clone(), shared.clone());
        // Its own thread and single-threaded runtime: independent of the server's runtime
        // (busy with requests and batches, and shut down before the process exits).
        let spawned = std::thread::Builder::new()
            .name("rates-emf".into())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(deliver(thread_endpoint, rx, thread_shared)),
                    Err(e) => tracing::error!(error = %e, "EMF sender: no runtime; metrics to the agent are dropped"),
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "EMF sender: cannot start its thread; metrics to the agent are dropped");
        }
        AgentSender {
            endpoint,
            tx,
            shared,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Queues one newline-terminated document; never waits. A full buffer drops it.
    pub fn send(&self, line: String) {
        match self.tx.try_send(Message::Line(line)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.shared.dropped("buffer_full", 1),
            Err(mpsc::error::TrySendError::Closed(_)) => self.shared.dropped("closed", 1),
        }
    }

    /// Documents queued and not yet delivered or dropped.
    pub fn buffered(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Delivers what is buffered, waiting at most `bound`; from then on an unreachable agent
    /// is not waited for. Returns false when the bound ran out first.
    pub async fn flush(&self, bound: Duration) -> bool {
        self.shared.closing.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        let (ack_tx, ack) = oneshot::channel();
        let flushed = tokio::time::timeout(bound, async {
            self.tx.send(Message::Flush(ack_tx)).await.is_ok() && ack.await.is_ok()
        })
        .await
        .unwrap_or(false);
        if !flushed {
            tracing::warn!(
                endpoint = %self.endpoint,
                undelivered = self.buffered(),
                "EMF documents not delivered to the CloudWatch agent before exit"
            );
        }
        flushed
    }
}

/// An open connection (TCP) or a connected socket (UDP).
enum Connection {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

impl Connection {
    async fn open(endpoint: &Endpoint) -> io::Result<Connection> {
        let authority = endpoint.authority();
        match endpoint.protocol {
            Protocol::Tcp => {
                let stream = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(&authority))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
                // Lines are small and each should leave at once.
                stream.set_nodelay(true)?;
                Ok(Connection::Tcp(stream))
            }
            Protocol::Udp => {
                let addr: SocketAddr = tokio::net::lookup_host(&authority)
                    .await?
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
                let local: SocketAddr = if addr.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let socket = UdpSocket::bind(local).await?;
                socket.connect(addr).await?;
                Ok(Connection::Udp(socket))
            }
        }
    }

    async fn write(&mut self, line: &str) -> io::Result<()> {
        match self {
            Connection::Tcp(stream) => {
                // The agent never writes to us: readable means it closed the connection
                // (EOF) or it broke. A write into a connection the peer has closed still
                // succeeds once, and that line would be lost; checking first reconnects.
                let mut probe = [0u8; 64];
                match stream.try_read(&mut probe) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "the agent closed the connection",
                        ))
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                tokio::time::timeout(IO_TIMEOUT, stream.write_all(line.as_bytes()))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "write timed out"))?
            }
            Connection::Udp(socket) => socket.send(line.as_bytes()).await.map(|_| ()),
        }
    }
}

/// The sender thread's loop: one line at a time, in order.
async fn deliver(endpoint: Arc<Endpoint>, mut rx: mpsc::Receiver<Message>, shared: Arc<Shared>) {
    let mut connection: Option<Connection> = None;
    let mut backoff = BACKOFF_MIN;
    // Set while the agent is unreachable: one warning per outage, not one per attempt.
    let mut outage = false;
    // Closing and the agent did not answer: drop the rest rather than wait for it.
    let mut given_up = false;
    while let Some(message) = rx.recv().await {
        let line = match message {
            Message::Line(line) => line,
            Message::Flush(ack) => {
                let _ = ack.send(());
                continue;
            }
        };
        if endpoint.protocol == Protocol::Udp && line.len() > MAX_DATAGRAM {
            shared.dropped("too_large", 1);
            continue;
        }
        if given_up {
            shared.dropped("unreachable", 1);
            continue;
        }
        let mut writes = 0;
        loop {
            let closing = shared.closing.load(Ordering::SeqCst);
            if connection.is_none() {
                match Connection::open(&endpoint).await {
                    Ok(conn) => {
                        if outage {
                            tracing::info!(endpoint = %endpoint, "EMF: connected to the CloudWatch agent again");
                        }
                        outage = false;
                        backoff = BACKOFF_MIN;
                        connection = Some(conn);
                    }
                    Err(e) => {
                        if !outage {
                            tracing::warn!(endpoint = %endpoint, error = %e, "EMF: the CloudWatch agent is unreachable; retrying with backoff, dropping metrics when the buffer is full");
                        }
                        outage = true;
                        if closing {
                            given_up = true;
                            shared.dropped("unreachable", 1);
                            break;
                        }
                        // Wait, unless a flush asks to stop waiting.
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shared.wake.notified() => {}
                        }
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                }
            }
            let conn = connection.as_mut().expect("connected above");
            match conn.write(&line).await {
                Ok(()) => {
                    shared
                        .metrics
                        .increment_counter("rates_emf_sent_total", &[], 1);
                    break;
                }
                Err(e) => {
                    connection = None;
                    writes += 1;
                    if writes >= WRITE_ATTEMPTS {
                        tracing::warn!(endpoint = %endpoint, error = %e, "EMF: a document could not be written to the CloudWatch agent; dropped");
                        shared.dropped("write_failed", 1);
                        break;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("tcp://10.0.1.7:25888").unwrap();
        assert_eq!(
            e,
            Endpoint {
                protocol: Protocol::Tcp,
                host: "10.0.1.7".into(),
                port: 25888
            }
        );
        assert_eq!(e.to_string(), "tcp://10.0.1.7:25888");
        let e = Endpoint::parse(" udp://cwagent.amazon-cloudwatch:25888 ").unwrap();
        assert_eq!(e.protocol, Protocol::Udp);
        assert_eq!(e.host, "cwagent.amazon-cloudwatch");
        let e = Endpoint::parse("tcp://[fd00::7]:25888").unwrap();
        assert_eq!(e.host, "fd00::7");
        assert_eq!(e.authority(), "[fd00::7]:25888");
    }

    #[test]
    fn bad_endpoints_say_what_is_wrong() {
        for (raw, says) in [
            ("10.0.1.7:25888", "no tcp:// or udp:// scheme"),
            ("http://10.0.1.7:25888", "no tcp:// or udp:// scheme"),
            ("tcp://10.0.1.7", "no port"),
            ("tcp://10.0.1.7:0", "not a port"),
            ("tcp://10.0.1.7:70000", "not a port"),
            ("tcp://:25888", "not a host name"),
            ("tcp://fd00::7:25888", "[address]:port"),
            ("tcp://[fd00::7:25888", "without `]`"),
            ("tcp://10.0.1.7:25888/emf", "path"),
            ("tcp://$(HOST_IP):25888", "unexpanded variable reference"),
        ] {
            let err = Endpoint::parse(raw).unwrap_err();
            assert!(err.contains(says), "{raw}: {err}");
        }
    }
}
