//! Request ids: every request gets one (the client's `x-request-id` when it is sane, else a
//! fresh UUID v4). It is echoed in the response header, put in the envelope's `requestId`, and
//! carried by the tracing span around the request, so every log line of a request names it.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::fmt;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The header that carries the request id, in both directions.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-provided id that is kept.
const MAX_CLIENT_ID_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of one request. Handlers can take it from the request extensions
/// (`Extension<RequestId>`) or call [`current_request_id`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A fresh UUID v4.
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string().into())
    }

    /// The client's id if it is 1..=128 characters of `A-Z a-z 0-9 - _ . : /`; anything else
    /// (control characters, spaces, very long values) is replaced, so logs stay clean.
    pub fn from_client(value: &str) -> Option<Self> {
        let ok = !value.is_empty()
            && value.len() <= MAX_CLIENT_ID_LEN
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b));
        ok.then(|| Self(value.into()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<RequestId> {
    CURRENT.try_with(Clone::clone).ok()
}

/// Middleware: assigns the id, runs the request inside a span that carries it, sets the
/// response header, and logs one line per request with its status and latency.
pub async fn middleware(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(RequestId::from_client)
        .unwrap_or_else(RequestId::generate);
    let header = HeaderValue::from_str(id.as_str()).ok();
    if let Some(h) = &header {
        req.headers_mut().insert(REQUEST_ID_HEADER, h.clone());
    }
    req.extensions_mut().insert(id.clone());

    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);
    let started = Instant::now();

    let mut res = CURRENT
        .scope(id, next.run(req))
        .instrument(span.clone())
        .await;

    if let Some(h) = header {
        res.headers_mut().insert(REQUEST_ID_HEADER, h);
    }
    let status = res.status();
    let latency_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
    span.in_scope(|| log_response(&path, status, latency_ms));
    res
}

fn log_response(path: &str, status: StatusCode, latency_ms: f64) {
    let status = status.as_u16();
    if status >= 500 {
        tracing::warn!(status, latency_ms, "request failed");
    } else if path == "/healthz" || path == "/readyz" || path == "/metrics" {
        tracing::debug!(status, latency_ms, "request done");
    } else {
        tracing::info!(status, latency_ms, "request done");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_kept_only_when_sane() {
        assert_eq!(
            RequestId::from_client("trace-123_abc.def:1/2").map(|r| r.to_string()),
            Some("trace-123_abc.def:1/2".to_owned())
        );
        assert!(RequestId::from_client("").is_none());
        assert!(RequestId::from_client("has space").is_none());
        assert!(RequestId::from_client("new\nline").is_none());
        assert!(RequestId::from_client("ü").is_none());
        assert!(RequestId::from_client(&"a".repeat(129)).is_none());
        assert!(RequestId::from_client(&"a".repeat(128)).is_some());
    }

    #[test]
    fn generated_ids_are_uuid_v4() {
        let id = RequestId::generate();
        let parsed = uuid::Uuid::parse_str(id.as_str()).expect("uuid");
        assert_eq!(parsed.get_version_num(), 4);
        assert!(current_request_id().is_none());
    }
}
