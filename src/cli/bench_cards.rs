//! `kyc bench cards`: the card pipeline on generated cards, the way the server runs it on an
//! upload (frame → quality gate → card → rectify → read), one reader on one thread: time per
//! stage and the share of fields read exactly.
//!
//! `--varied` measures on the second card source instead ([`cardgen::generate_varied`]: designs
//! the reader's zones were not made from, held-out seeds by default, real faces from
//! `../shared/testdata/faces`): the share of each field read exactly per document type, and the
//! capture quality gate on the strong version of every kind of bad capture of the same cards.

use super::bench::percentile;
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use cardgen::{
    DOC_FIELDS, Degradation, DocTally, FIELD_NAMES, GATE_CHECKS, GateTally, OCR_MIX, Sample,
    TEST_SEEDS, TUNING_SEEDS, Tally, generate_mrz, generate_varied, is_test_seed, mrz_read_exactly,
    ocr_sample, varied_ocr_sample,
};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use vision::card::DocumentType;
use vision::card::detect::detect_card;
use vision::card::mrz::MrzFormat;
use vision::card::read::{CardReader, CardReading};
use vision::card::rectify::rectify;
use vision::opencv::core::Mat;
use vision::quality::assess;
use vision::{ImageLimits, decode_image};

#[derive(Debug, Args)]
pub struct CardsArgs {
    /// How many generated cards (both types in turn, clean and mildly degraded).
    #[arg(long, default_value_t = 100)]
    pub count: u64,
    /// Seed of the first card (the same seeds give the same cards); default 0, with --varied
    /// the first held-out test seed (1000000).
    #[arg(long)]
    pub first_seed: Option<u64>,
    /// Machine-readable zones instead: TD1 ID card backs and TD3 passport pages in turn, clean
    /// and mildly blurred, defocused, tilted, rotated.
    #[arg(long, conflicts_with = "varied")]
    pub mrz: bool,
    /// Cards of the second, independent generator (cardgen::generate_varied: other
    /// arrangements, fields off the reader's zones, other fonts, wear) with real faces; field
    /// shares per document type and the quality gate on every kind of bad capture.
    #[arg(long)]
    pub varied: bool,
    /// With --varied: the folder of face photos put on the cards, in turn.
    #[arg(long, default_value = "../shared/testdata/faces")]
    pub faces: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct StageMs {
    median: f64,
    p90: f64,
}

impl StageMs {
    fn of(v: &mut [f64]) -> Self {
        Self {
            median: percentile(v, 0.5),
            p90: percentile(v, 0.9),
        }
    }
}

#[derive(Debug, Serialize)]
struct CardsResult {
    cards: usize,
    captures: Vec<String>,
    reader_load_ms: f64,
    quality_gate_ms: StageMs,
    detect_rectify_ms: StageMs,
    read_ms: StageMs,
    exact: serde_json::Map<String, serde_json::Value>,
    misses: Vec<String>,
}

pub fn run(args: CardsArgs) -> ExitCode {
    let settings = match super::load_settings("bench") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let face_path = settings.models.dir.join("test_images").join("obama.jpg");
    let face = match std::fs::read(&face_path)
        .map_err(|e| e.to_string())
        .and_then(|b| decode_image(&b, ImageLimits::default()).map_err(|e| e.to_string()))
    {
        Ok(img) => img.mat,
        Err(e) => {
            eprintln!(
                "kyc bench: {}: {e} (run `kyc models fetch`)",
                face_path.display()
            );
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let t = Instant::now();
    let mut reader =
        match CardReader::with_mrz_model(None, Some(&settings.models.dir.join("tessdata"))) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kyc bench: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
    let reader_load_ms = t.elapsed().as_secs_f64() * 1000.0;
    if args.mrz {
        return mrz(&args, &mut reader, reader_load_ms);
    }
    if args.varied {
        return varied(&args, &mut reader, reader_load_ms);
    }
    let (mut gate, mut card_ms, mut read_ms) = (vec![], vec![], vec![]);
    let mut tally = Tally::default();
    let first = args.first_seed.unwrap_or(0);
    for seed in first..first + args.count {
        let made = ocr_sample(seed, Some(&face));
        let (sample, reading) = match pipeline(
            made,
            seed,
            &mut reader,
            [&mut gate, &mut card_ms, &mut read_ms],
        ) {
            Ok(done) => done,
            Err(code) => return code,
        };
        tally.add(&sample, seed, reading.as_ref());
    }
    let exact = FIELD_NAMES
        .iter()
        .zip(tally.rates())
        .map(|(f, r)| {
            (
                f.to_string(),
                serde_json::json!((r * 1000.0).round() / 10.0),
            )
        })
        .collect();
    let result = CardsResult {
        cards: tally.cards,
        captures: OCR_MIX.iter().map(|d| format!("{d:?}")).collect(),
        reader_load_ms,
        quality_gate_ms: StageMs::of(&mut gate),
        detect_rectify_ms: StageMs::of(&mut card_ms),
        read_ms: StageMs::of(&mut read_ms),
        exact,
        misses: tally.misses.clone(),
    };
    if args.json {
        match serde_json::to_string_pretty(&result) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("kyc bench: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "{} generated cards ({}; mild versions), one reader on one thread",
        result.cards,
        result.captures.join(", ")
    );
    println!(
        "  Tesseract data load   {:>7.0} ms (once)",
        result.reader_load_ms
    );
    for (what, s) in [
        ("quality gate", &result.quality_gate_ms),
        ("detect + rectify", &result.detect_rectify_ms),
        ("read the card", &result.read_ms),
    ] {
        println!(
            "  {what:<20}  median {:>6.1} ms, p90 {:>6.1} ms",
            s.median, s.p90
        );
    }
    let rates: Vec<String> = FIELD_NAMES
        .iter()
        .zip(tally.rates())
        .map(|(f, r)| format!("{f} {:.1} %", r * 100.0))
        .collect();
    println!("  exact: {}", rates.join(", "));
    for m in &result.misses {
        println!("  miss: {m}");
    }
    ExitCode::SUCCESS
}

/// The MRZ documents of `kyc bench cards --mrz`: the pipeline's time per stage, the share read
/// exactly (every field, no warning) and the share whose checked fields (number, dates) are
/// right.
fn mrz(args: &CardsArgs, reader: &mut CardReader, reader_load_ms: f64) -> ExitCode {
    let captures = [
        Degradation::Clean,
        Degradation::MotionBlur,
        Degradation::Defocus,
        Degradation::Tilt,
        Degradation::Rotation,
    ];
    if !reader.has_mrz_model() {
        eprintln!("kyc bench: no MRZ model (run `kyc models fetch`): reading with eng alone");
    }
    let (mut card_ms, mut read_ms) = (vec![], vec![]);
    let (mut exact, mut n) = (0, 0);
    let mut misses = Vec::new();
    let first = args.first_seed.unwrap_or(0);
    for seed in first..first + args.count {
        let format = if seed.is_multiple_of(2) {
            MrzFormat::Td1
        } else {
            MrzFormat::Td3
        };
        let d = captures[(seed / 2 % captures.len() as u64) as usize];
        let sample = match generate_mrz(seed, format, d, d != Degradation::Clean, false) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kyc bench: document {seed}: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let card = match timed_card(&sample.frame, &mut card_ms) {
            Ok(c) => c,
            Err(code) => return code,
        };
        n += 1;
        let Some(card) = card else {
            misses.push(format!("seed {seed} {format:?} {d:?}: no document found"));
            continue;
        };
        let t = Instant::now();
        let r = match reader.read(&card) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("kyc bench: document {seed}: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        read_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        if mrz_read_exactly(&sample, &r) {
            exact += 1;
        } else {
            misses.push(format!("seed {seed} {format:?} {d:?}: {:?}", r.warnings));
        }
    }
    let (c, rd) = (StageMs::of(&mut card_ms), StageMs::of(&mut read_ms));
    println!(
        "{n} generated MRZ documents (TD1 and TD3; clean, mild motion blur, defocus, tilt, \
         rotation), one reader on one thread"
    );
    println!("  Tesseract data load   {reader_load_ms:>7.0} ms (once)");
    println!(
        "  detect + rectify      median {:>6.1} ms, p90 {:>6.1} ms",
        c.median, c.p90
    );
    println!(
        "  read the MRZ          median {:>6.1} ms, p90 {:>6.1} ms",
        rd.median, rd.p90
    );
    println!(
        "  every field exact, no warning: {exact}/{n} ({:.1} %)",
        100.0 * exact as f64 / n.max(1) as f64
    );
    for m in &misses {
        println!("  miss: {m}");
    }
    ExitCode::SUCCESS
}

/// The document found in `frame` and rectified (None: none found), its time pushed on `times`.
fn timed_card(frame: &Mat, times: &mut Vec<f64>) -> Result<Option<Mat>, ExitCode> {
    let t = Instant::now();
    let card = match detect_card(frame) {
        Ok(Some(d)) => rectify(frame, &d.quad).ok(),
        Ok(None) => None,
        Err(e) => {
            eprintln!("kyc bench: card detection: {e}");
            return Err(ExitCode::from(EXIT_FAILURE));
        }
    };
    times.push(t.elapsed().as_secs_f64() * 1000.0);
    Ok(card)
}

/// The card found in `frame`, rectified and read (None: no card found), the two stages' times
/// pushed on `card_ms` and `read_ms`.
/// A generated card through the pipeline as the server runs it: the quality gate, then
/// detect, rectify and read; the milliseconds of each go into `times` (gate, card, read).
fn pipeline(
    made: cardgen::Result<Sample>,
    seed: u64,
    reader: &mut CardReader,
    times: [&mut Vec<f64>; 3],
) -> Result<(Sample, Option<CardReading>), ExitCode> {
    let sample = made.map_err(|e| {
        eprintln!("kyc bench: card {seed}: {e}");
        ExitCode::from(EXIT_FAILURE)
    })?;
    let [gate_ms, card_ms, read_ms] = times;
    let t = Instant::now();
    if let Err(e) = assess(&sample.frame) {
        eprintln!("kyc bench: quality gate: {e}");
        return Err(ExitCode::from(EXIT_FAILURE));
    }
    gate_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    let reading = timed_reading(&sample.frame, reader, seed, card_ms, read_ms)?;
    Ok((sample, reading))
}

fn timed_reading(
    frame: &Mat,
    reader: &mut CardReader,
    seed: u64,
    card_ms: &mut Vec<f64>,
    read_ms: &mut Vec<f64>,
) -> Result<Option<CardReading>, ExitCode> {
    let Some(card) = timed_card(frame, card_ms)? else {
        return Ok(None);
    };
    let t = Instant::now();
    let r = reader.read(&card);
    read_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    match r {
        Ok(r) => Ok(Some(r)),
        Err(e) => {
            eprintln!("kyc bench: card {seed}: {e}");
            Err(ExitCode::from(EXIT_FAILURE))
        }
    }
}

/// The face photos of `dir` (`.jpg`, `.jpeg`, `.png`, by name), decoded; an error naming the
/// folder when there are none.
fn load_faces(dir: &Path) -> Result<Vec<Mat>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "{}: {e}: --varied puts real face photos on the cards; they are the labelled \
             photos of ../shared/testdata/faces beside the checkout (or pass --faces DIR)",
            dir.display()
        )
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| matches!(x.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!(
            "{}: no face photos (.jpg, .jpeg, .png) in it (pass --faces DIR)",
            dir.display()
        ));
    }
    paths
        .iter()
        .map(|p| {
            std::fs::read(p)
                .map_err(|e| e.to_string())
                .and_then(|b| decode_image(&b, ImageLimits::default()).map_err(|e| e.to_string()))
                .map(|img| img.mat)
                .map_err(|e| format!("{}: {e}", p.display()))
        })
        .collect()
}

/// The per-document field shares of `--varied`, in percent (null: the field is not on it).
fn shares_json(t: &DocTally) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("cards".into(), serde_json::json!(t.cards));
    m.insert("no_card_found".into(), serde_json::json!(t.not_found));
    for (f, s) in DOC_FIELDS.iter().zip(t.shares()) {
        let v = s.map(|s| (s * 1000.0).round() / 10.0);
        m.insert(f.to_string(), serde_json::json!(v));
    }
    serde_json::Value::Object(m)
}

