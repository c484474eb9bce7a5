//! Where a varied card prints each field, in which fonts and sizes, on what stock and with what
//! wear: a [`Design`], drawn per seed from this module's own idea of the real cards, not from
//! the reader's zones (`vision::card::layout`).
//!
//! Each document has two arrangements: the current one (cards issued since 2020) and an older
//! one (invented here from the general look of pre-2020 cards: a smaller, wider-spaced title, a
//! differently sized photo, other field spacing; no real document image was copied). A design
//! starts from its arrangement's nominal lines and moves them the way print varies between
//! issuers, printers and years: the column a little left or right, each line a little up or
//! down, all within [`MAX_SHIFT_X`] and [`MAX_SHIFT_Y`] of the current arrangement, the text
//! [`SIZE_RANGE`] larger or smaller, the fields always in their usual order without overlapping.

use crate::rng::SynthRng;
use crate::text::FontChoice;
use serde::{Deserialize, Serialize};
use vision::card::DocumentType;
use vision::card::layout::Field;

/// Which generation of a card's design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arrangement {
    /// The cards issued since 2020.
    Current,
    /// An older arrangement of the same card.
    Older,
}

/// The background of the card stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// Families of thin sine waves.
    Guilloche,
    /// Concentric rings around the emblem.
    Rings,
    /// Fine diagonal hatching.
    Hatch,
    /// Rows of micro dots.
    Dots,
}

/// Where one field is printed, as fractions of the card's width (`x`, `w`) and height (`y`,
/// `h`): the text is vertically centred in the line box `y..y + h` (two lines of `h / 2` for
/// the address), starting at `x` or centred in `x..x + w`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Line {
    pub field: Field,
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// Centred in `x..x + w` rather than starting at `x`.
    pub centred: bool,
    /// Text height relative to the nominal 0.78 × the line height (the address: half of it).
    pub size: f32,
    /// Printed in the font's bold cut.
    pub bold: bool,
    /// Extra pixels between characters on the canonical card.
    pub spacing: f32,
}

impl Line {
    /// The vertical centre of the line box, fraction of the card height.
    pub fn centre_y(&self) -> f32 {
        self.y + self.h / 2.0
    }
}

/// Wear and print defects of one card.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Wear {
    /// Scratches in the laminate (0 = none).
    pub scratches: u32,
    /// How much the ink has faded towards the stock overall, 0–0.3.
    pub fade: f32,
    /// Faded patches on top of that (0 = none).
    pub fade_patches: u32,
    /// A soft bright streak of laminate glare over part of the card: its peak strength (0–1
    /// of the way to white), 0 for none.
    pub glare: f32,
    /// Colour plates printed off register: the blue and the red channel's shift in pixels.
    pub misregistration: [[i32; 2]; 2],
}

/// Everything about how a varied card looks, except who it is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub doc: DocumentType,
    pub arrangement: Arrangement,
    /// The values' font.
    pub font: FontChoice,
    /// The title's and the issuer's font (its bold cut).
    pub title_font: FontChoice,
    /// The card-wide text size factor every [`Line::size`] varies around.
    pub text_scale: f32,
    /// The printed text fields, in reading order (no photo).
    pub lines: Vec<Line>,
    /// The photo box, `(x, y, w, h)` fractions of the card.
    pub photo: [f32; 4],
    /// The stock's colour (BGR) at its left and right edge.
    pub tint: [[f32; 3]; 2],
    pub pattern: Pattern,
    /// The ink (BGR).
    pub ink: [u8; 3],
    /// The issuer's seal relative to the issuer line's height.
    pub seal_scale: f32,
    pub wear: Wear,
    /// The seed the background pattern's phase and the wear's positions are drawn from.
    pub detail_seed: u64,
}

/// The largest horizontal distance of a line's start (or centre) from the current
/// arrangement's, fraction of the card width.
pub const MAX_SHIFT_X: f32 = 0.025;
/// The largest vertical distance of a line's centre from the current arrangement's, fraction of
/// the card height (the issue date and the issuer may move a little further: [`max_shift_y`]).
pub const MAX_SHIFT_Y: f32 = 0.025;
/// The range of [`Line::size`].
pub const SIZE_RANGE: (f32, f32) = (0.85, 1.15);

