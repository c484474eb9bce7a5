//! The dense pass's per-frame work: the face found (SCRFD at a small size), its 106 landmarks,
//! the head and eyes measured from them, and now and then the passive anti-spoofing score. One
//! tracker per engine worker, like the face engines: its models are its own.

use super::actions::Sample;
use super::landmarks::{LANDMARKS_FILE, Landmarks, Points};
use super::motion::{FaceMotion, face_motion};
use super::passive::{FaceRect, Passive, PassiveScore};
use crate::error::{Result, VisionError};
use crate::face::detect::Detector;
use crate::face::scrfd::Scrfd;
use crate::runtime::RuntimeConfig;
use opencv::core::Mat;
use std::path::{Path, PathBuf};

/// Where the tracker's models are and how it finds faces.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    pub runtime: RuntimeConfig,
    pub scrfd: PathBuf,
    pub landmarks: PathBuf,
    /// MiniFASNetV2 and V1SE, when both files were found.
    pub passive: Option<(PathBuf, PathBuf)>,
    /// SCRFD's input side for the dense pass: the face fills much of a selfie frame, so a
    /// small one suffices.
    pub det_size: u32,
    pub det_threshold: f32,
}

impl TrackerConfig {
    /// The landmark model in `models_dir`, SCRFD at `scrfd`, the passive models if found.
    pub fn new(runtime: RuntimeConfig, scrfd: &Path, models_dir: &Path) -> Self {
        Self {
            runtime,
            scrfd: scrfd.to_path_buf(),
            landmarks: models_dir.join(LANDMARKS_FILE),
            passive: None,
            det_size: 320,
            det_threshold: 0.5,
        }
    }
}

/// One frame of the dense pass.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackedFrame {
    pub t_ms: f64,
    /// Faces SCRFD found.
    pub faces: usize,
    /// The largest face's box, landmarks and motion.
    pub rect: Option<FaceRect>,
    pub points: Option<Box<Points>>,
    pub motion: Option<FaceMotion>,
    /// The passive score of the largest face, when it was asked for and the models exist.
    pub passive: Option<PassiveScore>,
}

impl TrackedFrame {
    /// The frame as the action finder sees it.
    pub fn sample(&self) -> Sample {
        Sample {
            t_ms: self.t_ms,
            motion: self.motion,
        }
    }
}

/// The dense pass's models.
pub struct Tracker {
    scrfd: Scrfd,
    landmarks: Landmarks,
    passive: Option<Passive>,
}

impl Tracker {
    pub fn load(cfg: &TrackerConfig) -> Result<Self> {
        for (what, path) in [
            ("SCRFD", &cfg.scrfd),
            ("the landmark model", &cfg.landmarks),
        ] {
            if !path.is_file() {
                return Err(VisionError::Model {
                    path: path.display().to_string(),
                    reason: format!("{what} is missing; run `kyc models fetch`"),
                });
            }
        }
        let passive = match &cfg.passive {
            Some((v2, v1se)) => Some(Passive::load(&cfg.runtime, v2, v1se)?),
            None => None,
        };
        Ok(Self {
            scrfd: Scrfd::load(&cfg.runtime, &cfg.scrfd, cfg.det_size, cfg.det_threshold)?,
            landmarks: Landmarks::load(&cfg.runtime, &cfg.landmarks)?,
            passive,
        })
    }

    /// Whether the passive models are loaded.
    pub fn has_passive(&self) -> bool {
        self.passive.is_some()
    }

    /// The frame `image` (8-bit BGR) at `t_ms`: its largest face's landmarks and motion, and
    /// its passive score when `passive` is asked for.
    pub fn track(&mut self, image: &Mat, t_ms: f64, passive: bool) -> Result<TrackedFrame> {
        let faces = self.scrfd.detect(image)?;
        let largest = faces.iter().max_by(|a, b| a.area().total_cmp(&b.area()));
        let mut out = TrackedFrame {
            t_ms,
            faces: faces.len(),
            rect: None,
            points: None,
            motion: None,
            passive: None,
        };
        if let Some(b) = largest {
            let rect = FaceRect {
                x: b.x,
                y: b.y,
                width: b.width,
                height: b.height,
            };
            let points = self.landmarks.points(image, rect)?;
            out.motion = Some(face_motion(&points));
            out.points = Some(Box::new(points));
            out.rect = Some(rect);
            if passive && let Some(p) = &mut self.passive {
                out.passive = Some(p.score(image, rect)?);
            }
        }
        Ok(out)
    }
}
