//! The face engines: "insightface" (SCRFD + ArcFace on ONNX Runtime), "opencv" (YuNet or Haar +
//! ArcFace on OpenCV dnn) and "hybrid", which runs a primary and turns to the other engine when
//! the primary finds no face, finds one only with a low score, or the light is poor even after
//! a CLAHE retry. Both recognizers run the same model, so their embeddings compare.

use crate::error::{Result, VisionError};
use crate::image::{DecodedImage, ImageLimits, decode_image};
use crate::runtime::{ActiveDevice, RuntimeConfig};
use opencv::core::{Mat, Rect};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::align::align_face;
use super::arcface::{CvArcFace, MODEL_ID, OrtArcFace, Recognizer};
use super::detect::Detector;
use super::haar::Haar;
use super::lighting::{self, Lighting};
use super::scrfd::Scrfd;
use super::yunet::YuNet;
use super::{Embedding, FaceAnalysis, FaceBox, StageTimings};

/// Which engine analyses faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Primary engine first, the other one when it struggles.
    #[serde(alias = "auto")]
    Hybrid,
    Insightface,
    Opencv,
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Hybrid => "hybrid",
            Self::Insightface => "insightface",
            Self::Opencv => "opencv",
        })
    }
}

/// Model files the engines load.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub scrfd: PathBuf,
    pub arcface: PathBuf,
    /// `None` when YuNet's file was not found: the OpenCV engine then uses Haar.
    pub yunet: Option<PathBuf>,
    pub haar: PathBuf,
}

impl ModelPaths {
    /// The fetched files in `dir` (as `kyc models fetch` lays them out), YuNet if found, and
    /// Debian's Haar cascade.
    pub fn in_dir(dir: &Path, yunet: Option<PathBuf>) -> Self {
        Self {
            scrfd: dir.join(SCRFD_FILE),
            arcface: dir.join(ARCFACE_FILE),
            yunet,
            haar: PathBuf::from(HAAR_CASCADE),
        }
    }
}

/// File names of the models (see models/manifest.toml).
pub const SCRFD_FILE: &str = "scrfd_500m_bnkps.onnx";
pub const ARCFACE_FILE: &str = "w600k_mbf.onnx";
pub const YUNET_FILE: &str = "face_detection_yunet.onnx";
/// Debian's opencv-data cascade.
pub const HAAR_CASCADE: &str =
    "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";

/// Everything needed to build an engine; plain data, so a pool can build one per worker.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub kind: EngineKind,
    /// For `Hybrid`: the engine tried first (`Insightface` or `Opencv`).
    pub primary: EngineKind,
    pub runtime: RuntimeConfig,
    pub models: ModelPaths,
    /// Fixed square detector input (multiple of 32).
    pub det_size: u32,
    /// Detections below this score are dropped.
    pub det_threshold: f32,
    /// A face below this score counts as a weak detection (CLAHE retry, then the other engine).
    pub low_score: f32,
    pub image_limits: ImageLimits,
}

impl EngineConfig {
    /// The shipped defaults for `kind` on `runtime` with `models`.
    pub fn new(kind: EngineKind, runtime: RuntimeConfig, models: ModelPaths) -> Self {
        Self {
            kind,
            primary: EngineKind::Insightface,
            runtime,
            models,
            det_size: 320,
            det_threshold: 0.5,
            low_score: 0.6,
            image_limits: ImageLimits::default(),
        }
    }
}

/// What an engine is, for logs and /admin.
#[derive(Debug, Clone, Serialize)]
pub struct EngineInfo {
    pub kind: EngineKind,
    pub detector: String,
    pub device: ActiveDevice,
}

/// A face engine owned by exactly one worker: `analyze` takes `&mut self`, no state is shared.
pub trait FaceEngine {
    /// Finds the largest face, aligns and embeds it.
    fn analyze(&mut self, image: &DecodedImage) -> Result<FaceAnalysis>;
    /// Loads everything lazily loaded and runs one inference with the real shapes.
    fn warm_up(&mut self) -> Result<()>;
    fn info(&self) -> EngineInfo;

