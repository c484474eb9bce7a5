//! The face engine pool: a ractor factory of N workers. Each worker builds its own engine on
//! its own OS thread and runs every inference there (crossbeam channel), so no inference state
//! is shared between requests and tokio's threads never block. The factory queue is bounded;
//! a worker whose engine panics or fails is replaced and its job retried once.

use crossbeam_channel::{Receiver, Sender};
use ractor::factory::{
    DiscardHandler, DiscardMode, DiscardReason, DiscardSettings, Factory, FactoryArguments,
    FactoryMessage, Job, JobOptions, Worker, WorkerId, queues::DefaultQueue,
    routing::QueuerRouting, worker_builder,
};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use serde::Serialize;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use thiserror::Error;
use tokio::sync::oneshot;
use vision::face::engine::{EngineConfig, EngineInfo, FaceEngine, build_engine};
use vision::liveness::passive::FaceRect;
use vision::liveness::track::{TrackedFrame, Tracker, TrackerConfig};
use vision::{FaceAnalysis, ImageLimits, SharedFrame, VisionError};

/// Errors a caller of the pool can get.
#[derive(Debug, Error)]
pub enum PoolError {
    /// The input was bad or held no usable face: the caller's problem, not the engine's.
    #[error(transparent)]
    Vision(#[from] VisionError),
    #[error("the engine queue is full ({0} jobs waiting); retry later")]
    QueueFull(usize),
    #[error("the face engine failed twice on this job: {0}")]
    EngineFailed(String),
    #[error("the face engine could not be loaded: {0}")]
    EngineUnavailable(String),
    #[error("the engine pool is shutting down")]
    Stopped,
}

impl PoolError {
    /// True when the input is at fault (exit code 2, HTTP 4xx), not the engine.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::Vision(e) if e.is_bad_input())
    }

    /// A stable code for JSON output and API envelopes.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Vision(e) => e.code(),
            Self::QueueFull(_) => "ENGINE_BUSY",
            _ => "ENGINE_ERROR",
        }
    }
}

/// Builds one engine; called on each worker's own thread (again when a worker is replaced).
pub type EngineBuilder =
    Arc<dyn Fn() -> Result<Box<dyn FaceEngine>, VisionError> + Send + Sync + 'static>;

type Reply = RpcReplyPort<Result<Answer, PoolError>>;

/// What a face job looks at: an uploaded (encoded) image, or a frame already decoded (a video
/// sample). Both are shared, so a retry costs no copy.
#[derive(Clone)]
pub enum FaceInput {
    Encoded(Arc<[u8]>),
    Frame(SharedFrame),
}

/// What a job asks of a worker: a face analysed (detected, aligned, embedded), or a frame of
/// the liveness dense pass tracked (face, landmarks, now and then the passive score).
#[derive(Clone)]
pub enum FaceWork {
    Analyze(FaceInput),
    Track {
        frame: SharedFrame,
        t_ms: f64,
        passive: bool,
        /// Where the face was last seen (`Follow::hint`): SCRFD searches around it.
        near: Option<FaceRect>,
    },
}

/// A job's answer, of the kind its [`FaceWork`] asked for.
pub enum Answer {
    Analysis(Box<FaceAnalysis>),
    Track(TrackedFrame),
}

/// The face pool's message: one job for one image.
pub enum FaceJob {
    Analyze {
        input: FaceWork,
        /// 0 on the first try, 1 on the retry after a worker failure.
        attempt: u8,
        /// Taken by whoever answers (the worker, or the discard handler under backpressure).
        reply: Option<Reply>,
    },
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub name: String,
    pub workers: usize,
    /// Jobs that may wait for a worker; beyond that callers get `QueueFull`.
    pub queue_capacity: usize,
    pub image_limits: ImageLimits,
    /// Load everything (the hybrid's second engine too) and run one inference per worker
    /// before the pool counts as ready. The server does; one-shot CLI commands don't.
    pub warm_up: bool,
    pub engine: EngineConfig,
    /// The liveness dense pass's models, loaded by every worker beside its engine (None:
    /// liveness is off and `track` jobs are refused).
    pub tracker: Option<TrackerConfig>,
}

