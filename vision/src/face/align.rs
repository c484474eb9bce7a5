//! 5-point similarity alignment to ArcFace's 112×112 template: the least-squares rotation,
//! uniform scale and translation (no reflection) that maps the detected landmarks onto it.

use crate::error::Result;
use opencv::core::{BORDER_CONSTANT, Mat, Scalar, Size};
use opencv::imgproc;

/// ArcFace's reference landmarks for a 112×112 crop (insightface `arcface_dst`).
pub const ARCFACE_TEMPLATE: [[f32; 2]; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// Side of the aligned face crop.
pub const ALIGNED_SIZE: i32 = 112;

/// The 2×3 similarity transform `[[a, -b, tx], [b, a, ty]]` minimising the squared distance
/// from `src` mapped to `dst` (closed form of Umeyama's method restricted to similarities).
pub fn similarity_transform(src: &[[f32; 2]; 5], dst: &[[f32; 2]; 5]) -> [[f64; 3]; 2] {
    let n = src.len() as f64;
    let (mut sx, mut sy, mut dx, mut dy) = (0.0, 0.0, 0.0, 0.0);
    for i in 0..5 {
        sx += src[i][0] as f64;
        sy += src[i][1] as f64;
        dx += dst[i][0] as f64;
        dy += dst[i][1] as f64;
    }
    let (sx, sy, dx, dy) = (sx / n, sy / n, dx / n, dy / n);
    let (mut num_a, mut num_b, mut den) = (0.0, 0.0, 0.0);
    for i in 0..5 {
        let (xs, ys) = (src[i][0] as f64 - sx, src[i][1] as f64 - sy);
        let (xd, yd) = (dst[i][0] as f64 - dx, dst[i][1] as f64 - dy);
        num_a += xs * xd + ys * yd;
        num_b += xs * yd - ys * xd;
        den += xs * xs + ys * ys;
    }
    if den <= f64::EPSILON {
        // Degenerate landmarks (all in one point): translate only.
        return [[1.0, 0.0, dx - sx], [0.0, 1.0, dy - sy]];
    }
    let a = num_a / den;
    let b = num_b / den;
    let tx = dx - (a * sx - b * sy);
    let ty = dy - (b * sx + a * sy);
    [[a, -b, tx], [b, a, ty]]
}

/// Warps `image` so that `landmarks` land on the ArcFace template; returns a 112×112 BGR crop.
pub fn align_face(image: &Mat, landmarks: &[[f32; 2]; 5]) -> Result<Mat> {
    let m = similarity_transform(landmarks, &ARCFACE_TEMPLATE);
    let m = Mat::from_slice_2d(&m)?;
    let mut out = Mat::default();
    imgproc::warp_affine(
        image,
        &mut out,
        &m,
        Size::new(ALIGNED_SIZE, ALIGNED_SIZE),
        imgproc::INTER_LINEAR,
        BORDER_CONSTANT,
        Scalar::all(0.0),
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_a_known_similarity() {
        // Rotate by 30°, scale 2, translate (5, -3).
        let (c, s) = (
            30f64.to_radians().cos() * 2.0,
            30f64.to_radians().sin() * 2.0,
        );
        let src = ARCFACE_TEMPLATE;
        let mut dst = [[0f32; 2]; 5];
        for i in 0..5 {
            let (x, y) = (src[i][0] as f64, src[i][1] as f64);
            dst[i] = [(c * x - s * y + 5.0) as f32, (s * x + c * y - 3.0) as f32];
        }
        let m = similarity_transform(&src, &dst);
        assert!((m[0][0] - c).abs() < 1e-4, "{m:?}");
        assert!((m[1][0] - s).abs() < 1e-4, "{m:?}");
        assert!((m[0][2] - 5.0).abs() < 1e-3, "{m:?}");
        assert!((m[1][2] + 3.0).abs() < 1e-3, "{m:?}");
    }

    #[test]
    fn identity_for_the_template() {
        let m = similarity_transform(&ARCFACE_TEMPLATE, &ARCFACE_TEMPLATE);
        assert!((m[0][0] - 1.0).abs() < 1e-6 && m[1][0].abs() < 1e-6);
    }
}
