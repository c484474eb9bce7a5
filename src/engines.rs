//! The engines the server and the CLI run inference on: the pools built from the settings,
//! started once and shared by the callers, and — in a cluster — the engine workers reached
//! through Redis; a job goes to the cluster when it can take it, else to this node's pool.
//! `/readyz` asks them whether they can take work.

use crate::cluster::Cluster;
use crate::cluster::remote::Remote;
use crate::cluster::wire::{FaceResult, Failure, JobKind, JobParams, JobProgress, VideoResult};
use crate::crypto::DataKey;
use crate::models;
use crate::settings::Settings;
use crate::verify::{FaceSample, IdFace, Progress, VerifyOptions, analyse_video};
use actors::{FacePool, PoolConfig, PoolError, PoolStatus};
use std::path::PathBuf;
use std::sync::Arc;
use vision::face::engine::{EngineConfig, EngineKind, ModelPaths};
use vision::liveness::actions::Action;
use vision::liveness::track::TrackerConfig;
use vision::liveness::verdict::Mode;
use vision::{ImageLimits, RuntimeConfig};

/// The face engine `settings` describe, with `kind` overriding `engine.kind` when given.
pub fn engine_config(settings: &Settings, kind: Option<EngineKind>) -> EngineConfig {
    let e = &settings.engine;
    let m = &settings.models;
    let yunet = models::find_yunet(&m.yunet_dirs);
    let mut paths = ModelPaths::in_dir(&m.dir, yunet);
    paths.haar = m.haar_cascade.clone();
    EngineConfig {
        kind: kind.unwrap_or(e.kind),
        primary: e.primary,
        runtime: RuntimeConfig {
            ort_dylib: m.ort_dylib.clone(),
            device: e.device,
            threads: e.threads_per_worker,
            gpu_mem_limit: e.gpu_mem_limit_bytes(),
            cuda_lib_dirs: e.cuda_lib_dirs.clone(),
            keep_prelu: false,
        },
        models: paths,
        det_size: e.det_size,
        det_threshold: e.det_threshold,
        low_score: e.low_score,
        image_limits: image_limits(settings),
    }
}

/// `[images]` as the vision layer's limits.
pub fn image_limits(settings: &Settings) -> ImageLimits {
    ImageLimits {
        max_pixels: settings.images.max_pixels,
        min_side: settings.images.min_side,
    }
}

/// The liveness dense pass's models as the settings place them: SCRFD and the landmark model
/// in `models.dir`, MiniFASNet where the optional models are (`None` when `mode` is off).
pub fn tracker_config(settings: &Settings, mode: Mode) -> Option<TrackerConfig> {
    if mode == Mode::Off {
        return None;
    }
    let engine = engine_config(settings, None);
    let m = &settings.models;
    let mut t = TrackerConfig::new(engine.runtime, &engine.models.scrfd, &m.dir);
    t.passive = models::find_passive(&m.yunet_dirs);
    t.det_size = settings.liveness.det_size;
    t.det_threshold = settings.engine.det_threshold;
    Some(t)
}

/// A face pool configuration with `workers` workers (the settings' count when `None`); its
/// workers hold the liveness models whatever `liveness.mode` says, as a tenant may turn
/// liveness on for its sessions (a one-shot command that needs none sets `tracker` itself).
pub fn face_pool_config(
    settings: &Settings,
    kind: Option<EngineKind>,
    workers: Option<usize>,
    warm_up: bool,
) -> PoolConfig {
    PoolConfig {
        tracker: tracker_config(settings, Mode::Challenge),
        name: "face".into(),
        workers: workers.unwrap_or_else(|| settings.engine.worker_count()),
        queue_capacity: settings.engine.queue_capacity,
        image_limits: image_limits(settings),
        warm_up,
        engine: engine_config(settings, kind),
    }
}

/// Whether the server can take work: the engine pools say so, and `/readyz` asks.
pub trait Readiness: Send + Sync + 'static {
    /// `Ok(())` when ready, else `Err(what is not ready)`; the reason is shown by `/readyz`.
    fn ready(&self) -> Result<(), String>;
}

/// The engines a node works with: its own pool (not on an api node) and, in a cluster, the
/// engine workers reached through Redis.
pub struct Engines {
    pub face: Option<FacePool>,
    pub remote: Option<Arc<Remote>>,
}

/// Why an engine job did not give a result.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The job ran and failed: its input (the person retakes) or the engine.
    #[error("{0}")]
    Failed(Failure),
    /// No engine could take it: no pool here, and Redis or its workers are away.
    #[error("no engine can take the job now: {0}")]
    Unavailable(String),
}