/// How far a field's centre may sit from the current arrangement's, fraction of the height.
pub fn max_shift_y(field: Field) -> f32 {
    match field {
        Field::IssueDate | Field::Issuer => 0.03,
        _ => MAX_SHIFT_Y,
    }
}

/// (field, x, y, w, h, centred, bold, spacing): a nominal line.
type Nominal = (Field, f32, f32, f32, f32, bool, bool, f32);

const RRC_CURRENT: [Nominal; 6] = [
    (Field::Title, 0.05, 0.06, 0.56, 0.13, false, true, 26.0),
    (Field::Name, 0.05, 0.23, 0.60, 0.10, false, false, 3.0),
    (Field::Rrn, 0.05, 0.35, 0.60, 0.10, false, false, 1.0),
    (Field::Address, 0.05, 0.48, 0.62, 0.19, false, false, 0.0),
    (Field::IssueDate, 0.28, 0.70, 0.38, 0.08, true, false, 0.0),
    (Field::Issuer, 0.18, 0.80, 0.56, 0.11, true, true, 2.0),
];
const RRC_OLDER: [Nominal; 6] = [
    (Field::Title, 0.07, 0.07, 0.50, 0.11, false, true, 34.0),
    (Field::Name, 0.06, 0.245, 0.58, 0.095, false, false, 4.0),
    (Field::Rrn, 0.06, 0.36, 0.58, 0.095, false, false, 2.0),
    (Field::Address, 0.06, 0.49, 0.60, 0.18, false, false, 0.0),
    (Field::IssueDate, 0.30, 0.715, 0.36, 0.075, true, false, 1.0),
    (Field::Issuer, 0.20, 0.815, 0.54, 0.10, true, true, 4.0),
];
const RRC_PHOTO: [[f32; 4]; 2] = [[0.70, 0.19, 0.25, 0.50], [0.715, 0.21, 0.235, 0.46]];

const DL_CURRENT: [Nominal; 9] = [
    (Field::Title, 0.30, 0.04, 0.64, 0.12, false, true, 10.0),
    (Field::LicenceType, 0.31, 0.18, 0.34, 0.08, false, true, 0.0),
    (
        Field::LicenceNumber,
        0.31,
        0.27,
        0.55,
        0.08,
        false,
        false,
        1.0,
    ),
    (Field::Name, 0.31, 0.36, 0.50, 0.08, false, false, 2.0),
    (Field::Rrn, 0.31, 0.45, 0.50, 0.08, false, false, 1.0),
    (Field::Address, 0.31, 0.54, 0.65, 0.16, false, false, 0.0),
    (
        Field::RenewalPeriod,
        0.31,
        0.72,
        0.60,
        0.07,
        false,
        false,
        0.0,
    ),
    (Field::IssueDate, 0.44, 0.80, 0.30, 0.06, true, false, 0.0),
    (Field::Issuer, 0.38, 0.87, 0.50, 0.09, true, true, 2.0),
];
const DL_OLDER: [Nominal; 9] = [
    (Field::Title, 0.12, 0.035, 0.76, 0.10, true, true, 18.0),
    (
        Field::LicenceType,
        0.32,
        0.175,
        0.30,
        0.075,
        false,
        true,
        1.0,
    ),
    (
        Field::LicenceNumber,
        0.32,
        0.265,
        0.55,
        0.08,
        false,
        false,
        2.0,
    ),
    (Field::Name, 0.32, 0.355, 0.50, 0.08, false, false, 3.0),
    (Field::Rrn, 0.32, 0.445, 0.50, 0.08, false, false, 1.0),
    (Field::Address, 0.32, 0.535, 0.64, 0.16, false, false, 0.0),
    (
        Field::RenewalPeriod,
        0.32,
        0.715,
        0.58,
        0.07,
        false,
        false,
        0.0,
    ),
    (Field::IssueDate, 0.45, 0.795, 0.30, 0.065, true, false, 1.0),
    (Field::Issuer, 0.39, 0.865, 0.50, 0.09, true, true, 3.0),
];
const DL_PHOTO: [[f32; 4]; 2] = [[0.04, 0.19, 0.24, 0.48], [0.035, 0.22, 0.25, 0.52]];

