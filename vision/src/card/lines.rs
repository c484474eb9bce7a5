//! Where a field is really printed: the text lines near its layout zone, found by their ink.
//!
//! Real cards are not printed where `layout.rs` says to the pixel: another printer, an older
//! design, a camera that rectifies a little differently put a line of text a few percent of
//! the card's height away from its zone, and a crop of the zone alone then cuts it in half or
//! reads the neighbouring field. So the zone is a starting guess: the rows of the card around
//! it are prepared as ink (as for reading), the ink per row over the zone's width gives the
//! text lines, and a field is read from the line nearest its zone (the next nearest when the
//! nearest does not read as that field: [`candidates`]).

use super::ink::{Prep, prepare};
use super::layout::FieldZone;
use crate::error::Result;
use opencv::core::{Mat, Rect};
use opencv::prelude::*;

/// How far above and below its zone a field's line is looked for, as a fraction of the card's
/// height (real cards: a few percent).
pub const SEARCH_MARGIN: f32 = 0.05;
/// A row with at least this share of its width in ink belongs to a text line.
const INKED_ROW: f32 = 0.015;
/// Rows of ink closer than this (fraction of the card height) are one line (a Hangul
/// syllable's parts, a diacritic).
const JOIN_GAP: f32 = 0.008;
/// Lines thinner than this (fraction of the card height) are rules or specks, not text.
const MIN_LINE: f32 = 0.02;

/// A text line found on the card: its rows, in pixels of the card image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLine {
    pub top: i32,
    pub bottom: i32,
}

impl TextLine {
    pub fn height(&self) -> i32 {
        self.bottom - self.top
    }

    fn centre(&self) -> f32 {
        (self.top + self.bottom) as f32 / 2.0
    }
}

/// The text lines across columns `x0..x1` between rows `y0..y1` of `card` (pixels), top to
/// bottom.
pub fn text_lines(card: &Mat, x0: i32, y0: i32, x1: i32, y1: i32) -> Result<Vec<TextLine>> {
    let r = Rect::new(x0, y0, (x1 - x0).max(1), (y1 - y0).max(1))
        & Rect::new(0, 0, card.cols(), card.rows());
    if r.width < 4 || r.height < 4 {
        return Ok(Vec::new());
    }
    // Black ink on white after the preparation: count the dark pixels per row.
    let ink = prepare(&Mat::roi(card, r)?.try_clone()?, Prep::Ink)?;
    let min_ink = ((r.width as f32 * INKED_ROW).ceil() as usize).max(2);
    let mut inked = Vec::with_capacity(r.height as usize);
    for y in 0..r.height {
        let row = ink.at_row::<u8>(y)?;
        inked.push(row.iter().filter(|&&v| v < 128).count() >= min_ink);
    }
    let h = card.rows() as f32;
    let gap = (JOIN_GAP * h).round() as i32;
    let min_line = (MIN_LINE * h).round() as i32;
    let mut lines: Vec<TextLine> = Vec::new();
    let mut y = 0;
    while y < r.height {
        if !inked[y as usize] {
            y += 1;
            continue;
        }
        let top = y;
        while y < r.height && inked[y as usize] {
            y += 1;
        }
        let line = TextLine {
            top: r.y + top,
            bottom: r.y + y,
        };
        match lines.last_mut() {
            Some(last) if line.top - last.bottom <= gap => last.bottom = line.bottom,
            _ => lines.push(line),
        }
    }
    lines.retain(|l| l.height() >= min_line);
    Ok(lines)
}

/// How far left of its zone a line's ink is followed (fraction of the card's width): a line
/// printed a little left of the zone would lose its first character to the crop.
const LEFT_REACH: f32 = 0.04;
/// A gap in the ink this wide (fraction of the card's width) ends the line: wider than the
/// space between two words, narrower than the margin between the text and the photo.
const LEFT_GAP: f32 = 0.012;
/// Pixels of blank kept before a line's first ink.
const LEFT_PAD: i32 = 8;

