//! The KYC REST API: create a session, upload its ID photo and selfie video, ask for the
//! comparison and read the results. Every call but the first carries the session's bearer
//! token; uploads return 202 at once and the work's progress arrives as events.

use super::extract::{Json, Path};
use super::openapi::TokenRefusals;
use super::{ApiError, ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use crate::flow::{ComparisonReport, IdCaptureStatus};
use crate::sessions::{Sessions, SessionsError};
use actors::session::{
    Job, Message, SessionError, SessionId, SessionRecord, SessionState, Stage, Step,
};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::{HeaderMap, header, request::Parts};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;

impl From<SessionsError> for ApiError {
    fn from(e: SessionsError) -> Self {
        match e {
            SessionsError::Unknown(id) => ApiError::NotFound(format!("session {id}")),
            SessionsError::Token => ApiError::Forbidden,
            SessionsError::Session(SessionError::Transition(t)) => {
                ApiError::Conflict(t.to_string())
            }
            SessionsError::Session(e @ SessionError::Busy) => ApiError::Conflict(e.to_string()),
            SessionsError::Session(SessionError::Gone) | SessionsError::Down => {
                ApiError::Unavailable("the session is restarting; try again".into())
            }
            e => ApiError::Internal(anyhow::Error::new(e)),
        }
    }
}

/// The client's address (for per-address rate limits).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string()),
        ))
    }
}

/// The bearer token of `Authorization: Bearer …`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub(super) fn parse_session_id(s: &str) -> Result<SessionId, ApiError> {
    SessionId::parse_str(s.trim())
        .map_err(|_| ApiError::validation("`sessionId` is not a session id (a UUID)"))
}

impl AppState {
    pub(crate) fn sessions(&self) -> Result<&Arc<Sessions>, ApiError> {
        self.sessions
            .as_ref()
            .ok_or_else(|| ApiError::NotReady("sessions are not running on this node".into()))
    }

    /// One request of `key` against its allowance `per_minute`; 429 when it is used up.
    fn limit(&self, key: &str, per_minute: u32) -> Result<(), ApiError> {
        self.limiter
            .check(key, per_minute)
            .map_err(|s| ApiError::TooManyRequests {
                retry_after_secs: Some(s),
            })
    }

    pub(crate) fn limit_ip(&self, ip: &str) -> Result<(), ApiError> {
        self.limit(
            &format!("ip:{ip}"),
            self.settings.sessions.rate_per_ip_per_minute,
        )
    }

    pub(super) fn limit_session(&self, id: &SessionId) -> Result<(), ApiError> {
        self.limit(
            &format!("session:{id}"),
            self.settings.sessions.rate_per_session_per_minute,
        )
    }

    /// Session `id` when the request's bearer token is its token (401 without one).
    pub(crate) fn authorize(
        &self,
        id: &SessionId,
        token: Option<&str>,
    ) -> Result<SessionRecord, ApiError> {
        let sessions = self.sessions()?;
        if token.is_none() {
            // Unknown sessions are still 404, so a client learns what is wrong.
            sessions
                .journal
                .record(id)
                .map_err(|e| ApiError::Internal(e.into()))?
                .ok_or_else(|| ApiError::NotFound(format!("session {id}")))?;
            return Err(ApiError::Unauthorized);
        }
        Ok(sessions.authorize(id, token)?)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSession {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    /// Bearer token for this session only; shown once.
    pub token: String,
    /// Where to watch the session's events.
    pub ws_url: String,
    pub expires_in_secs: u64,
}

/// `POST /api/v1/sessions`
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions",
    responses(
        (status = 201, description = "The session, its token (shown once) and its WebSocket", body = Envelope<CreatedSession>),
        (status = 429, description = "RATE_LIMITED (Retry-After)", body = ErrorEnvelope),
    ))]
pub async fn create_session(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> ApiResult<CreatedSession> {
    app.limit_ip(&ip)?;
    let (record, token) = app.sessions()?.create().await?;
    let path = format!("/ws/kyc/{}?token={token}", record.id);
    let ws_url = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("ws://{host}{path}"),
        None => path,
    };
    tracing::info!(session = %record.id, "session created");
    Ok(ApiResponse::created(CreatedSession {
        session_id: record.id,
        token,
        ws_url,
        expires_in_secs: app.settings.sessions.idle_timeout_secs,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    pub state: SessionState,
    pub decision: Option<actors::session::Decision>,
    /// Sequence number of the last event.
    pub seq: u64,
    /// The upload or comparison being worked on.
    pub pending: Option<uuid::Uuid>,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// `GET /api/v1/sessions/{id}`
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", security(("session" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "State, last event number, decision", body = Envelope<SessionStatus>),
        TokenRefusals,
    ))]
pub async fn session_status(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<SessionStatus> {
    let id = parse_session_id(&id)?;
    let r = app.authorize(&id, bearer(&headers))?;
    Ok(ApiResponse::ok(SessionStatus {
        session_id: r.id,
        state: r.state,
        decision: r.decision,
        seq: r.seq,
        pending: r.pending.as_ref().map(Job::id),
        created_ms: r.created_ms,
        updated_ms: r.updated_ms,
    }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_id: Option<uuid::Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison_id: Option<uuid::Uuid>,
    /// `processing` (events follow on the WebSocket) or `checked` (a live frame).
    pub status: &'static str,
    /// Sequence number of the event that recorded it.
    pub seq: u64,
}
pub(super) fn state_allows(
    record: &SessionRecord,
    allowed: &[SessionState],
    what: &str,
) -> Result<(), ApiError> {
    if record.pending.is_some() {
        return Err(ApiError::Conflict(SessionError::Busy.to_string()));
    }
    if allowed.contains(&record.state) {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "{what} is not accepted in state {}",
            record.state.as_str()
        )))
    }
}

/// `GET /api/v1/id-capture/{sessionId}`
#[utoipa::path(get, path = "/api/v1/id-capture/{sessionId}", tag = "sessions", security(("session" = [])),
    params(("sessionId" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The last ID photo: status, quality checks, masked fields, face", body = Envelope<IdCaptureStatus>),
        TokenRefusals,
    ))]
