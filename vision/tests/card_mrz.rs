//! Machine-readable zones through the whole card pipeline: generated TD1 ID card backs and TD3
//! passport data pages, put in a camera frame (clean and mildly spoiled), found by
//! `detect_card`, rectified and read by `read_card`'s MRZ branch, against the generator's truth.
//! A document printed with one wrong character must come back with a check-digit warning.

use cardgen::{Degradation, MrzSample, generate_mrz, mrz_misses};
use std::sync::Mutex;
use std::time::Instant;
use vision::card::DocumentType;
use vision::card::detect::detect_card;
use vision::card::mrz::MrzFormat;
use vision::card::read::{CardReader, CardReading, read_card};
use vision::card::rectify::rectify;

/// Where `kyc models fetch` puts the MRZ model.
fn mrz_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/files/tessdata")
}

/// One capture: which document, pose and spoiling, and whether it is printed wrong.
#[derive(Clone, Copy, Debug)]
struct Case {
    seed: u64,
    format: MrzFormat,
    degradation: Degradation,
    mild: bool,
    tamper: bool,
}

/// The spoilings a reader must still read: none, then the mild versions of these.
const MILD: [Degradation; 4] = [
    Degradation::Defocus,
    Degradation::MotionBlur,
    Degradation::Tilt,
    Degradation::Rotation,
];

fn cases(format: MrzFormat, clean: u64, mild: u64, first_seed: u64, tamper: bool) -> Vec<Case> {
    let mut out = Vec::new();
    for k in 0..clean + mild {
        let (degradation, is_mild) = if k < clean {
            (Degradation::Clean, false)
        } else {
            (MILD[(k - clean) as usize % MILD.len()], true)
        };
        out.push(Case {
            seed: first_seed + k,
            format,
            degradation,
            mild: is_mild,
            tamper,
        });
    }
    out
}

/// Generates, detects, rectifies and reads every case on two readers in parallel. `None`
/// where no card was found in the frame.
fn run(cases: &[Case]) -> Vec<(Case, MrzSample, Option<CardReading>)> {
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for chunk in cases.chunks(cases.len().div_ceil(2).max(1)) {
            let results = &results;
            s.spawn(move || {
                let mut ocr = CardReader::with_mrz_model(None, Some(&mrz_dir()))
                    .expect("tesseract with kor and eng");
                for &c in chunk {
                    let sample = generate_mrz(c.seed, c.format, c.degradation, c.mild, c.tamper)
                        .expect("sample");
                    let reading = detect_card(&sample.frame)
                        .expect("detect")
                        .map(|d| rectify(&sample.frame, &d.quad).expect("rectify"))
                        .map(|card| read_card(&card, &mut ocr).expect("read"));
                    results.lock().expect("results").push((c, sample, reading));
                }
            });
        }
    });
    let mut r = results.into_inner().expect("results");
    r.sort_by_key(|(c, _, _)| (c.format as u8, c.seed));
    r
}

fn field<'a>(r: &'a CardReading, key: &str) -> &'a str {
    r.fields.get(key).map_or("", |v| v.value.as_str())
}

/// What is wrong with a reading of a correctly printed document (field names only), or None.
fn miss(sample: &MrzSample, reading: Option<&CardReading>) -> Option<String> {
    let Some(r) = reading else {
        return Some("card not detected".into());
    };
    let wrong = mrz_misses(sample, r);
    (!wrong.is_empty()).then(|| wrong.join(", "))
}

/// The fields an MRZ protects with check digits.
fn checked_fields_right(sample: &MrzSample, r: &CardReading) -> bool {
    let t = &sample.truth;
    field(r, "document_number") == t.document_number
        && field(r, "birth_date") == t.birth_date()
        && field(r, "expiry_date") == t.expiry_date()
}

fn has_check_warning(r: &CardReading) -> bool {
    r.warnings
        .iter()
        .any(|w| w.starts_with("an MRZ check digit does not match"))
}

