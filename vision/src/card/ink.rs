//! Card zones prepared for Tesseract: the printed ink black on white. Korean cards print their
//! text in black over pale coloured guilloches, a tinted emblem and a red seal; keeping each
//! pixel's brightest channel fades every colour but leaves black ink black, and Otsu's threshold
//! then drops the background. On 200 generated cards this read titles, dates and licence
//! numbers far better than plain gray (BENCHMARKS.md); the other variants give a field that
//! came out doubtful a second and third look.

use super::detect::to_gray;
use crate::error::{Result, VisionError};
use opencv::core::{self, BORDER_REPLICATE, Mat, MatTraitConst, Size, Vector};
use opencv::imgproc;

/// How a zone is prepared before it is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prep {
    /// Brightest channel, Otsu: the first look at every field.
    Ink,
    /// As `Ink` after a 1.5× cubic upscale: small or blurred glyphs keep their inner strokes.
    InkUpscaled,
    /// Plain luminance, no threshold.
    Gray,
    /// Brightest channel, unsharp-masked, Otsu: a slightly blurred capture.
    InkSharpened,
    /// Brightest channel, no threshold.
    Brightest,
    /// Brightest channel, unsharp-masked, no threshold.
    BrightestSharpened,
}

impl Prep {
    /// The order in which a doubtful field is looked at again.
    pub const RETRIES: [Prep; 5] = [
        Prep::Ink,
        Prep::InkUpscaled,
        Prep::Gray,
        Prep::InkSharpened,
        Prep::Brightest,
    ];
}

/// `zone` (BGR, BGRA or gray) prepared as `prep` says: an 8-bit single-channel image.
pub fn prepare(zone: &Mat, prep: Prep) -> Result<Mat> {
    if zone.empty() {
        return Err(VisionError::EmptyInput);
    }
    let mut out = match prep {
        Prep::Gray => to_gray(zone)?,
        _ => brightest_channel(zone)?,
    };
    if matches!(prep, Prep::InkSharpened | Prep::BrightestSharpened) {
        let mut blurred = Mat::default();
        imgproc::gaussian_blur(
            &out,
            &mut blurred,
            Size::new(0, 0),
            2.0,
            2.0,
            BORDER_REPLICATE,
        )?;
        let mut sharp = Mat::default();
        core::add_weighted(&out, 2.0, &blurred, -1.0, 0.0, &mut sharp, -1)?;
        out = sharp;
    }
    if prep == Prep::InkUpscaled {
        let mut up = Mat::default();
        imgproc::resize(
            &out,
            &mut up,
            Size::new(0, 0),
            1.5,
            1.5,
            imgproc::INTER_CUBIC,
        )?;
        out = up;
    }
    if matches!(prep, Prep::Ink | Prep::InkUpscaled | Prep::InkSharpened) {
        let mut binary = Mat::default();
        imgproc::threshold(
            &out,
            &mut binary,
            0.0,
            255.0,
            imgproc::THRESH_BINARY | imgproc::THRESH_OTSU,
        )?;
        out = binary;
    }
    Ok(out)
}

/// Each pixel's brightest colour channel (alpha ignored).
fn brightest_channel(zone: &Mat) -> Result<Mat> {
    if zone.channels() == 1 {
        return Ok(zone.try_clone()?);
    }
    let mut channels = Vector::<Mat>::new();
    core::split(zone, &mut channels)?;
    let mut out = channels.get(0)?;
    for c in 1..3.min(channels.len()) {
        let mut m = Mat::default();
        core::max(&out, &channels.get(c)?, &mut m)?;
        out = m;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{CV_8UC3, Scalar};
    use opencv::prelude::*;

    #[test]
    fn colours_fade_and_black_ink_stays() {
        // Left third black ink, middle a pink guilloche, right the white card.
        let mut zone =
            Mat::new_rows_cols_with_default(20, 30, CV_8UC3, Scalar::all(250.0)).expect("mat");
        for y in 0..20 {
            for x in 0..30 {
                let px = zone.at_2d_mut::<core::Vec3b>(y, x).expect("px");
                *px = if x < 10 {
                    core::Vec3b::from([20, 20, 20])
                } else if x < 20 {
                    core::Vec3b::from([200, 150, 235])
                } else {
                    core::Vec3b::from([250, 250, 250])
                };
            }
        }
        let ink = prepare(&zone, Prep::Ink).expect("ink");
        assert_eq!(ink.channels(), 1);
        assert_eq!(*ink.at_2d::<u8>(5, 5).expect("px"), 0);
        assert_eq!(*ink.at_2d::<u8>(5, 15).expect("px"), 255);
        assert_eq!(*ink.at_2d::<u8>(5, 25).expect("px"), 255);
        let up = prepare(&zone, Prep::InkUpscaled).expect("up");
        assert_eq!((up.cols(), up.rows()), (45, 30));
        assert!(matches!(
            prepare(&Mat::default(), Prep::Gray),
            Err(VisionError::EmptyInput)
        ));
    }
}
