//! The KYC REST API: create a session, upload its ID photo and selfie video, ask for the
//! comparison and read the results. Every call but the first carries the session's bearer
//! token; uploads return 202 at once and the work's progress arrives as events.

use super::auth::{Authorized, SessionAccess, TenantKey, bearer, parse_session_id};
use super::comparisons::ComparisonView;
use super::extract::{Json, OptionalJson, Path};
use super::openapi::TokenRefusals;
use super::{ApiError, ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use crate::consent::{Consent, ConsentRequest, ConsentVia};
use crate::flow::IdCaptureStatus;
use actors::session::event::now_ms;
use actors::session::{Intake, Job, Message, Owner, SessionId, SessionState, Stage, Step};
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::{HeaderMap, request::Parts};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

/// The client's address as the per-address rate limits key it (see `client_addr`).
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(peer) = parts.extensions.get::<ConnectInfo<SocketAddr>>() else {
            return Ok(Self("unknown".to_owned()));
        };
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let ip = super::client_addr::client_addr(peer.0.ip(), forwarded, &app.trusted_proxies);
        Ok(Self(super::client_addr::limit_key(ip)))
    }
}

impl AppState {
    /// One request of `key` against its allowance `per_minute`; 429 when it is used up.
    pub(super) fn limit(&self, key: &str, per_minute: u32) -> Result<(), ApiError> {
        self.limiter
            .check(key, per_minute)
            .map_err(|s| ApiError::TooManyRequests {
                retry_after_secs: Some(s),
            })
    }

    /// [`Self::limit`] for the whole cluster when there is one (counted in Redis), else (or
    /// while Redis is away) for this node.
    pub(super) async fn limit_shared(&self, key: &str, per_minute: u32) -> Result<(), ApiError> {
        if let Some(cluster) = self.engines.cluster().filter(|c| c.is_up()) {
            match crate::cluster::limits::check(cluster, key, per_minute).await {
                Ok(None) => return Ok(()),
                Ok(Some(s)) => {
                    return Err(ApiError::TooManyRequests {
                        retry_after_secs: Some(s),
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "shared limit not checked; this node's own instead")
                }
            }
        }
        self.limit(key, per_minute)
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
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSession {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    /// The tenant's own reference, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// Bearer token for this session only, for the person's browser; shown once.
    pub token: String,
    /// Where the browser watches the session's events (the token in the query).
    pub ws_url: String,
    /// Where the browser reads the session's progress (with the token as bearer).
    pub status_url: String,
    /// Seconds without activity after which the session expires.
    pub expires_in_secs: u64,
    /// When the token stops working whatever the session is doing (ms since the Unix epoch:
    /// `sessions.max_lifetime_secs` after its creation).
    pub token_expires_ms: u64,
}

/// The body of `POST /api/v1/sessions` (optional).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSession {
    /// The tenant's own reference for the session (at most 128 printable characters), shown
    /// back in its lists and results.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub external_id: Option<String>,
    /// What the person agreed to, when the caller collected it; without it the person's page
    /// records it later (`POST /api/v1/sessions/{id}/consent`), and no upload is taken before.
    pub consent: Option<ConsentRequest>,
}

/// The longest `externalId`.
const EXTERNAL_ID_MAX: usize = 128;

fn external_id(id: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(id) = id.map(|s| s.trim().to_owned()) else {
        return Ok(None);
    };
    if id.is_empty() || id.chars().count() > EXTERNAL_ID_MAX || id.chars().any(char::is_control) {
        return Err(ApiError::validation(format!(
            "externalId is 1 to {EXTERNAL_ID_MAX} printable characters"
        )));
    }
    Ok(Some(id))
}

/// `POST /api/v1/sessions`
#[utoipa::path(post, path = "/api/v1/sessions", tag = "sessions", security(("apiKey" = [])),
    request_body(content = Option<CreateSession>, description = "Optional: the tenant's reference and the consent the caller collected"),
    responses(
        super::openapi::JsonRefusals,
        (status = 201, description = "The session, its token for the person's browser (shown once), its WebSocket and status URLs", body = Envelope<CreatedSession>),
        (status = 401, description = "INVALID_API_KEY: no tenant API key, a malformed one or an unknown one", body = ErrorEnvelope),
        (status = 403, description = "TENANT_DISABLED", body = ErrorEnvelope),
        (status = 422, description = "VALIDATION_FAILED: the consent is incomplete or names an unknown purpose, or the externalId is too long", body = ErrorEnvelope),
        (status = 429, description = "RATE_LIMITED (Retry-After): over the address's or the tenant's rate; QUOTA_EXCEEDED: the tenant has its maximum of open sessions", body = ErrorEnvelope),
    ))]
