//! What every face detector shares: the `Detector` trait, the fixed-size letterbox that keeps
//! input shapes constant, and non-maximum suppression.

use crate::error::{Result, VisionError};
use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;

use super::FaceBox;

/// Refuses detector input sizes the networks cannot take.
pub(crate) fn check_input_side(side: u32) -> Result<()> {
    if side < 64 || !side.is_multiple_of(32) {
        return Err(VisionError::Runtime(format!(
            "detector input size {side} must be a multiple of 32 and at least 64"
        )));
    }
    Ok(())
}

/// Something that finds faces in a BGR image.
pub trait Detector {
    /// Faces with score ≥ the detector's threshold, best first, in image coordinates.
    fn detect(&mut self, image: &Mat) -> Result<Vec<FaceBox>>;
    /// Short name recorded with the result (`scrfd`, `yunet`, `haar`).
    fn name(&self) -> &'static str;
}

/// The letterbox geometry: the image is scaled by `scale` and pasted at the top-left.
pub(crate) struct Letterbox {
    pub scale: f32,
}

/// Resizes `image` to fit `side`×`side` keeping its aspect ratio, padding right/bottom with zeros.
pub(crate) fn letterbox(image: &Mat, side: i32) -> Result<(Mat, Letterbox)> {
    let (w, h) = (image.cols(), image.rows());
    let scale = (side as f32 / w as f32).min(side as f32 / h as f32);
    let nw = ((w as f32 * scale).round() as i32).clamp(1, side);
    let nh = ((h as f32 * scale).round() as i32).clamp(1, side);
    let mut resized = Mat::default();
    imgproc::resize(
        image,
        &mut resized,
        Size::new(nw, nh),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )?;
    let mut padded = Mat::default();
    opencv::core::copy_make_border(
        &resized,
        &mut padded,
        0,
        side - nh,
        0,
        side - nw,
        opencv::core::BORDER_CONSTANT,
        opencv::core::Scalar::all(0.0),
    )?;
    Ok((padded, Letterbox { scale }))
}

fn iou(a: &FaceBox, b: &FaceBox) -> f32 {
    let x1 = a.x.max(b.x);
    let y1 = a.y.max(b.y);
    let x2 = (a.x + a.width).min(b.x + b.width);
    let y2 = (a.y + a.height).min(b.y + b.height);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    let union = a.area() + b.area() - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy non-maximum suppression; returns the kept boxes, best score first.
pub(crate) fn nms(mut boxes: Vec<FaceBox>, iou_threshold: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<FaceBox> = Vec::new();
    for b in boxes {
        if kept.iter().all(|k| iou(k, &b) < iou_threshold) {
            kept.push(b);
        }
    }
    kept
}
