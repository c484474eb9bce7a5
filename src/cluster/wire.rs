//! What travels over Redis between an api node and the engine workers: a job is an entry of its
//! kind's stream (`kyc:jobs:video`, `kyc:jobs:face`) with a JSON header `h` and a sealed body
//! `b`; its answers are entries of the asking node's reply stream (`kyc:replies:{node}`), a
//! header `h` and, for the result, a sealed body `b`. Bodies (the video, the card's face photo,
//! the result with its embeddings) are sealed with the session's data key, which travels
//! wrapped by the master key every node shares: Redis never holds personal data in clear.

use crate::verify::{AssessedFrame, FaceSample, IdFace};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vision::liveness::actions::Action;
use vision::liveness::verdict::{LivenessVerdict, Mode};

/// The consumer group every engine worker of a stream belongs to.
pub const GROUP: &str = "engines";
/// Field names of a stream entry: the JSON header and the sealed body.
pub const HEADER: &str = "h";
pub const BODY: &str = "b";

/// The kinds of engine work, each with its own stream (and so its own consumer group, which a
/// cluster can give its own machines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    /// A selfie video: decoded, sampled, every frame analysed, liveness judged.
    Video,
    /// One image (the card's photo): its face found and embedded.
    Face,
}

impl JobKind {
    pub const ALL: [Self; 2] = [Self::Video, Self::Face];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Video => "video",
            Self::Face => "face",
        }
    }

    /// The stream its jobs wait in.
    pub fn stream(self) -> &'static str {
        match self {
            Self::Video => "kyc:jobs:video",
            Self::Face => "kyc:jobs:face",
        }
    }
}

/// The reply stream of node `node`.
pub fn reply_stream(node: &str) -> String {
    format!("kyc:replies:{node}")
}

/// A job's header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobHeader {
    pub id: Uuid,
    pub session: Uuid,
    /// The reply stream of the node that waits for it.
    pub reply_to: String,
    /// The session's data key as stored, wrapped by the master key (base64).
    pub wrapped_key: String,
    pub params: JobParams,
    /// When it was sent (ms since the epoch): the transport's cost is measured from it.
    pub sent_ms: u64,
}

/// What the job asks, besides its body.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum JobParams {
    #[serde(rename_all = "camelCase")]
    Video {
        /// The session's liveness mode.
        mode: Mode,
        /// The challenge's actions the video must show (challenge mode).
        asked: Option<Vec<Action>>,
        /// When the reading must have ended (ms since the epoch).
        deadline_ms: u64,
        /// The container's file extension (`webm`, `mp4`), for the decoder.
        ext: String,
    },
    Face,
}

/// A reply's header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ReplyHeader {
    /// How far the job is: the video was probed (`probed` frames planned) or a frame analysed.
    #[serde(rename_all = "camelCase")]
    Progress {
        job: Uuid,
        probed: Option<usize>,
        done: usize,
        total: usize,
    },
    /// The result, sealed in the body; `compute_ms` is the worker's own time on it.
    #[serde(rename_all = "camelCase")]
    Done {
        job: Uuid,
        worker: String,
        compute_ms: u64,
    },
    /// The job failed: the input (`bad_input`) or the engine.
    #[serde(rename_all = "camelCase")]
    Failed {
        job: Uuid,
        worker: String,
        code: String,
        message: String,
        bad_input: bool,
    },
}

impl ReplyHeader {
    pub fn job(&self) -> Uuid {
        match self {
            Self::Progress { job, .. } | Self::Done { job, .. } | Self::Failed { job, .. } => *job,
        }
    }
}

/// A job that failed: the input (the person retakes) or the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub message: String,
    /// The input is at fault, not the engine.
    pub bad_input: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// How far a job is, wherever it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobProgress {
    /// The video was opened; this many frames will be analysed.
    Probed { frames: usize },
    /// A frame was analysed.
    Analysed { done: usize, total: usize },
}

/// An analysed selfie video: what the session keeps and decides on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoResult {
    pub frames: Vec<AssessedFrame>,
    pub frame_count: u64,
    pub duration_s: f64,
    pub liveness: LivenessVerdict,
}

/// The face found on an image.
#[derive(Clone, Serialize, Deserialize)]
pub struct FaceResult {
    pub sample: FaceSample,
    pub info: IdFace,
}

/// The associated data a job's body, or its result, is sealed with: bound to the job, so one
/// job's body cannot pass for another's.
pub fn aad(job: &Uuid, what: &str) -> Vec<u8> {
    format!("kyc job v1\0{what}\0{}", job.simple()).into_bytes()
}

pub use actors::session::event::now_ms;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_travel_as_json_and_come_back() {
        let h = JobHeader {
            id: Uuid::new_v4(),
            session: Uuid::new_v4(),
            reply_to: reply_stream("api-1"),
            wrapped_key: "AAAA".into(),
            params: JobParams::Video {
                mode: Mode::Challenge,
                asked: Some(vec![Action::Blink]),
                deadline_ms: 1,
                ext: "webm".into(),
            },
            sent_ms: 2,
        };
        let text = serde_json::to_string(&h).expect("json");
        assert!(text.contains("\"kind\":\"video\""), "{text}");
        let back: JobHeader = serde_json::from_str(&text).expect("back");
        assert_eq!(back.id, h.id);
        let r = ReplyHeader::Failed {
            job: h.id,
            worker: "e1".into(),
            code: "X".into(),
            message: "m".into(),
            bad_input: true,
        };
        let back: ReplyHeader =
            serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("back");
        assert_eq!(back.job(), h.id);
        assert_ne!(aad(&h.id, "body"), aad(&h.session, "body"));
    }
}
