//! Reading generated Korean ID cards end to end: frame → card detection → rectification →
//! document type → fields, against the generator's ground truth. Prints the exact-match rate of
//! each field and the misses (`KYC_CARD_READ_SAMPLES` sets how many cards: 200 by default, never
//! fewer).

use cardgen::{Degradation, FIELD_NAMES, Tally, generate_with, ocr_sample};
use opencv::core::Mat;
use std::sync::Mutex;
use vision::card::DocumentType;
use vision::card::detect::detect_card;
use vision::card::read::CardReader;
use vision::card::read::read_card;
use vision::card::rectify::rectify;
use vision::{ImageLimits, decode_image};

/// The real face photo printed on every card.
fn face() -> Mat {
    decode_image(
        &test_support::test_image("obama.jpg"),
        ImageLimits::default(),
    )
    .expect("obama.jpg decodes")
    .mat
}

fn count() -> u64 {
    std::env::var("KYC_CARD_READ_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Issue 3: on ≥ 200 generated cards (both types, clean and mildly degraded, several fonts and
/// sizes) name, birth date and issue date exact ≥ 95 % each and the masked number's `YYMMDD-S`
/// ≥ 98 %, the card found in the camera frame by the same detector the quality gate uses.
#[test]
fn generated_cards_are_read_exactly() {
    let face = face();
    let n = count();
    assert!(
        n >= 200,
        "issue 3 is judged on at least 200 cards; KYC_CARD_READ_SAMPLES={n} asks for fewer"
    );
    let seeds: Vec<u64> = (0..n).collect();
    let tally = Mutex::new(Tally::default());
    let read_ms = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for chunk in seeds.chunks(seeds.len().div_ceil(2).max(1)) {
            let (tally, read_ms, face) = (&tally, &read_ms, Some(&face));
            s.spawn(move || {
                let mut ocr = CardReader::new(None).expect("tesseract with kor and eng");
                let mut mine = Tally::default();
                for &seed in chunk {
                    let sample = ocr_sample(seed, face).expect("sample");
                    let det = detect_card(&sample.frame).expect("detect");
                    let reading = det
                        .map(|d| rectify(&sample.frame, &d.quad).expect("rectify"))
                        .map(|card| {
                            let t = std::time::Instant::now();
                            let r = read_card(&card, &mut ocr).expect("read");
                            read_ms
                                .lock()
                                .expect("times")
                                .push(t.elapsed().as_secs_f64() * 1000.0);
                            r
                        });
                    mine.add(&sample, seed, reading.as_ref());
                }
                tally.lock().expect("tally").merge(mine);
            });
        }
    });
    let t = tally.into_inner().expect("tally");
    let mut ms = read_ms.into_inner().expect("times");
    ms.sort_by(f64::total_cmp);
    if let Some(median) = ms.get(ms.len() / 2) {
        eprintln!("read_card median {median:.0} ms per card (2 readers in parallel)");
    }
    let rates = t.rates();
    let line: Vec<String> = FIELD_NAMES
        .iter()
        .zip(rates)
        .map(|(f, r)| format!("{f} {:.1} %", 100.0 * r))
        .collect();
    eprintln!("{} cards: {}", t.cards, line.join(", "));
    for m in t.misses.iter().take(40) {
        eprintln!("  {m}");
    }
    assert_eq!(t.cards as u64, n, "every generated card is scored");
    let [doc_type, name, birth_date, issue_date, number_prefix] = rates;
    assert!(doc_type >= 0.98, "document type {doc_type}");
    assert!(name >= 0.95, "name {name}");
    assert!(birth_date >= 0.95, "birth date {birth_date}");
    assert!(issue_date >= 0.95, "issue date {issue_date}");
    assert!(number_prefix >= 0.98, "YYMMDD-S {number_prefix}");
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

/// The real face photos of `../shared`, printed on the varied cards in turn.
fn shared_faces() -> Vec<Mat> {
    let dir = test_support::faces_dir();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no face photos in {}", dir.display());
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).expect("photo");
            decode_image(&bytes, ImageLimits::default())
                .expect("photo decodes")
                .mat
        })
        .collect()
}

/// Issue 12: cards of the second generator (`cardgen::generate_varied`: other arrangements,
/// fields a few percent off the reader's zones, other fonts, wear), real photos on them, on
/// held-out seeds the reader was never tuned on (2 000 000 on: `kyc bench cards --varied`
/// measures from 1 000 000, the tuning seeds are under 100 000). 60 cards, clean and mildly
/// degraded, both types: each identifying field exact on at least 57 of the 60 cards, the
/// licence number on at least 28 of the 30 licences.
#[test]
fn varied_cards_never_tuned_on_are_read_exactly() {
    let faces = shared_faces();
    let seeds: Vec<u64> = (2_000_000..2_000_060).collect();
    assert!(seeds.iter().all(|&s| cardgen::is_test_seed(s)));
    let tallies = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for chunk in seeds.chunks(seeds.len().div_ceil(2)) {
            let (tallies, faces) = (&tallies, &faces);
            s.spawn(move || {
                let mut ocr = CardReader::new(None).expect("tesseract with kor and eng");
                let mut mine = [cardgen::DocTally::default(), cardgen::DocTally::default()];
                for &seed in chunk {
                    let face = &faces[seed as usize % faces.len()];
                    let sample = cardgen::varied_ocr_sample(seed, Some(face)).expect("sample");
                    let reading = detect_card(&sample.frame)
                        .expect("detect")
                        .map(|d| rectify(&sample.frame, &d.quad).expect("rectify"))
                        .map(|card| read_card(&card, &mut ocr).expect("read"));
                    let i = usize::from(sample.truth.doc == DocumentType::DriverLicence);
                    mine[i].add(&sample, seed, reading.as_ref());
                }
                tallies.lock().expect("tallies").extend(mine);
            });
        }
    });
    let tallies = tallies.into_inner().expect("tallies");
    let mut hits = [0usize; 6];
    let mut counted = [0usize; 6];
    for t in &tallies {
        for (i, share) in t.shares().iter().enumerate() {
            if let Some(share) = share {
                hits[i] += (share * t.cards as f64).round() as usize;
                counted[i] += t.cards;
            }
        }
        for m in &t.misses {
            eprintln!("  {m}");
        }
    }
    let line: Vec<String> = cardgen::DOC_FIELDS
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{f} {}/{}", hits[i], counted[i]))
        .collect();
    eprintln!("varied held-out cards: {}", line.join(", "));
    assert_eq!(counted[0], 60, "every card is scored");
    for (i, field) in cardgen::DOC_FIELDS.iter().enumerate().take(5) {
        assert!(hits[i] >= 57, "{field}: {}/{} exact", hits[i], counted[i]);
    }
    assert!(
        hits[5] >= 28,
        "licence number: {}/{} exact",
        hits[5],
        counted[5]
    );
}
