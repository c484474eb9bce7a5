//! ONNX Runtime set-up: load the shared library once per process, choose the device
//! (auto | cpu | cuda) and build sessions with fixed threading and memory settings.

use crate::error::{Result, VisionError};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// CUDA when the provider loads, else CPU (with a warning).
    #[default]
    Auto,
    Cpu,
    Cuda,
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        })
    }
}

/// What a worker needs to build its ONNX Runtime sessions.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Path of `libonnxruntime.so.*`.
    pub ort_dylib: PathBuf,
    pub device: Device,
    /// Intra-op threads per session (per worker).
    pub threads: usize,
    /// GPU memory limit per session in bytes (CUDA only).
    pub gpu_mem_limit: usize,
    /// Folders holding the CUDA and cuDNN libraries to preload (CUDA only).
    pub cuda_lib_dirs: Vec<PathBuf>,
    /// Run the models' PRelu layers as the files have them instead of rewritten
    /// ([`crate::prelu`]): slower, the same results; for the tests that compare the two.
    pub keep_prelu: bool,
}

impl RuntimeConfig {
    /// CPU inference with `threads` intra-op threads, ONNX Runtime loaded from `ort_dylib`.
    pub fn cpu(ort_dylib: PathBuf, threads: usize) -> Self {
        Self {
            ort_dylib,
            device: Device::Cpu,
            threads,
            gpu_mem_limit: 2 << 30,
            cuda_lib_dirs: Vec::new(),
            keep_prelu: false,
        }
    }
}

/// File name of the ONNX Runtime library `kyc models fetch` installs.
pub const ORT_DYLIB_FILE: &str = "libonnxruntime.so.1.31.1";

static ORT_ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> =
    OnceLock::new();

fn oe<R>(e: ort::Error<R>) -> VisionError {
    VisionError::Runtime(format!("onnxruntime: {e}"))
}

/// Loads ONNX Runtime from `dylib` once for the whole process.
pub fn init_ort(dylib: &Path) -> Result<&'static ort::environment::Environment> {
    let r = ORT_ENV.get_or_init(|| {
        if !dylib.is_file() {
            return Err(format!(
                "ONNX Runtime library not found at {} (run `kyc models fetch`)",
                dylib.display()
            ));
        }
        let builder = ort::init_from(dylib).map_err(|e| format!("{}: {e}", dylib.display()))?;
        builder.with_name("kyc").build().map_err(|e| e.to_string())
    });
    r.as_ref().map_err(|reason| VisionError::Model {
        path: dylib.display().to_string(),
        reason: reason.clone(),
    })
}

/// The device a session actually runs on after set-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActiveDevice {
    Cpu,
    Cuda,
}

impl std::fmt::Display for ActiveDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        })
    }
}

/// A model as a file, or as bytes read from `path` and changed ([`crate::prelu`]).
#[derive(Clone, Copy)]
enum Source<'a> {
    File(&'a Path),
    Memory(&'a Path, &'a [u8]),
}

impl Source<'_> {
    fn path(&self) -> &Path {
        match self {
            Self::File(p) | Self::Memory(p, _) => p,
        }
    }

    fn commit(&self, b: &mut ort::session::builder::SessionBuilder) -> Result<Session> {
        match self {
            Self::File(p) => b.commit_from_file(p),
            Self::Memory(_, bytes) => b.commit_from_memory(bytes),
        }
        .map_err(|e| VisionError::Model {
            path: self.path().display().to_string(),
            reason: e.to_string(),
        })
    }
}

fn cpu_session(
    env: &ort::environment::Environment,
    cfg: &RuntimeConfig,
    model: Source<'_>,
) -> Result<Session> {
    let mut b = Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(oe)?
        .with_intra_threads(cfg.threads.max(1))
        .map_err(oe)?
        .with_inter_threads(1)
        .map_err(oe)?
        // Each session has its own intra-op pool; threads spinning after one model's run
        // would steal the cores from the next model's run (measured: 2 threads got slower
        // than 1 with spinning on). Idle threads sleep instead.
        .with_intra_op_spinning(false)
        .map_err(oe)?;
    model.commit(&mut b)
}

