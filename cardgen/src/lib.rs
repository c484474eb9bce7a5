//! Synthetic Korean ID cards (주민등록증, 자동차운전면허증) and ICAO 9303 documents with known
//! contents and known corners, so the card quality gate, the rectifier and the OCR can be tested
//! and measured without real people's documents.
//!
//! Test and benchmark tooling only, never part of the product: it forges documents (valid
//! resident registration numbers, machine-readable zones, deliberately tampered ones) and needs
//! fonts from Debian packages at fixed paths. The vision tests, the server's integration tests
//! and `kyc bench cards` (the `bench-cards` feature of the kyc package) take it as a
//! dev-dependency or an optional one; the release `kyc` binary and the `vision` library do not
//! link it. It reaches the card code through `vision`'s public API only.
//!
//! [`sample`] draws a plausible holder, [`render_card`] prints it on a clean rectified card,
//! [`place_in_scene`] puts the card on a table in a camera frame and [`degrade`] spoils the
//! frame; [`generate`] does all four from one seed.
//!
//! Those cards print every field exactly in the reader's zones. [`generate_varied`] is the
//! second, independent source: its own [`Design`]s (older arrangements, fields a few percent
//! off, other fonts, sizes, stock and wear), with a seed split between the cards the reader may
//! be tuned on ([`TUNING_SEEDS`]) and the held-out ones it is measured on ([`TEST_SEEDS`]).

mod error;
mod mrz_card;
mod render;
mod rng;
mod scene;
mod score;
mod text;
mod truth;
mod variety;

pub use error::{CardgenError, Result};
pub use mrz_card::{
    MrzSample, MrzTruth, TD3_HEIGHT, TD3_WIDTH, compose_td1, compose_td3, generate_mrz, render_td1,
    render_td3, tampered,
};
pub use render::{Style, render_card};
pub use rng::SynthRng;
pub use scene::{
    Degradation, FRAME_HEIGHT, FRAME_WIDTH, Scene, corners_inside, degrade,
    max_corner_deviation_deg, place_in_scene, quad_area,
};
pub use score::{FIELD_NAMES, FieldHits, OCR_MIX, Tally, mrz_misses, mrz_read_exactly, ocr_sample};
pub use text::{FontChoice, NANUM_FONT_DIR, Pen};
pub use truth::{CardTruth, RRN_WEIGHTS, rrn_check_digit, rrn_is_valid, sample};
pub use variety::{
    Arrangement, DOC_FIELDS, Design, DocTally, GATE_CHECKS, GateRow, GateTally, Line, MAX_SHIFT_X,
    MAX_SHIFT_Y, Pattern, SIZE_RANGE, TEST_SEEDS, TUNING_SEEDS, Wear, caught_by_right_check,
    generate_varied, is_test_seed, max_shift_y, render_varied, varied_ocr_sample,
};

use opencv::core::Mat;
use vision::card::{DocumentType, Quad};

/// One synthetic capture and everything true about it.
pub struct Sample {
    pub truth: CardTruth,
    /// The clean rectified card, `CARD_WIDTH` × `CARD_HEIGHT` BGR.
    pub card: Mat,
    /// The camera frame, `FRAME_WIDTH` × `FRAME_HEIGHT` BGR.
    pub frame: Mat,
    /// The card's true corners in `frame`.
    pub quad: Quad,
    pub degradation: Degradation,
    /// Whether the degradation is the mild (still readable) version.
    pub mild: bool,
    pub style: Style,
}

/// A capture of a random card of type `doc` showing `degradation` (strong version), the same
/// for the same seed. `face` is put in the photo zone (a drawn silhouette when `None`).
pub fn generate(
    seed: u64,
    doc: DocumentType,
    face: Option<&Mat>,
    degradation: Degradation,
) -> Result<Sample> {
    generate_with(seed, doc, face, degradation, false)
}

/// As [`generate`], with the mild version of the degradation when `mild` (slight blur, slight
/// tilt, ...: what the OCR must still read).
pub fn generate_with(
    seed: u64,
    doc: DocumentType,
    face: Option<&Mat>,
    degradation: Degradation,
    mild: bool,
) -> Result<Sample> {
    let truth = sample(seed, doc);
    let style = Style::random(&mut SynthRng::derived(seed, 2));
    let card = render_card(&truth, face, &style)?;
    photograph(
        truth,
        card,
        style,
        degradation,
        mild,
        &mut SynthRng::derived(seed, 3),
    )
}

/// `card` (showing `truth`, printed in `style`) put on a table in a camera frame and spoilt as
/// `degradation` says, the scene drawn from `rng`.
pub(crate) fn photograph(
    truth: CardTruth,
    card: Mat,
    style: Style,
    degradation: Degradation,
    mild: bool,
    rng: &mut SynthRng,
) -> Result<Sample> {
    let scene = Scene::for_degradation(degradation, mild, rng);
    let (frame, quad) = place_in_scene(&card, scene, rng)?;
    let (frame, quad) = degrade(&frame, quad, degradation, mild, rng)?;
    Ok(Sample {
        truth,
        card,
        frame,
        quad,
        degradation,
        mild,
        style,
    })
}