/// Live counters of a pool, shared with its workers.
#[derive(Debug, Default)]
struct Counters {
    loaded: AtomicUsize,
    failed_loads: AtomicUsize,
    restarts: AtomicUsize,
    in_flight: AtomicUsize,
    completed: AtomicU64,
    engine_errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    info: Mutex<Option<EngineInfo>>,
    /// Woken whenever a worker has loaded its engine or failed to.
    load_reported: tokio::sync::Notify,
}

/// A snapshot of the pool for /readyz, /admin and /metrics.
#[derive(Debug, Clone, Serialize)]
pub struct PoolStatus {
    pub name: String,
    pub workers: usize,
    pub workers_loaded: usize,
    pub restarts: usize,
    pub in_flight: usize,
    pub queue_capacity: usize,
    pub completed: u64,
    pub engine_errors: u64,
    pub engine: Option<EngineInfo>,
    pub last_error: Option<String>,
}

struct Shared {
    builder: EngineBuilder,
    tracker: Option<TrackerConfig>,
    warm_up: bool,
    limits: ImageLimits,
    counters: Counters,
}

/// A job handed to the worker's inference thread.
struct ThreadJob {
    input: FaceWork,
    done: oneshot::Sender<ThreadOutcome>,
}

enum ThreadOutcome {
    Done(Box<Result<Answer, VisionError>>),
    Panicked(String),
}

/// The worker's state: the channel to its inference thread, or why its engine did not load.
struct WorkerState {
    jobs: Option<Sender<ThreadJob>>,
    load_error: Option<String>,
}

struct FaceWorker {
    shared: Arc<Shared>,
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

/// The body of a worker's OS thread: build the engine, report, then serve jobs until the
/// channel closes or the engine panics.
fn inference_thread(
    shared: Arc<Shared>,
    jobs: Receiver<ThreadJob>,
    loaded: oneshot::Sender<Result<EngineInfo, String>>,
) {
    let built = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut engine = (shared.builder)()?;
        if shared.warm_up {
            engine.warm_up()?;
        }
        let tracker = shared.tracker.as_ref().map(Tracker::load).transpose()?;
        Ok::<_, VisionError>((engine, tracker))
    }));
    let (mut engine, mut tracker) = match built {
        Ok(Ok(e)) => e,
        Ok(Err(e)) => {
            let _ = loaded.send(Err(e.to_string()));
            return;
        }
        Err(p) => {
            let _ = loaded.send(Err(format!(
                "engine construction panicked: {}",
                panic_message(&*p)
            )));
            return;
        }
    };
    let _ = loaded.send(Ok(engine.info()));
    while let Ok(job) = jobs.recv() {
        let limits = shared.limits;
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| match &job.input {
            FaceWork::Analyze(FaceInput::Encoded(bytes)) => engine
                .analyze_bytes(bytes, limits)
                .map(|a| Answer::Analysis(Box::new(a))),
            FaceWork::Analyze(FaceInput::Frame(frame)) => engine
                .analyze(&frame.to_image()?)
                .map(|a| Answer::Analysis(Box::new(a))),
            FaceWork::Track {
                frame,
                t_ms,
                passive,
                near,
            } => match &mut tracker {
                Some(t) => t
                    .track(&frame.to_image()?.mat, *t_ms, *passive, *near)
                    .map(Answer::Track),
                None => Err(VisionError::Runtime(
                    "this pool was started without the liveness models".into(),
                )),
            },
        }));
        match r {
            Ok(res) => {
                let _ = job.done.send(ThreadOutcome::Done(Box::new(res)));
            }
            Err(p) => {
                let _ = job.done.send(ThreadOutcome::Panicked(panic_message(&*p)));
                // The engine may be in a broken state: end the thread; the worker is replaced.
                return;
            }
        }
    }
}

