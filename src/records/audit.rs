//! The audit log: an append-only chain of who read, exported, erased or purged a session's
//! personal data. Each entry carries the hash of the one before it and its own hash over its
//! contents, so `kyc audit verify` finds an altered, removed or reordered row. Entries travel
//! through the outbox like every record; the chain's head (last index and hash) lives in the
//! same sled database and moves in the same transaction as the entry is staged.
//!
//! An audit entry's sequence number is [`AUDIT_SEQ_BASE`] + its index in the chain (1, 2, …):
//! unique across sessions, apart from the steps' numbers, and the order the chain is walked in.

use super::outbox::{Outbox, OutboxError};
use super::{AuditEntry, Record, RecordEntry};
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::sync::Mutex;
use uuid::Uuid;

/// The first audit sequence number is this plus one.
pub const AUDIT_SEQ_BASE: u64 = 1 << 62;
/// Retention's records of a session (one each at most), below the audit numbers and far above
/// any step's.
pub const MEDIA_PURGE_SEQ: u64 = 1 << 61;
pub const SESSION_PURGE_SEQ: u64 = (1 << 61) + 1;

const DOMAIN: &[u8] = b"kyc audit chain v1\0";
const HEAD_KEY: &[u8] = b"head";

/// Who did what to which part of a session (no personal data: names of routes and parts).
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    pub session_id: Uuid,
    pub tenant_id: Option<&'a str>,
    /// `session-token`, `admin`, `retention`, …
    pub actor: &'a str,
    /// `read`, `export`, `erase`, `purge_media`, `purge_session`.
    pub action: &'a str,
    /// What was touched (a route or a part of the session).
    pub target: &'a str,
}

/// The writer of the chain (one per node: the head is this node's sled).
pub struct AuditLog {
    outbox: Outbox,
    head: sled::Tree,
    /// One append at a time: the head is read and moved under it.
    lock: Mutex<()>,
}

/// The hash of entry `index` of the chain.
#[allow(clippy::too_many_arguments)]
pub fn link_hash(
    prev: &[u8; 32],
    index: u64,
    session_id: &Uuid,
    tenant_id: Option<&str>,
    at_ms: i64,
    actor: &str,
    action: &str,
    target: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev);
    h.update(index.to_be_bytes());
    h.update(session_id.as_bytes());
    h.update(at_ms.to_be_bytes());
    for part in [tenant_id.unwrap_or(""), actor, action, target] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

fn head_of(bytes: Option<&[u8]>) -> (u64, [u8; 32]) {
    match bytes {
        Some(b) if b.len() == 40 => {
            let mut i = [0u8; 8];
            i.copy_from_slice(&b[..8]);
            let mut h = [0u8; 32];
            h.copy_from_slice(&b[8..]);
            (u64::from_be_bytes(i), h)
        }
        _ => (0, [0u8; 32]),
    }
}

impl AuditLog {
    /// The chain whose head is kept beside `outbox` (tree `audit_head`).
    pub fn open(outbox: &Outbox) -> Result<Self, OutboxError> {
        Ok(Self {
            head: outbox.db().open_tree("audit_head")?,
            outbox: outbox.clone(),
            lock: Mutex::new(()),
        })
    }

    /// The last index and hash (0 and zeros before the first entry).
    pub fn head(&self) -> Result<(u64, [u8; 32]), OutboxError> {
        Ok(head_of(self.head.get(HEAD_KEY)?.as_deref()))
    }

    /// [`AuditLog::append`] and the outbox's flush: durable when it returns.
    pub async fn record(&self, event: &AuditEvent<'_>) -> Result<RecordEntry, OutboxError> {
        let entry = self.append(event)?;
        self.outbox.flush().await?;
        Ok(entry)
    }

    /// Appends an entry: hashed onto the head and staged in the outbox in one transaction.
    /// Durable after the outbox's next flush (callers flush before answering).
    pub fn append(&self, event: &AuditEvent<'_>) -> Result<RecordEntry, OutboxError> {
        let _one = self
            .lock
            .lock()
            .map_err(|_| OutboxError::Encode("the audit lock was poisoned".into()))?;
        let (last, prev) = self.head()?;
        let index = last + 1;
        let at_ms = super::now_ms();
        let hash = link_hash(
            &prev,
            index,
            &event.session_id,
            event.tenant_id,
            at_ms,
            event.actor,
            event.action,
            event.target,
        );
        let entry = RecordEntry {
            session_id: event.session_id,
            seq: AUDIT_SEQ_BASE + index,
            at_ms,
            tenant_id: event.tenant_id.map(str::to_owned),
            record: Record::Audit(AuditEntry {
                actor: event.actor.to_owned(),
                action: event.action.to_owned(),
                target: event.target.to_owned(),
                prev_hash: prev,
                hash,
            }),
        };
        let staged = self.outbox.stage(&entry)?;
        let mut head = Vec::with_capacity(40);
        head.extend_from_slice(&index.to_be_bytes());
        head.extend_from_slice(&hash);
        let r: Result<(), TransactionError<()>> =
            (&self.head, self.outbox.tree()).transaction(|(h, o)| {
                h.insert(HEAD_KEY, head.as_slice())?;
                staged.write(o)?;
                Ok::<_, ConflictableTransactionError<()>>(())
            });
        match r {
            Ok(()) => {}
            Err(TransactionError::Abort(())) => {
                return Err(OutboxError::Encode("the audit append was aborted".into()));
            }
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        }
        self.outbox.notify();
        Ok(entry)
    }
}

