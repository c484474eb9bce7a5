//! A second, independent source of synthetic Korean ID cards, for measuring the card reader on
//! cards it was not tuned on.
//!
//! [`crate::generate`] prints every field exactly in the reader's zones
//! (`vision::card::layout`), so what it measures says nothing about real cards whose print sits
//! a few percent elsewhere. [`generate_varied`] prints from its own [`Design`]s instead, which
//! never read the reader's zones: the current and an older arrangement of both cards, each
//! field moved up to [`MAX_SHIFT_X`] / [`MAX_SHIFT_Y`] (issue date and issuer
//! [`max_shift_y`]) from where the current card prints it, text sizes within [`SIZE_RANGE`],
//! five Nanum families and their bold cuts, other stock tints and patterns, and wear: faded
//! ink, scratches, laminate glare over part of the card, colour plates off register. The holder
//! ([`crate::sample`]) and the camera scene ([`crate::Scene`], [`crate::degrade`]) are the same
//! as the regular cards'.
//!
//! # The seed split
//!
//! Varied cards with seeds in [`TUNING_SEEDS`] (0..100 000) may be looked at while tuning the
//! reader; the seeds from [`TEST_SEEDS`] (1 000 000 on) are held out: measure on them, never
//! tune on them or look at their misses to choose a change. `kyc bench cards --varied` starts at
//! [`TEST_SEEDS`] unless told otherwise.

mod design;
mod paint;
mod score;
mod wear;

pub use design::{
    Arrangement, Design, Line, MAX_SHIFT_X, MAX_SHIFT_Y, Pattern, SIZE_RANGE, Wear, max_shift_y,
};
pub use paint::render_varied;
pub use score::{DOC_FIELDS, DocTally, GATE_CHECKS, GateRow, GateTally, caught_by_right_check};

use crate::error::{CardgenError, Result};
use crate::render::Style;
use crate::rng::SynthRng;
use crate::scene::Degradation;
use crate::score::ocr_mix;
use crate::truth::sample;
use crate::{Sample, photograph};
use opencv::core::Mat;
use std::ops::{Range, RangeFrom};
use vision::card::DocumentType;

/// The varied cards the reader may be tuned on.
pub const TUNING_SEEDS: Range<u64> = 0..100_000;
/// The held-out varied cards: measure on them only.
pub const TEST_SEEDS: RangeFrom<u64> = 1_000_000..;
const _: () = assert!(
    TUNING_SEEDS.end <= TEST_SEEDS.start,
    "the seed sets overlap"
);

/// Whether `seed` is a held-out test seed ([`TEST_SEEDS`]).
pub fn is_test_seed(seed: u64) -> bool {
    TEST_SEEDS.contains(&seed)
}

/// A capture of a varied card of type `doc` showing `degradation` (the mild version when
/// `mild`), the same for the same seed. Its design is [`Design::for_seed`]`(seed, doc)`;
/// `face` goes in the photo box (a drawn silhouette when `None`). `Sample::style` gives the
/// design's font and text scale.
pub fn generate_varied(
    seed: u64,
    doc: DocumentType,
    face: Option<&Mat>,
    degradation: Degradation,
    mild: bool,
) -> Result<Sample> {
    let design = Design::for_seed(seed, doc)
        .ok_or_else(|| CardgenError::Unsupported(format!("no varied design for {doc:?}")))?;
    let truth = sample(seed, doc);
    let card = render_varied(&truth, face, &design)?;
    let style = Style {
        font: design.font,
        scale: design.text_scale,
    };
    photograph(
        truth,
        card,
        style,
        degradation,
        mild,
        &mut SynthRng::derived(seed, 32),
    )
}

/// Varied card `seed` of the OCR mix, as [`crate::ocr_sample`] chooses for the regular cards:
/// both document types in turn, each degradation of [`crate::OCR_MIX`] in its mild version.
pub fn varied_ocr_sample(seed: u64, face: Option<&Mat>) -> Result<Sample> {
    let (doc, degradation) = ocr_mix(seed);
    generate_varied(seed, doc, face, degradation, true)
}
