//! Puts a rectified card into a camera-like frame (a table, a pose, a shadow) and degrades the
//! frame the ways real captures go wrong, so the quality gate and the rectifier have labelled
//! examples of each defect.

use crate::error::{CardgenError, Result};
use crate::rng::SynthRng;
use opencv::core::{
    BORDER_CONSTANT, BORDER_REFLECT, CV_8UC1, CV_8UC3, CV_32F, Mat, MatTraitConst,
    MatTraitConstManual, MatTraitManual, Point, Point2f, Scalar, Size, Vector,
};
use opencv::imgproc;
use serde::{Deserialize, Serialize};
use vision::card::{CARD_HEIGHT, CARD_WIDTH, Quad};

/// The camera frame synthetic scenes are rendered at.
pub const FRAME_WIDTH: i32 = 1280;
pub const FRAME_HEIGHT: i32 = 720;

/// Radius of an ID-1 card's rounded corners (3.18 mm) on the canonical card.
const CORNER_RADIUS: f32 = 32.0;

/// What is wrong with a synthetic capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Degradation {
    /// Well lit, sharp, nearly frontal, fully visible, large.
    Clean,
    /// Linear motion blur (strong: 31–45 px kernel).
    MotionBlur,
    /// Out of focus (strong: Gaussian σ 6–9 px).
    Defocus,
    /// A specular reflection with clipped highlights on the card.
    Glare,
    /// Dark and noisy.
    LowLight,
    /// Strong perspective: some corner angle at least 20° from square.
    Tilt,
    /// In-plane rotation of 22–38°, card fully visible.
    Rotation,
    /// Exactly one corner outside the frame.
    CornerCut,
    /// Card too small in the frame: under 15 % of its area.
    TooFar,
}

impl Degradation {
    pub const ALL: [Degradation; 9] = [
        Degradation::Clean,
        Degradation::MotionBlur,
        Degradation::Defocus,
        Degradation::Glare,
        Degradation::LowLight,
        Degradation::Tilt,
        Degradation::Rotation,
        Degradation::CornerCut,
        Degradation::TooFar,
    ];

    /// True for the defects made by the card's pose ([`Scene`]) rather than by [`degrade`].
    pub fn is_geometric(self) -> bool {
        matches!(
            self,
            Degradation::Tilt
                | Degradation::Rotation
                | Degradation::CornerCut
                | Degradation::TooFar
        )
    }
}

/// The card's pose in front of a pinhole camera looking at the frame centre.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Width of the card, seen frontally, as a fraction of the frame width.
    pub card_width: f32,
    /// Centre of the card in frame pixels.
    pub center: [f32; 2],
    /// In-plane rotation, degrees (clockwise on screen).
    pub roll_deg: f32,
    /// Rotation about the card's vertical axis, degrees.
    pub yaw_deg: f32,
    /// Rotation about the card's horizontal axis, degrees.
    pub pitch_deg: f32,
    /// Focal length in pixels (smaller: stronger perspective for the same angles).
    pub focal: f32,
}

impl Default for Scene {
    fn default() -> Self {
        Self {
            card_width: 0.62,
            center: [FRAME_WIDTH as f32 / 2.0, FRAME_HEIGHT as f32 / 2.0],
            roll_deg: 0.0,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            focal: 1100.0,
        }
    }
}

/// Area of a quad (shoelace), in square pixels.
pub fn quad_area(q: &Quad) -> f32 {
    let c = &q.corners;
    let mut s = 0.0;
    for i in 0..4 {
        let j = (i + 1) % 4;
        s += c[i][0] * c[j][1] - c[j][0] * c[i][1];
    }
    s.abs() / 2.0
}

/// The largest difference, in degrees, between a corner angle of the quad and 90°.
pub fn max_corner_deviation_deg(q: &Quad) -> f32 {
    let c = &q.corners;
    let mut worst: f32 = 0.0;
    for i in 0..4 {
        let p = c[i];
        let a = c[(i + 3) % 4];
        let b = c[(i + 1) % 4];
        let (ax, ay) = (a[0] - p[0], a[1] - p[1]);
        let (bx, by) = (b[0] - p[0], b[1] - p[1]);
        let cos = (ax * bx + ay * by) / ((ax.hypot(ay) * bx.hypot(by)).max(1e-6));
        let angle = cos.clamp(-1.0, 1.0).acos().to_degrees();
        worst = worst.max((angle - 90.0).abs());
    }
    worst
}

