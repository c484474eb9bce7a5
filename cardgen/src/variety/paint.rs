//! Prints a varied card: the [`Design`]'s stock (tint, pattern, emblem), the holder's photo in
//! the design's photo box and the seal on the colour plates, every field of the truth on the
//! design's lines in its fonts and sizes on the black plate, then the wear ([`super::wear`]).

use super::design::{Arrangement, Design, Line, Pattern};
use super::wear;
use crate::error::{CardgenError, Result};
use crate::render::{paste_photo, print_address_in, seal};
use crate::rng::SynthRng;
use crate::text::Pen;
use crate::truth::{CardTruth, licence_date, rrc_date};
use opencv::core::{
    CV_8UC3, Mat, MatTraitConst, MatTraitConstManual, MatTraitManual, Point, Rect, Scalar, Size,
    Vector,
};
use opencv::imgproc;
use vision::card::layout::Field;
use vision::card::{CARD_HEIGHT, CARD_WIDTH, DocumentType};

/// Text height as a share of its line at size 1 (as the regular cards print).
const FILL: f32 = 0.78;

const W: f32 = CARD_WIDTH as f32;
const H: f32 = CARD_HEIGHT as f32;

/// Renders the clean rectified `CARD_WIDTH` × `CARD_HEIGHT` BGR card for `truth` as `design`
/// says, `face` (any BGR photo; a drawn silhouette when `None`) in its photo box, worn as
/// `design.wear` says.
pub fn render_varied(truth: &CardTruth, face: Option<&Mat>, design: &Design) -> Result<Mat> {
    if truth.doc != design.doc {
        return Err(CardgenError::Unsupported(format!(
            "a {:?} design for a {:?} truth",
            design.doc, truth.doc
        )));
    }
    if !matches!(
        truth.doc,
        DocumentType::ResidentRegistrationCard | DocumentType::DriverLicence
    ) {
        return Err(CardgenError::Unsupported(format!(
            "no varied design for {:?}",
            truth.doc
        )));
    }
    let mut rng = SynthRng::new(design.detail_seed);
    let paper = stock(design, &mut rng)?;
    // The colour plates (stock, photo, seal) and the black plate (the text) are separate
    // layers: only the colour ones can be off register.
    let mut colour = paper.try_clone()?;
    let mut black =
        Mat::new_rows_cols_with_default(CARD_HEIGHT, CARD_WIDTH, CV_8UC3, Scalar::all(255.0))?;
    let pens = Pens {
        regular: Pen::new(design.font, false)?,
        bold: Pen::new(design.font, true)?,
        title: Pen::new(design.title_font, true)?,
    };
    let mut seal_at = None;
    for line in &design.lines {
        let pen = match line.field {
            Field::Title | Field::Issuer => &pens.title,
            _ if line.bold => &pens.bold,
            _ => &pens.regular,
        };
        let ink = if line.field == Field::Title {
            title_ink(design)
        } else {
            design.ink
        };
        if line.field == Field::Address {
            print_address(&mut black, pen, line, &truth.address, ink)?;
            continue;
        }
        let Some(text) = text_of(truth, design, line.field) else {
            continue;
        };
        let end = print_line(&mut black, pen, line, &text, ink)?;
        if line.field == Field::Issuer {
            let h = line.h * H;
            seal_at = Some((end - h * 0.3, (line.y + line.h / 2.0) * H, h));
        }
    }
    let [x, y, w, h] = design.photo;
    let (px, py) = ((x * W).round() as i32, (y * H).round() as i32);
    let pw = ((w * W).round() as i32).min(CARD_WIDTH - px);
    let ph = ((h * H).round() as i32).min(CARD_HEIGHT - py);
    paste_photo(&mut colour, (px, py, pw, ph), face)?;
    if let Some((x, cy, h)) = seal_at {
        seal(&mut colour, x, cy, h * design.seal_scale)?;
    }
    wear::misregister(&mut colour, design.wear.misregistration)?;
    let mut img = overprint(&colour, &black)?;
    wear::apply(&mut img, &paper, design, &mut rng)?;
    Ok(img)
}

/// The black plate printed over the colour layer: each channel multiplied by the black
/// layer's (white leaves the colour as it is, ink darkens it).
fn overprint(colour: &Mat, black: &Mat) -> Result<Mat> {
    let mut out = colour.try_clone()?;
    let b = black.data_bytes()?;
    for (o, k) in out.data_bytes_mut()?.iter_mut().zip(b) {
        *o = ((u16::from(*o) * u16::from(*k) + 127) / 255) as u8;
    }
    Ok(out)
}

