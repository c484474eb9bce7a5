//! Draws a clean, rectified synthetic card: background pattern, every field of the truth in its
//! layout zone, the issuer's seal and the holder's photo.

use crate::error::{CardgenError, Result};
use crate::rng::SynthRng;
use crate::text::{FontChoice, Pen};
use crate::truth::{CardTruth, licence_date, rrc_date};
use opencv::core::{
    CV_8UC3, Mat, MatTraitConst, MatTraitConstManual, MatTraitManual, Point, Rect, Scalar, Size,
    Vector,
};
use opencv::imgproc;
use serde::{Deserialize, Serialize};
use vision::card::layout::{Field, FieldZone, zone_of};
use vision::card::{CARD_HEIGHT, CARD_WIDTH, DocumentType};

/// How the card's text is printed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Style {
    pub font: FontChoice,
    /// Text size relative to the default (about 0.8–1.1 stays inside the zones; text that
    /// would overflow its zone is shrunk to fit).
    pub scale: f32,
}

impl Default for Style {
    fn default() -> Self {
        Self {
            font: FontChoice::NanumGothic,
            scale: 1.0,
        }
    }
}

impl Style {
    /// A random font among [`FontChoice::ALL`] and a scale in 0.85–1.0.
    pub fn random(rng: &mut SynthRng) -> Self {
        Self {
            font: *rng.pick(&FontChoice::ALL),
            scale: rng.range(0.85, 1.0),
        }
    }
}

pub(crate) const INK: [u8; 3] = [34, 28, 26];

fn zone_px(doc: DocumentType, field: Field) -> Option<(f32, f32, f32, f32)> {
    zone_of(doc, field).map(|z: &FieldZone| {
        let (x, y, w, h) = z.to_card_pixels();
        (x as f32, y as f32, w as f32, h as f32)
    })
}

/// Prints `text` in the zone of `field`, left-aligned (or centred), vertically centred, as
/// large as `fill` × zone height allows, shrunk to the zone's width. Returns the right end.
#[allow(clippy::too_many_arguments)]
fn print_in_zone(
    img: &mut Mat,
    pen: &Pen,
    doc: DocumentType,
    field: Field,
    text: &str,
    fill: f32,
    spacing: f32,
    centred: bool,
) -> Result<f32> {
    let Some((x, y, w, h)) = zone_px(doc, field) else {
        return Ok(0.0);
    };
    let inner_w = w - 6.0;
    let mut px = h * fill;
    let width = pen.measure(text, px, spacing);
    if width > inner_w && width > 0.0 {
        px *= inner_w / width;
    }
    let width = pen.measure(text, px, spacing);
    let (asc, desc) = pen.metrics(px);
    let baseline = y + (h - (asc - desc)) / 2.0 + asc;
    let left = if centred {
        x + (w - width) / 2.0
    } else {
        x + 3.0
    };
    pen.draw(img, text, (left, baseline), px, INK, spacing)?;
    Ok(left + width)
}

/// Splits an address into at most two lines that fit `width` at `px`, breaking between words.
fn wrap_address(pen: &Pen, address: &str, px: f32, width: f32) -> (String, Option<String>) {
    if pen.measure(address, px, 0.0) <= width {
        return (address.to_string(), None);
    }
    // Real cards break after the street number, before the flat.
    if let Some((street, flat)) = address.split_once(", ") {
        let street = format!("{street},");
        if pen.measure(&street, px, 0.0) <= width {
            return (street, Some(flat.to_string()));
        }
    }
    let words: Vec<&str> = address.split(' ').collect();
    let mut best = 1;
    for k in 1..words.len() {
        if pen.measure(&words[..k].join(" "), px, 0.0) <= width {
            best = k;
        }
    }
    (words[..best].join(" "), Some(words[best..].join(" ")))
}

fn print_address(img: &mut Mat, pen: &Pen, doc: DocumentType, text: &str, fill: f32) -> Result<()> {
    let Some((x, y, w, h)) = zone_px(doc, Field::Address) else {
        return Ok(());
    };
    print_address_in(img, pen, text, (x, y, w, h), h / 2.0 * fill, INK)
}

