//! Motion deblurring for names: a hand that moves while the phone takes the card smears every
//! stroke along one direction, and the short strokes that tell Hangul vowels apart (훈/혼,
//! 이/여, 홍/옹) vanish first. The smear is a short straight line; its direction and length are
//! estimated from the whole card's print (Yitzhaky and Kopeika, 1997) and a name line is read
//! again after a Wiener deconvolution with it.

use crate::error::Result;
use opencv::core::{
    self, BORDER_REPLICATE, CV_8U, CV_32F, DFT_COMPLEX_OUTPUT, DFT_INVERSE, DFT_REAL_OUTPUT,
    DFT_SCALE, Mat, MatTraitConst, MatTraitConstManual, MatTraitManual, Rect, Scalar, Vec2f,
};

/// A card whose print correlates this much with itself two pixels along the direction of least
/// change is blurred: on varied licences of the tuning seeds 0–239 the correlation was
/// 0.37–0.54 under the mild motion blur, 0.25–0.50 defocused (which the deconvolution sharpens
/// too) and at most 0.17 on clean captures.
const BLURRED_AT_LAG_2: f64 = 0.3;
/// Lags (pixels) searched for the smear's length.
const LAGS: std::ops::RangeInclusive<u32> = 2..=14;
/// Margin around a line before the transform, so the DFT's wrap-around stays outside it.
const PAD: i32 = 16;
/// Noise-to-signal ratio of the Wiener filter.
const NSR: f32 = 0.02;

/// A straight smear: its length in pixels and its direction in degrees (0–180, image axes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smear {
    pub length: f32,
    pub angle_deg: f32,
}

/// The straight smear over the card image `gray` (8-bit, one channel), if it is blurred: the
/// direction whose derivative has the least energy (the structure tensor's minor
/// eigenvector), and along it the lag where the derivative's autocorrelation dips (a smear of
/// length L makes the derivative along it the difference of two copies L apart). `None` when
/// the print is sharp.
pub fn estimate_smear(gray: &Mat) -> Result<Option<Smear>> {
    let (w, h) = (gray.cols() as usize, gray.rows() as usize);
    if w < 32 || h < 32 {
        return Ok(None);
    }
    let mut f = Mat::default();
    gray.convert_to(&mut f, CV_32F, 1.0, 0.0)?;
    let d = f.data_typed::<f32>()?;
    let (mut gx, mut gy) = (vec![0f32; w * h], vec![0f32; w * h]);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            gx[y * w + x] = (d[y * w + x + 1] - d[y * w + x - 1]) / 2.0;
            gy[y * w + x] = (d[(y + 1) * w + x] - d[(y - 1) * w + x]) / 2.0;
        }
    }
    let (mut a, mut b, mut c) = (0f64, 0f64, 0f64);
    for (x, y) in gx.iter().zip(&gy) {
        a += f64::from(x * x);
        b += f64::from(y * y);
        c += f64::from(x * y);
    }
    let theta = 0.5 * (2.0 * c).atan2(a - b) + std::f64::consts::FRAC_PI_2;
    let (ux, uy) = (theta.cos() as f32, theta.sin() as f32);
    let along: Vec<f32> = gx.iter().zip(&gy).map(|(x, y)| x * ux + y * uy).collect();
    let energy: f64 = along.iter().map(|v| f64::from(v * v)).sum();
    if energy <= 0.0 {
        return Ok(None);
    }
    let at = |px: f32, py: f32| -> Option<f32> {
        if px < 0.0 || py < 0.0 || px >= (w - 1) as f32 || py >= (h - 1) as f32 {
            return None;
        }
        let (x0, y0) = (px as usize, py as usize);
        let (fx, fy) = (px - x0 as f32, py - y0 as f32);
        let v = |x: usize, y: usize| along[y * w + x];
        Some(
            v(x0, y0) * (1.0 - fx) * (1.0 - fy)
                + v(x0 + 1, y0) * fx * (1.0 - fy)
                + v(x0, y0 + 1) * (1.0 - fx) * fy
                + v(x0 + 1, y0 + 1) * fx * fy,
        )
    };
    // Every other pixel in each direction: a quarter of the products, so ×4.
    let correlation = |lag: f32| {
        let mut s = 0f64;
        for y in (0..h).step_by(2) {
            for x in (0..w).step_by(2) {
                if let Some(v) = at(x as f32 + lag * ux, y as f32 + lag * uy) {
                    s += f64::from(along[y * w + x] * v);
                }
            }
        }
        s * 4.0 / energy
    };
    if correlation(2.0) < BLURRED_AT_LAG_2 {
        return Ok(None);
    }
    let mut best = (0f32, f64::MAX);
    for lag in LAGS.skip(1) {
        let r = correlation(lag as f32);
        if r < best.1 {
            best = (lag as f32, r);
        }
    }
    Ok(Some(Smear {
        length: best.0,
        angle_deg: (theta.to_degrees() as f32).rem_euclid(180.0),
    }))
}

