//! Reading a rectified card: which document it is (its printed title, else its MRZ; turned
//! 180° when it lies upside down), then every field from its layout zone with the character
//! set that field can hold, normalised (dates as YYYY-MM-DD, the resident number parsed,
//! validated and masked). The fields that identify the holder (name, resident number, issue
//! date) are looked at until two readings agree: a blurred capture misreads one stroke in one
//! preparation and not in the next.

use super::DocumentType;
use super::ink::{Prep, prepare};
use super::layout::{Field, FieldZone, layout, zone_of};
use super::mrz_read::{put_mrz, read_mrz};
use super::names::has_korean_surname;
use super::rectify::to_canonical;
use super::rrn::{Rrn, Sex, find_rrn};
use crate::error::Result;
use crate::ocr::{LineMode, Ocr, OcrText};
use opencv::core::{Mat, ROTATE_180, Rect};
use opencv::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;

/// A field as read, with Tesseract's confidence in 0..1.
#[derive(Clone, Serialize)]
pub struct FieldValue {
    pub value: String,
    pub confidence: f32,
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
    hangul: Ocr,
    latin: Ocr,
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

const TITLES: [(DocumentType, &str); 2] = [
    (DocumentType::ResidentRegistrationCard, "주민등록증"),
    (DocumentType::DriverLicence, "자동차운전면허증"),
];
const DIGITS_DATE: &str = "0123456789. ";
const DIGITS_DASH: &str = "0123456789-";

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
fn title_match(read: &str, expected: &str) -> f32 {
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

fn zone_crop(card: &Mat, z: &FieldZone) -> Result<Mat> {
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
        2,
        |t| find_rrn(t).map(|r| (r, true)),
    )?;
    Ok(found.is_some())
}

/// How a zone is read: page layout and allowed characters.
#[derive(Clone, Copy)]
struct FieldRead {
    mode: LineMode,
    whitelist: Option<&'static str>,
}

impl FieldRead {
    const LINE: Self = Self {
        mode: LineMode::SingleLine,
        whitelist: None,
    };
    const fn digits(whitelist: &'static str) -> Self {
        Self {
            mode: LineMode::SingleLine,
            whitelist: Some(whitelist),
        }
    }
}

/// Reads `zone` in the preparations of [`Prep::RETRIES`], at most `looks` of them, until two
/// readings agree on a value `parse` calls good (`parse` gives the value and whether it is
/// good, or `None` for nothing usable). Otherwise the value read most often wins, good values
/// before others, the earliest on a tie. Returns the value and the reading it first came from.
fn consensus<T: Clone + PartialEq>(
    zone: &Mat,
    engine: &mut Ocr,
    how: FieldRead,
    looks: usize,
    parse: impl Fn(&str) -> Option<(T, bool)>,
) -> Result<Option<(T, OcrText)>> {
    // (value, good, votes, first reading)
    let mut seen: Vec<(T, bool, usize, OcrText)> = Vec::new();
    for prep in Prep::RETRIES.into_iter().take(looks.max(1)) {
        let t = engine.read(&prepare(zone, prep)?, how.mode, how.whitelist)?;
        let Some((value, good)) = parse(&t.text) else {
            continue;
        };
        match seen.iter_mut().find(|s| s.0 == value) {
            Some(s) => {
                s.2 += 1;
                if s.1 && s.2 >= 2 {
                    break;
                }
            }
            None => seen.push((value, good, 1, t)),
        }
    }
    let mut best: Option<&(T, bool, usize, OcrText)> = None;
    for s in &seen {
        if best.is_none_or(|b| (s.1, s.2) > (b.1, b.2)) {
            best = Some(s);
        }
    }
    Ok(best.map(|s| (s.0.clone(), s.3.clone())))
}

/// How many preparations a doubtful identifying field is read in.
const LOOKS: usize = Prep::RETRIES.len();

fn hangul_only(s: &str) -> String {
    s.chars()
        .filter(|c| ('\u{AC00}'..='\u{D7A3}').contains(c))
        .collect()
}

/// "2019. 3. 5." / "2019.03.05" → "2019-03-05".
pub fn normalise_date(s: &str) -> Option<String> {
    let nums: Vec<u32> = s
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .filter_map(|p| p.parse().ok())
        .collect();
    let (y, m, mut d) = match nums.as_slice() {
        [y, m, d, ..] => (*y, *m, *d),
        _ => return None,
    };
    // A trailing period is sometimes read as one more digit of the day ("23." → "236").
    if d > 31 && (100..=319).contains(&d) {
        d /= 10;
    }
    if !(1900..=2100).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// `RR-YY-NNNNNN-CC` from what was read, or None.
fn normalise_licence_number(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    (digits.len() == 12).then(|| {
        format!(
            "{}-{}-{}-{}",
            &digits[0..2],
            &digits[2..4],
            &digits[4..10],
            &digits[10..12]
        )
    })
}

pub(super) fn put(
    fields: &mut BTreeMap<&'static str, FieldValue>,
    key: &'static str,
    value: String,
    t: &OcrText,
) {
    if !value.is_empty() {
        fields.insert(
            key,
            FieldValue {
                value,
                confidence: t.confidence,
            },
        );
    }
}

/// One reading of a zone prepared as ink, any character allowed (the fields that do not
/// identify the holder).
fn read_ink(engine: &mut Ocr, zone: &Mat, mode: LineMode) -> Result<OcrText> {
    engine.read(&prepare(zone, Prep::Ink)?, mode, None)
}

fn read_fields(
    card: &Mat,
    doc: DocumentType,
    ocr: &mut CardReader,
    out: &mut CardReading,
) -> Result<()> {
    for z in layout(doc) {
        if matches!(z.field, Field::Title | Field::Photo) {
            continue;
        }
        let zone = zone_crop(card, z)?;
        let f = &mut out.fields;
        match z.field {
            Field::Name => {
                let split = |text: &str| -> (String, String) {
                    let (name, hanja) = match text.split_once(['(', '（']) {
                        Some((n, h)) => (n, h),
                        None => (text, ""),
                    };
                    // Hanja are kept only when they were really read (no `chi_tra` data is
                    // installed, so usually they are not).
                    let hanja = hanja
                        .chars()
                        .filter(|c| ('\u{4E00}'..='\u{9FFF}').contains(c))
                        .collect();
                    (hangul_only(name), hanja)
                };
                let read = consensus(&zone, &mut ocr.hangul, FieldRead::LINE, LOOKS, |t| {
                    let name = split(t).0;
                    let good = has_korean_surname(&name);
                    (!name.is_empty()).then_some((name, good))
                })?;
                if let Some((name, t)) = read {
                    put(f, "name", name, &t);
                    put(f, "name_hanja", split(&t.text).1, &t);
                }
            }
            Field::Rrn => {
                let read = consensus(
                    &zone,
                    &mut ocr.latin,
                    FieldRead::digits(DIGITS_DASH),
                    LOOKS,
                    |t| find_rrn(t).map(|r| (r, true)),
                )?;
                match read {
                    Some((rrn, t)) => {
                        let key = if doc == DocumentType::DriverLicence {
                            "resident_number"
                        } else {
                            "document_number"
                        };
                        put(f, key, rrn.mask(), &t);
                        put(f, "birth_date", rrn.birth_date.to_string(), &t);
                        let sex = match rrn.sex {
                            Sex::Male => "M",
                            Sex::Female => "F",
                        };
                        put(f, "sex", sex.to_string(), &t);
                        out.warnings.extend(rrn.warnings.iter().cloned());
                        out.rrn = Some(rrn);
                    }
                    None => out
                        .warnings
                        .push("the resident registration number could not be read".into()),
                }
            }
            Field::IssueDate => {
                let read = consensus(
                    &zone,
                    &mut ocr.latin,
                    FieldRead::digits(DIGITS_DATE),
                    LOOKS,
                    |t| normalise_date(t).map(|d| (d, true)),
                )?;
                match read {
                    Some((d, t)) => put(f, "issue_date", d, &t),
                    None => out.warnings.push("the issue date could not be read".into()),
                }
            }
            Field::LicenceNumber => {
                let read = consensus(
                    &zone,
                    &mut ocr.latin,
                    FieldRead::digits(DIGITS_DASH),
                    LOOKS,
                    |t| normalise_licence_number(t).map(|n| (n, true)),
                )?;
                match read {
                    Some((n, t)) => put(f, "document_number", n, &t),
                    None => out
                        .warnings
                        .push("the licence number could not be read".into()),
                }
            }
            Field::Address => {
                let t = read_ink(&mut ocr.hangul, &zone, LineMode::Block)?;
                let a = t.text.split_whitespace().collect::<Vec<_>>().join(" ");
                put(f, "address", a, &t);
            }
            // The seal printed over the issuer's last syllable reads as stray marks: keep the
            // Hangul words.
            Field::Issuer => {
                let t = read_ink(&mut ocr.hangul, &zone, LineMode::SingleLine)?;
                let issuer = t
                    .text
                    .split_whitespace()
                    .map(hangul_only)
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                put(f, "issuer", issuer, &t);
            }
            Field::LicenceType => {
                let t = read_ink(&mut ocr.hangul, &zone, LineMode::SingleLine)?;
                put(f, "licence_type", t.text.split_whitespace().collect(), &t);
            }
            Field::RenewalPeriod => {
                let t = read_ink(&mut ocr.hangul, &zone, LineMode::SingleLine)?;
                let dates: Vec<String> = t
                    .text
                    .split(['~', '∼', '-'])
                    .filter_map(normalise_date)
                    .collect();
                put(f, "renewal_period", dates.join("~"), &t);
            }
            Field::Title | Field::Photo => {}
        }
    }
    Ok(())
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
    fn dates_normalise() {
        assert_eq!(normalise_date("2019. 3. 5.").as_deref(), Some("2019-03-05"));
        assert_eq!(normalise_date("2030.12.31").as_deref(), Some("2030-12-31"));
        assert_eq!(normalise_date("19. 3"), None);
        assert_eq!(normalise_date("2019. 13. 5."), None);
    }

    #[test]
    fn licence_numbers_normalise() {
        assert_eq!(
            normalise_licence_number("11-20 123456-01").as_deref(),
            Some("11-20-123456-01")
        );
        assert_eq!(normalise_licence_number("11-20-1234-01"), None);
    }

    #[test]
    fn titles_match_in_order() {
        assert!((title_match("주 민 등 록 증", "주민등록증") - 1.0).abs() < 1e-6);
        assert!(title_match("자동차운전면허증", "주민등록증") < 0.5);
        assert!(title_match("주민증", "주민등록증") > 0.5);
    }
}
