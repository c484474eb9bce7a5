//! Tenants through the admin API (bearer `admin.token`): create one (its API key in the answer,
//! shown this once), list them (a hint of each key, never the key), rotate a key, disable or
//! enable a tenant, change its options. `kyc tenants` calls these on a running server. Every
//! change is audited.

use super::auth::AdminToken;
use super::extract::{Json, Path};
use super::{ApiResponse, ApiResult, AppState, Envelope, ErrorEnvelope};
use crate::records::{Tenant, TenantOptions};
use axum::extract::State;
use serde::{Deserialize, Serialize};

/// A tenant as the admin API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    pub tenant_id: String,
    pub name: String,
    /// The key's first characters (the key itself is shown once, when made).
    pub key_hint: String,
    pub disabled: bool,
    pub options: TenantOptions,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl From<&Tenant> for TenantView {
    fn from(t: &Tenant) -> Self {
        Self {
            tenant_id: t.id.clone(),
            name: t.name.clone(),
            key_hint: t.key_hint.clone(),
            disabled: t.disabled,
            options: t.options.clone(),
            created_ms: t.created_ms,
            updated_ms: t.updated_ms,
        }
    }
}

/// A tenant and its new API key.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantKeyView {
    pub tenant_id: String,
    /// Shown this once: only its SHA-256 is kept.
    pub api_key: String,
    pub tenant: TenantView,
}

/// `POST /admin/tenants`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTenant {
    /// 1 to 200 printable characters, unique.
    pub name: String,
    #[serde(default)]
    pub options: TenantOptions,
}

/// `PATCH /admin/tenants/{id}`
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTenant {
    pub options: TenantOptions,
}

impl AppState {
    /// Audits an admin change of tenant `id`.
    async fn audit_tenant(&self, action: &str, id: &str) -> Result<(), super::ApiError> {
        self.sessions
            .audit(uuid::Uuid::nil(), "admin", action, &format!("tenant:{id}"))
            .await?;
        Ok(())
    }
}

#[utoipa::path(post, path = "/admin/tenants", tag = "admin", security(("admin" = [])),
    request_body = CreateTenant,
    responses(
        super::openapi::JsonRefusals,
        (status = 201, description = "The tenant and its API key (shown this once)", body = Envelope<TenantKeyView>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: the admin API is off (no admin.token)", body = ErrorEnvelope),
        (status = 409, description = "CONFLICT: a tenant of this name exists", body = ErrorEnvelope),
        (status = 422, description = "VALIDATION_FAILED: the name is empty, too long or has control characters", body = ErrorEnvelope),
    ))]
pub async fn create(
    State(app): State<AppState>,
    _admin: AdminToken,
    Json(body): Json<CreateTenant>,
) -> ApiResult<TenantKeyView> {
    let (tenant, key) = app.tenants.create(&body.name, body.options).await?;
    app.audit_tenant("tenant_create", &tenant.id).await?;
    tracing::info!(tenant = %tenant.id, "tenant created");
    Ok(ApiResponse::created(TenantKeyView {
        tenant_id: tenant.id.clone(),
        api_key: key,
        tenant: TenantView::from(&tenant),
    }))
}

#[utoipa::path(get, path = "/admin/tenants", tag = "admin", security(("admin" = [])),
    responses(
        (status = 200, description = "Every tenant, oldest first", body = Envelope<Vec<TenantView>>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 403, description = "FORBIDDEN: the admin API is off (no admin.token)", body = ErrorEnvelope),
    ))]
pub async fn list(State(app): State<AppState>, _admin: AdminToken) -> ApiResult<Vec<TenantView>> {
    let all = app.tenants.list().await?;
    Ok(ApiResponse::ok(all.iter().map(TenantView::from).collect()))
}

#[utoipa::path(post, path = "/admin/tenants/{id}/rotate-key", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "The new API key (shown this once); the old one is refused from now on", body = Envelope<TenantKeyView>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such tenant", body = ErrorEnvelope),
    ))]
pub async fn rotate_key(
    State(app): State<AppState>,
    _admin: AdminToken,
    Path(id): Path<String>,
) -> ApiResult<TenantKeyView> {
    let (tenant, key) = app.tenants.rotate_key(&id).await?;
    app.audit_tenant("tenant_rotate_key", &tenant.id).await?;
    Ok(ApiResponse::ok(TenantKeyView {
        tenant_id: tenant.id.clone(),
        api_key: key,
        tenant: TenantView::from(&tenant),
    }))
}

/// Disables or enables tenant `id`.
async fn set_disabled(app: &AppState, id: &str, disabled: bool) -> ApiResult<TenantView> {
    let tenant = app.tenants.set_disabled(id, disabled).await?;
    let action = if disabled {
        "tenant_disable"
    } else {
        "tenant_enable"
    };
    app.audit_tenant(action, &tenant.id).await?;
    tracing::info!(tenant = %tenant.id, disabled, "tenant changed");
    Ok(ApiResponse::ok(TenantView::from(&tenant)))
}

#[utoipa::path(post, path = "/admin/tenants/{id}/disable", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "Disabled: its key and its sessions' tokens are refused at once, its open WebSockets closed", body = Envelope<TenantView>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such tenant", body = ErrorEnvelope),
    ))]
pub async fn disable(
    State(app): State<AppState>,
    _admin: AdminToken,
    Path(id): Path<String>,
) -> ApiResult<TenantView> {
    set_disabled(&app, &id, true).await
}

#[utoipa::path(post, path = "/admin/tenants/{id}/enable", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, description = "Enabled again", body = Envelope<TenantView>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such tenant", body = ErrorEnvelope),
    ))]
pub async fn enable(
    State(app): State<AppState>,
    _admin: AdminToken,
    Path(id): Path<String>,
) -> ApiResult<TenantView> {
    set_disabled(&app, &id, false).await
}

#[utoipa::path(patch, path = "/admin/tenants/{id}", tag = "admin", security(("admin" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = UpdateTenant,
    responses(
        super::openapi::JsonRefusals,
        (status = 200, description = "The tenant with its new options", body = Envelope<TenantView>),
        (status = 401, description = "UNAUTHORIZED", body = ErrorEnvelope),
        (status = 404, description = "NOT_FOUND: no such tenant", body = ErrorEnvelope),
    ))]
pub async fn update(
    State(app): State<AppState>,
    _admin: AdminToken,
    Path(id): Path<String>,
    Json(body): Json<UpdateTenant>,
) -> ApiResult<TenantView> {
    let tenant = app.tenants.set_options(&id, body.options).await?;
    app.audit_tenant("tenant_options", &tenant.id).await?;
    Ok(ApiResponse::ok(TenantView::from(&tenant)))
}