/// Where the ink of the line `line` begins when it starts left of `x0`, following it leftwards
/// through gaps narrower than [`LEFT_GAP`] for at most [`LEFT_REACH`] (a few pixels of margin
/// kept); `x0` when the line starts at or after it.
fn line_start(card: &Mat, line: &TextLine, x0: i32, x1: i32) -> Result<i32> {
    let w = card.cols() as f32;
    let reach = (LEFT_REACH * w).round() as i32;
    let gap = (LEFT_GAP * w).round() as i32;
    let left = (x0 - reach).max(0);
    // Thresholded over the whole line, so that the text sets the threshold.
    let band = Rect::new(left, line.top, (x1 - left).max(1), line.height().max(1))
        & Rect::new(0, 0, card.cols(), card.rows());
    let r = band & Rect::new(left, line.top, (x0 + 1 - left).max(1), line.height().max(1));
    if r.width < 2 || r.height < 2 {
        return Ok(x0);
    }
    let ink = prepare(&Mat::roi(card, band)?.try_clone()?, Prep::Ink)?;
    let inked = |x: i32| -> Result<bool> {
        let mut n = 0;
        for y in 0..r.height {
            n += usize::from(*ink.at_2d::<u8>(y, x)? < 128);
        }
        Ok(n >= 2)
    };
    let mut start = r.width - 1;
    if !inked(start)? {
        return Ok(x0);
    }
    for x in (0..r.width - 1).rev() {
        if inked(x)? {
            start = x;
        } else if start - x > gap {
            break;
        }
    }
    if start == r.width - 1 {
        return Ok(x0);
    }
    // Half the blank before the line, at most a few pixels: the margin Tesseract reads best
    // with, never reaching the ink before it.
    let mut blank = 0;
    while blank < 2 * LEFT_PAD && start - blank > 0 && !inked(start - blank - 1)? {
        blank += 1;
    }
    let pad = if start - blank - 1 < 0 {
        LEFT_PAD
    } else {
        (blank / 2).min(LEFT_PAD)
    };
    Ok((r.x + start - pad).max(0).min(x0))
}

