//! The envelope every REST answer travels in:
//! `{success, data?, error?: {code, message, details?}, timestamp, requestId}`, so clients parse
//! one shape whatever happened. Successful answers are [`ApiResponse`]s; failures are
//! [`ApiError`](super::ApiError)s; [`enveloped_errors`] wraps any error response that neither
//! produced (axum's own rejections, a bare status code) so none escapes without an envelope.

use super::request_id::{RequestId, current_request_id};
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

/// The body of every REST answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    pub success: bool,
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// When the answer was made, RFC 3339 in UTC.
    pub timestamp: String,
    /// The request id, also in the `x-request-id` header.
    pub request_id: String,
}

/// The envelope of a failed answer, as the OpenAPI document shows it (`success` is false,
/// `data` absent).
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // a schema only: failures are built as `Envelope::failure`
#[schema(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    success: bool,
    error: ErrorBody,
    timestamp: String,
    request_id: String,
}

fn none<T>() -> Option<T> {
    None
}

/// What went wrong: a stable machine-readable `code` (e.g. `NOT_FOUND`), a message for people,
/// and optional structured details.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl<T> Envelope<T> {
    /// A successful answer carrying `data`, stamped with the current request id and time.
    pub fn success(data: T) -> Self {
        Self {
            success: true,
            data: Some(data),
            error: None,
            timestamp: now_rfc3339(),
            request_id: request_id_for_body(),
        }
    }

    /// A failed answer.
    pub fn failure(error: ErrorBody) -> Self {
        Self {
            success: false,
            data: None,
            error: Some(error),
            timestamp: now_rfc3339(),
            request_id: request_id_for_body(),
        }
    }
}

/// Marks a response whose body already is an envelope, so [`enveloped_errors`] leaves it alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Enveloped;

/// A successful answer: status (200 unless said otherwise) and the envelope around `data`.
#[derive(Debug, Clone)]
pub struct ApiResponse<T> {
    pub status: StatusCode,
    pub data: T,
}

impl<T> ApiResponse<T> {
    /// 200 OK.
    pub fn ok(data: T) -> Self {
        Self {
            status: StatusCode::OK,
            data,
        }
    }

    /// 201 Created.
    pub fn created(data: T) -> Self {
        Self {
            status: StatusCode::CREATED,
            data,
        }
    }

    /// 202 Accepted.
    pub fn accepted(data: T) -> Self {
        Self {
            status: StatusCode::ACCEPTED,
            data,
        }
    }

    pub fn with_status(status: StatusCode, data: T) -> Self {
        Self { status, data }
    }
}

impl<T: Serialize> IntoResponse for ApiResponse<T> {
    fn into_response(self) -> Response {
        envelope_response(self.status, &Envelope::success(self.data))
    }
}

/// Serializes an envelope with `status` and marks the response as enveloped.
pub(crate) fn envelope_response<T: Serialize>(
    status: StatusCode,
    envelope: &Envelope<T>,
) -> Response {
    let mut res = match serde_json::to_vec(envelope) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a response envelope");
            let fallback = Envelope::<()>::failure(ErrorBody {
                code: "INTERNAL".to_owned(),
                message: "an internal error occurred".to_owned(),
                details: None,
            });
            let body = serde_json::to_vec(&fallback).unwrap_or_default();
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
    };
    res.extensions_mut().insert(Enveloped);
    res
}

/// The stable error code for a status, used when nothing more specific is known.
pub(crate) fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "BAD_REQUEST",
        StatusCode::UNAUTHORIZED => "UNAUTHORIZED",
        StatusCode::FORBIDDEN => "FORBIDDEN",
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::METHOD_NOT_ALLOWED => "METHOD_NOT_ALLOWED",
        StatusCode::NOT_ACCEPTABLE => "NOT_ACCEPTABLE",
        StatusCode::REQUEST_TIMEOUT => "REQUEST_TIMEOUT",
        StatusCode::CONFLICT => "CONFLICT",
        StatusCode::GONE => "GONE",
        StatusCode::LENGTH_REQUIRED => "LENGTH_REQUIRED",
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::URI_TOO_LONG => "URI_TOO_LONG",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        StatusCode::UNPROCESSABLE_ENTITY => "VALIDATION_FAILED",
        StatusCode::UPGRADE_REQUIRED => "UPGRADE_REQUIRED",
        StatusCode::TOO_MANY_REQUESTS => "RATE_LIMITED",
        StatusCode::SERVICE_UNAVAILABLE => "UNAVAILABLE",
        StatusCode::GATEWAY_TIMEOUT => "TIMEOUT",
        s if s.is_server_error() => "INTERNAL",
        _ => "ERROR",
    }
}

/// Middleware: an error response (4xx/5xx) that is not an envelope yet (axum's extractor
/// rejections, a handler returning a bare status) is rewritten into one. A 4xx keeps its short
/// plain-text message; a 5xx never shows its body (it may hold internals). Other headers (e.g.
/// `Allow` on a 405) are kept.
pub async fn enveloped_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error())
        || res.extensions().get::<Enveloped>().is_some()
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let is_text = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    let mut message = None;
    if status.is_client_error()
        && is_text
        && let Ok(bytes) = axum::body::to_bytes(body, 2048).await
    {
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if !text.is_empty() {
            message = Some(text);
        }
    }
    let message = message.unwrap_or_else(|| {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    });
    let envelope = Envelope::<()>::failure(ErrorBody {
        code: code_for_status(status).to_owned(),
        message,
        details: None,
    });
    let mut new = envelope_response(status, &envelope);
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    for (name, value) in parts.headers.iter() {
        new.headers_mut().append(name.clone(), value.clone());
    }
    new
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The current request's id, or a fresh one when called outside a request.
fn request_id_for_body() -> String {
    current_request_id()
        .unwrap_or_else(RequestId::generate)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let v = serde_json::to_value(Envelope::success(serde_json::json!({"a": 1}))).expect("json");
        assert_eq!(v["success"], true);
        assert_eq!(v["data"]["a"], 1);
        assert!(v.get("error").is_none());
        assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(v["requestId"].as_str().is_some_and(|r| !r.is_empty()));

        let v = serde_json::to_value(Envelope::<()>::failure(ErrorBody {
            code: "NOT_FOUND".into(),
            message: "nope".into(),
            details: None,
        }))
        .expect("json");
        assert_eq!(v["success"], false);
        assert!(v.get("data").is_none());
        assert_eq!(v["error"]["code"], "NOT_FOUND");
        assert!(v["error"].get("details").is_none());
    }
}
