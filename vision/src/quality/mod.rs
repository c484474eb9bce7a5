//! The ID capture quality gate: run on every live camera frame, it says whether the card in
//! view is good enough to read (sharp, well lit, flat and straight, whole and close enough) and,
//! when not, what the person should do, in Korean and English.

mod checks;
mod metrics;

pub use checks::{
    ANGLE_MAX_ASPECT_ERROR, ANGLE_MAX_CORNER_DEVIATION_DEG, ANGLE_MAX_ROTATION_DEG,
    ANGLE_MIN_SIDE_RATIO, COMPLETENESS_MARGIN, COMPLETENESS_MAX_AREA, COMPLETENESS_MIN_AREA,
    LIGHTING_MAX_BRIGHTNESS, LIGHTING_MAX_GLARE, LIGHTING_MIN_BRIGHTNESS, LIGHTING_MIN_CONTRAST,
    LIGHTING_MIN_EVENNESS, SHARPNESS_MIN,
};
pub use metrics::Metrics;

use crate::card::Quad;
use crate::card::detect::{Detection, detect_card};
use crate::error::{Result, VisionError};
use opencv::core::{Mat, MatTraitConst};
use serde::Serialize;
use std::time::Instant;

/// A short instruction or verdict for the person holding the card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub ko: String,
    pub en: String,
}

impl Message {
    pub(crate) fn new(ko: &str, en: &str) -> Self {
        Self {
            ko: ko.to_owned(),
            en: en.to_owned(),
        }
    }
}

/// One check of the gate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckResult {
    /// 0 (hopeless) ..= 1 (perfect); a check passes from about 0.5 up.
    pub score: f32,
    pub passed: bool,
    pub message: Message,
}

/// The four checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Checks {
    pub sharpness: CheckResult,
    pub lighting: CheckResult,
    pub angle: CheckResult,
    pub completeness: CheckResult,
}

impl Checks {
    /// The failing checks' messages, in the order a person should fix them.
    pub fn guidance(&self) -> Vec<&Message> {
        [
            &self.completeness,
            &self.angle,
            &self.lighting,
            &self.sharpness,
        ]
        .into_iter()
        .filter(|c| !c.passed)
        .map(|c| &c.message)
        .collect()
    }
}

/// Where the time of one assessment went, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timings {
    pub detect_ms: f64,
    pub measure_ms: f64,
    pub total_ms: f64,
}

/// The gate's answer for one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// All four checks passed: the frame can be captured.
    pub passed: bool,
    pub checks: Checks,
    /// The card outline found (TL, TR, BR, BL, frame pixels), if any.
    pub quad: Option<Quad>,
    /// How many card corners lie inside the frame (0 when no card was found).
    pub corners_inside: usize,
    /// The raw measurements the checks were decided on.
    pub metrics: Metrics,
    pub timings: Timings,
}

/// Runs the quality gate on one BGR camera frame.
pub fn assess(frame: &Mat) -> Result<QualityReport> {
    let t0 = Instant::now();
    if frame.empty() || frame.cols() <= 0 || frame.rows() <= 0 {
        return Err(VisionError::EmptyInput);
    }
    let detection = detect_card(frame)?;
    let detect_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let mut report = assess_detection(frame, detection.as_ref())?;
    report.timings.detect_ms = detect_ms;
    report.timings.measure_ms = t0.elapsed().as_secs_f64() * 1000.0 - detect_ms;
    report.timings.total_ms = t0.elapsed().as_secs_f64() * 1000.0;
    Ok(report)
}

/// Runs the checks for a card outline found elsewhere (or none).
pub fn assess_detection(frame: &Mat, detection: Option<&Detection>) -> Result<QualityReport> {
    let t0 = Instant::now();
    if frame.empty() {
        return Err(VisionError::EmptyInput);
    }
    let m = metrics::measure(frame, detection)?;
    let checks = Checks {
        sharpness: checks::sharpness(&m),
        lighting: checks::lighting(&m),
        angle: checks::angle(&m),
        completeness: checks::completeness(&m),
    };
    let passed = checks.sharpness.passed
        && checks.lighting.passed
        && checks.angle.passed
        && checks.completeness.passed;
    let ms = t0.elapsed().as_secs_f64() * 1000.0;
    Ok(QualityReport {
        passed,
        checks,
        quad: detection.map(|d| d.quad),
        corners_inside: detection.map_or(0, |d| d.corners_inside),
        metrics: m,
        timings: Timings {
            detect_ms: 0.0,
            measure_ms: ms,
            total_ms: ms,
        },
    })
}
