//! The quality gate's measurements of one frame: what the card looks like (sharpness, light,
//! glare) on a small rectified copy, and how it sits in the frame (angles, aspect, rotation,
//! size, corners in view) from its outline.

use crate::card::detect::{Detection, dist, folded_aspect, to_gray};
use crate::card::rectify::rectify_to;
use crate::card::{CARD_HEIGHT, CARD_WIDTH, ID1_ASPECT};
use crate::error::Result;
use opencv::core::{self, Mat, MatTraitConst, Point, Rect, Size};
use opencv::imgproc;
use serde::Serialize;

/// Size of the rectified copy the appearance is measured on (half the canonical card): the
/// same pixels per card millimetre whatever the camera's resolution or distance.
const MEASURE_WIDTH: i32 = CARD_WIDTH / 2;
const MEASURE_HEIGHT: i32 = CARD_HEIGHT / 2;
/// A gray level at or above this is a clipped highlight.
pub const CLIPPED_LEVEL: f64 = 250.0;

/// Raw measurements of one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub card_found: bool,
    /// Variance of the Laplacian over the variance of the gray levels where the card has print
    /// (the upper quartile over a grid of regions with contrast; see [`region_sharpness`]): on
    /// the rectified card, resolution- and contrast-independent, and not diluted by a smooth
    /// photo.
    pub sharpness: f32,
    /// Variance of the Laplacian alone, on the rectified card.
    pub laplacian_variance: f32,
    /// Mean gray level of the card, 0..255.
    pub brightness: f32,
    /// Standard deviation of the card's gray levels.
    pub contrast: f32,
    /// Darkest / brightest region of the card's background light (1 = perfectly even).
    pub evenness: f32,
    /// Share of the card's pixels that are clipped highlights.
    pub glare: f32,
    /// Largest difference of a corner angle from 90°, degrees.
    pub corner_deviation_deg: f32,
    /// Shorter / longer of opposite sides, the worse pair (1 = parallel, seen face on).
    pub side_ratio: f32,
    /// |ln(aspect / ID-1 aspect)|: 0 when the card's proportions are right.
    pub aspect_error: f32,
    /// In-plane rotation of the card's long side from horizontal, degrees (−45..45).
    pub rotation_deg: f32,
    /// Card area / frame area.
    pub area_fraction: f32,
    pub corners_inside: usize,
    /// Smallest distance of a corner to the frame's border as a share of the frame's shorter
    /// side (negative: outside).
    pub corner_margin: f32,
}

pub(crate) fn measure(frame: &Mat, detection: Option<&Detection>) -> Result<Metrics> {
    let gray = match detection {
        Some(d) => {
            let card = rectify_to(frame, &d.quad, Size::new(MEASURE_WIDTH, MEASURE_HEIGHT))?;
            let g = to_gray(&card)?;
            // Leave out the card's outer rim: its edge against the background is no content.
            let (mx, my) = (MEASURE_WIDTH / 25, MEASURE_HEIGHT / 25);
            let rect = Rect::new(mx, my, MEASURE_WIDTH - 2 * mx, MEASURE_HEIGHT - 2 * my);
            Mat::roi(&g, rect)?.try_clone()?
        }
        None => {
            // No card: measure the frame itself, so a dark or blurred scene still gets its advice.
            let g = to_gray(frame)?;
            let w = MEASURE_WIDTH;
            let h = ((g.rows() as f32 * w as f32 / g.cols().max(1) as f32).round() as i32).max(8);
            let mut s = Mat::default();
            imgproc::resize(&g, &mut s, Size::new(w, h), 0.0, 0.0, imgproc::INTER_AREA)?;
            s
        }
    };
    let (brightness, contrast) = mean_std(&gray)?;
    let mut lap = Mat::default();
    imgproc::laplacian(
        &gray,
        &mut lap,
        core::CV_32F,
        3,
        1.0,
        0.0,
        core::BORDER_REPLICATE,
    )?;
    let (_, lap_std) = mean_std(&lap)?;
    let laplacian_variance = lap_std * lap_std;
    let whole = laplacian_variance / (contrast * contrast).max(25.0);
    let sharpness = region_sharpness(&gray)?.unwrap_or(whole);

    let mut clipped = Mat::default();
    imgproc::threshold(
        &gray,
        &mut clipped,
        CLIPPED_LEVEL - 1.0,
        255.0,
        imgproc::THRESH_BINARY,
    )?;
    let total = (gray.rows() * gray.cols()).max(1) as f32;
    let glare = core::count_non_zero(&clipped)? as f32 / total;
    let evenness = evenness(&gray)?;

    let mut m = Metrics {
        card_found: detection.is_some(),
        sharpness,
        laplacian_variance,
        brightness,
        contrast,
        evenness,
        glare,
        corner_deviation_deg: 90.0,
        side_ratio: 0.0,
        aspect_error: f32::INFINITY,
        rotation_deg: 0.0,
        area_fraction: 0.0,
        corners_inside: 0,
        corner_margin: -1.0,
    };
    if let Some(d) = detection {
        let q = &d.quad.corners;
        let mut dev = 0.0f32;
        for k in 0..4 {
            let (p, a, b) = (q[k], q[(k + 3) % 4], q[(k + 1) % 4]);
            let (u, v) = ([a[0] - p[0], a[1] - p[1]], [b[0] - p[0], b[1] - p[1]]);
            let cos = (u[0] * v[0] + u[1] * v[1]) / (dist(a, p) * dist(b, p)).max(1e-6);
            let ang = cos.clamp(-1.0, 1.0).acos().to_degrees();
            dev = dev.max((ang - 90.0).abs());
        }
        let ratio = |a: f32, b: f32| a.min(b) / a.max(b).max(1e-6);
        m.corner_deviation_deg = dev;
        m.side_ratio = ratio(dist(q[0], q[1]), dist(q[3], q[2]))
            .min(ratio(dist(q[1], q[2]), dist(q[0], q[3])));
        m.aspect_error = (folded_aspect(q) / ID1_ASPECT).ln().abs();
        // Average direction of the two long sides, folded to −45..45°.
        let dx = (q[1][0] - q[0][0]) + (q[2][0] - q[3][0]);
        let dy = (q[1][1] - q[0][1]) + (q[2][1] - q[3][1]);
        let mut rot = dy.atan2(dx).to_degrees();
        while rot > 45.0 {
            rot -= 90.0;
        }
        while rot < -45.0 {
            rot += 90.0;
        }
        m.rotation_deg = rot;
        m.area_fraction = d.area_fraction;
        m.corners_inside = d.corners_inside;
        let (w, h) = (frame.cols() as f32, frame.rows() as f32);
        m.corner_margin = q
            .iter()
            .map(|p| p[0].min(p[1]).min(w - 1.0 - p[0]).min(h - 1.0 - p[1]))
            .fold(f32::INFINITY, f32::min)
            / w.min(h);
    }
    Ok(m)
}

