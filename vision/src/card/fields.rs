//! Reading each printed field of a Korean card where it is printed: the field's layout zone is
//! a starting guess, the text lines near it (`lines.rs`) are where it is looked for, the
//! nearest first, and a line counts as the field when what it says has that field's form (a
//! valid resident number, a date, a licence number, a Korean name). Every field is read with
//! the character set it can hold and normalised (dates as YYYY-MM-DD, the resident number
//! parsed, validated and masked), and keeps the box it was read from. The fields that identify
//! the holder are looked at until two readings agree: a blurred capture misreads one stroke in
//! one preparation and not in the next.

use super::DocumentType;
use super::deblur::{Smear, deconvolve, estimate_smear};
use super::detect::to_gray;
use super::ink::{Prep, prepare};
use super::layout::{Field, FieldZone, layout};
use super::lines::candidates;
use super::names::{has_korean_surname, is_likely_name, syllable_vote};
use super::read::{CardReader, CardReading, TITLES, put_at, title_match, zone_crop};
use super::rrn::{Sex, find_rrn};
use crate::error::Result;
use crate::ocr::{LineMode, Ocr, OcrText};
use opencv::core::{Mat, Size};
use opencv::imgproc;

const DIGITS_DATE: &str = "0123456789. ";
pub(super) const DIGITS_DASH: &str = "0123456789-";

/// How a zone is read: page layout and allowed characters.
#[derive(Clone, Copy)]
pub(super) struct FieldRead {
    mode: LineMode,
    whitelist: Option<&'static str>,
}

impl FieldRead {
    pub(super) const fn digits(whitelist: &'static str) -> Self {
        Self {
            mode: LineMode::SingleLine,
            whitelist: Some(whitelist),
        }
    }
}

