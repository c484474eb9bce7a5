//! The admin API under `/admin` (bearer `admin.token`): the actor tree — the session
//! supervisor and its sessions by state, the engine pools with their workers, device and
//! queues, the job line — one session's state and events (no personal data: results are
//! masked before they are journaled) with its comparisons and decisions from the records
//! store, decisions by time from the records store, and force-expiring a session.

use super::auth::parse_session_id;
use super::comparisons::ComparisonView;
use super::extract::Path;
use super::{ApiError, ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use actors::PoolStatus;
use actors::session::{
    Message, SessionEvent, SessionId, SessionMsg, SessionSnapshot, SessionState, Stage, Step,
    SupervisorStats,
};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tree {
    pub node: NodeInfo,
    pub session_supervisor: SupervisorView,
    pub engine_pools: Vec<PoolStatus>,
    pub job_queue: crate::flow::QueueStats,
    pub live_frames: crate::flow::live::LiveStats,
    /// GPU memory in use, where a CUDA device reports it (not yet read on this node).
    pub gpu_memory_bytes: Option<u64>,
    /// The cluster through Redis (absent without `redis.url`).
    pub cluster: Option<ClusterView>,
    pub licences: &'static str,
}

/// The cluster as this node sees it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// This node's name and role.
    pub node: String,
    pub role: String,
    /// `up`, or `down` (this node is degraded).
    pub redis: &'static str,
    /// The nodes alive (each renews its key every 2 s), with their engine workers and load.
    pub nodes: Vec<crate::cluster::NodeInfo>,
    /// Engine workers alive in all.
    pub engine_workers: usize,
    /// The job streams: entries and jobs handed out but not answered.
    pub streams: Vec<crate::cluster::StreamInfo>,
    /// This node's jobs sent through Redis: count, bytes each way, time beyond the workers' own.
    pub transport: crate::cluster::remote::TransportSnapshot,
}