/// Regions of the card a grid cell wide: 8 × 5 cells.
const SHARPNESS_GRID: (i32, i32) = (8, 5);
/// A cell with less gray-level deviation than this holds no print (blank ground, noise only).
const PRINT_MIN_STD: f32 = 14.0;

/// Sharpness where it means something: per cell of a grid over the card, the variance of the
/// second derivative across the rows and down the columns, the smaller of the two (a card
/// blurred by motion is sharp along the motion only), over the variance of the gray levels;
/// the upper quartile over the cells with print. The card's text and edges decide it: a
/// printed photo (smooth, about an eighth of the card) halved the whole-card measure this
/// replaces, and blank ground (noise only) says nothing. `None` when fewer than four cells
/// hold print (no card, or a blank one: the whole-card measure then).
fn region_sharpness(gray: &Mat) -> Result<Option<f32>> {
    let (cols, rows) = SHARPNESS_GRID;
    let (cw, ch) = (gray.cols() / cols, gray.rows() / rows);
    if cw < 8 || ch < 8 {
        return Ok(None);
    }
    let second = |dx: i32, dy: i32| -> Result<Mat> {
        let mut out = Mat::default();
        imgproc::sobel(
            gray,
            &mut out,
            core::CV_32F,
            dx,
            dy,
            3,
            1.0,
            0.0,
            core::BORDER_REPLICATE,
        )?;
        Ok(out)
    };
    let (dxx, dyy) = (second(2, 0)?, second(0, 2)?);
    let mut ratios = Vec::with_capacity((cols * rows) as usize);
    for r in 0..rows {
        for c in 0..cols {
            let cell = Rect::new(c * cw, r * ch, cw, ch);
            let (_, std) = mean_std(&Mat::roi(gray, cell)?)?;
            if std < PRINT_MIN_STD {
                continue;
            }
            let (_, sx) = mean_std(&Mat::roi(&dxx, cell)?)?;
            let (_, sy) = mean_std(&Mat::roi(&dyy, cell)?)?;
            ratios.push(sx.min(sy).powi(2) / (std * std));
        }
    }
    if ratios.len() < 4 {
        return Ok(None);
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    Ok(Some(ratios[ratios.len() * 3 / 4]))
}

fn mean_std(m: &impl core::ToInputArray) -> Result<(f32, f32)> {
    let mut mean = core::Scalar::default();
    let mut std = core::Scalar::default();
    core::mean_std_dev(m, &mut mean, &mut std, &core::no_array())?;
    Ok((mean[0] as f32, std[0] as f32))
}

/// How evenly the card is lit: the background light is estimated with a max filter over a
/// small copy (print and photo are darker than the card's ground and drop out), then the
/// darkest and brightest cells of a 4×3 grid are compared.
fn evenness(gray: &Mat) -> Result<f32> {
    let mut small = Mat::default();
    imgproc::resize(
        gray,
        &mut small,
        Size::new(48, 30),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )?;
    let kernel =
        imgproc::get_structuring_element(imgproc::MORPH_RECT, Size::new(7, 7), Point::new(-1, -1))?;
    let mut bg = Mat::default();
    imgproc::dilate(
        &small,
        &mut bg,
        &kernel,
        Point::new(-1, -1),
        1,
        core::BORDER_REPLICATE,
        imgproc::morphology_default_border_value()?,
    )?;
    let mut cells = Mat::default();
    imgproc::resize(
        &bg,
        &mut cells,
        Size::new(4, 3),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )?;
    let mut lo = 0.0;
    let mut hi = 0.0;
    core::min_max_loc(
        &cells,
        Some(&mut lo),
        Some(&mut hi),
        None,
        None,
        &core::no_array(),
    )?;
    Ok((lo / hi.max(1.0)) as f32)
}
