//! Who a request is: the session token (`Authorization: Bearer`, or `?token=` on the WebSocket
//! routes, where browsers cannot set headers) checked against the session it names; a tenant's
//! API key (`X-Api-Key`, or `Authorization: Bearer kyc_…`) that reaches only its own sessions;
//! the session id parsed in one place; the admin token.

use super::{ApiError, AppState};
use crate::records::Tenant;
use crate::sessions::{AuthorizedSession, SessionsError, same_secret};
use crate::tenants::{KEY_PREFIX, TenantsError};
use actors::session::{JournalError, SessionError, SessionId};
use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, header, request::Parts};
use secrecy::ExposeSecret;
use std::sync::Arc;

/// The session named by the route's path, authorized by the request's token: 404 for an
/// unknown session, 401 without a token, 403 with another session's.
pub struct Authorized(pub AuthorizedSession);

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let super::extract::Path(id) =
            super::extract::Path::<String>::from_request_parts(parts, app).await?;
        let id = parse_session_id(&id)?;
        let token = match bearer(&parts.headers) {
            Some(t) => Some(t.to_owned()),
            // Browsers cannot set headers on a WebSocket: there the token is in the query.
            None if is_websocket_upgrade(&parts.headers)
                || parts.uri.path().starts_with("/ws/") =>
            {
                query_token(&parts.uri)
            }
            None => None,
        };
        Ok(Self(app.authorize(&id, token.as_deref())?))
    }
}

/// Who asks about a session.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The person, with the session's token: progress and the outcome, scores only when the
    /// tenant lets them.
    Person { sees_scores: bool },
    /// The session's tenant, with its API key: everything.
    Tenant(Arc<Tenant>),
}

impl Caller {
    /// Whether scores, thresholds and reasons may be shown.
    pub fn sees_scores(&self) -> bool {
        match self {
            Self::Person { sees_scores } => *sees_scores,
            Self::Tenant(_) => true,
        }
    }

    /// The tenant, or 403 for the person (a route for tenants only).
    pub fn tenant(&self) -> Result<&Arc<Tenant>, ApiError> {
        match self {
            Self::Tenant(t) => Ok(t),
            Self::Person { .. } => Err(ApiError::Denied(
                "this needs the tenant's API key (X-Api-Key), not the session token".into(),
            )),
        }
    }

    /// Who the audit trail names.
    pub fn audit_name(&self) -> String {
        match self {
            Self::Person { .. } => "session-token".into(),
            Self::Tenant(t) => format!("tenant:{}", t.id),
        }
    }
}

/// The session named by the route's path and who asks: its tenant (by API key; another
/// tenant's session is 404, as if it did not exist) or the person (by the session's token:
/// 401 without one, 403 with another session's).
pub struct SessionAccess {
    pub session: AuthorizedSession,
    pub caller: Caller,
}

impl FromRequestParts<AppState> for SessionAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if api_key(&parts.headers).is_some() {
            let super::extract::Path(id) =
                super::extract::Path::<String>::from_request_parts(parts, app).await?;
            let id = parse_session_id(&id)?;
            return app.access(&id, &parts.headers).await;
        }
        let Authorized(session) = Authorized::from_request_parts(parts, app).await?;
        let caller = app.person(&session);
        Ok(Self { session, caller })
    }
}

/// The admin token, checked before anything else of the request is read (a body is not
/// parsed for a caller without it).
pub struct AdminToken;

impl FromRequestParts<AppState> for AdminToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        app.admin(&parts.headers)?;
        Ok(Self)
    }
}

/// The tenant whose API key the request carries.
pub struct TenantKey(pub Arc<Tenant>);

impl FromRequestParts<AppState> for TenantKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        Ok(Self(app.tenant(api_key(&parts.headers)).await?))
    }
}

/// The tenant API key of `X-Api-Key`, or of `Authorization: Bearer` when it has the key's
/// prefix (a session token never does).
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .or_else(|| bearer(headers).filter(|t| t.starts_with(KEY_PREFIX)))
}

