//! SCRFD-500m face detector through ONNX Runtime: letterbox to one fixed square input (so
//! shapes never change, which keeps GPU memory flat), anchor decoding, and NMS.

use crate::error::{Result, VisionError};
use crate::runtime::{ActiveDevice, RuntimeConfig, session};
use ndarray::Array4;
use opencv::core::Mat;
use opencv::prelude::*;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;

use super::FaceBox;
use super::detect::{Detector, check_input_side, letterbox, nms};
use super::tensor::bgr_to_planar_rgb;

const STRIDES: [usize; 3] = [8, 16, 32];
const ANCHORS_PER_CELL: usize = 2;
const NMS_IOU: f32 = 0.4;

/// SCRFD-500m with 5 key points.
pub struct Scrfd {
    session: Session,
    device: ActiveDevice,
    side: i32,
    threshold: f32,
    input: Array4<f32>,
}

impl Scrfd {
    /// `side` is the fixed square input (a multiple of 32, e.g. 640 or 320).
    pub fn load(cfg: &RuntimeConfig, model: &Path, side: u32, threshold: f32) -> Result<Self> {
        check_input_side(side)?;
        let (session, device) = session(cfg, model)?;
        let s = side as usize;
        Ok(Self {
            session,
            device,
            side: side as i32,
            threshold,
            input: Array4::zeros((1, 3, s, s)),
        })
    }

    pub fn device(&self) -> ActiveDevice {
        self.device
    }

    fn fill_input(&mut self, padded: &Mat) -> Result<()> {
        let bytes = padded.data_bytes()?;
        let data = self
            .input
            .as_slice_mut()
            .ok_or_else(|| VisionError::Runtime("input tensor is not contiguous".into()))?;
        bgr_to_planar_rgb(bytes, data, 127.5, 128.0)?;
        Ok(())
    }
}

impl Detector for Scrfd {
    fn detect(&mut self, image: &Mat) -> Result<Vec<FaceBox>> {
        let (padded, lb) = letterbox(image, self.side)?;
        self.fill_input(&padded)?;
        let side = self.side as usize;
        let threshold = self.threshold;
        let outputs = self
            .session
            .run(ort::inputs!["input.1" => TensorRef::from_array_view(&self.input)?])?;
        let mut found = Vec::new();
        for stride in STRIDES {
            let (_, scores) =
                outputs[format!("score_{stride}").as_str()].try_extract_tensor::<f32>()?;
            let (_, bboxes) =
                outputs[format!("bbox_{stride}").as_str()].try_extract_tensor::<f32>()?;
            let (_, kps) = outputs[format!("kps_{stride}").as_str()].try_extract_tensor::<f32>()?;
            let cols = side / stride;
            let n = (side / stride) * cols * ANCHORS_PER_CELL;
            if scores.len() < n || bboxes.len() < n * 4 || kps.len() < n * 10 {
                return Err(VisionError::Runtime(format!(
                    "detector output for stride {stride} is shorter than expected"
                )));
            }
            let s = stride as f32;
            for (i, &score) in scores.iter().take(n).enumerate() {
                if score < threshold {
                    continue;
                }
                let cell = i / ANCHORS_PER_CELL;
                let cx = (cell % cols) as f32 * s;
                let cy = (cell / cols) as f32 * s;
                let d = &bboxes[i * 4..i * 4 + 4];
                let x1 = (cx - d[0] * s) / lb.scale;
                let y1 = (cy - d[1] * s) / lb.scale;
                let x2 = (cx + d[2] * s) / lb.scale;
                let y2 = (cy + d[3] * s) / lb.scale;
                let k = &kps[i * 10..i * 10 + 10];
                let mut landmarks = [[0f32; 2]; 5];
                for (j, lm) in landmarks.iter_mut().enumerate() {
                    *lm = [
                        (cx + k[2 * j] * s) / lb.scale,
                        (cy + k[2 * j + 1] * s) / lb.scale,
                    ];
                }
                found.push(FaceBox {
                    x: x1,
                    y: y1,
                    width: x2 - x1,
                    height: y2 - y1,
                    score,
                    landmarks,
                    landmarks_detected: true,
                });
            }
        }
        Ok(nms(found, NMS_IOU))
    }

    fn name(&self) -> &'static str {
        "scrfd"
    }
}
