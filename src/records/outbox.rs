//! The outbox: records accepted on the request path wait in sled — written in the same
//! transaction as the session step that made them — until the drainer has committed them to
//! the records backend. Nothing acknowledged is lost while the database is away.

use super::RecordEntry;
use serde::Serialize;
use sled::transaction::{TransactionError, TransactionalTree, UnabortableTransactionError};
use sled::{Transactional, Tree};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("outbox entry does not encode: {0}")]
    Encode(String),
    #[error("outbox flush did not complete: {0}")]
    Flush(String),
}

/// How far the outbox is behind: what `/readyz` and `/metrics` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backlog {
    /// Entries not yet committed to the records backend.
    pub count: u64,
    /// Age of the oldest of them, ms (0 when empty).
    pub oldest_age_ms: u64,
    /// Entries set aside because the backend refused them for good (see the drainer).
    pub dead: u64,
}

/// An entry encoded for the outbox, to be written in the caller's own sled transaction with
/// [`Staged::write`] (the caller then calls [`Outbox::notify`]).
#[derive(Debug, Clone)]
pub struct Staged {
    key: [u8; 8],
    value: Vec<u8>,
}

impl Staged {
    /// Inserts the entry into the outbox tree as seen by a transaction over it
    /// (`(&journal_tree, outbox.tree()).transaction(|(j, o)| { …; staged.write(o)?; Ok(()) })`).
    pub fn write(&self, outbox: &TransactionalTree) -> Result<(), UnabortableTransactionError> {
        outbox.insert(&self.key[..], self.value.as_slice())?;
        Ok(())
    }

    /// The key and value, for a writer that inserts them itself (the session journal).
    pub fn into_parts(self) -> (Vec<u8>, Vec<u8>) {
        (self.key.to_vec(), self.value)
    }
}

/// The outbox tree inside a sled database (normally the journal's, so a step and its records
/// commit together). Keys are sled's monotonic ids, so entries drain in the order they were
/// staged; values are the enqueue time (ms, 8 bytes) then the JSON entry.
#[derive(Clone)]
pub struct Outbox {
    db: sled::Db,
    tree: Tree,
    dead: Tree,
    notify: Arc<Notify>,
}

impl Outbox {
    /// The outbox in `db` (trees `outbox` and `outbox_dead`).
    pub fn open(db: &sled::Db) -> Result<Self, OutboxError> {
        Ok(Self {
            tree: db.open_tree(actors::session::journal::OUTBOX_TREE)?,
            dead: db.open_tree("outbox_dead")?,
            db: db.clone(),
            notify: Arc::new(Notify::new()),
        })
    }

    /// The database the outbox lives in (the audit chain's head lives there too).
    pub(super) fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The tree to name in a caller's transaction.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Encodes `entry` under the next outbox key.
    pub fn stage(&self, entry: &RecordEntry) -> Result<Staged, OutboxError> {
        let json = serde_json::to_vec(entry).map_err(|e| OutboxError::Encode(e.to_string()))?;
        let mut value = Vec::with_capacity(8 + json.len());
        value.extend_from_slice(&u64::try_from(super::now_ms()).unwrap_or(0).to_be_bytes());
        value.extend_from_slice(&json);
        Ok(Staged {
            key: self.db.generate_id()?.to_be_bytes(),
            value,
        })
    }

    /// Appends one entry (its own atomic write). Durable after [`Outbox::flush`].
    pub fn append(&self, entry: &RecordEntry) -> Result<(), OutboxError> {
        self.append_batch(std::slice::from_ref(entry))
    }

    /// Appends entries atomically (all or none), in order. Durable after [`Outbox::flush`].
    pub fn append_batch(&self, entries: &[RecordEntry]) -> Result<(), OutboxError> {
        let mut batch = sled::Batch::default();
        for e in entries {
            let s = self.stage(e)?;
            batch.insert(&s.key[..], s.value);
        }
        self.tree.apply_batch(batch)?;
        self.notify();
        Ok(())
    }

    /// Wakes the drainer (after a caller's transaction with [`Staged::write`] committed).
    pub fn notify(&self) {
        self.notify.notify_one();
    }

