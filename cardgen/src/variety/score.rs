//! Scoring on varied cards: the share of each identifying field read exactly, for one document
//! type ([`DocTally`], with the licence number the regular [`crate::Tally`] does not count),
//! and whether the capture quality gate judged each capture by the check that should judge it
//! ([`GateTally`]).

use crate::Sample;
use crate::scene::Degradation;
use crate::score::FieldHits;
use vision::card::read::CardReading;
use vision::quality::QualityReport;

/// The fields of [`DocTally::shares`], in order. `masked_number` is the `YYMMDD-S` part of the
/// (masked) resident number; `licence_number` is counted on licences only.
pub const DOC_FIELDS: [&str; 6] = [
    "document_type",
    "name",
    "birth_date",
    "issue_date",
    "masked_number",
    "licence_number",
];

/// Exact reads of one document type's fields over many cards, with a line per miss (field
/// names only).
#[derive(Debug, Default, Clone)]
pub struct DocTally {
    pub cards: usize,
    /// Cards where no card was found in the frame (every field counts as missed).
    pub not_found: usize,
    hits: [usize; 6],
    counted: [usize; 6],
    pub misses: Vec<String>,
}

impl DocTally {
    /// Counts one card: `reading` of `sample` (None: no card found).
    pub fn add(&mut self, sample: &Sample, seed: u64, reading: Option<&CardReading>) {
        let h = FieldHits::of(sample, reading);
        let truth = &sample.truth;
        let licence = truth.licence_number.as_ref().map(|want| {
            reading
                .and_then(|r| r.fields.get("document_number"))
                .is_some_and(|v| &v.value == want)
        });
        let hits = [
            Some(h.document_type),
            Some(h.name),
            Some(h.birth_date),
            Some(h.issue_date),
            Some(h.number_prefix),
            licence,
        ];
        self.cards += 1;
        if reading.is_none() {
            self.not_found += 1;
            self.misses.push(format!(
                "seed {seed} {:?} {:?}: no card found",
                truth.doc, sample.degradation
            ));
        }
        let mut missed = Vec::new();
        for (i, hit) in hits.into_iter().enumerate() {
            let Some(hit) = hit else { continue };
            self.counted[i] += 1;
            self.hits[i] += usize::from(hit);
            if !hit {
                missed.push(DOC_FIELDS[i]);
            }
        }
        if reading.is_some() && !missed.is_empty() {
            self.misses.push(format!(
                "seed {seed} {:?} {:?}: {}",
                truth.doc,
                sample.degradation,
                missed.join(", ")
            ));
        }
    }

    /// Share of cards with each field of [`DOC_FIELDS`] exact; None for a field no card counted
    /// (the licence number of 주민등록증).
    pub fn shares(&self) -> [Option<f64>; 6] {
        std::array::from_fn(|i| {
            (self.counted[i] > 0).then(|| self.hits[i] as f64 / self.counted[i] as f64)
        })
    }
}

/// Whether the gate judged a capture showing `d` (the strong version) as it should: a clean
/// card passes; a blurred one fails the sharpness check, a glaring or dark one the lighting
/// check, a tilted or turned one the angle check, a cut or far one the completeness check
/// (other checks may fail too). The same rule as the quality tests of `vision`.
pub fn caught_by_right_check(report: &QualityReport, d: Degradation) -> bool {
    let c = &report.checks;
    match d {
        Degradation::Clean => report.passed,
        Degradation::MotionBlur | Degradation::Defocus => !c.sharpness.passed,
        Degradation::Glare | Degradation::LowLight => !c.lighting.passed,
        Degradation::Tilt | Degradation::Rotation => !c.angle.passed,
        Degradation::CornerCut | Degradation::TooFar => !c.completeness.passed,
    }
}

/// The names of the gate's checks, in [`GateRow::failed`] order.
pub const GATE_CHECKS: [&str; 4] = ["sharpness", "lighting", "angle", "completeness"];

/// The gate's verdicts on one kind of capture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GateRow {
    pub kind: Degradation,
    pub captures: usize,
    /// Captures judged by the right check ([`caught_by_right_check`]).
    pub right: usize,
    /// Captures each check of [`GATE_CHECKS`] refused (one capture may fail several).
    pub failed: [usize; 4],
}

impl GateRow {
    /// The share judged by the right check: for `Clean` the share that passed, for the others
    /// the share refused by the check that should refuse them.
    pub fn share(&self) -> f64 {
        self.right as f64 / self.captures.max(1) as f64
    }
}

/// The gate's verdicts per kind of capture.
#[derive(Debug, Default, Clone)]
pub struct GateTally {
    rows: Vec<GateRow>,
}

impl GateTally {
    /// Counts one capture showing `d` and the gate's report on it.
    pub fn add(&mut self, d: Degradation, report: &QualityReport) {
        let c = &report.checks;
        let failed = [&c.sharpness, &c.lighting, &c.angle, &c.completeness].map(|c| !c.passed);
        let i = match self.rows.iter().position(|r| r.kind == d) {
            Some(i) => i,
            None => {
                self.rows.push(GateRow {
                    kind: d,
                    captures: 0,
                    right: 0,
                    failed: [0; 4],
                });
                self.rows.len() - 1
            }
        };
        let row = &mut self.rows[i];
        row.captures += 1;
        row.right += usize::from(caught_by_right_check(report, d));
        for (n, f) in row.failed.iter_mut().zip(failed) {
            *n += usize::from(f);
        }
    }

    /// One row per kind of capture, in the order first seen.
    pub fn rows(&self) -> &[GateRow] {
        &self.rows
    }
}
