//! The dense pass's per-frame work: the face found (SCRFD at a small size), its 106 landmarks,
//! the head and eyes measured from them, and now and then the passive anti-spoofing score. One
//! tracker per engine worker, like the face engines: its models are its own.
//!
//! Where the face was a moment ago is known (`Follow`), SCRFD looks only at the region around
//! it, at a quarter of the pixels; the whole frame is searched when nothing is known or the
//! face has left that region.

use super::actions::Sample;
use super::landmarks::{LANDMARKS_FILE, Landmarks, Points};
use super::motion::{FaceMotion, face_motion};
use super::passive::{FaceRect, Passive, PassiveScore};
use crate::error::{Result, VisionError};
use crate::face::FaceBox;
use crate::face::detect::Detector;
use crate::face::scrfd::Scrfd;
use crate::runtime::RuntimeConfig;
use opencv::core::Mat;
use opencv::prelude::*;
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

/// SCRFD's input side for the region around the last known face.
pub const REGION_DET_SIZE: u32 = 160;
/// The region is this many times the last face box's longer side, square, about its centre:
/// the face may have moved by most of its width since and is still inside.
pub const REGION_CONTEXT: f32 = 2.5;
/// A face seen longer ago than this (ms before the frame) does not say where to look.
pub const FOLLOW_MAX_AGE_MS: f64 = 1000.0;

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
    /// Faces SCRFD found: in the whole frame, or in the region around the last known face
    /// when `region` (a face elsewhere is then not counted).
    pub faces: usize,
    /// Whether SCRFD searched only the region around the last known face.
    pub region: bool,
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

/// Where the face was last seen, from the tracked frames as they come back (in any order, as
/// they do from a pool of workers): the hint for the next frames' search.
#[derive(Debug, Clone, Copy, Default)]
pub struct Follow {
    last: Option<(f64, FaceRect)>,
}

impl Follow {
    /// Takes in a tracked frame; a later frame's face replaces an earlier one's.
    pub fn observe(&mut self, frame: &TrackedFrame) {
        if let Some(rect) = frame.rect
            && self.last.is_none_or(|(t, _)| frame.t_ms > t)
        {
            self.last = Some((frame.t_ms, rect));
        }
    }

    /// Where to look for the face of the frame at `t_ms`: the last face seen before it, if it
    /// was seen recently enough.
    pub fn hint(&self, t_ms: f64) -> Option<FaceRect> {
        self.last
            .filter(|(t, _)| *t <= t_ms && t_ms - *t <= FOLLOW_MAX_AGE_MS)
            .map(|(_, r)| r)
    }
}

/// The square region, `REGION_CONTEXT` times the box's longer side about its centre, clipped
/// to a `cols`×`rows` image; None when too little of it is inside.
fn region_around(b: FaceRect, cols: i32, rows: i32) -> Option<opencv::core::Rect> {
    let side = b.width.max(b.height) * REGION_CONTEXT;
    let (cx, cy) = (b.x + b.width / 2.0, b.y + b.height / 2.0);
    let x0 = ((cx - side / 2.0).floor() as i32).clamp(0, cols);
    let y0 = ((cy - side / 2.0).floor() as i32).clamp(0, rows);
    let x1 = ((cx + side / 2.0).ceil() as i32).clamp(0, cols);
    let y1 = ((cy + side / 2.0).ceil() as i32).clamp(0, rows);
    let (w, h) = (x1 - x0, y1 - y0);
    // A region smaller than a third of its side across is the face leaving the picture: search
    // the whole frame.
    let min = (side / 3.0) as i32;
    (w >= min.max(16) && h >= min.max(16)).then(|| opencv::core::Rect::new(x0, y0, w, h))
}

