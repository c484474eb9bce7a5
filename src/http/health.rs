//! Probes: `/healthz` says the process serves (liveness), `/readyz` says the engine pools can
//! take work (readiness), so an orchestrator restarts the first and routes traffic by the second.
//! A records backend that is away does not make the node unready (the outbox keeps the
//! records); `/readyz` reports the outbox so a monitor sees it grow.

use super::{ApiError, ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use crate::engines::Readiness;
use crate::records::RecordsHealth;
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
    /// `"ready"`, or `"degraded"`: work is taken, but not as configured (Redis away: this node
    /// runs its own sessions in-process); `degraded` says why.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
    /// The records backend and the outbox waiting for it.
    #[serde(flatten)]
    pub records: Option<RecordsHealth>,
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

/// 200 when the engine pools are ready, with the records backend and its outbox (`lagging`
/// while deliveries fail: the node still serves, the records wait); else 503 `NOT_READY` with
/// the reason in `error.details.reason`.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses((status = 200, description = "Ready for work; `recordsBackend`, `outbox {count, oldestAgeMs, dead}` and `lagging` say how far the records store is behind", body = Envelope<Ready>), (status = 503, description = "NOT_READY: the engine pools are still loading", body = ErrorEnvelope)))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Ready> {
    let mut r = ready(state.engines.as_ref(), Some(state.records.health()))?;
    if let Some(why) = state.engines.degraded() {
        r.data.status = "degraded";
        r.data.degraded = Some(why);
    }
    Ok(r)
}

/// `/readyz`'s answer for `readiness`.
fn ready(readiness: &dyn Readiness, records: Option<RecordsHealth>) -> ApiResult<Ready> {
    match readiness.ready() {
        Ok(()) => Ok(ApiResponse::ok(Ready {
            status: "ready",
            degraded: None,
            records,
        })),
        Err(reason) => Err(ApiError::NotReady(reason)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Not ready until flipped.
    struct Switch(AtomicBool);

    impl Readiness for Switch {
        fn ready(&self) -> Result<(), String> {
            if self.0.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("face pool: 0 of 2 workers loaded".to_owned())
            }
        }
    }

    async fn answer(r: &dyn Readiness) -> (u16, serde_json::Value) {
        let res = match ready(r, None) {
            Ok(ok) => ok.into_response(),
            Err(e) => e.into_response(),
        };
        let status = res.status().as_u16();
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .expect("body");
        (status, serde_json::from_slice(&body).expect("json"))
    }

    #[tokio::test]
    async fn readyz_is_503_with_the_reason_until_ready() {
        let switch = Switch(AtomicBool::new(false));
        let (status, body) = answer(&switch).await;
        assert_eq!(status, 503);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "NOT_READY");
        assert_eq!(
            body["error"]["details"]["reason"],
            "face pool: 0 of 2 workers loaded"
        );
        switch.0.store(true, Ordering::SeqCst);
        let (status, body) = answer(&switch).await;
        assert_eq!(status, 200);
        assert_eq!(body["data"]["status"], "ready");
    }
}
