//! Masking of what a document says before it leaves the pipeline (events, the journal, every GET
//! route and the admin views read only the masked form): by what a field *means* on that
//! document, not by its name — `document_number` is a resident number on a 주민등록증, a licence
//! number on a 운전면허증, a passport or ID-card number on an MRZ document.
//!
//! The policy, enough for a person to recognise their document and for a business to check an
//! age, never enough to identify or impersonate anyone:
//! - **resident registration number**: `YYMMDD-S******`, the form the Korean public-sector
//!   guideline allows for display: the serial (the last six digits) never leaves. The birth
//!   date and the sex are therefore shown in full wherever they appear (they are in what is
//!   shown): masking the birth date elsewhere would hide nothing.
//! - **licence number** `RR-YY-NNNNNN-CC`: the region and year stay, the serial and check
//!   digits go: `RR-YY-******-**`.
//! - **other document numbers** (passports, foreign ID cards): the first two characters, then
//!   one star per character.
//! - **names** (Hangul, Hanja, Latin): the first character, one star per other character.
//! - **addresses**: the first word (the province or city), then `***`.
//! - dates of issue and expiry, sex, issuer, nationality, issuing state, document code, licence
//!   classes and renewal period are not identifying on their own and pass unchanged.
//! - any field not named here is masked like a name: a new field is never shown by accident.

use vision::card::DocumentType;

/// What a field holds, which decides how it is masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    ResidentNumber,
    LicenceNumber,
    DocumentNumber,
    Address,
    /// Not identifying on its own.
    Plain,
    /// A name, or anything not known to be harmless.
    Identifying,
}

fn meaning(doc: DocumentType, key: &str) -> Meaning {
    match key {
        "resident_number" => Meaning::ResidentNumber,
        "document_number" => match doc {
            DocumentType::ResidentRegistrationCard => Meaning::ResidentNumber,
            DocumentType::DriverLicence => Meaning::LicenceNumber,
            DocumentType::IdCardTd1 | DocumentType::PassportTd3 | DocumentType::Unknown => {
                Meaning::DocumentNumber
            }
        },
        "address" => Meaning::Address,
        "birth_date" | "sex" | "issue_date" | "expiry_date" | "issuer" | "licence_type"
        | "renewal_period" | "nationality" | "issuing_state" | "document_code" => Meaning::Plain,
        _ => Meaning::Identifying,
    }
}

/// The masked form of field `key`'s `value` on a document of type `doc`.
pub fn mask_field(doc: DocumentType, key: &str, value: &str) -> String {
    match meaning(doc, key) {
        Meaning::ResidentNumber => mask_resident_number(value),
        Meaning::LicenceNumber => mask_licence_number(value),
        Meaning::DocumentNumber => keep_first(value, 2),
        Meaning::Address => value
            .split_whitespace()
            .next()
            .map(|first| format!("{first} ***"))
            .unwrap_or_default(),
        Meaning::Plain => value.to_owned(),
        Meaning::Identifying => keep_first(value, 1),
    }
}

/// Field `key`'s `value` as a data-subject export shows it: in full, except what the law
/// requires masked even there — the resident number (PIPA), shown as `YYMMDD-S******`.
pub fn export_field(doc: DocumentType, key: &str, value: &str) -> String {
    match meaning(doc, key) {
        Meaning::ResidentNumber => mask_resident_number(value),
        _ => value.to_owned(),
    }
}

/// `YYMMDD-S******` from a resident number in any form (already masked or not, with or
/// without its dash); a value that is no resident number is masked whole.
fn mask_resident_number(value: &str) -> String {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 7 {
        format!("{}-{}******", &digits[..6], &digits[6..7])
    } else {
        stars(value.chars().count())
    }
}

/// `RR-YY-******-**` from a licence number; anything else masked whole.
fn mask_licence_number(value: &str) -> String {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if digits.len() == 12 {
        format!("{}-{}-******-**", &digits[..2], &digits[2..4])
    } else {
        stars(value.chars().count())
    }
}