/// The nominal lines and photo box of an arrangement (None: no Korean card design).
fn nominal(doc: DocumentType, a: Arrangement) -> Option<(&'static [Nominal], [f32; 4])> {
    let i = usize::from(a == Arrangement::Older);
    match doc {
        DocumentType::ResidentRegistrationCard => {
            Some((if i == 0 { &RRC_CURRENT } else { &RRC_OLDER }, RRC_PHOTO[i]))
        }
        DocumentType::DriverLicence => {
            Some((if i == 0 { &DL_CURRENT } else { &DL_OLDER }, DL_PHOTO[i]))
        }
        _ => None,
    }
}

/// The anchor the shift limits are measured from: a left-aligned line's start, a centred
/// line's centre.
fn anchor_x(n: &Nominal) -> f32 {
    if n.5 { n.1 + n.3 / 2.0 } else { n.1 }
}

/// The ink's approximate extent around a line's centre, fraction of the card height.
fn ink_half_height(l: &Line) -> f32 {
    let line_h = if l.field == Field::Address {
        l.h / 2.0
    } else {
        l.h
    };
    // 0.78 of the line height at size 1; Hangul ink is about 0.85 of the pixel size; the
    // address spans its two lines.
    let text = 0.78 * line_h * l.size * 0.85;
    if l.field == Field::Address {
        (l.h - line_h + text) / 2.0
    } else {
        text / 2.0
    }
}

impl Design {
    /// The design of varied card `seed` of type `doc`, the same for the same seed (None for the
    /// document types without a Korean card design).
    pub fn for_seed(seed: u64, doc: DocumentType) -> Option<Design> {
        Self::random(doc, &mut SynthRng::derived(seed, 31))
    }

    /// A random design of type `doc` (None: no Korean card design).
    pub fn random(doc: DocumentType, rng: &mut SynthRng) -> Option<Design> {
        let arrangement = if rng.chance(0.4) {
            Arrangement::Older
        } else {
            Arrangement::Current
        };
        let (lines, photo) = nominal(doc, arrangement)?;
        let (current, _) = nominal(doc, Arrangement::Current)?;
        let font = *rng.pick(&FontChoice::VARIETY);
        let title_font = if rng.chance(0.5) {
            font
        } else {
            *rng.pick(&FontChoice::VARIETY)
        };
        let text_scale = rng.range(0.88, 1.12);
        let bold_values = rng.chance(0.2);
        // The whole block moves together (the card sat a little off in the printer), each line
        // a little on its own (another template, another year). Lines whose ink would touch
        // are drawn again; after 64 tries each line keeps the block's move alone.
        let (block_dx, block_dy) = (rng.range(-0.012, 0.012), rng.range(-0.012, 0.012));
        let spacing: Vec<f32> = lines.iter().map(|n| n.7 * rng.range(0.7, 1.3)).collect();
        let mut out = Vec::new();
        for attempt in 0..=64 {
            let own = if attempt < 64 { 1.0 } else { 0.0 };
            out = lines
                .iter()
                .zip(&spacing)
                .map(|(n, &spacing)| {
                    let base = current.iter().find(|c| c.0 == n.0).unwrap_or(n);
                    let jitter = (own * rng.range(-0.01, 0.01), own * rng.range(-0.6, 0.6));
                    let size = (text_scale * (1.0 + own * rng.range(-0.05, 0.05)))
                        .clamp(SIZE_RANGE.0, SIZE_RANGE.1);
                    let mut l = place(n, base, (block_dx, block_dy), jitter);
                    l.size = size;
                    l.bold = n.6 || (bold_values && n.0 == Field::Name);
                    l.spacing = spacing;
                    l
                })
                .collect();
            if !overlapping(&out) {
                break;
            }
        }
        let photo = [
            photo[0] + rng.range(-0.01, 0.01),
            photo[1] + rng.range(-0.015, 0.015),
            photo[2] * rng.range(0.95, 1.04),
            photo[3] * rng.range(0.95, 1.04),
        ];
        let (tint, pattern) = stock(doc, arrangement, rng);
        let fade = if rng.chance(0.4) {
            rng.range(0.05, 0.3)
        } else {
            0.0
        };
        let shift = |rng: &mut SynthRng| [rng.int(0, 4) as i32 - 2, rng.int(0, 4) as i32 - 2];
        let misregistration = if rng.chance(0.5) {
            [shift(rng), shift(rng)]
        } else {
            [[0, 0], [0, 0]]
        };
        let wear = Wear {
            scratches: if rng.chance(0.5) { rng.int(1, 7) } else { 0 },
            fade,
            fade_patches: if rng.chance(0.35) { rng.int(1, 3) } else { 0 },
            glare: if rng.chance(0.45) {
                rng.range(0.25, 0.6)
            } else {
                0.0
            },
            misregistration,
        };
        let grey = rng.range(20.0, 60.0);
        let ink = [
            grey as u8,
            (grey * rng.range(0.8, 1.0)) as u8,
            (grey * rng.range(0.75, 1.0)) as u8,
        ];
        Some(Design {
            doc,
            arrangement,
            font,
            title_font,
            text_scale,
            lines: out,
            photo,
            tint,
            pattern,
            ink,
            seal_scale: rng.range(0.85, 1.2),
            wear,
            detail_seed: rng.next_u64(),
        })
    }

