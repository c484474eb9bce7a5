//! `WS /ws/kyc/{sessionId}?token=…&since=SEQ`: a session's events, live. The events after
//! `since` are replayed from the journal first (a page that reloads misses nothing), then the
//! session's actor sends each new one; any number of sockets may watch one session. A ping
//! goes out every `sessions.ws_ping_secs`; a socket silent for `sessions.ws_dead_secs` is
//! closed. Buffers are small (4 KiB) so thousands of idle sockets stay cheap. The session's
//! token sees the person's view of each event (no scores, unless the tenant shows them); the
//! tenant's key (a header: `X-Api-Key`) sees every event whole. A socket of a tenant that is
//! disabled is closed at its next ping.

use super::auth::SessionAccess;
use super::extract::{Path, Query};
use super::kyc::ClientIp;
use super::{ApiError, AppState};
use crate::records::normal_origin;
use crate::sessions::Sessions;
use actors::session::{SessionEvent, SessionId, SessionMsg};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, header};
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
pub(super) const TRY_AGAIN: u16 = 1013;

/// The query besides `token` (which [`SessionAccess`] reads).
#[derive(Debug, Deserialize)]
pub struct WsQuery {
    #[serde(default)]
    pub since: u64,
    /// Read by [`SessionAccess`]; here for a session another node holds.
    #[serde(default)]
    pub token: Option<String>,
}

/// The upgrade: the token is checked before the socket opens.
#[utoipa::path(get, path = "/ws/kyc/{sessionId}", tag = "sessions",
    description = "WebSocket of a session's events (each a `SessionEvent` JSON text message), the \
        ones after `since` replayed first; a ping every `sessions.ws_ping_secs`; close code 1013 \
        asks the client to reconnect with `since`. A browser's `Origin` must be the server's own \
        (`server.public_url`) or one of the tenant's `allowedOrigins` (else 403 FORBIDDEN).",
    params(
        ("sessionId" = uuid::Uuid, Path, description = "Session id"),
        ("token" = Option<String>, Query, description = "The session's token (the person's view: no scores unless the tenant shows them); a tenant sends its key in `X-Api-Key` instead and sees every event whole"),
        ("since" = Option<u64>, Query, description = "Last event number seen (0: all)"),
    ),
    responses(
        (status = 101, description = "Switching protocols: events follow", body = SessionEvent),
        super::openapi::TokenRefusals,
        (status = 503, description = "AT_CAPACITY: the server, or this address, holds its maximum of open WebSockets (`edge.max_websockets`, `edge.max_websockets_per_address`; Retry-After)", body = super::ErrorEnvelope),
    ))]
pub async fn watch(
    State(app): State<AppState>,
    Path(path_id): Path<String>,
    access: Result<SessionAccess, ApiError>,
    Query(q): Query<WsQuery>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let access = match access {
        Ok(a) => a,
        // Not a session of this node's: in a cluster, perhaps another node's.
        Err(refused @ (ApiError::NotFound(_) | ApiError::Unauthorized | ApiError::Forbidden)) => {
            let id = super::auth::parse_session_id(&path_id)?;
            return match super::events::remote_session(&app, id, q.token.as_deref()).await {
                Some((bus, entry)) => {
                    watch_remote(&app, id, bus, entry, q, client, &headers, upgrade)
                }
                None => Err(refused),
            };
        }
        Err(e) => return Err(e),
    };
    let id = access.session.id();
    let tenant = access.session.record().tenant.clone();
    check_origin(&app, tenant.as_deref(), headers.get(header::ORIGIN))?;
    let slot = app
        .websockets
        .take(Some(client))
        .map_err(|full| ApiError::AtCapacity(full.describe("WebSockets")))?;
    let watcher = Watcher {
        // A session token stops at the session's lifetime; a tenant key does not.
        expires_ms: match access.caller {
            super::auth::Caller::Person { .. } => Some(app.token_expires_ms(&access.session)),
            super::auth::Caller::Tenant(_) => None,
        },
        redact: !access.caller.sees_scores(),
        tenant,
        tenants: std::sync::Arc::clone(&app.tenants),
    };
    let sessions = app.sessions.clone();
    let s = &app.settings.sessions;
    let (ping, dead) = (s.ws_ping(), s.ws_dead());
    upgraded(upgrade, id, move |mut socket| async move {
        let _slot = slot;
        let ended = run(&mut socket, &sessions, &watcher, id, q.since, ping, dead).await;
        // The closing handshake without the sessions: a server that stops does not wait for
        // clients slow to answer it.
        drop((sessions, watcher));
        (socket, ended)
    })
}