impl From<TenantsError> for ApiError {
    fn from(e: TenantsError) -> Self {
        match e {
            e @ (TenantsError::NoKey | TenantsError::Malformed | TenantsError::Unknown) => {
                ApiError::InvalidKey(e.to_string())
            }
            TenantsError::Disabled => ApiError::TenantDisabled,
            TenantsError::NotFound(id) => ApiError::NotFound(format!("tenant {id}")),
            e @ TenantsError::NameTaken(_) => ApiError::Conflict(e.to_string()),
            e @ (TenantsError::BadName(_) | TenantsError::BadOptions(_)) => {
                ApiError::validation(e.to_string())
            }
            TenantsError::Records(e) if e.is_transient() => ApiError::Unavailable(
                "the records store cannot be reached now; try again shortly".into(),
            ),
            TenantsError::Records(e) => ApiError::Internal(anyhow::Error::new(e)),
        }
    }
}

impl AppState {
    /// Session `id` when `token` is its token (and its tenant is not disabled).
    pub(crate) fn authorize(
        &self,
        id: &SessionId,
        token: Option<&str>,
    ) -> Result<AuthorizedSession, ApiError> {
        let session = self.sessions.authorize(id, token)?;
        self.token_allows(&session)?;
        Ok(session)
    }

    /// Whether `session`'s token still works: 403 when its tenant is disabled (its sessions'
    /// tokens stop with its key), 401 `TOKEN_EXPIRED` past the session's lifetime.
    pub(crate) fn token_allows(&self, session: &AuthorizedSession) -> Result<(), ApiError> {
        if let Some(t) = &session.record().tenant
            && self.tenants.get(t).is_some_and(|t| t.disabled)
        {
            return Err(ApiError::TenantDisabled);
        }
        if actors::session::event::now_ms() >= self.token_expires_ms(session) {
            return Err(ApiError::TokenExpired(
                self.settings.sessions.max_lifetime_secs,
            ));
        }
        Ok(())
    }

    /// When `session`'s token stops working (ms since the Unix epoch).
    pub(crate) fn token_expires_ms(&self, session: &AuthorizedSession) -> u64 {
        let lifetime = self.settings.sessions.max_lifetime().as_millis();
        session
            .record()
            .created_ms
            .saturating_add(u64::try_from(lifetime).unwrap_or(u64::MAX))
    }

    /// The person of `session`, seeing scores only when its tenant lets them.
    pub(crate) fn person(&self, session: &AuthorizedSession) -> Caller {
        let sees_scores = session
            .record()
            .tenant
            .as_deref()
            .and_then(|t| self.tenants.get(t))
            .is_some_and(|t| t.options.show_scores);
        Caller::Person { sees_scores }
    }

    /// Session `id` for the request's tenant key, else for its bearer session token.
    pub(crate) async fn access(
        &self,
        id: &SessionId,
        headers: &HeaderMap,
    ) -> Result<SessionAccess, ApiError> {
        if let Some(key) = api_key(headers) {
            let tenant = self.tenant(Some(key)).await?;
            let session = self.sessions.of_tenant(id, &tenant.id)?;
            return Ok(SessionAccess {
                session,
                caller: Caller::Tenant(tenant),
            });
        }
        let session = self.authorize(id, bearer(headers))?;
        let caller = self.person(&session);
        Ok(SessionAccess { session, caller })
    }

    /// The tenant whose API key is `key`.
    pub(crate) async fn tenant(&self, key: Option<&str>) -> Result<Arc<Tenant>, ApiError> {
        Ok(self.tenants.authenticate(key).await?)
    }

    /// 401 without the admin token; 403 when the admin API is off (no `admin.token`).
    pub(crate) fn admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.settings.admin.token else {
            return Err(ApiError::Forbidden);
        };
        let given = bearer(headers).ok_or(ApiError::Unauthorized)?;
        same_digest(expected.expose_secret(), given)
    }

    /// `/metrics`: open without `admin.metrics_token`, else its bearer token.
    pub(crate) fn metrics_access(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        match &self.settings.admin.metrics_token {
            None => Ok(()),
            Some(expected) => {
                let given = bearer(headers).ok_or(ApiError::Unauthorized)?;
                same_digest(expected.expose_secret(), given)
            }
        }
    }
}

