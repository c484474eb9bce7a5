//! Reads of the MariaDB records backend: a session's records rebuilt from the tables, a
//! comparison with its pairs, decisions by time — what the API and the admin views show.

use super::mariadb::MariaDb;
use super::{
    AuditEntry, Comparison, ComparisonPair, ComparisonReport, Consent, DecisionRecord, DecisionRow,
    DocumentRead, Erasure, ErasureScope, FaceSample, FaceSamples, MediaStored, Record, RecordEntry,
    Records, RecordsError, SampleSource, VerdictFigures,
};
use sqlx::Row;
use sqlx::mysql::MySqlRow;
use std::collections::BTreeMap;
use uuid::Uuid;

fn corrupt(what: &str) -> RecordsError {
    RecordsError::Corrupt(format!("MariaDB column {what}"))
}

fn uuid_at(row: &MySqlRow, col: &str) -> Result<Uuid, RecordsError> {
    let bytes: Vec<u8> = row.try_get(col)?;
    Uuid::from_slice(&bytes).map_err(|_| corrupt(col))
}

fn opt_uuid_at(row: &MySqlRow, col: &str) -> Result<Option<Uuid>, RecordsError> {
    let bytes: Option<Vec<u8>> = row.try_get(col)?;
    bytes
        .map(|b| Uuid::from_slice(&b).map_err(|_| corrupt(col)))
        .transpose()
}

fn hash_at(row: &MySqlRow, col: &str) -> Result<[u8; 32], RecordsError> {
    let bytes: Vec<u8> = row.try_get(col)?;
    bytes.try_into().map_err(|_| corrupt(col))
}

fn strings_at(row: &MySqlRow, col: &str) -> Result<Vec<String>, RecordsError> {
    let text: String = row.try_get(col)?;
    serde_json::from_str(&text).map_err(|_| corrupt(col))
}

