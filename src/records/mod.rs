//! Durable records: what each KYC session leaves behind (consent, documents, media, face
//! samples, comparisons with their pairs, decisions, audit entries), behind one [`Records`]
//! interface with two backends — MariaDB ([`MariaDb`]) and an embedded sled store
//! ([`Embedded`], the default when `database.url` is unset) — fed through a sled [`Outbox`] by a
//! [`Drainer`], so a record acknowledged on the request path is never lost while the database
//! is down.

mod audit;
mod drainer;
mod embedded;
mod mariadb;
mod mariadb_read;
mod outbox;
mod service;
mod step;
mod tenants;
mod types;

pub use audit::{
    AUDIT_SEQ_BASE, AuditEvent, AuditLog, Broken, MEDIA_PURGE_SEQ, SESSION_PURGE_SEQ, Verifier,
    link_hash,
};
pub use drainer::{Delivered, Drainer, DrainerHandle, DrainerStats, DrainerTuning};
pub use embedded::Embedded;
pub use mariadb::{MIGRATOR, MariaDb, MigrationReport};
pub use outbox::{Backlog, Outbox, OutboxError};
pub use service::{LAG_AFTER, RecordsHealth, RecordsService};
pub use step::{OutboxRecords, PER_STEP, record_seq};
pub use tenants::{DUPLICATE, Tenant, TenantOptions, WebhookTarget, normal_origin};
pub use types::*;

use crate::settings::Settings;
use std::future::Future;
use uuid::Uuid;

/// Why the records layer failed. [`RecordsError::is_transient`] tells the drainer whether to
/// retry (database away) or to set the record aside (it can never be written).
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("records store (sled): {0}")]
    Sled(#[from] sled::Error),
    /// The database cannot be reached or timed out; retrying later may succeed.
    #[error("records database unavailable: {0}")]
    Unavailable(String),
    /// The database refused the statement (`code` is the server's error code).
    #[error("records database error {code}: {message}")]
    Database { code: String, message: String },
    #[error("records schema migration failed: {0}")]
    Migrate(String),
    #[error("stored record does not decode: {0}")]
    Corrupt(String),
    #[error("invalid `database.url`: {0}")]
    Url(String),
}

impl RecordsError {
    /// True when the same write may succeed later (connection lost, timeout, deadlock).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// A short label for logs and metrics (never carries data).
    pub fn label(&self) -> String {
        match self {
            Self::Sled(_) => "sled".into(),
            Self::Unavailable(_) => "unavailable".into(),
            Self::Database { code, .. } => format!("database {code}"),
            Self::Migrate(_) => "migrate".into(),
            Self::Corrupt(_) => "corrupt".into(),
            Self::Url(_) => "url".into(),
        }
    }
}

/// The durable store of records. Writes are idempotent by (session id, sequence number): an
/// entry delivered again is skipped, so the outbox may redeliver after a lost acknowledgement.
/// Personal fields (`DocumentRead::fields_enc`, `FaceSample::embedding_enc`) must already be
/// encrypted by the caller; backends store them as opaque bytes.
pub trait Records: Send + Sync + 'static {
    /// `mariadb` or `embedded`.
    fn name(&self) -> &'static str;

    /// Stores `entries` in one commit, in order; entries whose (session, seq) is already
    /// stored are skipped. Returns how many were new. Durable when it returns `Ok`.
    fn write_batch(
        &self,
        entries: &[RecordEntry],
    ) -> impl Future<Output = Result<usize, RecordsError>> + Send;

    /// Every record of `session_id`, by sequence number.
    fn session_records(
        &self,
        session_id: Uuid,
    ) -> impl Future<Output = Result<Vec<RecordEntry>, RecordsError>> + Send;

    /// One comparison with all its pairs (`GET /api/v1/face-similarity/{id}`).
    fn comparison(
        &self,
        comparison_id: Uuid,
    ) -> impl Future<Output = Result<Option<ComparisonReport>, RecordsError>> + Send;

    /// The comparisons of a session, by sequence number.
    fn comparisons_of(
        &self,
        session_id: Uuid,
    ) -> impl Future<Output = Result<Vec<ComparisonReport>, RecordsError>> + Send;

    /// Decisions made in `[from_ms, to_ms)`, oldest first, at most `limit`.
    fn decisions_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<DecisionRow>, RecordsError>> + Send;

    /// Audit entries with a sequence number above `after_seq`, in sequence (= chain) order,
    /// at most `limit` (`kyc audit verify` pages through the chain with it).
    fn audit_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordEntry>, RecordsError>> + Send;

    /// Every tenant, oldest first.
    fn tenants(&self) -> impl Future<Output = Result<Vec<Tenant>, RecordsError>> + Send;

    /// Stores `tenant` (new or changed, by id); a name or key another tenant has is a
    /// `Database` error with code [`DUPLICATE`].
    fn put_tenant(&self, tenant: &Tenant) -> impl Future<Output = Result<(), RecordsError>> + Send;

    /// One entry; see [`Records::write_batch`].
    fn write(
        &self,
        entry: &RecordEntry,
    ) -> impl Future<Output = Result<usize, RecordsError>> + Send {
        self.write_batch(std::slice::from_ref(entry))
    }
}

