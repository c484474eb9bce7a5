//! `WS /ws/kyc/{sessionId}?token=…&since=SEQ`: a session's events, live. The events after
//! `since` are replayed from the journal first (a page that reloads misses nothing), then the
//! session's actor sends each new one; any number of sockets may watch one session. A ping
//! goes out every `sessions.ws_ping_secs`; a socket silent for `sessions.ws_dead_secs` is
//! closed. Buffers are small (4 KiB) so thousands of idle sockets stay cheap.

use super::auth::Authorized;
use super::extract::Query;
use super::{ApiError, AppState};
use crate::sessions::Sessions;
use actors::session::{SessionEvent, SessionId, SessionMsg};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Events buffered per socket; a socket that falls this far behind is closed and reconnects
/// with `since` (it loses nothing).
const QUEUE: usize = 64;
const BUFFER: usize = 4 * 1024;
/// Close code asking the client to reconnect (with `since`).
const TRY_AGAIN: u16 = 1013;

/// The query besides `token` (which [`Authorized`] reads).
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    #[serde(default)]
    pub since: u64,
}

/// The upgrade: the token is checked before the socket opens.
#[utoipa::path(get, path = "/ws/kyc/{sessionId}", tag = "sessions",
    description = "WebSocket of a session's events (each a `SessionEvent` JSON text message), the \
        ones after `since` replayed first; a ping every `sessions.ws_ping_secs`; close code 1013 \
        asks the client to reconnect with `since`.",
    params(
        ("sessionId" = String, Path, description = "Session id"),
        ("token" = String, Query, description = "The session's token"),
        ("since" = Option<u64>, Query, description = "Last event number seen (0: all)"),
    ),
    responses(
        (status = 101, description = "Switching protocols: events follow", body = SessionEvent),
        super::openapi::TokenRefusals,
    ))]
pub async fn watch(
    State(app): State<AppState>,
    Authorized(session): Authorized,
    Query(q): Query<WsQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let id = session.id();
    let upgrade = upgrade.map_err(|e| {
        ApiError::BadRequest(format!("this endpoint takes WebSocket connections: {e}"))
    })?;
    let sessions = app.sessions.clone();
    let s = &app.settings.sessions;
    let (ping, dead) = (s.ws_ping(), s.ws_dead());
    Ok(upgrade
        .read_buffer_size(BUFFER)
        .write_buffer_size(BUFFER)
        .max_message_size(64 * 1024)
        .on_upgrade(move |socket| async move {
            if let Err(e) = run(socket, &sessions, id, q.since, ping, dead).await {
                tracing::debug!(session = %id, error = %e, "websocket closed");
            }
        })
        .into_response())
}

fn json(e: &SessionEvent) -> Result<Message, axum::Error> {
    serde_json::to_string(e)
        .map(|s| Message::Text(Utf8Bytes::from(s)))
        .map_err(axum::Error::new)
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
}

async fn run(
    mut socket: WebSocket,
    sessions: &Sessions,
    id: SessionId,
    since: u64,
    ping_every: Duration,
    dead_after: Duration,
) -> Result<(), axum::Error> {
    // Replay from the journal here (the socket reads as fast as it can), then attach to the
    // actor from the last event sent: it replays whatever was added in between.
    let mut last = since;
    let missed = sessions
        .events_since(&id, since)
        .map_err(axum::Error::new)?;
    for e in &missed {
        socket.send(json(e)?).await?;
        last = e.seq;
    }
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let attached = match sessions.actor(id).await {
        Ok(actor) => ractor::call!(actor, |reply| SessionMsg::Watch {
            since: last,
            tx,
            reply
        })
        .ok()
        .and_then(Result::ok)
        .is_some(),
        Err(_) => false,
    };
    if !attached {
        close(
            &mut socket,
            TRY_AGAIN,
            "session unavailable; reconnect with since",
        )
        .await;
        return Ok(());
    }
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                // A transient notice (a live frame's check) is not numbered: it passes as it is.
                Some(e) if e.transient => socket.send(json(&e)?).await?,
                Some(e) => {
                    if e.seq <= last {
                        continue;
                    }
                    last = e.seq;
                    socket.send(json(&e)?).await?;
                }
                None => {
                    // Dropped by the session (too far behind, or the session stopped).
                    close(&mut socket, TRY_AGAIN, "reconnect with since").await;
                    return Ok(());
                }
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None => return Ok(()),
                Some(Ok(_)) => heard = Instant::now(),
                Some(Err(e)) => return Err(e),
            },
            _ = ping.tick() => {
                if heard.elapsed() > dead_after {
                    close(&mut socket, 1001, "no answer to pings").await;
                    return Ok(());
                }
                socket.send(Message::Ping(Default::default())).await?;
            }
        }
    }
}
