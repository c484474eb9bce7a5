//! Erasure and retention of sessions: the audit entry first, then the step or record that says
//! what goes, then the deletions — each idempotent, so a crash anywhere is finished by running
//! the same thing again (at start-up for erasures, by the next purge run for retention).

use super::{Sessions, SessionsError};
use crate::media::MediaStore;
use crate::records::Outbox;
use crate::records::{
    AuditEvent, Erasure, ErasureScope, MEDIA_PURGE_SEQ, OutboxRecords, Record, RecordEntry,
    SESSION_PURGE_SEQ,
};
use actors::session::{Journal, Message, SessionId, SessionState, Stage, Step};
use serde::Serialize;
use std::time::Duration;

/// What an erasure removed.
#[derive(Debug, Clone, Copy, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErasureReport {
    /// Upload files deleted, and their bytes.
    pub media_files: usize,
    pub media_bytes: u64,
    /// The session's data key was destroyed (nothing sealed with it opens again).
    pub key_destroyed: bool,
    /// Journal artifacts deleted and events stripped of their results.
    pub artifacts: usize,
    pub events_scrubbed: usize,
    /// Records still waiting for delivery whose personal ciphertext was emptied.
    pub outbox_scrubbed: usize,
}

/// What one run of the purge job did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Purged {
    /// Sessions whose raw media were deleted.
    pub media: usize,
    /// Sessions purged whole.
    pub sessions: usize,
}

impl Sessions {
    /// Appends an entry to the audit chain and makes it durable.
    pub async fn audit(
        &self,
        session_id: SessionId,
        actor: &str,
        action: &str,
        target: &str,
    ) -> Result<(), SessionsError> {
        self.audit
            .record(&AuditEvent {
                session_id,
                tenant_id: None,
                actor,
                action,
                target,
            })
            .await?;
        Ok(())
    }

    /// Erases session `id` at the request of `actor`: audited, journaled as the step to
    /// `erased` (with the records' erasure in the same transaction), then the data key and the
    /// media deleted, the journal's artifacts and results removed, and records not yet
    /// delivered emptied of their ciphertext. The decision, the times, the consent and the
    /// audit trail stay.
    pub async fn erase(&self, id: SessionId, actor: &str) -> Result<ErasureReport, SessionsError> {
        let record = self.find(&id)?;
        if record.state == SessionState::Erased {
            return Err(SessionsError::Erased(id));
        }
        self.audit(id, actor, "erase", "session").await?;
        let erasure = Record::Erasure(Erasure {
            scope: ErasureScope::Personal,
        });
        let step = Step::reached(
            SessionState::Erased,
            Stage::Session,
            Message::new(
                "The session's personal data was erased",
                "세션의 개인정보가 삭제되었습니다",
            ),
        )
        .with_records(OutboxRecords::step(&self.outbox, vec![erasure]));
        self.record(id, step).await?;
        let erased = self.finish_erasure_blocking(id).await?;
        tracing::info!(
            session = %id,
            media_files = erased.media_files,
            key_destroyed = erased.key_destroyed,
            "session erased"
        );
        Ok(erased)
    }

    /// [`Sessions::finish_erasure`] on the blocking pool: it deletes files and walks the
    /// outbox, which must not hold up the runtime's threads.
    async fn finish_erasure_blocking(&self, id: SessionId) -> Result<ErasureReport, SessionsError> {
        let (media, journal, outbox) = (
            self.media.clone(),
            self.journal.clone(),
            self.outbox.clone(),
        );
        tokio::task::spawn_blocking(move || finish_erasure(&media, &journal, &outbox, &id))
            .await
            .map_err(|_| SessionsError::Down)?
    }

    /// The deletions that follow an erasure's step (idempotent: also run at start-up for every
    /// erased session, in case the process stopped between the step and them).
    pub(super) fn finish_erasure(&self, id: &SessionId) -> Result<ErasureReport, SessionsError> {
        finish_erasure(&self.media, &self.journal, &self.outbox, id)
    }