/// `gray` (8-bit, one channel) deconvolved with `smear` by a Wiener filter.
pub fn deconvolve(gray: &Mat, smear: Smear) -> Result<Mat> {
    let (w, h) = (gray.cols(), gray.rows());
    let (pw, ph) = (
        core::get_optimal_dft_size(w + 2 * PAD)?,
        core::get_optimal_dft_size(h + 2 * PAD)?,
    );
    let mut padded = Mat::default();
    core::copy_make_border(
        gray,
        &mut padded,
        PAD,
        ph - h - PAD,
        PAD,
        pw - w - PAD,
        BORDER_REPLICATE,
        Scalar::default(),
    )?;
    let mut f = Mat::default();
    padded.convert_to(&mut f, CV_32F, 1.0 / 255.0, 0.0)?;
    let mut spectrum = Mat::default();
    core::dft(&f, &mut spectrum, DFT_COMPLEX_OUTPUT, 0)?;
    let mut otf = Mat::default();
    core::dft(&psf(pw, ph, smear)?, &mut otf, DFT_COMPLEX_OUTPUT, 0)?;
    {
        let hs = otf.data_typed::<Vec2f>()?;
        for (g, hh) in spectrum.data_typed_mut::<Vec2f>()?.iter_mut().zip(hs) {
            // G · conj(H) / (|H|² + NSR)
            let den = hh[0] * hh[0] + hh[1] * hh[1] + NSR;
            *g = Vec2f::from([
                (g[0] * hh[0] + g[1] * hh[1]) / den,
                (g[1] * hh[0] - g[0] * hh[1]) / den,
            ]);
        }
    }
    let mut restored = Mat::default();
    core::dft(
        &spectrum,
        &mut restored,
        DFT_INVERSE | DFT_REAL_OUTPUT | DFT_SCALE,
        0,
    )?;
    let mut out = Mat::default();
    // convert_to saturates: ringing beyond black and white is clipped.
    restored
        .roi(Rect::new(PAD, PAD, w, h))?
        .convert_to(&mut out, CV_8U, 255.0, 0.0)?;
    Ok(out)
}

