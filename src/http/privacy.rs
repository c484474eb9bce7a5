//! The person's rights over their session through the API: erasure
//! (`DELETE /api/v1/sessions/{id}`) and the data-subject export
//! (`GET /api/v1/sessions/{id}/export`), both with the session token (the tenant's key once
//! tenants exist), both audited.

use super::auth::Authorized;
use super::openapi::TokenRefusals;
use super::{ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use crate::sessions::{ErasureReport, SessionExport};
use actors::session::{SessionId, SessionState};
use axum::extract::State;
use serde::Serialize;

/// Who the audit trail names for a session-token request.
const SESSION_TOKEN: &str = "session-token";

/// `DELETE /api/v1/sessions/{id}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionErased {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    pub state: SessionState,
    pub removed: ErasureReport,
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions", security(("session" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Erased: the data key destroyed, media deleted, personal fields and embeddings removed from the journal and the records; the decision, times and audit trail kept", body = Envelope<SessionErased>),
        TokenRefusals,
        (status = 410, description = "SESSION_ERASED: the session was already erased", body = ErrorEnvelope),
    ))]
pub async fn erase(
    State(app): State<AppState>,
    Authorized(session): Authorized,
) -> ApiResult<SessionErased> {
    let id = session.id();
    let removed = app.sessions.erase(id, SESSION_TOKEN).await?;
    Ok(ApiResponse::ok(SessionErased {
        session_id: id,
        state: SessionState::Erased,
        removed,
    }))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/export", tag = "sessions", security(("session" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Everything held about the session: events, consent, document fields (decrypted; the resident number as YYMMDD-S******), media metadata, face samples with their embeddings, comparisons, decisions, erasures and the audit entries about it", body = Envelope<SessionExport>),
        TokenRefusals,
        (status = 503, description = "UNAVAILABLE: the records store cannot be read now", body = ErrorEnvelope),
    ))]
pub async fn export(
    State(app): State<AppState>,
    Authorized(session): Authorized,
) -> ApiResult<SessionExport> {
    let export = app
        .sessions
        .export(session.id(), app.records.store(), SESSION_TOKEN)
        .await?;
    Ok(ApiResponse::ok(export))
}
