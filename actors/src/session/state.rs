//! The session state machine of DESIGN.md: which state may follow which, and which are final.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where a KYC session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    Created,
    IdCapture,
    IdAccepted,
    Video,
    VideoAccepted,
    Comparing,
    /// Decided: the decision travels with the session and its last event.
    Decided,
    Failed,
    Expired,
    Erased,
}

/// The outcome of a decided session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Verified,
    Rejected,
    Review,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TransitionError {
    #[error("a session in state {from:?} cannot go to {to:?}")]
    NotAllowed {
        from: SessionState,
        to: SessionState,
    },
    #[error("a decided session needs a decision, and only a decided one may carry one")]
    Decision,
}

/// What a client can send a session: each is taken only in the states the machine allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// A live camera frame (quality check only, nothing kept): while the ID is being captured,
    /// or retaken after it was accepted (the person did not recognise what was read).
    LiveFrame,
    /// The ID photo: starts (or retries) the ID capture.
    IdPhoto,
    /// The selfie video: starts (or retries) the video stage.
    Video,
    /// The comparison of the accepted ID face with the accepted video.
    Comparison,
}

impl Intake {
    /// What the intake is, for messages ("an ID photo is not accepted in state …").
    pub fn what(self) -> &'static str {
        match self {
            Self::LiveFrame => "a live frame",
            Self::IdPhoto => "an ID photo",
            Self::Video => "a selfie video",
            Self::Comparison => "a comparison",
        }
    }
}

impl SessionState {
    /// Whether a session in this state takes `intake`: the transition it starts is one of the
    /// machine's (a live frame changes no state: it is taken until an ID photo is accepted).
    pub fn accepts(self, intake: Intake) -> bool {
        match intake {
            Intake::LiveFrame => matches!(self, Self::Created | Self::IdCapture | Self::IdAccepted),
            Intake::IdPhoto => self.can_go_to(Self::IdCapture),
            Intake::Video => self.can_go_to(Self::Video),
            Intake::Comparison => self.can_go_to(Self::Comparing),
        }
    }

    /// The state's name, as in JSON (`id_capture`, `video_accepted`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::IdCapture => "id_capture",
            Self::IdAccepted => "id_accepted",
            Self::Video => "video",
            Self::VideoAccepted => "video_accepted",
            Self::Comparing => "comparing",
            Self::Decided => "decided",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Erased => "erased",
        }
    }

    /// No work follows: the session only waits to be read (or erased).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Decided | Self::Failed | Self::Expired | Self::Erased
        )
    }

    /// Whether `self → to` is a transition of the state machine. Captures may be retried
    /// (`id_capture → id_capture`, `video → video`), an accepted ID may be captured again before
    /// the video, any live session may fail or expire, and any session but an erased one may be
    /// erased.
    pub fn can_go_to(self, to: Self) -> bool {
        use SessionState::*;
        match (self, to) {
            (Erased, _) => false,
            (_, Erased) => true,
            (from, Failed | Expired) => !from.is_terminal(),
            (Created, IdCapture)
            | (IdCapture, IdCapture | IdAccepted)
            | (IdAccepted, IdCapture | Video)
            | (Video, Video | VideoAccepted)
            | (VideoAccepted, Comparing)
            | (Comparing, Decided) => true,
            _ => false,
        }
    }

    /// Checks a transition and the decision it carries.
    pub fn check(self, to: Self, decision: Option<Decision>) -> Result<(), TransitionError> {
        if !self.can_go_to(to) {
            return Err(TransitionError::NotAllowed { from: self, to });
        }
        if (to == Self::Decided) != decision.is_some() {
            return Err(TransitionError::Decision);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SessionState::*;
    use super::*;

    #[test]
    fn the_happy_path_runs_to_a_decision() {
        let path = [
            Created,
            IdCapture,
            IdAccepted,
            Video,
            VideoAccepted,
            Comparing,
        ];
        for w in path.windows(2) {
            assert!(w[0].check(w[1], None).is_ok(), "{w:?}");
        }
        assert!(Comparing.check(Decided, Some(Decision::Verified)).is_ok());
        assert_eq!(
            Comparing.check(Decided, None),
            Err(TransitionError::Decision)
        );
        assert_eq!(
            Video.check(Video, Some(Decision::Review)),
            Err(TransitionError::Decision)
        );
    }

    #[test]
    fn intakes_follow_the_machine() {
        let all = [
            Intake::LiveFrame,
            Intake::IdPhoto,
            Intake::Video,
            Intake::Comparison,
        ];
        let takes = |s: SessionState| {
            all.into_iter()
                .filter(|i| s.accepts(*i))
                .collect::<Vec<_>>()
        };
        assert_eq!(takes(Created), [Intake::LiveFrame, Intake::IdPhoto]);
        assert_eq!(takes(IdCapture), [Intake::LiveFrame, Intake::IdPhoto]);
        assert_eq!(
            takes(IdAccepted),
            [Intake::LiveFrame, Intake::IdPhoto, Intake::Video]
        );
        assert_eq!(takes(Video), [Intake::Video]);
        assert_eq!(takes(VideoAccepted), [Intake::Comparison]);
        for s in [Comparing, Decided, Failed, Expired, Erased] {
            assert!(takes(s).is_empty(), "{s:?}");
        }
    }

    #[test]
    fn no_skipping_no_way_back_from_an_end() {
        assert!(!Created.can_go_to(Video));
        assert!(!IdCapture.can_go_to(Comparing));
        assert!(!VideoAccepted.can_go_to(IdCapture));
        for end in [Decided, Failed, Expired] {
            assert!(end.is_terminal());
            assert!(!end.can_go_to(IdCapture));
            assert!(!end.can_go_to(Failed));
            assert!(end.can_go_to(Erased));
        }
        assert!(!Erased.can_go_to(Erased));
        for live in [
            Created,
            IdCapture,
            IdAccepted,
            Video,
            VideoAccepted,
            Comparing,
        ] {
            assert!(!live.is_terminal());
            assert!(live.can_go_to(Failed) && live.can_go_to(Expired));
        }
    }
}