/// How many corners lie inside a `width` × `height` frame at least `margin` pixels from its
/// edges.
pub fn corners_inside(q: &Quad, width: i32, height: i32, margin: f32) -> usize {
    q.corners
        .iter()
        .filter(|c| {
            c[0] >= margin
                && c[1] >= margin
                && c[0] <= width as f32 - margin
                && c[1] <= height as f32 - margin
        })
        .count()
}

fn corner_outside(c: &[f32; 2]) -> bool {
    c[0] < 0.0 || c[1] < 0.0 || c[0] > FRAME_WIDTH as f32 || c[1] > FRAME_HEIGHT as f32
}

fn frame_area() -> f32 {
    (FRAME_WIDTH * FRAME_HEIGHT) as f32
}

impl Scene {
    /// The card's corners in the frame (top-left, top-right, bottom-right, bottom-left).
    pub fn project(&self) -> Quad {
        let w = self.card_width * FRAME_WIDTH as f32;
        let h = w * CARD_HEIGHT as f32 / CARD_WIDTH as f32;
        let (sy, cy) = self.yaw_deg.to_radians().sin_cos();
        let (sp, cp) = self.pitch_deg.to_radians().sin_cos();
        let (sr, cr) = self.roll_deg.to_radians().sin_cos();
        let f = self.focal.max(1.0);
        let mut corners = [[0.0f32; 2]; 4];
        for (i, (x, y)) in [
            (-w / 2.0, -h / 2.0),
            (w / 2.0, -h / 2.0),
            (w / 2.0, h / 2.0),
            (-w / 2.0, h / 2.0),
        ]
        .into_iter()
        .enumerate()
        {
            // Yaw, then pitch, then perspective, then roll in the image plane.
            let (x1, z1) = (x * cy, -x * sy);
            let (y2, z2) = (y * cp - z1 * sp, y * sp + z1 * cp);
            let depth = (f + z2).max(1.0);
            let (u, v) = (f * x1 / depth, f * y2 / depth);
            corners[i] = [
                self.center[0] + u * cr - v * sr,
                self.center[1] + u * sr + v * cr,
            ];
        }
        Quad { corners }
    }

