//! Cross-origin calls to the API from a tenant's own page: the embedded flow (`/kyc/sdk.js`
//! mounted on the tenant's site) calls `/api/v1/…` from the tenant's origin, which a browser
//! allows only when the answer names that origin. The origins are the tenants'
//! `allowedOrigins` (the same list that may open a session's WebSocket); the server's own
//! origin needs nothing. Credentials are bearer tokens, never cookies, so an allowed origin
//! gains no ambient authority: each call is still judged by its token.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::records::normal_origin;

/// What a preflight may ask for: the methods and headers the person's routes use.
const METHODS: &str = "GET, POST, PUT, DELETE";
const HEADERS: &str = "authorization, content-type, idempotency-key, x-request-id";
/// Headers a cross-origin page may read from an answer.
const EXPOSED: &str = "x-request-id, retry-after";
/// How long a browser may keep a preflight's answer (seconds).
const MAX_AGE: &str = "600";

/// The allowed cross-origin page of `headers`, if it is one; `Err` for a foreign page that no
/// tenant allows. `Ok(None)`: no `Origin`, or the server's own.
fn cross_origin(app: &AppState, headers: &HeaderMap) -> Result<Option<HeaderValue>, String> {
    let Some(raw) = headers.get(header::ORIGIN) else {
        return Ok(None);
    };
    let Some(origin) = raw.to_str().ok().and_then(normal_origin) else {
        return Err("this page's origin is not a valid http(s) origin".into());
    };
    if normal_origin(&app.public_url).as_deref() == Some(origin.as_str()) {
        return Ok(None);
    }
    if app.tenants.origin_allowed(&origin) {
        Ok(Some(raw.clone()))
    } else {
        Err(format!(
            "pages on {origin} may not call this API (add the origin to the tenant's allowedOrigins)"
        ))
    }
}

/// Answers preflights of `/api/v1/…` and marks the answers of allowed cross-origin calls.
/// A foreign page's preflight is refused (403 `FORBIDDEN`); its simple requests run as any
/// request without `Origin` would, and the browser keeps their answers from the page.
pub async fn api_cors(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/v1/") {
        return next.run(req).await;
    }
    let allowed = cross_origin(&app, req.headers());
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        return match allowed {
            Ok(Some(origin)) => {
                let mut res = StatusCode::NO_CONTENT.into_response();
                let h = res.headers_mut();
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(METHODS),
                );
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(HEADERS),
                );
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(MAX_AGE),
                );
                h.insert(header::VARY, HeaderValue::from_static("Origin"));
                res
            }
            Ok(None) => next.run(req).await,
            Err(why) => ApiError::Denied(why).into_response(),
        };
    }
    let mut res = next.run(req).await;
    if let Ok(Some(origin)) = allowed {
        let h = res.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    res
}
