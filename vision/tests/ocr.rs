//! Tesseract round trips: text rendered into Mats (OpenCV Hershey fonts for Latin and MRZ,
//! NanumGothic through the card generator's pen for Hangul) must be read back exactly.

use std::path::Path;
use std::time::Instant;

use cardgen::{FontChoice, Pen};
use opencv::core::{CV_8UC1, CV_8UC3, Mat, Point, Scalar};
use opencv::imgproc;
use opencv::prelude::*;
use vision::card::DocumentType;
use vision::card::mrz::{MrzSex, parse_mrz};
use vision::ocr::{DEFAULT_TESSDATA, LineMode, Ocr};

const MRZ_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<";

fn engine(languages: &str) -> Ocr {
    Ocr::new(languages, Some(Path::new(DEFAULT_TESSDATA))).expect("tesseract language data")
}

/// Black Hershey text on white, one `put_text` per line.
fn hershey(lines: &[&str], scale: f64, color: bool) -> Mat {
    let line_h = (40.0 * scale) as i32;
    let width = lines.iter().map(|l| l.len()).max().unwrap_or(1) as i32 * (24.0 * scale) as i32;
    let height = line_h * lines.len() as i32 + line_h;
    let typ = if color { CV_8UC3 } else { CV_8UC1 };
    let mut img =
        Mat::new_rows_cols_with_default(height, width + 60, typ, Scalar::all(255.0)).expect("mat");
    for (i, line) in lines.iter().enumerate() {
        imgproc::put_text(
            &mut img,
            line,
            Point::new(30, line_h * (i as i32 + 1)),
            imgproc::FONT_HERSHEY_SIMPLEX,
            scale,
            Scalar::all(0.0),
            (2.0 * scale).round() as i32,
            imgproc::LINE_AA,
            false,
        )
        .expect("put_text");
    }
    img
}

/// Renders `text` in NanumGothic with the card generator's pen into a white 8-bit gray Mat.
fn render_hangul(text: &str, px: f32) -> Mat {
    let pen = Pen::new(FontChoice::NanumGothic, false).expect("NanumGothic (Debian fonts-nanum)");
    let margin = px * 0.5;
    let (ascent, descent) = pen.metrics(px);
    let width = (pen.measure(text, px, 0.0) + 2.0 * margin).ceil() as i32;
    let height = (ascent - descent + 2.0 * margin).ceil() as i32;
    let mut img =
        Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(255.0)).expect("mat");
    pen.draw(
        &mut img,
        text,
        (margin, margin + ascent),
        px,
        [0, 0, 0],
        0.0,
    )
    .expect("draw");
    let mut gray = Mat::default();
    imgproc::cvt_color_def(&img, &mut gray, imgproc::COLOR_BGR2GRAY).expect("gray");
    gray
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn reads_an_english_line_exactly() {
    let mut ocr = engine("eng");
    let text = "KYC TEST 2024 LINE 0815";
    let img = hershey(&[text], 1.5, true);
    let t = Instant::now();
    let out = ocr.read(&img, LineMode::SingleLine, None).expect("read");
    eprintln!(
        "eng single line {}x{}: {:?} conf {:.2} in {:?}",
        img.cols(),
        img.rows(),
        out.text,
        out.confidence,
        t.elapsed()
    );
    assert_eq!(out.text, text);
    assert!(out.confidence > 0.5, "{}", out.confidence);

    // Same engine, digits only through the whitelist.
    let digits = "900101 1234567";
    let img = hershey(&[digits], 1.5, false);
    let out = ocr
        .read(&img, LineMode::SingleLine, Some("0123456789 "))
        .expect("read");
    assert_eq!(out.text, digits);

    // The whitelist does not stick: letters are read again without one.
    let img = hershey(&[text], 1.5, false);
    let out = ocr.read(&img, LineMode::SingleLine, None).expect("read");
    assert_eq!(out.text, text);
}

#[test]
fn reads_an_mrz_and_parses_it() {
    let mut ocr = engine("eng");
    let lines = [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
        "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
    ];
    // Line by line (how the card pipeline crops the MRZ), then as one block.
    let mut read = Vec::new();
    let t = Instant::now();
    for line in lines {
        let img = hershey(&[line], 1.2, false);
        let out = ocr
            .read(&img, LineMode::SingleLine, Some(MRZ_ALPHABET))
            .expect("read");
        read.push(out.text);
    }
    eprintln!("MRZ 2 single lines in {:?}: {read:?}", t.elapsed());
    let mrz = parse_mrz(&read.join("\n")).expect("MRZ found in OCR output");
    assert!(mrz.all_checks_ok(), "{:?}", mrz.checks);
    assert_eq!(mrz.document_type, DocumentType::PassportTd3);
    assert_eq!(mrz.surname, "ERIKSSON");
    assert_eq!(mrz.given_names, "ANNA MARIA");
    assert_eq!(mrz.document_number, "L898902C3");
    assert_eq!(mrz.sex, MrzSex::Female);

    let img = hershey(&lines, 1.2, true);
    let t = Instant::now();
    let out = ocr
        .read(&img, LineMode::Block, Some(MRZ_ALPHABET))
        .expect("read");
    eprintln!(
        "MRZ block {}x{}: conf {:.2} in {:?}: {:?}",
        img.cols(),
        img.rows(),
        out.confidence,
        t.elapsed(),
        out.text
    );
    let mrz = parse_mrz(&out.text).expect("MRZ found in block OCR output");
    assert!(mrz.all_checks_ok(), "{:?}", mrz.checks);
}

