//! The replay cue of a flat picture: a printed photo, a card or a screen moved before the camera
//! keeps every landmark on one plane, so one homography maps a reference frame's landmarks onto
//! any other frame's (up to the landmark model's noise), however the picture is moved or tilted.
//! A real head that turns moves its nose against its cheeks and contour, which no homography
//! explains. Pure geometry: a least-squares homography (normalised DLT) and its residual.

use super::landmarks::{LEFT_EYE, Points, RIGHT_EYE};
use super::motion::face_motion;
use serde::Serialize;

/// Above this residual (RMS reprojection error, in interocular distances; the 90th percentile
/// over the clip's frames) the landmarks are not a plane's images: the face has depth or moves
/// as a face does (blinks, turns, expressions). Measured on the real clips (0.026 – 0.057) and
/// on photos panned, zoomed and turned under perspective (0.004 – 0.007); BENCHMARKS.md,
/// "Liveness".
pub const DEPTH_RESIDUAL: f32 = 0.015;

/// A frame turned at least this much (yaw ratio, from the clip's median) counts as turned.
pub const TURNED_YAW: f32 = 0.08;

/// What the planar check found over a clip.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Planarity {
    /// Frames compared with the reference (those with landmarks).
    pub frames: usize,
    /// Frames whose head is turned away from the clip's median pose.
    pub turned: usize,
    /// The 90th percentile of the frames' residuals against the reference.
    pub residual: f32,
    /// The largest residual of a turned frame (0 when none is turned).
    pub turned_residual: f32,
}

impl Planarity {
    /// A flat picture: one plane explains (nearly) every frame's landmarks.
    pub fn is_flat(&self) -> bool {
        self.residual < DEPTH_RESIDUAL
    }
}