#[cfg(feature = "cuda")]
fn cuda_session(
    env: &ort::environment::Environment,
    cfg: &RuntimeConfig,
    model: Source<'_>,
) -> Result<Session> {
    use ort::ep::{ArenaExtendStrategy, CUDA};
    static PRELOAD: OnceLock<()> = OnceLock::new();
    PRELOAD.get_or_init(|| {
        for dir in &cfg.cuda_lib_dirs {
            for name in ort::ep::cuda::CUDA_DYLIBS
                .iter()
                .chain(ort::ep::cuda::CUDNN_DYLIBS.iter())
            {
                let p = dir.join(name);
                if p.exists() {
                    let _ = ort::util::preload_dylib(&p);
                }
            }
        }
    });
    let ep = CUDA::default()
        .with_arena_extend_strategy(ArenaExtendStrategy::SameAsRequested)
        .with_memory_limit(cfg.gpu_mem_limit)
        .build()
        .error_on_failure();
    let mut b = Session::builder(env)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(oe)?
        .with_intra_threads(1)
        .map_err(oe)?
        .with_execution_providers([ep])
        .map_err(oe)?;
    model.commit(&mut b)
}

/// Builds a session for `model` on the configured device, its PRelu layers rewritten
/// ([`crate::prelu`]) unless `keep_prelu`. `auto` and `cuda` try CUDA first and
/// fall back to CPU with a warning when the provider does not load (or the build lacks it).
pub fn session(cfg: &RuntimeConfig, model: &Path) -> Result<(Session, ActiveDevice)> {
    // The runtime first: without it no model loads, and that is what to say.
    init_ort(&cfg.ort_dylib)?;
    if !model.is_file() {
        return Err(VisionError::Model {
            path: model.display().to_string(),
            reason: "file not found (run `kyc models fetch`)".into(),
        });
    }
    if cfg.keep_prelu {
        return session_of(cfg, Source::File(model));
    }
    let bytes = std::fs::read(model).map_err(|e| VisionError::Model {
        path: model.display().to_string(),
        reason: e.to_string(),
    })?;
    match crate::prelu::rewrite_prelu(&bytes)? {
        Some((fast, _)) => session_of(cfg, Source::Memory(model, &fast)),
        None => session_of(cfg, Source::File(model)),
    }
}

fn session_of(cfg: &RuntimeConfig, model: Source<'_>) -> Result<(Session, ActiveDevice)> {
    let env = init_ort(&cfg.ort_dylib)?;
    match cfg.device {
        Device::Cpu => Ok((cpu_session(env, cfg, model)?, ActiveDevice::Cpu)),
        Device::Auto | Device::Cuda => {
            #[cfg(feature = "cuda")]
            {
                // Once CUDA has failed in this process, later sessions go straight to CPU.
                static CUDA_FAILED: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if !CUDA_FAILED.load(std::sync::atomic::Ordering::Relaxed) {
                    match cuda_session(env, cfg, model) {
                        Ok(s) => return Ok((s, ActiveDevice::Cuda)),
                        Err(e) => {
                            CUDA_FAILED.store(true, std::sync::atomic::Ordering::Relaxed);
                            tracing::warn!(
                                model = %model.path().display(),
                                error = %e,
                                "CUDA execution provider did not load; running on CPU"
                            );
                        }
                    }
                }
            }
            #[cfg(not(feature = "cuda"))]
            if cfg.device == Device::Cuda {
                tracing::warn!(
                    "engine.device = \"cuda\" but this build has no `cuda` feature; running on CPU"
                );
            }
            Ok((cpu_session(env, cfg, model)?, ActiveDevice::Cpu))
        }
    }
}

/// Sets OpenCV's own thread pool size (process-wide). Pools run one engine per core, so each
/// engine should use `threads` (usually 1) rather than all cores.
pub fn set_opencv_threads(threads: usize) {
    let n = i32::try_from(threads.max(1)).unwrap_or(1);
    if let Err(e) = opencv::core::set_num_threads(n) {
        tracing::warn!(error = %e.message, "cannot set OpenCV's thread count");
    }
}