pub async fn id_capture_status(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<IdCaptureStatus> {
    let id = parse_session_id(&id)?;
    let record = app.authorize(&id, bearer(&headers))?;
    if let Some(Job::IdCapture { capture_id, .. }) = &record.pending {
        return Ok(ApiResponse::ok(IdCaptureStatus::processing(*capture_id)));
    }
    let status: Option<IdCaptureStatus> = app
        .sessions()?
        .journal
        .artifact(&id, crate::flow::ID_CAPTURE)
        .map_err(|e| ApiError::Internal(e.into()))?;
    status
        .map(ApiResponse::ok)
        .ok_or_else(|| ApiError::NotFound(format!("an ID photo of session {id}")))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompareRequest {
    pub session_id: String,
}

/// `POST /api/v1/face-similarity` `{"sessionId": …}`
#[utoipa::path(post, path = "/api/v1/face-similarity", tag = "sessions", security(("session" = [])),
    request_body = CompareRequest,
    responses(
        (status = 202, description = "Comparing: the decision arrives as the last event", body = Envelope<Accepted>),
        (status = 400, description = "INVALID_JSON", body = ErrorEnvelope),
        TokenRefusals,
        (status = 409, description = "CONFLICT: the video is not accepted yet, or the session is decided", body = ErrorEnvelope),
        (status = 422, description = "VALIDATION_FAILED", body = ErrorEnvelope),
    ))]
pub async fn face_similarity(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Json(req): Json<CompareRequest>,
) -> ApiResult<Accepted> {
    app.limit_ip(&ip)?;
    let id = parse_session_id(&req.session_id)?;
    let record = app.authorize(&id, bearer(&headers))?;
    app.limit_session(&id)?;
    state_allows(&record, &[SessionState::VideoAccepted], "a comparison")?;
    let sessions = app.sessions()?;
    let comparison_id = uuid::Uuid::new_v4();
    sessions
        .journal
        .link(&comparison_id, &id)
        .map_err(|e| ApiError::Internal(e.into()))?;
    let step = Step::progress(
        SessionState::Comparing,
        Stage::Comparing,
        10,
        Message::new("Comparing the faces", "얼굴을 비교하고 있습니다"),
    )
    .with_result(serde_json::json!({ "comparisonId": comparison_id }));
    let seq = sessions
        .submit(id, Job::Compare { comparison_id }, step)
        .await?
        .seq;
    Ok(ApiResponse::accepted(Accepted {
        session_id: id,
        capture_id: None,
        video_id: None,
        comparison_id: Some(comparison_id),
        status: "processing",
        seq,
    }))
}

/// A comparison, or that it is still running.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ComparisonAnswer {
    Done(Box<ComparisonReport>),
    Processing {
        #[serde(rename = "comparisonId")]
        comparison_id: uuid::Uuid,
        status: &'static str,
    },
}

/// `GET /api/v1/face-similarity/{comparisonId}`
#[utoipa::path(get, path = "/api/v1/face-similarity/{comparisonId}", tag = "sessions", security(("session" = [])),
    params(("comparisonId" = String, Path, description = "Comparison id")),
    responses(
        (status = 200, description = "The ID × frame table, aggregate and decision (or `{comparisonId, status: \"processing\"}` while it runs)", body = Envelope<ComparisonReport>),
        TokenRefusals,
    ))]
pub async fn comparison(
    State(app): State<AppState>,
    Path(cid): Path<String>,
    headers: HeaderMap,
) -> ApiResult<ComparisonAnswer> {
    let cid = uuid::Uuid::parse_str(cid.trim())
        .map_err(|_| ApiError::validation("the comparison id is not a UUID"))?;
    let sessions = app.sessions()?;
    let not_found = || ApiError::NotFound(format!("comparison {cid}"));
    let id = sessions
        .journal
        .linked(&cid)
        .map_err(|e| ApiError::Internal(e.into()))?
        .ok_or_else(not_found)?;
    let record = app.authorize(&id, bearer(&headers))?;
    let report: Option<ComparisonReport> = sessions
        .journal
        .artifact(&id, crate::flow::COMPARISON)
        .map_err(|e| ApiError::Internal(e.into()))?;
    match report {
        Some(r) if r.comparison_id == cid => {
            Ok(ApiResponse::ok(ComparisonAnswer::Done(Box::new(r))))
        }
        _ if record.pending.as_ref().map(Job::id) == Some(cid) => {
            Ok(ApiResponse::ok(ComparisonAnswer::Processing {
                comparison_id: cid,
                status: "processing",
            }))
        }
        _ => Err(not_found()),
    }
}
