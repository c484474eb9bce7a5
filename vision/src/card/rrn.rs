//! Korean resident registration numbers (주민등록번호, `YYMMDD-SNNNNNN`): parsed from OCR text,
//! validated (birth date, sex/century digit, check digit as a warning), and only ever shown masked.

use std::fmt;

use thiserror::Error;
use time::{Date, Month};

/// Why a string is not a resident registration number.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RrnError {
    #[error("expected 13 digits (YYMMDD-SNNNNNN), found {0}")]
    WrongLength(usize),
    #[error("unexpected character {0:?} in a resident registration number")]
    InvalidCharacter(char),
    #[error("the dash must sit between the 6th and 7th digit")]
    MisplacedSeparator,
    #[error("the first six digits are not a real birth date")]
    InvalidBirthDate,
    #[error("the 7th digit does not encode a sex and century")]
    InvalidSexDigit,
}

/// Sex as encoded in the 7th digit (odd = male, even = female).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

/// Century of birth as encoded in the 7th digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Century {
    /// 1800–1899 (S = 9, 0)
    C1800s,
    /// 1900–1999 (S = 1, 2, 5, 6)
    C1900s,
    /// 2000–2099 (S = 3, 4, 7, 8)
    C2000s,
}

impl Century {
    /// The first year of the century.
    pub fn base_year(self) -> i32 {
        match self {
            Self::C1800s => 1800,
            Self::C1900s => 1900,
            Self::C2000s => 2000,
        }
    }
}

/// The warning given when the check digit does not match (numbers issued since October 2020
/// no longer carry one, so a mismatch is not an error).
pub const CHECK_DIGIT_WARNING: &str = "the check digit does not match (expected for numbers \
     issued since October 2020; otherwise the number may be misread)";

/// Weights of the check digit over the first 12 digits.
pub const WEIGHTS: [u32; 12] = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5];

/// The check digit of the first 12 digits of a resident registration number:
/// `(11 − Σ dᵢ·wᵢ mod 11) mod 10`. `None` unless given exactly 12 ASCII digits.
pub fn check_digit_of(first12: &str) -> Option<u32> {
    let digits: Vec<u32> = first12.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 12 || first12.chars().count() != 12 {
        return None;
    }
    let sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    Some((11 - sum % 11) % 10)
}

/// A parsed resident registration number. `Display` and `Debug` print only the masked form
/// (`YYMMDD-S******`); the full number is reachable only through [`Rrn::expose`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Rrn {
    digits: [u8; 13],
    /// Date of birth from the first six digits and the century from the 7th.
    pub birth_date: Date,
    pub sex: Sex,
    pub century: Century,
    /// True for foreign residents (S = 5–8).
    pub foreigner: bool,
    /// Whether the legacy check digit matches. False is a warning, not an error.
    pub check_digit_ok: bool,
    /// Warnings for the caller to record (never contain the number).
    pub warnings: Vec<String>,
}

/// Parses a resident registration number from OCR-ish text: spaces are ignored, the dash may
/// be missing or any of `-`, `–`, `—`, `‐`, `−`, `~`, `_`, `.` (between the 6th and 7th digit).
pub fn parse_rrn(s: &str) -> Result<Rrn, RrnError> {
    let mut digits = [0u8; 13];
    let mut n = 0usize;
    let mut separators = 0usize;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10).filter(|_| c.is_ascii_digit()) {
            if n < 13 {
                digits[n] = d as u8;
            }
            n += 1;
        } else if c.is_whitespace() {
            continue;
        } else if is_separator(c) {
            if n != 6 || separators > 0 {
                return Err(RrnError::MisplacedSeparator);
            }
            separators += 1;
        } else {
            return Err(RrnError::InvalidCharacter(c));
        }
    }
    if n != 13 {
        return Err(RrnError::WrongLength(n));
    }
    Rrn::from_digits(digits)
}

/// Finds the first valid resident registration number in OCR text (e.g. a whole card read
/// as a block): runs of digits, spaces and dashes are tried whole and as groups of up to three
/// space-separated tokens, so labels and neighbouring numbers do not get in the way.
pub fn find_rrn(text: &str) -> Option<Rrn> {
    for line in text.lines() {
        let runs =
            line.split(|c: char| !(c.is_ascii_digit() || c.is_whitespace() || is_separator(c)));
        for run in runs {
            if run.chars().filter(char::is_ascii_digit).count() < 13 {
                continue;
            }
            if let Ok(r) = parse_rrn(run) {
                return Some(r);
            }
            let tokens: Vec<&str> = run.split_whitespace().collect();
            for start in 0..tokens.len() {
                for len in 1..=3.min(tokens.len() - start) {
                    if let Ok(r) = parse_rrn(&tokens[start..start + len].join(" ")) {
                        return Some(r);
                    }
                }
            }
        }
    }
    None
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        '-' | '‐'
            | '‑'
            | '‒'
            | '–'
            | '—'
            | '―'
            | '−'
            | '~'
            | '～'
            | '_'
            | '.'
            | '·'
            | 'ㅡ'
            | '一'
    )
}

