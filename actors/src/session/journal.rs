//! The session journal in sled: every event, keyed by session and sequence number, and one
//! record per session (its state and last sequence number). An event and its record change in
//! one transaction, and the caller flushes before telling anyone, so what was acknowledged
//! survives a crash, and a sequence number can never be written twice or skipped. A step's
//! records (outbox entries) commit in that same transaction; artifacts are sealed on the way
//! in and opened on the way out.

use super::SessionId;
use super::beside::{ArtifactSeal, BesideTree, OutboxWrite, Unsealed};
use super::event::SessionEvent;
use super::state::{Decision, SessionState};
use super::work::Job;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Transactional, Tree};
use std::path::Path;
use thiserror::Error;

mod counts;
mod erase;
mod tenants;
mod tokens;
pub use erase::Removed;

#[derive(Debug, Error)]
pub enum JournalError {
    #[error("journal storage: {0}")]
    Storage(#[from] sled::Error),
    #[error("journal flush did not complete: {0}")]
    Flush(String),
    #[error("journal entry does not decode: {0}")]
    Corrupt(String),
    #[error("session {0} is not in the journal")]
    UnknownSession(SessionId),
    #[error("session {0} already exists")]
    Exists(SessionId),
    #[error("event {got} of session {id} does not follow {last}")]
    OutOfSequence { id: SessionId, last: u64, got: u64 },
    /// An artifact could not be sealed or opened (no key, another key, or written unsealed by
    /// an older version).
    #[error("artifact {name} of session {id} cannot be {what}: {reason}")]
    Seal {
        id: SessionId,
        name: String,
        what: &'static str,
        reason: String,
    },
}

/// What the journal keeps about a session beside its events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub id: SessionId,
    pub state: SessionState,
    /// Sequence number of the last event (0: none yet).
    pub seq: u64,
    #[serde(default)]
    pub decision: Option<Decision>,
    pub created_ms: u64,
    pub updated_ms: u64,
    /// SHA-256 (hex) of the session's bearer token; the token itself is never stored.
    #[serde(default)]
    pub token_sha256: String,
    /// The job accepted and not yet finished (run again after a restart).
    #[serde(default)]
    pub pending: Option<Job>,
    /// The tenant the session was created for (`None`: created before tenants existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The tenant's own reference for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// How many times the pending job was started (journaled before each start): a job that
    /// stopped the process or its task this often is given up, not run at every start.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub job_attempts: u32,
    /// Files (ID photos, videos) the session has handed in as jobs, retakes included.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub uploads: u32,
    /// Their bytes (as stored), in all.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub upload_bytes: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Who a new session is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub tenant: Option<String>,
    pub external_id: Option<String>,
}

impl SessionRecord {
    /// A new session in state `created`.
    pub fn new(id: SessionId, token_sha256: String) -> Self {
        let now = super::event::now_ms();
        Self {
            id,
            state: SessionState::Created,
            seq: 0,
            decision: None,
            created_ms: now,
            updated_ms: now,
            token_sha256,
            pending: None,
            tenant: None,
            external_id: None,
            job_attempts: 0,
            uploads: 0,
            upload_bytes: 0,
        }
    }
}

/// The journal. Cloning shares the same database.
#[derive(Clone)]
pub struct Journal {
    db: sled::Db,
    events: Tree,
    sessions: Tree,
    artifacts: Tree,
    links: Tree,
    /// SHA-256 (hex) of a session's token → the session (its token names it).
    tokens: Tree,
    /// A tenant's sessions: tenant ‖ 0 ‖ created ms ‖ session → empty (see `tenants`).
    by_tenant: Tree,
    /// The notifications waiting for the tenants' webhooks (written with their steps; read
    /// and delivered by the crate that owns the tenants).
    webhooks: Tree,
    /// The records waiting for delivery (written by [`Journal::append_with`]; read and drained
    /// by the crate that owns the records).
    outbox: Tree,
    seal: std::sync::Arc<dyn ArtifactSeal>,
    flusher: std::sync::Arc<Flusher>,
    /// Sessions by state (see `counts`).
    counts: std::sync::Arc<counts::StateCounts>,
}