/// The first link of the chain that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The index the walk expected next (the broken link).
    pub index: u64,
    pub session_id: Option<Uuid>,
    pub reason: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "link {}", self.index)?;
        if let Some(s) = self.session_id {
            write!(f, " (session {s})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Walks the chain entry by entry, in sequence order.
#[derive(Debug, Clone)]
pub struct Verifier {
    next: u64,
    prev: [u8; 32],
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            next: 1,
            prev: [0u8; 32],
        }
    }
}

impl Verifier {
    /// How many links held so far.
    pub fn verified(&self) -> u64 {
        self.next - 1
    }

    /// The last good hash.
    pub fn last_hash(&self) -> [u8; 32] {
        self.prev
    }

    /// Checks the next entry of the chain.
    pub fn check(&mut self, entry: &RecordEntry) -> Result<(), Broken> {
        let broken = |reason: String| Broken {
            index: self.next,
            session_id: Some(entry.session_id),
            reason,
        };
        let Record::Audit(a) = &entry.record else {
            return Err(broken(format!("entry {} is not an audit entry", entry.seq)));
        };
        let index = entry.seq.saturating_sub(AUDIT_SEQ_BASE);
        if index != self.next {
            return Err(Broken {
                session_id: None,
                ..broken(format!(
                    "entry {} is missing (the next one found is {index})",
                    self.next
                ))
            });
        }
        if a.prev_hash != self.prev {
            return Err(broken(
                "its previous hash is not the hash of the entry before it".into(),
            ));
        }
        let expected = link_hash(
            &a.prev_hash,
            index,
            &entry.session_id,
            entry.tenant_id.as_deref(),
            entry.at_ms,
            &a.actor,
            &a.action,
            &a.target,
        );
        if expected != a.hash {
            return Err(broken(
                "its contents do not match its hash (altered)".into(),
            ));
        }
        self.prev = a.hash;
        self.next += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<RecordEntry> {
        let db = sled::Config::new().temporary(true).open().expect("db");
        let outbox = Outbox::open(&db).expect("outbox");
        let log = AuditLog::open(&outbox).expect("log");
        (0..n)
            .map(|i| {
                log.append(&AuditEvent {
                    session_id: Uuid::new_v4(),
                    tenant_id: None,
                    actor: "admin",
                    action: if i % 2 == 0 { "read" } else { "erase" },
                    target: "session",
                })
                .expect("append")
            })
            .collect()
    }

    fn walk(entries: &[RecordEntry]) -> Result<u64, Broken> {
        let mut v = Verifier::default();
        for e in entries {
            v.check(e)?;
        }
        Ok(v.verified())
    }

    #[test]
    fn a_chain_verifies_and_any_change_names_the_first_broken_link() {
        let entries = chain(5);
        assert_eq!(walk(&entries), Ok(5));
        assert_eq!(entries[0].seq, AUDIT_SEQ_BASE + 1);

        let mut altered = entries.clone();
        if let Record::Audit(a) = &mut altered[2].record {
            a.actor = "someone else".into();
        }
        let b = walk(&altered).expect_err("altered");
        assert_eq!(b.index, 3);
        assert!(b.reason.contains("altered"), "{b}");

        let mut removed = entries.clone();
        removed.remove(1);
        let b = walk(&removed).expect_err("removed");
        assert_eq!(b.index, 2);
        assert!(b.reason.contains("missing"), "{b}");

        // Rehashing an altered entry does not help: the next link no longer points at it.
        let mut rehashed = entries.clone();
        let e = &mut rehashed[1];
        if let Record::Audit(a) = &mut e.record {
            a.target = "nothing".into();
            a.hash = link_hash(
                &a.prev_hash,
                2,
                &e.session_id,
                None,
                e.at_ms,
                &a.actor,
                &a.action,
                &a.target,
            );
        }
        let b = walk(&rehashed).expect_err("rehashed");
        assert_eq!(b.index, 3);
        assert!(b.reason.contains("previous hash"), "{b}");
    }
}