    /// The line of `field`, if the design prints it.
    pub fn line(&self, field: Field) -> Option<&Line> {
        self.lines.iter().find(|l| l.field == field)
    }
}

/// A nominal line `n` moved by the block's move and its own `jitter` (horizontal, and vertical
/// in units of the field's limit), within the limits measured from `base`, the same field in
/// the current arrangement. The title is not held to them (the reader does not read it).
fn place(n: &Nominal, base: &Nominal, block: (f32, f32), jitter: (f32, f32)) -> Line {
    let lim_y = max_shift_y(n.0);
    let (dx, dy) = (block.0 + jitter.0, block.1 + jitter.1 * lim_y);
    let (x, cy) = if n.0 == Field::Title {
        (anchor_x(n) + dx, n.2 + n.4 / 2.0 + dy)
    } else {
        let moved_x = anchor_x(n) - anchor_x(base) + dx;
        let moved_y = (n.2 + n.4 / 2.0) - (base.2 + base.4 / 2.0) + dy;
        (
            anchor_x(base) + moved_x.clamp(-MAX_SHIFT_X, MAX_SHIFT_X),
            base.2 + base.4 / 2.0 + moved_y.clamp(-lim_y, lim_y),
        )
    };
    Line {
        field: n.0,
        x: if n.5 { x - n.3 / 2.0 } else { x },
        y: cy - n.4 / 2.0,
        w: n.3,
        h: n.4,
        centred: n.5,
        size: 1.0,
        bold: n.6,
        spacing: n.7,
    }
}

/// Whether the ink of two lines, one above the other, would come closer than a hair's breadth
/// (or a line would leave the card).
fn overlapping(lines: &[Line]) -> bool {
    const GAP: f32 = 0.012;
    let mut sorted: Vec<&Line> = lines.iter().collect();
    sorted.sort_by(|a, b| a.centre_y().total_cmp(&b.centre_y()));
    let off_card = lines
        .iter()
        .any(|l| l.y < 0.005 || l.y + l.h > 0.995 || l.x < 0.01 || l.x + l.w > 0.99);
    off_card
        || sorted.windows(2).any(|p| {
            p[1].centre_y() - p[0].centre_y() < ink_half_height(p[0]) + GAP + ink_half_height(p[1])
        })
}

/// The stock's colours and pattern: pale, in the family of the document's real colours.
fn stock(doc: DocumentType, a: Arrangement, rng: &mut SynthRng) -> ([[f32; 3]; 2], Pattern) {
    // BGR at the left and right edge of the four families.
    let base: [[f32; 3]; 2] = match (doc, a) {
        (DocumentType::DriverLicence, Arrangement::Current) => {
            [[236.0, 244.0, 248.0], [244.0, 236.0, 246.0]]
        }
        (DocumentType::DriverLicence, Arrangement::Older) => {
            [[226.0, 240.0, 232.0], [238.0, 244.0, 236.0]]
        }
        (_, Arrangement::Current) => [[248.0, 244.0, 240.0], [240.0, 242.0, 247.0]],
        (_, Arrangement::Older) => [[226.0, 238.0, 246.0], [236.0, 242.0, 246.0]],
    };
    let jitter = [
        rng.range(-8.0, 6.0),
        rng.range(-8.0, 6.0),
        rng.range(-8.0, 6.0),
    ];
    let tint = base.map(|c| [0, 1, 2].map(|i| (c[i] + jitter[i]).clamp(200.0, 252.0)));
    let pattern = *rng.pick(&[
        Pattern::Guilloche,
        Pattern::Rings,
        Pattern::Hatch,
        Pattern::Dots,
    ]);
    (tint, pattern)
}