impl Rrn {
    fn from_digits(digits: [u8; 13]) -> Result<Self, RrnError> {
        let s = digits[6];
        let (sex, century, foreigner) = match s {
            1 => (Sex::Male, Century::C1900s, false),
            2 => (Sex::Female, Century::C1900s, false),
            3 => (Sex::Male, Century::C2000s, false),
            4 => (Sex::Female, Century::C2000s, false),
            5 => (Sex::Male, Century::C1900s, true),
            6 => (Sex::Female, Century::C1900s, true),
            7 => (Sex::Male, Century::C2000s, true),
            8 => (Sex::Female, Century::C2000s, true),
            9 => (Sex::Male, Century::C1800s, false),
            0 => (Sex::Female, Century::C1800s, false),
            _ => return Err(RrnError::InvalidSexDigit),
        };
        let two = |i: usize| i32::from(digits[i]) * 10 + i32::from(digits[i + 1]);
        let year = century.base_year() + two(0);
        let month = u8::try_from(two(2))
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or(RrnError::InvalidBirthDate)?;
        let day = u8::try_from(two(4)).map_err(|_| RrnError::InvalidBirthDate)?;
        let birth_date =
            Date::from_calendar_date(year, month, day).map_err(|_| RrnError::InvalidBirthDate)?;

        let check_digit_ok = check_digit(&digits) == digits[12];
        let mut warnings = Vec::new();
        if !check_digit_ok {
            warnings.push(CHECK_DIGIT_WARNING.to_string());
        }
        Ok(Self {
            digits,
            birth_date,
            sex,
            century,
            foreigner,
            check_digit_ok,
            warnings,
        })
    }

    /// `YYMMDD-S******`: the only form that may be logged or shown.
    pub fn mask(&self) -> String {
        let mut out = String::with_capacity(14);
        for (i, d) in self.digits.iter().enumerate().take(7) {
            if i == 6 {
                out.push('-');
            }
            out.push(char::from(b'0' + d));
        }
        out.push_str("******");
        out
    }

    /// The full number `YYMMDD-SNNNNNN`. Personal data: for encrypted storage and the
    /// document owner only, never for logs.
    pub fn expose(&self) -> String {
        let mut out = String::with_capacity(14);
        for (i, d) in self.digits.iter().enumerate() {
            if i == 6 {
                out.push('-');
            }
            out.push(char::from(b'0' + d));
        }
        out
    }

    /// The 7th digit (sex and century).
    pub fn sex_digit(&self) -> u8 {
        self.digits[6]
    }
}

/// The legacy check digit: weights 2,3,4,5,6,7,8,9,2,3,4,5 over the first 12 digits,
/// C = (11 − Σ mod 11) mod 10.
fn check_digit(digits: &[u8; 13]) -> u8 {
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    ((11 - sum % 11) % 10) as u8
}

impl fmt::Display for Rrn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mask())
    }
}

