//! Per-frame quality of a selfie video: is this frame fit to compare a face from? One score in
//! 0..1 from five checks — one (clearly dominant) face, its size, its sharpness, its exposure,
//! a frontal pose (yaw/pitch from the five landmarks) — the weakest check sets the score and
//! names the frame's problem in words a person can act on.

use crate::card::detect::to_gray;
use crate::error::Result;
use crate::face::{FaceAnalysis, FaceBox};
use opencv::core::{Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};

/// What is wrong with a frame, worded for the person who recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameIssue {
    NoFace,
    MoreThanOnePerson,
    FaceTooSmall,
    Blurred,
    TooDark,
    TooBright,
    FaceTurnedAway,
}

impl FrameIssue {
    pub fn describe(self) -> &'static str {
        match self {
            Self::NoFace => "no face",
            Self::MoreThanOnePerson => "more than one person",
            Self::FaceTooSmall => "face too small",
            Self::Blurred => "blurred",
            Self::TooDark => "too dark",
            Self::TooBright => "too bright",
            Self::FaceTurnedAway => "face turned away",
        }
    }
}

/// Where each check starts to cost and where it fails outright. Every check maps its measure
/// linearly from `bad` (0) to `good` (1). The defaults were set on the real test photos and
/// degraded copies of them (`vision/tests/video_quality.rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameQualityPolicy {
    /// Frames scoring below this are not compared.
    pub min_score: f32,
    /// Shorter side of the face box, pixels.
    pub face_px: (f32, f32),
    /// Area of the second-largest face over the largest's.
    pub second_face_ratio: (f32, f32),
    /// Variance of the Laplacian of the face scaled to 112 px.
    pub sharpness: (f32, f32),
    /// Mean gray level of the face (of the frame when no face is found).
    pub dark: (f32, f32),
    pub bright: (f32, f32),
    /// Absolute yaw and pitch, degrees.
    pub yaw_deg: (f32, f32),
    pub pitch_deg: (f32, f32),
}

impl Default for FrameQualityPolicy {
    fn default() -> Self {
        Self {
            min_score: 0.8,
            face_px: (40.0, 90.0),
            second_face_ratio: (0.6, 0.2),
            sharpness: (15.0, 60.0),
            dark: (35.0, 65.0),
            bright: (245.0, 215.0),
            yaw_deg: (45.0, 25.0),
            // The five-point pitch is not zero on a frontal face: its zero is the ArcFace
            // template's nose half-way between eyes and mouth, and face shape and a smile move
            // it. Frontal stills of the 25 real test photos read -3..24° (median 13°), the real
            // liveness clips' frontal frames -15..13°: the ramp starts past them, at 30°.
            pitch_deg: (50.0, 30.0),
        }
    }
}

fn ramp(x: f32, (bad, good): (f32, f32)) -> f32 {
    if (good - bad).abs() < f32::EPSILON {
        return if x >= good { 1.0 } else { 0.0 };
    }
    ((x - bad) / (good - bad)).clamp(0.0, 1.0)
}

/// What was measured on a frame.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FrameMeasures {
    pub faces: usize,
    /// Shorter side of the face box, pixels.
    pub face_px: f32,
    pub sharpness: f32,
    /// Mean gray level of the face (of the frame when there is none).
    pub brightness: f32,
    pub yaw_deg: f32,
    pub pitch_deg: f32,
}

/// One frame's measures and score.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrameQuality {
    /// 0..1: the weakest check.
    pub score: f32,
    /// The weakest check when it cost anything (a score below 1).
    pub issue: Option<FrameIssue>,
    #[serde(flatten)]
    pub measures: FrameMeasures,
}

impl FrameQuality {
    /// Whether the frame is good enough to compare under `policy`.
    pub fn passes(&self, policy: &FrameQualityPolicy) -> bool {
        self.score >= policy.min_score
    }
}

/// Yaw and pitch in degrees from five landmarks (eyes, nose, mouth corners), after removing
/// roll. Yaw: the nose tip's offset from the face's midline over half the eye distance is
/// about tan(yaw) × nose depth / half eye distance (≈ 1 on adult faces). Pitch: where the nose
/// sits between the eye line and the mouth line (half-way, 0.5, on the ArcFace template's
/// frontal face).
pub fn head_pose(lm: &[[f32; 2]; 5]) -> (f32, f32) {
    let [le, re, nose, lm_, rm] = *lm;
    let eye_mid = [(le[0] + re[0]) / 2.0, (le[1] + re[1]) / 2.0];
    let mouth_mid = [(lm_[0] + rm[0]) / 2.0, (lm_[1] + rm[1]) / 2.0];
    let roll = (re[1] - le[1]).atan2(re[0] - le[0]);
    let (s, c) = (-roll).sin_cos();
    let rot = |p: [f32; 2]| {
        let (x, y) = (p[0] - eye_mid[0], p[1] - eye_mid[1]);
        [x * c - y * s, x * s + y * c]
    };
    let (n, m, r) = (rot(nose), rot(mouth_mid), rot(re));
    let half_eyes = r[0].abs().max(1.0);
    // The midline runs from the eye midpoint (origin) to the mouth midpoint.
    let mid_x = if m[1].abs() > 1.0 {
        m[0] * n[1] / m[1]
    } else {
        0.0
    };
    let yaw = ((n[0] - mid_x) / half_eyes).atan().to_degrees();
    let pitch = if m[1].abs() > 1.0 {
        (2.0 * (n[1] / m[1] - 0.5)).atan().to_degrees()
    } else {
        0.0
    };
    (yaw, pitch)
}

