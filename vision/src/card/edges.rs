//! Card edges in the full-resolution frame: a coarse outline found on the small working copy
//! is moved onto the real edges, and a finished outline is scored by how much of it lies on
//! one (a side that cuts across the printed text instead of the card's border scores low).

use super::detect::{P, centroid, dist, intersect};
use crate::error::Result;
use opencv::core::{Mat, MatTraitConst, MatTraitConstManual};

/// Bilinear reads of a continuous 8-bit gray image.
struct Sampler<'a> {
    data: &'a [u8],
    w: i32,
    h: i32,
}

impl<'a> Sampler<'a> {
    fn new(gray: &'a Mat) -> Result<Self> {
        Ok(Self {
            data: gray.data_bytes()?,
            w: gray.cols(),
            h: gray.rows(),
        })
    }

    /// The gray value at `(x, y)`, `None` outside the image.
    fn at(&self, x: f32, y: f32) -> Option<f32> {
        let (xi, yi) = (x.floor() as i32, y.floor() as i32);
        if xi < 0 || yi < 0 || xi + 1 >= self.w || yi + 1 >= self.h {
            return None;
        }
        let (fx, fy) = (x - xi as f32, y - yi as f32);
        let i = (yi * self.w + xi) as usize;
        let wi = self.w as usize;
        let v = |k: usize| f32::from(*self.data.get(k).unwrap_or(&0));
        Some(
            v(i) * (1.0 - fx) * (1.0 - fy)
                + v(i + 1) * fx * (1.0 - fy)
                + v(i + wi) * (1.0 - fx) * fy
                + v(i + wi + 1) * fx * fy,
        )
    }
}

/// Half the distance across a side over which [`edge_support`] looks for the step.
const SUPPORT_HALF_WIDTH: f32 = 2.0;
/// Smallest gray step across a side, over twice [`SUPPORT_HALF_WIDTH`], that counts as an edge
/// (a card's border against any background steps far more, even blurred).
const SUPPORT_MIN_STEP: f32 = 10.0;

/// Share of the quad's outline (samples along the middle 80 % of each side; corners are
/// rounded) where the gray value steps across the side: 1 for a card's border, low for a side
/// that runs across text or a soft background. Samples outside the frame are skipped; the
/// share is the mean over the sides that have any sample inside.
pub(super) fn edge_support(gray: &Mat, q: &[P; 4]) -> Result<f32> {
    if !gray.is_continuous() {
        return Ok(0.0);
    }
    let img = Sampler::new(gray)?;
    let centre = centroid(q);
    let (mut sum, mut sides) = (0.0, 0);
    for k in 0..4 {
        let (a, b) = (q[k], q[(k + 1) % 4]);
        let len = dist(a, b);
        if len < 8.0 {
            return Ok(0.0);
        }
        let d = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        let mut nrm = [-d[1], d[0]];
        let mid = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
        if (centre[0] - mid[0]) * nrm[0] + (centre[1] - mid[1]) * nrm[1] > 0.0 {
            nrm = [-nrm[0], -nrm[1]];
        }
        let samples = 40;
        let (mut on_edge, mut seen) = (0, 0);
        for s in 0..samples {
            let t = 0.1 + 0.8 * (s as f32 + 0.5) / samples as f32;
            let p = [a[0] + d[0] * len * t, a[1] + d[1] * len * t];
            let o = SUPPORT_HALF_WIDTH;
            let (Some(outside), Some(inside)) = (
                img.at(p[0] + nrm[0] * o, p[1] + nrm[1] * o),
                img.at(p[0] - nrm[0] * o, p[1] - nrm[1] * o),
            ) else {
                continue;
            };
            seen += 1;
            on_edge += usize::from((outside - inside).abs() >= SUPPORT_MIN_STEP);
        }
        if seen > 0 {
            sum += on_edge as f32 / seen as f32;
            sides += 1;
        }
    }
    Ok(if sides == 0 { 0.0 } else { sum / sides as f32 })
}

/// A sample along a side is on an edge when its gray step (per half pixel) is at least this
/// and this many times the profile's median step.
const EDGE_MIN_STEP: f32 = 3.0;
const EDGE_MIN_PEAK_RATIO: f32 = 2.0;