/// A `pw`×`ph` image of `smear` centred on the origin (wrapped round), summing to one.
fn psf(pw: i32, ph: i32, smear: Smear) -> Result<Mat> {
    let mut m = Mat::new_rows_cols_with_default(ph, pw, CV_32F, Scalar::all(0.0))?;
    let d = m.data_typed_mut::<f32>()?;
    let (dx, dy) = (
        smear.angle_deg.to_radians().cos(),
        smear.angle_deg.to_radians().sin(),
    );
    let steps = (smear.length * 8.0).ceil().max(1.0) as i32;
    let mut total = 0f32;
    for i in 0..=steps {
        let t = (i as f32 / steps as f32 - 0.5) * smear.length;
        let (x, y) = (t * dx, t * dy);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        for (ox, oy, weight) in [
            (0, 0, (1.0 - fx) * (1.0 - fy)),
            (1, 0, fx * (1.0 - fy)),
            (0, 1, (1.0 - fx) * fy),
            (1, 1, fx * fy),
        ] {
            let xi = (x0 as i32 + ox).rem_euclid(pw) as usize;
            let yi = (y0 as i32 + oy).rem_euclid(ph) as usize;
            d[yi * pw as usize + xi] += weight;
            total += weight;
        }
    }
    for v in d.iter_mut() {
        *v /= total;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::Point;
    use opencv::imgproc;

    /// Dark strokes of many directions and widths on white, like print.
    fn print() -> Mat {
        let mut m =
            Mat::new_rows_cols_with_default(240, 400, core::CV_8UC1, Scalar::all(235.0)).unwrap();
        let mut s = 7u32;
        let mut next = |n: u32| {
            s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (s >> 8) % n
        };
        for _ in 0..260 {
            let (x, y) = (next(400) as i32, next(240) as i32);
            let (dx, dy) = (next(31) as i32 - 15, next(31) as i32 - 15);
            let t = 1 + next(3) as i32;
            imgproc::line(
                &mut m,
                Point::new(x, y),
                Point::new(x + dx, y + dy),
                Scalar::all(30.0),
                t,
                imgproc::LINE_AA,
                0,
            )
            .unwrap();
        }
        m
    }

    fn smeared(m: &Mat, smear: Smear) -> Mat {
        // The kernel as the deconvolution models it, cut out of a wrapped PSF image.
        let k = 21;
        let big = psf(k, k, smear).unwrap();
        let mut kernel = Mat::new_rows_cols_with_default(k, k, CV_32F, Scalar::all(0.0)).unwrap();
        let (src, dst) = (
            big.data_typed::<f32>().unwrap().to_vec(),
            kernel.data_typed_mut::<f32>().unwrap(),
        );
        for y in 0..k {
            for x in 0..k {
                let (sx, sy) = ((x + k - k / 2) % k, (y + k - k / 2) % k);
                dst[(y * k + x) as usize] = src[(sy * k + sx) as usize];
            }
        }
        let mut out = Mat::default();
        imgproc::filter_2d(
            m,
            &mut out,
            -1,
            &kernel,
            Point::new(-1, -1),
            0.0,
            BORDER_REPLICATE,
        )
        .unwrap();
        out
    }

    /// The variance of the Laplacian: how much fine detail an image has.
    fn detail(m: &Mat) -> f64 {
        let mut lap = Mat::default();
        imgproc::laplacian(m, &mut lap, CV_32F, 1, 1.0, 0.0, BORDER_REPLICATE).unwrap();
        let (mut mean, mut dev) = (Mat::default(), Mat::default());
        core::mean_std_dev(&lap, &mut mean, &mut dev, &core::no_array()).unwrap();
        dev.at::<f64>(0).unwrap().powi(2)
    }

    fn mean_abs_diff(a: &Mat, b: &Mat) -> f64 {
        let mut d = Mat::default();
        core::absdiff(a, b, &mut d).unwrap();
        core::mean(&d, &core::no_array()).unwrap()[0]
    }

    #[test]
    fn sharp_print_has_no_smear() {
        assert_eq!(estimate_smear(&print()).unwrap(), None);
    }

    #[test]
    fn a_smear_is_found_and_undone() {
        let sharp = print();
        for (length, angle_deg) in [(6.0, 30.0), (8.0, 100.0), (7.0, 0.0)] {
            let blurred = smeared(&sharp, Smear { length, angle_deg });
            let found = estimate_smear(&blurred).unwrap().expect("a smear");
            let off = (found.angle_deg - angle_deg).rem_euclid(180.0);
            assert!(off.min(180.0 - off) <= 12.0, "{found:?} for {angle_deg}°");
            assert!(
                (found.length - length).abs() <= 2.0,
                "{found:?} for {length} px"
            );
            // The exact smear undone brings the print back closer to what it was; the estimated
            // one (a pixel or so longer: stroke width adds to the dip) sharpens it.
            let exact = deconvolve(&blurred, Smear { length, angle_deg }).unwrap();
            let (before, after) = (
                mean_abs_diff(&blurred, &sharp),
                mean_abs_diff(&exact, &sharp),
            );
            assert!(
                after < 0.9 * before,
                "{after} vs {before} for {length} px at {angle_deg}°"
            );
            let restored = deconvolve(&blurred, found).unwrap();
            let (before, after) = (detail(&blurred), detail(&restored));
            assert!(after > 1.5 * before, "{after} vs {before} for {found:?}");
        }
    }
}
