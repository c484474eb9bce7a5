//! The session journal in sled: every event, keyed by session and sequence number, and one
//! record per session (its state and last sequence number). An event and its record change in
//! one transaction, and the caller flushes before telling anyone, so what was acknowledged
//! survives a crash, and a sequence number can never be written twice or skipped.

use super::SessionId;
use super::event::SessionEvent;
use super::state::{Decision, SessionState};
use super::work::Job;
use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::{Transactional, Tree};
use std::path::Path;
use thiserror::Error;

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
        }
    }
}

/// The journal. Cloning shares the same database.
#[derive(Clone)]
pub struct Journal {
    events: Tree,
    sessions: Tree,
    artifacts: Tree,
    links: Tree,
    flusher: std::sync::Arc<Flusher>,
}

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
        let flusher = Flusher::start(db.clone()).map_err(|e| JournalError::Flush(e.to_string()))?;
        Ok(Self {
            flusher: std::sync::Arc::new(flusher),
            events: db.open_tree("events")?,
            sessions: db.open_tree("sessions")?,
            artifacts: db.open_tree("artifacts")?,
            links: db.open_tree("links")?,
        })
    }

    /// Records a new session (no events yet).
    pub fn create(&self, record: &SessionRecord) -> Result<(), JournalError> {
        let value = encode(record)?;
        match self.sessions.compare_and_swap(
            record.id.as_bytes(),
            None as Option<&[u8]>,
            Some(value),
        )? {
            Ok(()) => Ok(()),
            Err(_) => Err(JournalError::Exists(record.id)),
        }
    }

    /// Appends `event` and stores `record` (the session after it) in one transaction. The
    /// event must carry the next sequence number. Not durable until [`Journal::flush`].
    pub fn append(&self, event: &SessionEvent, record: &SessionRecord) -> Result<(), JournalError> {
        let id = event.session_id;
        let (ev, rec) = (encode(event)?, encode(record)?);
        let key = event_key(&id, event.seq);
        let r = (&self.events, &self.sessions).transaction(|(events, sessions)| {
            let last = match sessions.get(id.as_bytes())? {
                Some(bytes) => {
                    decode::<SessionRecord>(&bytes)
                        .map_err(ConflictableTransactionError::Abort)?
                        .seq
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
            Ok(())
        });
        match r {
            Ok(()) => Ok(()),
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
    /// frames, a comparison), replacing an earlier one. Durable after the next flush, which
    /// the stage's final step does before anyone is told.
    pub fn put_artifact<T: Serialize>(
        &self,
        id: &SessionId,
        name: &str,
        value: &T,
    ) -> Result<(), JournalError> {
        self.artifacts
            .insert(artifact_key(id, name), encode(value)?)?;
        Ok(())
    }

    /// What [`Journal::put_artifact`] stored, if anything.
    pub fn artifact<T: for<'de> Deserialize<'de>>(
        &self,
        id: &SessionId,
        name: &str,
    ) -> Result<Option<T>, JournalError> {
        self.artifacts
            .get(artifact_key(id, name))?
            .map(|b| decode(&b))
            .transpose()
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
}
