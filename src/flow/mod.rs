//! The KYC flow a session runs: the jobs its uploads start — read the ID photo, analyse the
//! selfie video, compare and decide — each reporting its steps as journaled events. This is
//! the one implementation of the actors' [`Pipeline`]; it calls the same vision code and face
//! pool as the CLI.

mod compare;
mod id_capture;
pub mod mask;
pub mod queue;
mod video;

pub use compare::ComparisonReport;
pub use id_capture::IdCaptureStatus;
pub use queue::{JobQueue, QueueStats};

use crate::engines::Engines;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::verify::{FaceSample, IdFace};
use actors::session::{
    Job, JobContext, Journal, Message, Pipeline, SessionState, Stage, Step, StepSink,
};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Artifact names in the journal.
pub(crate) const ID_FACE: &str = "id-face";
pub(crate) const ID_CAPTURE: &str = "id-capture";
pub(crate) const VIDEO: &str = "video";
pub(crate) const COMPARISON: &str = "comparison";

/// The accepted ID photo's face, kept for the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IdFaceArtifact {
    pub capture_id: uuid::Uuid,
    pub face: FaceSample,
    pub info: IdFace,
}

/// Runs the jobs of every session on this node.
#[derive(Clone)]
pub struct KycPipeline {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Arc<Settings>,
    engines: Arc<Engines>,
    journal: Journal,
    queue: Arc<JobQueue>,
    metrics: Arc<Metrics>,
}

impl KycPipeline {
    pub fn new(
        settings: Arc<Settings>,
        engines: Arc<Engines>,
        journal: Journal,
        queue: Arc<JobQueue>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                engines,
                journal,
                queue,
                metrics,
            }),
        }
    }
}

impl Pipeline for KycPipeline {
    fn run(&self, ctx: JobContext) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let JobContext {
                session,
                job,
                steps,
            } = ctx;
            let started = std::time::Instant::now();
            let stage = match &job {
                Job::IdCapture { .. } => "id_capture",
                Job::Video { .. } => "video",
                Job::Compare { .. } => "comparing",
            };
            let result = match job {
                Job::IdCapture { capture_id, file } => {
                    match inner
                        .queue
                        .admit(&steps, SessionState::IdCapture, Stage::IdCapture)
                        .await
                    {
                        Ok(_slot) => {
                            id_capture::run(&inner, session, capture_id, file, &steps).await
                        }
                        Err(e) => Err(e),
                    }
                }
                Job::Video { video_id, file } => {
                    match inner
                        .queue
                        .admit(&steps, SessionState::Video, Stage::Video)
                        .await
                    {
                        Ok(_slot) => video::run(&inner, session, video_id, file, &steps).await,
                        Err(e) => Err(e),
                    }
                }
                Job::Compare { comparison_id } => {
                    compare::run(&inner, session, comparison_id, &steps).await
                }
            };
            inner.metrics.job(stage, started.elapsed(), result.is_ok());
            if let Err(e) = result {
                tracing::error!(session = %session, error = %format!("{e:#}"), "session job failed");
                let step = Step::reached(
                    SessionState::Failed,
                    Stage::Session,
                    Message::new(
                        "Processing failed because of an internal error. Start a new session.",
                        "내부 오류로 처리하지 못했습니다. 새 세션을 시작해 주세요.",
                    ),
                )
                .ending_job();
                if let Err(e) = steps.step(step).await {
                    tracing::warn!(session = %session, error = %e, "cannot record the failure");
                }
            }
        })
    }
}

/// Journals a progress step; a session that can no longer take it (expired, erased) ends the
/// job quietly through the error.
pub(crate) async fn progress(
    steps: &StepSink,
    to: SessionState,
    stage: Stage,
    percent: u8,
    message: Message,
    result: Option<serde_json::Value>,
) -> anyhow::Result<()> {
    let mut step = Step::progress(to, stage, percent, message);
    step.result = result;
    steps.step(step).await?;
    Ok(())
}
