//! Probes: `/healthz` says the process serves (liveness), `/readyz` says the engine pools can
//! take work (readiness), so an orchestrator restarts the first and routes traffic by the second.

use super::{ApiError, ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use axum::extract::State;
use serde::Serialize;

/// `GET /healthz` data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Always `"ok"`.
    pub status: &'static str,
    pub version: &'static str,
    pub uptime_secs: u64,
}

/// `GET /readyz` data when ready.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Ready {
    /// Always `"ready"`.
    pub status: &'static str,
}

/// 200 whenever the process serves requests.
#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, description = "The process serves", body = Envelope<Health>)))]
pub async fn healthz(State(state): State<AppState>) -> ApiResponse<Health> {
    ApiResponse::ok(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_secs: state.started_at.elapsed().as_secs(),
    })
}

/// 200 when the engine pools are ready; else 503 `NOT_READY` with the reason in
/// `error.details.reason`.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses((status = 200, description = "Ready for work", body = Envelope<Ready>), (status = 503, description = "NOT_READY: the engine pools are still loading", body = ErrorEnvelope)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Ready> {
    match state.readiness.ready() {
        Ok(()) => Ok(ApiResponse::ok(Ready { status: "ready" })),
        Err(reason) => Err(ApiError::NotReady(reason)),
    }
}