type FaceFactoryMsg = FactoryMessage<u64, FaceJob>;

impl Worker for FaceWorker {
    type Key = u64;
    type Message = FaceJob;
    type Arguments = ();
    type State = WorkerState;

    async fn pre_start(
        &self,
        wid: WorkerId,
        _factory: &ActorRef<FaceFactoryMsg>,
        _args: (),
    ) -> Result<WorkerState, ActorProcessingErr> {
        let (tx, rx) = crossbeam_channel::bounded::<ThreadJob>(1);
        let (loaded_tx, loaded_rx) = oneshot::channel();
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("face-worker-{wid}"))
            .spawn(move || inference_thread(shared, rx, loaded_tx));
        let c = &self.shared.counters;
        let outcome = match spawned {
            Ok(_) => loaded_rx
                .await
                .unwrap_or_else(|_| Err("inference thread ended while loading".into())),
            Err(e) => Err(format!("cannot start inference thread: {e}")),
        };
        match outcome {
            Ok(info) => {
                tracing::info!(
                    worker = wid,
                    engine = %info.kind,
                    detector = %info.detector,
                    device = %info.device,
                    "face worker ready"
                );
                *c.info.lock().unwrap_or_else(|p| p.into_inner()) = Some(info);
                c.loaded.fetch_add(1, Ordering::SeqCst);
                c.load_reported.notify_waiters();
                Ok(WorkerState {
                    jobs: Some(tx),
                    load_error: None,
                })
            }
            Err(reason) => {
                tracing::error!(worker = wid, %reason, "face worker could not load its engine");
                c.failed_loads.fetch_add(1, Ordering::SeqCst);
                *c.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.clone());
                c.load_reported.notify_waiters();
                Ok(WorkerState {
                    jobs: None,
                    load_error: Some(reason),
                })
            }
        }
    }

    async fn handle(
        &self,
        wid: WorkerId,
        factory: &ActorRef<FaceFactoryMsg>,
        job: Job<u64, FaceJob>,
        state: &mut WorkerState,
    ) -> Result<u64, ActorProcessingErr> {
        let key = job.key;
        let FaceJob::Analyze {
            input,
            attempt,
            reply,
        } = job.msg;
        let Some(reply) = reply else {
            return Ok(key);
        };
        let Some(jobs) = state.jobs.as_ref() else {
            let reason = state.load_error.clone().unwrap_or_default();
            let _ = reply.send(Err(PoolError::EngineUnavailable(reason)));
            return Ok(key);
        };
        let c = &self.shared.counters;
        c.in_flight.fetch_add(1, Ordering::SeqCst);
        let (done_tx, done_rx) = oneshot::channel();
        let outcome = match jobs.send(ThreadJob {
            input: input.clone(),
            done: done_tx,
        }) {
            Ok(()) => done_rx.await.ok(),
            Err(_) => None,
        };
        c.in_flight.fetch_sub(1, Ordering::SeqCst);
        let failure = match outcome.map(|o| match o {
            ThreadOutcome::Done(r) => Ok(*r),
            ThreadOutcome::Panicked(m) => Err(m),
        }) {
            Some(Ok(Ok(analysis))) => {
                c.completed.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(Ok(analysis));
                return Ok(key);
            }
            Some(Ok(Err(e))) if e.is_bad_input() => {
                c.completed.fetch_add(1, Ordering::Relaxed);
                let _ = reply.send(Err(PoolError::Vision(e)));
                return Ok(key);
            }
            Some(Ok(Err(e))) => e.to_string(),
            Some(Err(m)) => format!("engine panicked: {m}"),
            None => "inference thread ended".to_string(),
        };
        c.engine_errors.fetch_add(1, Ordering::Relaxed);
        c.restarts.fetch_add(1, Ordering::SeqCst);
        // This worker is about to die; its replacement counts itself in when it has loaded.
        c.loaded.fetch_sub(1, Ordering::SeqCst);
        *c.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(failure.clone());
        if attempt == 0 {
            tracing::warn!(worker = wid, job = key, error = %failure, "face worker failed; retrying the job once on a fresh worker");
            let retry = Job {
                key,
                msg: FaceJob::Analyze {
                    input,
                    attempt: 1,
                    reply: Some(reply),
                },
                options: JobOptions::default(),
                accepted: None,
            };
            let _ = factory.cast(FactoryMessage::Dispatch(retry));
        } else {
            tracing::error!(worker = wid, job = key, error = %failure, "face worker failed on the retry too");
            let _ = reply.send(Err(PoolError::EngineFailed(failure.clone())));
        }
        // Dying makes the factory replace this worker with a fresh engine.
        Err(failure.into())
    }
}

