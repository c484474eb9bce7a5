//! What the person being verified sees through their session token: progress, guidance and the
//! outcome, never the similarity scores, the threshold or the decision's reasons — with those a
//! spoof can be tuned, try by try, until it passes. A tenant may choose to show them
//! (`showScores`); its own API key always sees everything.

use super::comparisons::ComparisonView;
use actors::session::{SessionEvent, SessionId, SessionState, Stage};
use serde::Serialize;

/// A comparison as the person's page sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonOutcome {
    pub comparison_id: uuid::Uuid,
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    /// `verified`, `rejected`, `review` or `failed`.
    pub decision: String,
    /// `decided`.
    pub status: &'static str,
    pub compared_at_ms: i64,
}

impl From<ComparisonView> for ComparisonOutcome {
    fn from(v: ComparisonView) -> Self {
        Self {
            comparison_id: v.comparison_id,
            session_id: v.session_id,
            decision: v.decision,
            status: "decided",
            compared_at_ms: v.compared_at_ms,
        }
    }
}

/// The result keys of a comparison's event the person may see.
const OUTCOME_KEYS: [&str; 2] = ["comparisonId", "decision"];

/// `event` as the person sees it: a comparison's result cut to its id and decision, and a
/// failure's message without the reasons (which carry the figures).
pub fn event(mut event: SessionEvent) -> SessionEvent {
    if event.stage != Stage::Comparing {
        return event;
    }
    if let Some(serde_json::Value::Object(mut all)) = event.result.take() {
        all.retain(|k, _| OUTCOME_KEYS.contains(&k.as_str()));
        event.result = Some(serde_json::Value::Object(all));
    }
    if event.state == SessionState::Failed {
        event.message.en = "Nothing could be decided. Please start a new session.".into();
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::session::{Message, Progress};

    #[test]
    fn a_comparison_event_keeps_its_outcome_and_loses_its_figures() {
        let e = SessionEvent {
            session_id: SessionId::new_v4(),
            seq: 7,
            at_ms: 1,
            stage: Stage::Comparing,
            state: SessionState::Failed,
            progress: Progress::of(Stage::Comparing, 100),
            message: Message::new(
                "Nothing could be decided: score 0.41 < 0.45",
                "판정할 수 없습니다.",
            ),
            result: Some(serde_json::json!({
                "comparisonId": "c", "decision": "failed", "score": 0.41, "threshold": 0.45,
                "reasons": ["score 0.41 below 0.45"], "framesKept": 3,
            })),
            decision: None,
            transient: false,
        };
        let seen = event(e.clone());
        assert_eq!(
            seen.result,
            Some(serde_json::json!({"comparisonId": "c", "decision": "failed"}))
        );
        assert!(!seen.message.en.contains("0.4"), "{}", seen.message.en);
        // Other stages pass untouched.
        let mut capture = e;
        capture.stage = Stage::IdCapture;
        assert_eq!(event(capture.clone()).result, capture.result);
    }
}