/// The upgrade with this module's buffers and limits: `upgrade` checked, then `serve` runs
/// on the socket (its `Some((code, reason))` closes it).
fn upgraded<F, Fut>(
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    id: SessionId,
    serve: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(WebSocket) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = (WebSocket, Result<Option<(u16, &'static str)>, axum::Error>)>
        + Send
        + 'static,
{
    let upgrade = upgrade.map_err(|e| {
        ApiError::BadRequest(format!("this endpoint takes WebSocket connections: {e}"))
    })?;
    Ok(upgrade
        .read_buffer_size(BUFFER)
        .write_buffer_size(BUFFER)
        .max_message_size(MESSAGE_MAX)
        .max_frame_size(MESSAGE_MAX)
        .on_upgrade(move |socket| async move {
            let (mut socket, ended) = serve(socket).await;
            match ended {
                Ok(Some((code, reason))) => close(&mut socket, code, reason).await,
                Ok(None) => {}
                Err(e) => tracing::debug!(session = %id, error = %e, "websocket closed"),
            }
        })
        .into_response())
}

/// The socket of a session another node holds (found in the cluster's directory).
#[allow(clippy::too_many_arguments)]
fn watch_remote(
    app: &AppState,
    id: SessionId,
    bus: std::sync::Arc<crate::cluster::events::EventBus>,
    entry: crate::cluster::events::DirectoryEntry,
    q: WsQuery,
    client: String,
    headers: &HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    check_origin(app, entry.tenant.as_deref(), headers.get(header::ORIGIN))?;
    let slot = app
        .websockets
        .take(Some(client))
        .map_err(|full| ApiError::AtCapacity(full.describe("WebSockets")))?;
    let redact = !entry
        .tenant
        .as_deref()
        .and_then(|t| app.tenants.get(t))
        .is_some_and(|t| t.options.show_scores);
    let s = &app.settings.sessions;
    let (ping, dead) = (s.ws_ping(), s.ws_dead());
    let token = q.token.unwrap_or_default();
    upgraded(upgrade, id, move |mut socket| async move {
        let _slot = slot;
        let ended = super::events::run_remote(
            &mut socket,
            &bus,
            &entry,
            id,
            &token,
            q.since,
            redact,
            ping,
            dead,
        )
        .await;
        (socket, ended)
    })
}

/// The largest message (and frame) a client may send: it sends pongs and close frames only.
const MESSAGE_MAX: usize = 64 * 1024;

/// A browser names the page that opens a socket in `Origin`: the server's own pages and the
/// tenant's `allowedOrigins` may; any other page is refused, so a page elsewhere cannot ride a
/// person's token. A client that is not a browser sends no `Origin` and is judged by its
/// credentials alone.
fn check_origin(
    app: &AppState,
    tenant: Option<&str>,
    origin: Option<&HeaderValue>,
) -> Result<(), ApiError> {
    let Some(origin) = origin else {
        return Ok(());
    };
    let given = origin.to_str().ok().and_then(normal_origin);
    let allowed = given.as_deref().is_some_and(|o| {
        normal_origin(&app.public_url).as_deref() == Some(o)
            || tenant
                .and_then(|t| app.tenants.get(t))
                .is_some_and(|t| t.options.allowed_origins.iter().any(|a| a == o))
    });
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Denied(
            "this page's origin may not open this session's WebSocket (add it to the \
             tenant's allowedOrigins)"
                .into(),
        ))
    }
}

/// Who watches: what they may see, and whose tenant may be disabled under them.
struct Watcher {
    expires_ms: Option<u64>,
    redact: bool,
    tenant: Option<String>,
    tenants: std::sync::Arc<crate::tenants::Tenants>,
}

impl Watcher {
    fn json(&self, e: &SessionEvent) -> Result<Message, axum::Error> {
        let text = if self.redact {
            serde_json::to_string(&super::person_view::event(e.clone()))
        } else {
            serde_json::to_string(e)
        };
        text.map(|s| Message::Text(Utf8Bytes::from(s)))
            .map_err(axum::Error::new)
    }

    fn tenant_disabled(&self) -> bool {
        self.tenant
            .as_deref()
            .and_then(|t| self.tenants.get(t))
            .is_some_and(|t| t.disabled)
    }
}

/// Close code of a socket whose tenant was disabled (policy violation).
const POLICY: u16 = 1008;

/// How long a closing socket waits for the client's answering close frame.
const CLOSING: Duration = Duration::from_secs(1);

/// Sends a close frame and waits (briefly) for the client's, as the closing handshake goes, so
/// whatever the client was still sending (a pong) does not meet a dropped connection first.
async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let sent = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
    if sent.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSING, async {
        while let Some(Ok(m)) = socket.recv().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Streams the events until the socket ends; `Some((code, reason))` when the server ends it
/// (the caller then closes the socket).
async fn run(
    socket: &mut WebSocket,
    sessions: &Sessions,
    watcher: &Watcher,
    id: SessionId,
    since: u64,
    ping_every: Duration,
    dead_after: Duration,
) -> Result<Option<(u16, &'static str)>, axum::Error> {
    // Replay from the journal here (the socket reads as fast as it can), then attach to the
    // actor from the last event sent: it replays whatever was added in between.
    let mut last = since;
    let missed = sessions
        .events_since(&id, since)
        .map_err(axum::Error::new)?;
    for e in &missed {
        socket.send(watcher.json(e)?).await?;
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
        return Ok(Some((
            TRY_AGAIN,
            "session unavailable; reconnect with since",
        )));
    }
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            event = rx.recv() => match event {
                // A transient notice (a live frame's check) is not numbered: it passes as it is.
                Some(e) if e.transient => socket.send(watcher.json(&e)?).await?,
                Some(e) => {
                    if e.seq <= last {
                        continue;
                    }
                    last = e.seq;
                    socket.send(watcher.json(&e)?).await?;
                }
                None => {
                    // Dropped by the session (too far behind, or the session stopped).
                    return Ok(Some((TRY_AGAIN, "reconnect with since")));
                }
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                Some(Ok(_)) => heard = Instant::now(),
                Some(Err(e)) => return Err(e),
            },
            _ = ping.tick() => {
                if watcher.tenant_disabled() {
                    return Ok(Some((POLICY, "the tenant is disabled")));
                }
                if watcher
                    .expires_ms
                    .is_some_and(|at| actors::session::event::now_ms() >= at)
                {
                    return Ok(Some((POLICY, "the session's token has expired")));
                }
                if heard.elapsed() > dead_after {
                    return Ok(Some((1001, "no answer to pings")));
                }
                socket.send(Message::Ping(Default::default())).await?;
            }
        }
    }
}
