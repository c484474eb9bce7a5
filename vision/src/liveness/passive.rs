//! Passive anti-spoofing: MiniFASNetV2 (face box ×2.7) and MiniFASNetV1SE (×4.0) of the
//! Silent-Face-Anti-Spoofing project, on ONNX Runtime, tell a face in front of the camera from a
//! printed photo or a screen held to it. Preprocessing as that project's: the box scaled about
//! its centre (capped so it fits, shifted back inside), cropped, resized to 80×80, BGR 0..255
//! floats unnormalised; the two softmaxes are added, class 1 is real. The files are optional
//! (`../shared/models/`, or the models folder): without them the check says it is unavailable.

use crate::error::{Result, VisionError};
use crate::runtime::{RuntimeConfig, session};
use ndarray::Array4;
use opencv::core::{Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;
use ort::session::Session;
use ort::value::TensorRef;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// File names of the two models.
pub const V2_FILE: &str = "minifasnet_v2_80x80.onnx";
pub const V1SE_FILE: &str = "minifasnet_v1se_80x80.onnx";
/// The models' input side.
const SIDE: i32 = 80;
/// Class 1 of the three is a real face; 0 and 2 are two kinds of attack.
const REAL: usize = 1;

/// A face box in image pixels (x, y, width, height).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceRect {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

/// The passive check on one face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassiveScore {
    /// The combined probability that the face is real (0..1): half the sum of the two
    /// models' softmax for class 1.
    pub real: f32,
    /// The winning class of the summed softmaxes is "real".
    pub is_real: bool,
    /// The winning class's combined probability (the project's "confidence").
    pub confidence: f32,
}

/// Where the two model files are, if both are.
pub fn find_models(dirs: &[PathBuf]) -> Option<(PathBuf, PathBuf)> {
    dirs.iter().find_map(|d| {
        let (a, b) = (d.join(V2_FILE), d.join(V1SE_FILE));
        (a.is_file() && b.is_file()).then_some((a, b))
    })
}

/// The two MiniFASNet models, loaded once per worker.
pub struct Passive {
    models: [(Session, f32); 2],
}

impl Passive {
    /// Loads MiniFASNetV2 from `v2` and MiniFASNetV1SE from `v1se`.
    pub fn load(cfg: &RuntimeConfig, v2: &Path, v1se: &Path) -> Result<Self> {
        Ok(Self {
            models: [(session(cfg, v2)?.0, 2.7), (session(cfg, v1se)?.0, 4.0)],
        })
    }

    /// The passive score of the face at `face` in `image` (8-bit BGR).
    pub fn score(&mut self, image: &Mat, face: FaceRect) -> Result<PassiveScore> {
        let mut sum = [0f32; 3];
        for (model, scale) in &mut self.models {
            let crop = crop(image, face, *scale)?;
            let input = tensor(&crop)?;
            let outputs = model.run(ort::inputs![TensorRef::from_array_view(&input)?])?;
            let (_, logits) = outputs[0].try_extract_tensor::<f32>()?;
            if logits.len() != 3 {
                return Err(VisionError::Runtime(format!(
                    "the anti-spoofing model returned {} values, not 3",
                    logits.len()
                )));
            }
            for (s, p) in sum.iter_mut().zip(softmax(logits)) {
                *s += p;
            }
        }
        let label = (0..3)
            .max_by(|&a, &b| sum[a].total_cmp(&sum[b]))
            .unwrap_or(REAL);
        Ok(PassiveScore {
            real: sum[REAL] / 2.0,
            is_real: label == REAL,
            confidence: sum[label] / 2.0,
        })
    }
}

fn softmax(logits: &[f32]) -> [f32; 3] {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f32> = logits.iter().map(|v| (v - max).exp()).collect();
    let total: f32 = e.iter().sum();
    [e[0] / total, e[1] / total, e[2] / total]
}

/// The face's surroundings the model was trained on: `face` scaled about its centre by
/// `scale` (less when that would not fit the image), moved back inside, resized to 80×80.
pub fn crop(image: &Mat, face: FaceRect, scale: f32) -> Result<Mat> {
    let (w, h) = (image.cols() as f32, image.rows() as f32);
    if face.width <= 0.0 || face.height <= 0.0 || w < 2.0 || h < 2.0 {
        return Err(VisionError::EmptyInput);
    }
    let scale = scale
        .min((h - 1.0) / face.height)
        .min((w - 1.0) / face.width);
    let (nw, nh) = (face.width * scale, face.height * scale);
    let (cx, cy) = (face.x + face.width / 2.0, face.y + face.height / 2.0);
    let (mut x0, mut y0, mut x1, mut y1) =
        (cx - nw / 2.0, cy - nh / 2.0, cx + nw / 2.0, cy + nh / 2.0);
    if x0 < 0.0 {
        x1 -= x0;
        x0 = 0.0;
    }
    if y0 < 0.0 {
        y1 -= y0;
        y0 = 0.0;
    }
    if x1 > w - 1.0 {
        x0 -= x1 - w + 1.0;
        x1 = w - 1.0;
    }
    if y1 > h - 1.0 {
        y0 -= y1 - h + 1.0;
        y1 = h - 1.0;
    }
    // As the project: integer corners, both inclusive.
    let (x0, y0, x1, y1) = (x0.max(0.0) as i32, y0.max(0.0) as i32, x1 as i32, y1 as i32);
    let roi = Mat::roi(image, Rect::new(x0, y0, x1 - x0 + 1, y1 - y0 + 1))?;
    let mut out = Mat::default();
    imgproc::resize(
        &roi,
        &mut out,
        Size::new(SIDE, SIDE),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )?;
    Ok(out)
}

/// An 80×80 BGR crop as a 1×3×80×80 tensor, BGR planes, 0..255.
fn tensor(crop: &Mat) -> Result<Array4<f32>> {
    let s = SIDE as usize;
    let mut t = Array4::<f32>::zeros((1, 3, s, s));
    let bytes = crop.data_bytes()?;
    if bytes.len() != 3 * s * s {
        return Err(VisionError::Runtime(
            "the face crop is not 80×80 BGR".into(),
        ));
    }
    for (p, px) in bytes.chunks_exact(3).enumerate() {
        for c in 0..3 {
            t[[0, c, p / s, p % s]] = f32::from(px[c]);
        }
    }
    Ok(t)
}
