//! The OpenAPI 3.1 document of the whole HTTP API, generated from the handlers' annotations and
//! the types they exchange (utoipa), served at `/api/v1/openapi.json`, and a page at
//! `/api/v1/docs` that renders it (self-contained: no script from elsewhere).

use super::{admin, health, intake, kyc, metrics, ws};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kyc",
        description = "Self-hosted identity verification: an ID card photo, a selfie video, a \
            decision. Every REST answer is an envelope `{success, data?, error?, timestamp, \
            requestId}`; progress arrives as events on the session's WebSocket.",
        license(name = "MIT")
    ),
    paths(
        kyc::create_session,
        kyc::session_status,
        intake::id_capture,
        kyc::id_capture_status,
        intake::face_video,
        kyc::face_similarity,
        kyc::comparison,
        ws::watch,
        health::healthz,
        health::readyz,
        metrics::metrics,
        admin::tree,
        admin::session,
        admin::expire,
    ),
    modifiers(&Security),
    tags(
        (name = "sessions", description = "A KYC session: create, upload, compare, watch"),
        (name = "admin", description = "Inspection (bearer admin.token)"),
        (name = "probes", description = "Liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            (
                "session",
                "The token `POST /api/v1/sessions` returned (one session only)",
            ),
            ("admin", "The server's `admin.token`"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(what))
                        .build(),
                ),
            );
        }
    }
}

/// `GET /api/v1/openapi.json`: the document itself (not enveloped: tools read it as it is).
pub async fn document() -> Response {
    match ApiDoc::openapi().to_pretty_json() {
        Ok(json) => {
            let mut res = json.into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            res
        }
        Err(e) => super::ApiError::Internal(e.into()).into_response(),
    }
}

/// `GET /api/v1/docs`: the document rendered as a page.
pub async fn page() -> Html<&'static str> {
    Html(include_str!("openapi.html"))
}
