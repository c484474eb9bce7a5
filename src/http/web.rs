//! The person's page and what it loads, served by `kyc serve` from files embedded in the binary
//! at build time (`web/`): no separate web server, no CDN, nothing a deployment can lose. The
//! page `/kyc/{sessionId}#token=…` (the token in the fragment never reaches a log), the script
//! for a tenant's own page `/kyc/sdk.js`, `/` saying what this server is, and in development
//! `/kyc/demo`, which opens a session of the development tenant and sends the browser to it.
//! Every asset carries an ETag (a `304` when unchanged) and is sent gzipped to a browser that
//! takes it.

use super::{ApiError, AppState, kyc::ClientIp};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::sync::LazyLock;

/// One embedded file: its bytes, gzipped bytes, type and ETag.
pub struct Asset {
    pub body: Vec<u8>,
    pub gzip: Vec<u8>,
    pub content_type: &'static str,
    pub etag: String,
}

impl Asset {
    fn new(body: &[u8], content_type: &'static str) -> Self {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let gzip = z
            .write_all(body)
            .and_then(|()| z.finish())
            .unwrap_or_default();
        let digest = Sha256::digest(body);
        let etag = format!("\"{}\"", hex::encode(&digest[..12]));
        Self {
            body: body.to_vec(),
            gzip,
            content_type,
            etag,
        }
    }

    /// The asset for this request: 304 when the browser has it, gzipped when it takes gzip. A
    /// page gets its security policy; the script and the styles may be loaded by a tenant's
    /// page on another origin (the SDK).
    fn respond(&'static self, headers: &HeaderMap, page: bool) -> Response {
        let mut out = if headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == self.etag))
        {
            StatusCode::NOT_MODIFIED.into_response()
        } else if takes_gzip(headers) && !self.gzip.is_empty() {
            let mut r = self.gzip.as_slice().into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        } else {
            self.body.as_slice().into_response()
        };
        let h = out.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            h.insert(header::ETAG, v);
        }
        // Revalidated on every load (a 304 costs a round trip, not the bytes): a new version
        // of kyc is never hidden behind a cached old script.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        if page {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            h.insert(
                "permissions-policy",
                HeaderValue::from_static("camera=(self), microphone=()"),
            );
        } else {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        out
    }
}

/// The pages load only what this server serves; the camera's frames and recordings are blobs.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' \
                   blob: data:; media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn takes_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

static SCRIPT: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_bytes!("../../web/kyc.js"), JS));
static STYLE: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_bytes!("../../web/kyc.css"), CSS));
static PAGE: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_bytes!("../../web/page.html"), HTML));
static INDEX: LazyLock<Asset> = LazyLock::new(|| index(false));
static INDEX_DEMO: LazyLock<Asset> = LazyLock::new(|| index(true));

fn index(demo: bool) -> Asset {
    let link = if demo {
        "<li><a href=\"/kyc/demo\">Try the whole flow</a> (development only: a session of the \
         development tenant)</li>\n"
    } else {
        ""
    };
    let html = include_str!("../../web/index.html").replace("{{demo}}", link);
    Asset::new(html.as_bytes(), HTML)
}

/// What the page weighs, for `kyc bench` and the docs: (name, bytes, gzipped bytes).
pub fn weights() -> Vec<(&'static str, usize, usize)> {
    [
        ("kyc.js", &*SCRIPT),
        ("kyc.css", &*STYLE),
        ("page.html", &*PAGE),
    ]
    .into_iter()
    .map(|(n, a)| (n, a.body.len(), a.gzip.len()))
    .collect()
}

/// `GET /`
pub async fn root(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let index: &'static Asset = if demo_enabled(&app) {
        &INDEX_DEMO
    } else {
        &INDEX
    };
    index.respond(&headers, true)
}

/// `GET /kyc/{sessionId}`: the page; the script reads the session and the token.
pub async fn page(headers: HeaderMap) -> Response {
    PAGE.respond(&headers, true)
}

/// `GET /kyc/assets/kyc.js` and `GET /kyc/sdk.js`
pub async fn script(headers: HeaderMap) -> Response {
    SCRIPT.respond(&headers, false)
}

/// `GET /kyc/assets/kyc.css`
pub async fn style(headers: HeaderMap) -> Response {
    STYLE.respond(&headers, false)
}

fn demo_enabled(app: &AppState) -> bool {
    app.settings.tenants.development_tenant
        && app.settings.environment != crate::settings::Environment::Production
}

/// `GET /kyc/demo` (development only): a new session of the development tenant, the browser
/// sent to its page with the token in the fragment.
pub async fn demo(
    State(app): State<AppState>,
    ClientIp(ip): ClientIp,
) -> Result<Response, ApiError> {
    if !demo_enabled(&app) {
        return Err(ApiError::NotFound(
            "the demo (development only: tenants.development_tenant)".into(),
        ));
    }
    app.limit_ip(&ip)?;
    let tenant = app
        .tenants
        .list()
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot read the tenants: {e}")))?
        .into_iter()
        .find(|t| t.name == "development" && !t.disabled)
        .ok_or_else(|| {
            ApiError::NotFound(
                "the development tenant (made at the first start with no tenant at all)".into(),
            )
        })?;
    let (record, token) = super::kyc::open_session(&app, &tenant, None, None).await?;
    tracing::info!(session = %record.id, "demo session created");
    let mut r = Redirect::to(&format!("/kyc/{}#token={token}", record.id)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_embedded_gzipped_and_within_their_weight() {
        for (name, raw, gz) in weights() {
            assert!(
                raw > 0 && gz > 0 && gz < raw,
                "{name}: {raw} B, {gz} B gzipped"
            );
        }
        let (_, _, js) = weights()[0];
        assert!(js <= 60 * 1024, "the script is {js} B gzipped: over 60 KB");
    }

    #[test]
    fn a_known_etag_gets_304_and_gzip_only_when_taken() {
        let mut h = HeaderMap::new();
        let r = SCRIPT.respond(&h, false);
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get(header::CONTENT_ENCODING).is_none());
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("br, gzip"),
        );
        let r = SCRIPT.respond(&h, false);
        assert_eq!(r.headers()[header::CONTENT_ENCODING], "gzip");
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&SCRIPT.etag).unwrap(),
        );
        assert_eq!(SCRIPT.respond(&h, false).status(), StatusCode::NOT_MODIFIED);
        let page = PAGE.respond(&HeaderMap::new(), true);
        assert!(
            page.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("script-src 'self'")
        );
    }
}