/// What each kind of capture should be refused for, as the gate's checks are named.
fn right_check(d: Degradation) -> &'static str {
    match d {
        Degradation::Clean => "passed",
        Degradation::MotionBlur | Degradation::Defocus => "refused for sharpness",
        Degradation::Glare | Degradation::LowLight => "refused for lighting",
        Degradation::Tilt | Degradation::Rotation => "refused for the angle",
        Degradation::CornerCut | Degradation::TooFar => "refused for completeness",
    }
}

#[derive(Debug, Serialize)]
struct GateRow {
    capture: String,
    expected: &'static str,
    captures: usize,
    right_percent: f64,
    /// How many captures each check refused.
    refused_by: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct VariedResult {
    cards: usize,
    first_seed: u64,
    held_out: bool,
    captures: Vec<String>,
    faces: usize,
    reader_load_ms: f64,
    quality_gate_ms: StageMs,
    detect_rectify_ms: StageMs,
    read_ms: StageMs,
    exact_percent: serde_json::Map<String, serde_json::Value>,
    gate: Vec<GateRow>,
    misses: Vec<String>,
}

/// `kyc bench cards --varied`: the OCR mix of the varied generator (both types in turn, mild
/// captures) read through the whole pipeline, and the strong version of every kind of capture
/// of the same seeds through the quality gate.
fn varied(args: &CardsArgs, reader: &mut CardReader, reader_load_ms: f64) -> ExitCode {
    let faces = match load_faces(&args.faces) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("kyc bench: {e}");
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let first = args.first_seed.unwrap_or(TEST_SEEDS.start);
    let seeds = first..first + args.count;
    let held_out = is_test_seed(seeds.start);
    if !held_out && seeds.clone().any(is_test_seed) {
        eprintln!("kyc bench: seeds {seeds:?} mix tuning and held-out test seeds");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    let (mut gate_ms, mut card_ms, mut read_ms) = (vec![], vec![], vec![]);
    let mut docs = [DocTally::default(), DocTally::default()];
    let mut gate = GateTally::default();
    for seed in seeds.clone() {
        let face = &faces[(seed % faces.len() as u64) as usize];
        let made = varied_ocr_sample(seed, Some(face));
        let (sample, reading) = match pipeline(
            made,
            seed,
            reader,
            [&mut gate_ms, &mut card_ms, &mut read_ms],
        ) {
            Ok(done) => done,
            Err(code) => return code,
        };
        let i = usize::from(sample.truth.doc == DocumentType::DriverLicence);
        docs[i].add(&sample, seed, reading.as_ref());
        for d in Degradation::ALL {
            let report = generate_varied(seed, sample.truth.doc, Some(face), d, false)
                .map_err(|e| e.to_string())
                .and_then(|s| assess(&s.frame).map_err(|e| e.to_string()));
            match report {
                Ok(r) => gate.add(d, &r),
                Err(e) => {
                    eprintln!("kyc bench: card {seed} {d:?}: {e}");
                    return ExitCode::from(EXIT_FAILURE);
                }
            }
        }
    }
    let names = ["resident_registration_card", "driver_licence"];
    let result = VariedResult {
        cards: docs.iter().map(|d| d.cards).sum(),
        first_seed: first,
        held_out,
        captures: OCR_MIX.iter().map(|d| format!("{d:?}")).collect(),
        faces: faces.len(),
        reader_load_ms,
        quality_gate_ms: StageMs::of(&mut gate_ms),
        detect_rectify_ms: StageMs::of(&mut card_ms),
        read_ms: StageMs::of(&mut read_ms),
        exact_percent: names
            .iter()
            .zip(&docs)
            .map(|(n, t)| (n.to_string(), shares_json(t)))
            .collect(),
        gate: gate
            .rows()
            .iter()
            .map(|g| GateRow {
                capture: format!("{:?}", g.kind),
                expected: right_check(g.kind),
                captures: g.captures,
                right_percent: (g.share() * 1000.0).round() / 10.0,
                refused_by: GATE_CHECKS
                    .iter()
                    .zip(g.failed)
                    .map(|(c, n)| (c.to_string(), serde_json::json!(n)))
                    .collect(),
            })
            .collect(),
        misses: docs.iter().flat_map(|d| d.misses.iter().cloned()).collect(),
    };
    if args.json {
        return match serde_json::to_string_pretty(&result) {
            Ok(s) => {
                println!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kyc bench: {e}");
                ExitCode::from(EXIT_FAILURE)
            }
        };
    }
    print_varied(&result, &docs, &seeds);
    ExitCode::SUCCESS
}

fn print_varied(r: &VariedResult, docs: &[DocTally; 2], seeds: &std::ops::Range<u64>) {
    let which = if r.held_out {
        "held-out test seeds"
    } else if TUNING_SEEDS.contains(&seeds.start) && seeds.end <= TUNING_SEEDS.end {
        "tuning seeds"
    } else {
        "seeds outside the split"
    };
    println!(
        "{} varied cards (seeds {}..{}, {which}; {}; mild versions), {} face photos, one \
         reader on one thread",
        r.cards,
        seeds.start,
        seeds.end,
        r.captures.join(", "),
        r.faces
    );
    println!(
        "  Tesseract data load   {:>7.0} ms (once)",
        r.reader_load_ms
    );
    for (what, s) in [
        ("quality gate", &r.quality_gate_ms),
        ("detect + rectify", &r.detect_rectify_ms),
        ("read the card", &r.read_ms),
    ] {
        println!(
            "  {what:<20}  median {:>6.1} ms, p90 {:>6.1} ms",
            s.median, s.p90
        );
    }
    println!(
        "  exact               주민등록증 ({:>3})   운전면허증 ({:>3})",
        docs[0].cards, docs[1].cards
    );
    let cell =
        |s: Option<f64>| s.map_or("      -".to_string(), |s| format!("{:>6.1} %", s * 100.0));
    let (a, b) = (docs[0].shares(), docs[1].shares());
    for (i, f) in DOC_FIELDS.iter().enumerate() {
        println!("    {f:<16}  {:>16}   {:>16}", cell(a[i]), cell(b[i]));
    }
    println!(
        "    no card found     {:>16}   {:>16}",
        docs[0].not_found, docs[1].not_found
    );
    println!("  quality gate on the strong version of each capture of the same cards:");
    for g in &r.gate {
        let refused: Vec<String> = g
            .refused_by
            .iter()
            .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let refused = if refused.is_empty() {
            "none".to_string()
        } else {
            refused.join(", ")
        };
        println!(
            "    {:<11} {:<25} {:>6.1} % of {:<4} (refused by: {refused})",
            g.capture, g.expected, g.right_percent, g.captures
        );
    }
    for m in &r.misses {
        println!("  miss: {m}");
    }
}
