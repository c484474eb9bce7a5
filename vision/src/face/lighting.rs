//! Lighting of a face region: is it too dark, too bright or too flat to trust a detection, and
//! the CLAHE enhancement the engines retry with before giving up.

use crate::error::Result;
use opencv::core::{Mat, Rect, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use serde::Serialize;

/// Mean and spread of the luminance of a region.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Lighting {
    pub mean: f64,
    pub stddev: f64,
}

impl Lighting {
    /// Poorly lit: too dark, blown out, or too little contrast.
    pub fn is_poor(&self) -> bool {
        self.mean < 50.0 || self.mean > 215.0 || self.stddev < 20.0
    }

    pub fn describe(&self) -> &'static str {
        if self.mean < 50.0 {
            "too dark"
        } else if self.mean > 215.0 {
            "too bright"
        } else if self.stddev < 20.0 {
            "low contrast"
        } else {
            "good"
        }
    }
}

/// Measures the lighting of `roi` (clamped to the image), or of the whole image when `None`.
pub fn measure(image: &Mat, roi: Option<Rect>) -> Result<Lighting> {
    let full = Rect::new(0, 0, image.cols(), image.rows());
    let r = roi
        .map(|r| r & full)
        .filter(|r| r.area() > 0)
        .unwrap_or(full);
    let region = Mat::roi(image, r)?;
    let mut gray = Mat::default();
    imgproc::cvt_color_def(&region, &mut gray, imgproc::COLOR_BGR2GRAY)?;
    let mut mean = Mat::default();
    let mut std = Mat::default();
    opencv::core::mean_std_dev(&gray, &mut mean, &mut std, &opencv::core::no_array())?;
    Ok(Lighting {
        mean: *mean.at::<f64>(0)?,
        stddev: *std.at::<f64>(0)?,
    })
}

/// Contrast-limited adaptive histogram equalisation on the L channel of Lab: brings faces out
/// of dark or flat images without changing colours much.
pub fn clahe(image: &Mat) -> Result<Mat> {
    let mut lab = Mat::default();
    imgproc::cvt_color_def(image, &mut lab, imgproc::COLOR_BGR2Lab)?;
    let mut channels = Vector::<Mat>::new();
    opencv::core::split(&lab, &mut channels)?;
    let mut clahe = imgproc::create_clahe(3.0, Size::new(8, 8))?;
    let l = channels.get(0)?;
    let mut l_eq = Mat::default();
    clahe.apply(&l, &mut l_eq)?;
    channels.set(0, l_eq)?;
    let mut merged = Mat::default();
    opencv::core::merge(&channels, &mut merged)?;
    let mut out = Mat::default();
    imgproc::cvt_color_def(&merged, &mut out, imgproc::COLOR_Lab2BGR)?;
    Ok(out)
}