    /// A pose that shows the defect `d` (geometric defects), or a clean pose (the others).
    /// `mild` gives the small versions used by OCR tests: a slight tilt or rotation, a corner
    /// just outside the frame, a card just too far.
    pub fn for_degradation(d: Degradation, mild: bool, rng: &mut SynthRng) -> Scene {
        let centre = [FRAME_WIDTH as f32 / 2.0, FRAME_HEIGHT as f32 / 2.0];
        let mut last = Scene::default();
        for _ in 0..400 {
            let mut s = Scene {
                card_width: rng.range(0.58, 0.68),
                center: [
                    centre[0] + rng.range(-30.0, 30.0),
                    centre[1] + rng.range(-18.0, 18.0),
                ],
                roll_deg: rng.range(-2.5, 2.5),
                yaw_deg: rng.range(-5.0, 5.0),
                pitch_deg: rng.range(-5.0, 5.0),
                focal: 1100.0,
            };
            let ok = match d {
                Degradation::Tilt => {
                    s.card_width = rng.range(0.40, 0.50);
                    s.focal = 700.0;
                    s.center = centre;
                    if mild {
                        s.card_width = rng.range(0.52, 0.6);
                        s.yaw_deg = rng.sign() * rng.range(8.0, 14.0);
                        s.pitch_deg = rng.sign() * rng.range(4.0, 8.0);
                    } else {
                        s.yaw_deg = rng.sign() * rng.range(35.0, 50.0);
                        s.pitch_deg = rng.sign() * rng.range(20.0, 35.0);
                    }
                    let q = s.project();
                    let dev = max_corner_deviation_deg(&q);
                    corners_inside(&q, FRAME_WIDTH, FRAME_HEIGHT, 12.0) == 4
                        && if mild {
                            (3.0..12.0).contains(&dev)
                        } else {
                            dev >= 20.0
                        }
                }
                Degradation::Rotation => {
                    if mild {
                        s.card_width = rng.range(0.5, 0.58);
                        s.roll_deg = rng.sign() * rng.range(5.0, 10.0);
                    } else {
                        s.card_width = rng.range(0.42, 0.5);
                        s.roll_deg = rng.sign() * rng.range(22.0, 38.0);
                        s.center = centre;
                    }
                    corners_inside(&s.project(), FRAME_WIDTH, FRAME_HEIGHT, 10.0) == 4
                }
                Degradation::CornerCut => {
                    s.card_width = rng.range(0.5, 0.62);
                    s.roll_deg = rng.sign() * rng.range(6.0, 12.0);
                    s.center = centre;
                    let push = if mild {
                        rng.range(10.0, 20.0)
                    } else {
                        rng.range(35.0, 80.0)
                    };
                    push_one_corner_out(&mut s, rng.int(0, 3), push);
                    let q = s.project();
                    let out = q.corners.iter().filter(|c| corner_outside(c)).count();
                    out == 1 && corners_inside(&q, FRAME_WIDTH, FRAME_HEIGHT, 6.0) == 3
                }
                Degradation::TooFar => {
                    s.card_width = if mild {
                        rng.range(0.30, 0.33)
                    } else {
                        rng.range(0.20, 0.28)
                    };
                    s.roll_deg = rng.range(-5.0, 5.0);
                    s.center = [
                        rng.range(0.3, 0.7) * FRAME_WIDTH as f32,
                        rng.range(0.3, 0.7) * FRAME_HEIGHT as f32,
                    ];
                    let q = s.project();
                    corners_inside(&q, FRAME_WIDTH, FRAME_HEIGHT, 30.0) == 4
                        && quad_area(&q) < 0.15 * frame_area()
                }
                _ => {
                    let q = s.project();
                    corners_inside(&q, FRAME_WIDTH, FRAME_HEIGHT, 24.0) == 4
                        && quad_area(&q) > 0.30 * frame_area()
                        && max_corner_deviation_deg(&q) < 6.0
                }
            };
            if ok {
                return s;
            }
            last = s;
        }
        last
    }
}

/// Moves the scene so the corner that is most extreme in direction `dir` (0 left, 1 right,
/// 2 up, 3 down) lies `push` pixels outside the frame, keeping as far as possible the second
/// corner in that direction inside.
fn push_one_corner_out(s: &mut Scene, dir: u32, push: f32) {
    let q = s.project();
    let key = |c: &[f32; 2]| match dir {
        0 => -c[0],
        1 => c[0],
        2 => -c[1],
        _ => c[1],
    };
    let mut vals: Vec<f32> = q.corners.iter().map(key).collect();
    vals.sort_by(|a, b| b.total_cmp(a));
    let (first, second) = (vals[0], vals[1]);
    let push = push.min(first - second - 12.0).max(4.0);
    // The frame edge in the same signed coordinate.
    let edge = match dir {
        1 => FRAME_WIDTH as f32,
        3 => FRAME_HEIGHT as f32,
        _ => 0.0,
    };
    let delta = edge + push - first;
    match dir {
        0 => s.center[0] -= delta,
        1 => s.center[0] += delta,
        2 => s.center[1] -= delta,
        _ => s.center[1] += delta,
    }
}

fn check_bgr(m: &Mat, what: &str) -> Result<()> {
    if m.typ() != CV_8UC3 || m.rows() <= 0 || m.cols() <= 0 {
        return Err(CardgenError::Unsupported(format!(
            "{what} must be a non-empty 8-bit BGR image"
        )));
    }
    Ok(())
}

fn continuous(m: Mat) -> Result<Mat> {
    if m.is_continuous() {
        Ok(m)
    } else {
        Ok(m.try_clone()?)
    }
}