/// The name of the tree the outbox entries go to.
pub const OUTBOX_TREE: &str = "outbox";
/// The name of the tree the webhook notifications go to.
pub const WEBHOOKS_TREE: &str = "webhooks";

type FlushReply = tokio::sync::oneshot::Sender<Result<(), String>>;

/// Group commit: one thread flushes sled for every caller waiting at that moment, so a burst
/// of events from many sessions costs one disk sync, not one each. (sled 0.34's
/// `flush_async` can deadlock when several tasks await it at once, spacejam/sled#1308, which
/// the crash test ran into; this thread uses the blocking flush.)
struct Flusher {
    tx: std::sync::Mutex<Option<std::sync::mpsc::Sender<FlushReply>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Flusher {
    // The thread holds the database open: stop it before the journal counts as closed, so
    // the folder can be opened again at once.
    fn drop(&mut self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Flusher {
    fn start(db: sled::Db) -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<FlushReply>();
        let thread = std::thread::Builder::new()
            .name("journal-flush".into())
            .spawn(move || {
                // Ends when every journal handle (and so every sender) is gone.
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    let result = db.flush().map(|_| ()).map_err(|e| e.to_string());
                    for w in waiting {
                        let _ = w.send(result.clone());
                    }
                }
            })?;
        Ok(Self {
            tx: std::sync::Mutex::new(Some(tx)),
            thread: Some(thread),
        })
    }
}

fn artifact_key(id: &SessionId, name: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(16 + name.len());
    k.extend_from_slice(id.as_bytes());
    k.extend_from_slice(name.as_bytes());
    k
}

fn event_key(id: &SessionId, seq: u64) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..16].copy_from_slice(id.as_bytes());
    k[16..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn seal_error<'a>(
    id: &'a SessionId,
    name: &'a str,
    what: &'static str,
) -> impl FnOnce(String) -> JournalError + 'a {
    move |reason| JournalError::Seal {
        id: *id,
        name: name.to_owned(),
        what,
        reason,
    }
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, JournalError> {
    serde_json::from_slice(bytes).map_err(|e| JournalError::Corrupt(e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, JournalError> {
    serde_json::to_vec(value).map_err(|e| JournalError::Corrupt(e.to_string()))
}

impl Journal {
    /// Opens (or creates) the journal in the folder `path`.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        Self::with(sled::Config::new().path(path))
    }

    /// A journal that lives only as long as this process (tests, tools).
    pub fn temporary() -> Result<Self, JournalError> {
        Self::with(sled::Config::new().temporary(true))
    }

    fn with(config: sled::Config) -> Result<Self, JournalError> {
        let db = config.open()?;
        let sessions = db.open_tree("sessions")?;
        let flusher = Flusher::start(db.clone()).map_err(|e| JournalError::Flush(e.to_string()))?;
        Ok(Self {
            flusher: std::sync::Arc::new(flusher),
            events: db.open_tree("events")?,
            counts: std::sync::Arc::new(counts::StateCounts::read(&sessions)?),
            sessions,
            artifacts: db.open_tree("artifacts")?,
            links: db.open_tree("links")?,
            tokens: db.open_tree("tokens")?,
            by_tenant: db.open_tree("by_tenant")?,
            webhooks: db.open_tree(WEBHOOKS_TREE)?,
            outbox: db.open_tree(OUTBOX_TREE)?,
            seal: std::sync::Arc::new(Unsealed),
            db,
        })
    }

    /// The same journal, its artifacts sealed by `seal` from now on.
    pub fn sealed_with(mut self, seal: std::sync::Arc<dyn ArtifactSeal>) -> Self {
        self.seal = seal;
        self
    }

    /// The sled database (for the owner of the outbox tree, which lives in it).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Records a new session (no events yet).
    pub fn create(&self, record: &SessionRecord) -> Result<(), JournalError> {
        self.create_with(record, &[])
    }

    /// Records a new session and its first records in one transaction.
    pub fn create_with(
        &self,
        record: &SessionRecord,
        writes: &[OutboxWrite],
    ) -> Result<(), JournalError> {
        let value = encode(record)?;
        let id = record.id;
        let token = record.token_sha256.as_bytes();
        let owned = record.tenant.as_ref().map(|_| tenants::tenant_key(record));
        let trees = (
            &self.sessions,
            &self.outbox,
            &self.tokens,
            &self.by_tenant,
            &self.webhooks,
        );
        let r = trees.transaction(|(sessions, outbox, tokens, by_tenant, webhooks)| {
            if sessions.get(id.as_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(JournalError::Exists(
                    id,
                )));
            }
            sessions.insert(id.as_bytes(), value.as_slice())?;
            if !token.is_empty() {
                tokens.insert(token, id.as_bytes())?;
            }
            if let Some(k) = &owned {
                by_tenant.insert(k.as_slice(), &[])?;
            }
            for w in writes {
                match w.tree {
                    BesideTree::Outbox => outbox.insert(w.key.as_slice(), w.value.as_slice())?,
                    BesideTree::Webhooks => {
                        webhooks.insert(w.key.as_slice(), w.value.as_slice())?
                    }
                };
            }
            Ok(())
        });
        match r {
            Ok(()) => {
                self.counts.moved(None, Some(record.state));
                Ok(())
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Appends `event` and stores `record` (the session after it) in one transaction. The
    /// event must carry the next sequence number. Not durable until [`Journal::flush`].
    pub fn append(&self, event: &SessionEvent, record: &SessionRecord) -> Result<(), JournalError> {
        self.append_with(event, record, &[])
    }

    /// [`Journal::append`], with the step's outbox entries in the same transaction: the step
    /// and its records are both stored or neither.
    pub fn append_with(
        &self,
        event: &SessionEvent,
        record: &SessionRecord,
        writes: &[OutboxWrite],
    ) -> Result<(), JournalError> {
        let id = event.session_id;
        let (ev, rec) = (encode(event)?, encode(record)?);
        let key = event_key(&id, event.seq);
        let trees = (&self.events, &self.sessions, &self.outbox, &self.webhooks);
        let r = trees.transaction(|(events, sessions, outbox, webhooks)| {
            let (last, was) = match sessions.get(id.as_bytes())? {
                Some(bytes) => {
                    let r = decode::<SessionRecord>(&bytes)
                        .map_err(ConflictableTransactionError::Abort)?;
                    (r.seq, r.state)
                }
                None => {
                    return Err(ConflictableTransactionError::Abort(
                        JournalError::UnknownSession(id),
                    ));
                }
            };
            if event.seq != last + 1 {
                return Err(ConflictableTransactionError::Abort(
                    JournalError::OutOfSequence {
                        id,
                        last,
                        got: event.seq,
                    },
                ));
            }
            events.insert(&key[..], ev.as_slice())?;
            sessions.insert(id.as_bytes(), rec.as_slice())?;
            for w in writes {
                match w.tree {
                    BesideTree::Outbox => outbox.insert(w.key.as_slice(), w.value.as_slice())?,
                    BesideTree::Webhooks => {
                        webhooks.insert(w.key.as_slice(), w.value.as_slice())?
                    }
                };
            }
            Ok(was)
        });
        match r {
            Ok(was) => {
                self.counts.moved(Some(was), Some(record.state));
                Ok(())
            }
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(e.into()),
        }
    }

    /// Makes everything appended so far durable (one disk sync shared by every caller
    /// waiting at the same moment).
    pub async fn flush(&self) -> Result<(), JournalError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.flusher
            .tx
            .lock()
            .map_err(|_| JournalError::Flush("the flush thread's channel is poisoned".into()))?
            .as_ref()
            .ok_or_else(|| JournalError::Flush("the journal is closing".into()))?
            .send(tx)
            .map_err(|_| JournalError::Flush("the flush thread stopped".into()))?;
        rx.await
            .map_err(|_| JournalError::Flush("the flush thread stopped".into()))?
            .map_err(JournalError::Flush)
    }

    /// Stores `record` (a session whose events do not change: a job's attempt counted).
    /// Not durable until [`Journal::flush`].
    pub fn save(&self, record: &SessionRecord) -> Result<(), JournalError> {
        let was = self
            .sessions
            .insert(record.id.as_bytes(), encode(record)?)?
            .map(|b| decode::<SessionRecord>(&b).map(|r| r.state))
            .transpose()?;
        self.counts.moved(was, Some(record.state));
        Ok(())
    }

    pub fn record(&self, id: &SessionId) -> Result<Option<SessionRecord>, JournalError> {
        self.sessions
            .get(id.as_bytes())?
            .map(|b| decode(&b))
            .transpose()
    }

    /// The events of session `id` after sequence number `since`, in order.
    pub fn events(&self, id: &SessionId, since: u64) -> Result<Vec<SessionEvent>, JournalError> {
        let from = event_key(id, since.saturating_add(1));
        let to = event_key(id, u64::MAX);
        self.events
            .range(from..=to)
            .map(|kv| decode(&kv?.1))
            .collect()
    }

    /// Stores what a stage produced for session `id` under `name` (the ID face, the video's
    /// frames, a comparison), sealed, replacing an earlier one. Durable after the next flush,
    /// which the stage's final step does before anyone is told.
    pub fn put_artifact<T: Serialize>(
        &self,
        id: &SessionId,
        name: &str,
        value: &T,
    ) -> Result<(), JournalError> {
        let plain = encode(value)?;
        let sealed = self
            .seal
            .seal(id, name, &plain)
            .map_err(seal_error(id, name, "sealed"))?;
        self.artifacts.insert(artifact_key(id, name), sealed)?;
        Ok(())
    }

    /// What [`Journal::put_artifact`] stored, if anything.
    pub fn artifact<T: for<'de> Deserialize<'de>>(
        &self,
        id: &SessionId,
        name: &str,
    ) -> Result<Option<T>, JournalError> {
        let Some(sealed) = self.artifacts.get(artifact_key(id, name))? else {
            return Ok(None);
        };
        let plain = self
            .seal
            .open(id, name, &sealed)
            .map_err(seal_error(id, name, "opened"))?;
        decode(&plain).map(Some)
    }

    /// Remembers that the id `key` (a comparison's, a capture's) belongs to session `id`.
    pub fn link(&self, key: &uuid::Uuid, id: &SessionId) -> Result<(), JournalError> {
        self.links.insert(key.as_bytes(), id.as_bytes())?;
        Ok(())
    }

    /// The session the id `key` belongs to.
    pub fn linked(&self, key: &uuid::Uuid) -> Result<Option<SessionId>, JournalError> {
        match self.links.get(key.as_bytes())? {
            Some(b) => SessionId::from_slice(&b)
                .map(Some)
                .map_err(|e| JournalError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    /// How many sessions the journal holds, finished ones included.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Every session in the journal.
    pub fn all(&self) -> Result<Vec<SessionRecord>, JournalError> {
        self.sessions.iter().map(|kv| decode(&kv?.1)).collect()
    }

    /// Every session with work still to do (not in a final state).
    pub fn live(&self) -> Result<Vec<SessionRecord>, JournalError> {
        let mut all = self.all()?;
        all.retain(|r| !r.state.is_terminal());
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::event::{Message, Progress, Stage};

    fn record(id: SessionId) -> SessionRecord {
        SessionRecord::new(id, String::new())
    }

    fn event(id: SessionId, seq: u64, state: SessionState) -> SessionEvent {
        SessionEvent {
            session_id: id,
            seq,
            at_ms: seq,
            stage: Stage::IdCapture,
            state,
            progress: Progress::of(Stage::IdCapture, 10),
            message: Message::new("step", "단계"),
            result: None,
            decision: None,
            transient: false,
        }
    }

    #[tokio::test]
    async fn events_survive_a_reopen_in_order_and_never_twice() {
        let dir = tempfile::tempdir().expect("tmp");
        let (a, b) = (SessionId::new_v4(), SessionId::new_v4());
        {
            let j = Journal::open(dir.path()).expect("open");
            for id in [a, b] {
                j.create(&record(id)).expect("create");
            }
            assert!(matches!(j.create(&record(a)), Err(JournalError::Exists(_))));
            let mut rec = record(a);
            for seq in 1..=3 {
                rec.seq = seq;
                rec.state = SessionState::IdCapture;
                j.append(&event(a, seq, SessionState::IdCapture), &rec)
                    .expect("append");
            }
            // A replayed or skipped number is refused, and changes nothing.
            let dup = j.append(&event(a, 3, SessionState::IdCapture), &rec);
            assert!(matches!(dup, Err(JournalError::OutOfSequence { .. })));
            let gap = j.append(&event(a, 5, SessionState::IdCapture), &rec);
            assert!(matches!(gap, Err(JournalError::OutOfSequence { .. })));
            let unknown = SessionId::new_v4();
            assert!(matches!(
                j.append(
                    &event(unknown, 1, SessionState::IdCapture),
                    &record(unknown)
                ),
                Err(JournalError::UnknownSession(_))
            ));
            j.flush().await.expect("flush");
        }
        let j = Journal::open(dir.path()).expect("reopen");
        let seqs: Vec<u64> = j
            .events(&a, 0)
            .expect("events")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, vec![1, 2, 3]);
        let since: Vec<u64> = j
            .events(&a, 1)
            .expect("events")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(since, vec![2, 3]);
        assert!(j.events(&b, 0).expect("events").is_empty());
        assert_eq!(j.record(&a).expect("record").map(|r| r.seq), Some(3));
        assert_eq!(j.live().expect("live").len(), 2);
    }

    /// Reverses the bytes and refuses what it did not seal: a stand-in for real encryption.
    struct Mirror;

    impl ArtifactSeal for Mirror {
        fn seal(&self, _: &SessionId, _: &str, plain: &[u8]) -> Result<Vec<u8>, String> {
            let mut v = plain.to_vec();
            v.reverse();
            v.push(0xAA);
            Ok(v)
        }

        fn open(&self, _: &SessionId, _: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
            match sealed.split_last() {
                Some((0xAA, rest)) => Ok(rest.iter().rev().copied().collect()),
                _ => Err("not sealed here".into()),
            }
        }
    }

    fn write(n: u8) -> OutboxWrite {
        OutboxWrite {
            key: vec![n],
            value: vec![n; 3],
            tree: BesideTree::Outbox,
        }
    }

    #[test]
    fn a_step_and_its_records_commit_together_or_not_at_all() {
        let j = Journal::temporary().expect("journal");
        let outbox = j.db().open_tree(OUTBOX_TREE).expect("tree");
        let id = SessionId::new_v4();
        j.create_with(&record(id), &[write(0)]).expect("create");
        assert!(matches!(
            j.create_with(&record(id), &[write(9)]),
            Err(JournalError::Exists(_))
        ));
        let mut rec = record(id);
        rec.seq = 1;
        j.append_with(
            &event(id, 1, SessionState::IdCapture),
            &rec,
            &[write(1), write(2)],
        )
        .expect("append");
        // A refused step (out of sequence) leaves its records out too.
        let r = j.append_with(&event(id, 5, SessionState::IdCapture), &rec, &[write(5)]);
        assert!(matches!(r, Err(JournalError::OutOfSequence { .. })));
        let keys: Vec<Vec<u8>> = outbox.iter().map(|kv| kv.expect("kv").0.to_vec()).collect();
        assert_eq!(keys, vec![vec![0], vec![1], vec![2]]);
    }

    #[test]
    fn artifacts_are_stored_sealed_and_an_unsealed_one_is_a_clear_error() {
        let plain = Journal::temporary().expect("journal");
        let sealed = plain.clone().sealed_with(std::sync::Arc::new(Mirror));
        let id = SessionId::new_v4();
        sealed.put_artifact(&id, "face", &"secret").expect("put");
        let raw = sealed
            .artifacts
            .get(artifact_key(&id, "face"))
            .expect("get")
            .expect("stored");
        assert!(!raw.windows(6).any(|w| w == b"secret"), "stored sealed");
        let back: Option<String> = sealed.artifact(&id, "face").expect("open");
        assert_eq!(back.as_deref(), Some("secret"));
        // One written without sealing (an older journal) is refused with what and why.
        plain.put_artifact(&id, "old", &"x").expect("put");
        match sealed.artifact::<String>(&id, "old") {
            Err(JournalError::Seal { name, what, .. }) => {
                assert_eq!((name.as_str(), what), ("old", "opened"));
            }
            other => panic!("expected a seal error, got {other:?}"),
        }
        assert!(
            sealed
                .artifact::<String>(&id, "none")
                .expect("read")
                .is_none()
        );
    }
}