pub async fn create_session(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
    TenantKey(tenant): TenantKey,
    OptionalJson(body): OptionalJson<CreateSession>,
) -> ApiResult<CreatedSession> {
    app.limit_ip(&ip)?;
    let (external_id, consent) = match body {
        Some(b) => (external_id(b.external_id)?, b.consent),
        None => (None, None),
    };
    // A bad consent is refused before a session exists for it.
    let consent = consent
        .map(|c| c.accept(ConsentVia::Creation, now_ms()))
        .transpose()?;
    let (record, token) = open_session(&app, &tenant, external_id.clone(), consent).await?;
    // From the configured public URL, never from the request's Host header.
    let ws_url = app.ws_url(&format!("/ws/kyc/{}?token={token}", record.id));
    tracing::info!(session = %record.id, tenant = %tenant.id, "session created");
    Ok(ApiResponse::created(CreatedSession {
        session_id: record.id,
        external_id,
        token,
        ws_url,
        status_url: format!("{}/api/v1/sessions/{}", app.public_url, record.id),
        expires_in_secs: app.settings.sessions.idle_timeout_secs,
        token_expires_ms: record
            .created_ms
            .saturating_add(app.settings.sessions.max_lifetime_secs.saturating_mul(1000)),
    }))
}

/// Opens a session of `tenant` within its rate and open-session quota, with the consent the
/// tenant collected (if any): the session and its token (shown once).
pub(crate) async fn open_session(
    app: &AppState,
    tenant: &crate::records::Tenant,
    external_id: Option<String>,
    consent: Option<Consent>,
) -> Result<(actors::session::SessionRecord, String), ApiError> {
    // The tenant's allowance: one tenant's flood does not use up anyone else's.
    let per_minute = tenant
        .options
        .sessions_per_minute
        .unwrap_or(app.settings.sessions.rate_per_tenant_per_minute);
    app.limit_shared(&format!("tenant:{}", tenant.id), per_minute)
        .await?;
    let owner = Owner {
        tenant: Some(tenant.id.clone()),
        external_id,
    };
    let max_open = tenant
        .options
        .max_open_sessions
        .unwrap_or(app.settings.sessions.max_open_per_tenant) as usize;
    let Some(place) = app.sessions.reserve_open(&tenant.id, max_open).await? else {
        return Err(ApiError::Quota(format!(
            "this tenant has its maximum of {max_open} open sessions; one more can start when \
             one of them is decided, fails or expires"
        )));
    };
    let (record, token) = app.sessions.create(owner).await?;
    place.made(&record);
    register_in_directory(app, &record, &token).await;
    if let Some(c) = &consent {
        app.sessions.record_consent(record.id, c).await?;
    }
    Ok((record, token))
}

/// In a cluster: where the session lives, so a socket on another node can watch it. A
/// directory Redis cannot take now only costs that (sockets on this node work as ever).
async fn register_in_directory(
    app: &AppState,
    record: &actors::session::SessionRecord,
    token: &str,
) {
    let Some(remote) = &app.engines.remote else {
        return;
    };
    let entry = crate::cluster::events::DirectoryEntry {
        owner: remote.cluster().node.clone(),
        url: match app.settings.cluster.advertise_url.trim() {
            "" => app.public_url.to_string(),
            own => own.to_owned(),
        },
        token_hash: crate::sessions::token_hash(token),
        tenant: record.tenant.clone(),
        token_expires_ms: record
            .created_ms
            .saturating_add(app.settings.sessions.max_lifetime_secs.saturating_mul(1000)),
    };
    if let Err(e) = remote.events.register(record.id, &entry).await {
        tracing::warn!(session = %record.id, error = %e, "session not in the cluster's directory");
    }
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
    /// What the person agreed to (`null`: nothing yet; uploads wait for it).
    pub consent: Option<Consent>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// The tenant's own reference (tenant key only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The full result (tenant key only): the ID capture's fields and checks, every
    /// comparison with its scores and pairs table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<super::tenant_api::SessionResult>,
}

impl SessionStatus {
    /// The outline of `session` anyone allowed to see it may read.
    pub fn of(session: &crate::sessions::AuthorizedSession) -> Self {
        let r = session.record();
        Self {
            session_id: r.id,
            state: r.state,
            decision: r.decision,
            seq: r.seq,
            pending: r.pending.as_ref().map(Job::id),
            consent: session.consent().cloned(),
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
            external_id: None,
            result: None,
        }
    }
}

/// `GET /api/v1/sessions/{id}`
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", security(("session" = []), ("apiKey" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "State, last event number, decision; with the tenant's key also its externalId and the full result", body = Envelope<SessionStatus>),
        TokenRefusals,
    ))]
pub async fn session_status(
    State(app): State<AppState>,
    access: SessionAccess,
) -> ApiResult<SessionStatus> {
    let mut status = SessionStatus::of(&access.session);
    if access.caller.tenant().is_ok() {
        status.external_id = access.session.record().external_id.clone();
        status.result = Some(app.session_result(&access.session).await?);
    }
    Ok(ApiResponse::ok(status))
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
    /// `processing` (events follow on the WebSocket) or `checked` (a live frame: its check
    /// goes to the session's sockets as a transient event).
    pub status: &'static str,
    /// Sequence number of the event that recorded it; for a live frame, which is not
    /// journaled, the session's last event.
    pub seq: u64,
}

