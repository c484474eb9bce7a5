//! WebSocket heartbeats: a socket that answers pings stays open; one that never answers is
//! closed by the server after `sessions.ws_dead_secs`, so dead sockets do not pile up.

use super::helpers::{Client, spawn};
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

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
    while started.elapsed() < Duration::from_secs(5) {
        match tokio::time::timeout(Duration::from_secs(3), live.ws.next()).await {
            Ok(Some(Ok(Message::Ping(p)))) => {
                pings += 1;
                live.ws.send(Message::Pong(p)).await.expect("pong");
            }
            Ok(Some(Ok(Message::Close(c)))) => panic!("a live socket was closed: {c:?}"),
            Ok(Some(Ok(_))) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
    assert!(pings >= 3, "{pings} pings in 5 s");

    // Silent: nothing read, so no pong goes back; the server closes it.
    let mut silent = c.watch(0).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Reading now sees the buffered pings and then the server's close (1001), or — when the
    // pong tungstenite answers with hits the already closed connection — the connection's end.
    let mut ended = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), silent.ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                ended = Some(format!("close {:?}", frame.map(|f| u16::from(f.code))));
                break;
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => {
                ended = Some(format!("connection ended: {e}"));
                break;
            }
            Ok(None) => {
                ended = Some("connection ended".into());
                break;
            }
            Err(_) => break,
        }
    }
    let ended = ended.expect("the silent socket was closed by the server");
    assert!(
        ended == "close Some(1001)" || ended.starts_with("connection ended"),
        "{ended}"
    );
    server.stop().await;
}
