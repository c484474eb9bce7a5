//! `kyc ocr IMG`: find the ID card in a photo, rectify it, detect the document type and read
//! its fields — the same vision code the server's ID capture runs. Resident numbers are only
//! ever printed masked.

use super::{EXIT_BAD_INPUT, EXIT_FAILURE};
use crate::engines;
use clap::Args;
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use vision::card::read::{CardReader, CardReading};
use vision::card::{ID1_ASPECT, detect::detect_card, rectify::rectify};
use vision::decode_image;

#[derive(Debug, Args)]
pub struct OcrArgs {
    /// Photo of the card (JPEG, PNG, BMP or WebP), or an already cropped card scan.
    pub image: PathBuf,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    #[serde(flatten)]
    reading: &'a CardReading,
    card_found: bool,
    timings_ms: Timings,
}

#[derive(Serialize)]
struct Timings {
    decode: f64,
    detect: f64,
    /// Loading Tesseract's Korean and English data (once per worker in the server).
    load: f64,
    ocr: f64,
    total: f64,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn run(args: OcrArgs) -> ExitCode {
    let t0 = Instant::now();
    super::init_cli_tracing();
    let settings = match super::load_settings("ocr") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let bytes = match std::fs::read(&args.image) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("kyc ocr: cannot read {}: {e}", args.image.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let image = match decode_image(&bytes, engines::image_limits(&settings)) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("kyc ocr: {}: {e}", args.image.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let decode = ms(t0);
    let t = Instant::now();
    let detection = match detect_card(&image.mat) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kyc ocr: card detection failed: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    // A photo that is itself a cropped card (ID-1 proportions) is read as it is.
    let aspect = image.width() as f32 / image.height().max(1) as f32;
    let cropped_scan = (aspect - ID1_ASPECT).abs() < 0.12;
    let card = match (&detection, cropped_scan) {
        (Some(d), _) => match rectify(&image.mat, &d.quad) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("kyc ocr: cannot rectify the card: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        },
        (None, true) => image.mat.clone(),
        (None, false) => {
            eprintln!(
                "kyc ocr: no ID card found in {}: place the whole card in the photo, on a \
                 plain background",
                args.image.display()
            );
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    let detect = ms(t);
    let t = Instant::now();
    let mut load = 0.0;
    let reading = CardReader::with_mrz_model(None, Some(&settings.models.dir.join("tessdata")))
        .and_then(|mut reader| {
            load = ms(t);
            reader.read(&card)
        });
    let reading = match reading {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kyc ocr: {e}");
            return ExitCode::from(if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILURE
            });
        }
    };
    let timings = Timings {
        decode,
        detect,
        load,
        ocr: ms(t) - load,
        total: ms(t0),
    };
    if args.json {
        let out = JsonOut {
            reading: &reading,
            card_found: detection.is_some(),
            timings_ms: timings,
        };
        match serde_json::to_string(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("kyc ocr: cannot encode the result: {e}");
                return ExitCode::from(EXIT_FAILURE);
            }
        }
    } else {
        println!(
            "document: {}{}",
            serde_json::to_value(reading.document_type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            if reading.turned {
                " (read upside down)"
            } else {
                ""
            }
        );
        for (k, v) in &reading.fields {
            println!("  {k:<16} {}  ({:.0} %)", v.value, v.confidence * 100.0);
        }
        for w in &reading.warnings {
            println!("warning: {w}");
        }
        println!(
            "time: decode {:.0} ms, card {:.0} ms, OCR data load {:.0} ms, read {:.0} ms, total \
             {:.0} ms",
            timings.decode, timings.detect, timings.load, timings.ocr, timings.total
        );
    }
    ExitCode::SUCCESS
}
