//! ArcFace recognizer (w600k_mbf, 512-d): preprocessing of aligned crops and two runtimes,
//! ONNX Runtime and OpenCV dnn, that run the same model file so their embeddings compare.

use crate::error::{Result, VisionError};
use crate::runtime::{ActiveDevice, RuntimeConfig, session};
use ndarray::Array4;
use opencv::core::{Mat, Scalar, Size};
use opencv::dnn;
use opencv::prelude::*;
use ort::session::Session;
use ort::value::TensorRef;
use std::path::Path;

use super::align::ALIGNED_SIZE;
use super::tensor::bgr_to_planar_rgb;

/// Model id recorded with every embedding; only embeddings with equal ids are compared.
pub const MODEL_ID: &str = "w600k_mbf";
pub const EMBEDDING_DIMS: usize = 512;

/// Turns a model output into a unit vector.
pub fn l2_normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Writes aligned 112×112 BGR crops into an NCHW RGB tensor scaled to (x − 127.5) / 127.5.
fn fill_batch(crops: &[&Mat], out: &mut Array4<f32>) -> Result<()> {
    let hw = (ALIGNED_SIZE * ALIGNED_SIZE) as usize;
    let data = out
        .as_slice_mut()
        .ok_or_else(|| VisionError::Runtime("batch tensor is not contiguous".into()))?;
    for (i, crop) in crops.iter().enumerate() {
        let bytes = crop.data_bytes()?;
        let base = i * 3 * hw;
        bgr_to_planar_rgb(bytes, &mut data[base..base + 3 * hw], 127.5, 127.5)?;
    }
    Ok(())
}

/// Something that turns aligned crops into embeddings.
pub trait Recognizer {
    /// One L2-normalised vector per crop, in order.
    fn embed(&mut self, crops: &[&Mat]) -> Result<Vec<Vec<f32>>>;
    fn device(&self) -> ActiveDevice;
}

/// w600k_mbf through ONNX Runtime.
pub struct OrtArcFace {
    session: Session,
    device: ActiveDevice,
}

impl OrtArcFace {
    pub fn load(cfg: &RuntimeConfig, model: &Path) -> Result<Self> {
        let (session, device) = session(cfg, model)?;
        Ok(Self { session, device })
    }
}

impl Recognizer for OrtArcFace {
    fn embed(&mut self, crops: &[&Mat]) -> Result<Vec<Vec<f32>>> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let s = ALIGNED_SIZE as usize;
        let mut input = Array4::<f32>::zeros((crops.len(), 3, s, s));
        fill_batch(crops, &mut input)?;
        let outputs = self
            .session
            .run(ort::inputs!["input.1" => TensorRef::from_array_view(&input)?])?;
        let (_, flat) = outputs[0].try_extract_tensor::<f32>()?;
        if flat.len() != crops.len() * EMBEDDING_DIMS {
            return Err(VisionError::Runtime(format!(
                "recognizer returned {} values for {} crops",
                flat.len(),
                crops.len()
            )));
        }
        Ok(flat
            .chunks_exact(EMBEDDING_DIMS)
            .map(|c| {
                let mut v = c.to_vec();
                l2_normalise(&mut v);
                v
            })
            .collect())
    }

    fn device(&self) -> ActiveDevice {
        self.device
    }
}

/// w600k_mbf through OpenCV's dnn module.
pub struct CvArcFace {
    net: dnn::Net,
}

impl CvArcFace {
    pub fn load(model: &Path) -> Result<Self> {
        let path = model.to_string_lossy();
        if !model.is_file() {
            return Err(VisionError::Model {
                path: path.into_owned(),
                reason: "file not found (run `kyc models fetch`)".into(),
            });
        }
        let net = dnn::read_net_from_onnx(&*path).map_err(|e| VisionError::Model {
            path: path.clone().into_owned(),
            reason: e.message,
        })?;
        Ok(Self { net })
    }
}

impl Recognizer for CvArcFace {
    fn embed(&mut self, crops: &[&Mat]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(crops.len());
        for crop in crops {
            let blob = dnn::blob_from_image(
                *crop,
                1.0 / 127.5,
                Size::new(ALIGNED_SIZE, ALIGNED_SIZE),
                Scalar::all(127.5),
                true,
                false,
                opencv::core::CV_32F,
            )?;
            self.net.set_input(&blob, "", 1.0, Scalar::default())?;
            let res = self.net.forward_single("")?;
            let flat = res.data_typed::<f32>()?;
            if flat.len() != EMBEDDING_DIMS {
                return Err(VisionError::Runtime(format!(
                    "recognizer returned {} values, expected {EMBEDDING_DIMS}",
                    flat.len()
                )));
            }
            let mut v = flat.to_vec();
            l2_normalise(&mut v);
            out.push(v);
        }
        Ok(out)
    }

    fn device(&self) -> ActiveDevice {
        ActiveDevice::Cpu
    }
}
