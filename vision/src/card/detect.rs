//! Card detection: finds the ID-1 card's outline in a live camera frame, fast enough to run on
//! every frame (it works on a ~640 px copy and refines the edges at full resolution), and says
//! how many of the card's corners are really inside the frame.

use super::edges::{edge_support, fit_line, line_dist, refine};
use super::{ID1_ASPECT, Quad};
use crate::error::Result;
use opencv::core::{self, Mat, MatTraitConst, Point, Size, Vector};
use opencv::imgproc;

/// Width of the working copy the contours are searched on.
pub const WORK_WIDTH: i32 = 640;
/// Smallest card candidate, as a share of the frame area (smaller ones are noise; the quality
/// gate's own "move closer" limit is higher).
pub const MIN_CANDIDATE_AREA: f32 = 0.02;
/// Smallest ratio of the outline's area to its fitted quadrilateral's area.
pub const MIN_RECTANGULARITY: f32 = 0.85;
/// Accepted long/short side ratio of a candidate (ID-1 is 1.585; perspective bends it).
pub const MIN_ASPECT: f32 = 1.15;
pub const MAX_ASPECT: f32 = 2.3;
/// A polygon side whose two ends lie within this many working pixels of the same frame edge is
/// the frame cutting the card, not a card edge.
const BORDER_TOLERANCE: f32 = 6.0;
/// How far outside the frame a recovered corner may lie, as a share of the frame's longer side.
const MAX_OUTSIDE: f32 = 0.15;
/// How many of the best candidates are checked against the full-resolution edges.
const MAX_VERIFIED: usize = 6;
/// An outline without verified edges (a blurred card) is accepted when it is at least this
/// rectangular, this large (share of the frame) and this close to ID-1's aspect.
const UNVERIFIED_MIN_RECTANGULARITY: f32 = 0.9;
const UNVERIFIED_MIN_AREA: f32 = 0.12;
const UNVERIFIED_MAX_ASPECT_ERROR: f32 = 0.2;
/// Outline points within this many working pixels of a polygon side are fitted to it.
const SIDE_FIT_DISTANCE: f32 = 5.0;

/// A found card.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Detection {
    /// The card outline in frame pixels, TL, TR, BR, BL, the top side being a long side. A
    /// corner cut off by the frame is recovered by intersecting the visible edges: it then lies
    /// outside the frame.
    pub quad: Quad,
    /// How many of the four corners lie inside the frame.
    pub corners_inside: usize,
    /// Area of the quad as a share of the frame area.
    pub area_fraction: f32,
    /// Outline area / quad area (1 for a perfect quadrilateral outline).
    pub rectangularity: f32,
    /// Candidate score the detection won with (higher is better).
    pub score: f32,
}

pub(super) type P = [f32; 2];

