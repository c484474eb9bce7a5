//! Forgetting in the journal: what erasure and retention remove from sled. Erasure keeps a
//! session's outline (its record, and its events stripped of their results) so its decision
//! and times stay answerable; retention's last purge forgets the session altogether.

use super::{Journal, JournalError, SessionId, decode, encode};
use crate::session::event::SessionEvent;

/// What [`Journal::scrub`] or [`Journal::forget`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Artifacts deleted.
    pub artifacts: usize,
    /// Events whose results were stripped (scrub) or that were deleted (forget).
    pub events: usize,
}

impl Journal {
    /// Removes every artifact of session `id` and strips the results (masked fields, scores)
    /// from its events; the events themselves (state, time, message, decision) stay, so a
    /// watcher still replays the session's course. Idempotent.
    pub fn scrub(&self, id: &SessionId) -> Result<Removed, JournalError> {
        let mut removed = Removed::default();
        let mut batch = sled::Batch::default();
        for kv in self.artifacts.scan_prefix(id.as_bytes()) {
            batch.remove(kv?.0);
            removed.artifacts += 1;
        }
        self.artifacts.apply_batch(batch)?;
        let mut batch = sled::Batch::default();
        for kv in self.events.scan_prefix(id.as_bytes()) {
            let (k, v) = kv?;
            let mut event: SessionEvent = decode(&v)?;
            if event.result.take().is_some() {
                batch.insert(k, encode(&event)?);
                removed.events += 1;
            }
        }
        self.events.apply_batch(batch)?;
        Ok(removed)
    }

    /// Removes session `id` from the journal: its record, events, artifacts and the ids
    /// linked to it. Idempotent; the caller stops the session's actor first.
    pub fn forget(&self, id: &SessionId) -> Result<Removed, JournalError> {
        let mut removed = self.scrub(id)?;
        removed.events = 0;
        let mut batch = sled::Batch::default();
        for kv in self.events.scan_prefix(id.as_bytes()) {
            batch.remove(kv?.0);
            removed.events += 1;
        }
        self.events.apply_batch(batch)?;
        let mut batch = sled::Batch::default();
        for kv in self.links.iter() {
            let (k, v) = kv?;
            if v.as_ref() == id.as_bytes() {
                batch.remove(k);
            }
        }
        self.links.apply_batch(batch)?;
        let known = self.record(id)?;
        if let Some(r) = &known {
            if !r.token_sha256.is_empty() {
                self.tokens.remove(r.token_sha256.as_bytes())?;
            }
            if r.tenant.is_some() {
                self.by_tenant.remove(super::tenants::tenant_key(r))?;
            }
        }
        if self.sessions.remove(id.as_bytes())?.is_some()
            && let Some(r) = known
        {
            self.counts.moved(Some(r.state), None);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::event::{Message, Progress, Stage};
    use crate::session::journal::SessionRecord;
    use crate::session::state::SessionState;

    fn step(id: SessionId, seq: u64) -> (SessionEvent, SessionRecord) {
        let mut record = SessionRecord::new(id, String::new());
        record.seq = seq;
        let event = SessionEvent {
            session_id: id,
            seq,
            at_ms: 1,
            stage: Stage::IdCapture,
            state: SessionState::IdCapture,
            progress: Progress::of(Stage::IdCapture, 10),
            message: Message::new("x", "x"),
            result: Some(serde_json::json!({"fields": {"name": "김*수"}})),
            decision: None,
            transient: false,
        };
        (event, record)
    }

    #[test]
    fn scrub_keeps_the_outline_and_forget_leaves_nothing() {
        let j = Journal::temporary().expect("journal");
        let (a, b) = (SessionId::new_v4(), SessionId::new_v4());
        for id in [a, b] {
            j.create(&SessionRecord::new(id, String::new()))
                .expect("create");
            for seq in 1..=2 {
                let (e, r) = step(id, seq);
                j.append(&e, &r).expect("append");
            }
            j.put_artifact(&id, "id-capture", &"fields").expect("put");
            j.link(&uuid::Uuid::new_v4(), &id).expect("link");
        }
        let r = j.scrub(&a).expect("scrub");
        assert_eq!(
            r,
            Removed {
                artifacts: 1,
                events: 2
            }
        );
        assert!(
            j.artifact::<String>(&a, "id-capture")
                .expect("get")
                .is_none()
        );
        let events = j.events(&a, 0).expect("events");
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.result.is_none()));
        assert_eq!(j.scrub(&a).expect("again"), Removed::default());

        let r = j.forget(&a).expect("forget");
        assert_eq!(r.events, 2);
        assert!(j.record(&a).expect("record").is_none());
        assert!(j.events(&a, 0).expect("events").is_empty());
        assert_eq!(j.links.len(), 1, "only b's link is left");
        // The other session is untouched.
        assert!(j.events(&b, 0).expect("b")[0].result.is_some());
        assert!(j.artifact::<String>(&b, "id-capture").expect("b").is_some());
        assert_eq!(j.forget(&a).expect("again"), Removed::default());
    }
}