/// The cluster view of `app` (None outside a cluster).
async fn cluster_view(app: &AppState) -> Option<ClusterView> {
    let remote = app.engines.remote.as_ref()?;
    let c = remote.cluster();
    Some(ClusterView {
        node: c.node.clone(),
        role: c.role.to_string(),
        redis: if c.is_up() { "up" } else { "down" },
        nodes: c.nodes(),
        engine_workers: c.engine_workers(),
        streams: c.streams().await.unwrap_or_default(),
        transport: remote.stats.snapshot(),
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub version: &'static str,
    pub uptime_secs: u64,
    pub environment: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SupervisorView {
    #[serde(flatten)]
    pub stats: SupervisorStats,
    /// Every session in the journal, by state.
    pub sessions_by_state: BTreeMap<String, usize>,
}

/// `GET /admin/tree`
#[utoipa::path(get, path = "/admin/tree", tag = "admin", security(("admin" = [])),
    responses(
        (status = 200, description = "Supervisor and sessions by state, engine pools (workers, device, queue), job line", body = Envelope<serde_json::Value>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: the admin API is off (no admin.token)", body = ErrorEnvelope),
    ))]
pub async fn tree(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Tree> {
    app.admin(&headers)?;
    let s = &app.sessions;
    let supervisor = SupervisorView {
        stats: s.stats().await?,
        sessions_by_state: s.count_by_state().await?,
    };
    Ok(ApiResponse::ok(Tree {
        node: NodeInfo {
            version: env!("CARGO_PKG_VERSION"),
            uptime_secs: app.started_at.elapsed().as_secs(),
            environment: app.settings.environment.to_string(),
        },
        session_supervisor: supervisor,
        engine_pools: app.engines.status(),
        job_queue: s.queue_stats(),
        live_frames: s.live_stats(),
        gpu_memory_bytes: None,
        cluster: cluster_view(&app).await,
        licences: "InsightFace model weights (scrfd_500m_bnkps, w600k_mbf, 2d106det): \
                   non-commercial research use only",
    }))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub session_id: SessionId,
    pub state: SessionState,
    pub decision: Option<actors::session::Decision>,
    pub seq: u64,
    /// The pending job's kind and id.
    pub pending: Option<serde_json::Value>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The actor, when the session is in memory.
    pub actor: Option<ActorView>,
    pub events: Vec<SessionEvent>,
    /// Its comparisons with their decisions and pairs, from the records store (each says
    /// `source: journal` while its records are still on their way there).
    pub comparisons: Vec<ComparisonView>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActorView {
    pub watchers: usize,
    pub idle_ms: u64,
}

/// `GET /admin/sessions/{id}`
#[utoipa::path(get, path = "/admin/sessions/{id}", tag = "admin", security(("admin" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "State, pending job, actor, every event (masked), comparisons and decisions from the records store", body = Envelope<serde_json::Value>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND", body = ErrorEnvelope),
    ))]
pub async fn session(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<SessionView> {
    app.admin(&headers)?;
    let id = parse_session_id(&id)?;
    let sessions = &app.sessions;
    let r = sessions.find(&id)?;
    // The events carry masked fields and the comparisons the scores: a read of personal data.
    sessions
        .audit(id, "admin", "read", "GET /admin/sessions/{id}")
        .await?;
    let actor = match sessions.running_actor(id).await {
        Some(a) => ractor::call!(a, SessionMsg::Snapshot)
            .ok()
            .map(|s: SessionSnapshot| ActorView {
                watchers: s.watchers,
                idle_ms: s.idle_ms,
            }),
        None => None,
    };
    let events = sessions.events_since(&id, 0)?;
    let comparisons = app.comparison_views(id).await?;
    Ok(ApiResponse::ok(SessionView {
        session_id: r.id,
        state: r.state,
        decision: r.decision,
        seq: r.seq,
        pending: r
            .pending
            .as_ref()
            .map(|j| serde_json::json!({ "kind": j.stage(), "id": j.id() })),
        created_ms: r.created_ms,
        updated_ms: r.updated_ms,
        actor,
        events,
        comparisons,
    }))
}

/// The query of `GET /admin/decisions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DecisionsQuery {
    /// From this time on, ms since the Unix epoch (default: 24 hours ago).
    pub from_ms: Option<i64>,
    /// Before this time (default: now).
    pub to_ms: Option<i64>,
    /// At most this many, 1–1000 (default 100).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionsView {
    /// `mariadb` or `embedded`.
    pub records_backend: &'static str,
    /// Records not yet delivered to the store (decisions among them are not listed yet).
    pub outbox_backlog: u64,
    pub decisions: Vec<crate::records::DecisionRow>,
}

/// `GET /admin/decisions?fromMs=&toMs=&limit=`
#[utoipa::path(get, path = "/admin/decisions", tag = "admin", security(("admin" = [])),
    params(DecisionsQuery),
    responses(
        (status = 200, description = "Decisions in the time range, oldest first, from the records store", body = Envelope<serde_json::Value>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 422, description = "VALIDATION_FAILED: a bad range or limit", body = ErrorEnvelope),
        (status = 503, description = "UNAVAILABLE: the records store cannot be read now", body = ErrorEnvelope),
    ))]
pub async fn decisions(
    State(app): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<DecisionsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<DecisionsView> {
    app.admin(&headers)?;
    let Query(q) = query.map_err(|e| ApiError::validation(e.body_text()))?;
    let to = q.to_ms.unwrap_or_else(crate::records::now_ms);
    let from = q.from_ms.unwrap_or(to.saturating_sub(24 * 3600 * 1000));
    let limit = q.limit.unwrap_or(100);
    if from > to || !(1..=1000).contains(&limit) {
        return Err(ApiError::validation(
            "fromMs must not be after toMs, and limit must be 1 to 1000",
        ));
    }
    let decisions = app
        .records
        .decisions_between(from, to, limit)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the records store: {}", e.label())))?;
    Ok(ApiResponse::ok(DecisionsView {
        records_backend: app.records.backend(),
        outbox_backlog: app.records.health().outbox.count,
        decisions,
    }))
}

/// `POST /admin/sessions/{id}/expire`: ends a live session now (journaled, told to its
/// sockets); 409 for a finished one.
#[utoipa::path(post, path = "/admin/sessions/{id}/expire", tag = "admin", security(("admin" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "The `expired` event", body = Envelope<SessionEvent>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: the session has already ended", body = ErrorEnvelope),
    ))]
pub async fn expire(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<SessionEvent> {
    app.admin(&headers)?;
    let id = parse_session_id(&id)?;
    let step = Step::reached(
        SessionState::Expired,
        Stage::Session,
        Message::new(
            "The session was ended by an administrator. Start a new one.",
            "관리자가 세션을 종료했습니다. 새로 시작해 주세요.",
        ),
    )
    .ending_job();
    let event = app.sessions.record(id, step).await?;
    tracing::info!(session = %id, "session expired by an administrator");
    Ok(ApiResponse::ok(event))
}
