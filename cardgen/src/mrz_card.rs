//! Synthetic ICAO 9303 documents with known machine-readable zones (TD1 ID card backs, TD3
//! passport data pages), so the MRZ path of the card reader can be tested end to end without
//! anyone's real document. The holder, the numbers and the dates are drawn per seed; every check
//! digit is computed as ICAO 9303 part 3 says.

use crate::error::Result;
use crate::rng::SynthRng;
use crate::scene::{Degradation, FRAME_HEIGHT, FRAME_WIDTH, Scene, degrade, place_in_scene};
use crate::text::{FontChoice, Pen};
use opencv::core::{CV_8UC3, Mat, MatTraitConst, MatTraitManual, Rect, Scalar, Size};
use opencv::imgproc;
use vision::card::mrz::{MrzFormat, check_digit};
use vision::card::{CARD_HEIGHT, CARD_WIDTH, Quad};

/// A TD3 passport data page, 125 × 88 mm, rendered at 10 px/mm.
pub const TD3_WIDTH: i32 = 1250;
pub const TD3_HEIGHT: i32 = 880;

/// ICAO codes of issuing states and nationalities (`D` is Germany, `UTO` the specimen state).
const STATES: [&str; 12] = [
    "UTO", "D", "FRA", "NLD", "KOR", "ITA", "ESP", "BEL", "SWE", "AUT", "PRT", "POL",
];
const SURNAMES: [&str; 16] = [
    "ERIKSSON",
    "MUSTERMANN",
    "DUPONT",
    "DE BRUIJN",
    "KIM",
    "ROSSI",
    "GARCIA LOPEZ",
    "PEETERS",
    "NOWAK",
    "SILVA",
    "HUBER",
    "MARTIN",
    "VAN DAM",
    "LEE",
    "BIANCHI",
    "JANSSEN",
];
const GIVEN: [&str; 16] = [
    "ANNA",
    "ERIKA",
    "JEAN PIERRE",
    "MARIA",
    "MIN JUN",
    "LUCA",
    "SOFIA",
    "PIETER",
    "JAN",
    "ANA CLARA",
    "LUKAS",
    "CLAIRE",
    "NOOR",
    "JI HO",
    "GIULIA",
    "THOMAS",
];
/// Document numbers avoid the letters OCR confuses with digits (`O`, `I`, `Q`, `S`, `B`, `Z`, `G`),
/// as German and other issuers do.
const NUMBER_LETTERS: &[u8] = b"CFHJKLMNPRTVWXY";

/// Everything printed in a synthetic MRZ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MrzTruth {
    pub format: MrzFormat,
    /// `I`, `ID` (TD1) or `P` (TD3), without filler.
    pub document_code: String,
    pub issuing_state: String,
    /// 9 characters, letters and digits.
    pub document_number: String,
    pub nationality: String,
    /// (year, month, day).
    pub birth: (i32, u8, u8),
    pub expiry: (i32, u8, u8),
    /// `M` or `F`.
    pub sex: char,
    pub surname: String,
    pub given_names: String,
    /// TD1 line 1 optional data / TD3 personal number (may be empty).
    pub optional_data: String,
}

impl MrzTruth {
    /// A random but plausible holder and document of `format`, the same for the same seed.
    pub fn random(seed: u64, format: MrzFormat) -> Self {
        let mut rng = SynthRng::derived(seed, 11);
        let document_code = match format {
            MrzFormat::Td1 => {
                if rng.chance(0.5) {
                    "I"
                } else {
                    "ID"
                }
            }
            MrzFormat::Td3 => "P",
        }
        .to_string();
        let issuing_state = rng.pick(&STATES).to_string();
        let nationality = if rng.chance(0.85) {
            issuing_state.clone()
        } else {
            rng.pick(&STATES).to_string()
        };
        let mut number = String::new();
        let letters = rng.int(1, 2);
        for i in 0..9 {
            if i < letters {
                number.push(char::from(*rng.pick(NUMBER_LETTERS)));
            } else {
                number.push(char::from(b'0' + rng.int(0, 9) as u8));
            }
        }
        let date = |rng: &mut SynthRng, y0: u32, y1: u32| {
            (
                rng.int(y0, y1) as i32,
                rng.int(1, 12) as u8,
                rng.int(1, 28) as u8,
            )
        };
        let birth = date(&mut rng, 1950, 2006);
        let expiry = date(&mut rng, 2027, 2036);
        let sex = if rng.chance(0.5) { 'M' } else { 'F' };
        let optional_data = if rng.chance(0.3) {
            (0..rng.int(6, 9))
                .map(|_| char::from(b'0' + rng.int(0, 9) as u8))
                .collect()
        } else {
            String::new()
        };
        Self {
            format,
            document_code,
            issuing_state,
            document_number: number,
            nationality,
            birth,
            expiry,
            sex,
            surname: rng.pick(&SURNAMES).to_string(),
            given_names: rng.pick(&GIVEN).to_string(),
            optional_data,
        }
    }

