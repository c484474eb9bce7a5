//! The OpenAPI 3.1 document of the whole HTTP API, generated from the handlers' annotations and
//! the types they exchange (utoipa), served at `/api/v1/openapi.json`, and a page at
//! `/api/v1/docs` that renders it (self-contained: no script from elsewhere).

use super::{
    ErrorEnvelope, admin, admin_tenants, events, health, intake, kyc, metrics, privacy, tenant_api,
    webhook_api, ws,
};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
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
        tenant_api::list,
        kyc::session_status,
        privacy::erase,
        privacy::export,
        events::since,
        kyc::record_consent,
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
        admin::decisions,
        admin::expire,
        admin_tenants::create,
        admin_tenants::list,
        admin_tenants::rotate_key,
        admin_tenants::disable,
        admin_tenants::enable,
        admin_tenants::update,
        webhook_api::register,
        webhook_api::show,
        webhook_api::remove,
        webhook_api::admin_show,
    ),
    modifiers(&Security),
    tags(
        (name = "sessions", description = "A KYC session: create, upload, compare, watch"),
        (name = "webhooks", description = "A tenant's webhook: signed notifications of its sessions' ends"),
        (name = "admin", description = "Inspection and tenants (bearer admin.token)"),
        (name = "probes", description = "Liveness, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// The refusals every call with a session token can get (the handlers' own come beside them).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description only: errors are `ApiError`s
pub(super) enum TokenRefusals {
    #[response(
        status = 401,
        description = "UNAUTHORIZED: no session token; INVALID_API_KEY: a malformed or unknown tenant key"
    )]
    Unauthorized(ErrorEnvelope),
    #[response(
        status = 403,
        description = "FORBIDDEN: another session's token, or a session token where the tenant's key is needed; TENANT_DISABLED"
    )]
    Forbidden(ErrorEnvelope),
    #[response(
        status = 404,
        description = "NOT_FOUND: no such session (another tenant's sessions do not exist for a key), or nothing of the kind asked for yet"
    )]
    NotFound(ErrorEnvelope),
    #[response(
        status = 422,
        description = "VALIDATION_FAILED: an id in the path is not a UUID"
    )]
    BadId(ErrorEnvelope),
}

/// The refusals of a JSON body, beside the handler's own.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description only
pub(super) enum JsonRefusals {
    #[response(status = 400, description = "INVALID_JSON: the body is not JSON")]
    InvalidJson(ErrorEnvelope),
    #[response(
        status = 415,
        description = "UNSUPPORTED_MEDIA_TYPE: a body without `Content-Type: application/json`"
    )]
    NotJson(ErrorEnvelope),
}

/// The refusals of an upload, beside the token's.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // a description only
pub(super) enum UploadRefusals {
    #[response(
        status = 409,
        description = "CONFLICT: not accepted in the session's state (e.g. decided)"
    )]
    Conflict(ErrorEnvelope),
    #[response(
        status = 408,
        description = "REQUEST_TIMEOUT: the body arrived slower than `edge.min_body_rate_bytes_per_sec`"
    )]
    SlowBody(ErrorEnvelope),
    #[response(
        status = 413,
        description = "PAYLOAD_TOO_LARGE: over the upload limit, or the form's part headers over 1 MiB"
    )]
    TooLarge(ErrorEnvelope),
    #[response(
        status = 415,
        description = "UNSUPPORTED_MEDIA_TYPE: not multipart, or the file's content is not a format read here"
    )]
    Unsupported(ErrorEnvelope),
    #[response(
        status = 422,
        description = "VALIDATION_FAILED: a field is missing or malformed, or the form has more than 8 fields"
    )]
    Invalid(ErrorEnvelope),
    #[response(
        status = 429,
        description = "RATE_LIMITED (Retry-After); QUOTA_EXCEEDED: the session has made `sessions.max_uploads_per_session` uploads or would pass `sessions.max_bytes_per_session`"
    )]
    RateLimited(ErrorEnvelope),
    #[response(
        status = 503,
        description = "BUSY: too many uploads wait for the engines, or (a live frame) the live-frame lane is full (Retry-After)"
    )]
    Busy(ErrorEnvelope),
}

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
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "The tenant's API key (`kyc tenants create`); `Authorization: Bearer kyc_…` works too",
            ))),
        );
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
