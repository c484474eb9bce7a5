//! Checks across the fields of a Korean card: what one field says must agree with the others.
//! The birth date (from the resident number) comes before the issue date, a 주민등록증 is
//! issued from the age of 17 and a licence from 16, nothing is issued in the future, the
//! licence classes are classes that exist and the renewal period ends after it starts. A
//! disagreement is a misread or a forged card: it becomes a warning with its reason, and the
//! confidence of the fields involved drops (halved), so a reviewer or a policy sees it.

use super::DocumentType;
use super::read::CardReading;
use time::Date;

/// The youngest age at which a 주민등록증 is issued.
pub const RESIDENT_CARD_MIN_AGE: i32 = 17;
/// The youngest age at which a licence is issued (2종 소형 / 원동기장치자전거 at 16).
pub const LICENCE_MIN_AGE: i32 = 16;
/// What a disagreement does to the confidence of the fields involved.
const DOUBT: f32 = 0.5;

/// The licence classes (도로교통법 시행규칙 별표 18) as printed, without spaces.
const LICENCE_CLASSES: [&str; 10] = [
    "1종대형",
    "1종보통",
    "1종소형",
    "1종특수",
    "대형견인차",
    "소형견인차",
    "구난차",
    "2종보통",
    "2종소형",
    "2종원동기장치자전거",
];

/// A `YYYY-MM-DD` field as (year, month, day).
fn ymd(s: &str) -> Option<(i32, u32, u32)> {
    let mut parts = s.split('-');
    let y = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let d = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((y, m, d))
}

/// Whole years from `from` to `to`.
fn years_between(from: (i32, u32, u32), to: (i32, u32, u32)) -> i32 {
    let mut years = to.0 - from.0;
    if (to.1, to.2) < (from.1, from.2) {
        years -= 1;
    }
    years
}

/// Checks the fields of `reading` (a card of type `doc`) against each other and against
/// `today`; adds a warning per disagreement and lowers the confidence of the fields involved.
pub fn cross_check(doc: DocumentType, reading: &mut CardReading, today: Date) {
    let date = |key: &str| reading.fields.get(key).and_then(|f| ymd(&f.value));
    let today = (today.year(), today.month() as u32, today.day() as u32);
    let number_key = if doc == DocumentType::DriverLicence {
        "resident_number"
    } else {
        "document_number"
    };
    let mut doubts: Vec<(String, [&'static str; 2])> = Vec::new();
    let issued = date("issue_date");
    let born = date("birth_date");
    if let Some(issued) = issued {
        if issued > today {
            doubts.push((
                "the issue date lies in the future".into(),
                ["issue_date", "issue_date"],
            ));
        }
        if let Some(born) = born {
            let (min_age, what) = match doc {
                DocumentType::DriverLicence => (LICENCE_MIN_AGE, "a driver's licence"),
                _ => (RESIDENT_CARD_MIN_AGE, "a resident registration card"),
            };
            if issued < born {
                doubts.push((
                    "the issue date is before the birth date in the resident number".into(),
                    ["issue_date", number_key],
                ));
            } else if years_between(born, issued) < min_age {
                doubts.push((
                    format!(
                        "the holder was {} at the issue date; {what} is issued from {min_age}",
                        years_between(born, issued)
                    ),
                    ["issue_date", number_key],
                ));
            }
        }
    }
    if born.is_some_and(|b| b > today) {
        doubts.push((
            "the birth date in the resident number lies in the future".into(),
            [number_key, "birth_date"],
        ));
    }
    if doc == DocumentType::DriverLicence {
        if let Some(classes) = reading.fields.get("licence_type") {
            let known = LICENCE_CLASSES.iter().any(|c| classes.value.contains(c));
            if !known {
                doubts.push((
                    "the licence class is not one that exists".into(),
                    ["licence_type", "licence_type"],
                ));
            }
        }
        if let Some(period) = reading.fields.get("renewal_period") {
            let dates: Vec<_> = period.value.split('~').filter_map(ymd).collect();
            if let [start, end] = dates.as_slice()
                && end <= start
            {
                doubts.push((
                    "the renewal period ends before it starts".into(),
                    ["renewal_period", "renewal_period"],
                ));
            }
        }
    }
    for (reason, keys) in doubts {
        for key in keys.iter().collect::<std::collections::BTreeSet<_>>() {
            if let Some(f) = reading.fields.get_mut(*key) {
                f.confidence *= DOUBT;
            }
        }
        reading.warnings.push(reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::card::read::FieldValue;
    use std::collections::BTreeMap;
    use time::Month;

    fn reading(fields: &[(&'static str, &str)]) -> CardReading {
        let fields: BTreeMap<&'static str, FieldValue> = fields
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    FieldValue {
                        value: v.to_string(),
                        confidence: 0.9,
                        region: None,
                    },
                )
            })
            .collect();
        CardReading {
            document_type: DocumentType::ResidentRegistrationCard,
            fields,
            turned: false,
            warnings: Vec::new(),
            rrn: None,
        }
    }

    fn today() -> Date {
        Date::from_calendar_date(2026, Month::November, 30).expect("date")
    }

    #[test]
    fn agreeing_fields_pass_untouched() {
        let mut r = reading(&[
            ("birth_date", "1990-05-17"),
            ("document_number", "900517-1******"),
            ("issue_date", "2019-03-05"),
        ]);
        cross_check(DocumentType::ResidentRegistrationCard, &mut r, today());
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.fields["issue_date"].confidence, 0.9);
    }

    #[test]
    fn disagreements_are_warnings_and_lower_the_confidence() {
        // Issued at 12.
        let mut r = reading(&[
            ("birth_date", "2007-05-17"),
            ("document_number", "070517-3******"),
            ("issue_date", "2019-03-05"),
        ]);
        cross_check(DocumentType::ResidentRegistrationCard, &mut r, today());
        assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("was 11"), "{:?}", r.warnings);
        assert!(r.fields["issue_date"].confidence < 0.5);
        assert!(r.fields["document_number"].confidence < 0.5);
        assert_eq!(r.fields["birth_date"].confidence, 0.9);

        // Issued before birth, and in the future.
        let mut r = reading(&[("birth_date", "1990-05-17"), ("issue_date", "1980-01-01")]);
        cross_check(DocumentType::ResidentRegistrationCard, &mut r, today());
        assert!(
            r.warnings[0].contains("before the birth date"),
            "{:?}",
            r.warnings
        );
        let mut r = reading(&[("issue_date", "2027-01-02")]);
        cross_check(DocumentType::ResidentRegistrationCard, &mut r, today());
        assert!(r.warnings[0].contains("future"), "{:?}", r.warnings);
    }

    #[test]
    fn licence_classes_and_periods_are_checked() {
        let mut r = reading(&[
            ("licence_type", "1종보통"),
            ("renewal_period", "2030-01-01~2030-12-31"),
            ("birth_date", "1990-05-17"),
            ("issue_date", "2008-06-01"),
        ]);
        cross_check(DocumentType::DriverLicence, &mut r, today());
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let mut r = reading(&[
            ("licence_type", "3종보통"),
            ("renewal_period", "2030-12-31~2030-01-01"),
        ]);
        cross_check(DocumentType::DriverLicence, &mut r, today());
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.fields["licence_type"].confidence < 0.5);
    }
}