impl fmt::Debug for Rrn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rrn")
            .field("number", &self.mask())
            .field("birth_date", &self.birth_date)
            .field("sex", &self.sex)
            .field("century", &self.century)
            .field("foreigner", &self.foreigner)
            .field("check_digit_ok", &self.check_digit_ok)
            .field("warnings", &self.warnings)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a 13-digit number from the first 12 with a correct check digit.
    fn with_check(first12: &str) -> String {
        let mut d = [0u8; 13];
        for (i, c) in first12.bytes().enumerate() {
            d[i] = c - b'0';
        }
        let c = check_digit(&d);
        format!("{}-{}{}", &first12[..6], &first12[6..], c)
    }

    #[test]
    fn parses_valid_number() {
        let s = with_check("900101123456");
        let r = parse_rrn(&s).expect("valid");
        assert_eq!(
            r.birth_date,
            Date::from_calendar_date(1990, Month::January, 1).unwrap()
        );
        assert_eq!(r.sex, Sex::Male);
        assert_eq!(r.century, Century::C1900s);
        assert!(!r.foreigner);
        assert!(r.check_digit_ok);
        assert!(r.warnings.is_empty());
        assert_eq!(r.expose(), s);
        assert_eq!(r.mask(), "900101-1******");
    }

    #[test]
    fn known_example_check_digit() {
        // 800101-2 with digits 12345 → Σ = 2*8+3*0+4*0+5*1+6*0+7*1+8*2+9*1+2*2+3*3+4*4+5*5 = 107,
        // 107 mod 11 = 8, (11 − 8) mod 10 = 3.
        let r = parse_rrn("800101-2123453").expect("valid");
        assert!(r.check_digit_ok);
        assert_eq!(r.sex, Sex::Female);
        let r = parse_rrn("800101-2123454").expect("wrong check digit is only a warning");
        assert!(!r.check_digit_ok);
        assert_eq!(r.warnings, vec![CHECK_DIGIT_WARNING.to_string()]);
    }

    #[test]
    fn every_sex_digit() {
        let cases = [
            (1, Sex::Male, 1900, false),
            (2, Sex::Female, 1900, false),
            (3, Sex::Male, 2000, false),
            (4, Sex::Female, 2000, false),
            (5, Sex::Male, 1900, true),
            (6, Sex::Female, 1900, true),
            (7, Sex::Male, 2000, true),
            (8, Sex::Female, 2000, true),
            (9, Sex::Male, 1800, false),
            (0, Sex::Female, 1800, false),
        ];
        for (s, sex, base, foreigner) in cases {
            let r = parse_rrn(&with_check(&format!("050315{s}12345"))).expect("valid");
            assert_eq!(r.sex, sex, "S={s}");
            assert_eq!(r.century.base_year(), base, "S={s}");
            assert_eq!(r.birth_date.year(), base + 5, "S={s}");
            assert_eq!(r.foreigner, foreigner, "S={s}");
            assert_eq!(r.sex_digit(), s);
        }
    }

    #[test]
    fn invalid_dates() {
        for bad in [
            "900230", "900001", "901301", "900100", "900132", "900431", "010229",
        ] {
            let s = format!("{bad}-1234567");
            assert_eq!(parse_rrn(&s), Err(RrnError::InvalidBirthDate), "{bad}");
        }
        // 29 February: 2000 and 2004 are leap years, 1900 and 2001 are not.
        assert!(parse_rrn(&with_check("000229312345")).is_ok());
        assert!(parse_rrn(&with_check("040229412345")).is_ok());
        assert_eq!(
            parse_rrn("000229-1234567"),
            Err(RrnError::InvalidBirthDate),
            "1900 is not a leap year"
        );
        assert_eq!(parse_rrn("010229-3234567"), Err(RrnError::InvalidBirthDate));
        assert!(parse_rrn(&with_check("960229212345")).is_ok());
    }

    #[test]
    fn ocr_variants() {
        let canonical = with_check("851224212345");
        let plain = canonical.replace('-', "");
        for v in [
            canonical.clone(),
            plain.clone(),
            canonical.replace('-', "–"),
            canonical.replace('-', "—"),
            canonical.replace('-', "~"),
            canonical.replace('-', " - "),
            format!("  {}  ", canonical.replace('-', " ")),
            plain.chars().flat_map(|c| [c, ' ']).collect::<String>(),
        ] {
            let r = parse_rrn(&v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
            assert_eq!(r.expose(), canonical);
        }
    }

    #[test]
    fn malformed_input() {
        assert_eq!(parse_rrn(""), Err(RrnError::WrongLength(0)));
        assert_eq!(parse_rrn("900101-123456"), Err(RrnError::WrongLength(12)));
        assert_eq!(parse_rrn("900101-12345678"), Err(RrnError::WrongLength(14)));
        assert_eq!(
            parse_rrn("90010-11234567"),
            Err(RrnError::MisplacedSeparator)
        );
        assert_eq!(
            parse_rrn("900101--1234567"),
            Err(RrnError::MisplacedSeparator)
        );
        assert_eq!(
            parse_rrn("9001O1-1234567"),
            Err(RrnError::InvalidCharacter('O'))
        );
        // Non-ASCII digits (e.g. full-width) are not accepted silently.
        assert!(matches!(
            parse_rrn("９00101-1234567"),
            Err(RrnError::InvalidCharacter(_))
        ));
    }

    #[test]
    fn finds_number_in_card_text() {
        let number = with_check("851224212345");
        let text = format!(
            "주민등록증\n홍길동 (洪吉童)\n{}\n서울특별시 종로구 2020.10.01\n",
            number.replace('-', " – ")
        );
        assert_eq!(find_rrn(&text).map(|r| r.expose()), Some(number.clone()));
        let text = format!("번호: {number} 2021 010 1234 5678");
        assert_eq!(find_rrn(&text).map(|r| r.expose()), Some(number));
        assert!(find_rrn("주민등록증\n홍길동\n2020.10.01").is_none());
        assert!(find_rrn("991332-1234567").is_none());
    }

    #[test]
    fn display_and_debug_are_masked() {
        let s = with_check("900101198765");
        let r = parse_rrn(&s).expect("valid");
        let tail = &s[8..];
        for out in [format!("{r}"), format!("{r:?}"), format!("{r:#?}")] {
            assert!(out.contains("900101-1******"), "{out}");
            assert!(!out.contains(&s), "{out}");
            assert!(!out.contains(tail), "{out}");
            assert!(!out.contains(&s.replace('-', "")), "{out}");
        }
        // Wrapped in an Option or a Result, Debug still goes through the masked form.
        let wrapped = format!("{:?}", Some(&r));
        assert!(!wrapped.contains(tail));
        // Warnings never carry the number either.
        let bad = parse_rrn("900101-1987650").expect("warning only");
        let bad = if bad.check_digit_ok {
            parse_rrn("900101-1987651").expect("warning only")
        } else {
            bad
        };
        assert!(!bad.check_digit_ok);
        assert!(bad.warnings.iter().all(|w| !w.contains("987")));
    }
}
