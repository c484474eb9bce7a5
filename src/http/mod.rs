//! The HTTP layer (axum): routes, the response envelope, request ids, errors and graceful
//! shutdown. Handlers are thin: they parse, call the actors, and wrap the answer; no vision code
//! runs here.
//!
//! Every REST answer is an [`Envelope`]; every response carries `x-request-id`; every log line
//! of a request is inside a span with its `request_id`.

mod admin;
mod envelope;
mod error;
pub mod extract;
mod health;
mod intake;
pub mod kyc;
mod limits;
mod metrics;
pub mod openapi;
mod request_id;
pub mod shutdown;
mod sniff;
mod upload;
mod ws;

pub use envelope::{ApiResponse, Envelope, ErrorBody, ErrorEnvelope};
pub use error::{ApiError, ApiResult};
pub use health::{Health, Ready};
pub use request_id::{REQUEST_ID_HEADER, RequestId, current_request_id};

use crate::settings::Settings;
use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::{get, post};
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// Whether the server can take work. The engine pools implement it; `/readyz` asks it.
pub trait Readiness: Send + Sync + 'static {
    /// `Ok(())` when ready, else `Err(what is not ready)`; the reason is shown by `/readyz`.
    fn ready(&self) -> Result<(), String>;
}

/// Always ready (for tests and tools that have no engines).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysReady;

impl Readiness for AlwaysReady {
    fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub readiness: Arc<dyn Readiness>,
    /// When the server started (for uptime).
    pub started_at: Instant,
    /// The KYC sessions (`None` on a server without them: their routes answer 503).
    pub sessions: Option<Arc<crate::sessions::Sessions>>,
    /// The engine pools, for /admin and /metrics.
    pub engines: Option<Arc<crate::engines::Engines>>,
    pub limiter: Arc<limits::RateLimiter>,
}

impl AppState {
    pub fn new(settings: Arc<Settings>, readiness: Arc<dyn Readiness>) -> Self {
        Self {
            settings,
            readiness,
            started_at: Instant::now(),
            sessions: None,
            engines: None,
            limiter: Arc::default(),
        }
    }

    /// The same state, showing `engines` in /admin and /metrics.
    pub fn with_engines(mut self, engines: Arc<crate::engines::Engines>) -> Self {
        self.engines = Some(engines);
        self
    }

    /// The same state, serving `sessions`.
    pub fn with_sessions(mut self, sessions: Arc<crate::sessions::Sessions>) -> Self {
        self.sessions = Some(sessions);
        self
    }
}

/// All routes, with the fallbacks and the common layers, bound to `state`.
pub fn router(state: AppState) -> Router {
    // Uploads are limited while they stream (`upload`), not by axum's 2 MB default.
    let uploads = Router::new()
        .route("/api/v1/id-capture", post(intake::id_capture))
        .route("/api/v1/face-video", post(intake::face_video))
        .layer(axum::extract::DefaultBodyLimit::disable());
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/v1/sessions", post(kyc::create_session))
        .route("/api/v1/sessions/{id}", get(kyc::session_status))
        .route(
            "/api/v1/id-capture/{session_id}",
            get(kyc::id_capture_status),
        )
        .route("/api/v1/face-similarity", post(kyc::face_similarity))
        .route(
            "/api/v1/face-similarity/{comparison_id}",
            get(kyc::comparison),
        )
        .route("/ws/kyc/{session_id}", get(ws::watch))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/docs", get(openapi::page))
        .route("/admin/tree", get(admin::tree))
        .route("/admin/sessions/{id}", get(admin::session))
        .route("/admin/sessions/{id}/expire", post(admin::expire))
        .merge(uploads);
    finish(routes).with_state(state)
}

/// Adds the envelope fallbacks (404, and 405 for every route registered so far, so call it
/// after the last route) and the common layers: request id + span + access log (outermost),
/// the envelope for bare error responses, and a panic catcher that answers 500 `INTERNAL`.
pub fn finish<S>(routes: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(axum::middleware::from_fn(envelope::enveloped_errors))
        .layer(axum::middleware::from_fn(request_id::middleware))
}

async fn not_found(uri: Uri) -> ApiError {
    let path: String = uri.path().chars().take(200).collect();
    ApiError::NotFound(format!("route {path}"))
}

async fn method_not_allowed(method: Method) -> ApiError {
    let method: String = method.as_str().chars().take(32).collect();
    ApiError::MethodNotAllowed(method)
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    axum::response::IntoResponse::into_response(ApiError::Internal(anyhow::anyhow!(
        "handler panicked: {what}"
    )))
}

