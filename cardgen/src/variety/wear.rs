//! What years in a wallet and a cheap printer do to a card, applied to the rectified card: the
//! colour plates printed off register ([`misregister`], before the black text goes on: text is
//! printed with the black plate alone), then ink faded towards the stock (all over and in
//! patches), scratches in the laminate, and a soft streak of laminate glare over part of the
//! card ([`apply`]).

use super::design::Design;
use crate::error::{CardgenError, Result};
use crate::rng::SynthRng;
use opencv::core::{CV_8UC1, Mat, MatTraitConst, MatTraitConstManual, MatTraitManual, Point};
use opencv::core::{Scalar, Vector};
use opencv::imgproc;
use vision::card::{CARD_HEIGHT, CARD_WIDTH};

const W: usize = CARD_WIDTH as usize;
const H: usize = CARD_HEIGHT as usize;

/// Applies `design.wear` (all but the misregistration) to the printed card `img`, `paper` being
/// the same card before anything was printed on it (what faded ink tends towards).
pub fn apply(img: &mut Mat, paper: &Mat, design: &Design, rng: &mut SynthRng) -> Result<()> {
    let wear = &design.wear;
    if img.rows() != CARD_HEIGHT || img.cols() != CARD_WIDTH || !img.is_continuous() {
        return Err(CardgenError::Unsupported(
            "wear is applied to a continuous canonical card".into(),
        ));
    }
    fade(img, paper, wear.fade, wear.fade_patches, rng)?;
    scratches(img, wear.scratches, rng)?;
    if wear.glare > 0.0 {
        glare_streak(img, wear.glare, rng)?;
    }
    Ok(())
}

/// Moves every pixel `a(x, y)` of the way back to the blank stock: `overall` everywhere, up to
/// 0.3–0.5 more in `patches` soft round patches.
fn fade(img: &mut Mat, paper: &Mat, overall: f32, patches: u32, rng: &mut SynthRng) -> Result<()> {
    if overall <= 0.0 && patches == 0 {
        return Ok(());
    }
    let spots: Vec<(f32, f32, f32, f32)> = (0..patches)
        .map(|_| {
            (
                rng.range(0.1, 0.9) * W as f32,
                rng.range(0.15, 0.85) * H as f32,
                rng.range(60.0, 170.0),
                rng.range(0.3, 0.5),
            )
        })
        .collect();
    let pd = paper.data_bytes()?;
    let data = img.data_bytes_mut()?;
    for y in 0..H {
        for x in 0..W {
            let mut a = overall;
            for &(cx, cy, r, s) in &spots {
                let d2 = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)) / (r * r);
                a += s * (-d2).exp();
            }
            let a = a.min(0.7);
            if a < 0.004 {
                continue;
            }
            let i = (y * W + x) * 3;
            for ch in 0..3 {
                let (v, p) = (f32::from(data[i + ch]), f32::from(pd[i + ch]));
                data[i + ch] = (v + (p - v) * a).round() as u8;
            }
        }
    }
    Ok(())
}

/// Shifts the blue channel by `shift[0]` and the red one by `shift[1]` pixels (x, y): the
/// colour plates of the press out of register, edges repeated. For the colour layer of the card
/// (stock, photo, seal), not for the black text.
pub fn misregister(img: &mut Mat, shift: [[i32; 2]; 2]) -> Result<()> {
    if shift == [[0, 0], [0, 0]] {
        return Ok(());
    }
    let src = img.data_bytes()?.to_vec();
    let data = img.data_bytes_mut()?;
    for (ch, [dx, dy]) in [(0usize, shift[0]), (2usize, shift[1])] {
        if dx == 0 && dy == 0 {
            continue;
        }
        for y in 0..H as i32 {
            let sy = (y - dy).clamp(0, H as i32 - 1) as usize;
            for x in 0..W as i32 {
                let sx = (x - dx).clamp(0, W as i32 - 1) as usize;
                data[(y as usize * W + x as usize) * 3 + ch] = src[(sy * W + sx) * 3 + ch];
            }
        }
    }
    Ok(())
}

/// `n` thin scratches, gently curved, most lighter than the card (the laminate scuffed white),
/// some darker (dirt in them).
fn scratches(img: &mut Mat, n: u32, rng: &mut SynthRng) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let mut light =
        Mat::new_rows_cols_with_default(CARD_HEIGHT, CARD_WIDTH, CV_8UC1, Scalar::all(0.0))?;
    let mut dark = light.try_clone()?;
    for _ in 0..n {
        let (x0, y0) = (rng.range(0.0, W as f32), rng.range(0.0, H as f32));
        let angle = rng.range(0.0, std::f32::consts::PI);
        let length = rng.range(60.0, 420.0);
        let bend = rng.range(-0.002, 0.002);
        let pts: Vector<Point> = (0..=24)
            .map(|k| {
                let t = length * k as f32 / 24.0;
                let a = angle + bend * t;
                Point::new(
                    (x0 + t * a.cos()).round() as i32,
                    (y0 + t * a.sin()).round() as i32,
                )
            })
            .collect();
        let mut curve: Vector<Vector<Point>> = Vector::new();
        curve.push(pts);
        let target = if rng.chance(0.75) {
            &mut light
        } else {
            &mut dark
        };
        let strength = rng.range(90.0, 200.0);
        imgproc::polylines(
            target,
            &curve,
            false,
            Scalar::all(f64::from(strength)),
            1,
            imgproc::LINE_AA,
            0,
        )?;
    }
    let (ld, dd) = (light.data_bytes()?.to_vec(), dark.data_bytes()?.to_vec());
    let data = img.data_bytes_mut()?;
    for i in 0..W * H {
        let (l, d) = (f32::from(ld[i]) / 255.0, f32::from(dd[i]) / 255.0);
        if l == 0.0 && d == 0.0 {
            continue;
        }
        for ch in 0..3 {
            let v = f32::from(data[i * 3 + ch]);
            let v = v + (255.0 - v) * 0.6 * l;
            data[i * 3 + ch] = (v * (1.0 - 0.45 * d)).round() as u8;
        }
    }
    Ok(())
}

/// A soft bright band along a random direction, `peak` of the way to white on its axis, fading
/// across its width (a Gaussian) and towards its two ends, so it covers a part of the card
/// only.
fn glare_streak(img: &mut Mat, peak: f32, rng: &mut SynthRng) -> Result<()> {
    let (cx, cy) = (
        rng.range(0.2, 0.8) * W as f32,
        rng.range(0.2, 0.8) * H as f32,
    );
    let angle = rng.range(0.0, std::f32::consts::PI);
    let (sa, ca) = angle.sin_cos();
    let sigma = rng.range(18.0, 45.0);
    let half_len = rng.range(0.25, 0.45) * W as f32;
    let data = img.data_bytes_mut()?;
    for y in 0..H {
        for x in 0..W {
            let (dx, dy) = (x as f32 - cx, y as f32 - cy);
            let along = dx * ca + dy * sa;
            let across = -dx * sa + dy * ca;
            let ends = (1.0 - (along / half_len).powi(2)).max(0.0);
            let a = peak * ends * (-(across / sigma).powi(2)).exp();
            if a < 0.004 {
                continue;
            }
            let i = (y * W + x) * 3;
            for ch in 0..3 {
                let v = f32::from(data[i + ch]);
                data[i + ch] = (v + (255.0 - v) * a).round() as u8;
            }
        }
    }
    Ok(())
}