fn stars(n: usize) -> String {
    "*".repeat(n.max(1))
}

/// The first `keep` characters, then one star per other character (spaces dropped).
fn keep_first(value: &str, keep: usize) -> String {
    let chars: Vec<char> = value.chars().filter(|c| !c.is_whitespace()).collect();
    if chars.is_empty() {
        return String::new();
    }
    // At least one character is always hidden.
    let keep = keep
        .min(chars.len().saturating_sub(1))
        .max(usize::from(chars.len() > 1));
    let shown: String = chars[..keep].iter().collect();
    format!("{shown}{}", stars(chars.len() - keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RRC: DocumentType = DocumentType::ResidentRegistrationCard;
    const LICENCE: DocumentType = DocumentType::DriverLicence;
    const PASSPORT: DocumentType = DocumentType::PassportTd3;

    #[test]
    fn names_and_addresses_are_masked() {
        assert_eq!(mask_field(RRC, "name", "홍길동"), "홍**");
        assert_eq!(mask_field(RRC, "name_hanja", "洪吉童"), "洪**");
        assert_eq!(
            mask_field(PASSPORT, "name", "JANE Q CITIZEN"),
            "J***********"
        );
        assert_eq!(
            mask_field(RRC, "address", "서울특별시 종로구 세종대로 1"),
            "서울특별시 ***"
        );
        assert_eq!(mask_field(RRC, "name", ""), "");
        // A field nobody listed is masked, not shown.
        assert_eq!(mask_field(RRC, "surname", "KIM"), "K**");
    }

    #[test]
    fn numbers_are_masked_by_what_they_are_on_that_document() {
        // A resident number, masked or not, with or without its dash.
        assert_eq!(
            mask_field(RRC, "document_number", "900101-1******"),
            "900101-1******"
        );
        assert_eq!(
            mask_field(RRC, "document_number", "9001011234567"),
            "900101-1******"
        );
        assert_eq!(
            mask_field(LICENCE, "resident_number", "900101-1234567"),
            "900101-1******"
        );
        // On a licence `document_number` is the licence number: its serial goes.
        assert_eq!(
            mask_field(LICENCE, "document_number", "11-20-123456-01"),
            "11-20-******-**"
        );
        // A passport number keeps two characters.
        assert_eq!(
            mask_field(PASSPORT, "document_number", "M12345678"),
            "M1*******"
        );
        // Garbage in a number field is hidden whole.
        assert_eq!(mask_field(LICENCE, "document_number", "11-20"), "*****");
        assert_eq!(mask_field(RRC, "document_number", "12"), "**");
    }

    #[test]
    fn the_birth_date_is_as_visible_as_the_number_that_holds_it() {
        let number = mask_field(RRC, "document_number", "900101-1234567");
        let birth = mask_field(RRC, "birth_date", "1990-01-01");
        assert_eq!(birth, "1990-01-01");
        assert!(number.starts_with("900101"));
        assert_eq!(mask_field(RRC, "issue_date", "2019-03-05"), "2019-03-05");
    }

    #[test]
    fn an_export_shows_everything_but_the_resident_numbers_serial() {
        assert_eq!(export_field(RRC, "name", "홍길동"), "홍길동");
        assert_eq!(
            export_field(LICENCE, "document_number", "11-20-123456-01"),
            "11-20-123456-01"
        );
        assert_eq!(
            export_field(RRC, "document_number", "9001011234567"),
            "900101-1******"
        );
        assert_eq!(
            export_field(LICENCE, "resident_number", "900101-1234567"),
            "900101-1******"
        );
    }

    #[test]
    fn one_character_values_are_hidden() {
        assert_eq!(keep_first("A", 2), "*");
        assert_eq!(keep_first("AB", 2), "A*");
        assert_eq!(keep_first("ABC", 2), "AB*");
    }
}