/// `text` on one or two lines of half the box `(x, y, w, h)` (card pixels) each, at `px` or
/// smaller so the wider line fits, in `ink`.
pub(crate) fn print_address_in(
    img: &mut Mat,
    pen: &Pen,
    text: &str,
    (x, y, w, h): (f32, f32, f32, f32),
    mut px: f32,
    ink: [u8; 3],
) -> Result<()> {
    let line_h = h / 2.0;
    let inner_w = w - 6.0;
    let (mut l1, mut l2) = wrap_address(pen, text, px, inner_w);
    let widest = pen
        .measure(&l1, px, 0.0)
        .max(l2.as_deref().map_or(0.0, |l| pen.measure(l, px, 0.0)));
    if widest > inner_w {
        px *= inner_w / widest;
        (l1, l2) = wrap_address(pen, text, px, inner_w);
    }
    let (asc, desc) = pen.metrics(px);
    let pad = (line_h - (asc - desc)) / 2.0;
    pen.draw(img, &l1, (x + 3.0, y + pad + asc), px, ink, 0.0)?;
    if let Some(l2) = l2 {
        pen.draw(img, &l2, (x + 3.0, y + line_h + pad + asc), px, ink, 0.0)?;
    }
    Ok(())
}

/// The light, slightly patterned card stock.
fn background(doc: DocumentType, rng: &mut SynthRng) -> Result<Mat> {
    let (c0, c1, line): ([f32; 3], [f32; 3], [f64; 3]) = match doc {
        DocumentType::DriverLicence => (
            [236.0, 244.0, 248.0],
            [244.0, 236.0, 246.0],
            [222.0, 214.0, 236.0],
        ),
        _ => (
            [248.0, 244.0, 240.0],
            [240.0, 242.0, 247.0],
            [236.0, 224.0, 214.0],
        ),
    };
    let mut img =
        Mat::new_rows_cols_with_default(CARD_HEIGHT, CARD_WIDTH, CV_8UC3, Scalar::all(0.0))?;
    {
        let data = img.data_bytes_mut()?;
        let (w, h) = (CARD_WIDTH as usize, CARD_HEIGHT as usize);
        for yy in 0..h {
            for xx in 0..w {
                let t = (xx as f32 / w as f32) * 0.6 + (yy as f32 / h as f32) * 0.4;
                let i = (yy * w + xx) * 3;
                for ch in 0..3 {
                    data[i + ch] = (c0[ch] + (c1[ch] - c0[ch]) * t).round() as u8;
                }
            }
        }
    }
    // Guilloche: families of thin sine waves.
    let phase = rng.range(0.0, std::f32::consts::TAU);
    for k in 0..14 {
        let y0 = 20.0 + k as f32 * 38.0;
        let amp = 9.0 + (k % 3) as f32 * 4.0;
        let period = 150.0 + (k % 4) as f32 * 35.0;
        let pts: Vector<Point> = (0..=CARD_WIDTH / 4)
            .map(|i| {
                let x = (i * 4) as f32;
                let y = y0 + amp * (x / period * std::f32::consts::TAU + phase + k as f32).sin();
                Point::new(x as i32, y as i32)
            })
            .collect();
        let mut curves: Vector<Vector<Point>> = Vector::new();
        curves.push(pts);
        imgproc::polylines(
            &mut img,
            &curves,
            false,
            Scalar::new(line[0], line[1], line[2], 0.0),
            1,
            imgproc::LINE_AA,
            0,
        )?;
    }
    // A faint emblem in the middle of the card.
    let centre = Point::new(CARD_WIDTH * 45 / 100, CARD_HEIGHT / 2);
    imgproc::circle(
        &mut img,
        centre,
        120,
        Scalar::new(line[0] - 6.0, line[1] - 6.0, line[2] - 6.0, 0.0),
        2,
        imgproc::LINE_AA,
        0,
    )?;
    imgproc::ellipse(
        &mut img,
        centre,
        Size::new(100, 100),
        0.0,
        180.0,
        360.0,
        Scalar::new(232.0, 226.0, 246.0, 0.0),
        -1,
        imgproc::LINE_AA,
        0,
    )?;
    imgproc::ellipse(
        &mut img,
        centre,
        Size::new(100, 100),
        0.0,
        0.0,
        180.0,
        Scalar::new(246.0, 232.0, 226.0, 0.0),
        -1,
        imgproc::LINE_AA,
        0,
    )?;
    Ok(img)
}

/// Copies `face` into the photo zone, scaled to cover it and centre-cropped; a drawn silhouette
/// when there is no face.
fn photo(img: &mut Mat, doc: DocumentType, face: Option<&Mat>) -> Result<()> {
    let Some(zone) = zone_of(doc, Field::Photo) else {
        return Ok(());
    };
    paste_photo(img, zone.to_card_pixels(), face)
}

