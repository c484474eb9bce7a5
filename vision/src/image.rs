//! Image intake: sniff the format from magic bytes, check the declared size from the header
//! before decoding a single pixel, then decode to BGR with OpenCV (EXIF orientation applied).

use crate::error::{Result, VisionError};
use opencv::core::{Mat, MatTraitConst, MatTraitConstManual};
use opencv::imgcodecs::IMREAD_COLOR;

/// Limits checked from the header, before decoding.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_pixels: u64,
    pub min_side: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_pixels: 40_000_000,
            min_side: 32,
        }
    }
}

/// A decoded 8-bit BGR image.
pub struct DecodedImage {
    pub mat: Mat,
}

impl DecodedImage {
    pub fn width(&self) -> i32 {
        self.mat.cols()
    }
    pub fn height(&self) -> i32 {
        self.mat.rows()
    }
}

/// A decoded 8-bit BGR frame that can cross threads cheaply (a video frame on its way to a
/// face worker): the pixels are shared, never copied per hand-over.
#[derive(Clone)]
pub struct SharedFrame {
    width: i32,
    height: i32,
    data: std::sync::Arc<[u8]>,
}

impl SharedFrame {
    /// Copies a BGR `Mat` (CV_8UC3).
    pub fn from_mat(mat: &Mat) -> Result<Self> {
        if mat.typ() != opencv::core::CV_8UC3 || mat.empty() {
            return Err(VisionError::Runtime("a frame must be 8-bit BGR".into()));
        }
        let owned;
        let continuous = if mat.is_continuous() {
            mat
        } else {
            owned = mat.try_clone()?;
            &owned
        };
        Ok(Self {
            width: mat.cols(),
            height: mat.rows(),
            data: std::sync::Arc::from(continuous.data_bytes()?),
        })
    }

    /// A `DecodedImage` holding a copy of the pixels.
    pub fn to_image(&self) -> Result<DecodedImage> {
        let view = Mat::new_rows_cols_with_data(self.height, 3 * self.width, &self.data)?;
        let mat = view.reshape(3, self.height)?.try_clone()?;
        Ok(DecodedImage { mat })
    }

    pub fn width(&self) -> i32 {
        self.width
    }
    pub fn height(&self) -> i32 {
        self.height
    }
}

fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png")
    } else if bytes.starts_with(b"BM") {
        Some("bmp")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("webp")
    } else {
        None
    }
}

/// Decodes an uploaded image, refusing what is not an image, too large or too small with a
/// clear error. Never panics on any input.
pub fn decode_image(bytes: &[u8], limits: ImageLimits) -> Result<DecodedImage> {
    if bytes.is_empty() {
        return Err(VisionError::EmptyInput);
    }
    let Some(format) = sniff(bytes) else {
        return Err(VisionError::UnsupportedImage(
            "the content does not start with a known image signature".into(),
        ));
    };
    let size = imagesize::blob_size(bytes).map_err(|e| {
        VisionError::CorruptImage(format!("the {format} header cannot be read ({e})"))
    })?;
    let (w, h) = (size.width as u64, size.height as u64);
    if w.saturating_mul(h) > limits.max_pixels {
        return Err(VisionError::ImageTooLarge {
            width: w,
            height: h,
            max_pixels: limits.max_pixels,
        });
    }
    if w < limits.min_side || h < limits.min_side {
        return Err(VisionError::ImageTooSmall {
            width: w,
            height: h,
            min_side: limits.min_side,
        });
    }
    let mat = crate::codecs::imdecode(bytes, IMREAD_COLOR)
        .map_err(|e| VisionError::CorruptImage(format!("{format}: {e}")))?;
    if mat.empty() || mat.cols() <= 0 || mat.rows() <= 0 {
        return Err(VisionError::CorruptImage(format!(
            "the {format} data is truncated or damaged"
        )));
    }
    Ok(DecodedImage { mat })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_text_are_refused() {
        assert!(matches!(
            decode_image(&[], ImageLimits::default()),
            Err(VisionError::EmptyInput)
        ));
        assert!(matches!(
            decode_image(b"hello, this is text", ImageLimits::default()),
            Err(VisionError::UnsupportedImage(_))
        ));
    }

    #[test]
    fn huge_declared_png_is_refused_from_header() {
        // A PNG signature and an IHDR chunk declaring 50000×50000, no pixel data.
        let png = test_support::media::huge_png();
        match decode_image(&png, ImageLimits::default()) {
            Err(VisionError::ImageTooLarge { width, height, .. }) => {
                assert_eq!((width, height), (50_000, 50_000));
            }
            other => panic!("expected ImageTooLarge, got {:?}", other.err()),
        }
    }
}