/// A textured table top: a base colour, smooth blotches, wood-like grain and fine noise.
fn table(rng: &mut SynthRng) -> Result<Mat> {
    const PALETTE: [[f32; 3]; 6] = [
        [42.0, 72.0, 112.0],  // walnut
        [70.0, 110.0, 150.0], // oak
        [84.0, 84.0, 90.0],   // grey desk
        [92.0, 58.0, 34.0],   // dark blue cloth
        [48.0, 78.0, 52.0],   // green felt
        [38.0, 38.0, 40.0],   // black desk
    ];
    let base = *rng.pick(&PALETTE);
    let mut small = Mat::new_rows_cols_with_default(9, 16, CV_8UC3, Scalar::all(0.0))?;
    {
        let data = small.data_bytes_mut()?;
        for px in data.chunks_mut(3) {
            let shade = rng.range(-22.0, 22.0);
            for (ch, v) in px.iter_mut().enumerate() {
                *v = (base[ch] + shade + rng.range(-5.0, 5.0)).clamp(0.0, 255.0) as u8;
            }
        }
    }
    let mut big = Mat::default();
    imgproc::resize(
        &small,
        &mut big,
        Size::new(FRAME_WIDTH, FRAME_HEIGHT),
        0.0,
        0.0,
        imgproc::INTER_CUBIC,
    )?;
    let mut big = continuous(big)?;
    let grain = rng.chance(0.5);
    let (freq, phase) = (rng.range(0.05, 0.12), rng.range(0.0, std::f32::consts::TAU));
    let data = big.data_bytes_mut()?;
    let w = FRAME_WIDTH as usize;
    for (i, px) in data.chunks_mut(3).enumerate() {
        let (x, y) = ((i % w) as f32, (i / w) as f32);
        let g = if grain {
            6.0 * (y * freq + 3.0 * (x * 0.004 + phase).sin() + 0.8 * (x * 0.031).sin()).sin()
        } else {
            0.0
        };
        let n = rng.fast_gauss() * 4.0;
        for v in px.iter_mut() {
            *v = (f32::from(*v) + g + n).clamp(0.0, 255.0) as u8;
        }
    }
    Ok(big)
}

/// A mask of the card with its rounded corners, on the canonical card.
fn card_mask() -> Result<Mat> {
    let mut m =
        Mat::new_rows_cols_with_default(CARD_HEIGHT, CARD_WIDTH, CV_8UC1, Scalar::all(0.0))?;
    let (w, h, r) = (CARD_WIDTH as f32, CARD_HEIGHT as f32, CORNER_RADIUS);
    let data = m.data_bytes_mut()?;
    for y in 0..CARD_HEIGHT as usize {
        for x in 0..CARD_WIDTH as usize {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            let cx = px.clamp(r, w - r);
            let cy = py.clamp(r, h - r);
            let d = (px - cx).hypot(py - cy);
            let a = (r + 0.5 - d).clamp(0.0, 1.0);
            data[y * CARD_WIDTH as usize + x] = (a * 255.0) as u8;
        }
    }
    Ok(m)
}

fn perspective(quad: &Quad) -> Result<Mat> {
    let src: Vector<Point2f> = [
        (0.0, 0.0),
        (CARD_WIDTH as f32, 0.0),
        (CARD_WIDTH as f32, CARD_HEIGHT as f32),
        (0.0, CARD_HEIGHT as f32),
    ]
    .into_iter()
    .map(|(x, y)| Point2f::new(x, y))
    .collect();
    let dst: Vector<Point2f> = quad
        .corners
        .iter()
        .map(|c| Point2f::new(c[0], c[1]))
        .collect();
    Ok(imgproc::get_perspective_transform(
        &src,
        &dst,
        opencv::core::DECOMP_LU,
    )?)
}

fn warp(src: &Mat, m: &Mat) -> Result<Mat> {
    let mut out = Mat::default();
    imgproc::warp_perspective(
        src,
        &mut out,
        m,
        Size::new(FRAME_WIDTH, FRAME_HEIGHT),
        imgproc::INTER_LINEAR,
        BORDER_CONSTANT,
        Scalar::all(0.0),
    )?;
    continuous(out)
}

