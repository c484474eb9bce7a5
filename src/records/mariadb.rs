//! The MariaDB records backend (sqlx, queries checked at run time: the build has no database).
//! Every entry is written in one transaction with its row in `record_log`, whose primary key
//! (session_id, seq) makes a redelivered entry a no-op.

use super::{Record, RecordEntry, RecordsError};
use crate::settings::DatabaseSettings;
use secrecy::ExposeSecret;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{Acquire, MySql, Transaction};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::OnceCell;

/// The schema in `migrations/`, compiled in.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A pool of MariaDB connections, migrated once before first use. Clones share the pool.
#[derive(Clone)]
pub struct MariaDb {
    pub(super) pool: MySqlPool,
    migrated: OnceCell<()>,
    connect_timeout: Duration,
}

/// What `MariaDb::migrate` found and did.
#[derive(Debug, Clone)]
pub struct MigrationReport {
    /// (version, description) applied by this call.
    pub applied: Vec<(i64, String)>,
    /// How many were applied before.
    pub already: usize,
}

impl From<sqlx::Error> for RecordsError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Io(_)
            | E::Tls(_)
            | E::Protocol(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed => Self::Unavailable(e.to_string()),
            E::Database(db) => {
                let number = db
                    .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                    .map(|m| m.number())
                    .unwrap_or(0);
                // 1205 lock wait timeout, 1213 deadlock, 1040 too many connections, 1053 and
                // 1927 shutdown / connection killed: worth another try.
                if matches!(number, 1205 | 1213 | 1040 | 1053 | 1927) {
                    Self::Unavailable(format!("database error {number}"))
                } else {
                    Self::Database {
                        code: number.to_string(),
                        message: db.message().to_owned(),
                    }
                }
            }
            E::Configuration(c) => Self::Url(c.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for RecordsError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::Execute(inner) => match Self::from(inner) {
                Self::Unavailable(m) => Self::Unavailable(m),
                other => Self::Migrate(other.to_string()),
            },
            other => Self::Migrate(other.to_string()),
        }
    }
}

impl MariaDb {
    /// A pool for `settings.url` that connects on first use (nothing is dialled here).
    pub fn lazy(settings: &DatabaseSettings) -> Result<Self, RecordsError> {
        let url = settings
            .url
            .as_ref()
            .ok_or_else(|| RecordsError::Url("not set".into()))?;
        let options = MySqlConnectOptions::from_str(url.expose_secret())
            .map_err(|e| RecordsError::Url(e.to_string()))?;
        let pool = MySqlPoolOptions::new()
            .max_connections(settings.max_connections)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_lazy_with(options);
        Ok(Self {
            pool,
            migrated: OnceCell::new(),
            connect_timeout: Duration::from_secs(settings.connect_timeout_secs),
        })
    }

    /// Connects now and applies the migrations (`kyc migrate`, tests).
    pub async fn connect(
        settings: &DatabaseSettings,
    ) -> Result<(Self, MigrationReport), RecordsError> {
        let db = Self::lazy(settings)?;
        let report = db.migrate().await?;
        let _ = db.migrated.set(());
        Ok((db, report))
    }

    /// Applies the migrations not yet applied and says which.
    pub async fn migrate(&self) -> Result<MigrationReport, RecordsError> {
        let before = tokio::time::timeout(self.connect_timeout, async {
            let mut conn = self.pool.acquire().await?;
            conn.ensure_migrations_table(&MIGRATOR.table_name).await?;
            let applied = conn.list_applied_migrations(&MIGRATOR.table_name).await?;
            Ok::<_, RecordsError>(applied)
        })
        .await
        .map_err(|_| RecordsError::Unavailable("connect timed out".into()))??;
        MIGRATOR.run(&self.pool).await?;
        let applied = MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .filter(|m| !before.iter().any(|a| a.version == m.version))
            .map(|m| (m.version, m.description.to_string()))
            .collect();
        Ok(MigrationReport {
            applied,
            already: before.len(),
        })
    }

    /// Migrates once per process before the first query.
    pub(super) async fn ready(&self) -> Result<(), RecordsError> {
        self.migrated
            .get_or_try_init(|| async { self.migrate().await.map(|_| ()) })
            .await
            .map(|_| ())
    }

    pub(super) async fn write_all(&self, entries: &[RecordEntry]) -> Result<usize, RecordsError> {
        self.ready().await?;
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let mut new = 0;
        for e in entries {
            if insert_entry(&mut tx, e).await? {
                new += 1;
            }
        }
        tx.commit().await?;
        Ok(new)
    }
}