/// `GET /api/v1/id-capture/{sessionId}`
#[utoipa::path(get, path = "/api/v1/id-capture/{sessionId}", tag = "sessions", security(("session" = [])),
    params(("sessionId" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "The last ID photo: status, quality checks, masked fields, face", body = Envelope<IdCaptureStatus>),
        TokenRefusals,
    ))]
pub async fn id_capture_status(
    State(app): State<AppState>,
    Authorized(session): Authorized,
) -> ApiResult<IdCaptureStatus> {
    if let Some(Job::IdCapture { capture_id, .. }) = &session.record().pending {
        return Ok(ApiResponse::ok(IdCaptureStatus::processing(*capture_id)));
    }
    app.sessions
        .id_capture(&session)?
        .map(ApiResponse::ok)
        .ok_or_else(|| ApiError::NotFound(format!("an ID photo of session {}", session.id())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompareRequest {
    #[schema(format = Uuid)]
    pub session_id: String,
}

/// `POST /api/v1/face-similarity` `{"sessionId": …}`
#[utoipa::path(post, path = "/api/v1/face-similarity", tag = "sessions", security(("session" = [])),
    request_body = CompareRequest,
    responses(
        super::openapi::JsonRefusals,
        (status = 202, description = "Comparing: the decision arrives as the last event", body = Envelope<Accepted>),
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
    let session = app.authorize(&id, bearer(&headers))?;
    app.limit_session(&id)?;
    let comparison_id = uuid::Uuid::new_v4();
    let step = Step::progress(
        SessionState::Comparing,
        Stage::Comparing,
        10,
        Message::new("Comparing the faces", "얼굴을 비교하고 있습니다"),
    )
    .with_result(serde_json::json!({ "comparisonId": comparison_id }));
    let seq = app
        .sessions
        .submit(
            &session,
            Intake::Comparison,
            Job::Compare { comparison_id },
            step,
        )
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
    Done(Box<ComparisonView>),
    /// What the person's page sees: the outcome, no scores.
    Outcome(super::person_view::ComparisonOutcome),
    Processing {
        #[serde(rename = "comparisonId")]
        comparison_id: uuid::Uuid,
        status: &'static str,
    },
}

/// `GET /api/v1/face-similarity/{comparisonId}`
#[utoipa::path(get, path = "/api/v1/face-similarity/{comparisonId}", tag = "sessions", security(("session" = []), ("apiKey" = [])),
    params(("comparisonId" = uuid::Uuid, Path, description = "Comparison id")),
    responses(
        (status = 200, description = "With the tenant's key (or a session token of a tenant that shows scores): the decision, its reasons and the ID × frame pairs, from the records store (`source: records`) or, while its records are on their way there, from the session's journal (`source: journal`). With the session token: the outcome only (`ComparisonOutcome`). `{comparisonId, status: \"processing\"}` while it runs", body = Envelope<ComparisonView>),
        TokenRefusals,
    ))]
pub async fn comparison(
    State(app): State<AppState>,
    Path(cid): Path<String>,
    headers: HeaderMap,
) -> ApiResult<ComparisonAnswer> {
    let cid = uuid::Uuid::parse_str(cid.trim())
        .map_err(|_| ApiError::validation("the comparison id is not a UUID"))?;
    let not_found = || ApiError::NotFound(format!("comparison {cid}"));
    let id = app.sessions.owner_of(&cid)?.ok_or_else(not_found)?;
    let SessionAccess { session, caller } = app.access(&id, &headers).await?;
    match app.comparison_view(session.id(), cid).await? {
        Some(r) if caller.sees_scores() => Ok(ApiResponse::ok(ComparisonAnswer::Done(Box::new(r)))),
        Some(r) => Ok(ApiResponse::ok(ComparisonAnswer::Outcome(r.into()))),
        None if session.record().pending.as_ref().map(Job::id) == Some(cid) => {
            Ok(ApiResponse::ok(ComparisonAnswer::Processing {
                comparison_id: cid,
                status: "processing",
            }))
        }
        None => Err(not_found()),
    }
}

/// `POST /api/v1/sessions/{id}/consent`: the person's page records what they agreed to.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/consent", tag = "sessions", security(("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    request_body = ConsentRequest,
    responses(
        super::openapi::JsonRefusals,
        (status = 201, description = "The consent as recorded", body = Envelope<Consent>),
        (status = 409, description = "CONFLICT: consent is already recorded, or the session has ended", body = ErrorEnvelope),
        (status = 422, description = "VALIDATION_FAILED: the consent is incomplete or names an unknown purpose", body = ErrorEnvelope),
        TokenRefusals,
    ))]
pub async fn record_consent(
    State(app): State<AppState>,
    Authorized(session): Authorized,
    Json(consent): Json<ConsentRequest>,
) -> ApiResult<Consent> {
    let recorded = consent.accept(ConsentVia::Person, now_ms())?;
    app.sessions.record_consent(session.id(), &recorded).await?;
    tracing::info!(session = %session.id(), "consent recorded");
    Ok(ApiResponse::created(recorded))
}