    pub(super) fn notified(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// Makes everything appended so far durable (sled's blocking flush on a blocking thread:
    /// its async flush can deadlock with several waiters, spacejam/sled#1308).
    pub async fn flush(&self) -> Result<(), OutboxError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || db.flush())
            .await
            .map_err(|e| OutboxError::Flush(e.to_string()))??;
        Ok(())
    }

    /// Entries waiting, the age of the oldest, entries set aside. Counting walks the tree:
    /// cheap for the backlog of an outage, meant for probes and scrapes, not for every request.
    pub fn backlog(&self) -> Backlog {
        let oldest_age_ms = match self.tree.first() {
            Ok(Some((_, v))) if v.len() >= 8 => {
                let mut t = [0u8; 8];
                t.copy_from_slice(&v[..8]);
                u64::try_from(super::now_ms())
                    .unwrap_or(0)
                    .saturating_sub(u64::from_be_bytes(t))
            }
            _ => 0,
        };
        Backlog {
            count: self.tree.len() as u64,
            oldest_age_ms,
            dead: self.dead.len() as u64,
        }
    }

    /// The entries of `session` still waiting, in order (an export shows them beside what the
    /// store holds). Walks the whole outbox.
    pub fn pending_of(&self, session: &uuid::Uuid) -> Result<Vec<RecordEntry>, OutboxError> {
        let mut out = Vec::new();
        for kv in self.tree.iter() {
            let (_, v) = kv?;
            if let Some(Ok(entry)) = v.get(8..).map(serde_json::from_slice::<RecordEntry>)
                && entry.session_id == *session
            {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Empties the personal ciphertext (document fields, embeddings) of `session`'s entries
    /// still waiting, so an erased session's data never reaches the store; entries delivered
    /// meanwhile are left alone. Returns how many were changed. Walks the whole outbox.
    pub fn scrub(&self, session: &uuid::Uuid) -> Result<usize, OutboxError> {
        let mut changed = 0;
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            let Some(Ok(mut entry)) = v.get(8..).map(serde_json::from_slice::<RecordEntry>) else {
                continue;
            };
            if entry.session_id != *session {
                continue;
            }
            match &mut entry.record {
                super::Record::DocumentRead(d) if !d.fields_enc.is_empty() => d.fields_enc.clear(),
                super::Record::FaceSamples(f)
                    if f.samples.iter().any(|s| !s.embedding_enc.is_empty()) =>
                {
                    f.samples.iter_mut().for_each(|s| s.embedding_enc.clear());
                }
                _ => continue,
            }
            let json =
                serde_json::to_vec(&entry).map_err(|e| OutboxError::Encode(e.to_string()))?;
            let mut value = v[..8].to_vec();
            value.extend_from_slice(&json);
            if self
                .tree
                .compare_and_swap(&k, Some(&v), Some(value))?
                .is_ok()
            {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Up to `max` entries from the front, in order. An entry that does not decode is set
    /// aside at once (it could never be delivered).
    pub(super) fn peek(&self, max: usize) -> Result<Vec<(sled::IVec, RecordEntry)>, OutboxError> {
        let mut out = Vec::with_capacity(max);
        for kv in self.tree.iter() {
            if out.len() >= max {
                break;
            }
            let (k, v) = kv?;
            match v.get(8..).map(serde_json::from_slice::<RecordEntry>) {
                Some(Ok(entry)) => out.push((k, entry)),
                _ => {
                    tracing::error!("outbox: an entry does not decode; set aside");
                    self.set_aside(&k)?;
                }
            }
        }
        Ok(out)
    }

    /// Drops delivered entries.
    pub(super) fn remove(&self, keys: &[sled::IVec]) -> Result<(), OutboxError> {
        let mut batch = sled::Batch::default();
        for k in keys {
            batch.remove(k);
        }
        self.tree.apply_batch(batch)?;
        Ok(())
    }

    /// Moves an entry the backend refused for good to `outbox_dead`, keeping it for an operator.
    pub(super) fn set_aside(&self, key: &sled::IVec) -> Result<(), OutboxError> {
        let r: Result<(), TransactionError<()>> =
            (&self.tree, &self.dead).transaction(|(tree, dead)| {
                if let Some(v) = tree.remove(key)? {
                    dead.insert(key, v)?;
                }
                Ok(())
            });
        match r {
            Ok(()) | Err(TransactionError::Abort(())) => Ok(()),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }
}
