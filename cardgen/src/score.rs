//! Scoring card readings against the generator's truth, the same way for the accuracy test and
//! `kyc bench cards`: which fields came out exactly right, tallied over many cards.

use crate::error::Result;
use crate::{Degradation, Sample, generate_with};
use opencv::core::Mat;
use vision::card::DocumentType;
use vision::card::read::CardReading;

/// The captures the OCR must read: clean and mildly degraded ones.
pub const OCR_MIX: [Degradation; 6] = [
    Degradation::Clean,
    Degradation::MotionBlur,
    Degradation::Defocus,
    Degradation::Tilt,
    Degradation::Rotation,
    Degradation::LowLight,
];

/// Card `seed` of the OCR mix: both document types in turn, each degradation of [`OCR_MIX`] in
/// its mild version, the font and layout style drawn from the seed.
pub fn ocr_sample(seed: u64, face: Option<&Mat>) -> Result<Sample> {
    let (doc, degradation) = ocr_mix(seed);
    generate_with(seed, doc, face, degradation, true)
}

/// The document type and degradation of card `seed` of the OCR mix: both types in turn, the
/// degradations of [`OCR_MIX`] in turn over each pair.
pub(crate) fn ocr_mix(seed: u64) -> (DocumentType, Degradation) {
    let doc = if seed.is_multiple_of(2) {
        DocumentType::ResidentRegistrationCard
    } else {
        DocumentType::DriverLicence
    };
    (doc, OCR_MIX[(seed / 2 % OCR_MIX.len() as u64) as usize])
}

/// Which identifying fields of one card were read exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FieldHits {
    pub document_type: bool,
    pub name: bool,
    pub birth_date: bool,
    pub issue_date: bool,
    /// The `YYMMDD-S` part of the (masked) resident number.
    pub number_prefix: bool,
}

impl FieldHits {
    /// Compares what was read (`None`: no card found) with what is printed.
    pub fn of(sample: &Sample, reading: Option<&CardReading>) -> Self {
        let Some(r) = reading else {
            return Self::default();
        };
        let truth = &sample.truth;
        let get = |k: &str| r.fields.get(k).map(|v| v.value.as_str()).unwrap_or("");
        let number_key = if truth.doc == DocumentType::DriverLicence {
            "resident_number"
        } else {
            "document_number"
        };
        Self {
            document_type: r.document_type == truth.doc,
            name: get("name") == truth.name,
            birth_date: get("birth_date") == truth.birth_date,
            issue_date: get("issue_date") == truth.issue_date,
            number_prefix: get(number_key).get(..8).is_some()
                && get(number_key).get(..8) == truth.rrn.get(..8),
        }
    }

    fn as_array(self) -> [bool; 5] {
        [
            self.document_type,
            self.name,
            self.birth_date,
            self.issue_date,
            self.number_prefix,
        ]
    }
}

/// The field names of [`FieldHits`], in [`Tally::rates`] order.
pub const FIELD_NAMES: [&str; 5] = [
    "document_type",
    "name",
    "birth_date",
    "issue_date",
    "number_prefix",
];

/// Exact-match counts over many cards, with a line per miss (no personal data beyond the
/// synthetic card's own).
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub cards: usize,
    hits: [usize; 5],
    pub misses: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, sample: &Sample, seed: u64, reading: Option<&CardReading>) {
        let hits = FieldHits::of(sample, reading);
        self.cards += 1;
        for (i, hit) in hits.as_array().into_iter().enumerate() {
            self.hits[i] += usize::from(hit);
            if !hit {
                let what = if reading.is_none() {
                    "no card found".to_string()
                } else {
                    FIELD_NAMES[i].to_string()
                };
                self.misses.push(format!(
                    "seed {seed} {:?} {:?}: {what}",
                    sample.truth.doc, sample.degradation
                ));
                if reading.is_none() {
                    break;
                }
            }
        }
    }

    /// Share of cards with each field exact, in [`FIELD_NAMES`] order.
    pub fn rates(&self) -> [f64; 5] {
        self.hits.map(|h| h as f64 / self.cards.max(1) as f64)
    }

    pub fn merge(&mut self, other: Tally) {
        self.cards += other.cards;
        for i in 0..5 {
            self.hits[i] += other.hits[i];
        }
        self.misses.extend(other.misses);
    }
}

/// What an MRZ reading got wrong against the generated document: the document type, each
/// field read differently (`key [read vs truth]`, synthetic data only) and any warning. Empty
/// when everything is exact.
pub fn mrz_misses(sample: &crate::MrzSample, r: &CardReading) -> Vec<String> {
    let t = &sample.truth;
    let want = match t.format {
        vision::card::mrz::MrzFormat::Td1 => DocumentType::IdCardTd1,
        vision::card::mrz::MrzFormat::Td3 => DocumentType::PassportTd3,
    };
    let mut wrong = Vec::new();
    if r.document_type != want {
        wrong.push(format!("document type {:?}", r.document_type));
    }
    for (key, value) in [
        ("document_number", t.document_number.clone()),
        ("name", t.name()),
        ("birth_date", t.birth_date()),
        ("expiry_date", t.expiry_date()),
        ("sex", t.sex.to_string()),
        ("nationality", t.nationality.clone()),
        ("issuing_state", t.issuing_state.clone()),
        ("document_code", t.document_code.clone()),
    ] {
        let read = r.fields.get(key).map_or("", |v| v.value.as_str());
        if read != value {
            wrong.push(format!("{key} [{read} vs {value}]"));
        }
    }
    if !r.warnings.is_empty() {
        wrong.push(format!("warnings {:?}", r.warnings));
    }
    wrong
}

/// Whether an MRZ document was read with every field exact and no warning.
pub fn mrz_read_exactly(sample: &crate::MrzSample, r: &CardReading) -> bool {
    mrz_misses(sample, r).is_empty()
}
