//! The tenant's side of the API, with its key: its sessions listed (newest first, paged by
//! creation time) and each read in full — the ID capture's checks and masked fields, every
//! comparison with its scores and pairs table. Another tenant's sessions do not exist here.

use super::auth::TenantKey;
use super::comparisons::ComparisonView;
use super::extract::Query;
use super::kyc::SessionStatus;
use super::{ApiError, ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use crate::flow::IdCaptureStatus;
use crate::sessions::AuthorizedSession;
use actors::session::Job;
use axum::extract::State;
use serde::{Deserialize, Serialize};

/// A session's full result, for its tenant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResult {
    /// The last ID photo: checks, document type, masked fields, face.
    pub id_capture: Option<IdCaptureStatus>,
    /// Every comparison: decision, reasons, threshold, scores, the ID × frame pairs.
    pub comparisons: Vec<ComparisonView>,
}

impl AppState {
    /// The full result of `session`.
    pub(super) async fn session_result(
        &self,
        session: &AuthorizedSession,
    ) -> Result<SessionResult, ApiError> {
        let id_capture = match &session.record().pending {
            Some(Job::IdCapture { capture_id, .. }) => {
                Some(IdCaptureStatus::processing(*capture_id))
            }
            _ => self.sessions.id_capture(session)?,
        };
        Ok(SessionResult {
            id_capture,
            comparisons: self.comparison_views(session.id()).await?,
        })
    }
}

/// `GET /api/v1/sessions` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
    /// Where the previous page ended: its `next`.
    #[param(
        pattern = r"^[0-9]{1,19}\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub before: Option<String>,
}

/// A page of a tenant's sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    pub sessions: Vec<SessionStatus>,
    /// `before` for the next page (absent on the last).
    pub next: Option<String>,
}

/// A page's end as `before`/`next` carry it: `{created ms}.{session id}`.
fn cursor(ms: u64, id: &actors::session::SessionId) -> String {
    format!("{ms}.{id}")
}

fn parse_cursor(s: &str) -> Result<(u64, actors::session::SessionId), ApiError> {
    let bad = || ApiError::validation("before is the `next` of a previous page");
    let (ms, id) = s.split_once('.').ok_or_else(bad)?;
    Ok((
        ms.parse().map_err(|_| bad())?,
        uuid::Uuid::parse_str(id).map_err(|_| bad())?,
    ))
}

const LIMIT_DEFAULT: usize = 50;
const LIMIT_MAX: usize = 200;

/// `GET /api/v1/sessions`
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", security(("apiKey" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "The tenant's sessions, newest first", body = Envelope<SessionList>),
        (status = 400, description = "BAD_REQUEST: a query parameter does not parse", body = ErrorEnvelope),
        (status = 401, description = "INVALID_API_KEY", body = ErrorEnvelope),
        (status = 403, description = "TENANT_DISABLED", body = ErrorEnvelope),
        (status = 422, description = "VALIDATION_FAILED: limit out of range, or a `before` that is no page's end", body = ErrorEnvelope),
    ))]
pub async fn list(
    State(app): State<AppState>,
    TenantKey(tenant): TenantKey,
    Query(q): Query<ListQuery>,
) -> ApiResult<SessionList> {
    let limit = q.limit.unwrap_or(LIMIT_DEFAULT);
    if !(1..=LIMIT_MAX).contains(&limit) {
        return Err(ApiError::validation(format!("limit is 1 to {LIMIT_MAX}")));
    }
    let before = q.before.as_deref().map(parse_cursor).transpose()?;
    let records = app
        .sessions
        .list_of_tenant(&tenant.id, before, limit + 1)
        .await?;
    let more = records.len() > limit;
    let mut sessions = Vec::with_capacity(limit);
    for r in records.into_iter().take(limit) {
        // The index read each record already (and only the tenant's): no second lookup.
        let external_id = r.external_id.clone();
        let session = app.sessions.authorized(r)?;
        let mut s = SessionStatus::of(&session);
        s.external_id = external_id;
        sessions.push(s);
    }
    let next = more
        .then(|| sessions.last().map(|s| cursor(s.created_ms, &s.session_id)))
        .flatten();
    Ok(ApiResponse::ok(SessionList { sessions, next }))
}
