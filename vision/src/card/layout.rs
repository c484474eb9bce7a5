//! Where each printed field sits on a Korean ID card, as fractions of the rectified card, so the
//! synthetic card generator (the `cardgen` test crate) draws and the OCR reads the same zones.
//!
//! Zones are given in the coordinates of the canonical rectified card ([`CARD_WIDTH`] ×
//! [`CARD_HEIGHT`], ID-1 at 10 px/mm): `x`, `y` of the top-left corner and `w`, `h`, each a
//! fraction of the card's width (`x`, `w`) or height (`y`, `h`). They follow the arrangement of
//! the cards issued since 2020: the 주민등록증 has its photo on the right, the
//! 자동차운전면허증 on the left. Each zone is a little larger than the text printed in it so an
//! OCR crop tolerates a rectification that is a few pixels off.

use super::{CARD_HEIGHT, CARD_WIDTH, DocumentType};

/// A printed field of a Korean ID card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// "주민등록증" or "자동차운전면허증".
    Title,
    /// The holder's name in Hangul, on the 주민등록증 optionally followed by Hanja in
    /// parentheses: "홍길동(洪吉童)".
    Name,
    /// Resident registration number `YYMMDD-SNNNNNN`.
    Rrn,
    /// Address, one or two lines.
    Address,
    /// Issue date `YYYY. M. D.` (주민등록증) or `YYYY.MM.DD` (licence).
    IssueDate,
    /// Issuing authority: "서울특별시 종로구청장", "서울특별시경찰청장".
    Issuer,
    /// Licence number `RR-YY-NNNNNN-CC` (licence only).
    LicenceNumber,
    /// Licence classes, e.g. "1종보통" (licence only).
    LicenceType,
    /// Aptitude-test / renewal period, "갱신기간 2030.01.01~2030.12.31" (licence only).
    RenewalPeriod,
    /// The holder's photo.
    Photo,
}

/// One field's zone on the canonical card, in fractions of the card's width and height.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldZone {
    pub field: Field,
    /// Left edge, fraction of the card width.
    pub x: f32,
    /// Top edge, fraction of the card height.
    pub y: f32,
    /// Width, fraction of the card width.
    pub w: f32,
    /// Height, fraction of the card height.
    pub h: f32,
}

impl FieldZone {
    /// The zone in pixels of a card image `width` × `height` (any scale of ID-1):
    /// `(x, y, w, h)`, rounded outward and clamped to the image.
    pub fn to_pixels(&self, width: i32, height: i32) -> (i32, i32, i32, i32) {
        let x0 = ((self.x * width as f32).floor() as i32).clamp(0, width);
        let y0 = ((self.y * height as f32).floor() as i32).clamp(0, height);
        let x1 = (((self.x + self.w) * width as f32).ceil() as i32).clamp(x0, width);
        let y1 = (((self.y + self.h) * height as f32).ceil() as i32).clamp(y0, height);
        (x0, y0, x1 - x0, y1 - y0)
    }

    /// The zone in pixels of the canonical [`CARD_WIDTH`] × [`CARD_HEIGHT`] card.
    pub fn to_card_pixels(&self) -> (i32, i32, i32, i32) {
        self.to_pixels(CARD_WIDTH, CARD_HEIGHT)
    }
}

const fn zone(field: Field, x: f32, y: f32, w: f32, h: f32) -> FieldZone {
    FieldZone { field, x, y, w, h }
}

/// 주민등록증: title across the top left, name, number and address stacked below it, the
/// issue date and the issuer (with its red seal) centred at the bottom, photo on the right.
static RESIDENT_REGISTRATION_CARD: [FieldZone; 7] = [
    zone(Field::Title, 0.05, 0.06, 0.56, 0.13),
    zone(Field::Name, 0.05, 0.23, 0.60, 0.10),
    zone(Field::Rrn, 0.05, 0.35, 0.60, 0.10),
    zone(Field::Address, 0.05, 0.48, 0.62, 0.19),
    zone(Field::IssueDate, 0.28, 0.70, 0.38, 0.08),
    zone(Field::Issuer, 0.18, 0.80, 0.56, 0.11),
    zone(Field::Photo, 0.70, 0.19, 0.25, 0.50),
];

/// 자동차운전면허증: title across the top right, photo on the left, then licence class,
/// licence number, name, number, address, renewal period, issue date and issuer in a column
/// right of the photo.
static DRIVER_LICENCE: [FieldZone; 10] = [
    zone(Field::Title, 0.30, 0.04, 0.64, 0.12),
    zone(Field::LicenceType, 0.31, 0.18, 0.34, 0.08),
    zone(Field::LicenceNumber, 0.31, 0.27, 0.55, 0.08),
    zone(Field::Name, 0.31, 0.36, 0.50, 0.08),
    zone(Field::Rrn, 0.31, 0.45, 0.50, 0.08),
    zone(Field::Address, 0.31, 0.54, 0.65, 0.16),
    zone(Field::RenewalPeriod, 0.31, 0.72, 0.60, 0.07),
    zone(Field::IssueDate, 0.44, 0.80, 0.30, 0.06),
    zone(Field::Issuer, 0.38, 0.87, 0.50, 0.09),
    zone(Field::Photo, 0.04, 0.19, 0.24, 0.48),
];

/// The field zones of a document type; empty for the types without a fixed Korean layout
/// (MRZ documents are read through their MRZ instead).
pub fn layout(doc: DocumentType) -> &'static [FieldZone] {
    match doc {
        DocumentType::ResidentRegistrationCard => &RESIDENT_REGISTRATION_CARD,
        DocumentType::DriverLicence => &DRIVER_LICENCE,
        DocumentType::IdCardTd1 | DocumentType::PassportTd3 | DocumentType::Unknown => &[],
    }
}

/// The zone of one field of a document type, if that document prints it.
pub fn zone_of(doc: DocumentType, field: Field) -> Option<&'static FieldZone> {
    layout(doc).iter().find(|z| z.field == field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_lie_inside_the_card_and_text_zones_do_not_overlap() {
        for doc in [
            DocumentType::ResidentRegistrationCard,
            DocumentType::DriverLicence,
        ] {
            let zones = layout(doc);
            for z in zones {
                assert!(z.x >= 0.0 && z.y >= 0.0 && z.w > 0.0 && z.h > 0.0, "{z:?}");
                assert!(z.x + z.w <= 1.0 && z.y + z.h <= 1.0, "{z:?}");
            }
            for (i, a) in zones.iter().enumerate() {
                for b in &zones[i + 1..] {
                    let overlap =
                        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
                    assert!(!overlap, "{doc:?}: {a:?} overlaps {b:?}");
                }
            }
        }
    }
}
