//! The work a session hands out: an uploaded ID photo to read, a selfie video to analyse, a
//! comparison to decide. A job is journaled with the step that accepts it, so a server that
//! restarts runs it again; the pipeline that does it lives above this crate (it needs the
//! engines and the settings) and reports back through a [`StepSink`].

use super::SessionId;
use super::actor::{SessionError, SessionMsg, Step};
use super::beside::StepRecords;
use super::event::{SessionEvent, Stage};
use super::journal::{Journal, JournalError};
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
    /// The stage of the flow this job does (its name in metrics, events and /admin).
    pub fn stage(&self) -> Stage {
        match self {
            Self::IdCapture { .. } => Stage::IdCapture,
            Self::Video { .. } => Stage::Video,
            Self::Compare { .. } => Stage::Comparing,
        }
    }

    /// The uploaded file the job works on (none for a comparison).
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Self::IdCapture { file, .. } | Self::Video { file, .. } => Some(file),
            Self::Compare { .. } => None,
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

/// What a session's jobs produced and keep for its later steps and its readers (the ID face,
/// the video's frames, the comparison), stored with the session's journal. Durable with the
/// next journaled step, which a stage makes before anyone hears of its result.
#[derive(Clone)]
pub struct Artifacts {
    journal: Journal,
    session: SessionId,
}

impl Artifacts {
    pub(crate) fn new(journal: Journal, session: SessionId) -> Self {
        Self { journal, session }
    }

    /// Stores `value` under `name`, replacing an earlier one.
    pub fn put<T: Serialize>(&self, name: &str, value: &T) -> Result<(), JournalError> {
        self.journal.put_artifact(&self.session, name, value)
    }

    /// The value stored under `name`, if any.
    pub fn get<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<Option<T>, JournalError> {
        self.journal.artifact(&self.session, name)
    }
}

/// A job handed to a pipeline.
pub struct JobContext {
    pub session: SessionId,
    /// The session's tenant (its jobs' share of the line is counted by it).
    pub tenant: Option<String>,
    pub job: Job,
    pub steps: StepSink,
    /// The session's stored results (the only part of the journal a job reaches).
    pub artifacts: Artifacts,
}

/// Runs a session's jobs. It must end every job with a step that [`Step::ends_job`]; a job
/// that returns without one fails its session (nothing is left pending forever).
pub trait Pipeline: Send + Sync + 'static {
    fn run(&self, ctx: JobContext) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

    /// What the steps the session makes by itself (an expiry, a failure after its job
    /// stopped) carry beside their events: the owner's notice that the session ended.
    fn own_step_records(&self) -> Option<StepRecords> {
        None
    }

    /// How long one job may run and how often it may be started.
    fn job_limits(&self) -> JobLimits {
        JobLimits::default()
    }

    /// Every event the session sends its watchers (journaled or transient), for watchers
    /// elsewhere (another node's WebSockets). Must not block.
    fn published(&self, _event: &super::SessionEvent) {}
}

/// What a job may cost before its session gives it up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    /// Wall-clock time one run may take; a job still running then is stopped and its session
    /// fails.
    pub timeout: std::time::Duration,
    /// Starts a job gets: one that stopped the process (a crash, a kill) or its task (a panic)
    /// this often without finishing fails its session instead of running again.
    pub max_attempts: u32,
}

impl Default for JobLimits {
    fn default() -> Self {
        Self {
            timeout: std::time::Duration::from_secs(600),
            max_attempts: 2,
        }
    }
}

/// How a job's task ended, as its watcher saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEnd {
    /// The pipeline returned (it should have journaled the job's last step).
    Returned,
    /// The task panicked.
    Panicked,
    /// It ran past [`JobLimits::timeout`] and was stopped.
    TimedOut,
}
