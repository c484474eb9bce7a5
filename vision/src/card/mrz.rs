//! ICAO 9303 machine-readable zones (TD3 passports, TD1 ID cards): found in OCR text, corrected
//! only where a field's character class is known, parsed field by field, every check digit verified.

use thiserror::Error;

use super::DocumentType;

/// Why no MRZ could be read from a text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MrzError {
    #[error("no machine-readable zone (2×44 or 3×30 characters) was found in the text")]
    NotFound,
    #[error("MRZ line {line}, position {pos}: {found:?} is not allowed in the {field} field")]
    InvalidCharacter {
        line: usize,
        pos: usize,
        found: char,
        field: &'static str,
    },
    #[error("the TD1 document number overflows but no overflow digits follow")]
    BadDocumentNumberOverflow,
}

/// The two MRZ formats kyc reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MrzFormat {
    /// ID-1 cards: 3 lines × 30 characters.
    Td1,
    /// Passport data pages: 2 lines × 44 characters.
    Td3,
}

impl MrzFormat {
    pub fn lines(self) -> usize {
        match self {
            Self::Td1 => 3,
            Self::Td3 => 2,
        }
    }

    pub fn line_len(self) -> usize {
        match self {
            Self::Td1 => 30,
            Self::Td3 => 44,
        }
    }

    pub fn document_type(self) -> DocumentType {
        match self {
            Self::Td1 => DocumentType::IdCardTd1,
            Self::Td3 => DocumentType::PassportTd3,
        }
    }
}

/// Sex field: `M`, `F`, or `<` / `X` for unspecified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MrzSex {
    Male,
    Female,
    Unspecified,
}

/// A `YYMMDD` date as printed (two-digit year; the century is the reader's decision).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MrzDate {
    pub yy: u8,
    pub month: u8,
    pub day: u8,
}

impl MrzDate {
    fn from_digits(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 6 || !b.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let two = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        Some(Self {
            yy: two(0),
            month: two(2),
            day: two(4),
        })
    }

    /// The calendar date in the given century (`century_base` = 1900 or 2000), if it exists.
    pub fn to_date(self, century_base: i32) -> Option<time::Date> {
        let month = time::Month::try_from(self.month).ok()?;
        time::Date::from_calendar_date(century_base + i32::from(self.yy), month, self.day).ok()
    }

    /// A birth date: the latest century that does not put it after `today`.
    pub fn as_birth_date(self, today: time::Date) -> Option<time::Date> {
        let base = today.year() - today.year().rem_euclid(100);
        match self.to_date(base) {
            Some(d) if d <= today => Some(d),
            _ => self.to_date(base - 100),
        }
    }

    /// An expiry date: 20YY (documents expiring in the 1900s are long gone).
    pub fn as_expiry_date(self) -> Option<time::Date> {
        self.to_date(2000)
    }

    /// True when month and day could be a real date in some year.
    pub fn is_plausible(self) -> bool {
        self.to_date(2000).is_some() || self.to_date(1900).is_some()
    }
}

/// Which check digit a [`CheckDigit`] result is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckedField {
    DocumentNumber,
    BirthDate,
    ExpiryDate,
    /// TD3 personal number (optional data); TD1 has no check digit of its own for it.
    OptionalData,
    Composite,
}

/// One verified check digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckDigit {
    pub field: CheckedField,
    /// The digit printed in the MRZ (after OCR correction).
    pub found: char,
    /// The digit computed from the field.
    pub computed: char,
    pub ok: bool,
}