struct Pens {
    regular: Pen,
    bold: Pen,
    title: Pen,
}

/// The title's colour: the ink, or a dark blue on older licences and some current cards.
fn title_ink(design: &Design) -> [u8; 3] {
    match (design.doc, design.arrangement) {
        (DocumentType::DriverLicence, Arrangement::Older) => [96, 52, 24],
        _ => design.ink,
    }
}

/// What the card prints for `field` (None: nothing, or the address, printed on two lines).
fn text_of(truth: &CardTruth, design: &Design, field: Field) -> Option<String> {
    let licence = truth.doc == DocumentType::DriverLicence;
    match field {
        Field::Title if licence => Some("자동차운전면허증".into()),
        Field::Title => Some("주민등록증".into()),
        Field::Name => Some(match (&truth.name_hanja, licence) {
            (Some(h), false) => format!("{}({h})", truth.name),
            _ => truth.name.clone(),
        }),
        Field::Rrn => Some(truth.rrn.clone()),
        Field::IssueDate if licence => Some(licence_date(&truth.issue_date)),
        Field::IssueDate => Some(rrc_date(&truth.issue_date)),
        Field::Issuer => Some(truth.issuer.clone()),
        Field::LicenceNumber => truth.licence_number.clone(),
        Field::LicenceType => truth.licence_type.clone(),
        Field::RenewalPeriod => truth.renewal.as_ref().map(|r| {
            let year = r.get(..4).unwrap_or("");
            let label = match design.arrangement {
                Arrangement::Current => "갱신기간",
                Arrangement::Older => "적성검사기간",
            };
            format!("{label} {year}.01.01~{r}")
        }),
        Field::Address | Field::Photo => None,
    }
}

/// Prints `text` on `line`: as large as its size says, shrunk to the line's width, vertically
/// centred. Returns the right end in pixels.
fn print_line(img: &mut Mat, pen: &Pen, line: &Line, text: &str, ink: [u8; 3]) -> Result<f32> {
    let (x, y, w, h) = (line.x * W, line.y * H, line.w * W, line.h * H);
    let inner_w = w - 6.0;
    let mut px = h * FILL * line.size;
    let width = pen.measure(text, px, line.spacing);
    if width > inner_w && width > 0.0 {
        px *= inner_w / width;
    }
    let width = pen.measure(text, px, line.spacing);
    let (asc, desc) = pen.metrics(px);
    let baseline = y + (h - (asc - desc)) / 2.0 + asc;
    let left = if line.centred {
        x + (w - width) / 2.0
    } else {
        x + 3.0
    };
    pen.draw(img, text, (left, baseline), px, ink, line.spacing)?;
    Ok(left + width)
}

/// The address on one or two lines of half the line box each.
fn print_address(img: &mut Mat, pen: &Pen, line: &Line, text: &str, ink: [u8; 3]) -> Result<()> {
    let (x, y, w, h) = (line.x * W, line.y * H, line.w * W, line.h * H);
    print_address_in(
        img,
        pen,
        text,
        (x, y, w, h),
        h / 2.0 * FILL * line.size,
        ink,
    )
}

fn bgr(c: [f32; 3], darker: f32) -> Scalar {
    Scalar::new(
        f64::from(c[0] - darker),
        f64::from(c[1] - darker),
        f64::from(c[2] - darker),
        0.0,
    )
}