/// Finds the most card-like quadrilateral in a BGR (or gray) frame, or `None`.
pub fn detect_card(frame: &Mat) -> Result<Option<Detection>> {
    let (w, h) = (frame.cols(), frame.rows());
    if w < 16 || h < 16 {
        return Ok(None);
    }
    let gray_full = to_gray(frame)?;
    let scale = if w > WORK_WIDTH {
        WORK_WIDTH as f32 / w as f32
    } else {
        1.0
    };
    let (sw, sh) = (
        ((w as f32 * scale).round() as i32).max(1),
        ((h as f32 * scale).round() as i32).max(1),
    );
    let mut small = Mat::default();
    if scale < 1.0 {
        imgproc::resize(
            &gray_full,
            &mut small,
            Size::new(sw, sh),
            0.0,
            0.0,
            imgproc::INTER_AREA,
        )?;
    } else {
        small = gray_full.clone();
    }
    let mut blurred = Mat::default();
    imgproc::gaussian_blur(
        &small,
        &mut blurred,
        Size::new(5, 5),
        0.0,
        0.0,
        core::BORDER_REPLICATE,
    )?;

    let mut found: Vec<(f32, [P; 4], f32)> = Vec::new();
    for binary in binaries(&blurred)? {
        let mut contours = Vector::<Vector<Point>>::new();
        // Every outline point is kept: the sides are re-fitted to them (`fit_sides`), and a
        // compressed chain leaves a long straight side only its two ends.
        imgproc::find_contours(
            &binary,
            &mut contours,
            imgproc::RETR_LIST,
            imgproc::CHAIN_APPROX_NONE,
            Point::new(0, 0),
        )?;
        for c in contours.iter() {
            if let Some(cand) = candidate(&c, sw as f32, sh as f32)? {
                found.push(cand);
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0));
    let inv = 1.0 / scale;
    // The best candidate whose sides are real edges in the full-resolution frame (a blob of a
    // textured background has soft borders and is skipped).
    // A blurred card has no crisp edge to verify: its outline is trusted without one when it is
    // large and very card-like.
    let fallback = found
        .iter()
        .find(|(_, q, rect)| {
            *rect >= UNVERIFIED_MIN_RECTANGULARITY
                && polygon_area(q) >= UNVERIFIED_MIN_AREA * (sw * sh) as f32
                && (folded_aspect(q) / ID1_ASPECT).ln().abs() <= UNVERIFIED_MAX_ASPECT_ERROR
        })
        .map(|(score, q, rect)| (*score, q.map(|p| [p[0] * inv, p[1] * inv]), *rect));
    // Candidates whose sides are real edges, with the share of their outline on an edge.
    let mut verified: Vec<(f32, [P; 4], f32, f32)> = Vec::new();
    for (score, small_quad, rect) in found.into_iter().take(MAX_VERIFIED) {
        let coarse = small_quad.map(|p| [p[0] * inv, p[1] * inv]);
        // A second pass starts from the first's lines and settles on the edge.
        if let Some((first, _)) = refine(&gray_full, &coarse, inv)?
            && let Some((refined, supported)) = refine(&gray_full, &first, inv)?
            && supported >= 3
        {
            let support = edge_support(&gray_full, &refined)?;
            verified.push((score, refined, rect, support));
        }
    }
    // The outline lying best on edges (a candidate whose side missed the border and runs across
    // the print scores lower); the earlier, more card-like candidate on a near tie.
    let mut best: Option<(f32, [P; 4], f32)> = None;
    let mut best_support = f32::MIN;
    for v in &verified {
        if v.3 > best_support + 0.05 {
            best = Some((v.0, v.1, v.2));
            best_support = v.3;
        }
    }
    // A verified rectangle inside a larger card-like outline is something printed on the card
    // (its photo; under motion blur the one crisp edge left): the outline is the card.
    if let Some(b) = best {
        let card_like = |q: &[P; 4], rect: f32| {
            rect >= UNVERIFIED_MIN_RECTANGULARITY
                && (folded_aspect(q) / ID1_ASPECT).ln().abs() <= UNVERIFIED_MAX_ASPECT_ERROR
        };
        let encloses =
            |q: &[P; 4]| polygon_area(q) >= 2.0 * polygon_area(&b.1) && contains(q, centroid(&b.1));
        let outer = verified
            .iter()
            .find(|v| card_like(&v.1, v.2) && encloses(&v.1))
            .map(|v| (v.0, v.1, v.2));
        if let Some(o) = outer {
            best = Some(o);
        } else if let Some(f) = fallback
            && encloses(&f.1)
        {
            let refined = refine(&gray_full, &f.1, inv)?.map_or(f.1, |(q, _)| q);
            best = Some((f.0, refined, f.2));
        }
    }
    let Some((score, corners, rectangularity)) = best.or(fallback) else {
        return Ok(None);
    };
    let corners = order_corners(corners);
    let corners_inside = corners
        .iter()
        .filter(|p| p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= (w - 1) as f32 && p[1] <= (h - 1) as f32)
        .count();
    let area_fraction = polygon_area(&corners) / (w as f32 * h as f32);
    Ok(Some(Detection {
        quad: Quad { corners },
        corners_inside,
        area_fraction,
        rectangularity,
        score,
    }))
}

/// The frame in 8-bit gray.
pub(crate) fn to_gray(frame: &Mat) -> Result<Mat> {
    if frame.channels() == 1 {
        return Ok(frame.clone());
    }
    let code = if frame.channels() == 4 {
        imgproc::COLOR_BGRA2GRAY
    } else {
        imgproc::COLOR_BGR2GRAY
    };
    let mut gray = Mat::default();
    imgproc::cvt_color(frame, &mut gray, code, 0)?;
    Ok(gray)
}

/// Binary images whose contours may outline the card: dilated edges (any background), and
/// Otsu's split in both polarities (a card lighter or darker than a plain background).
fn binaries(blurred: &Mat) -> Result<Vec<Mat>> {
    let mut edges = Mat::default();
    imgproc::canny(blurred, &mut edges, 30.0, 90.0, 3, false)?;
    let kernel =
        imgproc::get_structuring_element(imgproc::MORPH_RECT, Size::new(3, 3), Point::new(-1, -1))?;
    let mut dilated = Mat::default();
    imgproc::dilate(
        &edges,
        &mut dilated,
        &kernel,
        Point::new(-1, -1),
        1,
        core::BORDER_CONSTANT,
        imgproc::morphology_default_border_value()?,
    )?;
    let mut otsu = Mat::default();
    imgproc::threshold(
        blurred,
        &mut otsu,
        0.0,
        255.0,
        imgproc::THRESH_BINARY | imgproc::THRESH_OTSU,
    )?;
    let mut otsu_inv = Mat::default();
    core::bitwise_not(&otsu, &mut otsu_inv, &core::no_array())?;
    Ok(vec![dilated, otsu, otsu_inv])
}

/// Scores one contour as a card: its convex hull simplified to a polygon, frame-cut sides
/// dropped, the four longest remaining sides intersected into a quad.
fn candidate(c: &Vector<Point>, w: f32, h: f32) -> Result<Option<(f32, [P; 4], f32)>> {
    if c.len() < 4 {
        return Ok(None);
    }
    let min_area = MIN_CANDIDATE_AREA * w * h;
    let mut hull = Vector::<Point>::new();
    imgproc::convex_hull(c, &mut hull, false, true)?;
    let hull_area = imgproc::contour_area(&hull, false)? as f32;
    if hull_area < min_area {
        return Ok(None);
    }
    // A contour that is only a frame-filling blob (e.g. the whole image thresholded) is no card.
    if hull_area > 0.98 * w * h {
        return Ok(None);
    }
    // The hull simplified to a polygon: finely first (a coarse tolerance merges the frame's
    // border with a card side that leaves the frame at a shallow angle), coarser when the fine
    // one keeps too many vertices.
    let peri = imgproc::arc_length(&hull, true)?;
    let mut poly: Vec<P> = Vec::new();
    for tolerance in [0.008, 0.02] {
        let mut approx = Vector::<Point>::new();
        imgproc::approx_poly_dp(&hull, &mut approx, tolerance * peri, true)?;
        poly = approx.iter().map(|p| [p.x as f32, p.y as f32]).collect();
        if poly.len() <= 8 {
            break;
        }
    }
    if poly.len() < 4 || poly.len() > 8 {
        return Ok(None);
    }
    let Some(quad) = polygon_to_quad(&poly, w, h) else {
        return Ok(None);
    };
    let quad_area = polygon_area(&quad);
    if quad_area < min_area || !is_convex(&quad) {
        return Ok(None);
    }
    // The outline seen inside the frame vs the quad clipped to the frame.
    let visible = clipped_area(&quad, w, h);
    let rect = (hull_area / visible.max(1.0)).min(1.0 / (hull_area / visible.max(1.0)).max(1e-6));
    if rect < MIN_RECTANGULARITY {
        return Ok(None);
    }
    let aspect = folded_aspect(&quad);
    if !(MIN_ASPECT..=MAX_ASPECT).contains(&aspect) {
        return Ok(None);
    }
    let aspect_score = (-(aspect / ID1_ASPECT).ln().abs() * 2.0).exp();
    let outside = quad
        .iter()
        .filter(|p| p[0] < 0.0 || p[1] < 0.0 || p[0] > w - 1.0 || p[1] > h - 1.0)
        .count();
    if outside > 1 {
        // Two corners out means a whole side is unseen: nothing to recover it from.
        return Ok(None);
    }
    let pts: Vec<P> = c.iter().map(|p| [p.x as f32, p.y as f32]).collect();
    let quad = fit_sides(&quad, &pts);
    let score = (quad_area / (w * h)).sqrt()
        * rect
        * rect
        * aspect_score
        * if outside == 1 { 0.7 } else { 1.0 };
    Ok(Some((score, quad, rect)))
}

/// Four card sides out of a convex polygon: sides lying on the frame border are the frame
/// cutting the card and are dropped; of the rest the four longest (in polygon order) are
/// intersected pairwise. `None` when fewer than four real sides remain.
fn polygon_to_quad(poly: &[P], w: f32, h: f32) -> Option<[P; 4]> {
    let n = poly.len();
    let on_border = |a: P, b: P| {
        let t = BORDER_TOLERANCE;
        (a[0] <= t && b[0] <= t)
            || (a[1] <= t && b[1] <= t)
            || (a[0] >= w - 1.0 - t && b[0] >= w - 1.0 - t)
            || (a[1] >= h - 1.0 - t && b[1] >= h - 1.0 - t)
    };
    let mut sides: Vec<(usize, f32)> = (0..n)
        .filter(|&i| !on_border(poly[i], poly[(i + 1) % n]))
        .map(|i| (i, dist(poly[i], poly[(i + 1) % n])))
        .collect();
    if sides.len() < 4 {
        return None;
    }
    sides.sort_by(|a, b| b.1.total_cmp(&a.1));
    sides.truncate(4);
    sides.sort_by_key(|s| s.0);
    let lines: Vec<(P, P)> = sides
        .iter()
        .map(|&(i, _)| (poly[i], poly[(i + 1) % n]))
        .collect();
    let mut quad = [[0.0; 2]; 4];
    for k in 0..4 {
        let (a, b) = lines[k];
        let (c, d) = lines[(k + 1) % 4];
        quad[k] = intersect(a, b, c, d)?;
    }
    // A recovered corner far outside the frame means the sides were not the card's.
    let lim = MAX_OUTSIDE * w.max(h);
    if quad
        .iter()
        .any(|p| p[0] < -lim || p[1] < -lim || p[0] > w + lim || p[1] > h + lim)
    {
        return None;
    }
    Some(quad)
}

/// Re-fits each side of a polygon-derived quad to the outline points along its middle part:
/// the polygon's vertices sit inside the card's rounded corners, the middle of each side does
/// not. A side without enough points keeps its place.
fn fit_sides(q: &[P; 4], contour: &[P]) -> [P; 4] {
    let mut lines: Vec<(P, P)> = Vec::with_capacity(4);
    for k in 0..4 {
        let (a, b) = (q[k], q[(k + 1) % 4]);
        let len = dist(a, b).max(1e-6);
        let d = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        let near: Vec<P> = contour
            .iter()
            .copied()
            .filter(|p| {
                let t = ((p[0] - a[0]) * d[0] + (p[1] - a[1]) * d[1]) / len;
                (0.15..=0.85).contains(&t) && line_dist(a, b, *p) <= SIDE_FIT_DISTANCE
            })
            .collect();
        let line = if near.len() >= 4 {
            fit_line(&near).unwrap_or((a, b))
        } else {
            (a, b)
        };
        lines.push(line);
    }
    let mut out = *q;
    for k in 0..4 {
        let (a, b) = lines[(k + 3) % 4];
        let (c, d) = lines[k];
        match intersect(a, b, c, d) {
            Some(p) if dist(p, q[k]) < 0.1 * dist(q[k], q[(k + 2) % 4]) => out[k] = p,
            _ => return *q,
        }
    }
    out
}

/// Orders four corners clockwise (in image coordinates) starting at the top-left, then turns
/// the order so that the first side (TL→TR) is a long side: a card held upright in portrait is
/// still read as a landscape card (rotated 90°).
pub fn order_corners(c: [P; 4]) -> [P; 4] {
    let cx = c.iter().map(|p| p[0]).sum::<f32>() / 4.0;
    let cy = c.iter().map(|p| p[1]).sum::<f32>() / 4.0;
    let mut v = c.to_vec();
    // Clockwise on screen (y down) = increasing atan2(y, x).
    v.sort_by(|a, b| {
        (a[1] - cy)
            .atan2(a[0] - cx)
            .total_cmp(&(b[1] - cy).atan2(b[0] - cx))
    });
    let start = (0..4)
        .min_by(|&i, &j| (v[i][0] + v[i][1]).total_cmp(&(v[j][0] + v[j][1])))
        .unwrap_or(0);
    let mut out = [[0.0; 2]; 4];
    for (k, o) in out.iter_mut().enumerate() {
        *o = v[(start + k) % 4];
    }
    let top = dist(out[0], out[1]) + dist(out[3], out[2]);
    let side = dist(out[1], out[2]) + dist(out[0], out[3]);
    if side > top {
        // Portrait: start at the bottom-left so the long side becomes the top.
        out = [out[3], out[0], out[1], out[2]];
    }
    out
}

/// Long side / short side of a quad (average of opposite sides), ≥ 1.
pub fn folded_aspect(q: &[P; 4]) -> f32 {
    let a = dist(q[0], q[1]) + dist(q[3], q[2]);
    let b = dist(q[1], q[2]) + dist(q[0], q[3]);
    let r = a / b.max(1e-6);
    if r < 1.0 { 1.0 / r.max(1e-6) } else { r }
}

pub(crate) fn dist(a: P, b: P) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

pub(super) fn intersect(a: P, b: P, c: P, d: P) -> Option<P> {
    let (r, s) = ([b[0] - a[0], b[1] - a[1]], [d[0] - c[0], d[1] - c[1]]);
    let den = r[0] * s[1] - r[1] * s[0];
    if den.abs() < 1e-6 * (r[0].hypot(r[1]) * s[0].hypot(s[1])).max(1e-6) {
        return None;
    }
    let t = ((c[0] - a[0]) * s[1] - (c[1] - a[1]) * s[0]) / den;
    Some([a[0] + t * r[0], a[1] + t * r[1]])
}

/// Shoelace area (absolute).
pub fn polygon_area(p: &[P]) -> f32 {
    let n = p.len();
    let mut s = 0.0;
    for i in 0..n {
        let (a, b) = (p[i], p[(i + 1) % n]);
        s += a[0] * b[1] - b[0] * a[1];
    }
    (s / 2.0).abs()
}

pub(super) fn centroid(q: &[P; 4]) -> P {
    [
        q.iter().map(|p| p[0]).sum::<f32>() / 4.0,
        q.iter().map(|p| p[1]).sum::<f32>() / 4.0,
    ]
}

/// Whether `p` lies inside the convex quad `q` (either winding).
fn contains(q: &[P; 4], p: P) -> bool {
    let sides = (0..4).map(|i| {
        let (a, b) = (q[i], q[(i + 1) % 4]);
        (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
    });
    let signs: Vec<f32> = sides.map(f32::signum).collect();
    signs.iter().all(|&s| s >= 0.0) || signs.iter().all(|&s| s <= 0.0)
}

fn is_convex(q: &[P; 4]) -> bool {
    let mut sign = 0.0f32;
    for i in 0..4 {
        let (a, b, c) = (q[i], q[(i + 1) % 4], q[(i + 2) % 4]);
        let z = (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]);
        if z.abs() < 1e-6 {
            return false;
        }
        if sign == 0.0 {
            sign = z.signum();
        } else if z.signum() != sign {
            return false;
        }
    }
    true
}

/// Area of the quad clipped to the frame rectangle (Sutherland–Hodgman).
fn clipped_area(q: &[P; 4], w: f32, h: f32) -> f32 {
    let mut poly: Vec<P> = q.to_vec();
    let edges: [(usize, f32, bool); 4] = [
        (0, 0.0, true),
        (0, w - 1.0, false),
        (1, 0.0, true),
        (1, h - 1.0, false),
    ];
    for (axis, v, keep_greater) in edges {
        let inside = |p: &P| {
            if keep_greater {
                p[axis] >= v
            } else {
                p[axis] <= v
            }
        };
        let mut out = Vec::with_capacity(poly.len() + 2);
        for i in 0..poly.len() {
            let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
            let (ia, ib) = (inside(&a), inside(&b));
            if ia {
                out.push(a);
            }
            if ia != ib {
                let t = (v - a[axis]) / (b[axis] - a[axis]);
                out.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
            }
        }
        poly = out;
        if poly.is_empty() {
            return 0.0;
        }
    }
    polygon_area(&poly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_are_ordered_clockwise_from_top_left() {
        let q = order_corners([
            [500.0, 400.0],
            [100.0, 100.0],
            [100.0, 400.0],
            [500.0, 100.0],
        ]);
        assert_eq!(
            q,
            [
                [100.0, 100.0],
                [500.0, 100.0],
                [500.0, 400.0],
                [100.0, 400.0]
            ]
        );
        // Portrait: the long side becomes the top.
        let q = order_corners([
            [100.0, 100.0],
            [300.0, 100.0],
            [300.0, 500.0],
            [100.0, 500.0],
        ]);
        assert!((dist(q[0], q[1]) - 400.0).abs() < 1e-3);
    }

    #[test]
    fn a_cut_corner_is_recovered_outside_the_frame() {
        // The top-left corner (-30, 40) lies left of the frame; the frame's left edge cuts the
        // top and left sides at (0, 37.9) and (0, 235).
        let poly = [
            [0.0, 37.907],
            [400.0, 10.0],
            [420.0, 262.0],
            [10.0, 300.0],
            [0.0, 235.0],
        ];
        let q = polygon_to_quad(&poly, 640.0, 360.0).expect("quad");
        let tl = q.iter().find(|p| p[0] < 0.0).expect("a corner outside");
        assert!(dist(*tl, [-30.0, 40.0]) < 0.5, "{tl:?}");
    }

    #[test]
    fn blank_frame_has_no_card() {
        let m = Mat::new_rows_cols_with_default(720, 1280, core::CV_8UC3, core::Scalar::all(90.0))
            .expect("mat");
        assert!(detect_card(&m).expect("detect").is_none());
    }
}
