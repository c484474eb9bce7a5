//! A session's events away from its own node: `GET /api/v1/sessions/{id}/events?since=` (the
//! journaled events after `since`, as the caller may see them), and — in a cluster — the
//! WebSocket of a session another node owns: found in the session directory, its token checked
//! against the hash there, the missed events replayed from the owner over that route, then the
//! live ones as the owner publishes them. Nothing is missed or repeated: the live feed is
//! joined before the replay is asked for, and only events after the last one sent go out.

use super::auth::SessionAccess;
use super::extract::Query;
use super::{ApiResponse, ApiResult, AppState, Envelope};
use crate::cluster::events::{DirectoryEntry, EventBus};
use actors::session::{SessionEvent, SessionId};
use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use serde::Deserialize;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct SinceQuery {
    /// Last event number seen (0: all).
    #[serde(default)]
    pub since: u64,
}

/// `GET /api/v1/sessions/{id}/events`
#[utoipa::path(get, path = "/api/v1/sessions/{id}/events", tag = "sessions",
    security(("session" = []), ("apiKey" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id"), SinceQuery),
    responses(
        (status = 200, description = "The journaled events after `since`, in order (the person's view for a session token)", body = Envelope<Vec<SessionEvent>>),
        super::openapi::TokenRefusals,
    ))]
pub async fn since(
    axum::extract::State(app): axum::extract::State<AppState>,
    access: SessionAccess,
    Query(q): Query<SinceQuery>,
) -> ApiResult<Vec<SessionEvent>> {
    let id = access.session.id();
    let redact = !access.caller.sees_scores();
    let events = app
        .sessions
        .events_since(&id, q.since)?
        .into_iter()
        .map(|e| {
            if redact {
                super::person_view::event(e)
            } else {
                e
            }
        })
        .collect();
    Ok(ApiResponse::ok(events))
}

/// A socket for a session this node does not hold: its directory entry when `token` is its
/// token, else `None` (the caller answers as for an unknown session).
pub(super) async fn remote_session(
    app: &AppState,
    id: SessionId,
    token: Option<&str>,
) -> Option<(std::sync::Arc<EventBus>, DirectoryEntry)> {
    let remote = app.engines.remote.as_ref()?;
    let token = token?;
    let entry = remote.events.lookup(id).await.ok()??;
    let same = crate::sessions::same_secret(&crate::sessions::token_hash(token), &entry.token_hash);
    (same && actors::session::event::now_ms() < entry.token_expires_ms)
        .then(|| (std::sync::Arc::clone(&remote.events), entry))
}

/// Streams a remote session's events until the socket ends; `Some((code, reason))` when this
/// side ends it.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_remote(
    socket: &mut WebSocket,
    bus: &EventBus,
    entry: &DirectoryEntry,
    id: SessionId,
    token: &str,
    since: u64,
    redact: bool,
    ping_every: Duration,
    dead_after: Duration,
) -> Result<Option<(u16, &'static str)>, axum::Error> {
    let json = |e: &SessionEvent| {
        let e = if redact {
            super::person_view::event(e.clone())
        } else {
            e.clone()
        };
        serde_json::to_string(&e)
            .map(|s| Message::Text(Utf8Bytes::from(s)))
            .map_err(axum::Error::new)
    };
    let mut live = bus.watch(id);
    let Some(missed) = replay(entry, id, token, since).await else {
        return Ok(Some((
            super::ws::TRY_AGAIN,
            "the session's node cannot be reached; reconnect with since",
        )));
    };
    let mut last = since;
    for e in &missed {
        socket.send(json(e)?).await?;
        last = e.seq;
    }
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            event = live.recv() => match event {
                Ok(e) if e.transient => socket.send(json(&e)?).await?,
                Ok(e) if e.seq > last => {
                    if e.seq > last + 1 {
                        // Published while this node did not hear (Redis reconnected).
                        return Ok(Some((super::ws::TRY_AGAIN, "reconnect with since")));
                    }
                    last = e.seq;
                    socket.send(json(&e)?).await?;
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_) | RecvError::Closed) => {
                    return Ok(Some((super::ws::TRY_AGAIN, "reconnect with since")));
                }
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None => return Ok(None),
                Some(Ok(_)) => heard = Instant::now(),
                Some(Err(e)) => return Err(e),
            },
            _ = ping.tick() => {
                if actors::session::event::now_ms() >= entry.token_expires_ms {
                    return Ok(Some((1008, "the session's token has expired")));
                }
                if heard.elapsed() > dead_after {
                    return Ok(Some((1001, "no answer to pings")));
                }
                socket.send(Message::Ping(Default::default())).await?;
            }
        }
    }
}

/// The owner's journaled events after `since` (the person's view), `None` when it cannot be
/// asked.
async fn replay(
    entry: &DirectoryEntry,
    id: SessionId,
    token: &str,
    since: u64,
) -> Option<Vec<SessionEvent>> {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default()
    });
    let url = format!(
        "{}/api/v1/sessions/{}/events?since={since}",
        entry.url.trim_end_matches('/'),
        id
    );
    let res = client.get(url).bearer_auth(token).send().await.ok()?;
    if !res.status().is_success() {
        tracing::warn!(session = %id, status = %res.status(), "the session's node refused the replay");
        return None;
    }
    let body: serde_json::Value = res.json().await.ok()?;
    serde_json::from_value(body.get("data")?.clone()).ok()
}
