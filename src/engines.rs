//! The engine pools the server and the CLI run inference on: built from the settings, started
//! once, shared by the callers, and asked by `/readyz` whether they can take work.

use crate::models;
use crate::settings::Settings;
use actors::{FacePool, PoolConfig, PoolStatus};
use vision::face::engine::{EngineConfig, EngineKind, ModelPaths};
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

/// The running engine pools.
pub struct Engines {
    pub face: FacePool,
}

/// Starts the engine pools described by `settings.engine` / `settings.models`, each worker
/// loaded and warmed up.
pub async fn start(settings: &Settings) -> anyhow::Result<Engines> {
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
    Ok(Engines { face })
}

impl Engines {
    pub fn status(&self) -> Vec<PoolStatus> {
        vec![self.face.status()]
    }

    /// Stops the pools after the HTTP server has stopped.
    pub async fn shutdown(&self) {
        self.face.stop().await;
        tracing::info!("engines stopped");
    }
}

impl Readiness for Engines {
    fn ready(&self) -> Result<(), String> {
        if self.face.is_ready() {
            Ok(())
        } else {
            let s = self.face.status();
            Err(format!(
                "face pool: {}/{} workers loaded{}",
                s.workers_loaded,
                s.workers,
                s.last_error.map(|e| format!(" ({e})")).unwrap_or_default()
            ))
        }
    }
}
