//! ID documents: card detection and rectification, the capture quality gate's card geometry,
//! and the parsing of what is printed on them (resident registration numbers, machine-readable
//! zones). Synthetic cards for tests live outside the product, in the `cardgen` crate.

pub mod cross_check;
pub mod deblur;
pub mod detect;
mod edges;
mod fields;
pub mod ink;
pub mod layout;
pub mod lines;
pub mod mrz;
mod mrz_read;
pub mod names;
pub mod read;
pub mod rectify;
pub mod rrn;

use serde::{Deserialize, Serialize};

/// ID-1 format (ISO/IEC 7810): every card kyc reads is this size.
pub const ID1_WIDTH_MM: f32 = 85.6;
pub const ID1_HEIGHT_MM: f32 = 54.0;
/// Aspect ratio (width / height) of an ID-1 card.
pub const ID1_ASPECT: f32 = ID1_WIDTH_MM / ID1_HEIGHT_MM;
/// The canonical rectified card image: ID-1 at 10 px/mm.
pub const CARD_WIDTH: i32 = 856;
pub const CARD_HEIGHT: i32 = 540;

/// A card outline in image coordinates: top-left, top-right, bottom-right, bottom-left.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quad {
    pub corners: [[f32; 2]; 4],
}

/// What kind of document a card is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    /// 주민등록증
    ResidentRegistrationCard,
    /// 자동차운전면허증
    DriverLicence,
    /// ICAO 9303 TD1 (ID-1 card with a 3-line MRZ)
    IdCardTd1,
    /// ICAO 9303 TD3 (passport data page, 2-line MRZ)
    PassportTd3,
    Unknown,
}