/// Answers jobs the factory drops (queue full, shutdown) instead of leaving callers hanging.
struct Discarder {
    capacity: usize,
}

impl DiscardHandler<u64, FaceJob> for Discarder {
    fn discard(&self, reason: DiscardReason, job: &mut Job<u64, FaceJob>) {
        let FaceJob::Analyze { reply, .. } = &mut job.msg;
        if let Some(reply) = reply.take() {
            let err = match reason {
                DiscardReason::Shutdown => PoolError::Stopped,
                _ => PoolError::QueueFull(self.capacity),
            };
            let _ = reply.send(Err(err));
        }
    }
}

type FaceFactory =
    Factory<u64, FaceJob, (), FaceWorker, QueuerRouting<u64, FaceJob>, DefaultQueue<u64, FaceJob>>;

/// A running face pool.
pub struct FacePool {
    name: String,
    workers: usize,
    queue_capacity: usize,
    factory: ActorRef<FaceFactoryMsg>,
    handle: Mutex<Option<tokio::task::JoinHandle<()>>>,
    shared: Arc<Shared>,
    next_job: AtomicU64,
}

impl FacePool {
    /// Starts a pool whose workers build the engine `cfg.engine` describes, and waits until
    /// every worker has loaded it (or failed to). Fails only when no worker could load it.
    pub async fn start(cfg: PoolConfig) -> Result<Self, PoolError> {
        let engine_cfg = cfg.engine.clone();
        let builder: EngineBuilder = Arc::new(move || build_engine(&engine_cfg));
        Self::start_with(cfg, builder).await
    }

    /// Like [`FacePool::start`] with a custom engine builder (used by fault tests to wrap the
    /// real engine).
    pub async fn start_with(cfg: PoolConfig, builder: EngineBuilder) -> Result<Self, PoolError> {
        let workers = cfg.workers.max(1);
        vision::runtime::set_opencv_threads(cfg.engine.runtime.threads);
        let shared = Arc::new(Shared {
            builder,
            tracker: cfg.tracker.clone(),
            warm_up: cfg.warm_up,
            limits: cfg.image_limits,
            counters: Counters::default(),
        });
        let for_builder = shared.clone();
        let args = FactoryArguments::builder()
            .worker_builder(Box::new(worker_builder(move |_wid| {
                (
                    FaceWorker {
                        shared: for_builder.clone(),
                    },
                    (),
                )
            })))
            .queue(Default::default())
            .router(Default::default())
            .num_initial_workers(workers)
            .discard_settings(DiscardSettings::Static {
                limit: cfg.queue_capacity,
                mode: DiscardMode::Newest,
            })
            .discard_handler(Arc::new(Discarder {
                capacity: cfg.queue_capacity,
            }))
            .build();
        let (factory, handle) = Actor::spawn(None, FaceFactory::default(), args)
            .await
            .map_err(|e| PoolError::EngineUnavailable(format!("cannot start the pool: {e}")))?;
        let pool = Self {
            name: cfg.name,
            workers,
            queue_capacity: cfg.queue_capacity,
            factory,
            handle: Mutex::new(Some(handle)),
            shared,
            next_job: AtomicU64::new(0),
        };
        // Workers load in their pre_start; wait until each has reported.
        let c = &pool.shared.counters;
        loop {
            // Register interest before checking, so a report between the two is not missed.
            let reported = c.load_reported.notified();
            if c.loaded.load(Ordering::SeqCst) + c.failed_loads.load(Ordering::SeqCst) >= workers {
                break;
            }
            reported.await;
        }
        if c.loaded.load(Ordering::SeqCst) == 0 {
            let reason = c
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_default();
            pool.stop().await;
            return Err(PoolError::EngineUnavailable(reason));
        }
        Ok(pool)
    }