/// Solves the n×n system `a x = b` in place (Gaussian elimination, partial pivoting).
fn solve<const N: usize>(mut a: [[f64; N]; N], mut b: [f64; N]) -> Option<[f64; N]> {
    for c in 0..N {
        let p = (c..N).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        let pivot = a[c];
        for r in c + 1..N {
            let f = a[r][c] / pivot[c];
            for (x, p) in a[r].iter_mut().zip(&pivot).skip(c) {
                *x -= f * p;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = [0f64; N];
    for r in (0..N).rev() {
        let s: f64 = (r + 1..N).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// Centres `pts` and scales them to a mean distance of √2: (normalised points, centre, scale).
fn normalise(pts: &[[f32; 2]]) -> (Vec<[f64; 2]>, [f64; 2], f64) {
    let n = pts.len().max(1) as f64;
    let cx = pts.iter().map(|p| p[0] as f64).sum::<f64>() / n;
    let cy = pts.iter().map(|p| p[1] as f64).sum::<f64>() / n;
    let d = pts
        .iter()
        .map(|p| (p[0] as f64 - cx).hypot(p[1] as f64 - cy))
        .sum::<f64>()
        / n;
    let s = if d > 1e-9 {
        std::f64::consts::SQRT_2 / d
    } else {
        1.0
    };
    let out = pts
        .iter()
        .map(|p| [(p[0] as f64 - cx) * s, (p[1] as f64 - cy) * s])
        .collect();
    (out, [cx, cy], s)
}

/// The least-squares homography (h33 = 1) taking `from` to `to`, as a function on points.
fn fit(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<impl Fn([f32; 2]) -> [f32; 2]> {
    let (f, fc, fs) = normalise(from);
    let (t, tc, ts) = normalise(to);
    // Normal equations of the 2n linear equations in h11..h32.
    let mut ata = [[0f64; 8]; 8];
    let mut atb = [0f64; 8];
    for (p, q) in f.iter().zip(&t) {
        let (x, y, u, v) = (p[0], p[1], q[0], q[1]);
        for (row, rhs) in [
            ([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u),
            ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v),
        ] {
            for i in 0..8 {
                for j in 0..8 {
                    ata[i][j] += row[i] * row[j];
                }
                atb[i] += row[i] * rhs;
            }
        }
    }
    let h = solve(ata, atb)?;
    Some(move |p: [f32; 2]| {
        let (x, y) = ((p[0] as f64 - fc[0]) * fs, (p[1] as f64 - fc[1]) * fs);
        let w = h[6] * x + h[7] * y + 1.0;
        let w = if w.abs() < 1e-9 { 1e-9 } else { w };
        let u = (h[0] * x + h[1] * y + h[2]) / w;
        let v = (h[3] * x + h[4] * y + h[5]) / w;
        [(u / ts + tc[0]) as f32, (v / ts + tc[1]) as f32]
    })
}

fn interocular(p: &Points) -> f32 {
    let c = |r: std::ops::RangeInclusive<usize>| {
        let n = r.clone().count() as f32;
        let (x, y) = r.fold((0f32, 0f32), |(x, y), i| (x + p[i][0], y + p[i][1]));
        [x / n, y / n]
    };
    let (l, r) = (c(LEFT_EYE), c(RIGHT_EYE));
    (r[0] - l[0]).hypot(r[1] - l[1])
}

/// The RMS distance, in `to`'s interocular distances, between `to`'s landmarks and the best
/// homography's image of `from`'s. `None` when no homography can be fitted.
pub fn residual(from: &Points, to: &Points) -> Option<f32> {
    let h = fit(from, to)?;
    let sq: f32 = from
        .iter()
        .zip(to)
        .map(|(a, b)| {
            let m = h(*a);
            (m[0] - b[0]).powi(2) + (m[1] - b[1]).powi(2)
        })
        .sum();
    let rms = (sq / from.len() as f32).sqrt();
    let d = interocular(to);
    (d > 1.0 && rms.is_finite()).then_some(rms / d)
}

/// The planar check over a clip's landmarks (frames without a face left out): the reference is
/// the frame nearest the median pose, and every turned frame is held against it.
pub fn planarity(frames: &[Points]) -> Option<Planarity> {
    if frames.len() < 2 {
        return None;
    }
    let yaws: Vec<f32> = frames.iter().map(|p| face_motion(p).yaw).collect();
    let mut sorted = yaws.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    let reference = (0..frames.len()).min_by(|&a, &b| {
        (yaws[a] - median)
            .abs()
            .total_cmp(&(yaws[b] - median).abs())
    })?;
    let residuals: Vec<(usize, f32)> = (0..frames.len())
        .filter(|&i| i != reference)
        .filter_map(|i| Some((i, residual(&frames[reference], &frames[i])?)))
        .collect();
    let turned: Vec<usize> = (0..frames.len())
        .filter(|&i| (yaws[i] - median).abs() >= TURNED_YAW)
        .collect();
    let turned_residual = residuals
        .iter()
        .filter(|(i, _)| turned.contains(i))
        .map(|&(_, r)| r)
        .fold(0f32, f32::max);
    let mut all: Vec<f32> = residuals.iter().map(|&(_, r)| r).collect();
    all.sort_by(f32::total_cmp);
    let residual = all
        .get(((all.len().saturating_sub(1)) as f32 * 0.9).round() as usize)
        .copied()?;
    Some(Planarity {
        frames: frames.len(),
        turned: turned.len(),
        residual,
        turned_residual,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic face: 106 points on a 3-D surface (a bulging nose and curved cheeks), with
    /// the eyes where the model puts them, seen turned by `yaw` radians.
    fn face(yaw: f32, flat: bool) -> Points {
        let mut p = [[0f32; 2]; 106];
        for (i, q) in p.iter_mut().enumerate() {
            let a = i as f32 * 0.7;
            let (x, y) = (a.cos() * (30.0 + (i % 7) as f32 * 6.0), a.sin() * 50.0);
            let z = if flat {
                0.0
            } else {
                40.0 - (x * x + y * y).sqrt() * 0.5
            };
            let (c, s) = (yaw.cos(), yaw.sin());
            *q = [200.0 + x * c + z * s, 200.0 + y];
        }
        for i in LEFT_EYE {
            p[i] = [170.0 + (i - 33) as f32, 180.0 + (i % 3) as f32];
        }
        for i in RIGHT_EYE {
            p[i] = [230.0 + (i - 87) as f32, 180.0 + (i % 3) as f32];
        }
        p
    }

    #[test]
    fn a_homography_explains_a_tilted_plane_but_not_a_turned_solid() {
        let flat = face(0.0, true);
        // The same plane seen under a perspective tilt: an exact homography.
        let mut tilted = flat;
        for q in tilted.iter_mut() {
            let w = 1.0 + 0.001 * (q[0] - 200.0);
            *q = [(q[0] * 0.9 + 20.0) / w, (q[1] * 1.1 - 5.0) / w];
        }
        let r = residual(&flat, &tilted).expect("fitted");
        assert!(r < 1e-3, "{r}");
        // A solid turned by 0.4 rad: its depth shows.
        let r = residual(&face(0.0, false), &face(0.4, false)).expect("fitted");
        assert!(r > DEPTH_RESIDUAL, "{r}");
    }

    #[test]
    fn a_degenerate_set_has_no_residual() {
        let same = [[5.0f32, 5.0]; 106];
        assert_eq!(residual(&same, &same), None);
    }
}