#[test]
fn reads_hangul_with_kor_eng() {
    let mut ocr = engine("kor+eng");
    for text in ["주민등록증", "홍길동"] {
        let img = render_hangul(text, 64.0);
        let t = Instant::now();
        let out = ocr.read(&img, LineMode::SingleLine, None).expect("read");
        eprintln!(
            "kor+eng line {}x{}: {:?} conf {:.2} in {:?}",
            img.cols(),
            img.rows(),
            out.text,
            out.confidence,
            t.elapsed()
        );
        assert_eq!(squash(&out.text), text);
    }
    // A mixed block, as on a card: title, name, number.
    let title = render_hangul("주민등록증", 56.0);
    let name = render_hangul("홍길동 (洪吉童)", 48.0);
    let number = render_hangul("900101-1234567", 48.0);
    let width = title.cols().max(name.cols()).max(number.cols());
    let mut rows = Vec::new();
    for m in [&title, &name, &number] {
        let mut padded = Mat::default();
        opencv::core::copy_make_border(
            m,
            &mut padded,
            0,
            0,
            0,
            width - m.cols(),
            opencv::core::BORDER_CONSTANT,
            Scalar::all(255.0),
        )
        .expect("pad");
        rows.push(padded);
    }
    let mut block = Mat::default();
    let v: opencv::core::Vector<Mat> = rows.into_iter().collect();
    opencv::core::vconcat(&v, &mut block).expect("vconcat");
    let t = Instant::now();
    let out = ocr.read(&block, LineMode::Block, None).expect("read");
    eprintln!(
        "kor+eng block {}x{}: conf {:.2} in {:?}: {:?}",
        block.cols(),
        block.rows(),
        out.confidence,
        t.elapsed(),
        out.text
    );
    let squashed = squash(&out.text);
    assert!(squashed.contains("주민등록증"), "{squashed}");
    assert!(squashed.contains("홍길동"), "{squashed}");
    assert!(squashed.contains("900101-1234567"), "{squashed}");
}

#[test]
fn rejects_empty_and_unsupported_images() {
    let mut ocr = engine("eng");
    assert!(matches!(
        ocr.read(&Mat::default(), LineMode::SingleLine, None),
        Err(vision::VisionError::EmptyInput)
    ));
    let f32img = Mat::new_rows_cols_with_default(10, 10, opencv::core::CV_32FC1, Scalar::all(1.0))
        .expect("mat");
    assert!(matches!(
        ocr.read(&f32img, LineMode::SingleLine, None),
        Err(vision::VisionError::UnsupportedImage(_))
    ));
    assert!(Ocr::new("xx_no_such_language", Some(Path::new(DEFAULT_TESSDATA))).is_err());
}

/// Warm-engine timings (printed, not asserted; run with `--nocapture --test-threads=1`).
#[test]
fn timings() {
    fn mean_ms(ocr: &mut Ocr, img: &Mat, mode: LineMode, wl: Option<&str>) -> f64 {
        ocr.read(img, mode, wl).expect("warm-up read");
        let n = 5;
        let t = Instant::now();
        for _ in 0..n {
            ocr.read(img, mode, wl).expect("read");
        }
        t.elapsed().as_secs_f64() * 1000.0 / f64::from(n)
    }
    let mut eng = engine("eng");
    let mut kor = engine("kor+eng");
    let line = hershey(&["KYC TEST 2024 LINE 0815"], 1.5, false);
    let mrz = hershey(
        &[
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ],
        1.2,
        false,
    );
    let hangul = render_hangul("주민등록증 홍길동", 48.0);
    eprintln!(
        "warm means: eng line {:.1} ms, eng MRZ block (whitelist) {:.1} ms, kor+eng line {:.1} ms, kor+eng block {:.1} ms",
        mean_ms(&mut eng, &line, LineMode::SingleLine, None),
        mean_ms(&mut eng, &mrz, LineMode::Block, Some(MRZ_ALPHABET)),
        mean_ms(&mut kor, &hangul, LineMode::SingleLine, None),
        mean_ms(&mut kor, &hangul, LineMode::Block, None),
    );
}