/// Compares two secrets through their SHA-256 digests in constant time, so neither the time
/// taken nor an early exit on a length mismatch tells anything about the expected one.
fn same_digest(expected: &str, given: &str) -> Result<(), ApiError> {
    if same_secret(
        &crate::sessions::token_hash(expected),
        &crate::sessions::token_hash(given),
    ) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// A session id (a UUID) from a path, a form field or a JSON body.
pub fn parse_session_id(s: &str) -> Result<SessionId, ApiError> {
    SessionId::parse_str(s.trim()).map_err(|_| ApiError::validation("the session id is not a UUID"))
}

/// The bearer token of `Authorization: Bearer …`.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The non-empty `token` of a URI's query string.
fn query_token(uri: &axum::http::Uri) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Q {
        token: Option<String>,
    }
    let axum::extract::Query(q) = axum::extract::Query::<Q>::try_from_uri(uri).ok()?;
    q.token.filter(|t| !t.is_empty())
}

impl From<SessionsError> for ApiError {
    fn from(e: SessionsError) -> Self {
        use crate::flow::live::LiveError;
        match e {
            SessionsError::Unknown(id) => ApiError::NotFound(format!("session {id}")),
            SessionsError::NoToken => ApiError::Unauthorized,
            SessionsError::Token => ApiError::Forbidden,
            e @ SessionsError::NotNow { .. } => ApiError::Conflict(e.to_string()),
            SessionsError::Session(SessionError::Transition(t)) => {
                ApiError::Conflict(t.to_string())
            }
            SessionsError::Session(e @ SessionError::Busy) => ApiError::Conflict(e.to_string()),
            SessionsError::Session(SessionError::Gone) | SessionsError::Down => {
                ApiError::Unavailable("the session is restarting; try again".into())
            }
            SessionsError::Live(LiveError::Busy(_)) => ApiError::Busy {
                what: "too many live frames are being checked",
                retry_after_secs: 1,
            },
            SessionsError::Live(e @ LiveError::BadFrame(_)) => ApiError::validation(e.to_string()),
            SessionsError::Journal(e) => e.into(),
            e @ SessionsError::ConsentRequired => ApiError::ConsentRequired(e.to_string()),
            e @ (SessionsError::ConsentGiven | SessionsError::Ended(_)) => {
                ApiError::Conflict(e.to_string())
            }
            e @ SessionsError::Erased(_) => ApiError::Gone(e.to_string()),
            SessionsError::Records(e) if e.is_transient() => ApiError::Unavailable(
                "the records store cannot be reached now; try again shortly".into(),
            ),
            e => ApiError::Internal(anyhow::Error::new(e)),
        }
    }
}

impl From<crate::consent::ConsentError> for ApiError {
    fn from(e: crate::consent::ConsentError) -> Self {
        ApiError::validation(e.to_string())
    }
}

impl From<JournalError> for ApiError {
    fn from(e: JournalError) -> Self {
        ApiError::Internal(anyhow::Error::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_come_from_the_header_or_a_websocket_query() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            "Bearer  abc ".parse().expect("header"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().expect("header"));
        assert_eq!(bearer(&h), None);
        let uri = |s: &str| s.parse::<axum::http::Uri>().expect("uri");
        assert_eq!(
            query_token(&uri("/ws?token=t1&since=3")).as_deref(),
            Some("t1")
        );
        assert_eq!(query_token(&uri("/ws?token=&since=3")), None);
        assert_eq!(query_token(&uri("/ws")), None);
        assert!(parse_session_id(" 0b6f3c1e-8a52-4f0e-9d43-3c2b1a0f9e87 ").is_ok());
        assert!(parse_session_id("nope").is_err());
    }
}
