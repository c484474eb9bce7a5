//! The HTTP layer's error: one enum, each variant a status and a stable code in the envelope.
//! Internal errors are logged (with the request id) and answered with a generic message, so no
//! file path, SQL or stack detail reaches a client.

use super::envelope::{Envelope, ErrorBody, envelope_response};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A handler's `Result` type.
pub type ApiResult<T> = Result<super::ApiResponse<T>, ApiError>;

/// Everything a request can fail with, as the client sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (a bad path or query parameter, …).
    #[error("{0}")]
    BadRequest(String),
    /// 400: the body is not valid JSON.
    #[error("invalid JSON body: {0}")]
    InvalidJson(String),
    /// 422: the input parsed but is not acceptable (a missing field, a value out of range).
    #[error("{message}")]
    Validation {
        message: String,
        details: Option<Value>,
    },
    /// 401: missing or wrong credentials.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// 401: no tenant API key, or one no tenant has (`message` says which).
    #[error("{0}")]
    InvalidKey(String),
    /// 403: the credentials do not allow this.
    #[error("not allowed")]
    Forbidden,
    /// 403: the credentials do not allow this, and why.
    #[error("{0}")]
    Denied(String),
    /// 401: the session's token outlived `sessions.max_lifetime_secs`.
    #[error(
        "the session's token has expired (a session's token works for {0} s after it was created)"
    )]
    TokenExpired(u64),
    /// 403: the tenant is disabled: its key and its sessions' tokens are refused.
    #[error("this tenant is disabled")]
    TenantDisabled,
    /// 404: the named thing (e.g. "session 1234") does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// 405: the path exists, the method does not.
    #[error("method {0} is not allowed here")]
    MethodNotAllowed(String),
    /// 409: the request conflicts with the current state (e.g. an upload to a decided session).
    #[error("{0}")]
    Conflict(String),
    /// 410: the session was erased (its personal data is gone; its outline remains).
    #[error("{0}")]
    Gone(String),
    /// 409: an upload before the person's consent is recorded.
    #[error("{0}")]
    ConsentRequired(String),
    /// 413: the body is over the limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the content type is not accepted.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429: too many requests; `retry_after_secs` goes into `Retry-After`.
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: Option<u64> },
    /// 503: the server is not ready (engine pools still loading, …).
    #[error("not ready: {0}")]
    NotReady(String),
    /// 429: a quota (open sessions of a tenant, uploads or bytes of a session) is used up.
    #[error("{0}")]
    Quota(String),
    /// 408: the request (its body) arrived too slowly.
    #[error("{0}")]
    RequestTimeout(String),
    /// 503: the server holds all the connections or WebSockets it may (for everyone or for
    /// this address); `Retry-After` says when to try again.
    #[error("{0}")]
    AtCapacity(String),
    /// 503: a dependency is overloaded or down (e.g. an engine queue is full).
    #[error("{0}")]
    Unavailable(String),
    /// 503: too much work is waiting (`what`); try again after `retry_after_secs`
    /// (`Retry-After`).
    #[error("the server is busy: {what}; try again shortly")]
    Busy {
        what: &'static str,
        retry_after_secs: u64,
    },
    /// 500: anything else. The cause is logged, never sent.
    #[error("an internal error occurred")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// 422 with a message only.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::Validation {
            message: message.into(),
            details: None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InvalidKey(_) | Self::TokenExpired(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::Denied(_) | Self::TenantDisabled => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) | Self::ConsentRequired(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } | Self::Quota(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::NotReady(_) | Self::Unavailable(_) | Self::Busy { .. } | Self::AtCapacity(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code in `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "BAD_REQUEST",
            Self::InvalidJson(_) => "INVALID_JSON",
            Self::Validation { .. } => "VALIDATION_FAILED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::InvalidKey(_) => "INVALID_API_KEY",
            Self::TokenExpired(_) => "TOKEN_EXPIRED",
            Self::Forbidden | Self::Denied(_) => "FORBIDDEN",
            Self::TenantDisabled => "TENANT_DISABLED",
            Self::NotFound(_) => "NOT_FOUND",
            Self::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            Self::Conflict(_) => "CONFLICT",
            Self::ConsentRequired(_) => "CONSENT_REQUIRED",
            Self::Gone(_) => "SESSION_ERASED",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType(_) => "UNSUPPORTED_MEDIA_TYPE",
            Self::TooManyRequests { .. } => "RATE_LIMITED",
            Self::NotReady(_) => "NOT_READY",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Busy { .. } => "BUSY",
            Self::RequestTimeout(_) => "REQUEST_TIMEOUT",
            Self::Quota(_) => "QUOTA_EXCEEDED",
            Self::AtCapacity(_) => "AT_CAPACITY",
            Self::Internal(_) => "INTERNAL",
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            Self::Validation { details, .. } => details.clone(),
            Self::NotReady(reason) => Some(serde_json::json!({ "reason": reason })),
            Self::TooManyRequests {
                retry_after_secs: Some(s),
            }
            | Self::Busy {
                retry_after_secs: s,
                ..
            } => Some(serde_json::json!({ "retryAfterSecs": s })),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(e) => tracing::error!(error = ?e, "internal error"),
            Self::NotReady(reason) => tracing::debug!(%reason, "not ready"),
            _ => tracing::debug!(status = status.as_u16(), error = %self, "request refused"),
        }
        let mut res = envelope_response(status, &self.envelope());
        if let Some(s) = self.retry_after_secs() {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

/// `Retry-After` of an [`ApiError::AtCapacity`].
pub const AT_CAPACITY_RETRY_SECS: u64 = 5;

impl ApiError {
    /// The failure envelope of this error.
    fn envelope(&self) -> Envelope<()> {
        Envelope::failure(ErrorBody {
            code: self.code().to_owned(),
            message: self.to_string(),
            details: self.details(),
        })
    }

    /// What `Retry-After` says, for the errors that have one.
    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests { retry_after_secs } => *retry_after_secs,
            Self::Busy {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            Self::AtCapacity(_) => Some(AT_CAPACITY_RETRY_SECS),
            _ => None,
        }
    }

    /// The whole HTTP/1.1 answer as bytes, `Connection: close`: for a connection refused
    /// before any request was read from it (nothing of the router runs for it).
    pub fn raw_http1(&self) -> Vec<u8> {
        let body = serde_json::to_vec(&self.envelope()).unwrap_or_default();
        let status = self.status();
        let retry = self
            .retry_after_secs()
            .map(|s| format!("retry-after: {s}\r\n"))
            .unwrap_or_default();
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\ncache-control: no-store\r\n{retry}\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak() {
        let e = ApiError::from(anyhow::anyhow!("/secret/path/db.sled: permission denied"));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.code(), "INTERNAL");
        assert!(!e.to_string().contains("secret"));
    }

    #[test]
    fn statuses_and_codes() {
        assert_eq!(
            ApiError::NotFound("session 1".into()).to_string(),
            "session 1 not found"
        );
        assert_eq!(
            ApiError::NotReady("x".into()).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(ApiError::validation("bad").status().as_u16(), 422);
        let res = ApiError::TooManyRequests {
            retry_after_secs: Some(3),
        }
        .into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            res.headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("3")
        );
    }
}