/// Copies `face` into the `(x, y, w, h)` pixel box of `img` (inside it), scaled to cover it and
/// centre-cropped; a drawn silhouette when there is no face.
pub(crate) fn paste_photo(
    img: &mut Mat,
    (x, y, w, h): (i32, i32, i32, i32),
    face: Option<&Mat>,
) -> Result<()> {
    let mut tile =
        Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::new(226.0, 222.0, 214.0, 0.0))?;
    match face {
        Some(face) if face.rows() > 0 && face.cols() > 0 => {
            let bgr = match face.channels() {
                3 => face.try_clone()?,
                1 => {
                    let mut out = Mat::default();
                    imgproc::cvt_color_def(face, &mut out, imgproc::COLOR_GRAY2BGR)?;
                    out
                }
                4 => {
                    let mut out = Mat::default();
                    imgproc::cvt_color_def(face, &mut out, imgproc::COLOR_BGRA2BGR)?;
                    out
                }
                n => {
                    return Err(CardgenError::Unsupported(format!(
                        "face photo has {n} channels; expected BGR"
                    )));
                }
            };
            // Crop to the zone's aspect ratio, keeping the upper part (faces sit high).
            let (fw, fh) = (bgr.cols(), bgr.rows());
            let target = w as f32 / h as f32;
            let crop = if fw as f32 / fh as f32 > target {
                let cw = ((fh as f32 * target) as i32).clamp(1, fw);
                Rect::new((fw - cw) / 2, 0, cw, fh)
            } else {
                let ch = ((fw as f32 / target) as i32).clamp(1, fh);
                Rect::new(0, ((fh - ch) / 4).max(0), fw, ch)
            };
            let cropped = Mat::roi(&bgr, crop)?.try_clone()?;
            imgproc::resize(
                &cropped,
                &mut tile,
                Size::new(w, h),
                0.0,
                0.0,
                imgproc::INTER_AREA,
            )?;
        }
        _ => {
            let grey = Scalar::new(150.0, 140.0, 132.0, 0.0);
            imgproc::ellipse(
                &mut tile,
                Point::new(w / 2, h * 2 / 5),
                Size::new(w / 5, h / 6),
                0.0,
                0.0,
                360.0,
                grey,
                -1,
                imgproc::LINE_AA,
                0,
            )?;
            imgproc::ellipse(
                &mut tile,
                Point::new(w / 2, h),
                Size::new(w * 2 / 5, h / 3),
                0.0,
                180.0,
                360.0,
                grey,
                -1,
                imgproc::LINE_AA,
                0,
            )?;
        }
    }
    let tile = if tile.is_continuous() {
        tile
    } else {
        tile.try_clone()?
    };
    let src = tile.data_bytes()?;
    let cols = img.cols() as usize;
    let dst = img.data_bytes_mut()?;
    for ty in 0..h as usize {
        let d0 = ((y as usize + ty) * cols + x as usize) * 3;
        let s0 = ty * w as usize * 3;
        dst[d0..d0 + w as usize * 3].copy_from_slice(&src[s0..s0 + w as usize * 3]);
    }
    Ok(())
}

/// The issuer's red square seal, drawn semi-transparently from `x` to `x + size`.
pub(crate) fn seal(img: &mut Mat, x: f32, cy: f32, size: f32) -> Result<()> {
    let (x0, y0) = (x as i32, (cy - size / 2.0) as i32);
    let s = size as i32;
    let (cols, rows) = (img.cols(), img.rows());
    let data = img.data_bytes_mut()?;
    let red = [60.0f32, 60.0, 210.0];
    for yy in y0.max(0)..(y0 + s).min(rows) {
        for xx in x0.max(0)..(x0 + s).min(cols) {
            let (dx, dy) = (xx - x0, yy - y0);
            let border = dx < 4 || dy < 4 || dx >= s - 4 || dy >= s - 4;
            let hatch = (dx / 6 + dy / 6) % 2 == 0 && dx > 8 && dy > 8 && dx < s - 8 && dy < s - 8;
            let a = if border {
                0.75
            } else if hatch {
                0.35
            } else {
                continue;
            };
            let i = (yy as usize * cols as usize + xx as usize) * 3;
            for ch in 0..3 {
                // Multiply-like blend: red ink darkens, never lightens.
                let old = f32::from(data[i + ch]);
                data[i + ch] = (old * (1.0 - a) + old.min(red[ch]) * a).round() as u8;
            }
        }
    }
    Ok(())
}