fn clamp_rect(f: &FaceBox, cols: i32, rows: i32) -> Option<Rect> {
    let x0 = (f.x.max(0.0) as i32).min(cols - 1);
    let y0 = (f.y.max(0.0) as i32).min(rows - 1);
    let x1 = ((f.x + f.width) as i32).clamp(x0 + 1, cols);
    let y1 = ((f.y + f.height) as i32).clamp(y0 + 1, rows);
    (x1 - x0 >= 8 && y1 - y0 >= 8).then(|| Rect::new(x0, y0, x1 - x0, y1 - y0))
}

/// Mean gray level and sharpness (variance of the Laplacian at 112 px) of a region.
fn measure(image: &Mat, r: Rect) -> Result<(f32, f32)> {
    let crop = to_gray(&Mat::roi(image, r)?.try_clone()?)?;
    let mean = opencv::core::mean_def(&crop)?[0] as f32;
    let mut small = Mat::default();
    imgproc::resize(
        &crop,
        &mut small,
        Size::new(112, 112),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )?;
    let mut lap = Mat::default();
    imgproc::laplacian_def(&small, &mut lap, opencv::core::CV_32F)?;
    let (mut m, mut sd) = (Mat::default(), Mat::default());
    opencv::core::mean_std_dev_def(&lap, &mut m, &mut sd)?;
    let sd = *sd.at::<f64>(0)? as f32;
    Ok((mean, sd * sd))
}

/// Scores one frame from the face analysis (`None` when no face was found).
pub fn assess(
    image: &Mat,
    face: Option<&FaceAnalysis>,
    policy: &FrameQualityPolicy,
) -> Result<FrameQuality> {
    let Some(a) = face else {
        // No face: a dark or blown-out frame is the likelier thing to tell the person.
        let brightness = opencv::core::mean_def(&to_gray(image)?)?[0] as f32;
        let issue = if ramp(brightness, policy.dark) < 1.0 {
            FrameIssue::TooDark
        } else if ramp(brightness, policy.bright) < 1.0 {
            FrameIssue::TooBright
        } else {
            FrameIssue::NoFace
        };
        return Ok(FrameQuality {
            score: 0.0,
            issue: Some(issue),
            measures: FrameMeasures {
                brightness,
                ..FrameMeasures::default()
            },
        });
    };
    let f = &a.face;
    let face_px = f.width.min(f.height);
    let (brightness, sharpness) = match clamp_rect(f, image.cols(), image.rows()) {
        Some(r) => measure(image, r)?,
        None => (0.0, 0.0),
    };
    let second = a
        .runner_up
        .as_ref()
        .map(|r| r.area() / f.area().max(1.0))
        .unwrap_or(0.0);
    let (yaw, pitch) = if f.landmarks_detected {
        head_pose(&f.landmarks)
    } else {
        (0.0, 0.0)
    };
    let checks = [
        (
            ramp(second, policy.second_face_ratio),
            FrameIssue::MoreThanOnePerson,
        ),
        (ramp(face_px, policy.face_px), FrameIssue::FaceTooSmall),
        (ramp(brightness, policy.dark), FrameIssue::TooDark),
        (ramp(brightness, policy.bright), FrameIssue::TooBright),
        (ramp(sharpness, policy.sharpness), FrameIssue::Blurred),
        (ramp(yaw.abs(), policy.yaw_deg), FrameIssue::FaceTurnedAway),
        (
            ramp(pitch.abs(), policy.pitch_deg),
            FrameIssue::FaceTurnedAway,
        ),
    ];
    let (score, issue) = checks
        .iter()
        .copied()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap_or((1.0, FrameIssue::NoFace));
    Ok(FrameQuality {
        score,
        issue: (score < 1.0).then_some(issue),
        measures: FrameMeasures {
            faces: a.faces_found,
            face_px,
            sharpness,
            brightness,
            yaw_deg: yaw,
            pitch_deg: pitch,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ArcFace 112×112 template: a frontal face.
    const FRONTAL: [[f32; 2]; 5] = [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ];

    #[test]
    fn the_template_is_frontal_even_rolled() {
        let (yaw, pitch) = head_pose(&FRONTAL);
        assert!(yaw.abs() < 2.0 && pitch.abs() < 2.0, "{yaw} {pitch}");
        // Rolled 30° about the nose: still frontal.
        let (s, c) = 30f32.to_radians().sin_cos();
        let rolled = FRONTAL.map(|[x, y]| {
            let (x, y) = (x - 56.0, y - 72.0);
            [x * c - y * s + 56.0, x * s + y * c + 72.0]
        });
        let (yaw, pitch) = head_pose(&rolled);
        assert!(yaw.abs() < 2.0 && pitch.abs() < 2.0, "{yaw} {pitch}");
    }

    #[test]
    fn a_nose_off_the_midline_is_yaw_and_a_low_nose_is_pitch() {
        let mut turned = FRONTAL;
        turned[2][0] += 15.0;
        let (yaw, _) = head_pose(&turned);
        assert!(yaw > 35.0, "{yaw}");
        let mut down = FRONTAL;
        down[2][1] += 12.0;
        let (_, pitch) = head_pose(&down);
        assert!(pitch > 25.0, "{pitch}");
    }

    #[test]
    fn ramps_clamp_and_run_both_ways() {
        assert_eq!(ramp(10.0, (40.0, 90.0)), 0.0);
        assert_eq!(ramp(100.0, (40.0, 90.0)), 1.0);
        assert!((ramp(80.0, (40.0, 90.0)) - 0.8).abs() < 1e-6);
        assert_eq!(ramp(0.1, (0.6, 0.2)), 1.0);
        assert_eq!(ramp(0.7, (0.6, 0.2)), 0.0);
    }
}