/// A parsed machine-readable zone. Fields are as printed, with fillers (`<`) removed at the end
/// and turned into spaces inside names. `Debug` prints no personal data (names, numbers,
/// dates, the lines): only the format, the issuing state and the check results.
#[derive(Clone, PartialEq, Eq)]
pub struct Mrz {
    pub format: MrzFormat,
    pub document_type: DocumentType,
    /// `P`, `I`, `ID`, `AC`, … (filler removed).
    pub document_code: String,
    pub issuing_state: String,
    pub document_number: String,
    pub birth_date: MrzDate,
    pub sex: MrzSex,
    pub expiry_date: MrzDate,
    pub nationality: String,
    /// TD3: the personal number; TD1: optional data of line 1 (after any document-number overflow).
    pub optional_data: String,
    /// TD1: optional data of line 2; empty for TD3.
    pub optional_data_2: String,
    pub surname: String,
    pub given_names: String,
    /// Every check digit of the format, in MRZ order.
    pub checks: Vec<CheckDigit>,
    /// The MRZ lines after OCR correction.
    pub lines: Vec<String>,
    /// How many characters were changed by class-aware OCR correction.
    pub corrected_chars: usize,
}

impl std::fmt::Debug for Mrz {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mrz")
            .field("format", &self.format)
            .field("document_type", &self.document_type)
            .field("issuing_state", &self.issuing_state)
            .field("checks", &self.checks)
            .field("corrected_chars", &self.corrected_chars)
            .finish_non_exhaustive()
    }
}

impl Mrz {
    /// True when every check digit matches.
    pub fn all_checks_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The result for one check digit, if the format has it.
    pub fn check(&self, field: CheckedField) -> Option<&CheckDigit> {
        self.checks.iter().find(|c| c.field == field)
    }

    /// True when both dates are plausible calendar dates.
    pub fn dates_plausible(&self) -> bool {
        self.birth_date.is_plausible() && self.expiry_date.is_plausible()
    }
}

/// The value of an MRZ character for check digits: `0`–`9`, `A`=10 … `Z`=35, `<`=0.
pub fn char_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => Some(c as u32 - '0' as u32),
        'A'..='Z' => Some(c as u32 - 'A' as u32 + 10),
        '<' => Some(0),
        _ => None,
    }
}

/// ICAO 9303 check digit: weights 7, 3, 1 repeating, sum mod 10. Unknown characters count 0.
pub fn check_digit(s: &str) -> u32 {
    const W: [u32; 3] = [7, 3, 1];
    s.chars()
        .enumerate()
        .map(|(i, c)| char_value(c).unwrap_or(0) * W[i % 3])
        .sum::<u32>()
        % 10
}

/// Finds the MRZ in OCR text (the last block of 3×30 or 2×44 MRZ-looking lines) and parses it.
pub fn parse_mrz(text: &str) -> Result<Mrz, MrzError> {
    let cleaned: Vec<String> = text
        .lines()
        .map(clean_line)
        .filter(|l| !l.is_empty())
        .collect();
    let is_mrz_line = |l: &str, len: usize| {
        l.len() == len
            && l.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'<')
    };
    let mut found: Option<(MrzFormat, usize)> = None;
    for start in (0..cleaned.len()).rev() {
        for format in [MrzFormat::Td3, MrzFormat::Td1] {
            let n = format.lines();
            if start + n <= cleaned.len()
                && cleaned[start..start + n]
                    .iter()
                    .all(|l| is_mrz_line(l, format.line_len()))
            {
                found = Some((format, start));
                break;
            }
        }
        if found.is_some() {
            break;
        }
    }
    let (format, start) = found.ok_or(MrzError::NotFound)?;
    parse_lines(format, &cleaned[start..start + format.lines()])
}

/// Uppercases, drops whitespace and maps the usual OCR renderings of `<`.
fn clean_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        match c {
            c if c.is_whitespace() => {}
            '«' => out.push_str("<<"),
            '‹' | '＜' | '≪' => out.push('<'),
            c => out.extend(c.to_uppercase()),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Letters and filler (codes, states, names).
    Alpha,
    /// Digits only (dates, check digits).
    Numeric,
    /// A check digit that may be a filler (TD3 empty personal number, TD1 overflow marker).
    NumericOrFiller,
    /// Letters, digits and filler (document numbers, optional data): nothing is corrected.
    AlphaNum,
    /// `M`, `F`, `<`, `X`.
    Sex,
}