    /// The birth date as `YYYY-MM-DD`.
    pub fn birth_date(&self) -> String {
        let (y, m, d) = self.birth;
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// The expiry date as `YYYY-MM-DD`.
    pub fn expiry_date(&self) -> String {
        let (y, m, d) = self.expiry;
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// The name as the reader reports it: given names, then the surname.
    pub fn name(&self) -> String {
        format!("{} {}", self.given_names, self.surname)
    }

    /// The MRZ lines, every check digit right.
    pub fn lines(&self) -> Vec<String> {
        match self.format {
            MrzFormat::Td1 => compose_td1(self),
            MrzFormat::Td3 => compose_td3(self),
        }
    }
}

/// `s` left-aligned in `len` characters, padded with filler (cut when longer).
fn field(s: &str, len: usize) -> String {
    let mut out: String = s.chars().take(len).collect();
    while out.len() < len {
        out.push('<');
    }
    out
}

fn yymmdd(d: (i32, u8, u8)) -> String {
    format!("{:02}{:02}{:02}", d.0.rem_euclid(100), d.1, d.2)
}

fn digit(s: &str) -> char {
    char::from(b'0' + check_digit(s) as u8)
}

/// `SURNAME<<GIVEN<NAMES`, spaces as fillers, in `len` characters.
fn name_field(t: &MrzTruth, len: usize) -> String {
    let name = format!("{}<<{}", t.surname, t.given_names).replace([' ', '-'], "<");
    field(&name, len)
}

/// The three 30-character lines of a TD1 card.
pub fn compose_td1(t: &MrzTruth) -> Vec<String> {
    let number = field(&t.document_number, 9);
    let line1 = format!(
        "{}{}{}{}{}",
        field(&t.document_code, 2),
        field(&t.issuing_state, 3),
        number,
        digit(&number),
        field(&t.optional_data, 15)
    );
    let (birth, expiry) = (yymmdd(t.birth), yymmdd(t.expiry));
    let mut line2 = format!(
        "{birth}{}{}{expiry}{}{}{}",
        digit(&birth),
        t.sex,
        digit(&expiry),
        field(&t.nationality, 3),
        field("", 11)
    );
    let composite = format!(
        "{}{}{}{}",
        &line1[5..30],
        &line2[0..7],
        &line2[8..15],
        &line2[18..29]
    );
    line2.push(digit(&composite));
    vec![line1, line2, name_field(t, 30)]
}

/// The two 44-character lines of a TD3 passport.
pub fn compose_td3(t: &MrzTruth) -> Vec<String> {
    let line1 = format!(
        "{}{}{}",
        field(&t.document_code, 2),
        field(&t.issuing_state, 3),
        name_field(t, 39)
    );
    let number = field(&t.document_number, 9);
    let (birth, expiry) = (yymmdd(t.birth), yymmdd(t.expiry));
    let personal = field(&t.optional_data, 14);
    let personal_check = if t.optional_data.is_empty() {
        '<'
    } else {
        digit(&personal)
    };
    let mut line2 = format!(
        "{number}{}{}{birth}{}{}{expiry}{}{personal}{personal_check}",
        digit(&number),
        field(&t.nationality, 3),
        digit(&birth),
        t.sex,
        digit(&expiry),
    );
    let composite = format!("{}{}{}", &line2[0..10], &line2[13..20], &line2[21..43]);
    line2.push(digit(&composite));
    vec![line1, line2]
}

/// The lines with one digit of the document number changed and its check digit kept: what a
/// forged or misprinted document looks like to the check digits.
pub fn tampered(lines: &[String], format: MrzFormat, rng: &mut SynthRng) -> Vec<String> {
    let (line, start) = match format {
        MrzFormat::Td1 => (0, 5),
        MrzFormat::Td3 => (1, 0),
    };
    let mut out = lines.to_vec();
    let mut chars: Vec<char> = out[line].chars().collect();
    let digits: Vec<usize> = (start..start + 9)
        .filter(|&i| chars[i].is_ascii_digit())
        .collect();
    let i = *rng.pick(&digits);
    let old = chars[i] as u8 - b'0';
    chars[i] = char::from(b'0' + (old + rng.int(1, 9) as u8) % 10);
    out[line] = chars.into_iter().collect();
    out
}

/// A pale paper with fine wavy guilloche lines.
fn paper(width: i32, height: i32, rng: &mut SynthRng) -> Result<Mat> {
    let base = [
        rng.range(225.0, 245.0),
        rng.range(228.0, 248.0),
        rng.range(225.0, 245.0),
    ];
    let mut img = Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(0.0))?;
    let (f1, f2, ph) = (
        rng.range(0.015, 0.03),
        rng.range(0.004, 0.01),
        rng.range(0.0, 6.0),
    );
    let tint = [
        rng.range(-25.0, 0.0),
        rng.range(-25.0, 0.0),
        rng.range(-25.0, 0.0),
    ];
    let w = width as usize;
    let data = img.data_bytes_mut()?;
    for (i, px) in data.chunks_mut(3).enumerate() {
        let (x, y) = ((i % w) as f32, (i / w) as f32);
        let wave = (y * f1 + 9.0 * (x * f2 + ph).sin()).sin();
        let line = if wave > 0.93 { 1.0 } else { 0.0 };
        let shade = 6.0 * (x / width as f32 - 0.5);
        for ch in 0..3 {
            px[ch] = (base[ch] + shade + line * tint[ch] * 0.6).clamp(0.0, 255.0) as u8;
        }
    }
    Ok(img)
}

/// Prints MRZ `lines` at a fixed pitch: `left` is the first character's x, `baseline` the
/// first line's baseline, `pitch` the advance per character, `leading` the distance of lines.
fn print_mrz(
    img: &mut Mat,
    lines: &[String],
    left: f32,
    baseline: f32,
    pitch: f32,
    leading: f32,
    rng: &mut SynthRng,
) -> Result<()> {
    let pen = Pen::monospace(rng.chance(0.3))?;
    // DejaVu Sans Mono advances 0.6 em; print a little narrower than the pitch so neighbours
    // do not touch.
    let px = pitch * rng.range(1.4, 1.6);
    let spacing = pitch - pen.measure("0", px, 0.0);
    let ink = rng.range(10.0, 45.0) as u8;
    for (k, line) in lines.iter().enumerate() {
        pen.draw(
            img,
            line,
            (left, baseline + k as f32 * leading),
            px,
            [ink, ink, ink],
            spacing,
        )?;
    }
    Ok(())
}

/// The back of a TD1 ID card at `CARD_WIDTH` × `CARD_HEIGHT`: a few printed lines at the top,
/// the three-line MRZ in the bottom third.
pub fn render_td1(lines: &[String], t: &MrzTruth, rng: &mut SynthRng) -> Result<Mat> {
    let mut img = paper(CARD_WIDTH, CARD_HEIGHT, rng)?;
    let font = *rng.pick(&FontChoice::ALL);
    let (pen, bold) = (Pen::new(font, false)?, Pen::new(font, true)?);
    let ink = [60, 50, 40];
    bold.draw(&mut img, "IDENTITY CARD", (48.0, 62.0), 30.0, ink, 1.0)?;
    let texts = [
        format!("Issuing authority  {}", t.issuing_state),
        format!("Date of expiry  {}", t.expiry_date()),
        "Height  172 cm    Eyes  BROWN".to_string(),
    ];
    for (k, s) in texts.iter().enumerate() {
        pen.draw(&mut img, s, (48.0, 112.0 + 38.0 * k as f32), 22.0, ink, 0.5)?;
    }
    // ID-1 MRZ: 30 characters at about 2.54 mm each over 76 mm, lines about 4.5 mm apart.
    let pitch = rng.range(24.0, 25.6);
    let left = (CARD_WIDTH as f32 - 30.0 * pitch) / 2.0 + rng.range(-8.0, 8.0);
    let leading = rng.range(44.0, 50.0);
    let baseline = CARD_HEIGHT as f32 - 36.0 - 2.0 * leading;
    print_mrz(&mut img, lines, left, baseline, pitch, leading, rng)?;
    Ok(img)
}

/// A TD3 passport data page at `TD3_WIDTH` × `TD3_HEIGHT` (125 × 88 mm): the photo box on the
/// left, labels and values beside it, the two-line MRZ at the bottom.
pub fn render_td3(lines: &[String], t: &MrzTruth, rng: &mut SynthRng) -> Result<Mat> {
    let mut img = paper(TD3_WIDTH, TD3_HEIGHT, rng)?;
    let font = *rng.pick(&FontChoice::ALL);
    let (pen, bold) = (Pen::new(font, false)?, Pen::new(font, true)?);
    let ink = [50, 40, 30];
    let label = [110, 90, 80];
    bold.draw(&mut img, "PASSPORT", (60.0, 70.0), 40.0, ink, 2.0)?;
    imgproc::rectangle(
        &mut img,
        Rect::new(60, 110, 330, 420),
        Scalar::new(170.0, 165.0, 160.0, 0.0),
        -1,
        imgproc::LINE_8,
        0,
    )?;
    let rows = [
        ("Surname", t.surname.clone()),
        ("Given names", t.given_names.clone()),
        ("Nationality", t.nationality.clone()),
        ("Date of birth", t.birth_date()),
        ("Sex", t.sex.to_string()),
        ("Date of expiry", t.expiry_date()),
    ];
    for (k, (l, v)) in rows.iter().enumerate() {
        let y = 135.0 + 70.0 * k as f32;
        pen.draw(&mut img, l, (440.0, y), 20.0, label, 0.5)?;
        pen.draw(&mut img, v, (440.0, y + 32.0), 28.0, ink, 0.5)?;
    }
    // TD3 MRZ: 44 characters at about 2.54 mm over 112 mm, in the bottom 23 mm.
    let pitch = rng.range(24.5, 25.6);
    let left = (TD3_WIDTH as f32 - 44.0 * pitch) / 2.0 + rng.range(-8.0, 8.0);
    let leading = rng.range(62.0, 72.0);
    let baseline = TD3_HEIGHT as f32 - 60.0 - leading;
    print_mrz(&mut img, lines, left, baseline, pitch, leading, rng)?;
    Ok(img)
}

/// One synthetic capture of an MRZ document and everything true about it.
pub struct MrzSample {
    pub truth: MrzTruth,
    /// The lines as printed (with one wrong character when the sample was asked tampered).
    pub printed: Vec<String>,
    /// The clean document: the card back (`CARD_WIDTH` × `CARD_HEIGHT`) or the passport page
    /// (`TD3_WIDTH` × `TD3_HEIGHT`).
    pub document: Mat,
    /// The camera frame, `FRAME_WIDTH` × `FRAME_HEIGHT` BGR.
    pub frame: Mat,
    /// The document's true corners in `frame`.
    pub quad: Quad,
}

/// Stretches `frame` vertically by `s` about its centre (same size, the overflow cut), moving
/// `quad` along: a page of another aspect than ID-1 seen by the same camera.
fn stretch_vertically(frame: &Mat, quad: Quad, s: f32) -> Result<(Mat, Quad)> {
    let tall = (FRAME_HEIGHT as f32 * s).round() as i32;
    let mut big = Mat::default();
    imgproc::resize(
        frame,
        &mut big,
        Size::new(FRAME_WIDTH, tall),
        0.0,
        0.0,
        imgproc::INTER_LINEAR,
    )?;
    let top = (tall - FRAME_HEIGHT) / 2;
    let out = Mat::roi(&big, Rect::new(0, top, FRAME_WIDTH, FRAME_HEIGHT))?.try_clone()?;
    let sy = tall as f32 / FRAME_HEIGHT as f32;
    let mut q = quad;
    for c in &mut q.corners {
        c[1] = c[1] * sy - top as f32;
    }
    Ok((out, q))
}

/// A capture of a random `format` document for `seed`, posed and spoiled as `degradation`
/// (its mild version when `mild`). With `tamper`, one digit of the document number is printed
/// wrong under its original check digit.
///
/// `place_in_scene` poses ID-1 cards: a passport page is posed at ID-1 aspect and the frame is
/// then stretched vertically so the page shows its own 125 : 88 aspect.
pub fn generate_mrz(
    seed: u64,
    format: MrzFormat,
    degradation: Degradation,
    mild: bool,
    tamper: bool,
) -> Result<MrzSample> {
    let truth = MrzTruth::random(seed, format);
    let mut rng = SynthRng::derived(seed, 12);
    let lines = truth.lines();
    let printed = if tamper {
        tampered(&lines, format, &mut rng)
    } else {
        lines
    };
    let document = match format {
        MrzFormat::Td1 => render_td1(&printed, &truth, &mut rng)?,
        MrzFormat::Td3 => render_td3(&printed, &truth, &mut rng)?,
    };
    let mut rng = SynthRng::derived(seed, 13);
    let mut scene = Scene::for_degradation(degradation, mild, &mut rng);
    if format == MrzFormat::Td3 {
        // Leave room for the taller page.
        scene.card_width = scene.card_width.min(0.58);
        scene.center[1] = FRAME_HEIGHT as f32 / 2.0;
    }
    let (frame, quad) = place_in_scene(&document, scene, &mut rng)?;
    let (frame, quad) = match format {
        MrzFormat::Td1 => (frame, quad),
        MrzFormat::Td3 => {
            let td3_aspect = TD3_WIDTH as f32 / TD3_HEIGHT as f32;
            let id1_aspect = CARD_WIDTH as f32 / CARD_HEIGHT as f32;
            stretch_vertically(&frame, quad, id1_aspect / td3_aspect)?
        }
    };
    let (frame, quad) = degrade(&frame, quad, degradation, mild, &mut rng)?;
    Ok(MrzSample {
        truth,
        printed,
        document,
        frame,
        quad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vision::card::mrz::{MrzSex, parse_mrz};

    fn parses_back(format: MrzFormat) {
        for seed in 0..200 {
            let t = MrzTruth::random(seed, format);
            let lines = t.lines();
            assert!(lines.iter().all(|l| l.len() == format.line_len()));
            let mrz = parse_mrz(&lines.join("\n")).expect("composed lines parse");
            assert!(mrz.all_checks_ok(), "seed {seed}: {:?}", mrz.checks);
            assert_eq!(mrz.format, format);
            assert_eq!(mrz.document_code, t.document_code);
            assert_eq!(mrz.issuing_state, t.issuing_state);
            assert_eq!(mrz.document_number, t.document_number);
            assert_eq!(mrz.nationality, t.nationality);
            assert_eq!(mrz.surname, t.surname);
            assert_eq!(mrz.given_names, t.given_names);
            assert_eq!(mrz.optional_data, t.optional_data);
            let today =
                time::Date::from_calendar_date(2026, time::Month::January, 1).expect("a date");
            let birth = mrz.birth_date.as_birth_date(today).expect("birth date");
            assert_eq!(birth.to_string(), t.birth_date());
            let expiry = mrz.expiry_date.as_expiry_date().expect("expiry date");
            assert_eq!(expiry.to_string(), t.expiry_date());
            let sex = if t.sex == 'M' {
                MrzSex::Male
            } else {
                MrzSex::Female
            };
            assert_eq!(mrz.sex, sex);
        }
    }

    #[test]
    fn td1_lines_parse_back_with_every_check_right() {
        parses_back(MrzFormat::Td1);
    }

    #[test]
    fn td3_lines_parse_back_with_every_check_right() {
        parses_back(MrzFormat::Td3);
    }

    #[test]
    fn icao_specimen_is_composed_exactly() {
        // ICAO 9303 part 5 TD1 specimen (Utopia, D23145890).
        let t = MrzTruth {
            format: MrzFormat::Td1,
            document_code: "I".into(),
            issuing_state: "UTO".into(),
            document_number: "D23145890".into(),
            nationality: "UTO".into(),
            birth: (1974, 8, 12),
            expiry: (2012, 4, 15),
            sex: 'F',
            surname: "ERIKSSON".into(),
            given_names: "ANNA MARIA".into(),
            optional_data: String::new(),
        };
        assert_eq!(
            t.lines(),
            [
                "I<UTOD231458907<<<<<<<<<<<<<<<",
                "7408122F1204159UTO<<<<<<<<<<<6",
                "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
            ]
        );
        // ICAO 9303 part 4 TD3 specimen (L898902C3).
        let t = MrzTruth {
            format: MrzFormat::Td3,
            document_code: "P".into(),
            issuing_state: "UTO".into(),
            document_number: "L898902C3".into(),
            nationality: "UTO".into(),
            birth: (1974, 8, 12),
            expiry: (2012, 4, 15),
            sex: 'F',
            surname: "ERIKSSON".into(),
            given_names: "ANNA MARIA".into(),
            optional_data: "ZE184226B".into(),
        };
        assert_eq!(
            t.lines(),
            [
                "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
                "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
            ]
        );
    }

    #[test]
    fn a_tampered_number_fails_its_check_digit() {
        for format in [MrzFormat::Td1, MrzFormat::Td3] {
            for seed in 0..100 {
                let t = MrzTruth::random(seed, format);
                let lines = t.lines();
                let bad = tampered(&lines, format, &mut SynthRng::new(seed));
                assert_ne!(bad, lines);
                let mrz = parse_mrz(&bad.join("\n")).expect("tampered lines parse");
                assert!(!mrz.all_checks_ok());
            }
        }
    }
}
