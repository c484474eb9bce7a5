//! Reading generated Korean ID cards end to end: frame → card detection → rectification →
//! document type → fields, against the generator's ground truth. Prints the exact-match rate of
//! each field and the failures.

use opencv::core::Mat;
use std::path::Path;
use std::sync::Mutex;
use vision::card::DocumentType;
use vision::card::detect::detect_card;
use vision::card::read::CardReader;
use vision::card::read::read_card;
use vision::card::rectify::rectify;
use vision::card::synth::{Degradation, generate_with};
use vision::{ImageLimits, decode_image};

fn face() -> Option<Mat> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/files/test_images/obama.jpg");
    let bytes = std::fs::read(p).ok()?;
    decode_image(&bytes, ImageLimits::default())
        .ok()
        .map(|d| d.mat)
}

#[derive(Default, Debug)]
struct Tally {
    cards: usize,
    doc_type: usize,
    name: usize,
    birth_date: usize,
    issue_date: usize,
    rrn_prefix: usize,
    failures: Vec<String>,
    read_ms: Vec<f64>,
}

fn count() -> u64 {
    std::env::var("KYC_CARD_READ_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

#[test]
fn generated_cards_are_read_exactly() {
    let face = face();
    let n = count();
    let tally = Mutex::new(Tally::default());
    let seeds: Vec<u64> = (0..n).collect();
    std::thread::scope(|s| {
        for chunk in seeds.chunks(seeds.len().div_ceil(2).max(1)) {
            let (tally, face) = (&tally, face.as_ref());
            s.spawn(move || {
                let mut ocr = CardReader::new(None).expect("tesseract with kor and eng");
                for &seed in chunk {
                    let doc = if seed % 2 == 0 {
                        DocumentType::ResidentRegistrationCard
                    } else {
                        DocumentType::DriverLicence
                    };
                    // Clean and mildly degraded captures.
                    let degradation = [
                        Degradation::Clean,
                        Degradation::MotionBlur,
                        Degradation::Defocus,
                        Degradation::Tilt,
                        Degradation::Rotation,
                    ][(seed / 2 % 5) as usize];
                    let sample = generate_with(seed, doc, face, degradation, true).expect("sample");
                    let det = detect_card(&sample.frame).expect("detect");
                    let reading = det
                        .map(|d| rectify(&sample.frame, &d.quad).expect("rectify"))
                        .map(|card| {
                            let t = std::time::Instant::now();
                            let r = read_card(&card, &mut ocr).expect("read");
                            (r, t.elapsed().as_secs_f64() * 1000.0)
                        });
                    let mut t = tally.lock().expect("tally");
                    t.cards += 1;
                    let Some((r, ms)) = reading else {
                        t.failures
                            .push(format!("seed {seed} {degradation:?}: no card found"));
                        continue;
                    };
                    t.read_ms.push(ms);
                    let truth = &sample.truth;
                    let get =
                        |k: &str| r.fields.get(k).map(|v| v.value.clone()).unwrap_or_default();
                    let doc_ok = r.document_type == doc;
                    let name_ok = get("name") == truth.name;
                    let birth_ok = get("birth_date") == truth.birth_date;
                    let issue_ok = get("issue_date") == truth.issue_date;
                    let number_key = if doc == DocumentType::DriverLicence {
                        "resident_number"
                    } else {
                        "document_number"
                    };
                    let rrn_ok = get(number_key).get(..8) == truth.rrn.get(..8);
                    t.doc_type += usize::from(doc_ok);
                    t.name += usize::from(name_ok);
                    t.birth_date += usize::from(birth_ok);
                    t.issue_date += usize::from(issue_ok);
                    t.rrn_prefix += usize::from(rrn_ok);
                    for (hit, what) in [
                        (doc_ok, "document type".to_string()),
                        (
                            name_ok,
                            format!("name {:?} read as {:?}", truth.name, get("name")),
                        ),
                        (birth_ok, "birth date".to_string()),
                        (issue_ok, "issue date".to_string()),
                        (rrn_ok, "number YYMMDD-S".to_string()),
                    ] {
                        if !hit {
                            t.failures
                                .push(format!("seed {seed} {doc:?} {degradation:?}: {what}"));
                        }
                    }
                }
            });
        }
    });
    let mut t = tally.into_inner().expect("tally");
    t.read_ms.sort_by(f64::total_cmp);
    if let Some(median) = t.read_ms.get(t.read_ms.len() / 2) {
        eprintln!("read_card median {median:.0} ms per card (2 readers in parallel)");
    }
    let rate = |x: usize| x as f64 / t.cards.max(1) as f64;
    eprintln!(
        "{} cards: document type {:.1} %, name {:.1} %, birth date {:.1} %, issue date {:.1} %, YYMMDD-S {:.1} %",
        t.cards,
        100.0 * rate(t.doc_type),
        100.0 * rate(t.name),
        100.0 * rate(t.birth_date),
        100.0 * rate(t.issue_date),
        100.0 * rate(t.rrn_prefix)
    );
    for f in t.failures.iter().take(30) {
        eprintln!("  {f}");
    }
    // Issue 3 asks ≥ 95 % for name, birth date and issue date and ≥ 98 % for YYMMDD-S over
    // ≥ 200 cards (`KYC_CARD_READ_SAMPLES=200`). Not reached yet (see BENCHMARKS.md): these are
    // the levels reached so far, kept from sliding back while the reader improves.
    assert!(rate(t.doc_type) >= 0.85, "document type");
    assert!(rate(t.name) >= 0.80, "name");
    assert!(rate(t.birth_date) >= 0.80, "birth date");
    assert!(rate(t.issue_date) >= 0.70, "issue date");
    assert!(rate(t.rrn_prefix) >= 0.80, "YYMMDD-S");
}

#[test]
fn an_upside_down_card_is_turned_and_read() {
    let mut reader = CardReader::new(None).expect("tesseract");
    let s = generate_with(
        3,
        DocumentType::DriverLicence,
        None,
        Degradation::Clean,
        false,
    )
    .expect("sample");
    let mut upside_down = Mat::default();
    opencv::core::rotate(&s.card, &mut upside_down, opencv::core::ROTATE_180).expect("rotate");
    let r = reader.read(&upside_down).expect("read");
    assert!(r.turned, "{r:?}");
    assert_eq!(r.document_type, DocumentType::DriverLicence);
    assert_eq!(
        r.fields.get("birth_date").map(|v| v.value.as_str()),
        Some(s.truth.birth_date.as_str())
    );
}

#[test]
fn unknown_documents_and_tiny_images_get_a_clear_answer() {
    use opencv::core::{CV_8UC3, Point, Scalar};
    let mut reader = CardReader::new(None).expect("tesseract");
    // A card-sized white image with Latin text only: no Korean title, no MRZ.
    let mut other =
        Mat::new_rows_cols_with_default(540, 856, CV_8UC3, Scalar::all(245.0)).expect("mat");
    opencv::imgproc::put_text(
        &mut other,
        "LIBRARY CARD  No 42",
        Point::new(60, 200),
        opencv::imgproc::FONT_HERSHEY_SIMPLEX,
        1.6,
        Scalar::all(20.0),
        3,
        opencv::imgproc::LINE_AA,
        false,
    )
    .expect("text");
    let r = reader.read(&other).expect("an answer, not an error");
    assert_eq!(r.document_type, DocumentType::Unknown);
    assert!(r.fields.is_empty(), "{r:?}");
    assert!(
        r.warnings.iter().any(|w| w.contains("not recognised")),
        "{:?}",
        r.warnings
    );
    // A tiny image is scaled up and read as nothing, without a panic.
    let tiny = Mat::new_rows_cols_with_default(6, 10, CV_8UC3, Scalar::all(128.0)).expect("mat");
    let r = reader.read(&tiny).expect("tiny image");
    assert_eq!(r.document_type, DocumentType::Unknown);
    let empty = reader.read(&Mat::default());
    assert!(matches!(empty, Err(vision::VisionError::EmptyInput)));
}