    /// Decodes `bytes` with the engine's limits and analyses the image.
    fn analyze_bytes(&mut self, bytes: &[u8], limits: ImageLimits) -> Result<FaceAnalysis> {
        let t = Instant::now();
        let image = decode_image(bytes, limits)?;
        let decode_ms = ms(t);
        let mut a = self.analyze(&image)?;
        a.timings.decode_ms = decode_ms;
        Ok(a)
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// One detector + one recognizer.
struct Pipeline {
    engine: &'static str,
    detector: Box<dyn Detector>,
    recognizer: Box<dyn Recognizer>,
    device: ActiveDevice,
}

/// A detection pass on one image (original or enhanced).
struct Attempt {
    faces: Vec<FaceBox>,
    enhanced: Option<Mat>,
    lighting: Lighting,
    detect_ms: f64,
}

impl Attempt {
    fn largest(&self) -> Option<&FaceBox> {
        self.faces
            .iter()
            .max_by(|a, b| a.area().total_cmp(&b.area()))
    }
    fn best_score(&self) -> f32 {
        self.largest().map(|f| f.score).unwrap_or(0.0)
    }
}

fn face_rect(f: &FaceBox) -> Rect {
    Rect::new(f.x as i32, f.y as i32, f.width as i32, f.height as i32)
}

impl Pipeline {
    fn insightface(cfg: &EngineConfig) -> Result<Self> {
        // Building a session (graph optimisation, weight packing) is most of a one-shot
        // command's start: the recognizer builds on a second thread while the detector builds.
        let (det, rec) = std::thread::scope(|s| {
            let rec = s.spawn(|| OrtArcFace::load(&cfg.runtime, &cfg.models.arcface));
            let det = Scrfd::load(
                &cfg.runtime,
                &cfg.models.scrfd,
                cfg.det_size,
                cfg.det_threshold,
            );
            let rec = rec
                .join()
                .map_err(|_| VisionError::Runtime("loading the recognizer panicked".into()))?;
            Ok::<_, VisionError>((det?, rec?))
        })?;
        let device = rec.device();
        tracing::info!(engine = "insightface", %device, "face engine loaded");
        Ok(Self {
            engine: "insightface",
            detector: Box::new(det),
            recognizer: Box::new(rec),
            device,
        })
    }

    fn opencv(cfg: &EngineConfig) -> Result<Self> {
        let detector: Box<dyn Detector> = match &cfg.models.yunet {
            Some(p) => Box::new(YuNet::load(p, cfg.det_size, cfg.det_threshold)?),
            None => {
                tracing::warn!(
                    "YuNet model not found; the opencv engine uses OpenCV's Haar cascade (less accurate)"
                );
                Box::new(Haar::load(&cfg.models.haar)?)
            }
        };
        let rec = CvArcFace::load(&cfg.models.arcface)?;
        tracing::info!(
            engine = "opencv",
            detector = detector.name(),
            "face engine loaded"
        );
        Ok(Self {
            engine: "opencv",
            detector,
            recognizer: Box::new(rec),
            device: ActiveDevice::Cpu,
        })
    }

    fn build(kind: EngineKind, cfg: &EngineConfig) -> Result<Self> {
        match kind {
            EngineKind::Opencv => Self::opencv(cfg),
            _ => Self::insightface(cfg),
        }
    }

    /// Detects on the image; retries on a CLAHE-enhanced copy when no face is found, the face
    /// is weak, or its light is poor, and keeps whichever pass found the stronger face.
    fn attempt(&mut self, image: &Mat, low_score: f32) -> Result<Attempt> {
        let t = Instant::now();
        let faces = self.detector.detect(image)?;
        let mut first = Attempt {
            lighting: lighting::measure(image, faces.first().map(face_rect))?,
            faces,
            enhanced: None,
            detect_ms: ms(t),
        };
        if first.best_score() >= low_score && !first.lighting.is_poor() {
            return Ok(first);
        }
        let t = Instant::now();
        let enhanced = lighting::clahe(image)?;
        let faces = self.detector.detect(&enhanced)?;
        let detect_ms = first.detect_ms + ms(t);
        if faces.is_empty() && first.faces.is_empty() {
            first.detect_ms = detect_ms;
            return Ok(first);
        }
        let second = Attempt {
            lighting: lighting::measure(&enhanced, faces.first().map(face_rect))?,
            faces,
            enhanced: Some(enhanced),
            detect_ms,
        };
        Ok(if second.best_score() > first.best_score() {
            second
        } else {
            first.detect_ms = detect_ms;
            first
        })
    }

    fn acceptable(a: &Attempt, low_score: f32) -> bool {
        a.best_score() >= low_score && !a.lighting.is_poor()
    }

    fn finish(
        &mut self,
        image: &Mat,
        attempt: Attempt,
        fallback_reason: Option<String>,
    ) -> Result<FaceAnalysis> {
        let face = attempt.largest().cloned().ok_or(VisionError::NoFace)?;
        let source = attempt.enhanced.as_ref().unwrap_or(image);
        let t = Instant::now();
        let aligned = align_face(source, &face.landmarks)?;
        let align_ms = ms(t);
        let t = Instant::now();
        let mut vectors = self.recognizer.embed(&[&aligned])?;
        let embed_ms = ms(t);
        let vector = vectors
            .pop()
            .ok_or_else(|| VisionError::Runtime("recognizer returned nothing".into()))?;
        let mut notes = Vec::new();
        if attempt.faces.len() > 1 {
            notes.push(format!(
                "{} faces found; the largest was used",
                attempt.faces.len()
            ));
        }
        if !face.landmarks_detected {
            notes.push("landmarks estimated from the face box (Haar cascade)".into());
        }
        if attempt.lighting.is_poor() {
            notes.push(format!("lighting: {}", attempt.lighting.describe()));
        }
        let used = attempt.largest().map(|f| f as *const FaceBox);
        let runner_up = attempt
            .faces
            .iter()
            .filter(|f| Some(*f as *const FaceBox) != used)
            .max_by(|a, b| a.area().total_cmp(&b.area()))
            .cloned();
        Ok(FaceAnalysis {
            faces_found: attempt.faces.len(),
            runner_up,
            embedding: Embedding {
                vector,
                model: MODEL_ID.into(),
                engine: self.engine.into(),
            },
            detector: self.detector.name().into(),
            enhanced: attempt.enhanced.is_some(),
            fallback_reason,
            notes,
            timings: StageTimings {
                decode_ms: 0.0,
                detect_ms: attempt.detect_ms,
                align_ms,
                embed_ms,
            },
            image_width: opencv::prelude::MatTraitConst::cols(image),
            image_height: opencv::prelude::MatTraitConst::rows(image),
            face,
        })
    }

    fn warm_up(&mut self) -> Result<()> {
        let img = Mat::new_rows_cols_with_default(
            480,
            640,
            opencv::core::CV_8UC3,
            opencv::core::Scalar::all(128.0),
        )?;
        self.detector.detect(&img)?;
        let crop = Mat::new_rows_cols_with_default(
            112,
            112,
            opencv::core::CV_8UC3,
            opencv::core::Scalar::all(128.0),
        )?;
        self.recognizer.embed(&[&crop])?;
        Ok(())
    }
}

/// One engine on its own, with the CLAHE retry.
struct SingleEngine {
    kind: EngineKind,
    pipeline: Pipeline,
    low_score: f32,
}

impl FaceEngine for SingleEngine {
    fn analyze(&mut self, image: &DecodedImage) -> Result<FaceAnalysis> {
        let attempt = self.pipeline.attempt(&image.mat, self.low_score)?;
        self.pipeline.finish(&image.mat, attempt, None)
    }
    fn warm_up(&mut self) -> Result<()> {
        self.pipeline.warm_up()
    }
    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: self.kind,
            detector: self.pipeline.detector.name().into(),
            device: self.pipeline.device,
        }
    }
}