/// The dense pass's models.
pub struct Tracker {
    scrfd: Scrfd,
    /// SCRFD again, at `REGION_DET_SIZE`, for the region around the last known face.
    near: Scrfd,
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
            near: Scrfd::load(&cfg.runtime, &cfg.scrfd, REGION_DET_SIZE, cfg.det_threshold)?,
            landmarks: Landmarks::load(&cfg.runtime, &cfg.landmarks)?,
            passive,
        })
    }

    /// Whether the passive models are loaded.
    pub fn has_passive(&self) -> bool {
        self.passive.is_some()
    }

    /// The faces of `image`: in the region around `near` when it holds one, else in the whole
    /// frame; and whether only the region was searched.
    fn detect(&mut self, image: &Mat, near: Option<FaceRect>) -> Result<(Vec<FaceBox>, bool)> {
        if let Some(r) = near.and_then(|b| region_around(b, image.cols(), image.rows())) {
            let found = self.near.detect(&Mat::roi(image, r)?.try_clone()?)?;
            if !found.is_empty() {
                let (dx, dy) = (r.x as f32, r.y as f32);
                let moved = found
                    .into_iter()
                    .map(|mut f| {
                        f.x += dx;
                        f.y += dy;
                        for p in &mut f.landmarks {
                            p[0] += dx;
                            p[1] += dy;
                        }
                        f
                    })
                    .collect();
                return Ok((moved, true));
            }
        }
        Ok((self.scrfd.detect(image)?, false))
    }

    /// The frame `image` (8-bit BGR) at `t_ms`: its largest face's landmarks and motion, and
    /// its passive score when `passive` is asked for. `near` is where the face was last seen
    /// (`Follow::hint`), if known.
    pub fn track(
        &mut self,
        image: &Mat,
        t_ms: f64,
        passive: bool,
        near: Option<FaceRect>,
    ) -> Result<TrackedFrame> {
        let (faces, region) = self.detect(image, near)?;
        let largest = faces.iter().max_by(|a, b| a.area().total_cmp(&b.area()));
        let mut out = TrackedFrame {
            t_ms,
            faces: faces.len(),
            region,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(t_ms: f64, x: f32) -> TrackedFrame {
        TrackedFrame {
            t_ms,
            faces: 1,
            region: false,
            rect: Some(FaceRect {
                x,
                y: 100.0,
                width: 80.0,
                height: 100.0,
            }),
            points: None,
            motion: None,
            passive: None,
        }
    }

    #[test]
    fn the_latest_face_seen_is_followed_whatever_order_frames_come_back_in() {
        let mut f = Follow::default();
        assert_eq!(f.hint(0.0), None, "nothing seen yet");
        f.observe(&frame(250.0, 20.0));
        f.observe(&frame(125.0, 10.0));
        assert_eq!(f.hint(375.0).map(|r| r.x), Some(20.0));
        let faceless = TrackedFrame {
            rect: None,
            ..frame(500.0, 0.0)
        };
        f.observe(&faceless);
        assert_eq!(
            f.hint(625.0).map(|r| r.x),
            Some(20.0),
            "a faceless frame moves nothing"
        );
        assert_eq!(f.hint(250.0 + FOLLOW_MAX_AGE_MS + 1.0), None, "too old");
        assert_eq!(
            f.hint(200.0),
            None,
            "a later frame does not hint an earlier one"
        );
    }

    #[test]
    fn the_region_is_clipped_to_the_image_and_dropped_when_the_face_leaves_it() {
        let b = FaceRect {
            x: 300.0,
            y: 200.0,
            width: 80.0,
            height: 100.0,
        };
        let r = region_around(b, 640, 480).expect("inside");
        assert_eq!((r.width, r.height), (250, 250));
        assert!(r.x <= 300 && r.x + r.width >= 380 && r.y <= 200 && r.y + r.height >= 300);
        let edge = FaceRect { x: 600.0, ..b };
        let r = region_around(edge, 640, 480).expect("partly inside");
        assert_eq!(r.x + r.width, 640);
        let gone = FaceRect { x: 700.0, ..b };
        assert_eq!(region_around(gone, 640, 480), None);
    }
}