impl MariaDb {
    /// The records of a session, table by table, keyed by sequence number.
    async fn records_of(&self, sid: &[u8]) -> Result<BTreeMap<u64, Record>, RecordsError> {
        let mut out = BTreeMap::new();
        for row in sqlx::query("SELECT seq FROM sessions WHERE id = ?")
            .bind(sid)
            .fetch_all(&self.pool)
            .await?
        {
            out.insert(row.try_get("seq")?, Record::SessionCreated);
        }
        for row in sqlx::query("SELECT seq, version, purposes FROM consents WHERE session_id = ?")
            .bind(sid)
            .fetch_all(&self.pool)
            .await?
        {
            let c = Consent {
                version: row.try_get("version")?,
                purposes: strings_at(&row, "purposes")?,
            };
            out.insert(row.try_get("seq")?, Record::Consent(c));
        }
        for row in
            sqlx::query("SELECT id, seq, kind, fields_enc FROM documents WHERE session_id = ?")
                .bind(sid)
                .fetch_all(&self.pool)
                .await?
        {
            let d = DocumentRead {
                document_id: uuid_at(&row, "id")?,
                doc_kind: row.try_get("kind")?,
                fields_enc: row.try_get("fields_enc")?,
            };
            out.insert(row.try_get("seq")?, Record::DocumentRead(d));
        }
        for row in sqlx::query(
            "SELECT id, seq, kind, storage_key, content_type, size_bytes, sha256 \
             FROM media_objects WHERE session_id = ?",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await?
        {
            let m = MediaStored {
                media_id: uuid_at(&row, "id")?,
                media_kind: row.try_get("kind")?,
                storage_key: row.try_get("storage_key")?,
                content_type: row.try_get("content_type")?,
                size_bytes: row.try_get("size_bytes")?,
                sha256: hash_at(&row, "sha256")?,
            };
            out.insert(row.try_get("seq")?, Record::MediaStored(m));
        }
        let mut samples: BTreeMap<u64, Vec<FaceSample>> = BTreeMap::new();
        for row in sqlx::query(
            "SELECT id, seq, media_id, source, frame_index, frame_ms, engine, model, quality, \
             embedding_enc FROM face_samples WHERE session_id = ? ORDER BY seq, idx",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await?
        {
            let source: String = row.try_get("source")?;
            let s = FaceSample {
                sample_id: uuid_at(&row, "id")?,
                media_id: opt_uuid_at(&row, "media_id")?,
                source: SampleSource::parse(&source).ok_or_else(|| corrupt("source"))?,
                frame_index: row.try_get("frame_index")?,
                frame_ms: row.try_get("frame_ms")?,
                engine: row.try_get("engine")?,
                model: row.try_get("model")?,
                quality: row.try_get("quality")?,
                embedding_enc: row.try_get("embedding_enc")?,
            };
            samples.entry(row.try_get("seq")?).or_default().push(s);
        }
        for (seq, samples) in samples {
            out.insert(seq, Record::FaceSamples(FaceSamples { samples }));
        }
        for row in sqlx::query("SELECT id FROM comparisons WHERE session_id = ?")
            .bind(sid)
            .fetch_all(&self.pool)
            .await?
        {
            if let Some(r) = self.comparison_by_id(&uuid_at(&row, "id")?).await? {
                out.insert(r.seq, Record::Comparison(r.comparison));
            }
        }
        for row in sqlx::query(
            "SELECT seq, comparison_id, outcome, reasons FROM decisions WHERE session_id = ?",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await?
        {
            out.insert(row.try_get("seq")?, Record::Decision(decision(&row)?));
        }
        for row in sqlx::query(
            "SELECT seq, actor, action, target, prev_hash, hash FROM audit_events \
             WHERE session_id = ?",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await?
        {
            out.insert(row.try_get("seq")?, Record::Audit(audit(&row)?));
        }
        for row in sqlx::query("SELECT seq, scope FROM erasures WHERE session_id = ?")
            .bind(sid)
            .fetch_all(&self.pool)
            .await?
        {
            let scope: String = row.try_get("scope")?;
            let scope = ErasureScope::parse(&scope).ok_or_else(|| corrupt("scope"))?;
            out.insert(row.try_get("seq")?, Record::Erasure(Erasure { scope }));
        }
        Ok(out)
    }

    async fn comparison_by_id(&self, id: &Uuid) -> Result<Option<ComparisonReport>, RecordsError> {
        let cid = id.as_bytes().as_slice();
        let Some(row) = sqlx::query(
            "SELECT session_id, seq, tenant_id, engine, model, threshold, best_similarity, \
             compared_ms, score, consistency, frames_sampled, frames_kept, liveness FROM comparisons \
             WHERE id = ?",
        )
        .bind(cid)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let pairs = sqlx::query(
            "SELECT id_sample_id, frame_sample_id, frame_index, similarity \
             FROM comparison_pairs WHERE comparison_id = ? ORDER BY idx",
        )
        .bind(cid)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|p| {
            Ok(ComparisonPair {
                id_sample_id: uuid_at(p, "id_sample_id")?,
                frame_sample_id: uuid_at(p, "frame_sample_id")?,
                frame_index: p.try_get("frame_index")?,
                similarity: p.try_get("similarity")?,
            })
        })
        .collect::<Result<Vec<_>, RecordsError>>()?;
        Ok(Some(ComparisonReport {
            session_id: uuid_at(&row, "session_id")?,
            seq: row.try_get("seq")?,
            tenant_id: row.try_get("tenant_id")?,
            compared_ms: row.try_get("compared_ms")?,
            comparison: Comparison {
                comparison_id: *id,
                engine: row.try_get("engine")?,
                model: row.try_get("model")?,
                threshold: row.try_get("threshold")?,
                best_similarity: row.try_get("best_similarity")?,
                pairs,
                verdict: VerdictFigures {
                    score: row.try_get("score")?,
                    consistency: row.try_get("consistency")?,
                    frames_sampled: row.try_get("frames_sampled")?,
                    frames_kept: row.try_get("frames_kept")?,
                    liveness: row
                        .try_get::<Option<String>, _>("liveness")?
                        .map(|j| serde_json::from_str(&j))
                        .transpose()
                        .map(|l| l.map(Box::new))
                        .map_err(|e| {
                            RecordsError::Corrupt(format!("a comparison's liveness: {e}"))
                        })?,
                },
            },
        }))
    }
}

fn audit(row: &MySqlRow) -> Result<AuditEntry, RecordsError> {
    Ok(AuditEntry {
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        prev_hash: hash_at(row, "prev_hash")?,
        hash: hash_at(row, "hash")?,
    })
}

fn decision(row: &MySqlRow) -> Result<DecisionRecord, RecordsError> {
    Ok(DecisionRecord {
        outcome: row.try_get("outcome")?,
        reasons: strings_at(row, "reasons")?,
        comparison_id: opt_uuid_at(row, "comparison_id")?,
    })
}

impl Records for MariaDb {
    fn name(&self) -> &'static str {
        "mariadb"
    }

    async fn tenants(&self) -> Result<Vec<super::Tenant>, RecordsError> {
        self.load_tenants().await
    }

    async fn put_tenant(&self, tenant: &super::Tenant) -> Result<(), RecordsError> {
        self.store_tenant(tenant).await
    }

    async fn write_batch(&self, entries: &[RecordEntry]) -> Result<usize, RecordsError> {
        self.write_all(entries).await
    }

    async fn session_records(&self, session_id: Uuid) -> Result<Vec<RecordEntry>, RecordsError> {
        self.ready().await?;
        let sid = session_id.as_bytes().as_slice();
        let mut records = self.records_of(sid).await?;
        let log = sqlx::query(
            "SELECT seq, tenant_id, at_ms FROM record_log WHERE session_id = ? ORDER BY seq",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(log.len());
        for row in log {
            let seq: u64 = row.try_get("seq")?;
            // A record erased from its table but logged is not returned.
            if let Some(record) = records.remove(&seq) {
                out.push(RecordEntry {
                    session_id,
                    seq,
                    at_ms: row.try_get("at_ms")?,
                    tenant_id: row.try_get("tenant_id")?,
                    record,
                });
            }
        }
        Ok(out)
    }

    async fn comparison(&self, id: Uuid) -> Result<Option<ComparisonReport>, RecordsError> {
        self.ready().await?;
        self.comparison_by_id(&id).await
    }

    async fn comparisons_of(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<ComparisonReport>, RecordsError> {
        self.ready().await?;
        let ids = sqlx::query("SELECT id FROM comparisons WHERE session_id = ? ORDER BY seq")
            .bind(session_id.as_bytes().as_slice())
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for row in ids {
            if let Some(r) = self.comparison_by_id(&uuid_at(&row, "id")?).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn audit_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<RecordEntry>, RecordsError> {
        self.ready().await?;
        sqlx::query(
            "SELECT session_id, seq, tenant_id, actor, action, target, at_ms, prev_hash, hash \
             FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(after_seq)
        .bind(u64::try_from(limit).unwrap_or(u64::MAX))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(RecordEntry {
                session_id: uuid_at(row, "session_id")?,
                seq: row.try_get("seq")?,
                at_ms: row.try_get("at_ms")?,
                tenant_id: row.try_get("tenant_id")?,
                record: Record::Audit(audit(row)?),
            })
        })
        .collect()
    }

    async fn decisions_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<DecisionRow>, RecordsError> {
        self.ready().await?;
        sqlx::query(
            "SELECT session_id, seq, tenant_id, comparison_id, outcome, reasons, decided_ms \
             FROM decisions WHERE decided_ms >= ? AND decided_ms < ? \
             ORDER BY decided_ms, session_id, seq LIMIT ?",
        )
        .bind(from_ms)
        .bind(to_ms)
        .bind(u64::try_from(limit).unwrap_or(u64::MAX))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|row| {
            Ok(DecisionRow {
                session_id: uuid_at(row, "session_id")?,
                seq: row.try_get("seq")?,
                tenant_id: row.try_get("tenant_id")?,
                decided_ms: row.try_get("decided_ms")?,
                decision: decision(row)?,
            })
        })
        .collect()
    }
}
