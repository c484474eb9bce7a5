//! The HTTP layer (axum): routes, the response envelope, request ids, errors and graceful
//! shutdown. Handlers are thin: they parse, call the actors, and wrap the answer; no vision code
//! runs here.
//!
//! Every REST answer is an [`Envelope`]; every response carries `x-request-id`; every log line
//! of a request is inside a span with its `request_id`.

mod accept;
mod admin;
pub mod admin_tenants;
mod auth;
mod body_rate;
mod client_addr;
pub mod comparisons;
mod cors;
mod envelope;
mod error;
mod events;
pub mod extract;
mod headers;
mod health;
mod intake;
pub mod kyc;
mod limits;
pub(crate) mod metrics;
pub mod openapi;
mod person_view;
mod privacy;
mod request_id;
pub mod shutdown;
mod slots;
pub(crate) mod sniff;
mod tenant_api;
mod upload;
pub mod web;
mod webhook_api;
mod ws;

pub use accept::{Edge, serve};
pub use client_addr::parse_proxies;
pub use envelope::{ApiResponse, Envelope, ErrorBody, ErrorEnvelope};
pub use error::{ApiError, ApiResult};
pub use health::{Health, Ready};
pub use request_id::{REQUEST_ID_HEADER, RequestId, current_request_id};

use crate::engines::Engines;
use crate::records::RecordsService;
use crate::sessions::Sessions;
use crate::settings::Settings;
use axum::Router;
use axum::http::{Method, Uri};
use axum::routing::{get, post};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// What every handler can reach: a real server always has all of it.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    /// When the server started (for uptime).
    pub started_at: Instant,
    /// The engine pools: readiness, /admin and /metrics.
    pub engines: Arc<Engines>,
    /// The KYC sessions.
    pub sessions: Arc<Sessions>,
    /// The records store and the drainer that fills it from the sessions' outbox.
    pub records: Arc<RecordsService>,
    pub limiter: Arc<limits::RateLimiter>,
    /// The base URL handed to clients (`server.public_url`, else the listening address).
    pub public_url: Arc<str>,
    /// The tenants and their API keys.
    pub tenants: Arc<crate::tenants::Tenants>,
    /// The address the server listens on (a webhook may not point back at it).
    pub listening: SocketAddr,
    /// `server.trusted_proxies`: whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// The open WebSockets' places (`edge.max_websockets`, per address and together).
    pub(crate) websockets: Arc<slots::Slots>,
}

impl AppState {
    pub fn new(
        settings: Arc<Settings>,
        engines: Arc<Engines>,
        sessions: Arc<Sessions>,
        records: Arc<RecordsService>,
        tenants: Arc<crate::tenants::Tenants>,
        address: SocketAddr,
    ) -> Self {
        let configured = settings.server.public_url.trim().trim_end_matches('/');
        let public_url: Arc<str> = if configured.is_empty() {
            format!("http://{address}").into()
        } else {
            configured.into()
        };
        // Checked when the settings were validated.
        let trusted_proxies = client_addr::parse_proxies(&settings.server.trusted_proxies)
            .unwrap_or_default()
            .into();
        let websockets = slots::Slots::new(
            settings.edge.max_websockets,
            settings.edge.max_websockets_per_address,
        );
        Self {
            settings,
            started_at: Instant::now(),
            engines,
            sessions,
            records,
            limiter: Arc::default(),
            public_url,
            trusted_proxies,
            tenants,
            listening: address,
            websockets,
        }
    }

    /// The WebSocket URL of `path` (`/ws/…`) for clients.
    pub fn ws_url(&self, path: &str) -> String {
        format!(
            "{}{path}",
            crate::settings::public::ws_base(&self.public_url)
        )
    }
}

/// The largest body of the routes that take JSON (413 above it).
pub const JSON_BODY_MAX: usize = 64 * 1024;

/// All routes, with the fallbacks and the common layers, bound to `state`.
pub fn router(state: AppState) -> Router {
    // Uploads are limited while they stream (`upload`), not by axum's 2 MB default.
    let uploads = Router::new()
        .route("/api/v1/id-capture", post(intake::id_capture))
        .route("/api/v1/face-video", post(intake::face_video))
        .layer(axum::extract::DefaultBodyLimit::disable());
    let routes = Router::new()
        .route("/", get(web::root))
        .route("/kyc/demo", get(web::demo))
        .route("/kyc/sdk.js", get(web::script))
        .route("/kyc/assets/kyc.js", get(web::script))
        .route("/kyc/assets/kyc.css", get(web::style))
        .route("/kyc/{session_id}", get(web::page))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route(
            "/api/v1/sessions",
            post(kyc::create_session).get(tenant_api::list),
        )
        .route(
            "/api/v1/sessions/{id}",
            get(kyc::session_status).delete(privacy::erase),
        )
        .route("/api/v1/sessions/{id}/export", get(privacy::export))
        .route("/api/v1/sessions/{id}/events", get(events::since))
        .route("/api/v1/sessions/{id}/consent", post(kyc::record_consent))
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
        .route("/admin/decisions", get(admin::decisions))
        .route("/admin/sessions/{id}/expire", post(admin::expire))
        .route(
            "/admin/tenants",
            post(admin_tenants::create).get(admin_tenants::list),
        )
        .route(
            "/admin/tenants/{id}",
            axum::routing::patch(admin_tenants::update),
        )
        .route(
            "/admin/tenants/{id}/rotate-key",
            post(admin_tenants::rotate_key),
        )
        .route("/admin/tenants/{id}/disable", post(admin_tenants::disable))
        .route("/admin/tenants/{id}/enable", post(admin_tenants::enable))
        .route("/admin/tenants/{id}/webhook", get(webhook_api::admin_show))
        .route(
            "/api/v1/webhook",
            axum::routing::put(webhook_api::register)
                .get(webhook_api::show)
                .delete(webhook_api::remove),
        )
        // Every other body is a small JSON document.
        .layer(axum::extract::DefaultBodyLimit::max(JSON_BODY_MAX))
        .merge(uploads)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limits::admin_rate,
        ));
    // Outside the fallbacks: a preflight is answered before any route's 405.
    finish(routes)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::api_cors,
        ))
        .with_state(state)
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
        .layer(axum::middleware::from_fn(headers::security_headers))
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

#[cfg(test)]
mod tests {
    //! The common layers on routes that the real router does not have yet (JSON bodies,
    //! panics, bare errors), served for real on port 0.

    use super::*;
    use axum::http::StatusCode;
    use axum::routing::post;
    use serde::Deserialize;
    use serde_json::Value;
    use tokio::net::TcpListener;

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
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = finish(Router::new().route("/items/{id}", get(by_id)));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let grace = std::time::Duration::from_secs(1);
        let edge = Edge::new(crate::settings::EdgeSettings::default(), Arc::from([]));
        let server = tokio::spawn(serve(listener, app, edge, grace, async {
            let _ = rx.await;
        }));
        // A connection the server is known to serve (one whole request answered on it), then
        // left in the middle of its next request.
        let mut stuck = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stuck
            .write_all(b"GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&answer).contains("\"data\":1") {
            let n = stuck.read(&mut buf).await.expect("read");
            assert!(n > 0, "the connection closed before the answer");
            answer.extend_from_slice(&buf[..n]);
        }
        stuck
            .write_all(b"GET /items/2 HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
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