    /// Detects, aligns and embeds the largest face of an encoded image.
    pub async fn analyze(&self, bytes: Arc<[u8]>) -> Result<FaceAnalysis, PoolError> {
        self.analysis(FaceInput::Encoded(bytes)).await
    }

    /// Detects, aligns and embeds the largest face of a decoded frame.
    pub async fn analyze_frame(&self, frame: SharedFrame) -> Result<FaceAnalysis, PoolError> {
        self.analysis(FaceInput::Frame(frame)).await
    }

    /// Tracks the largest face of a dense-pass frame at `t_ms`: its landmarks and motion, and
    /// its passive score when `passive`; `near` is where the face was last seen, if known.
    pub async fn track(
        &self,
        frame: SharedFrame,
        t_ms: f64,
        passive: bool,
        near: Option<FaceRect>,
    ) -> Result<TrackedFrame, PoolError> {
        match self
            .run(FaceWork::Track {
                frame,
                t_ms,
                passive,
                near,
            })
            .await?
        {
            Answer::Track(t) => Ok(t),
            Answer::Analysis(_) => Err(PoolError::EngineFailed("a mismatched answer".into())),
        }
    }

    /// Whether the workers hold the liveness models.
    pub fn tracks(&self) -> bool {
        self.shared.tracker.is_some()
    }

    async fn analysis(&self, input: FaceInput) -> Result<FaceAnalysis, PoolError> {
        match self.run(FaceWork::Analyze(input)).await? {
            Answer::Analysis(a) => Ok(*a),
            Answer::Track(_) => Err(PoolError::EngineFailed("a mismatched answer".into())),
        }
    }

    async fn run(&self, input: FaceWork) -> Result<Answer, PoolError> {
        let key = self.next_job.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            key,
            msg: FaceJob::Analyze {
                input,
                attempt: 0,
                reply: Some(RpcReplyPort::from(tx)),
            },
            options: JobOptions::default(),
            accepted: None,
        };
        self.factory
            .cast(FactoryMessage::Dispatch(job))
            .map_err(|_| PoolError::Stopped)?;
        rx.await.map_err(|_| PoolError::Stopped)?
    }

    /// True once at least one worker has its engine loaded.
    pub fn is_ready(&self) -> bool {
        self.shared.counters.loaded.load(Ordering::SeqCst) > 0
    }

    pub fn status(&self) -> PoolStatus {
        let c = &self.shared.counters;
        PoolStatus {
            name: self.name.clone(),
            workers: self.workers,
            workers_loaded: c.loaded.load(Ordering::SeqCst),
            restarts: c.restarts.load(Ordering::SeqCst),
            in_flight: c.in_flight.load(Ordering::SeqCst),
            queue_capacity: self.queue_capacity,
            completed: c.completed.load(Ordering::Relaxed),
            engine_errors: c.engine_errors.load(Ordering::Relaxed),
            engine: c.info.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            last_error: c
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    /// Stops the factory and its workers; jobs still queued are answered with `Stopped`.
    pub async fn stop(&self) {
        self.factory.stop(None);
        let handle = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.await;
        }
    }
}