/// Serves `state`'s router on `listener` until `shutdown` completes, then lets in-flight
/// requests finish for up to `server.shutdown_grace_secs` before returning.
pub async fn serve<F>(listener: TcpListener, state: AppState, shutdown: F) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let grace = state.settings.server.shutdown_grace();
    let app = router(state);
    let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        let _ = signalled_tx.send(());
    };
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .into_future();
    tokio::pin!(server);

    tokio::select! {
        res = &mut server => return res,
        _ = signalled_rx => {}
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "no longer accepting connections; waiting for open requests"
    );
    match tokio::time::timeout(grace, server).await {
        Ok(res) => {
            tracing::info!("all connections closed");
            res
        }
        Err(_) => {
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "grace period over; closing the remaining connections"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    //! The common layers on routes that the real router does not have yet (JSON bodies,
    //! panics, bare errors), served for real on port 0.

    use super::*;
    use axum::http::StatusCode;
    use axum::routing::post;
    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Debug, Deserialize)]
    struct Echo {
        name: String,
        age: u8,
    }

    async fn echo(extract::Json(e): extract::Json<Echo>) -> ApiResult<Value> {
        Ok(ApiResponse::created(
            serde_json::json!({ "name": e.name, "age": e.age }),
        ))
    }

    async fn by_id(extract::Path(id): extract::Path<u32>) -> ApiResponse<u32> {
        ApiResponse::ok(id)
    }

    async fn boom() -> ApiResponse<()> {
        panic!("secret internal detail");
    }

    async fn bare() -> (StatusCode, &'static str) {
        (StatusCode::BAD_REQUEST, "bare message")
    }

    async fn bare_500() -> (StatusCode, &'static str) {
        (StatusCode::INTERNAL_SERVER_ERROR, "db password is hunter2")
    }

    async fn internal() -> ApiResult<()> {
        Err(anyhow::anyhow!("/var/lib/kyc/secret.sled is corrupt").into())
    }

    async fn start() -> (String, tokio::sync::oneshot::Sender<()>) {
        let app = finish(
            Router::new()
                .route("/echo", post(echo))
                .route("/items/{id}", get(by_id))
                .route("/boom", get(boom))
                .route("/bare", get(bare))
                .route("/bare500", get(bare_500))
                .route("/internal", get(internal)),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        (format!("http://{addr}"), tx)
    }

    async fn envelope(res: reqwest::Response) -> (StatusCode, Value) {
        let status = StatusCode::from_u16(res.status().as_u16()).expect("status");
        let header_id = res
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .expect("x-request-id header");
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        assert_eq!(ct.as_deref(), Some("application/json"));
        let body: Value = res.json().await.expect("json body");
        assert_eq!(body["requestId"], Value::String(header_id));
        assert!(body["timestamp"].is_string());
        (status, body)
    }

    #[tokio::test]
    async fn json_bodies_and_their_rejections_are_enveloped() {
        let (base, _stop) = start().await;
        let client = reqwest::Client::new();

        let res = client
            .post(format!("{base}/echo"))
            .json(&serde_json::json!({"name": "a", "age": 3}))
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["success"], true);
        assert_eq!(body["data"]["age"], 3);

        let res = client
            .post(format!("{base}/echo"))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "INVALID_JSON");

        let res = client
            .post(format!("{base}/echo"))
            .json(&serde_json::json!({"name": "a"}))
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["error"]["code"], "VALIDATION_FAILED");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("age")),
            "{body}"
        );

        let res = client
            .post(format!("{base}/echo"))
            .body("{}")
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(body["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");

        let big = format!("{{\"name\":\"{}\",\"age\":1}}", "x".repeat(3 * 1024 * 1024));
        let res = client
            .post(format!("{base}/echo"))
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");
    }

    #[tokio::test]
    async fn path_rejections_panics_and_bare_errors_are_enveloped() {
        let (base, _stop) = start().await;
        let client = reqwest::Client::new();

        let res = client
            .get(format!("{base}/items/7"))
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"], 7);

        let res = client
            .get(format!("{base}/items/abc"))
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "BAD_REQUEST");

        let res = client
            .get(format!("{base}/boom"))
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "INTERNAL");
        assert!(!body.to_string().contains("secret"), "{body}");

        let res = client
            .get(format!("{base}/internal"))
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("secret"), "{body}");

        let res = client
            .get(format!("{base}/bare"))
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["message"], "bare message");

        let res = client
            .get(format!("{base}/bare500"))
            .send()
            .await
            .expect("send");
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("hunter2"), "{body}");

        let res = client
            .delete(format!("{base}/items/7"))
            .send()
            .await
            .expect("send");
        let allow = res
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, body) = envelope(res).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(body["error"]["code"], "METHOD_NOT_ALLOWED");
        assert!(allow.is_some_and(|a| a.contains("GET")));
    }

    #[tokio::test]
    async fn serve_returns_after_the_grace_period_with_a_request_still_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = crate::settings::Settings::builder()
            .config_dir(dir.path())
            .var("KYC__SERVER__SHUTDOWN_GRACE_SECS", "1")
            .build()
            .expect("settings");
        let state = AppState::new(Arc::new(settings), Arc::new(AlwaysReady));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        // An open, idle TCP connection that never finishes its request.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async {
            let _ = rx.await;
        }));
        let mut stuck = tokio::net::TcpStream::connect(addr).await.expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut stuck, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let started = Instant::now();
        let _ = tx.send(());
        let res = tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .expect("serve returned")
            .expect("join");
        assert!(res.is_ok());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
