//! The HTTP/1.1 accept loop: hyper with the limits that keep unfinished or idle connections cheap.
//!
//! axum's own `serve` has no timeouts, so a client that never finishes its headers, trickles a
//! body or sits idle would hold a connection (and its task and buffers) forever, and a few hundred
//! such sockets would deny service to everyone. Here:
//!
//! - a request's headers must arrive within `header_timeout`, and the same timer closes a
//!   keep-alive connection that sits idle that long (hyper starts it whenever it waits for a head);
//! - bodies are read with their own deadline (see `crate::body`);
//! - at most `max_connections` connections are open at once, and at most
//!   `max_connections_per_source` from one address (trusted proxies exempt); a connection over
//!   either cap is closed at once, before anything is read from it;
//! - headers (request line included) are bounded by hyper's read buffer, [`MAX_HEAD_BYTES`];
//! - a write that makes no progress for `write_timeout` closes the connection (a client that
//!   pipelines requests, or floods a push stream, and never reads cannot hold it: see
//!   `crate::stall`), and TCP keepalive with a user timeout drops peers that vanished.
//!
//! Push streams leave this loop when they upgrade; the hub bounds them (per device and in all).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use crate::config::ConnectionLimits;
use crate::metrics::Metrics;

/// Largest request head (request line and headers); a longer one is answered 431 (a longer URL,
/// 414) by hyper, with no body. Authy's PHP client sends every parameter in the query string of a
/// POST, so this is also about the longest URL accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// The peer a request came from, as the socket says (before any proxy header is considered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Open connections per source address.
#[derive(Debug, Default)]
struct SourceCounts(Mutex<HashMap<IpAddr, usize>>);

/// One counted connection; uncounts itself when dropped.
#[derive(Debug)]
struct SourceSlot {
    counts: Arc<SourceCounts>,
    source: Option<IpAddr>,
}

impl SourceCounts {
    fn enter(self: &Arc<Self>, source: IpAddr, limit: usize, exempt: bool) -> Option<SourceSlot> {
        if exempt {
            return Some(SourceSlot {
                counts: Arc::clone(self),
                source: None,
            });
        }
        let mut counts = self.0.lock().expect("source counts lock");
        let n = counts.entry(source).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            counts: Arc::clone(self),
            source: Some(source),
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if let Some(source) = self.source {
            let mut counts = self.counts.0.lock().expect("source counts lock");
            if let Some(n) = counts.get_mut(&source) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(&source);
                }
            }
        }
    }
}

/// Accepts on `listener` and serves `app` until `shutdown`, then lets requests in flight finish
/// (up to a few seconds).
///
/// # Errors
/// Never for a single connection's failure; only when the listener's address cannot be read.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let sources = Arc::new(SourceCounts::default());
    let tracker = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or memory: back off instead of spinning; the
                    // connections already open keep being served.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            metrics.refused_connection("max_connections");
            continue;
        };
        let exempt = limits.trusted_proxies.contains(&peer.ip());
        let Some(slot) = sources.enter(peer.ip(), limits.max_connections_per_source, exempt) else {
            metrics.refused_connection("max_connections_per_source");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let socket = socket2::SockRef::from(&stream);
        let _ = socket.set_tcp_keepalive(
            &socket2::TcpKeepalive::new()
                .with_time(Duration::from_secs(60))
                .with_interval(Duration::from_secs(10))
                .with_retries(3),
        );
        #[cfg(target_os = "linux")]
        let _ = socket.set_tcp_user_timeout(Some(limits.write_timeout));
        let stream = crate::stall::StallGuard::new(stream, limits.write_timeout);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(PeerAddr(peer));
            let mut app = app.clone();
            async move { app.call(req.map(Body::new)).await }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .max_header_size(MAX_HEAD_BYTES)
            .max_buf_size(MAX_HEAD_BYTES * 2);
        let stop = shutdown.clone();
        tracker.spawn(async move {
            let conn = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                () = stop.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(DRAIN, conn.as_mut()).await;
                }
            }
            drop(slot);
            drop(permit);
        });
    }
    tracker.close();
    let _ = tokio::time::timeout(DRAIN, tracker.wait()).await;
    Ok(())
}
