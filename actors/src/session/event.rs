//! What a session tells its watchers: one event per step, numbered per session, in Korean and
//! English, with the step's results and, at the end, the decision. The same JSON goes to the
//! journal and over the WebSocket.

use super::SessionId;
use super::state::{Decision, SessionState};
use serde::{Deserialize, Serialize};

/// The part of the flow an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Session,
    IdCapture,
    Video,
    Comparing,
}

impl Stage {
    /// The work stages, in the order of the flow (what jobs, metrics and events are about).
    pub const WORK: [Stage; 3] = [Self::IdCapture, Self::Video, Self::Comparing];

    /// The stage's name, as in JSON and in metric labels (`id_capture`, `comparing`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::IdCapture => "id_capture",
            Self::Video => "video",
            Self::Comparing => "comparing",
        }
    }

    /// Where this stage sits in the whole flow, as the overall percentage at its start and end.
    fn span(self) -> (u8, u8) {
        match self {
            Self::Session => (0, 0),
            Self::IdCapture => (0, 40),
            Self::Video => (40, 80),
            Self::Comparing => (80, 100),
        }
    }
}

/// Progress within the stage and over the whole session, 0–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Progress {
    pub stage: u8,
    pub overall: u8,
}

impl Progress {
    /// `percent` of `stage`, placed in the whole flow.
    pub fn of(stage: Stage, percent: u8) -> Self {
        let p = percent.min(100);
        let (lo, hi) = stage.span();
        Self {
            stage: p,
            overall: lo + ((u16::from(hi - lo) * u16::from(p)) / 100) as u8,
        }
    }
}

/// A message for the person, in both languages the service speaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub en: String,
    pub ko: String,
}

impl Message {
    pub fn new(en: impl Into<String>, ko: impl Into<String>) -> Self {
        Self {
            en: en.into(),
            ko: ko.into(),
        }
    }
}

/// One journaled, broadcast event. `seq` starts at 1 and has no gaps within a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionEvent {
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub stage: Stage,
    /// The session's state after this event.
    pub state: SessionState,
    pub progress: Progress,
    pub message: Message,
    /// The step's results (quality checks, masked fields, the comparison table…); never
    /// personal data in clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// A notice that is not journaled (a live camera frame's quality check): `seq` is then the
    /// number of the last journaled event, nothing is replayed for it and the state is
    /// unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub transient: bool,
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_places_the_stage_in_the_flow() {
        assert_eq!(Progress::of(Stage::IdCapture, 50).overall, 20);
        assert_eq!(Progress::of(Stage::Video, 0).overall, 40);
        assert_eq!(Progress::of(Stage::Comparing, 100).overall, 100);
        assert_eq!(Progress::of(Stage::Comparing, 250).stage, 100);
    }

    #[test]
    fn stage_names_are_their_json_names() {
        for stage in [
            Stage::Session,
            Stage::IdCapture,
            Stage::Video,
            Stage::Comparing,
        ] {
            assert_eq!(serde_json::to_value(stage).expect("json"), stage.as_str());
        }
    }

    #[test]
    fn events_are_camel_case_json_without_empty_fields() {
        let e = SessionEvent {
            session_id: SessionId::nil(),
            seq: 3,
            at_ms: 1,
            stage: Stage::Video,
            state: SessionState::VideoAccepted,
            progress: Progress::of(Stage::Video, 100),
            message: Message::new("Video received", "영상을 받았습니다"),
            result: None,
            decision: None,
            transient: false,
        };
        let v = serde_json::to_value(&e).expect("json");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["state"], "video_accepted");
        assert_eq!(v["progress"]["overall"], 80);
        assert!(v.get("decision").is_none() && v.get("sessionId").is_some());
        let back: SessionEvent = serde_json::from_value(v).expect("back");
        assert_eq!(back, e);
    }
}