/// The backend chosen by the settings: MariaDB when `database.url` is set, else the embedded
/// store under `{data_dir}/records`.
pub enum Store {
    MariaDb(MariaDb),
    Embedded(Embedded),
}

impl Store {
    /// Opens the configured backend. MariaDB is connected lazily: an unreachable database
    /// does not stop the server (the outbox holds the records); its migrations run on the
    /// first successful connection.
    pub fn open(settings: &Settings) -> Result<Self, RecordsError> {
        match &settings.database.url {
            Some(_) => Ok(Self::MariaDb(MariaDb::lazy(&settings.database)?)),
            None => Ok(Self::Embedded(Embedded::open(
                &settings.server.data_dir.join("records"),
            )?)),
        }
    }
}

impl Records for Store {
    fn name(&self) -> &'static str {
        match self {
            Self::MariaDb(r) => r.name(),
            Self::Embedded(r) => r.name(),
        }
    }

    async fn write_batch(&self, entries: &[RecordEntry]) -> Result<usize, RecordsError> {
        match self {
            Self::MariaDb(r) => r.write_batch(entries).await,
            Self::Embedded(r) => r.write_batch(entries).await,
        }
    }

    async fn session_records(&self, session_id: Uuid) -> Result<Vec<RecordEntry>, RecordsError> {
        match self {
            Self::MariaDb(r) => r.session_records(session_id).await,
            Self::Embedded(r) => r.session_records(session_id).await,
        }
    }

    async fn comparison(&self, id: Uuid) -> Result<Option<ComparisonReport>, RecordsError> {
        match self {
            Self::MariaDb(r) => r.comparison(id).await,
            Self::Embedded(r) => r.comparison(id).await,
        }
    }

    async fn comparisons_of(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<ComparisonReport>, RecordsError> {
        match self {
            Self::MariaDb(r) => r.comparisons_of(session_id).await,
            Self::Embedded(r) => r.comparisons_of(session_id).await,
        }
    }

    async fn audit_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<RecordEntry>, RecordsError> {
        match self {
            Self::MariaDb(r) => r.audit_after(after_seq, limit).await,
            Self::Embedded(r) => r.audit_after(after_seq, limit).await,
        }
    }

    async fn decisions_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<DecisionRow>, RecordsError> {
        match self {
            Self::MariaDb(r) => r.decisions_between(from_ms, to_ms, limit).await,
            Self::Embedded(r) => r.decisions_between(from_ms, to_ms, limit).await,
        }
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, RecordsError> {
        match self {
            Self::MariaDb(r) => r.tenants().await,
            Self::Embedded(r) => r.tenants().await,
        }
    }

    async fn put_tenant(&self, tenant: &Tenant) -> Result<(), RecordsError> {
        match self {
            Self::MariaDb(r) => r.put_tenant(tenant).await,
            Self::Embedded(r) => r.put_tenant(tenant).await,
        }
    }
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
