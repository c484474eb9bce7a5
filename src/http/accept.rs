//! The accept loop: every connection gets a place (at most `edge.max_connections`, and
//! `edge.max_connections_per_address` for one client address) or a 503 and a close before a
//! byte of it is read; headers must arrive within `edge.header_read_timeout_secs` (which also
//! closes an idle keep-alive connection); a body must keep a minimum rate ([`RateBody`]); a
//! closing connection lingers, reading what the client still sends, so a refused upload's
//! sender reads its answer ([`Lingering`]). On
//! shutdown it stops accepting, asks each connection to finish its request and close, and
//! waits at most the grace period. A connection upgraded to a WebSocket leaves this loop's
//! count (WebSockets have their own: `edge.max_websockets`).

use super::ApiError;
use super::body_rate::RateBody;
use super::client_addr::limit_key;
use super::slots::Slots;
use crate::settings::EdgeSettings;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use ipnet::IpNet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// What the accept loop enforces.
#[derive(Debug, Clone)]
pub struct Edge {
    pub settings: EdgeSettings,
    /// `server.trusted_proxies`: not limited per address (their clients are, by their own
    /// forwarded addresses, in the router).
    pub trusted: Arc<[IpNet]>,
}

impl Edge {
    pub fn new(settings: EdgeSettings, trusted: Arc<[IpNet]>) -> Self {
        Self { settings, trusted }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains for at most `grace`.
pub async fn serve<F>(
    listener: TcpListener,
    app: Router,
    edge: Edge,
    grace: Duration,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let s = &edge.settings;
    let connections = Slots::new(s.max_connections, s.max_connections_per_address);
    let (min_rate, rate_grace) = (s.min_body_rate_bytes_per_sec, s.body_rate_grace());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(s.header_read_timeout())
        .keep_alive(true);
    // Each connection's task holds a sender: when all are gone, every connection has ended.
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let key =
            (!edge.trusted.iter().any(|n| n.contains(&peer.ip()))).then(|| limit_key(peer.ip()));
        let slot = match connections.take(key) {
            Ok(slot) => slot,
            Err(full) => {
                refuse(&stream, &full.describe("connections"));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = app.clone();
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let req = req.map(|b| Body::new(RateBody::new(b, min_rate, rate_grace)));
            let mut router = router.clone();
            tower_service::Service::call(&mut router, req)
        });
        let conn = http
            .serve_connection(TokioIo::new(Lingering(Some(stream))), service)
            .with_upgrades();
        let (open, mut stop) = (open_tx.clone(), stop_rx.clone());
        tokio::spawn(async move {
            tokio::pin!(conn);
            let ended = tokio::select! {
                r = conn.as_mut() => r,
                () = async { drop(stop.wait_for(|s| *s).await) } => {
                    // Finish the request in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop((slot, open));
        });
    }
    drop((listener, open_tx));
    let _ = stop_tx.send(true);
    tracing::info!(
        grace_secs = grace.as_secs(),
        "no longer accepting connections; waiting for open requests"
    );
    tokio::select! {
        _ = open_rx.recv() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!(
            grace_secs = grace.as_secs(),
            "grace period over; closing the remaining connections"
        ),
    }
    Ok(())
}

/// How long, and how much, a closing connection's unread input is read and dropped.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: u64 = 4 << 20;

/// A connection's socket. When it is let go (hyper is done with it: an answer with the
/// request's body unread, a timeout, the end of a WebSocket), its write side is shut and what
/// the client still sends is read and dropped for a moment before the socket closes: a client
/// still sending an upload the server refused from its headers then reads the answer, instead
/// of a reset that the unread data would cause.
struct Lingering(Option<TcpStream>);

impl Lingering {
    fn io(&mut self) -> std::io::Result<Pin<&mut TcpStream>> {
        self.0
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))
    }
}

impl AsyncRead for Lingering {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.io() {
            Ok(io) => io.poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for Lingering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.io() {
            Ok(io) => io.poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.io() {
            Ok(io) => io.poll_write_vectored(cx, bufs),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.io() {
            Ok(io) => io.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.io() {
            Ok(io) => io.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(stream) = self.0.take() else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(linger(stream));
        }
    }
}

async fn linger(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.shutdown().await;
    let mut buf = [0u8; 2048];
    let mut read = 0u64;
    let drain = async {
        while read < LINGER_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n as u64,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER_TIME, drain).await;
}

/// A connection over a cap: a 503 in the API's envelope if the socket takes it at once (it is
/// never waited on), then closed.
fn refuse(stream: &TcpStream, why: &str) {
    tracing::debug!(reason = why, "connection refused");
    let _ = stream.try_write(&ApiError::AtCapacity(why.to_owned()).raw_http1());
}

/// An `accept` that failed: a connection that died in the queue is nothing; anything else
/// (out of file descriptors) is logged and waited out, not spun on.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept a connection; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