/// 24 TD1 backs and 12 TD3 pages, clean and mildly spoiled, through the whole pipeline. What
/// the check digits guarantee is asserted strictly: a reading without a check-digit warning has
/// the document number and both dates right, every time. How often every field comes out
/// exact is printed and held at the level reached (BENCHMARKS.md; issue 3 keeps it open).
#[test]
fn generated_mrz_documents_are_read_through_the_pipeline() {
    assert!(
        mrz_dir().join("mrz.traineddata").is_file(),
        "run `kyc models fetch` first"
    );
    let started = Instant::now();
    let mut all = cases(MrzFormat::Td1, 8, 16, 0, false);
    all.extend(cases(MrzFormat::Td3, 4, 8, 1000, false));
    let results = run(&all);
    let (mut exact, mut clean, mut clean_exact, mut recognised, mut silent_errors) =
        (0, 0, 0, 0, 0);
    for (c, sample, reading) in &results {
        let is_clean = c.degradation == Degradation::Clean;
        clean += usize::from(is_clean);
        let want = match c.format {
            MrzFormat::Td1 => DocumentType::IdCardTd1,
            MrzFormat::Td3 => DocumentType::PassportTd3,
        };
        if let Some(r) = reading {
            recognised += usize::from(r.document_type == want);
            if r.document_type == want && !has_check_warning(r) && !checked_fields_right(sample, r)
            {
                silent_errors += 1;
                eprintln!("SILENT ERROR: {:?} seed {}", c.format, c.seed);
            }
        }
        match miss(sample, reading.as_ref()) {
            None => {
                exact += 1;
                clean_exact += usize::from(is_clean);
            }
            Some(why) => eprintln!(
                "miss: {:?} seed {} {:?}: {why}",
                c.format, c.seed, c.degradation
            ),
        }
    }
    let n = results.len();
    eprintln!(
        "{n} MRZ documents: type recognised {recognised}, every field exact and no warning \
         {exact} ({:.1} %), clean {clean_exact}/{clean}; {:.1} s",
        100.0 * exact as f64 / n as f64,
        started.elapsed().as_secs_f64()
    );
    assert_eq!(
        silent_errors, 0,
        "a checked field was wrong without a warning"
    );
    assert!(recognised * 10 >= n * 8, "MRZ found on {recognised}/{n}");
    assert!(exact * 10 >= n * 6, "{exact}/{n} exact");
    assert!(
        clean_exact * 10 >= clean * 8,
        "clean {clean_exact}/{clean} exact"
    );
}

/// The document number as printed (wrong digit included).
fn printed_number(sample: &MrzSample) -> String {
    let (line, range) = match sample.truth.format {
        MrzFormat::Td1 => (0, 5..14),
        MrzFormat::Td3 => (1, 0..9),
    };
    sample.printed[line][range]
        .trim_end_matches('<')
        .to_string()
}

/// A document printed with one wrong digit in its number (the check digit left as it was):
/// read as printed, it always carries the check-digit warning. (Two errors, the printed one and
/// an OCR misread, can cancel out in a mod-10 check digit; those are counted and printed.)
#[test]
fn a_wrong_printed_character_is_caught() {
    let mut all = cases(MrzFormat::Td1, 4, 4, 500, true);
    all.extend(cases(MrzFormat::Td3, 2, 2, 1500, true));
    let results = run(&all);
    let (mut flagged, mut double_errors) = (0, 0);
    for (c, sample, reading) in &results {
        let Some(r) = reading else { continue };
        if has_check_warning(r) {
            flagged += 1;
            continue;
        }
        if !matches!(
            r.document_type,
            DocumentType::IdCardTd1 | DocumentType::PassportTd3
        ) {
            continue;
        }
        assert_ne!(
            field(r, "document_number"),
            printed_number(sample),
            "{:?} seed {} {:?}: read as printed, yet no check digit failed",
            c.format,
            c.seed,
            c.degradation
        );
        double_errors += 1;
    }
    eprintln!(
        "wrong character: flagged {flagged}/{}, a second (OCR) error cancelled it {double_errors}",
        results.len()
    );
    assert!(flagged * 10 >= results.len() * 8, "{flagged} flagged");
}