/// Puts the rectified `card` (any size, ID-1 aspect) into a `FRAME_WIDTH` × `FRAME_HEIGHT`
/// frame on a table, posed as `scene` says, with a soft shadow and uneven light. Returns the
/// frame and the card's true corners in it.
pub fn place_in_scene(card: &Mat, scene: Scene, rng: &mut SynthRng) -> Result<(Mat, Quad)> {
    check_bgr(card, "the card")?;
    let card = vision::card::rectify::to_canonical(card)?;
    let quad = scene.project();
    let m = perspective(&quad)?;
    let warped = warp(&card, &m)?;
    let card_mask = card_mask()?;
    let mask = warp(&card_mask, &m)?;

    // Shadow: the mask, offset and blurred, darkens the table.
    let mut shifted_quad = quad;
    let (sx, sy) = (rng.range(4.0, 12.0), rng.range(6.0, 14.0));
    for c in &mut shifted_quad.corners {
        c[0] += sx;
        c[1] += sy;
    }
    let shadow_raw = warp(&card_mask, &perspective(&shifted_quad)?)?;
    let mut shadow = Mat::default();
    imgproc::gaussian_blur(
        &shadow_raw,
        &mut shadow,
        Size::new(0, 0),
        10.0,
        10.0,
        BORDER_REFLECT,
    )?;
    let shadow = continuous(shadow)?;

    let mut frame = table(rng)?;
    let light_x = rng.range(0.2, 0.8) * FRAME_WIDTH as f32;
    let light_y = rng.range(0.1, 0.6) * FRAME_HEIGHT as f32;
    // Kept below 1 so clean card stock never clips (clipping is the glare defect).
    let light_gain = rng.range(0.88, 0.95);
    {
        let fw = FRAME_WIDTH as usize;
        let diag = (FRAME_WIDTH as f32).hypot(FRAME_HEIGHT as f32);
        let (wd, md, sd) = (
            warped.data_bytes()?,
            mask.data_bytes()?,
            shadow.data_bytes()?,
        );
        let fd = frame.data_bytes_mut()?;
        for i in 0..fw * FRAME_HEIGHT as usize {
            let (x, y) = ((i % fw) as f32, (i / fw) as f32);
            let r = (x - light_x).hypot(y - light_y) / diag;
            let light = light_gain * (1.0 - 0.18 * r * r);
            let a = f32::from(md[i]) / 255.0;
            let s = 1.0 - 0.45 * f32::from(sd[i]) / 255.0;
            for ch in 0..3 {
                let bg = f32::from(fd[i * 3 + ch]) * s;
                let fg = f32::from(wd[i * 3 + ch]);
                fd[i * 3 + ch] = ((bg + (fg - bg) * a) * light).clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok((frame, quad))
}

fn add_noise(frame: &mut Mat, sigma: f32, rng: &mut SynthRng) -> Result<()> {
    let data = frame.data_bytes_mut()?;
    for v in data.iter_mut() {
        *v = (f32::from(*v) + rng.fast_gauss() * sigma)
            .round()
            .clamp(0.0, 255.0) as u8;
    }
    Ok(())
}

fn motion_blur(frame: &Mat, length: i32, angle_deg: f32) -> Result<Mat> {
    let size = length | 1;
    let mut kernel = Mat::new_rows_cols_with_default(size, size, CV_32F, Scalar::all(0.0))?;
    let c = (size / 2) as f32;
    let (s, co) = angle_deg.to_radians().sin_cos();
    let half = (length as f32 - 1.0) / 2.0;
    imgproc::line(
        &mut kernel,
        Point::new(
            (c - co * half).round() as i32,
            (c - s * half).round() as i32,
        ),
        Point::new(
            (c + co * half).round() as i32,
            (c + s * half).round() as i32,
        ),
        Scalar::all(1.0),
        1,
        imgproc::LINE_8,
        0,
    )?;
    let sum = opencv::core::sum_elems(&kernel)?[0];
    let mut normalised = Mat::default();
    kernel.convert_to(&mut normalised, CV_32F, 1.0 / sum.max(1.0), 0.0)?;
    let mut out = Mat::default();
    imgproc::filter_2d(
        frame,
        &mut out,
        -1,
        &normalised,
        Point::new(-1, -1),
        0.0,
        BORDER_REFLECT,
    )?;
    continuous(out)
}

/// Degrades a frame the way `d` says (`mild`: the small version, still readable) and adds
/// sensor noise. Geometric defects are made by the pose ([`Scene::for_degradation`]): for them
/// only noise is added. Returns the new frame and the card's corners in it (unchanged here).
pub fn degrade(
    frame: &Mat,
    quad: Quad,
    d: Degradation,
    mild: bool,
    rng: &mut SynthRng,
) -> Result<(Mat, Quad)> {
    check_bgr(frame, "the frame")?;
    let mut out = continuous(frame.try_clone()?)?;
    let mut noise = 1.5;
    match d {
        Degradation::MotionBlur => {
            let length = if mild { rng.int(5, 7) } else { rng.int(31, 45) };
            out = motion_blur(&out, length as i32, rng.range(0.0, 180.0))?;
        }
        Degradation::Defocus => {
            let sigma = if mild {
                rng.range(1.0, 1.4)
            } else {
                rng.range(6.0, 9.0)
            };
            let mut blurred = Mat::default();
            imgproc::gaussian_blur(
                &out,
                &mut blurred,
                Size::new(0, 0),
                f64::from(sigma),
                f64::from(sigma),
                BORDER_REFLECT,
            )?;
            out = continuous(blurred)?;
        }
        Degradation::Glare => glare(&mut out, &quad, mild, rng)?,
        Degradation::LowLight => {
            let gain = if mild {
                rng.range(0.45, 0.6)
            } else {
                rng.range(0.12, 0.2)
            };
            let data = out.data_bytes_mut()?;
            let tint = [1.0, 1.0, 1.08];
            for (i, v) in data.iter_mut().enumerate() {
                *v = (f32::from(*v) * gain * tint[i % 3]).clamp(0.0, 255.0) as u8;
            }
            noise = if mild { 3.0 } else { rng.range(5.0, 8.0) };
        }
        _ => {}
    }
    add_noise(&mut out, noise, rng)?;
    Ok((out, quad))
}

/// A bright elliptical reflection inside the card whose core clips to white.
fn glare(frame: &mut Mat, quad: &Quad, mild: bool, rng: &mut SynthRng) -> Result<()> {
    let c = &quad.corners;
    let (u, v) = (rng.range(0.3, 0.7), rng.range(0.3, 0.7));
    let lerp =
        |a: [f32; 2], b: [f32; 2], t: f32| [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t];
    let top = lerp(c[0], c[1], u);
    let bottom = lerp(c[3], c[2], u);
    let centre = lerp(top, bottom, v);
    let card_w = (c[1][0] - c[0][0]).hypot(c[1][1] - c[0][1]);
    let r = card_w * rng.range(0.10, 0.14);
    let (rx, ry) = (r * rng.range(1.0, 1.6), r);
    let angle = rng.range(0.0, std::f32::consts::PI);
    let (sa, ca) = angle.sin_cos();
    let peak = if mild {
        rng.range(50.0, 80.0)
    } else {
        rng.range(320.0, 400.0)
    };

    let mut mask =
        Mat::new_rows_cols_with_default(FRAME_HEIGHT, FRAME_WIDTH, CV_8UC1, Scalar::all(0.0))?;
    let pts: Vector<Point> = c
        .iter()
        .map(|p| Point::new(p[0].round() as i32, p[1].round() as i32))
        .collect();
    imgproc::fill_convex_poly(&mut mask, &pts, Scalar::all(255.0), imgproc::LINE_AA, 0)?;
    let md = mask.data_bytes()?.to_vec();
    let fw = FRAME_WIDTH as usize;
    let data = frame.data_bytes_mut()?;
    let reach = 3.0 * rx.max(ry);
    let x0 = ((centre[0] - reach).floor() as i32).clamp(0, FRAME_WIDTH) as usize;
    let x1 = ((centre[0] + reach).ceil() as i32).clamp(0, FRAME_WIDTH) as usize;
    let y0 = ((centre[1] - reach).floor() as i32).clamp(0, FRAME_HEIGHT) as usize;
    let y1 = ((centre[1] + reach).ceil() as i32).clamp(0, FRAME_HEIGHT) as usize;
    for y in y0..y1 {
        for x in x0..x1 {
            let (dx, dy) = (x as f32 - centre[0], y as f32 - centre[1]);
            let (ex, ey) = ((dx * ca + dy * sa) / rx, (-dx * sa + dy * ca) / ry);
            let add = peak * (-(ex * ex + ey * ey)).exp() * f32::from(md[y * fw + x]) / 255.0;
            if add < 0.5 {
                continue;
            }
            let i = (y * fw + x) * 3;
            for ch in 0..3 {
                data[i + ch] = (f32::from(data[i + ch]) + add).clamp(0.0, 255.0) as u8;
            }
        }
    }
    Ok(())
}
