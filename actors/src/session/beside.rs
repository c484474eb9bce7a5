//! What the journal writes beside a session's events without understanding it: the records a
//! step leaves (pre-encoded outbox entries, committed in the same sled transaction as the step's
//! event) and the sealing of the session's artifacts (encrypted by a key this crate never
//! sees). Both are provided by the crate that runs the sessions, which knows records and keys.

use super::{SessionId, SessionRecord};
use std::fmt;
use std::sync::Arc;

/// One entry for the journal's `outbox` tree (or its `webhooks` tree), already encoded by its
/// owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxWrite {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
    pub tree: BesideTree,
}

/// The queue an [`OutboxWrite`] goes to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BesideTree {
    /// The records on their way to the records store.
    #[default]
    Outbox,
    /// The notifications on their way to the tenant's webhook.
    Webhooks,
}

/// Makes the outbox entries of one step once its sequence number is known.
pub trait RecordSource: Send + Sync + 'static {
    /// The entries for the step journaled as event `seq` of `session` (the session as the
    /// step leaves it) at `at_ms` (0 for a session's creation). Called once per step, before
    /// its transaction.
    fn encode(
        &self,
        session: &SessionRecord,
        seq: u64,
        at_ms: u64,
    ) -> Result<Vec<OutboxWrite>, String>;

    /// The step and its entries are durable (e.g. wake whoever delivers them).
    fn durable(&self) {}
}

/// The records a step carries (cheap to clone).
#[derive(Clone)]
pub struct StepRecords(Arc<dyn RecordSource>);

impl StepRecords {
    pub fn new(source: impl RecordSource) -> Self {
        Self(Arc::new(source))
    }

    pub fn encode(
        &self,
        session: &SessionRecord,
        seq: u64,
        at_ms: u64,
    ) -> Result<Vec<OutboxWrite>, String> {
        self.0.encode(session, seq, at_ms)
    }

    pub fn durable(&self) {
        self.0.durable();
    }
}

impl fmt::Debug for StepRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StepRecords(..)")
    }
}

/// Seals a session's artifacts before they reach the journal and opens them when read. An
/// error is a message naming what failed (never the data).
pub trait ArtifactSeal: Send + Sync + 'static {
    fn seal(&self, session: &SessionId, name: &str, plain: &[u8]) -> Result<Vec<u8>, String>;
    fn open(&self, session: &SessionId, name: &str, sealed: &[u8]) -> Result<Vec<u8>, String>;
}

/// No sealing: artifacts stored as they are (tools and this crate's own tests).
pub struct Unsealed;

impl ArtifactSeal for Unsealed {
    fn seal(&self, _: &SessionId, _: &str, plain: &[u8]) -> Result<Vec<u8>, String> {
        Ok(plain.to_vec())
    }

    fn open(&self, _: &SessionId, _: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        Ok(sealed.to_vec())
    }
}
