//! OpenCV's Haar cascade (Debian opencv-data): the last-resort detector when YuNet's file is
//! absent. It finds boxes only; the five landmarks are estimated from the box.

use crate::error::{Result, VisionError};
use opencv::core::{Mat, Rect, Size, Vector};
use opencv::imgproc;
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;
use std::path::Path;

use super::FaceBox;
use super::detect::Detector;

/// Where the five landmarks sit, as fractions of a frontal Haar face box (typical frontal
/// proportions; checked against SCRFD's landmarks in the tests).
const LANDMARKS_IN_BOX: [[f32; 2]; 5] = [
    [0.31, 0.38],
    [0.69, 0.38],
    [0.50, 0.57],
    [0.35, 0.76],
    [0.65, 0.76],
];

pub struct Haar {
    cascade: CascadeClassifier,
    /// Images are scaled down to at most this side before detection.
    max_side: i32,
}

impl Haar {
    pub fn load(path: &Path) -> Result<Self> {
        let p = path.to_string_lossy().into_owned();
        if !path.is_file() {
            return Err(VisionError::Model {
                path: p,
                reason: "Haar cascade not found (install Debian's opencv-data)".into(),
            });
        }
        let cascade = CascadeClassifier::new(&p).map_err(|e| VisionError::Model {
            path: p.clone(),
            reason: e.message,
        })?;
        Ok(Self {
            cascade,
            max_side: 640,
        })
    }
}

impl Detector for Haar {
    fn detect(&mut self, image: &Mat) -> Result<Vec<FaceBox>> {
        let (w, h) = (image.cols(), image.rows());
        let scale = (self.max_side as f32 / w.max(h) as f32).min(1.0);
        let mut small = Mat::default();
        imgproc::resize(
            image,
            &mut small,
            Size::new(
                ((w as f32 * scale) as i32).max(1),
                ((h as f32 * scale) as i32).max(1),
            ),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )?;
        let mut gray = Mat::default();
        imgproc::cvt_color_def(&small, &mut gray, imgproc::COLOR_BGR2GRAY)?;
        let mut eq = Mat::default();
        imgproc::equalize_hist(&gray, &mut eq)?;
        let mut rects = Vector::<Rect>::new();
        let mut neighbours = Vector::<i32>::new();
        let min = (small.cols().min(small.rows()) / 10).max(24);
        self.cascade.detect_multi_scale2(
            &eq,
            &mut rects,
            &mut neighbours,
            1.1,
            3,
            0,
            Size::new(min, min),
            Size::default(),
        )?;
        let mut out = Vec::with_capacity(rects.len());
        for (r, n) in rects.iter().zip(neighbours.iter()) {
            // Haar has no probability; more overlapping detections mean more confidence.
            let score = 1.0 - (-(n as f32) / 8.0).exp();
            let (x, y) = (r.x as f32 / scale, r.y as f32 / scale);
            let (bw, bh) = (r.width as f32 / scale, r.height as f32 / scale);
            let mut landmarks = [[0f32; 2]; 5];
            for (lm, rel) in landmarks.iter_mut().zip(LANDMARKS_IN_BOX) {
                *lm = [x + rel[0] * bw, y + rel[1] * bh];
            }
            out.push(FaceBox {
                x,
                y,
                width: bw,
                height: bh,
                score,
                landmarks,
                landmarks_detected: false,
            });
        }
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(out)
    }

    fn name(&self) -> &'static str {
        "haar"
    }
}
