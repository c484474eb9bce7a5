//! The embedded records backend on sled, so `kyc serve` keeps durable records on a bare machine
//! without MariaDB. Each record is stored whole under (session, seq), with indexes for
//! comparisons by id, decisions by time and the audit chain by sequence number. An erased
//! record keeps its key with an empty value, so a redelivery of it stays a no-op.

use super::{
    ComparisonReport, DecisionRow, ErasureScope, Record, RecordEntry, Records, RecordsError,
};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Transactional, Tree};
use std::path::Path;
use uuid::Uuid;

/// sled trees: `records` (session ‖ seq → JSON entry), `comparisons` (comparison id →
/// session ‖ seq), `decisions` (decided ms ‖ session ‖ seq → empty), `audit` (seq → session
/// ‖ seq).
#[derive(Clone)]
pub struct Embedded {
    db: sled::Db,
    records: Tree,
    comparisons: Tree,
    decisions: Tree,
    audit: Tree,
    /// Tenant id → JSON (see `tenants`).
    pub(super) tenants: Tree,
}

fn entry_key(session_id: &Uuid, seq: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(session_id.as_bytes());
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Orders signed milliseconds as unsigned big-endian bytes.
fn time_bytes(ms: i64) -> [u8; 8] {
    ((ms as u64) ^ (1 << 63)).to_be_bytes()
}

fn decision_key(ms: i64, session_id: &Uuid, seq: u64) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..8].copy_from_slice(&time_bytes(ms));
    k[8..].copy_from_slice(&entry_key(session_id, seq));
    k
}

fn decode(bytes: &[u8]) -> Result<RecordEntry, RecordsError> {
    serde_json::from_slice(bytes).map_err(|e| RecordsError::Corrupt(e.to_string()))
}

impl Embedded {
    /// Opens (or creates) the store in the folder `path`.
    pub fn open(path: &Path) -> Result<Self, RecordsError> {
        Self::with(sled::Config::new().path(path).open()?)
    }

    /// A store that lives as long as this process (tests, tools).
    pub fn temporary() -> Result<Self, RecordsError> {
        Self::with(sled::Config::new().temporary(true).open()?)
    }

    fn with(db: sled::Db) -> Result<Self, RecordsError> {
        Ok(Self {
            records: db.open_tree("records")?,
            comparisons: db.open_tree("comparisons")?,
            decisions: db.open_tree("decisions")?,
            audit: db.open_tree("audit")?,
            tenants: db.open_tree("tenants")?,
            db,
        })
    }

