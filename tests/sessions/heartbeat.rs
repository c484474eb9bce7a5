//! WebSocket heartbeats: a socket that answers pings stays open; one that never answers is
//! closed by the server after `sessions.ws_dead_secs`, so dead sockets do not pile up.

use super::helpers::{Client, spawn};
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// The server's dead-socket timeout in this test (`KYC__SESSIONS__WS_DEAD_SECS`, with a ping
/// every second).
const DEAD_SECS: u64 = 3;
/// Pings the answering socket must get: five seconds of them, longer than `DEAD_SECS`.
const LIVE_PINGS: u32 = 5;
/// Upper bound for anything this test waits for (only reached when something is wrong).
const PATIENCE: Duration = Duration::from_secs(60);

/// A WebSocket opened by hand on a plain TCP stream, so that nothing answers the server's pings
/// (tungstenite answers them by itself whenever the socket is read).
struct Silent {
    tcp: TcpStream,
    buffer: Vec<u8>,
}

/// A frame from the server: its opcode and payload.
struct Frame {
    opcode: u8,
    payload: Vec<u8>,
}

impl Silent {
    /// Opens `ws_url` (`ws://host:port/path?query`) with the upgrade handshake.
    async fn open(ws_url: &str) -> Silent {
        let rest = ws_url.strip_prefix("ws://").expect("a ws:// URL");
        let (host, path) = rest.split_at(rest.find('/').expect("a path"));
        let mut tcp = TcpStream::connect(host).await.expect("connects");
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.expect("handshake");
        let mut s = Silent {
            tcp,
            buffer: Vec::new(),
        };
        let end = loop {
            if let Some(i) = s.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            assert!(s.fill().await, "the server closed during the handshake");
        };
        let head = String::from_utf8_lossy(&s.buffer[..end]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        s.buffer.drain(..end);
        s
    }

    /// Reads more bytes; false at the end of the connection (or a reset).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match self.tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// The next whole frame, or None at the end of the connection.
    async fn frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse(&self.buffer) {
                self.buffer.drain(..used);
                return Some(frame);
            }
            if !self.fill().await {
                return None;
            }
        }
    }
}

/// One frame from the front of `b` and its length in bytes, once all of it is there.
fn parse(b: &[u8]) -> Option<(Frame, usize)> {
    let (&b0, &b1) = (b.first()?, b.get(1)?);
    let (len, mut at) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(b.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let mask: Option<[u8; 4]> = if b1 & 0x80 != 0 {
        let m = b.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    let mut payload = b.get(at..at + len)?.to_vec();
    if let Some(m) = mask {
        for (i, x) in payload.iter_mut().enumerate() {
            *x ^= m[i % 4];
        }
    }
    let frame = Frame {
        opcode: b0 & 0x0f,
        payload,
    };
    Some((frame, at + len))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_sockets_get_pings_and_a_silent_one_is_closed() {
    let server = spawn(&[
        ("KYC__SESSIONS__WS_PING_SECS", "1"),
        ("KYC__SESSIONS__WS_DEAD_SECS", "3"),
    ])
    .await;
    let c = Client::create(&server).await;

    // Answering: pings keep coming for longer than the dead-socket timeout.
    let mut live = c.watch(0).await;
    let started = Instant::now();
    let mut pings = 0;
    while pings < LIVE_PINGS {
        match tokio::time::timeout(PATIENCE, live.ws.next()).await {
            Ok(Some(Ok(Message::Ping(p)))) => {
                pings += 1;
                live.ws.send(Message::Pong(p)).await.expect("pong");
            }
            Ok(Some(Ok(Message::Close(c)))) => panic!("a live socket was closed: {c:?}"),
            Ok(Some(Ok(_))) => {}
            other => panic!("socket ended after {pings} pings: {other:?}"),
        }
    }
    let lived = started.elapsed();
    assert!(
        lived > Duration::from_secs(DEAD_SECS),
        "{pings} pings in {lived:?}: the socket must outlive the {DEAD_SECS} s timeout"
    );

    // Silent: no pong ever goes back; the server pings it, then closes it (1001).
    let url = format!("{}&since=0", c.ws_url);
    let mut silent = Silent::open(&url).await;
    let mut unanswered = 0;
    let close = loop {
        let frame = tokio::time::timeout(PATIENCE, silent.frame())
            .await
            .unwrap_or_else(|_| panic!("the silent socket still open after {PATIENCE:?}"))
            .unwrap_or_else(|| panic!("the connection ended without a close frame"));
        match frame.opcode {
            0x9 => unanswered += 1,
            0x8 => break frame.payload,
            _ => {}
        }
    };
    let code = close
        .get(..2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .expect("a close code");
    assert_eq!(code, 1001, "{}", String::from_utf8_lossy(&close));
    assert!(
        unanswered >= 1,
        "closed after {unanswered} pings: it must first go unanswered"
    );
    server.stop().await;
}