/// The blank card stock of `design`: a gradient between its tints, its pattern, an emblem and,
/// on older licences, a tinted band behind the title.
fn stock(design: &Design, rng: &mut SynthRng) -> Result<Mat> {
    let [c0, c1] = design.tint;
    let mut img =
        Mat::new_rows_cols_with_default(CARD_HEIGHT, CARD_WIDTH, CV_8UC3, Scalar::all(0.0))?;
    {
        let slant = rng.range(0.4, 0.8);
        let data = img.data_bytes_mut()?;
        let (w, h) = (CARD_WIDTH as usize, CARD_HEIGHT as usize);
        for yy in 0..h {
            for xx in 0..w {
                let t = (xx as f32 / w as f32) * slant + (yy as f32 / h as f32) * (1.0 - slant);
                let i = (yy * w + xx) * 3;
                for ch in 0..3 {
                    data[i + ch] = (c0[ch] + (c1[ch] - c0[ch]) * t).round() as u8;
                }
            }
        }
    }
    if design.doc == DocumentType::DriverLicence && design.arrangement == Arrangement::Older {
        let band = (rng.range(0.13, 0.15) * H) as i32;
        imgproc::rectangle(
            &mut img,
            Rect::new(0, 0, CARD_WIDTH, band),
            bgr(c0, rng.range(10.0, 18.0)),
            -1,
            imgproc::LINE_8,
            0,
        )?;
    }
    let mid = [
        (c0[0] + c1[0]) / 2.0,
        (c0[1] + c1[1]) / 2.0,
        (c0[2] + c1[2]) / 2.0,
    ];
    let line = bgr(mid, rng.range(10.0, 22.0));
    let centre = Point::new(
        (rng.range(0.38, 0.55) * W) as i32,
        (rng.range(0.42, 0.58) * H) as i32,
    );
    match design.pattern {
        Pattern::Guilloche => guilloche(&mut img, line, rng)?,
        Pattern::Rings => {
            let step = rng.range(9.0, 15.0);
            let mut r = step;
            while r < W * 0.8 {
                imgproc::circle(&mut img, centre, r as i32, line, 1, imgproc::LINE_AA, 0)?;
                r += step;
            }
        }
        Pattern::Hatch => {
            let step = rng.range(7.0, 12.0) as i32;
            let faint = bgr(mid, rng.range(6.0, 12.0));
            let mut x = -CARD_HEIGHT;
            while x < CARD_WIDTH {
                imgproc::line(
                    &mut img,
                    Point::new(x, CARD_HEIGHT),
                    Point::new(x + CARD_HEIGHT, 0),
                    faint,
                    1,
                    imgproc::LINE_AA,
                    0,
                )?;
                x += step;
            }
        }
        Pattern::Dots => {
            let step = rng.range(8.0, 12.0) as i32;
            for y in (step / 2..CARD_HEIGHT).step_by(step as usize) {
                let shift = if (y / step) % 2 == 0 { 0 } else { step / 2 };
                for x in (shift..CARD_WIDTH).step_by(step as usize) {
                    imgproc::circle(&mut img, Point::new(x, y), 1, line, -1, imgproc::LINE_8, 0)?;
                }
            }
        }
    }
    if rng.chance(0.75) {
        emblem(&mut img, centre, rng.range(80.0, 125.0) as i32, mid)?;
    }
    Ok(img)
}

/// Families of thin sine waves across the card.
fn guilloche(img: &mut Mat, colour: Scalar, rng: &mut SynthRng) -> Result<()> {
    let phase = rng.range(0.0, std::f32::consts::TAU);
    let rows = rng.int(10, 18);
    let pitch = H / rows as f32;
    let (amp0, period0) = (rng.range(6.0, 12.0), rng.range(120.0, 190.0));
    let mut curves: Vector<Vector<Point>> = Vector::new();
    for k in 0..rows {
        let y0 = pitch * (k as f32 + 0.5);
        let amp = amp0 + (k % 3) as f32 * 4.0;
        let period = period0 + (k % 4) as f32 * 30.0;
        let pts: Vector<Point> = (0..=CARD_WIDTH / 4)
            .map(|i| {
                let x = (i * 4) as f32;
                let y = y0 + amp * (x / period * std::f32::consts::TAU + phase + k as f32).sin();
                Point::new(x as i32, y as i32)
            })
            .collect();
        curves.push(pts);
    }
    imgproc::polylines(img, &curves, false, colour, 1, imgproc::LINE_AA, 0)?;
    Ok(())
}

/// A faint round emblem: a ring and two filled halves, red-ish above, blue-ish below.
fn emblem(img: &mut Mat, centre: Point, r: i32, mid: [f32; 3]) -> Result<()> {
    imgproc::circle(
        img,
        centre,
        r + r / 5,
        bgr(mid, 8.0),
        2,
        imgproc::LINE_AA,
        0,
    )?;
    let warm = Scalar::new(
        f64::from(mid[0] - 12.0),
        f64::from(mid[1] - 14.0),
        f64::from(mid[2]),
        0.0,
    );
    let cool = Scalar::new(
        f64::from(mid[0]),
        f64::from(mid[1] - 10.0),
        f64::from(mid[2] - 16.0),
        0.0,
    );
    for (from, to, colour) in [(180.0, 360.0, warm), (0.0, 180.0, cool)] {
        imgproc::ellipse(
            img,
            centre,
            Size::new(r, r),
            0.0,
            from,
            to,
            colour,
            -1,
            imgproc::LINE_AA,
            0,
        )?;
    }
    Ok(())
}