    /// Stores one entry unless its key is there; true when it was new. An erasure is applied
    /// before it is stored (both idempotent), so a crash between them applies it again.
    fn put(&self, entry: &RecordEntry) -> Result<bool, RecordsError> {
        let key = entry_key(&entry.session_id, entry.seq);
        if let Record::Erasure(x) = &entry.record {
            if self.records.get(key)?.is_some() {
                return Ok(false);
            }
            self.erase(&entry.session_id, x.scope)?;
        }
        let value = serde_json::to_vec(entry).map_err(|e| RecordsError::Corrupt(e.to_string()))?;
        let r = (&self.records, &self.comparisons, &self.decisions).transaction(
            |(records, comparisons, decisions)| {
                if records.get(key)?.is_some() {
                    return Ok(false);
                }
                records.insert(&key[..], value.as_slice())?;
                match &entry.record {
                    Record::Comparison(c) => {
                        comparisons.insert(c.comparison_id.as_bytes(), &key[..])?;
                    }
                    Record::Decision(_) => {
                        let k = decision_key(entry.at_ms, &entry.session_id, entry.seq);
                        decisions.insert(&k[..], &[][..])?;
                    }
                    _ => {}
                }
                Ok::<_, ConflictableTransactionError<RecordsError>>(true)
            },
        );
        if matches!(entry.record, Record::Audit(_)) {
            self.audit.insert(entry.seq.to_be_bytes(), &key[..])?;
        }
        match r {
            Ok(new) => Ok(new),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Applies an erasure of `scope` to the stored records of `session_id`.
    fn erase(&self, session_id: &Uuid, scope: ErasureScope) -> Result<(), RecordsError> {
        let mut batch = sled::Batch::default();
        for kv in self.records.scan_prefix(session_id.as_bytes()) {
            let (k, v) = kv?;
            if v.is_empty() {
                continue;
            }
            let mut entry = decode(&v)?;
            let changed = match (scope, &mut entry.record) {
                (ErasureScope::Personal, Record::DocumentRead(d)) => {
                    d.fields_enc.clear();
                    true
                }
                (ErasureScope::Personal, Record::FaceSamples(f)) => {
                    f.samples.iter_mut().for_each(|s| s.embedding_enc.clear());
                    true
                }
                (ErasureScope::Session, Record::Audit(_) | Record::Erasure(_)) => false,
                (ErasureScope::Session, record) => {
                    match record {
                        Record::Comparison(c) => {
                            self.comparisons.remove(c.comparison_id.as_bytes())?;
                        }
                        Record::Decision(_) => {
                            let dk = decision_key(entry.at_ms, session_id, entry.seq);
                            self.decisions.remove(&dk[..])?;
                        }
                        _ => {}
                    }
                    batch.insert(k, &[][..]);
                    continue;
                }
                _ => false,
            };
            if changed {
                let value =
                    serde_json::to_vec(&entry).map_err(|e| RecordsError::Corrupt(e.to_string()))?;
                batch.insert(k, value);
            }
        }
        self.records.apply_batch(batch)?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<RecordEntry>, RecordsError> {
        match self.records.get(key)? {
            Some(v) if !v.is_empty() => decode(&v).map(Some),
            _ => Ok(None),
        }
    }

    fn session_entries(&self, session_id: &Uuid) -> Result<Vec<RecordEntry>, RecordsError> {
        let mut out = Vec::new();
        for kv in self.records.scan_prefix(session_id.as_bytes()) {
            let (_, v) = kv?;
            if !v.is_empty() {
                out.push(decode(&v)?);
            }
        }
        Ok(out)
    }
}

impl Records for Embedded {
    fn name(&self) -> &'static str {
        "embedded"
    }

    async fn tenants(&self) -> Result<Vec<super::Tenant>, RecordsError> {
        self.load_tenants()
    }

    async fn put_tenant(&self, tenant: &super::Tenant) -> Result<(), RecordsError> {
        // The check of the other tenants and the flush block: on the blocking pool.
        let (store, tenant) = (self.clone(), tenant.clone());
        tokio::task::spawn_blocking(move || store.store_tenant(&tenant))
            .await
            .map_err(|e| RecordsError::Unavailable(format!("tenant write task: {e}")))?
    }

    async fn write_batch(&self, entries: &[RecordEntry]) -> Result<usize, RecordsError> {
        let mut new = 0;
        for e in entries {
            new += usize::from(self.put(e)?);
        }
        // Durable before the outbox lets go of them (sled's blocking flush: its async one can
        // deadlock with several waiters, spacejam/sled#1308).
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| RecordsError::Unavailable(format!("flush task: {e}")))??;
        Ok(new)
    }

    async fn session_records(&self, session_id: Uuid) -> Result<Vec<RecordEntry>, RecordsError> {
        self.session_entries(&session_id)
    }

    async fn comparison(&self, id: Uuid) -> Result<Option<ComparisonReport>, RecordsError> {
        let Some(key) = self.comparisons.get(id.as_bytes())? else {
            return Ok(None);
        };
        Ok(self
            .get(&key)?
            .as_ref()
            .and_then(ComparisonReport::from_entry))
    }

    async fn comparisons_of(
        &self,
        session_id: Uuid,
    ) -> Result<Vec<ComparisonReport>, RecordsError> {
        Ok(self
            .session_entries(&session_id)?
            .iter()
            .filter_map(ComparisonReport::from_entry)
            .collect())
    }

    async fn audit_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<RecordEntry>, RecordsError> {
        let mut out = Vec::new();
        for kv in self
            .audit
            .range(after_seq.saturating_add(1).to_be_bytes()..)
        {
            if out.len() >= limit {
                break;
            }
            if let Some(e) = self.get(&kv?.1)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    async fn decisions_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<DecisionRow>, RecordsError> {
        let mut rows = Vec::new();
        for kv in self.decisions.range(time_bytes(from_ms)..time_bytes(to_ms)) {
            if rows.len() >= limit {
                break;
            }
            let (k, _) = kv?;
            if let Some(row) = self
                .get(&k[8..])?
                .as_ref()
                .and_then(DecisionRow::from_entry)
            {
                rows.push(row);
            }
        }
        Ok(rows)
    }
}