/// A session's data key as an engine job needs it.
pub struct JobKey {
    pub key: DataKey,
    /// Its stored form (wrapped by the master key), which travels with a remote job.
    pub wrapped: Vec<u8>,
}

/// A selfie video to analyse, with what a remote worker needs to open it.
pub struct VideoWork<'a> {
    pub session: uuid::Uuid,
    pub key: &'a JobKey,
    /// The video in clear, in a file of this node's.
    pub path: PathBuf,
    pub ext: String,
    pub opts: VerifyOptions,
    pub mode: Mode,
    pub asked: Option<Vec<Action>>,
    /// When the reading must have ended (ms since the epoch).
    pub deadline_ms: u64,
}

/// Starts the engines `settings.cluster.role` runs: the face pool (every worker loaded and
/// warmed up) unless this is an api node, and the link to the remote workers when `cluster`
/// is given and this node serves the API.
pub async fn start(settings: &Settings, cluster: Option<&Arc<Cluster>>) -> anyhow::Result<Engines> {
    let role = settings.cluster.role;
    let face = if role.runs_engines() {
        let face = FacePool::start(face_pool_config(settings, None, None, true)).await?;
        let s = face.status();
        if let Some(info) = &s.engine {
            tracing::info!(
                pool = %s.name,
                workers = s.workers_loaded,
                engine = %info.kind,
                detector = %info.detector,
                device = %info.device,
                "engine pool ready"
            );
        }
        Some(face)
    } else {
        None
    };
    let remote = match cluster {
        Some(c) if role.serves_api() => Some(Remote::start(Arc::clone(c))),
        _ => None,
    };
    if face.is_none() && remote.is_none() {
        anyhow::bail!(
            "an api node needs redis.url: its engine work goes to engine workers through Redis"
        );
    }
    Ok(Engines { face, remote })
}

