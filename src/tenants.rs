//! Tenants: the businesses that run verifications, each with one API key. Keys are made here
//! (shown once, kept as SHA-256), checked here on every tenant request against an in-memory
//! copy of the store's tenants, and changed here (create, rotate, disable) both for the admin
//! API and for `kyc tenants` on a stopped server.

use crate::records::{
    DUPLICATE, Records, RecordsError, Store, Tenant, TenantOptions, WebhookTarget, now_ms,
};
use crate::sessions::{same_secret, token_hash};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// What every API key starts with (a session token is bare hex, so the two never mix).
pub const KEY_PREFIX: &str = "kyc_";
/// Hex digits after the prefix: 256 random bits.
const KEY_HEX: usize = 64;
/// An unknown key reloads the tenants (one made by another node or by `kyc tenants`) at most
/// this often, so a flood of wrong keys cannot flood the store.
const MISS_RELOAD: Duration = Duration::from_secs(2);
/// How often the tenants are read again from the store.
pub const RELOAD_EVERY: Duration = Duration::from_secs(10);
/// The longest a tenant's name may be.
const NAME_MAX: usize = 200;

/// Why a key or a tenant change was refused.
#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    #[error("no API key was given (X-Api-Key, or Authorization: Bearer)")]
    NoKey,
    #[error("the API key is malformed: it is `kyc_` and 64 hex digits")]
    Malformed,
    #[error("the API key is not known")]
    Unknown,
    #[error("this tenant is disabled")]
    Disabled,
    #[error("tenant {0} not found")]
    NotFound(String),
    #[error("a tenant named {0:?} exists")]
    NameTaken(String),
    #[error("invalid tenant name: {0}")]
    BadName(&'static str),
    #[error("invalid tenant options: {0}")]
    BadOptions(String),
    #[error(transparent)]
    Records(#[from] RecordsError),
}

/// A fresh API key: the prefix and 256 random bits (two v4 UUIDs' worth of the OS's
/// randomness), hex.
fn new_key() -> String {
    format!(
        "{KEY_PREFIX}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The part of a key shown in lists.
fn hint(key: &str) -> String {
    key.chars().take(KEY_PREFIX.len() + 6).collect()
}

/// Whether `key` has the shape of an API key.
pub fn is_key(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX)
        .is_some_and(|h| h.len() == KEY_HEX && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A tenant's name, trimmed: 1 to 200 printable characters.
fn check_name(name: &str) -> Result<String, TenantsError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(TenantsError::BadName("it is empty"));
    }
    if name.chars().count() > NAME_MAX {
        return Err(TenantsError::BadName("it is longer than 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(TenantsError::BadName("it has control characters"));
    }
    Ok(name.to_owned())
}

#[derive(Default)]
struct Cache {
    by_key: HashMap<String, Arc<Tenant>>,
    by_id: HashMap<String, Arc<Tenant>>,
    loaded: Option<Instant>,
}

impl Cache {
    fn put(&mut self, t: Tenant) {
        if let Some(old) = self.by_id.get(&t.id) {
            self.by_key.remove(&old.key_sha256);
        }
        let t = Arc::new(t);
        self.by_key.insert(t.key_sha256.clone(), Arc::clone(&t));
        self.by_id.insert(t.id.clone(), t);
    }
}

/// The tenants of the store, kept in memory for the key checks.
pub struct Tenants {
    store: Arc<Store>,
    cache: RwLock<Cache>,
    reload: tokio::sync::Mutex<()>,
}

impl Tenants {
    /// The tenants of `store`, loaded now when it can be read (else at the first key).
    pub async fn open(store: Arc<Store>) -> Self {
        let t = Self {
            store,
            cache: RwLock::default(),
            reload: tokio::sync::Mutex::new(()),
        };
        if let Err(e) = t.reload().await {
            tracing::warn!(error = %e.label(), "tenants not loaded yet: the records store cannot be read");
        }
        t
    }

    /// Reads every tenant from the store again.
    pub async fn reload(&self) -> Result<(), RecordsError> {
        let _one = self.reload.lock().await;
        let all = self.store.tenants().await?;
        let mut cache = Cache {
            loaded: Some(Instant::now()),
            ..Cache::default()
        };
        for t in all {
            cache.put(t);
        }
        *self.write() = cache;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The tenant whose key `key` is; a disabled tenant's key is refused.
    pub async fn authenticate(&self, key: Option<&str>) -> Result<Arc<Tenant>, TenantsError> {
        let key = key.ok_or(TenantsError::NoKey)?;
        if !is_key(key) {
            return Err(TenantsError::Malformed);
        }
        let hash = token_hash(key);
        let found = self.lookup(&hash);
        let tenant = match found {
            Some(t) => t,
            None => {
                let stale = self
                    .read()
                    .loaded
                    .is_none_or(|at| at.elapsed() >= MISS_RELOAD);
                if !stale {
                    return Err(TenantsError::Unknown);
                }
                self.reload().await?;
                self.lookup(&hash).ok_or(TenantsError::Unknown)?
            }
        };
        if tenant.disabled {
            return Err(TenantsError::Disabled);
        }
        Ok(tenant)
    }

    fn lookup(&self, hash: &str) -> Option<Arc<Tenant>> {
        let cache = self.read();
        cache
            .by_key
            .get(hash)
            .filter(|t| same_secret(&t.key_sha256, hash))
            .cloned()
    }

    /// Reads the tenants again every [`RELOAD_EVERY`] (changes made by other nodes or by
    /// `kyc tenants` on a shared database), until aborted.
    pub fn spawn_reloader(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(RELOAD_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                if let Err(e) = self.reload().await {
                    tracing::debug!(error = %e.label(), "tenants not reloaded");
                }
            }
        })
    }

    /// Whether some enabled tenant lists `origin` (normalised) in its `allowedOrigins`: a
    /// page there may call the person's routes from a browser (CORS).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.read()
            .by_id
            .values()
            .any(|t| !t.disabled && t.options.allowed_origins.iter().any(|a| a == origin))
    }

    /// Tenant `id` as last loaded.
    pub fn get(&self, id: &str) -> Option<Arc<Tenant>> {
        self.read().by_id.get(id).cloned()
    }

    /// Every tenant, oldest first, from the store.
    pub async fn list(&self) -> Result<Vec<Tenant>, TenantsError> {
        self.reload().await?;
        let mut all: Vec<Tenant> = self
            .read()
            .by_id
            .values()
            .map(|t| Tenant::clone(t))
            .collect();
        all.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(all)
    }

    /// A new tenant named `name` and its API key (shown once).
    pub async fn create(
        &self,
        name: &str,
        options: TenantOptions,
    ) -> Result<(Tenant, String), TenantsError> {
        let name = check_name(name)?;
        let options = options.checked().map_err(TenantsError::BadOptions)?;
        let key = new_key();
        let now = now_ms();
        let tenant = Tenant {
            id: uuid::Uuid::new_v4().to_string(),
            name,
            key_sha256: token_hash(&key),
            key_hint: hint(&key),
            disabled: false,
            options,
            webhook: None,
            created_ms: now,
            updated_ms: now,
        };
        self.put(&tenant).await?;
        Ok((tenant, key))
    }

    /// A new key for tenant `id`; the old one stops working at once.
    pub async fn rotate_key(&self, id: &str) -> Result<(Tenant, String), TenantsError> {
        let mut tenant = self.fresh(id).await?;
        let key = new_key();
        tenant.key_sha256 = token_hash(&key);
        tenant.key_hint = hint(&key);
        tenant.updated_ms = now_ms();
        self.put(&tenant).await?;
        Ok((tenant, key))
    }

    /// Disables (or enables again) tenant `id`: its key is refused at once.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<Tenant, TenantsError> {
        let mut tenant = self.fresh(id).await?;
        tenant.disabled = disabled;
        tenant.updated_ms = now_ms();
        self.put(&tenant).await?;
        Ok(tenant)
    }

    /// Changes tenant `id`'s options.
    pub async fn set_options(
        &self,
        id: &str,
        options: TenantOptions,
    ) -> Result<Tenant, TenantsError> {
        let options = options.checked().map_err(TenantsError::BadOptions)?;
        let mut tenant = self.fresh(id).await?;
        tenant.options = options;
        tenant.updated_ms = now_ms();
        self.put(&tenant).await?;
        Ok(tenant)
    }

    /// Registers `url` as tenant `id`'s webhook with a fresh secret (a new registration
    /// replaces the URL and the secret); `None` removes it.
    pub async fn set_webhook(&self, id: &str, url: Option<String>) -> Result<Tenant, TenantsError> {
        let mut tenant = self.fresh(id).await?;
        let now = now_ms();
        tenant.webhook = url.map(|url| WebhookTarget {
            url,
            secret: format!(
                "whsec_{}{}",
                uuid::Uuid::new_v4().simple(),
                uuid::Uuid::new_v4().simple()
            ),
            created_ms: now,
        });
        tenant.updated_ms = now;
        self.put(&tenant).await?;
        Ok(tenant)
    }

    /// Tenant `id` as the store has it now.
    async fn fresh(&self, id: &str) -> Result<Tenant, TenantsError> {
        self.reload().await?;
        self.get(id)
            .map(|t| Tenant::clone(&t))
            .ok_or_else(|| TenantsError::NotFound(id.to_owned()))
    }

    async fn put(&self, tenant: &Tenant) -> Result<(), TenantsError> {
        match self.store.put_tenant(tenant).await {
            Ok(()) => {}
            Err(RecordsError::Database { code, .. }) if code == DUPLICATE => {
                return Err(TenantsError::NameTaken(tenant.name.clone()));
            }
            Err(e) => return Err(e.into()),
        }
        self.write().put(tenant.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Embedded;

    async fn tenants() -> Tenants {
        Tenants::open(Arc::new(Store::Embedded(
            Embedded::temporary().expect("store"),
        )))
        .await
    }

    #[tokio::test]
    async fn keys_are_made_checked_rotated_and_refused_once_disabled() {
        let t = tenants().await;
        let (a, key) = t
            .create("  Bank A ", TenantOptions::default())
            .await
            .expect("create");
        assert_eq!(a.name, "Bank A");
        assert!(is_key(&key), "{key}");
        assert!(!a.key_sha256.contains(&key[KEY_PREFIX.len()..]));
        assert_eq!(t.authenticate(Some(&key)).await.expect("key").id, a.id);
        assert!(matches!(
            t.create("Bank A", TenantOptions::default()).await,
            Err(TenantsError::NameTaken(_))
        ));
        assert!(matches!(
            t.authenticate(None).await,
            Err(TenantsError::NoKey)
        ));
        assert!(matches!(
            t.authenticate(Some("kyc_nothex")).await,
            Err(TenantsError::Malformed)
        ));
        let other = new_key();
        assert!(matches!(
            t.authenticate(Some(&other)).await,
            Err(TenantsError::Unknown)
        ));
        let (_, rotated) = t.rotate_key(&a.id).await.expect("rotate");
        assert!(matches!(
            t.authenticate(Some(&key)).await,
            Err(TenantsError::Unknown)
        ));
        assert_eq!(
            t.authenticate(Some(&rotated)).await.expect("new key").id,
            a.id
        );
        t.set_disabled(&a.id, true).await.expect("disable");
        assert!(matches!(
            t.authenticate(Some(&rotated)).await,
            Err(TenantsError::Disabled)
        ));
        assert!(matches!(
            t.set_disabled("nope", true).await,
            Err(TenantsError::NotFound(_))
        ));
        for bad in ["", "   ", "a\u{0}b"] {
            assert!(matches!(
                t.create(bad, TenantOptions::default()).await,
                Err(TenantsError::BadName(_))
            ));
        }
        assert_eq!(t.list().await.expect("list").len(), 1);
    }
}