/// (line, start, end, kind, field name)
type Span = (usize, usize, usize, Kind, &'static str);

const TD3: &[Span] = &[
    (0, 0, 2, Kind::Alpha, "document code"),
    (0, 2, 5, Kind::Alpha, "issuing state"),
    (0, 5, 44, Kind::Alpha, "name"),
    (1, 0, 9, Kind::AlphaNum, "document number"),
    (1, 9, 10, Kind::Numeric, "document number check digit"),
    (1, 10, 13, Kind::Alpha, "nationality"),
    (1, 13, 19, Kind::Numeric, "birth date"),
    (1, 19, 20, Kind::Numeric, "birth date check digit"),
    (1, 20, 21, Kind::Sex, "sex"),
    (1, 21, 27, Kind::Numeric, "expiry date"),
    (1, 27, 28, Kind::Numeric, "expiry date check digit"),
    (1, 28, 42, Kind::AlphaNum, "personal number"),
    (
        1,
        42,
        43,
        Kind::NumericOrFiller,
        "personal number check digit",
    ),
    (1, 43, 44, Kind::Numeric, "composite check digit"),
];

const TD1: &[Span] = &[
    (0, 0, 2, Kind::Alpha, "document code"),
    (0, 2, 5, Kind::Alpha, "issuing state"),
    (0, 5, 14, Kind::AlphaNum, "document number"),
    (
        0,
        14,
        15,
        Kind::NumericOrFiller,
        "document number check digit",
    ),
    (0, 15, 30, Kind::AlphaNum, "optional data"),
    (1, 0, 6, Kind::Numeric, "birth date"),
    (1, 6, 7, Kind::Numeric, "birth date check digit"),
    (1, 7, 8, Kind::Sex, "sex"),
    (1, 8, 14, Kind::Numeric, "expiry date"),
    (1, 14, 15, Kind::Numeric, "expiry date check digit"),
    (1, 15, 18, Kind::Alpha, "nationality"),
    (1, 18, 29, Kind::AlphaNum, "optional data"),
    (1, 29, 30, Kind::Numeric, "composite check digit"),
    (2, 0, 30, Kind::Alpha, "name"),
];

fn to_digit(c: char) -> char {
    match c {
        'O' | 'Q' | 'D' | 'U' => '0',
        'I' | 'L' | 'J' => '1',
        'Z' => '2',
        'A' => '4',
        'S' => '5',
        'G' => '6',
        'T' => '7',
        'B' => '8',
        c => c,
    }
}

fn to_letter(c: char) -> char {
    match c {
        '0' => 'O',
        '1' => 'I',
        '2' => 'Z',
        '4' => 'A',
        '5' => 'S',
        '6' => 'G',
        '8' => 'B',
        c => c,
    }
}

/// Applies class-aware correction and validates every character against its field's class.
fn correct(format: MrzFormat, lines: &[String]) -> Result<(Vec<Vec<char>>, usize), MrzError> {
    let spans = match format {
        MrzFormat::Td1 => TD1,
        MrzFormat::Td3 => TD3,
    };
    let mut out: Vec<Vec<char>> = lines.iter().map(|l| l.chars().collect()).collect();
    let mut corrected = 0;
    for &(line, start, end, kind, field) in spans {
        for (pos, c) in out[line].iter_mut().enumerate().take(end).skip(start) {
            let fixed = match kind {
                Kind::Alpha => to_letter(*c),
                Kind::Numeric | Kind::NumericOrFiller => to_digit(*c),
                Kind::AlphaNum | Kind::Sex => *c,
            };
            let ok = match kind {
                Kind::Alpha => fixed.is_ascii_uppercase() || fixed == '<',
                Kind::Numeric => fixed.is_ascii_digit(),
                Kind::NumericOrFiller => fixed.is_ascii_digit() || fixed == '<',
                Kind::AlphaNum => char_value(fixed).is_some(),
                Kind::Sex => matches!(fixed, 'M' | 'F' | '<' | 'X'),
            };
            if !ok {
                return Err(MrzError::InvalidCharacter {
                    line: line + 1,
                    pos,
                    found: *c,
                    field,
                });
            }
            if fixed != *c {
                corrected += 1;
                *c = fixed;
            }
        }
    }
    Ok((out, corrected))
}

fn strip_filler(s: &str) -> String {
    s.trim_end_matches('<').to_string()
}

fn parse_name(s: &str) -> (String, String) {
    let s = s.trim_end_matches('<');
    let (surname, given) = s.split_once("<<").unwrap_or((s, ""));
    let words = |p: &str| {
        p.split('<')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    (words(surname), words(given))
}

fn check(field: CheckedField, data: &str, found: char) -> CheckDigit {
    let computed = char::from_digit(check_digit(data), 10).unwrap_or('0');
    CheckDigit {
        field,
        found,
        computed,
        ok: found == computed,
    }
}

fn sex(c: char) -> MrzSex {
    match c {
        'M' => MrzSex::Male,
        'F' => MrzSex::Female,
        _ => MrzSex::Unspecified,
    }
}

fn parse_lines(format: MrzFormat, raw: &[String]) -> Result<Mrz, MrzError> {
    let (chars, corrected_chars) = correct(format, raw)?;
    let lines: Vec<String> = chars.iter().map(|l| l.iter().collect()).collect();
    // Every character is ASCII after `correct`, so byte slicing is safe.
    let sub = |l: usize, a: usize, b: usize| &lines[l][a..b];
    let at = |l: usize, i: usize| chars[l][i];
    match format {
        MrzFormat::Td3 => {
            let (surname, given_names) = parse_name(sub(0, 5, 44));
            let personal = sub(1, 28, 42);
            let personal_check = if at(1, 42) == '<' && personal.bytes().all(|b| b == b'<') {
                // An empty personal number may carry a filler as its check digit.
                CheckDigit {
                    field: CheckedField::OptionalData,
                    found: '<',
                    computed: '0',
                    ok: true,
                }
            } else {
                check(CheckedField::OptionalData, personal, at(1, 42))
            };
            let composite = format!("{}{}{}", sub(1, 0, 10), sub(1, 13, 20), sub(1, 21, 43));
            let checks = vec![
                check(CheckedField::DocumentNumber, sub(1, 0, 9), at(1, 9)),
                check(CheckedField::BirthDate, sub(1, 13, 19), at(1, 19)),
                check(CheckedField::ExpiryDate, sub(1, 21, 27), at(1, 27)),
                personal_check,
                check(CheckedField::Composite, &composite, at(1, 43)),
            ];
            Ok(Mrz {
                format,
                document_type: format.document_type(),
                document_code: strip_filler(sub(0, 0, 2)),
                issuing_state: strip_filler(sub(0, 2, 5)),
                document_number: strip_filler(sub(1, 0, 9)),
                birth_date: date(sub(1, 13, 19))?,
                sex: sex(at(1, 20)),
                expiry_date: date(sub(1, 21, 27))?,
                nationality: strip_filler(sub(1, 10, 13)),
                optional_data: strip_filler(personal),
                optional_data_2: String::new(),
                surname,
                given_names,
                checks,
                lines,
                corrected_chars,
            })
        }
        MrzFormat::Td1 => {
            let optional1 = sub(0, 15, 30);
            let (document_number, doc_check, optional_data) = if at(0, 14) == '<' {
                // Long document number: the rest and its check digit continue in the optional data.
                let len = optional1.find('<').unwrap_or(optional1.len());
                if len == 0 {
                    return Err(MrzError::BadDocumentNumberOverflow);
                }
                let (ext, check_char) = optional1[..len].split_at(len - 1);
                let check_char = to_digit(check_char.chars().next().unwrap_or('<'));
                if !check_char.is_ascii_digit() {
                    return Err(MrzError::BadDocumentNumberOverflow);
                }
                let number = format!("{}{}", sub(0, 5, 14), ext);
                let optional = optional1.get(len + 1..).unwrap_or("");
                (
                    number.clone(),
                    check(CheckedField::DocumentNumber, &number, check_char),
                    strip_filler(optional),
                )
            } else {
                (
                    strip_filler(sub(0, 5, 14)),
                    check(CheckedField::DocumentNumber, sub(0, 5, 14), at(0, 14)),
                    strip_filler(optional1),
                )
            };
            let composite = format!(
                "{}{}{}{}",
                sub(0, 5, 30),
                sub(1, 0, 7),
                sub(1, 8, 15),
                sub(1, 18, 29)
            );
            let checks = vec![
                doc_check,
                check(CheckedField::BirthDate, sub(1, 0, 6), at(1, 6)),
                check(CheckedField::ExpiryDate, sub(1, 8, 14), at(1, 14)),
                check(CheckedField::Composite, &composite, at(1, 29)),
            ];
            let (surname, given_names) = parse_name(sub(2, 0, 30));
            Ok(Mrz {
                format,
                document_type: format.document_type(),
                document_code: strip_filler(sub(0, 0, 2)),
                issuing_state: strip_filler(sub(0, 2, 5)),
                document_number,
                birth_date: date(sub(1, 0, 6))?,
                sex: sex(at(1, 7)),
                expiry_date: date(sub(1, 8, 14))?,
                nationality: strip_filler(sub(1, 15, 18)),
                optional_data,
                optional_data_2: strip_filler(sub(1, 18, 29)),
                surname,
                given_names,
                checks,
                lines,
                corrected_chars,
            })
        }
    }
}

fn date(s: &str) -> Result<MrzDate, MrzError> {
    // `correct` has made every date character a digit; this cannot fail, but stays checked.
    MrzDate::from_digits(s).ok_or(MrzError::InvalidCharacter {
        line: 0,
        pos: 0,
        found: '?',
        field: "date",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TD3_1: &str = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<";
    const TD3_2: &str = "L898902C36UTO7408122F1204159ZE184226B<<<<<10";
    const TD1_1: &str = "I<UTOD231458907<<<<<<<<<<<<<<<";
    const TD1_2: &str = "7408122F1204159UTO<<<<<<<<<<<6";
    const TD1_3: &str = "ERIKSSON<<ANNA<MARIA<<<<<<<<<<";
    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ<";

    #[test]
    fn check_digit_values() {
        assert_eq!(check_digit("L898902C3"), 6);
        assert_eq!(check_digit("740812"), 2);
        assert_eq!(check_digit("120415"), 9);
        assert_eq!(check_digit("ZE184226B<<<<<"), 1);
        assert_eq!(check_digit("D23145890"), 7);
        assert_eq!(check_digit("<<<<<"), 0);
        assert_eq!(char_value('Z'), Some(35));
        assert_eq!(char_value('a'), None);
    }

    #[test]
    fn td3_specimen() {
        let m = parse_mrz(&format!("{TD3_1}\n{TD3_2}")).expect("TD3 specimen");
        assert_eq!(m.format, MrzFormat::Td3);
        assert_eq!(m.document_type, DocumentType::PassportTd3);
        assert_eq!(m.document_code, "P");
        assert_eq!(m.issuing_state, "UTO");
        assert_eq!(m.surname, "ERIKSSON");
        assert_eq!(m.given_names, "ANNA MARIA");
        assert_eq!(m.document_number, "L898902C3");
        assert_eq!(m.nationality, "UTO");
        assert_eq!(
            m.birth_date,
            MrzDate {
                yy: 74,
                month: 8,
                day: 12
            }
        );
        assert_eq!(m.sex, MrzSex::Female);
        assert_eq!(
            m.expiry_date,
            MrzDate {
                yy: 12,
                month: 4,
                day: 15
            }
        );
        assert_eq!(m.optional_data, "ZE184226B");
        assert_eq!(m.checks.len(), 5);
        assert!(m.all_checks_ok(), "{:?}", m.checks);
        assert_eq!(m.corrected_chars, 0);
        assert!(m.dates_plausible());
        let today = time::Date::from_calendar_date(2026, time::Month::January, 1).unwrap();
        assert_eq!(
            m.birth_date.as_birth_date(today).map(|d| d.year()),
            Some(1974)
        );
        assert_eq!(m.expiry_date.as_expiry_date().map(|d| d.year()), Some(2012));
    }

    #[test]
    fn td1_specimen() {
        let m = parse_mrz(&format!("{TD1_1}\n{TD1_2}\n{TD1_3}")).expect("TD1 specimen");
        assert_eq!(m.format, MrzFormat::Td1);
        assert_eq!(m.document_type, DocumentType::IdCardTd1);
        assert_eq!(m.document_code, "I");
        assert_eq!(m.issuing_state, "UTO");
        assert_eq!(m.document_number, "D23145890");
        assert_eq!(
            m.birth_date,
            MrzDate {
                yy: 74,
                month: 8,
                day: 12
            }
        );
        assert_eq!(m.sex, MrzSex::Female);
        assert_eq!(m.expiry_date.yy, 12);
        assert_eq!(m.nationality, "UTO");
        assert_eq!(m.optional_data, "");
        assert_eq!(m.optional_data_2, "");
        assert_eq!(m.surname, "ERIKSSON");
        assert_eq!(m.given_names, "ANNA MARIA");
        assert_eq!(m.checks.len(), 4);
        assert!(m.all_checks_ok(), "{:?}", m.checks);
    }

    #[test]
    fn finds_mrz_in_noisy_ocr_text() {
        let text = format!(
            "PASSPORT  PASSEPORT\nUtopia\nERIKSSON ANNA\n\n{}   \n  {}  \n",
            TD3_1.replace("<<<<", "«<<"),
            TD3_2.chars().take(20).collect::<String>()
                + " "
                + &TD3_2.chars().skip(20).collect::<String>()
        );
        let m = parse_mrz(&text).expect("found");
        assert!(m.all_checks_ok());
        assert_eq!(m.document_number, "L898902C3");
        assert_eq!(parse_mrz("hello\nworld"), Err(MrzError::NotFound));
        assert_eq!(parse_mrz(""), Err(MrzError::NotFound));
    }

    #[test]
    fn corrects_ocr_confusions_by_field_class() {
        // Dates with O/I/B/S for 0/1/8/5, names with 0/1/5 for O/I/S.
        let l1 = TD3_1.replace("ERIKSSON", "ER1K5S0N");
        let l2 = "L898902C36UTO74O8I22F12O4I59ZE184226B<<<<<1O";
        let m = parse_mrz(&format!("{l1}\n{l2}")).expect("corrected");
        assert!(m.all_checks_ok(), "{:?}", m.checks);
        assert_eq!(m.surname, "ERIKSSON");
        assert_eq!(m.lines, vec![TD3_1.to_string(), TD3_2.to_string()]);
        assert_eq!(m.corrected_chars, 3 + 5);
        // Document numbers are alphanumeric: nothing is guessed there, the check digit decides.
        let l2 = TD3_2.replacen("L898902C3", "L898902CB", 1);
        let m = parse_mrz(&format!("{TD3_1}\n{l2}")).expect("parsed");
        assert!(!m.check(CheckedField::DocumentNumber).is_some_and(|c| c.ok));
        assert!(!m.all_checks_ok());
    }

    #[test]
    fn td1_long_document_number() {
        // 12-character document number: 9 in place, '<' at 14, 3 more + check digit in optional data.
        let number = "D23145890123";
        let cd = check_digit(number);
        let l1 = format!("I<UTO{}<{}{}", &number[..9], &number[9..], cd);
        let l1 = format!("{l1:<<30}");
        let comp_data = format!(
            "{}{}{}{}",
            &l1[5..30],
            &TD1_2[0..7],
            &TD1_2[8..15],
            &TD1_2[18..29]
        );
        let l2 = format!("{}{}", &TD1_2[..29], check_digit(&comp_data));
        let m = parse_mrz(&format!("{l1}\n{l2}\n{TD1_3}")).expect("parsed");
        assert_eq!(m.document_number, number);
        assert!(m.all_checks_ok(), "{:?}", m.checks);
        assert_eq!(m.optional_data, "");
    }

    /// Which positions a check digit covers (including the check digits themselves).
    fn covered(format: MrzFormat, line: usize, pos: usize) -> bool {
        match (format, line) {
            (MrzFormat::Td3, 1) => !(10..13).contains(&pos) && pos != 20,
            (MrzFormat::Td3, _) => false,
            (MrzFormat::Td1, 0) => pos >= 5,
            (MrzFormat::Td1, 1) => pos != 7 && !(15..18).contains(&pos),
            (MrzFormat::Td1, _) => false,
        }
    }

    fn alphanumeric(format: MrzFormat, line: usize, pos: usize) -> bool {
        match format {
            MrzFormat::Td3 => line == 1 && ((0..9).contains(&pos) || (28..42).contains(&pos)),
            MrzFormat::Td1 => {
                (line == 0 && ((5..14).contains(&pos) || pos >= 15))
                    || (line == 1 && (18..29).contains(&pos))
            }
        }
    }

    fn every_single_substitution_is_caught(format: MrzFormat, lines: &[&str]) {
        let original: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let mut caught = 0;
        let mut blind = 0;
        for line in 0..lines.len() {
            for pos in 0..lines[line].len() {
                let orig = lines[line].as_bytes()[pos] as char;
                for sub in ALPHABET.chars().filter(|&c| c != orig) {
                    let mut changed = original.clone();
                    changed[line].replace_range(pos..pos + 1, &sub.to_string());
                    let result = parse_mrz(&changed.join("\n"));
                    if !covered(format, line, pos) {
                        // Not protected by a check digit: it may parse or not, but never
                        // raises a false check-digit alarm.
                        if let Ok(m) = &result {
                            assert!(m.all_checks_ok(), "false alarm at {line}:{pos} {sub}");
                        }
                        continue;
                    }
                    match result {
                        Err(_) => caught += 1,
                        Ok(m) if !m.all_checks_ok() => caught += 1,
                        Ok(m) if m.lines == original => caught += 1, // corrected back
                        Ok(m) => {
                            // The 7-3-1 scheme cannot see a change of value by a multiple of
                            // 10 (e.g. '0'→'A'/'K'/'U', '<'→'0'): only possible where letters
                            // are allowed, and only for exactly those substitutions.
                            let delta = char_value(sub).unwrap_or(0) as i32
                                - char_value(orig).unwrap_or(0) as i32;
                            assert!(
                                alphanumeric(format, line, pos) && delta % 10 == 0,
                                "{format:?} line {line} pos {pos}: {orig}→{sub} not caught: {:?}",
                                m.checks
                            );
                            blind += 1;
                        }
                    }
                }
            }
        }
        assert!(caught > 1000, "{caught}");
        eprintln!("{format:?}: {caught} substitutions caught, {blind} invisible to 7-3-1");
    }

    #[test]
    fn td3_every_single_substitution_is_caught() {
        every_single_substitution_is_caught(MrzFormat::Td3, &[TD3_1, TD3_2]);
    }

    #[test]
    fn td1_every_single_substitution_is_caught() {
        every_single_substitution_is_caught(MrzFormat::Td1, &[TD1_1, TD1_2, TD1_3]);
    }

    #[test]
    fn checks_report_each_field() {
        let l2 = TD3_2.replacen("7408122", "7408132", 1);
        let m = parse_mrz(&format!("{TD3_1}\n{l2}")).expect("parsed");
        let birth = m.check(CheckedField::BirthDate).expect("has birth check");
        assert!(!birth.ok);
        assert_eq!(birth.found, '2');
        assert!(m.check(CheckedField::DocumentNumber).is_some_and(|c| c.ok));
        assert!(m.check(CheckedField::ExpiryDate).is_some_and(|c| c.ok));
        assert!(!m.check(CheckedField::Composite).is_some_and(|c| c.ok));
    }
}
