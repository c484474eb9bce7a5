//! Where tenants are kept: beside the records they own, in the same store (a `tenants` table in
//! MariaDB, a `tenants` tree in the embedded store), so `kyc tenants` works on a stopped server
//! and every node of a shared database sees the same tenants.

use super::{Embedded, MariaDb, RecordsError};
use serde::{Deserialize, Serialize};
use sqlx::Row;

/// A business that runs verifications. Its API key is kept only as a SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    pub id: String,
    pub name: String,
    /// SHA-256 (hex) of the API key.
    pub key_sha256: String,
    /// The key's first characters, to tell keys apart in lists (never enough to use it).
    pub key_hint: String,
    pub disabled: bool,
    pub options: TenantOptions,
    /// Where its notifications go, and the secret they are signed with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookTarget>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A tenant's webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTarget {
    pub url: String,
    /// The HMAC-SHA256 key of `X-Kyc-Signature` (the server must sign with it, so it is kept
    /// as it is; it is shown to the tenant once, when registered).
    pub secret: String,
    pub created_ms: i64,
}

/// What MariaDB's `options` column holds: the options and the webhook.
#[derive(Serialize, Deserialize)]
struct StoredOptions {
    #[serde(flatten)]
    options: TenantOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    webhook: Option<WebhookTarget>,
}

/// What a tenant chose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct TenantOptions {
    /// Whether the person's page (the session token) sees scores, thresholds and reasons;
    /// off by default: the person sees progress and the outcome only.
    pub show_scores: bool,
    /// Sessions it may create per minute (`null`: `sessions.rate_per_tenant_per_minute`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions_per_minute: Option<u32>,
    /// Sessions it may have open (created, not yet decided, failed or expired) at once
    /// (`null`: `sessions.max_open_per_tenant`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_open_sessions: Option<u32>,
    /// Origins (`https://shop.example`, scheme, host and port only) whose pages may open its
    /// sessions' WebSockets, besides the server's own (`server.public_url`). A browser always
    /// names its page's origin on a WebSocket; another page's is refused (403).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(example = json!(["https://shop.example"]))]
    pub allowed_origins: Vec<String>,
    /// How much liveness counts in its sessions: `off`, `passive` or `challenge` (`null`: the
    /// server's `liveness.mode`). Applies to the steps a session takes from then on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness_mode: Option<vision::liveness::verdict::Mode>,
}

impl TenantOptions {
    /// `Err` with the reason when an option is out of range; origins are normalised
    /// (lower-case, no trailing slash).
    pub fn checked(mut self) -> Result<Self, String> {
        if self.max_open_sessions == Some(0) || self.sessions_per_minute == Some(0) {
            return Err("limits must be at least 1 (or null: the server's default)".into());
        }
        if self.allowed_origins.len() > 20 {
            return Err("at most 20 allowed origins".into());
        }
        for o in &mut self.allowed_origins {
            *o = normal_origin(o).ok_or_else(|| {
                format!(
                    "{:?} is not an origin (scheme://host[:port], http or https, no path)",
                    o.chars().take(80).collect::<String>()
                )
            })?;
        }
        Ok(self)
    }
}

/// `s` as a browser writes an `Origin` (lower-case scheme and host, no default port, no
/// trailing slash), or `None` when it is not an http(s) origin.
pub fn normal_origin(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('/');
    let (scheme, rest) = s.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if !(scheme == "http" || scheme == "https") || rest.is_empty() || rest.len() > 253 {
        return None;
    }
    if rest
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']')))
    {
        return None;
    }
    let rest = rest.to_ascii_lowercase();
    let default_port = if scheme == "http" { ":80" } else { ":443" };
    let rest = rest.strip_suffix(default_port).unwrap_or(&rest);
    Some(format!("{scheme}://{rest}"))
}

impl Embedded {
    pub(super) fn load_tenants(&self) -> Result<Vec<Tenant>, RecordsError> {
        self.tenants
            .iter()
            .map(|kv| {
                let (_, v) = kv?;
                serde_json::from_slice(&v).map_err(|e| RecordsError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Stores `tenant` by id; another tenant with its name or key is a conflict (one process
    /// holds the store, so the check and the write cannot interleave with another writer's).
    pub(super) fn store_tenant(&self, tenant: &Tenant) -> Result<(), RecordsError> {
        if let Some(other) = self.load_tenants()?.into_iter().find(|t| {
            t.id != tenant.id && (t.name == tenant.name || t.key_sha256 == tenant.key_sha256)
        }) {
            return Err(conflict(&other, tenant));
        }
        let value = serde_json::to_vec(tenant).map_err(|e| RecordsError::Corrupt(e.to_string()))?;
        self.tenants.insert(tenant.id.as_bytes(), value)?;
        self.tenants.flush()?;
        Ok(())
    }
}

fn conflict(other: &Tenant, tenant: &Tenant) -> RecordsError {
    let what = if other.name == tenant.name {
        "name"
    } else {
        "key"
    };
    RecordsError::Database {
        code: DUPLICATE.into(),
        message: format!("a tenant with this {what} exists"),
    }
}

/// MariaDB's code for a duplicate key (the embedded store answers the same).
pub const DUPLICATE: &str = "1062";

impl MariaDb {
    pub(super) async fn load_tenants(&self) -> Result<Vec<Tenant>, RecordsError> {
        self.ready().await?;
        sqlx::query(
            "SELECT id, name, key_sha256, key_hint, disabled, options, created_ms, updated_ms \
             FROM tenants ORDER BY created_ms, id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            let options: String = row.try_get("options")?;
            let stored: StoredOptions =
                serde_json::from_str(&options).map_err(|e| RecordsError::Corrupt(e.to_string()))?;
            Ok(Tenant {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                key_sha256: row.try_get("key_sha256")?,
                key_hint: row.try_get("key_hint")?,
                disabled: row.try_get::<bool, _>("disabled")?,
                options: stored.options,
                webhook: stored.webhook,
                created_ms: row.try_get("created_ms")?,
                updated_ms: row.try_get("updated_ms")?,
            })
        })
        .collect()
    }

    pub(super) async fn store_tenant(&self, tenant: &Tenant) -> Result<(), RecordsError> {
        self.ready().await?;
        let stored = StoredOptions {
            options: tenant.options.clone(),
            webhook: tenant.webhook.clone(),
        };
        let options =
            serde_json::to_string(&stored).map_err(|e| RecordsError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO tenants (id, name, key_sha256, key_hint, disabled, options, created_ms, \
             updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE \
             name = VALUES(name), key_sha256 = VALUES(key_sha256), key_hint = VALUES(key_hint), \
             disabled = VALUES(disabled), options = VALUES(options), \
             updated_ms = VALUES(updated_ms)",
        )
        .bind(&tenant.id)
        .bind(&tenant.name)
        .bind(&tenant.key_sha256)
        .bind(&tenant.key_hint)
        .bind(tenant.disabled)
        .bind(options)
        .bind(tenant.created_ms)
        .bind(tenant.updated_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