/// Moves each side of the quad onto the strongest edge near it in the full-resolution gray
/// frame (sampled along the side's normal), then intersects the fitted lines. Rounded card
/// corners and the working copy's coarse pixels stop mattering. Also returns how many sides
/// were found on a real edge.
pub(super) fn refine(gray: &Mat, q: &[P; 4], scale: f32) -> Result<Option<([P; 4], usize)>> {
    if !gray.is_continuous() {
        return Ok(None);
    }
    let img = Sampler::new(gray)?;
    let px = |x: f32, y: f32| img.at(x, y);
    let reach = (2.5 * scale).max(3.0);
    let centre = centroid(q);
    let mut lines: Vec<(P, P)> = Vec::with_capacity(4);
    let mut supported = 0;
    for k in 0..4 {
        let (a, b) = (q[k], q[(k + 1) % 4]);
        let len = dist(a, b);
        if len < 8.0 {
            return Ok(None);
        }
        let d = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        let mut nrm = [-d[1], d[0]];
        let mid = [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
        if (centre[0] - mid[0]) * nrm[0] + (centre[1] - mid[1]) * nrm[1] > 0.0 {
            nrm = [-nrm[0], -nrm[1]]; // points outward
        }
        let samples = 24;
        let mut pts: Vec<P> = Vec::with_capacity(samples);
        for s in 0..samples {
            let t = 0.12 + 0.76 * (s as f32 + 0.5) / samples as f32;
            let base = [a[0] + d[0] * len * t, a[1] + d[1] * len * t];
            let mut best = (0.0f32, 0.0f32);
            let steps = (reach * 2.0).ceil() as i32;
            let mut prev: Option<f32> = None;
            let mut grads: Vec<f32> = Vec::with_capacity(2 * steps as usize + 1);
            for j in -steps..=steps {
                let o = j as f32 * 0.5;
                let Some(v) = px(base[0] + nrm[0] * o, base[1] + nrm[1] * o) else {
                    prev = None;
                    continue;
                };
                if let Some(pv) = prev {
                    let g = (v - pv).abs();
                    grads.push(g);
                    if g > best.0 {
                        best = (g, o - 0.25);
                    }
                }
                prev = Some(v);
            }
            if grads.len() < 4 {
                continue;
            }
            grads.sort_by(|a, b| a.total_cmp(b));
            let median = grads[grads.len() / 2];
            if best.0 >= EDGE_MIN_STEP && best.0 >= EDGE_MIN_PEAK_RATIO * median {
                pts.push([base[0] + nrm[0] * best.1, base[1] + nrm[1] * best.1]);
            }
        }
        if pts.len() < 8 {
            // Edge not visible (cut by the frame or too soft): keep the coarse side.
            lines.push((a, b));
            continue;
        }
        supported += 1;
        lines.push(fit_line(&pts).unwrap_or((a, b)));
    }
    let mut out = [[0.0; 2]; 4];
    for k in 0..4 {
        let (a, b) = lines[(k + 3) % 4];
        let (c, d) = lines[k];
        let Some(p) = intersect(a, b, c, d) else {
            return Ok(None);
        };
        // Refinement is a nudge, never a jump.
        if dist(p, q[k]) > 3.0 * reach {
            return Ok(None);
        }
        out[k] = p;
    }
    Ok(Some((out, supported)))
}

/// Total least squares line through points, as two points on it; a trimmed second pass drops
/// the samples that hit text or a shadow instead of the card edge.
pub(super) fn fit_line(pts: &[P]) -> Option<(P, P)> {
    let fit = |pts: &[P]| -> Option<(P, P)> {
        let n = pts.len() as f32;
        if n < 2.0 {
            return None;
        }
        let mx = pts.iter().map(|p| p[0]).sum::<f32>() / n;
        let my = pts.iter().map(|p| p[1]).sum::<f32>() / n;
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        for p in pts {
            let (dx, dy) = (p[0] - mx, p[1] - my);
            sxx += dx * dx;
            sxy += dx * dy;
            syy += dy * dy;
        }
        let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
        let d = [theta.cos(), theta.sin()];
        Some(([mx, my], [mx + d[0], my + d[1]]))
    };
    let (a, b) = fit(pts)?;
    let mut res: Vec<(f32, P)> = pts.iter().map(|&p| (line_dist(a, b, p), p)).collect();
    res.sort_by(|x, y| x.0.total_cmp(&y.0));
    let keep = (res.len() * 3 / 4).max(2);
    let kept: Vec<P> = res[..keep].iter().map(|r| r.1).collect();
    fit(&kept)
}

pub(super) fn line_dist(a: P, b: P, p: P) -> f32 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len = (dx * dx + dy * dy).sqrt().max(1e-6);
    ((p[0] - a[0]) * dy - (p[1] - a[1]) * dx).abs() / len
}