/// Reads `zone` in the preparations `looks`, in order, until two
/// readings agree on a value `parse` calls good (`parse` gives the value and whether it is
/// good, or `None` for nothing usable). Otherwise the value read most often wins, good values
/// before others, the earliest on a tie. Returns the value, whether it is good, and the reading
/// it first came from.
pub(super) fn consensus<T: Clone + PartialEq>(
    zone: &Mat,
    engine: &mut Ocr,
    how: FieldRead,
    looks: &[Prep],
    parse: impl Fn(&str) -> Option<(T, bool)>,
) -> Result<Option<(T, bool, OcrText)>> {
    // (value, good, votes, first reading)
    let mut seen: Vec<(T, bool, usize, OcrText)> = Vec::new();
    for &prep in looks {
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
    Ok(best.map(|s| (s.0.clone(), s.1, s.3.clone())))
}

/// How many preparations a doubtful identifying field is read in.
const LOOKS: &[Prep] = &Prep::RETRIES;
/// The order a name is looked at in: a binarised Hangul syllable loses the short stroke that
/// tells 희 from 회 or 이 from 여, and the two binarised looks agree on the same loss, so the
/// second and third looks are unthresholded (the third sharpened: a little motion blur). On 400
/// varied cards of the tuning seeds (0–399), names exact 385 → 389 (first session), then with
/// the syllable vote, the Sino-Korean prior and the lines followed left of their zone 386 → 389.
const NAME_LOOKS: &[Prep] = &[
    Prep::Ink,
    Prep::Gray,
    Prep::BrightestSharpened,
    Prep::Brightest,
    Prep::InkUpscaled,
    Prep::InkSharpened,
];

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

/// How many places a field is looked for: the two lines nearest its zone, then the zone as
/// laid out.
const PLACES: usize = 3;

/// `field` read from the lines near `zone`, nearest first, until one reads as the field
/// (`parse` calls it good); otherwise the first value read at all. Returns the value, the
/// reading and the place it was read from.
fn read_near<T: Clone + PartialEq>(
    card: &Mat,
    zone: &FieldZone,
    engine: &mut Ocr,
    how: FieldRead,
    looks: &[Prep],
    parse: impl Fn(&str) -> Option<(T, bool)>,
) -> Result<Option<(T, OcrText, FieldZone)>> {
    let mut fallback = None;
    for place in places(card, zone)? {
        let crop = zone_crop(card, &place)?;
        match consensus(&crop, engine, how, looks, &parse)? {
            Some((value, true, t)) => return Ok(Some((value, t, place))),
            Some((value, false, t)) if fallback.is_none() => fallback = Some((value, t, place)),
            _ => {}
        }
    }
    Ok(fallback)
}

/// A field of digits (`whitelist`) read as [`read_near`] reads, in every preparation.
fn read_digits<T: Clone + PartialEq>(
    card: &Mat,
    zone: &FieldZone,
    engine: &mut Ocr,
    whitelist: &'static str,
    parse: impl Fn(&str) -> Option<(T, bool)>,
) -> Result<Option<(T, OcrText, FieldZone)>> {
    read_near(
        card,
        zone,
        engine,
        FieldRead::digits(whitelist),
        LOOKS,
        parse,
    )
}

/// The places [`read_near`] looks at: at most [`PLACES`], none twice (a line found where the
/// zone is laid out is the zone).
fn places(card: &Mat, zone: &FieldZone) -> Result<Vec<FieldZone>> {
    let mut out: Vec<FieldZone> = Vec::with_capacity(PLACES);
    for c in candidates(card, zone)? {
        let centre = |z: &FieldZone| z.y + z.h / 2.0;
        if out.iter().all(|o| (centre(o) - centre(&c)).abs() > 0.01) {
            out.push(c);
        }
        if out.len() == PLACES {
            break;
        }
    }
    Ok(out)
}

/// One reading, as ink, of the line nearest `zone` (the zone itself when none is found): how
/// the fields that do not identify the holder are read. Returns the reading and its place.
fn read_nearest(card: &Mat, zone: &FieldZone, engine: &mut Ocr) -> Result<(OcrText, FieldZone)> {
    let at = candidates(card, zone)?.first().copied().unwrap_or(*zone);
    let t = read_ink(engine, &zone_crop(card, &at)?, LineMode::SingleLine)?;
    Ok((t, at))
}

/// A date as printed on its own (the issue date): one date, not the two of a period.
fn single_date(text: &str) -> Option<String> {
    let groups = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .count();
    if groups > 4 {
        return None;
    }
    normalise_date(text)
}

/// A Korean name as read: the Hangul before any parenthesis, and the Hanja in it if they were
/// really read (no `chi_tra` data is installed, so usually they are not). The name ends at the
/// first mark that is neither Hangul nor a space, or at a wide gap: what follows is the
/// guilloche or a seal read as text ("안서석    | 시").
fn split_name(text: &str) -> (String, String) {
    let (name, hanja) = match text.split_once(['(', '（']) {
        Some((n, h)) => (n, h),
        None => (text, ""),
    };
    let hanja = hanja
        .chars()
        .filter(|c| ('\u{4E00}'..='\u{9FFF}').contains(c))
        .collect();
    let name = name.trim_start_matches(|c: char| !('\u{AC00}'..='\u{D7A3}').contains(&c));
    let mut end = name.len();
    for (i, c) in name.char_indices() {
        let wide_gap = name[i..].starts_with("   ");
        if wide_gap || !(c.is_whitespace() || ('\u{AC00}'..='\u{D7A3}').contains(&c)) {
            end = i;
            break;
        }
    }
    (hangul_only(&name[..end]), hanja)
}

/// The holder's name, read from the lines near `zone` as [`read_near`] reads a field, with
/// [`name_consensus`] for each place.
fn read_name(
    card: &Mat,
    zone: &FieldZone,
    smear: Option<Smear>,
    engine: &mut Ocr,
) -> Result<Option<(String, OcrText, FieldZone)>> {
    let mut fallback = None;
    for place in places(card, zone)? {
        let crop = zone_crop(card, &place)?;
        match name_consensus(&crop, smear, engine)? {
            Some((name, true, t)) => return Ok(Some((name, t, place))),
            Some((name, false, t)) if fallback.is_none() => fallback = Some((name, t, place)),
            _ => {}
        }
    }
    Ok(fallback)
}

/// How much a reading looks like a name: 2 a surname and a Sino-Korean given name, 1 a surname
/// and any given name, 0 anything else (a title, a stray mark).
fn name_class(name: &str) -> u8 {
    match (is_name(name), is_likely_name(name)) {
        (true, true) => 2,
        (true, false) => 1,
        _ => 0,
    }
}

/// The looks at a name on a card blurred by `smear`, before [`NAME_LOOKS`]: the brightest
/// channel deconvolved, then that 1.5× larger (cubic). Two readings of the same restored
/// strokes must agree before the blurred looks, which agree on the same lost stroke, are
/// taken. Chosen on varied licences of the tuning seeds 0–59 under mild motion blur: names
/// exact 54 → 59 of 60 (the deconvolved line thresholded instead: 58; at two lengths: 56).
fn deblurred_looks(zone: &Mat, smear: Smear) -> Result<[Mat; 2]> {
    let restored = deconvolve(&prepare(zone, Prep::Brightest)?, smear)?;
    let mut larger = Mat::default();
    imgproc::resize(
        &restored,
        &mut larger,
        Size::new(0, 0),
        1.5,
        1.5,
        imgproc::INTER_CUBIC,
    )?;
    Ok([restored, larger])
}

/// One name from `zone` read in [`NAME_LOOKS`] (after the [`deblurred_looks`] on a card
/// blurred by `smear`) until two readings agree on a likely name; otherwise the
/// syllable-by-syllable vote of all readings when it is a likely name; otherwise the reading
/// most like a name, the most frequent such, the earliest on a tie. Returns the name, whether
/// it is a name at all (a surname and a given name), and a reading it came from.
fn name_consensus(
    zone: &Mat,
    smear: Option<Smear>,
    engine: &mut Ocr,
) -> Result<Option<(String, bool, OcrText)>> {
    let mut readings: Vec<(String, OcrText)> = Vec::with_capacity(NAME_LOOKS.len() + 2);
    let deblurred = match smear {
        Some(s) => deblurred_looks(zone, s)?.to_vec(),
        None => Vec::new(),
    };
    let looks = deblurred
        .into_iter()
        .map(Ok)
        .chain(NAME_LOOKS.iter().map(|&prep| prepare(zone, prep)));
    for look in looks {
        let t = engine.read(&look?, LineMode::SingleLine, None)?;
        let name = split_name(&t.text).0;
        if name.is_empty() {
            continue;
        }
        if name_class(&name) == 2 && readings.iter().any(|(n, _)| *n == name) {
            return Ok(Some((name, true, t)));
        }
        readings.push((name, t));
    }
    let names: Vec<String> = readings.iter().map(|(n, _)| n.clone()).collect();
    if let Some(voted) = syllable_vote(&names).filter(|v| name_class(v) == 2) {
        let len = voted.chars().count();
        if let Some((_, t)) = readings.iter().find(|(n, _)| n.chars().count() == len) {
            return Ok(Some((voted, true, t.clone())));
        }
    }
    let votes = |name: &str| names.iter().filter(|n| *n == name).count();
    let mut best: Option<&(String, OcrText)> = None;
    for r in &readings {
        let key = (name_class(&r.0), votes(&r.0));
        if best.is_none_or(|b| key > (name_class(&b.0), votes(&b.0))) {
            best = Some(r);
        }
    }
    Ok(best.map(|(n, t)| (n.clone(), name_class(n) >= 1, t.clone())))
}

/// Whether `name` reads as a holder's name: a Korean surname and given name, not a document
/// title.
fn is_name(name: &str) -> bool {
    has_korean_surname(name) && TITLES.iter().all(|(_, t)| title_match(name, t) < 0.6)
}

pub(super) fn read_fields(
    card: &Mat,
    doc: DocumentType,
    ocr: &mut CardReader,
    out: &mut CardReading,
) -> Result<()> {
    let today = time::OffsetDateTime::now_utc().date().to_string();
    for z in layout(doc) {
        let f = &mut out.fields;
        match z.field {
            Field::Title | Field::Photo => {}
            Field::Name => {
                let smear = estimate_smear(&to_gray(card)?)?;
                if let Some((name, t, at)) = read_name(card, z, smear, &mut ocr.hangul)? {
                    put_at(f, "name", name, &t, &at);
                    put_at(f, "name_hanja", split_name(&t.text).1, &t, &at);
                }
            }
            Field::Rrn => {
                let read = read_digits(card, z, &mut ocr.latin, DIGITS_DASH, |t| {
                    find_rrn(t).map(|r| (r, true))
                })?;
                let what = "the resident registration number";
                if let Some((rrn, t, at)) = or_warn(read, &mut out.warnings, what) {
                    let key = if doc == DocumentType::DriverLicence {
                        "resident_number"
                    } else {
                        "document_number"
                    };
                    put_at(f, key, rrn.mask(), &t, &at);
                    put_at(f, "birth_date", rrn.birth_date.to_string(), &t, &at);
                    let sex = match rrn.sex {
                        Sex::Male => "M",
                        Sex::Female => "F",
                    };
                    put_at(f, "sex", sex.to_string(), &t, &at);
                    out.warnings.extend(rrn.warnings.iter().cloned());
                    out.rrn = Some(rrn);
                }
            }
            Field::IssueDate => {
                let read = read_digits(card, z, &mut ocr.latin, DIGITS_DATE, |t| {
                    single_date(t).map(|d| {
                        // A date in the future or before the birth date is a misread (2011
                        // read as 2071): look again.
                        let born = out.rrn.as_ref().map(|r| r.birth_date.to_string());
                        let plausible = d.as_str() <= today.as_str() && born.is_none_or(|b| d >= b);
                        (d, plausible)
                    })
                })?;
                if let Some((d, t, at)) = or_warn(read, &mut out.warnings, "the issue date") {
                    put_at(f, "issue_date", d, &t, &at);
                }
            }
            Field::LicenceNumber => {
                let read = read_digits(card, z, &mut ocr.latin, DIGITS_DASH, |t| {
                    normalise_licence_number(t).map(|n| (n, true))
                })?;
                if let Some((n, t, at)) = or_warn(read, &mut out.warnings, "the licence number") {
                    put_at(f, "document_number", n, &t, &at);
                }
            }
            // One or two lines: read as laid out.
            Field::Address => {
                let t = read_ink(&mut ocr.hangul, &zone_crop(card, z)?, LineMode::Block)?;
                let a = t.text.split_whitespace().collect::<Vec<_>>().join(" ");
                put_at(f, "address", a, &t, z);
            }
            // The seal printed over the issuer's last syllable reads as stray marks: keep the
            // Hangul words.
            Field::Issuer => {
                let (t, at) = read_nearest(card, z, &mut ocr.hangul)?;
                let issuer = t
                    .text
                    .split_whitespace()
                    .map(hangul_only)
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                put_at(f, "issuer", issuer, &t, &at);
            }
            Field::LicenceType => {
                let (t, at) = read_nearest(card, z, &mut ocr.hangul)?;
                put_at(
                    f,
                    "licence_type",
                    t.text.split_whitespace().collect(),
                    &t,
                    &at,
                );
            }
            Field::RenewalPeriod => {
                let (t, at) = read_nearest(card, z, &mut ocr.hangul)?;
                let dates: Vec<String> = t
                    .text
                    .split(['~', '∼', '-'])
                    .filter_map(normalise_date)
                    .collect();
                put_at(f, "renewal_period", dates.join("~"), &t, &at);
            }
        }
    }
    Ok(())
}

/// `read`, or a warning that `what` could not be read.
fn or_warn<T>(read: Option<T>, warnings: &mut Vec<String>, what: &str) -> Option<T> {
    if read.is_none() {
        warnings.push(format!("{what} could not be read"));
    }
    read
}

/// One reading of a zone prepared as ink, any character allowed (the fields that do not
/// identify the holder).
pub(super) fn read_ink(engine: &mut Ocr, zone: &Mat, mode: LineMode) -> Result<OcrText> {
    engine.read(&prepare(zone, Prep::Ink)?, mode, None)
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
    fn an_issue_date_is_one_date() {
        assert_eq!(single_date("2019. 3. 5.").as_deref(), Some("2019-03-05"));
        assert_eq!(single_date("2030.01.01 2030.12.31"), None);
    }

    #[test]
    fn a_title_is_no_name() {
        assert!(is_name("홍길동"));
        assert!(!is_name("주민등록증"));
        assert!(!is_name("주민등록"));
    }
}