/// Where to read a one-line field whose layout zone is `zone`: the zone moved onto each text
/// line found near it, the nearest first (by the distance of the line's centre from the
/// zone's), and widened to the left when the line's ink begins left of the zone, as
/// `(x, y, w, h)` fractions of the card; the zone itself last, as laid out. A line much taller
/// than the zone (two lines run together) is not a candidate.
pub fn candidates(card: &Mat, zone: &FieldZone) -> Result<Vec<FieldZone>> {
    let (w, h) = (card.cols() as f32, card.rows() as f32);
    let x0 = (zone.x * w) as i32;
    let x1 = ((zone.x + zone.w) * w) as i32;
    let y0 = ((zone.y - SEARCH_MARGIN) * h) as i32;
    let y1 = ((zone.y + zone.h + SEARCH_MARGIN) * h) as i32;
    let centre = (zone.y + zone.h / 2.0) * h;
    let mut lines = text_lines(card, x0, y0, x1, y1)?;
    lines.retain(|l| (l.height() as f32) <= zone.h * h * 1.3);
    lines.sort_by(|a, b| {
        (a.centre() - centre)
            .abs()
            .total_cmp(&(b.centre() - centre).abs())
    });
    let mut out: Vec<FieldZone> = Vec::with_capacity(lines.len() + 1);
    for l in &lines {
        // The zone's height, centred on the line: the crop keeps the margins the reader was
        // measured with.
        let zh = zone.h.max(l.height() as f32 / h * 1.25);
        let x = line_start(card, l, x0, x1)? as f32 / w;
        out.push(FieldZone {
            x,
            w: zone.x + zone.w - x,
            y: (l.centre() / h - zh / 2.0).max(0.0),
            h: zh,
            ..*zone
        });
    }
    out.push(*zone);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::layout::Field;
    use opencv::core::{CV_8UC3, Point, Scalar};
    use opencv::imgproc;

    /// A white card 856 × 540 with black bars (text lines) at the given rows.
    fn card_with_lines(rows: &[(i32, i32)]) -> Mat {
        let mut card =
            Mat::new_rows_cols_with_default(540, 856, CV_8UC3, Scalar::all(235.0)).expect("mat");
        for &(top, bottom) in rows {
            let mut x = 50;
            while x < 500 {
                imgproc::rectangle_points(
                    &mut card,
                    Point::new(x, top),
                    Point::new(x + 20, bottom),
                    Scalar::all(20.0),
                    -1,
                    imgproc::LINE_8,
                    0,
                )
                .expect("draw");
                x += 30;
            }
        }
        card
    }

    #[test]
    fn lines_are_found_where_the_ink_is() {
        let card = card_with_lines(&[(100, 130), (150, 175), (300, 330)]);
        let lines = text_lines(&card, 40, 80, 520, 340).expect("lines");
        assert_eq!(
            lines,
            vec![
                TextLine {
                    top: 100,
                    bottom: 131
                },
                TextLine {
                    top: 150,
                    bottom: 176
                },
                TextLine {
                    top: 300,
                    bottom: 331
                }
            ]
        );
        let blank = card_with_lines(&[]);
        assert!(text_lines(&blank, 0, 0, 856, 540).expect("none").is_empty());
    }

    #[test]
    fn a_field_printed_lower_than_its_zone_is_read_where_it_is() {
        // The zone says rows 378..421 (0.70..0.78 of 540); the line is printed 12 px lower,
        // and the next field's line sits below it.
        let zone = FieldZone {
            field: Field::IssueDate,
            x: 0.05,
            y: 0.70,
            w: 0.5,
            h: 0.08,
        };
        let card = card_with_lines(&[(392, 424), (432, 446)]);
        let found = candidates(&card, &zone).expect("candidates");
        assert_eq!(found.len(), 3, "two lines and the zone: {found:?}");
        let centre = (found[0].y + found[0].h / 2.0) * 540.0;
        assert!((centre - 408.0).abs() < 2.0, "{found:?}");
        assert_eq!(found.last(), Some(&zone));
    }

    #[test]
    fn a_line_begun_left_of_its_zone_is_followed_to_its_first_ink_and_no_further() {
        // The text blocks start at x = 50; the zone starts at 68, inside the first one.
        let zone = FieldZone {
            field: Field::Name,
            x: 68.0 / 856.0,
            y: 0.18,
            w: 0.5,
            h: 0.08,
        };
        let mut card = card_with_lines(&[(100, 130)]);
        let found = candidates(&card, &zone).expect("candidates");
        // Followed to 50, with the margin kept (the card's edge is far).
        assert!((found[0].x * 856.0 - 42.0).abs() < 0.5, "{found:?}");
        assert!(((found[0].x + found[0].w) - (zone.x + zone.w)).abs() < 1e-4);
        // A photo 12 px before the text: the margin is half the gap, the photo stays out.
        imgproc::rectangle_points(
            &mut card,
            Point::new(0, 60),
            Point::new(37, 300),
            Scalar::all(20.0),
            -1,
            imgproc::LINE_8,
            0,
        )
        .expect("draw");
        let found = candidates(&card, &zone).expect("candidates");
        assert!((found[0].x * 856.0 - 44.0).abs() < 0.5, "{found:?}");
        // A zone that begins in the blank before its line keeps its own left edge.
        let clear = FieldZone {
            x: 72.0 / 856.0,
            ..zone
        };
        let found = candidates(&card, &clear).expect("candidates");
        assert!((found[0].x - clear.x).abs() < 1e-6, "{found:?}");
    }
}