/// Primary first; the secondary (built on first need) when the primary struggles.
struct HybridEngine {
    cfg: EngineConfig,
    primary: Pipeline,
    secondary: Option<Pipeline>,
}

impl HybridEngine {
    fn secondary_kind(&self) -> EngineKind {
        if self.cfg.primary == EngineKind::Opencv {
            EngineKind::Insightface
        } else {
            EngineKind::Opencv
        }
    }

    fn secondary(&mut self) -> Result<&mut Pipeline> {
        if self.secondary.is_none() {
            self.secondary = Some(Pipeline::build(self.secondary_kind(), &self.cfg)?);
        }
        self.secondary
            .as_mut()
            .ok_or_else(|| VisionError::Runtime("secondary engine unavailable".into()))
    }
}

impl FaceEngine for HybridEngine {
    fn analyze(&mut self, image: &DecodedImage) -> Result<FaceAnalysis> {
        let low = self.cfg.low_score;
        let a = self.primary.attempt(&image.mat, low)?;
        if Pipeline::acceptable(&a, low) {
            return self.primary.finish(&image.mat, a, None);
        }
        let reason = match a.largest() {
            None => format!("{} found no face", self.primary.engine),
            Some(f) if f.score < low => format!(
                "{} found the face only with score {:.2} (< {low:.2})",
                self.primary.engine, f.score
            ),
            Some(_) => format!(
                "poor lighting ({}) even after contrast enhancement",
                a.lighting.describe()
            ),
        };
        let primary_score = a.best_score();
        let b = self.secondary()?.attempt(&image.mat, low)?;
        if b.best_score() > primary_score {
            let reason = format!("{reason}; used {}", self.secondary_kind());
            return self.secondary()?.finish(&image.mat, b, Some(reason));
        }
        // The secondary did no better: keep the primary's face if it has one.
        self.primary.finish(&image.mat, a, Some(reason))
    }

    fn warm_up(&mut self) -> Result<()> {
        self.primary.warm_up()?;
        self.secondary()?.warm_up()
    }

    fn info(&self) -> EngineInfo {
        EngineInfo {
            kind: EngineKind::Hybrid,
            detector: match &self.secondary {
                Some(s) => format!("{}+{}", self.primary.detector.name(), s.detector.name()),
                None => self.primary.detector.name().into(),
            },
            device: self.primary.device,
        }
    }
}

/// Builds the configured engine. Call it on the thread that will use the engine.
pub fn build_engine(cfg: &EngineConfig) -> Result<Box<dyn FaceEngine>> {
    let low_score = cfg.low_score;
    Ok(match cfg.kind {
        EngineKind::Hybrid => {
            let primary = Pipeline::build(cfg.primary, cfg)?;
            Box::new(HybridEngine {
                cfg: cfg.clone(),
                primary,
                secondary: None,
            })
        }
        kind => Box::new(SingleEngine {
            kind,
            pipeline: Pipeline::build(kind, cfg)?,
            low_score,
        }),
    })
}