impl Engines {
    /// The cluster this node is part of (None without Redis, or on an engine node).
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.remote.as_ref().map(|r| r.cluster())
    }

    pub fn status(&self) -> Vec<PoolStatus> {
        self.face.iter().map(FacePool::status).collect()
    }

    /// Engine workers that can take a job now: this node's own, else the cluster's.
    pub fn workers(&self) -> usize {
        match (&self.face, &self.remote) {
            (Some(f), _) => f.status().workers,
            (None, Some(r)) => r.cluster().engine_workers(),
            (None, None) => 0,
        }
    }

    /// Whether Redis is down for a node that uses it (it then works in-process where it can).
    pub fn degraded(&self) -> Option<String> {
        let r = self.remote.as_ref()?;
        if !r.cluster().is_up() {
            Some(
                "Redis is not reachable: this node runs its own sessions with its own engines"
                    .into(),
            )
        } else if r.cluster().engine_workers() == 0 && self.face.is_none() {
            Some("no engine worker has announced itself".into())
        } else {
            None
        }
    }

    /// Whether new work can be taken at all; `Err` says why not (`/readyz`; 503 with
    /// Retry-After for an upload).
    pub fn can_take_work(&self) -> Result<(), String> {
        if self.face.as_ref().is_some_and(FacePool::is_ready)
            || self.remote.as_ref().is_some_and(|r| r.available())
        {
            return Ok(());
        }
        Err(match &self.face {
            Some(face) => {
                let s = face.status();
                format!(
                    "face pool: {}/{} workers loaded{}",
                    s.workers_loaded,
                    s.workers,
                    s.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
                )
            }
            None => self
                .degraded()
                .unwrap_or_else(|| "no engine worker can be reached".into()),
        })
    }

    /// The remote workers when they can take a job now (preferred in a cluster, so the work
    /// spreads), else `None` (this node's own pool).
    fn remote_now(&self) -> Option<&Arc<Remote>> {
        self.remote.as_ref().filter(|r| r.available())
    }

    /// Analyses a selfie video on a worker of the cluster, or on this node's pool when the
    /// cluster cannot take it.
    pub async fn video(
        &self,
        work: VideoWork<'_>,
        progress: &(dyn Fn(JobProgress) + Sync),
    ) -> Result<VideoResult, EngineError> {
        if let Some(remote) = self.remote_now() {
            let body = tokio::fs::read(&work.path)
                .await
                .map_err(|e| EngineError::Unavailable(format!("cannot read the video: {e}")))?;
            let params = JobParams::Video {
                mode: work.mode,
                asked: work.asked.clone(),
                deadline_ms: work.deadline_ms,
                ext: work.ext.clone(),
            };
            match remote
                .run(
                    JobKind::Video,
                    work.session,
                    work.key,
                    params,
                    &body,
                    progress,
                )
                .await
            {
                Ok(r) => return r.map_err(EngineError::Failed),
                Err(e) if self.face.is_some() => {
                    tracing::warn!(error = %e, "the cluster did not analyse the video; analysing it here")
                }
                Err(e) => return Err(EngineError::Unavailable(e.to_string())),
            }
        }
        let pool = self.local()?;
        video_here(pool, work.path, &work.opts, work.asked.as_deref(), progress)
            .await
            .map_err(EngineError::Failed)
    }

    /// The face on a decoded image (the card's photo): on a worker of the cluster (sent as
    /// PNG, lossless), or on this node's pool as it is.
    pub async fn face(
        &self,
        session: uuid::Uuid,
        key: &JobKey,
        image: &vision::opencv::core::Mat,
    ) -> Result<FaceResult, EngineError> {
        if let Some(remote) = self.remote_now() {
            let mut png = vision::opencv::core::Vector::<u8>::new();
            vision::opencv::imgcodecs::imencode(
                ".png",
                image,
                &mut png,
                &vision::opencv::core::Vector::new(),
            )
            .map_err(|e| EngineError::Unavailable(format!("cannot encode the image: {e}")))?;
            let params = JobParams::Face;
            match remote
                .run(JobKind::Face, session, key, params, png.as_slice(), &|_| {})
                .await
            {
                Ok(r) => return r.map_err(EngineError::Failed),
                Err(e) if self.face.is_some() => {
                    tracing::warn!(error = %e, "the cluster did not analyse the face; analysing it here")
                }
                Err(e) => return Err(EngineError::Unavailable(e.to_string())),
            }
        }
        let frame = vision::SharedFrame::from_mat(image)
            .map_err(|e| EngineError::Failed(failure(&PoolError::from(e))))?;
        self.local()?
            .analyze_frame(frame)
            .await
            .map(|a| face_result(&a))
            .map_err(|e| EngineError::Failed(failure(&e)))
    }

    fn local(&self) -> Result<&FacePool, EngineError> {
        self.face
            .as_ref()
            .ok_or_else(|| EngineError::Unavailable(self.can_take_work().err().unwrap_or_default()))
    }

    /// Stops the pools after the HTTP server has stopped.
    pub async fn shutdown(&self) {
        if let Some(f) = &self.face {
            f.stop().await;
        }
        tracing::info!("engines stopped");
    }
}

/// A video analysed on `pool`: frames sampled and assessed, liveness judged against `asked`.
pub async fn video_here(
    pool: &FacePool,
    path: PathBuf,
    opts: &VerifyOptions,
    asked: Option<&[Action]>,
    progress: &(dyn Fn(JobProgress) + Sync),
) -> Result<VideoResult, Failure> {
    let report = |p: Progress| match p {
        Progress::Probed { frames } => progress(JobProgress::Probed { frames }),
        Progress::Analysed { done, total } => progress(JobProgress::Analysed { done, total }),
        Progress::Decoded { .. } | Progress::Compared => {}
    };
    match analyse_video(pool, path, opts, &report).await {
        Ok(a) => Ok(VideoResult {
            liveness: a.liveness(asked, opts),
            frame_count: a.sampling.frame_count,
            duration_s: a.info.duration_s,
            frames: a.frames,
        }),
        Err(e) => Err(Failure {
            code: e.code().into(),
            message: e.to_string(),
            bad_input: e.is_bad_input(),
        }),
    }
}

/// The face on an encoded image, analysed on `pool` (a remote face job).
pub async fn face_here(pool: &FacePool, image: Arc<[u8]>) -> Result<FaceResult, Failure> {
    pool.analyze(image)
        .await
        .map(|a| face_result(&a))
        .map_err(|e| failure(&e))
}

fn face_result(a: &vision::FaceAnalysis) -> FaceResult {
    FaceResult {
        sample: FaceSample::of(a),
        info: IdFace::of(a),
    }
}

/// A pool's refusal as it travels.
fn failure(e: &PoolError) -> Failure {
    Failure {
        code: e.code().into(),
        message: e.to_string(),
        bad_input: e.is_bad_input(),
    }
}

impl Readiness for Engines {
    fn ready(&self) -> Result<(), String> {
        self.can_take_work()
    }
}
