//! A comparison as the API and the admin views show it: read from the records store, or —
//! only while its records are still on their way there (in the outbox, or the store
//! unreachable) — built by the same code from the session's journal, so both answers agree
//! and a comparison just decided is never a 404.

use super::{ApiError, AppState};
use crate::flow::records::comparison_records;
use crate::records::{
    ComparisonPair, ComparisonReport as StoredComparison, DecisionRecord, VerdictFigures,
};
use actors::session::SessionId;
use serde::Serialize;
use uuid::Uuid;

/// Where an answer was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The records store (MariaDB or the embedded store).
    Records,
    /// The session's journal: the records have not reached the store yet.
    Journal,
}

/// A comparison: the ID face against every frame of the video with a face, and the decision.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonView {
    pub comparison_id: Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    /// `verified`, `rejected`, `review` or `failed`.
    pub decision: String,
    /// Why (reason codes and texts, no personal data).
    pub reasons: Vec<String>,
    /// Face engine and recognizer of every embedding compared.
    pub engine: String,
    pub model: String,
    /// The match threshold the score was held against.
    pub threshold: f32,
    /// The highest similarity of any pair.
    pub best_similarity: f32,
    /// Score, consistency and frame counts the decision rests on.
    #[serde(flatten)]
    pub verdict: VerdictFigures,
    /// The ID image × video frame table: one pair per frame with a face.
    pub pairs: Vec<ComparisonPair>,
    /// When it was decided, ms since the Unix epoch.
    pub compared_at_ms: i64,
    pub source: Source,
}

impl ComparisonView {
    fn of(
        session_id: SessionId,
        compared_at_ms: i64,
        c: &crate::records::Comparison,
        d: &DecisionRecord,
        source: Source,
    ) -> Self {
        Self {
            comparison_id: c.comparison_id,
            session_id,
            decision: d.outcome.clone(),
            reasons: d.reasons.clone(),
            engine: c.engine.clone(),
            model: c.model.clone(),
            threshold: c.threshold,
            best_similarity: c.best_similarity,
            verdict: c.verdict.clone(),
            pairs: c.pairs.clone(),
            compared_at_ms,
            source,
        }
    }

    /// From the records store.
    pub fn stored(r: &StoredComparison, d: &DecisionRecord) -> Self {
        Self::of(
            r.session_id,
            r.compared_ms,
            &r.comparison,
            d,
            Source::Records,
        )
    }

    /// From the journal, through the records the comparison job wrote.
    pub fn journaled(r: &crate::flow::ComparisonReport) -> Self {
        let (c, d) = comparison_records(r);
        let at = i64::try_from(r.decided_at_ms).unwrap_or(i64::MAX);
        Self::of(r.session_id, at, &c, &d, Source::Journal)
    }
}

impl AppState {
    /// Comparison `id` of `session`: from the records store, else from the journal.
    pub(super) async fn comparison_view(
        &self,
        session: SessionId,
        id: Uuid,
    ) -> Result<Option<ComparisonView>, ApiError> {
        if !self.records.retrying() {
            match self.records.comparison(session, id).await {
                Ok(Some((r, d))) => return Ok(Some(ComparisonView::stored(&r, &d))),
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    error = %e.label(),
                    "records store unreadable; answering from the journal"
                ),
            }
        }
        Ok(self
            .sessions
            .comparison_report(&session)?
            .filter(|r| r.comparison_id == id)
            .map(|r| ComparisonView::journaled(&r)))
    }

    /// Every comparison of `session`: those in the records store, and the journal's latest
    /// while its records are on their way.
    pub(super) async fn comparison_views(
        &self,
        session: SessionId,
    ) -> Result<Vec<ComparisonView>, ApiError> {
        let mut out = Vec::new();
        if !self.records.retrying() {
            match self.records.comparisons_of(session).await {
                Ok(stored) => out.extend(
                    stored
                        .iter()
                        .filter_map(|(r, d)| d.as_ref().map(|d| ComparisonView::stored(r, d))),
                ),
                Err(e) => tracing::warn!(
                    error = %e.label(),
                    "records store unreadable; answering from the journal"
                ),
            }
        }
        if let Some(r) = self.sessions.comparison_report(&session)?
            && !out.iter().any(|v| v.comparison_id == r.comparison_id)
        {
            out.push(ComparisonView::journaled(&r));
        }
        Ok(out)
    }
}
