//! The 106 face landmarks of InsightFace's `2d106det.onnx`, from which the head's turn and the
//! eyes' opening are measured. The model takes a 192×192 crop around the face box (the box's
//! centre, its longer side ×1.5), RGB, unnormalised 0..255, and returns 212 values, (p + 1)·96
//! in the crop; the points are mapped back to the image here.

use crate::error::{Result, VisionError};
use crate::runtime::{RuntimeConfig, session};
use ndarray::Array4;
use opencv::core::{BORDER_CONSTANT, Mat, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;

use super::passive::FaceRect;

/// The model's file name (fetched with the other InsightFace models).
pub const LANDMARKS_FILE: &str = "2d106det.onnx";
/// The model's input side.
const SIDE: i32 = 192;
/// The crop is the face box's longer side times this.
const CONTEXT: f32 = 1.5;
/// How many points the model returns.
pub const POINTS: usize = 106;

/// The points of the eye on the image's left (the person's right eye), as the model numbers
/// them; the pupil is 38.
pub const LEFT_EYE: std::ops::RangeInclusive<usize> = 33..=42;
/// The points of the eye on the image's right; the pupil is 88.
pub const RIGHT_EYE: std::ops::RangeInclusive<usize> = 87..=96;
/// The nose tip.
pub const NOSE_TIP: usize = 86;
/// The mouth's points; its corners are 52 and 61.
pub const MOUTH: std::ops::RangeInclusive<usize> = 52..=71;

/// 106 points in image pixels.
pub type Points = [[f32; 2]; POINTS];

/// The landmark model, loaded once per worker.
pub struct Landmarks {
    session: Session,
    input: Array4<f32>,
}

impl Landmarks {
    pub fn load(cfg: &RuntimeConfig, model: &Path) -> Result<Self> {
        let s = SIDE as usize;
        Ok(Self {
            session: session(cfg, model)?.0,
            input: Array4::zeros((1, 3, s, s)),
        })
    }

    /// The 106 points of the face in `face` of `image` (8-bit BGR).
    pub fn points(&mut self, image: &Mat, face: FaceRect) -> Result<Points> {
        if face.width <= 0.0 || face.height <= 0.0 {
            return Err(VisionError::EmptyInput);
        }
        let scale = SIDE as f32 / (face.width.max(face.height) * CONTEXT);
        let (cx, cy) = (face.x + face.width / 2.0, face.y + face.height / 2.0);
        let half = SIDE as f32 / 2.0;
        // image → crop: p' = scale·(p − centre) + half
        let (tx, ty) = (half - scale * cx, half - scale * cy);
        let m = Mat::from_slice_2d(&[
            [f64::from(scale), 0.0, f64::from(tx)],
            [0.0, f64::from(scale), f64::from(ty)],
        ])?;
        let mut crop = Mat::default();
        imgproc::warp_affine(
            image,
            &mut crop,
            &m,
            Size::new(SIDE, SIDE),
            imgproc::INTER_LINEAR,
            BORDER_CONSTANT,
            Scalar::all(0.0),
        )?;
        let bytes = crop.data_bytes()?;
        let s = SIDE as usize;
        if bytes.len() != 3 * s * s {
            return Err(VisionError::Runtime("the landmark crop is not BGR".into()));
        }
        for (p, px) in bytes.chunks_exact(3).enumerate() {
            // BGR pixels → R, G, B planes.
            for c in 0..3 {
                self.input[[0, c, p / s, p % s]] = f32::from(px[2 - c]);
            }
        }
        let outputs = self
            .session
            .run(ort::inputs![TensorRef::from_array_view(&self.input)?])?;
        let (_, flat) = outputs[0].try_extract_tensor::<f32>()?;
        if flat.len() != 2 * POINTS {
            return Err(VisionError::Runtime(format!(
                "the landmark model returned {} values, not {}",
                flat.len(),
                2 * POINTS
            )));
        }
        let mut out = [[0f32; 2]; POINTS];
        for (o, v) in out.iter_mut().zip(flat.chunks_exact(2)) {
            let (px, py) = ((v[0] + 1.0) * half, (v[1] + 1.0) * half);
            *o = [(px - tx) / scale, (py - ty) / scale];
        }
        Ok(out)
    }
}
