//! `kyc bench cards`: the card pipeline on generated cards, the way the server runs it on an
//! upload (frame → quality gate → card → rectify → read), one reader on one thread: time per
//! stage and the share of fields read exactly.

use super::bench::percentile;
use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use cardgen::{
    Degradation, FIELD_NAMES, OCR_MIX, Tally, generate_mrz, mrz_read_exactly, ocr_sample,
};
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;
use std::time::Instant;
use vision::card::detect::detect_card;
use vision::card::mrz::MrzFormat;
use vision::card::read::CardReader;
use vision::card::rectify::rectify;
use vision::opencv::core::Mat;
use vision::quality::assess;
use vision::{ImageLimits, decode_image};

#[derive(Debug, Args)]
pub struct CardsArgs {
    /// How many generated cards (both types in turn, clean and mildly degraded).
    #[arg(long, default_value_t = 100)]
    pub count: u64,
    /// Seed of the first card (the same seeds give the same cards).
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Machine-readable zones instead: TD1 ID card backs and TD3 passport pages in turn, clean
    /// and mildly blurred, defocused, tilted, rotated.
    #[arg(long)]
    pub mrz: bool,
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
    let (mut gate, mut card_ms, mut read_ms) = (vec![], vec![], vec![]);
    let mut tally = Tally::default();
    for seed in args.first_seed..args.first_seed + args.count {
        let sample = match ocr_sample(seed, Some(&face)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("kyc bench: card {seed}: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        };
        let t = Instant::now();
        if let Err(e) = assess(&sample.frame) {
            eprintln!("kyc bench: quality gate: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
        gate.push(t.elapsed().as_secs_f64() * 1000.0);
        let card = match timed_card(&sample.frame, &mut card_ms) {
            Ok(c) => c,
            Err(code) => return code,
        };
        let reading = match card {
            Some(card) => {
                let t = Instant::now();
                let r = reader.read(&card);
                read_ms.push(t.elapsed().as_secs_f64() * 1000.0);
                match r {
                    Ok(r) => Some(r),
                    Err(e) => {
                        eprintln!("kyc bench: card {seed}: {e}");
                        return ExitCode::from(EXIT_FAILURE);
                    }
                }
            }
            None => None,
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
    for seed in args.first_seed..args.first_seed + args.count {
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