    /// Finishes the erasure of every erased session that still has something to remove.
    pub(super) fn finish_erasures(&self) -> Result<usize, SessionsError> {
        let mut finished = 0;
        for r in self.journal.all()? {
            if r.state == SessionState::Erased {
                let e = self.finish_erasure(&r.id)?;
                if e.media_files > 0 || e.key_destroyed || e.artifacts > 0 {
                    finished += 1;
                }
            }
        }
        if finished > 0 {
            tracing::warn!(
                sessions = finished,
                "finished erasures a stopped process had left half done"
            );
        }
        Ok(finished)
    }

    /// One run of the retention purge at `now_ms`: the uploads of every session that ended
    /// more than `media_after` ago are deleted, and every session that ended more than
    /// `session_after` ago is purged whole. Each is audited first; running it again changes
    /// nothing more.
    pub async fn purge(
        &self,
        now_ms: u64,
        media_after: Duration,
        session_after: Duration,
    ) -> Result<Purged, SessionsError> {
        let mut purged = Purged::default();
        let age = |ended: u64| Duration::from_millis(now_ms.saturating_sub(ended));
        // Every record is read: on the blocking pool, not on the runtime's threads.
        let journal = self.journal.clone();
        let all = tokio::task::spawn_blocking(move || journal.all())
            .await
            .map_err(|_| SessionsError::Down)??;
        for r in all {
            if !r.state.is_terminal() {
                continue;
            }
            if age(r.updated_ms) >= session_after {
                self.purge_session(&r.id).await?;
                purged.sessions += 1;
            } else if age(r.updated_ms) >= media_after && self.media.has_uploads(&r.id)? {
                self.audit(r.id, "retention", "purge_media", "media")
                    .await?;
                self.purge_record(&r.id, MEDIA_PURGE_SEQ, ErasureScope::Media)
                    .await?;
                self.media.delete_uploads(&r.id)?;
                purged.media += 1;
            }
        }
        if purged != Purged::default() {
            tracing::info!(
                media = purged.media,
                sessions = purged.sessions,
                "retention purge"
            );
        }
        Ok(purged)
    }

    /// Purges session `id` whole: its records (the store keeps only the audit trail and the
    /// purge), its key and media, and the journal's every trace of it.
    async fn purge_session(&self, id: &SessionId) -> Result<(), SessionsError> {
        self.audit(*id, "retention", "purge_session", "session")
            .await?;
        self.purge_record(id, SESSION_PURGE_SEQ, ErasureScope::Session)
            .await?;
        if let Some(actor) = self.running_actor(*id).await {
            let _ = actor
                .stop_and_wait(None, Some(Duration::from_secs(5)))
                .await;
        }
        self.media.erase(id)?;
        self.outbox.scrub(id)?;
        self.journal.forget(id)?;
        self.journal.flush().await?;
        Ok(())
    }

    /// Stages the purge's erasure record (its fixed sequence number makes a repeat a no-op in
    /// the store) and makes it durable.
    async fn purge_record(
        &self,
        id: &SessionId,
        seq: u64,
        scope: ErasureScope,
    ) -> Result<(), SessionsError> {
        self.outbox.append(&RecordEntry {
            session_id: *id,
            seq,
            at_ms: crate::records::now_ms(),
            tenant_id: None,
            record: Record::Erasure(Erasure { scope }),
        })?;
        self.outbox.flush().await?;
        Ok(())
    }
}

/// The deletions of [`Sessions::finish_erasure`], on parts that can move to the blocking pool.
fn finish_erasure(
    media: &MediaStore,
    journal: &Journal,
    outbox: &Outbox,
    id: &SessionId,
) -> Result<ErasureReport, SessionsError> {
    let media = media.erase(id)?;
    let journal = journal.scrub(id)?;
    let outbox_scrubbed = outbox.scrub(id)?;
    Ok(ErasureReport {
        media_files: media.files,
        media_bytes: media.bytes,
        key_destroyed: media.key,
        artifacts: journal.artifacts,
        events_scrubbed: journal.events,
        outbox_scrubbed,
    })
}
