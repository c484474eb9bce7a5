//! The KYC flow a session runs: the jobs its uploads start — read the ID photo, analyse the
//! selfie video, compare and decide — each reporting its steps as journaled events. This is
//! the one implementation of the actors' [`Pipeline`]; it calls the same vision code and face
//! pool as the CLI.

mod challenge;
mod decide;
mod id_capture;
pub mod live;
pub mod mask;
pub mod queue;
pub mod records;
mod video;

pub use decide::ComparisonReport;
pub use id_capture::IdCaptureStatus;
pub use queue::{JobQueue, QueueStats};

use crate::engines::{Engines, JobKey};
use crate::media::MediaStore;
use crate::metrics::Metrics;
use crate::records::{Outbox, OutboxRecords, Record};
use crate::settings::Settings;
use crate::verify::{FaceSample, IdFace};
use actors::session::{
    Job, JobContext, Message, Pipeline, SessionId, SessionState, Stage, Step, StepRecords, StepSink,
};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use vision::liveness::verdict::Mode;

/// Artifact names in the journal.
pub(crate) const ID_FACE: &str = "id-face";
pub(crate) const ID_CAPTURE: &str = "id-capture";
pub(crate) const VIDEO: &str = "video";
pub(crate) const COMPARISON: &str = "comparison";
/// The liveness challenge drawn for the video.
pub(crate) const CHALLENGE: &str = "challenge";

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
    queue: Arc<JobQueue>,
    metrics: Arc<Metrics>,
    readers: Arc<id_capture::Readers>,
    /// The uploads are stored encrypted: jobs read them through here.
    media: Arc<MediaStore>,
    /// Where a stage's records wait (written with the stage's step).
    outbox: Outbox,
    /// The tenants (for each one's own liveness mode), set once they are open: they are read
    /// from the records store, which opens after the sessions.
    tenants: Arc<TenantsCell>,
}

/// The tenants, set once after the sessions started; weak, so the sessions do not keep the
/// records store (which the tenants read) open after the server let it go.
pub type TenantsCell = tokio::sync::SetOnce<std::sync::Weak<crate::tenants::Tenants>>;

/// How long a job that starts before the tenants are open (a job rerun at start) waits for them.
const TENANTS_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl Inner {
    /// The liveness mode of `tenant`'s sessions: its own choice, else `liveness.mode`.
    async fn liveness_mode(&self, tenant: Option<&str>) -> Mode {
        let default = self.settings.liveness.mode;
        let Some(id) = tenant else {
            return default;
        };
        let tenants = match tokio::time::timeout(TENANTS_WAIT, self.tenants.wait()).await {
            Ok(t) => t,
            Err(_) => {
                tracing::warn!("the tenants are not open yet; the server's liveness mode applies");
                return default;
            }
        };
        let Some(tenants) = tenants.upgrade() else {
            return default;
        };
        tenants
            .get(id)
            .and_then(|t| t.options.liveness_mode)
            .unwrap_or(default)
    }

    /// `records` as a step's records.
    fn records(&self, records: Vec<Record>) -> StepRecords {
        OutboxRecords::step(&self.outbox, records)
    }

    /// The record of the stored upload `media_id` at `path` (hashed on the blocking pool).
    async fn media_record(
        &self,
        media_id: uuid::Uuid,
        kind: &'static str,
        path: &std::path::Path,
    ) -> anyhow::Result<Record> {
        let (data, path) = (self.settings.server.data_dir.clone(), path.to_path_buf());
        tokio::task::spawn_blocking(move || records::media_stored(&data, media_id, kind, &path))
            .await
            .context("the media hasher stopped")?
    }

    /// Session `session`'s data key (made if it has none), for sealing its records.
    fn data_key(&self, session: &SessionId) -> anyhow::Result<crate::crypto::DataKey> {
        self.media
            .data_key_or_create(session)
            .context("the session's data key")
    }

    /// What an engine job needs of the session's key: the key, and its stored (wrapped) form
    /// for a job that travels to another node.
    fn job_key(&self, session: &SessionId) -> anyhow::Result<JobKey> {
        if let Some((key, wrapped)) = self.media.data_key_wrapped(session)? {
            return Ok(JobKey { key, wrapped });
        }
        self.data_key(session)?;
        let (key, wrapped) = self
            .media
            .data_key_wrapped(session)?
            .context("the session's data key")?;
        Ok(JobKey { key, wrapped })
    }
}

impl KycPipeline {
    pub fn new(
        settings: Arc<Settings>,
        engines: Arc<Engines>,
        queue: Arc<JobQueue>,
        metrics: Arc<Metrics>,
        media: Arc<MediaStore>,
        outbox: Outbox,
        tenants: Arc<TenantsCell>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                readers: Arc::new(id_capture::Readers::new(
                    settings.models.dir.join("tessdata"),
                )),
                settings,
                engines,
                queue,
                metrics,
                media,
                outbox,
                tenants,
            }),
        }
    }
}

impl Pipeline for KycPipeline {
    /// An expiry or a failure after a stopped job: nothing for the records store, and the
    /// tenant's webhook notice (which the records' encoding adds for a session that ended).
    fn own_step_records(&self) -> Option<actors::session::StepRecords> {
        Some(OutboxRecords::step(&self.inner.outbox, Vec::new()))
    }

    fn job_limits(&self) -> actors::session::JobLimits {
        self.inner.settings.sessions.job_limits()
    }

    /// In a cluster, every event goes to the other nodes too (their sockets may watch).
    fn published(&self, event: &actors::session::SessionEvent) {
        if let Some(r) = &self.inner.engines.remote {
            r.events.publish(event);
        }
    }

    fn run(&self, ctx: JobContext) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let JobContext {
                session,
                tenant,
                job,
                steps,
                artifacts,
            } = ctx;
            let started = std::time::Instant::now();
            let stage = job.stage();
            let result = async {
                // ID photos and videos wait for a slot on the engines; a comparison is light.
                let waits_in = match &job {
                    Job::IdCapture { .. } => Some(SessionState::IdCapture),
                    Job::Video { .. } => Some(SessionState::Video),
                    Job::Compare { .. } => None,
                };
                let _slot = match waits_in {
                    Some(state) => Some(
                        inner
                            .queue
                            .admit(tenant.as_deref(), &steps, state, stage)
                            .await?,
                    ),
                    None => None,
                };
                match job {
                    Job::IdCapture { capture_id, file } => {
                        let mode = inner.liveness_mode(tenant.as_deref()).await;
                        let upload = id_capture::Upload {
                            capture_id,
                            file,
                            mode,
                        };
                        id_capture::run(&inner, session, upload, &steps, &artifacts).await
                    }
                    Job::Video { video_id, file } => {
                        // The decoder stops by itself at the job's limit, also when the job
                        // was given up and nothing waits for it any more.
                        let deadline = started + inner.settings.sessions.job_limits().timeout;
                        let job = video::VideoJob {
                            video_id,
                            file,
                            deadline,
                            mode: inner.liveness_mode(tenant.as_deref()).await,
                        };
                        video::run(&inner, session, job, &steps, &artifacts).await
                    }
                    Job::Compare { comparison_id } => {
                        decide::run(&inner, session, comparison_id, &steps, &artifacts).await
                    }
                }
            }
            .await;
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
