//! The work a session hands out: an uploaded ID photo to read, a selfie video to analyse, a
//! comparison to decide. A job is journaled with the step that accepts it, so a server that
//! restarts runs it again; the pipeline that does it lives above this crate (it needs the
//! engines and the settings) and reports back through a [`StepSink`].

use super::SessionId;
use super::actor::{SessionError, SessionMsg, Step};
use super::event::SessionEvent;
use ractor::ActorRef;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

/// One piece of pending work of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Job {
    /// Read the ID photo at `file` (quality, card, face, fields).
    IdCapture {
        capture_id: uuid::Uuid,
        file: PathBuf,
    },
    /// Sample and analyse the selfie video at `file`.
    Video { video_id: uuid::Uuid, file: PathBuf },
    /// Compare the ID face with the video's faces and decide.
    Compare { comparison_id: uuid::Uuid },
}

impl Job {
    /// `id_capture`, `video` or `compare` (as in the journal).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::IdCapture { .. } => "id_capture",
            Self::Video { .. } => "video",
            Self::Compare { .. } => "compare",
        }
    }

    /// The id the client was given for this job.
    pub fn id(&self) -> uuid::Uuid {
        match self {
            Self::IdCapture { capture_id: id, .. }
            | Self::Video { video_id: id, .. }
            | Self::Compare { comparison_id: id } => *id,
        }
    }
}

/// Where a running job reports its steps: the session's actor, which journals each one.
#[derive(Clone)]
pub struct StepSink {
    actor: ActorRef<SessionMsg>,
}

impl StepSink {
    pub(crate) fn new(actor: ActorRef<SessionMsg>) -> Self {
        Self { actor }
    }

    /// Journals `step` and returns the event once it is durable.
    pub async fn step(&self, step: Step) -> Result<SessionEvent, SessionError> {
        ractor::call!(self.actor, |reply| SessionMsg::Record { step, reply })
            .map_err(|_| SessionError::Gone)?
    }
}

/// A job handed to a pipeline.
pub struct JobContext {
    pub session: SessionId,
    pub job: Job,
    pub steps: StepSink,
}

/// Runs a session's jobs. It must end every job with a step that [`Step::ends_job`]; a job
/// that returns without one fails its session (nothing is left pending forever).
pub trait Pipeline: Send + Sync + 'static {
    fn run(&self, ctx: JobContext) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
}
