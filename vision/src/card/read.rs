//! Reading a rectified card: which document it is (its printed title, else its MRZ; turned
//! 180° when it lies upside down), then every field where it is printed (`fields.rs`), then
//! the checks across fields (`cross_check.rs`).

use super::DocumentType;
use super::cross_check::cross_check;
use super::fields::{DIGITS_DASH, FieldRead, consensus, read_fields, read_ink};
use super::ink::Prep;
use super::layout::{Field, FieldZone, zone_of};
use super::mrz_read::{put_mrz, read_mrz};
use super::rectify::to_canonical;
use super::rrn::{Rrn, find_rrn};
use crate::error::Result;
use crate::ocr::{LineMode, Ocr, OcrText};
use opencv::core::{Mat, ROTATE_180, Rect};
use opencv::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// A field as read, with Tesseract's confidence in 0..1 and where it was read.
#[derive(Clone, Serialize)]
pub struct FieldValue {
    pub value: String,
    pub confidence: f32,
    /// The box it was read from, `[x, y, w, h]` in fractions of the rectified card's width and
    /// height (absent for the fields of an MRZ).
    #[serde(rename = "box", skip_serializing_if = "Option::is_none")]
    pub region: Option<[f32; 4]>,
}

/// What was read from a card. `fields` holds no full resident number: `document_number` /
/// `resident_number` are masked (`YYMMDD-S******`); the full number is only in `rrn`, which is
/// never serialised or printed.
#[derive(Serialize)]
pub struct CardReading {
    pub document_type: DocumentType,
    pub fields: BTreeMap<&'static str, FieldValue>,
    /// True when the card was read after turning it 180°.
    pub turned: bool,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub rrn: Option<Rrn>,
}

impl std::fmt::Debug for CardReading {
    // Field values are personal data: name only the fields present.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardReading")
            .field("document_type", &self.document_type)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("turned", &self.turned)
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// The Tesseract engines a card needs: Korean alone for the Hangul fields (with English loaded
/// too, Tesseract reads Hangul next to Hanja as Latin garbage), a mixed one for digits (Korean
/// and English: it reads the digits best), and for MRZs English alone plus, where fetched, a
/// model trained on MRZ lines (`mrz.traineddata`). One per worker, like the face engines.
pub struct CardReader {
    pub(super) hangul: Ocr,
    pub(super) latin: Ocr,
    pub(super) eng: Ocr,
    pub(super) mrz: Option<Ocr>,
}

/// The MRZ model's file name, in the folder given to [`CardReader::with_mrz_model`].
pub const MRZ_MODEL_FILE: &str = "mrz.traineddata";

impl CardReader {
    /// Loads `kor`, `kor+eng` and `eng` from `datapath` (Tesseract's default folder when
    /// `None`); MRZs are then read with `eng` only.
    pub fn new(datapath: Option<&std::path::Path>) -> Result<Self> {
        Self::with_mrz_model(datapath, None)
    }

    /// As [`CardReader::new`], plus the MRZ model from `mrz_dir` (`kyc models fetch` puts it in
    /// `models/files/tessdata`). A folder without it is said once in the log and MRZs are read
    /// with `eng` alone (about half as many documents read exactly). The two MRZ engines load
    /// their data on the first MRZ, so a Korean card never waits for them.
    pub fn with_mrz_model(
        datapath: Option<&std::path::Path>,
        mrz_dir: Option<&std::path::Path>,
    ) -> Result<Self> {
        let mrz = match mrz_dir {
            Some(dir) if dir.join(MRZ_MODEL_FILE).is_file() => {
                Some(Ocr::deferred("mrz", Some(dir)))
            }
            Some(dir) => {
                tracing::warn!(
                    "no {MRZ_MODEL_FILE} in {}: MRZs are read with the English model only (run \
                     `kyc models fetch`)",
                    dir.display()
                );
                None
            }
            None => None,
        };
        Ok(Self {
            hangul: Ocr::new("kor", datapath)?,
            latin: Ocr::new("kor+eng", datapath)?,
            eng: Ocr::deferred("eng", datapath),
            mrz,
        })
    }

    /// Whether MRZs are read with the MRZ model too.
    pub fn has_mrz_model(&self) -> bool {
        self.mrz.is_some()
    }

