//! YuNet face detector (OpenCV Zoo, 2023 output layout) run by OpenCV's dnn module, with the
//! anchor decoding done here: Debian's OpenCV 4.6 `FaceDetectorYN` cannot read this file.

use crate::error::{Result, VisionError};
use opencv::core::{Mat, Scalar, Size, Vector};
use opencv::dnn;
use opencv::prelude::*;
use std::path::Path;

use super::FaceBox;
use super::detect::{Detector, check_input_side, letterbox, nms};

const STRIDES: [usize; 3] = [8, 16, 32];
const NMS_IOU: f32 = 0.3;

pub struct YuNet {
    net: dnn::Net,
    side: i32,
    threshold: f32,
    out_names: Vector<String>,
}

impl YuNet {
    /// `side`: the fixed square input, a multiple of 32.
    pub fn load(model: &Path, side: u32, threshold: f32) -> Result<Self> {
        let path = model.to_string_lossy().into_owned();
        check_input_side(side)?;
        let net = dnn::read_net_from_onnx(&path).map_err(|e| VisionError::Model {
            path: path.clone(),
            reason: e.message,
        })?;
        let mut out_names = Vector::<String>::new();
        for kind in ["cls", "obj", "bbox", "kps"] {
            for s in STRIDES {
                out_names.push(&format!("{kind}_{s}"));
            }
        }
        Ok(Self {
            net,
            side: side as i32,
            threshold,
            out_names,
        })
    }
}

impl Detector for YuNet {
    fn detect(&mut self, image: &Mat) -> Result<Vec<FaceBox>> {
        let (padded, lb) = letterbox(image, self.side)?;
        // BGR, 0..255, no mean or scale.
        let blob = dnn::blob_from_image(
            &padded,
            1.0,
            Size::new(self.side, self.side),
            Scalar::default(),
            false,
            false,
            opencv::core::CV_32F,
        )?;
        self.net.set_input(&blob, "", 1.0, Scalar::default())?;
        let mut outs = Vector::<Mat>::new();
        self.net.forward(&mut outs, &self.out_names)?;
        if outs.len() != 12 {
            return Err(VisionError::Runtime(format!(
                "YuNet returned {} outputs, expected 12",
                outs.len()
            )));
        }
        let side = self.side as usize;
        let mut found = Vec::new();
        for (si, stride) in STRIDES.iter().copied().enumerate() {
            let cls_m = outs.get(si)?;
            let obj_m = outs.get(3 + si)?;
            let box_m = outs.get(6 + si)?;
            let kps_m = outs.get(9 + si)?;
            let cls = cls_m.data_typed::<f32>()?;
            let obj = obj_m.data_typed::<f32>()?;
            let bbox = box_m.data_typed::<f32>()?;
            let kps = kps_m.data_typed::<f32>()?;
            let cols = side / stride;
            let n = cols * (side / stride);
            if cls.len() < n || obj.len() < n || bbox.len() < n * 4 || kps.len() < n * 10 {
                return Err(VisionError::Runtime(format!(
                    "YuNet output for stride {stride} is shorter than expected"
                )));
            }
            let s = stride as f32;
            for i in 0..n {
                let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                if score < self.threshold {
                    continue;
                }
                let (c, r) = ((i % cols) as f32, (i / cols) as f32);
                let d = &bbox[i * 4..i * 4 + 4];
                let cx = (c + d[0]) * s;
                let cy = (r + d[1]) * s;
                let w = d[2].exp() * s;
                let h = d[3].exp() * s;
                let k = &kps[i * 10..i * 10 + 10];
                let mut landmarks = [[0f32; 2]; 5];
                for (j, lm) in landmarks.iter_mut().enumerate() {
                    *lm = [
                        (k[2 * j] + c) * s / lb.scale,
                        (k[2 * j + 1] + r) * s / lb.scale,
                    ];
                }
                found.push(FaceBox {
                    x: (cx - w / 2.0) / lb.scale,
                    y: (cy - h / 2.0) / lb.scale,
                    width: w / lb.scale,
                    height: h / lb.scale,
                    score,
                    landmarks,
                    landmarks_detected: true,
                });
            }
        }
        Ok(nms(found, NMS_IOU))
    }

    fn name(&self) -> &'static str {
        "yunet"
    }
}