/// Inserts `e` unless its (session, seq) is in `record_log`; true when it was new.
async fn insert_entry(
    tx: &mut Transaction<'_, MySql>,
    e: &RecordEntry,
) -> Result<bool, RecordsError> {
    let sid = e.session_id.as_bytes().as_slice();
    let logged = sqlx::query(
        "INSERT IGNORE INTO record_log (session_id, seq, kind, tenant_id, at_ms) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(sid)
    .bind(e.seq)
    .bind(e.record.kind())
    .bind(e.tenant_id.as_deref())
    .bind(e.at_ms)
    .execute(&mut **tx)
    .await?;
    if logged.rows_affected() == 0 {
        return Ok(false);
    }
    let tenant = e.tenant_id.as_deref();
    match &e.record {
        Record::SessionCreated => {
            sqlx::query(
                "INSERT INTO sessions (id, seq, tenant_id, created_ms) VALUES (?, ?, ?, ?)",
            )
            .bind(sid)
            .bind(e.seq)
            .bind(tenant)
            .bind(e.at_ms)
            .execute(&mut **tx)
            .await?;
        }
        Record::Consent(c) => {
            let purposes = serde_json::to_string(&c.purposes)
                .map_err(|err| RecordsError::Corrupt(err.to_string()))?;
            sqlx::query(
                "INSERT INTO consents (session_id, seq, tenant_id, version, purposes, given_ms) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(sid)
            .bind(e.seq)
            .bind(tenant)
            .bind(&c.version)
            .bind(purposes)
            .bind(e.at_ms)
            .execute(&mut **tx)
            .await?;
        }
        Record::DocumentRead(d) => {
            sqlx::query(
                "INSERT INTO documents (id, session_id, seq, tenant_id, kind, fields_enc, read_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(d.document_id.as_bytes().as_slice())
            .bind(sid)
            .bind(e.seq)
            .bind(tenant)
            .bind(&d.doc_kind)
            .bind(d.fields_enc.as_slice())
            .bind(e.at_ms)
            .execute(&mut **tx)
            .await?;
        }
        Record::MediaStored(m) => {
            sqlx::query(
                "INSERT INTO media_objects (id, session_id, seq, tenant_id, kind, storage_key, \
                 content_type, size_bytes, sha256, stored_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(m.media_id.as_bytes().as_slice())
            .bind(sid)
            .bind(e.seq)
            .bind(tenant)
            .bind(&m.media_kind)
            .bind(&m.storage_key)
            .bind(&m.content_type)
            .bind(m.size_bytes)
            .bind(m.sha256.as_slice())
            .bind(e.at_ms)
            .execute(&mut **tx)
            .await?;
        }
        Record::FaceSamples(f) => insert_samples(tx, sid, e.seq, &f.samples).await?,
        Record::Comparison(c) => {
            let cid = c.comparison_id.as_bytes().as_slice();
            sqlx::query(
                "INSERT INTO comparisons (id, session_id, seq, tenant_id, engine, model, \
                 threshold, best_similarity, compared_ms, score, consistency, frames_sampled, \
                 frames_kept, liveness) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(cid)
            .bind(sid)
            .bind(e.seq)
            .bind(tenant)
            .bind(&c.engine)
            .bind(&c.model)
            .bind(c.threshold)
            .bind(c.best_similarity)
            .bind(e.at_ms)
            .bind(c.verdict.score)
            .bind(c.verdict.consistency)
            .bind(c.verdict.frames_sampled)
            .bind(c.verdict.frames_kept)
            .bind(
                c.verdict
                    .liveness
                    .as_ref()
                    .map(serde_json::to_string)
                    .transpose()
                    .map_err(|e| {
                        RecordsError::Corrupt(format!(
                            "a comparison's liveness does not encode: {e}"
                        ))
                    })?,
            )
            .execute(&mut **tx)
            .await?;
            insert_pairs(tx, cid, &c.pairs).await?;
        }
        Record::Decision(d) => {
            let reasons = serde_json::to_string(&d.reasons)
                .map_err(|err| RecordsError::Corrupt(err.to_string()))?;
            sqlx::query(
                "INSERT INTO decisions (session_id, seq, tenant_id, comparison_id, outcome, \
                 reasons, decided_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(sid)
            .bind(e.seq)
            .bind(tenant)
            .bind(d.comparison_id.as_ref().map(|c| c.as_bytes().as_slice()))
            .bind(&d.outcome)
            .bind(reasons)
            .bind(e.at_ms)
            .execute(&mut **tx)
            .await?;
        }
        Record::Audit(a) => {
            sqlx::query(
                "INSERT INTO audit_events (session_id, seq, tenant_id, actor, action, target, \
                 at_ms, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(sid)
            .bind(e.seq)
            .bind(tenant)
            .bind(&a.actor)
            .bind(&a.action)
            .bind(&a.target)
            .bind(e.at_ms)
            .bind(a.prev_hash.as_slice())
            .bind(a.hash.as_slice())
            .execute(&mut **tx)
            .await?;
        }
        Record::Erasure(x) => {
            erase(tx, sid, x.scope).await?;
            sqlx::query(
                "INSERT INTO erasures (session_id, seq, tenant_id, scope, erased_ms) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(sid)
            .bind(e.seq)
            .bind(tenant)
            .bind(x.scope.as_str())
            .bind(e.at_ms)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(true)
}

/// Removes what an erasure of `scope` removes from session `sid`'s rows. `record_log` keeps
/// every key, so a record delivered again after its rows are gone stays gone.
async fn erase(
    tx: &mut Transaction<'_, MySql>,
    sid: &[u8],
    scope: super::ErasureScope,
) -> Result<(), RecordsError> {
    use super::ErasureScope::*;
    let statements: &[&str] = match scope {
        Personal => &[
            "UPDATE documents SET fields_enc = '' WHERE session_id = ?",
            "UPDATE face_samples SET embedding_enc = '' WHERE session_id = ?",
        ],
        Media => &[],
        Session => &[
            "DELETE FROM documents WHERE session_id = ?",
            "DELETE FROM face_samples WHERE session_id = ?",
            "DELETE FROM media_objects WHERE session_id = ?",
            "DELETE FROM comparisons WHERE session_id = ?",
            "DELETE FROM decisions WHERE session_id = ?",
            "DELETE FROM consents WHERE session_id = ?",
            "DELETE FROM sessions WHERE id = ?",
        ],
    };
    for sql in statements {
        sqlx::query(*sql).bind(sid).execute(&mut **tx).await?;
    }
    Ok(())
}

/// The samples of one record, in multi-row statements of up to 100 rows.
async fn insert_samples(
    tx: &mut Transaction<'_, MySql>,
    sid: &[u8],
    seq: u64,
    samples: &[super::FaceSample],
) -> Result<(), RecordsError> {
    for (chunk_no, chunk) in samples.chunks(100).enumerate() {
        let mut qb = sqlx::QueryBuilder::<MySql>::new(
            "INSERT INTO face_samples (id, session_id, seq, idx, media_id, source, frame_index, \
             frame_ms, engine, model, quality, embedding_enc) ",
        );
        qb.push_values(chunk.iter().enumerate(), |mut row, (i, s)| {
            let idx = chunk_no * 100 + i;
            row.push_bind(s.sample_id.as_bytes().as_slice())
                .push_bind(sid)
                .push_bind(seq)
                .push_bind(u32::try_from(idx).unwrap_or(u32::MAX))
                .push_bind(s.media_id.as_ref().map(|m| m.as_bytes().as_slice()))
                .push_bind(s.source.as_str())
                .push_bind(s.frame_index)
                .push_bind(s.frame_ms)
                .push_bind(s.engine.as_str())
                .push_bind(s.model.as_str())
                .push_bind(s.quality)
                .push_bind(s.embedding_enc.as_slice());
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}

/// The pairs of one comparison, in multi-row statements of up to 200 rows.
async fn insert_pairs(
    tx: &mut Transaction<'_, MySql>,
    comparison_id: &[u8],
    pairs: &[super::ComparisonPair],
) -> Result<(), RecordsError> {
    for (chunk_no, chunk) in pairs.chunks(200).enumerate() {
        let mut qb = sqlx::QueryBuilder::<MySql>::new(
            "INSERT INTO comparison_pairs (comparison_id, idx, id_sample_id, frame_sample_id, \
             frame_index, similarity) ",
        );
        qb.push_values(chunk.iter().enumerate(), |mut row, (i, p)| {
            let idx = chunk_no * 200 + i;
            row.push_bind(comparison_id)
                .push_bind(u32::try_from(idx).unwrap_or(u32::MAX))
                .push_bind(p.id_sample_id.as_bytes().as_slice())
                .push_bind(p.frame_sample_id.as_bytes().as_slice())
                .push_bind(p.frame_index)
                .push_bind(p.similarity);
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok(())
}
