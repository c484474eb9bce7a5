//! The person's rights over their session, exercised through the tenant that runs it:
//! erasure (`DELETE /api/v1/sessions/{id}`) and the data-subject export
//! (`GET /api/v1/sessions/{id}/export`), both with the tenant's API key (the session token is
//! refused: it is in the person's browser, and an export holds every score), both audited.

use super::auth::SessionAccess;
use super::openapi::TokenRefusals;
use super::{ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use crate::sessions::{ErasureReport, SessionExport};
use actors::session::{SessionId, SessionState};
use axum::extract::State;
use serde::Serialize;

/// `DELETE /api/v1/sessions/{id}`
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionErased {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    pub state: SessionState,
    pub removed: ErasureReport,
}

#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "sessions", security(("apiKey" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "Erased: the data key destroyed, media deleted, personal fields and embeddings removed from the journal and the records; the decision, times and audit trail kept", body = Envelope<SessionErased>),
        TokenRefusals,
        (status = 410, description = "SESSION_ERASED: the session was already erased", body = ErrorEnvelope),
    ))]
pub async fn erase(State(app): State<AppState>, access: SessionAccess) -> ApiResult<SessionErased> {
    access.caller.tenant()?;
    let id = access.session.id();
    let removed = app.sessions.erase(id, &access.caller.audit_name()).await?;
    Ok(ApiResponse::ok(SessionErased {
        session_id: id,
        state: SessionState::Erased,
        removed,
    }))
}

#[utoipa::path(get, path = "/api/v1/sessions/{id}/export", tag = "sessions", security(("apiKey" = [])),
    params(("id" = uuid::Uuid, Path, description = "Session id")),
    responses(
        (status = 200, description = "Everything held about the session: events, consent, document fields (decrypted; the resident number as YYMMDD-S******), media metadata, face samples with their embeddings, comparisons, decisions, erasures and the audit entries about it", body = Envelope<SessionExport>),
        TokenRefusals,
        (status = 503, description = "UNAVAILABLE: the records store cannot be read now", body = ErrorEnvelope),
    ))]
pub async fn export(
    State(app): State<AppState>,
    access: SessionAccess,
) -> ApiResult<SessionExport> {
    access.caller.tenant()?;
    let export = app
        .sessions
        .export(
            access.session.id(),
            app.records.store(),
            &access.caller.audit_name(),
        )
        .await?;
    Ok(ApiResponse::ok(export))
}
