//! A tenant's webhook through the API, with its key: register a URL (`PUT /api/v1/webhook`,
//! answered with the signing secret, shown then), see it with the latest notifications and
//! every attempt of each (`GET`), remove it (`DELETE`); the admin sees the same per tenant
//! (`GET /admin/tenants/{id}/webhook`).

use super::auth::{AdminToken, TenantKey};
use super::extract::{Json, Path};
use super::{ApiError, ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use crate::records::Tenant;
use crate::webhooks::{Delivery, DeliveryStatus, check_url};
use axum::extract::State;
use serde::{Deserialize, Serialize};

/// Notifications shown.
const SHOWN: usize = 50;

/// `PUT /api/v1/webhook`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterWebhook {
    /// `http://` or `https://`, not this server.
    #[schema(pattern = r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[!-~]*)?$")]
    pub url: String,
}

/// The webhook just registered, with its secret (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisteredWebhook {
    pub url: String,
    /// The HMAC-SHA256 key of `X-Kyc-Signature` (`v1=` + hex of the HMAC of
    /// `{X-Kyc-Timestamp}.{body}`); registering again makes a new one.
    pub secret: String,
    pub created_ms: i64,
}

/// A tenant's webhook and its latest notifications.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookView {
    /// `null`: none registered.
    pub url: Option<String>,
    pub created_ms: Option<i64>,
    /// Of the notifications shown: how many wait, were delivered, failed, were dropped.
    pub pending: usize,
    pub delivered: usize,
    pub failed: usize,
    pub dropped: usize,
    /// The latest notifications (at most 50), newest first, each with every attempt.
    pub deliveries: Vec<Delivery>,
}

impl AppState {
    /// The view of `tenant`'s webhook (the queue and the log are walked on the blocking pool).
    async fn webhook_view(&self, tenant: &Tenant) -> Result<WebhookView, ApiError> {
        let (queue, id) = (self.sessions.webhook_queue()?, tenant.id.clone());
        let deliveries = tokio::task::spawn_blocking(move || queue.of_tenant(&id, SHOWN))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?
            .map_err(|e| ApiError::Internal(e.into()))?;
        let count = |s: DeliveryStatus| deliveries.iter().filter(|d| d.status == s).count();
        Ok(WebhookView {
            url: tenant.webhook.as_ref().map(|w| w.url.clone()),
            created_ms: tenant.webhook.as_ref().map(|w| w.created_ms),
            pending: count(DeliveryStatus::Pending),
            delivered: count(DeliveryStatus::Delivered),
            failed: count(DeliveryStatus::Failed),
            dropped: count(DeliveryStatus::Dropped),
            deliveries,
        })
    }
}

#[utoipa::path(put, path = "/api/v1/webhook", tag = "webhooks", security(("apiKey" = [])),
    request_body = RegisterWebhook,
    responses(
        super::openapi::JsonRefusals,
        (status = 200, description = "Registered: the URL and its signing secret (shown this once)", body = Envelope<RegisteredWebhook>),
        (status = 401, description = "INVALID_API_KEY", body = ErrorEnvelope),
        (status = 403, description = "TENANT_DISABLED", body = ErrorEnvelope),
        (status = 422, description = "VALIDATION_FAILED: not an http(s) URL, credentials in it, or this server itself", body = ErrorEnvelope),
    ))]
pub async fn register(
    State(app): State<AppState>,
    TenantKey(tenant): TenantKey,
    Json(body): Json<RegisterWebhook>,
) -> ApiResult<RegisteredWebhook> {
    let url = check_url(&body.url, &app.public_url, app.listening)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let tenant = app.tenants.set_webhook(&tenant.id, Some(url)).await?;
    let hook = tenant
        .webhook
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the webhook was not kept")))?;
    tracing::info!(tenant = %tenant.id, "webhook registered");
    Ok(ApiResponse::ok(RegisteredWebhook {
        url: hook.url,
        secret: hook.secret,
        created_ms: hook.created_ms,
    }))
}

#[utoipa::path(get, path = "/api/v1/webhook", tag = "webhooks", security(("apiKey" = [])),
    responses(
        (status = 200, description = "The URL (no secret) and the latest notifications with their attempts", body = Envelope<WebhookView>),
        (status = 401, description = "INVALID_API_KEY", body = ErrorEnvelope),
        (status = 403, description = "TENANT_DISABLED", body = ErrorEnvelope),
    ))]
pub async fn show(
    State(app): State<AppState>,
    TenantKey(tenant): TenantKey,
) -> ApiResult<WebhookView> {
    Ok(ApiResponse::ok(app.webhook_view(&tenant).await?))
}

#[utoipa::path(delete, path = "/api/v1/webhook", tag = "webhooks", security(("apiKey" = [])),
    responses(
        (status = 200, description = "Removed: notifications not yet delivered are dropped", body = Envelope<WebhookView>),
        (status = 401, description = "INVALID_API_KEY", body = ErrorEnvelope),
        (status = 403, description = "TENANT_DISABLED", body = ErrorEnvelope),
    ))]
pub async fn remove(
    State(app): State<AppState>,
    TenantKey(tenant): TenantKey,
) -> ApiResult<WebhookView> {
    let tenant = app.tenants.set_webhook(&tenant.id, None).await?;
    Ok(ApiResponse::ok(app.webhook_view(&tenant).await?))
}

#[utoipa::path(get, path = "/admin/tenants/{id}/webhook", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The tenant's webhook and its latest notifications", body = Envelope<WebhookView>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such tenant", body = ErrorEnvelope),
    ))]
pub async fn admin_show(
    State(app): State<AppState>,
    _admin: AdminToken,
    Path(id): Path<String>,
) -> ApiResult<WebhookView> {
    app.tenants
        .reload()
        .await
        .map_err(crate::tenants::TenantsError::from)?;
    let tenant = app
        .tenants
        .get(&id)
        .ok_or_else(|| ApiError::NotFound(format!("tenant {id}")))?;
    Ok(ApiResponse::ok(app.webhook_view(&tenant).await?))
}