    /// Reads a rectified card; see [`read_card`].
    pub fn read(&mut self, card: &Mat) -> Result<CardReading> {
        read_card(card, self)
    }
}

pub(super) const TITLES: [(DocumentType, &str); 2] = [
    (DocumentType::ResidentRegistrationCard, "주민등록증"),
    (DocumentType::DriverLicence, "자동차운전면허증"),
];
/// The zone `x, y, w, h` (fractions of the card), widened a little: rectification can be a few
/// pixels off. (Measured on generated cards: wider crops pull in the neighbouring fields, a
/// white border round the crop did not help.)
pub(super) fn crop(card: &Mat, x: f32, y: f32, w: f32, h: f32) -> Result<Mat> {
    let (cw, ch) = (card.cols() as f32, card.rows() as f32);
    let (px, py) = (0.01, h * 0.06);
    let r = Rect::new(
        ((x - px) * cw) as i32,
        ((y - py) * ch) as i32,
        (((w + 2.0 * px) * cw) as i32).max(1),
        (((h + 2.0 * py) * ch) as i32).max(1),
    ) & Rect::new(0, 0, card.cols(), card.rows());
    Ok(Mat::roi(card, r)?.try_clone()?)
}

/// Share of the expected title's characters found, in order, in what was read.
pub(super) fn title_match(read: &str, expected: &str) -> f32 {
    let read: Vec<char> = read.chars().filter(|c| !c.is_whitespace()).collect();
    let mut i = 0;
    let mut hits = 0;
    for e in expected.chars() {
        if let Some(p) = read[i..].iter().position(|&c| c == e) {
            hits += 1;
            i += p + 1;
        }
    }
    hits as f32 / expected.chars().count().max(1) as f32
}

pub(super) fn zone_crop(card: &Mat, z: &FieldZone) -> Result<Mat> {
    crop(card, z.x, z.y, z.w, z.h)
}

/// A title read this well names the document.
const TITLE_SURE: f32 = 0.6;
/// A title read at least this well names the document when its resident number reads valid.
const TITLE_LIKELY: f32 = 0.3;

/// The document type from the printed title, with how well it matched (a sure match stops the
/// search).
fn detect_title(card: &Mat, ocr: &mut CardReader) -> Result<(DocumentType, f32)> {
    let mut best = (DocumentType::Unknown, 0.0);
    for (doc, title) in TITLES {
        let Some(z) = zone_of(doc, Field::Title) else {
            continue;
        };
        let text = read_ink(&mut ocr.hangul, &zone_crop(card, z)?, LineMode::SingleLine)?;
        let m = title_match(&text.text, title);
        if m > best.1 {
            best = (doc, m);
        }
        if m >= 0.8 {
            break;
        }
    }
    Ok(best)
}

/// Whether the card's resident number zone, as laid out for `doc`, holds a valid number.
fn rrn_confirms(card: &Mat, doc: DocumentType, ocr: &mut CardReader) -> Result<bool> {
    let Some(z) = zone_of(doc, Field::Rrn) else {
        return Ok(false);
    };
    let zone = zone_crop(card, z)?;
    let found = consensus(
        &zone,
        &mut ocr.latin,
        FieldRead::digits(DIGITS_DASH),
        &Prep::RETRIES[..2],
        |t| find_rrn(t).map(|r| (r, true)),
    )?;
    Ok(found.is_some())
}

/// Keeps a field read from `t` (nothing when empty).
pub(super) fn put(
    fields: &mut BTreeMap<&'static str, FieldValue>,
    key: &'static str,
    value: String,
    t: &OcrText,
) {
    put_in(fields, key, value, t, None);
}

/// As [`put`], with the place it was read from.
pub(super) fn put_at(
    fields: &mut BTreeMap<&'static str, FieldValue>,
    key: &'static str,
    value: String,
    t: &OcrText,
    at: &FieldZone,
) {
    put_in(fields, key, value, t, Some([at.x, at.y, at.w, at.h]));
}

fn put_in(
    fields: &mut BTreeMap<&'static str, FieldValue>,
    key: &'static str,
    value: String,
    t: &OcrText,
    region: Option<[f32; 4]>,
) {
    if !value.is_empty() {
        fields.insert(
            key,
            FieldValue {
                value,
                confidence: t.confidence,
                region,
            },
        );
    }
}

/// Reads a rectified card (any size with the ID-1 aspect; resized to the canonical size).
pub fn read_card(card: &Mat, ocr: &mut CardReader) -> Result<CardReading> {
    let mut canonical = to_canonical(card)?;
    let mut out = CardReading {
        document_type: DocumentType::Unknown,
        fields: BTreeMap::new(),
        turned: false,
        warnings: Vec::new(),
        rrn: None,
    };
    let (mut doc, mut score) = detect_title(&canonical, ocr)?;
    if score < TITLE_SURE {
        let mut turned = Mat::default();
        opencv::core::rotate(&canonical, &mut turned, ROTATE_180)?;
        let (d2, s2) = detect_title(&turned, ocr)?;
        if s2 > score {
            (doc, score) = (d2, s2);
            canonical = turned;
            out.turned = true;
        }
    }
    // A title half read names the document when the number printed where that document prints
    // it reads as a valid resident number.
    let sure =
        score >= TITLE_SURE || (score >= TITLE_LIKELY && rrn_confirms(&canonical, doc, ocr)?);
    if sure {
        out.document_type = doc;
        read_fields(&canonical, doc, ocr, &mut out)?;
        cross_check(doc, &mut out, time::OffsetDateTime::now_utc().date());
        return Ok(out);
    }
    // No Korean title: an ID card's back or a passport page carries its MRZ at the bottom (the
    // card may lie upside down, whatever the title search guessed).
    let mut found = read_mrz(&canonical, ocr)?;
    if found.is_none() {
        let mut turned = Mat::default();
        opencv::core::rotate(&canonical, &mut turned, ROTATE_180)?;
        found = read_mrz(&turned, ocr)?;
        if found.is_some() {
            out.turned = !out.turned;
        }
    }
    match found {
        Some(read) => put_mrz(&read, &mut out),
        None => out.warnings.push(
            "the document type was not recognised: show the front of a Korean resident \
             registration card or driver's licence, or the MRZ side of an ID card or passport"
                .into(),
        ),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_match_in_order() {
        assert!((title_match("주 민 등 록 증", "주민등록증") - 1.0).abs() < 1e-6);
        assert!(title_match("자동차운전면허증", "주민등록증") < 0.5);
        assert!(title_match("주민증", "주민등록증") > 0.5);
    }
}
