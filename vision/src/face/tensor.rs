//! Packing 8-bit BGR pixels into the planar RGB float tensors the ONNX models take, in one pass
//! straight from OpenCV's buffer.

use crate::error::{Result, VisionError};

/// Writes `bgr` (interleaved, 3 bytes a pixel) into `out` as three planes R, G, B with
/// `(x − mean) / std`. `out` must hold exactly 3 values per pixel.
pub(crate) fn bgr_to_planar_rgb(bgr: &[u8], out: &mut [f32], mean: f32, std: f32) -> Result<()> {
    let hw = bgr.len() / 3;
    if !bgr.len().is_multiple_of(3) || out.len() != bgr.len() {
        return Err(VisionError::Runtime(format!(
            "tensor of {} values cannot take {} bytes of BGR pixels",
            out.len(),
            bgr.len()
        )));
    }
    let inv = 1.0 / std;
    let (r, rest) = out.split_at_mut(hw);
    let (g, b) = rest.split_at_mut(hw);
    for (p, px) in bgr.chunks_exact(3).enumerate() {
        b[p] = (px[0] as f32 - mean) * inv;
        g[p] = (px[1] as f32 - mean) * inv;
        r[p] = (px[2] as f32 - mean) * inv;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_are_rgb_and_normalised() {
        let bgr = [0u8, 128, 255, 10, 20, 30];
        let mut out = [0f32; 6];
        bgr_to_planar_rgb(&bgr, &mut out, 127.5, 127.5).unwrap();
        // R plane first: 255 and 30.
        assert!((out[0] - 1.0).abs() < 1e-6);
        assert!((out[1] - (30.0 - 127.5) / 127.5).abs() < 1e-6);
        // B plane last: 0 and 10.
        assert!((out[4] + 1.0).abs() < 1e-6);
        assert!(bgr_to_planar_rgb(&bgr, &mut [0f32; 5], 0.0, 1.0).is_err());
    }
}