/// Renders the clean, rectified `CARD_WIDTH` × `CARD_HEIGHT` BGR card for `truth`, with `face`
/// The issue date and the issuer, centred, with the red seal over the issuer's last syllable
/// (`seal_scale` × the issuer line's height).
fn print_footer(
    img: &mut Mat,
    (pen, bold): (&Pen, &Pen),
    doc: DocumentType,
    date: &str,
    issuer: &str,
    fill: f32,
    seal_scale: f32,
) -> Result<()> {
    print_in_zone(img, pen, doc, Field::IssueDate, date, fill, 0.0, true)?;
    let end = print_in_zone(img, bold, doc, Field::Issuer, issuer, fill, 2.0, true)?;
    if let Some((_, y, _, h)) = zone_px(doc, Field::Issuer) {
        seal(img, end - h * 0.3, y + h / 2.0, h * seal_scale)?;
    }
    Ok(())
}

/// (any BGR photo) in the photo zone.
pub fn render_card(truth: &CardTruth, face: Option<&Mat>, style: &Style) -> Result<Mat> {
    let doc = truth.doc;
    if !matches!(
        doc,
        DocumentType::ResidentRegistrationCard | DocumentType::DriverLicence
    ) {
        return Err(CardgenError::Unsupported(format!(
            "no synthetic layout for {doc:?}"
        )));
    }
    let mut rng = SynthRng::new(truth.rrn.bytes().fold(0xCA2Du64, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    }));
    let mut img = background(doc, &mut rng)?;
    let pen = Pen::new(style.font, false)?;
    let bold = Pen::new(style.font, true)?;
    let scale = style.scale.clamp(0.5, 1.3);
    let fill = 0.78 * scale;

    match doc {
        DocumentType::DriverLicence => {
            print_in_zone(
                &mut img,
                &bold,
                doc,
                Field::Title,
                "자동차운전면허증",
                0.8,
                10.0,
                false,
            )?;
            if let Some(t) = &truth.licence_type {
                print_in_zone(
                    &mut img,
                    &bold,
                    doc,
                    Field::LicenceType,
                    t,
                    fill,
                    0.0,
                    false,
                )?;
            }
            if let Some(n) = &truth.licence_number {
                print_in_zone(
                    &mut img,
                    &pen,
                    doc,
                    Field::LicenceNumber,
                    n,
                    fill,
                    1.0,
                    false,
                )?;
            }
            print_in_zone(
                &mut img,
                &pen,
                doc,
                Field::Name,
                &truth.name,
                fill,
                2.0,
                false,
            )?;
            print_in_zone(
                &mut img,
                &pen,
                doc,
                Field::Rrn,
                &truth.rrn,
                fill,
                1.0,
                false,
            )?;
            print_address(&mut img, &pen, doc, &truth.address, fill)?;
            if let Some(r) = &truth.renewal {
                let year = r.get(..4).unwrap_or("");
                let text = format!("갱신기간 {year}.01.01~{r}");
                print_in_zone(
                    &mut img,
                    &pen,
                    doc,
                    Field::RenewalPeriod,
                    &text,
                    fill,
                    0.0,
                    false,
                )?;
            }
            let date = licence_date(&truth.issue_date);
            print_footer(
                &mut img,
                (&pen, &bold),
                doc,
                &date,
                &truth.issuer,
                fill,
                1.1,
            )?;
        }
        _ => {
            print_in_zone(
                &mut img,
                &bold,
                doc,
                Field::Title,
                "주민등록증",
                0.82,
                26.0,
                false,
            )?;
            let name = match &truth.name_hanja {
                Some(h) => format!("{}({h})", truth.name),
                None => truth.name.clone(),
            };
            print_in_zone(&mut img, &pen, doc, Field::Name, &name, fill, 3.0, false)?;
            print_in_zone(
                &mut img,
                &pen,
                doc,
                Field::Rrn,
                &truth.rrn,
                fill,
                1.0,
                false,
            )?;
            print_address(&mut img, &pen, doc, &truth.address, fill)?;
            let date = rrc_date(&truth.issue_date);
            print_footer(
                &mut img,
                (&pen, &bold),
                doc,
                &date,
                &truth.issuer,
                fill,
                0.95,
            )?;
        }
    }
    photo(&mut img, doc, face)?;
    Ok(img)
}
