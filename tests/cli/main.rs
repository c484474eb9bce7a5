//! The ID card commands of the `kyc` binary (`kyc quality`, `kyc ocr`) as a user runs them, on
//! generated camera frames and on bad input: exit codes, messages, one JSON object, masked
//! resident numbers, never a panic.

mod home;
mod keys;
mod liveness;
mod verify;

use cardgen::{Degradation, FontChoice, Sample, generate, generate_with};
use cardgen::{Pen, ocr_sample};
use opencv::core::{CV_8UC3, Mat, Scalar, Vector};
use opencv::imgcodecs;
use std::path::{Path, PathBuf};
use std::process::Command;
use vision::card::DocumentType;
use vision::{ImageLimits, decode_image};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn kyc(args: &[&str], image: &Path) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyc"));
    cmd.args(args).arg(image);
    run(cmd)
}

/// Runs `kyc` from the checkout in the test environment; a panic is always a failure.
fn run(mut cmd: Command) -> Run {
    let out = cmd
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KYC_ENV", "test")
        .output()
        .expect("kyc runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    run
}

fn json(run: &Run) -> serde_json::Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "one JSON object: {}",
        run.stdout
    );
    serde_json::from_str(&run.stdout).expect("JSON")
}

fn face() -> Mat {
    let bytes = test_support::test_image("obama.jpg");
    decode_image(&bytes, ImageLimits::default())
        .expect("photo")
        .mat
}

fn save(dir: &Path, name: &str, img: &Mat) -> PathBuf {
    let p = dir.join(name);
    imgcodecs::imwrite(p.to_str().expect("utf-8 path"), img, &Vector::new()).expect("write");
    p
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn rotated(img: &Mat) -> Mat {
    let mut out = Mat::default();
    opencv::core::rotate(img, &mut out, opencv::core::ROTATE_180).expect("rotate");
    out
}

fn check_read(v: &serde_json::Value, s: &Sample) {
    let field = |k: &str| v["fields"][k]["value"].as_str().unwrap_or("").to_string();
    assert_eq!(field("name"), s.truth.name);
    assert_eq!(field("birth_date"), s.truth.birth_date);
    assert_eq!(field("issue_date"), s.truth.issue_date);
    let key = if s.truth.doc == DocumentType::DriverLicence {
        "resident_number"
    } else {
        "document_number"
    };
    assert_eq!(field(key), format!("{}******", &s.truth.rrn[..8]));
    // Each field carries the box it was read from, inside the card.
    let b = v["fields"]["name"]["box"].as_array().expect("name box");
    assert_eq!(b.len(), 4, "{b:?}");
    assert!(
        b.iter()
            .all(|x| x.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x))),
        "{b:?}"
    );
}

#[test]
fn ocr_reads_a_card_in_a_camera_frame_and_prints_the_number_masked() {
    let dir = tempfile::tempdir().expect("tmp");
    let face = face();
    for seed in [0, 1] {
        let s = ocr_sample(seed, Some(&face)).expect("sample");
        let frame = save(dir.path(), &format!("card{seed}.png"), &s.frame);
        let run = kyc(&["ocr", "--json"], &frame);
        let v = json(&run);
        assert_eq!(
            v["document_type"],
            serde_json::to_value(s.truth.doc).expect("doc")
        );
        assert_eq!(v["card_found"], true);
        check_read(&v, &s);
        // The full resident number appears nowhere in the output.
        let full: String = s.truth.rrn.chars().filter(char::is_ascii_digit).collect();
        let printed: String = run.stdout.chars().filter(char::is_ascii_digit).collect();
        assert!(!printed.contains(&full), "full number printed");
        assert!(!run.stdout.contains(&s.truth.rrn));
        // The human output names the document and the fields.
        let human = kyc(&["ocr"], &frame);
        assert_eq!(human.code, 0, "{}", human.stderr);
        assert!(human.stdout.contains(&s.truth.name), "{}", human.stdout);
        assert!(human.stdout.contains("time:"), "{}", human.stdout);
    }
}

#[test]
fn ocr_turns_an_upside_down_card() {
    let dir = tempfile::tempdir().expect("tmp");
    let s = generate_with(
        10,
        DocumentType::ResidentRegistrationCard,
        Some(&face()),
        Degradation::Clean,
        true,
    )
    .expect("sample");
    let frame = save(dir.path(), "upside-down.png", &rotated(&s.frame));
    let v = json(&kyc(&["ocr", "--json"], &frame));
    assert_eq!(v["turned"], true, "{v}");
    check_read(&v, &s);
    let human = kyc(&["ocr"], &frame);
    assert!(
        human.stdout.contains("read upside down"),
        "{}",
        human.stdout
    );
}

#[test]
fn ocr_says_clearly_when_the_script_or_document_is_unknown() {
    let dir = tempfile::tempdir().expect("tmp");
    // A card-sized document printed in Cyrillic and Japanese kana: no Korean title, no MRZ.
    let mut card =
        Mat::new_rows_cols_with_default(540, 856, CV_8UC3, Scalar::all(240.0)).expect("mat");
    let pen = Pen::new(FontChoice::NanumGothic, true).expect("Nanum font");
    for (i, line) in [
        "УДОСТОВЕРЕНИЕ ЛИЧНОСТИ",
        "ИВАНОВ ИВАН",
        "みぶんしょうめいしょ",
    ]
    .iter()
    .enumerate()
    {
        pen.draw(
            &mut card,
            line,
            (60.0, 120.0 + 110.0 * i as f32),
            52.0,
            [30, 30, 30],
            2.0,
        )
        .expect("draw");
    }
    let scan = save(dir.path(), "foreign.png", &card);
    let v = json(&kyc(&["ocr", "--json"], &scan));
    assert_eq!(v["document_type"], "unknown", "{v}");
    assert!(v["fields"].as_object().is_none_or(|f| f.is_empty()), "{v}");
    let warnings = v["warnings"].to_string();
    assert!(warnings.contains("not recognised"), "{warnings}");
}

#[test]
fn quality_passes_a_clean_frame_and_names_what_is_wrong_with_the_others() {
    let dir = tempfile::tempdir().expect("tmp");
    let clean = generate(
        2,
        DocumentType::ResidentRegistrationCard,
        None,
        Degradation::Clean,
    )
    .expect("sample");
    let v = json(&kyc(
        &["quality", "--json"],
        &save(dir.path(), "clean.png", &clean.frame),
    ));
    assert_eq!(v["passed"], true, "{v}");
    for (d, check) in [
        (Degradation::MotionBlur, "sharpness"),
        (Degradation::Glare, "lighting"),
        (Degradation::Tilt, "angle"),
        (Degradation::CornerCut, "completeness"),
    ] {
        let s = generate(3, DocumentType::DriverLicence, None, d).expect("sample");
        let v = json(&kyc(
            &["quality", "--json"],
            &save(dir.path(), &format!("{d:?}.png"), &s.frame),
        ));
        assert_eq!(v["passed"], false, "{d:?}: {v}");
        assert_eq!(v["checks"][check]["passed"], false, "{d:?}: {v}");
        let msg = &v["checks"][check]["message"];
        assert!(msg.to_string().len() > 10, "{d:?}: a guidance message: {v}");
    }
    // A photo with no card in it fails completeness, with a message saying so.
    let photo = test_support::test_image_path("obama.jpg");
    let v = json(&kyc(&["quality", "--json"], &photo));
    assert_eq!(v["passed"], false);
    assert_eq!(v["checks"]["completeness"]["passed"], false, "{v}");
    let human = kyc(&["quality"], &photo);
    assert!(
        human.stdout.to_lowercase().contains("card"),
        "{}",
        human.stdout
    );
}

#[test]
fn bad_files_get_exit_code_2_and_a_message() {
    let dir = tempfile::tempdir().expect("tmp");
    let clean = generate(5, DocumentType::DriverLicence, None, Degradation::Clean).expect("s");
    let mut png = Vector::<u8>::new();
    imgcodecs::imencode(".png", &clean.frame, &mut png, &Vector::new()).expect("encode");
    let tiny = Mat::new_rows_cols_with_default(6, 8, CV_8UC3, Scalar::all(128.0)).expect("m");
    let tiny = save(dir.path(), "tiny.png", &tiny);
    let cases = [
        (write(dir.path(), "empty.jpg", b""), "empty"),
        (
            write(dir.path(), "notes.jpg", b"name: someone\nthis is text"),
            "not a supported image",
        ),
        (
            write(dir.path(), "truncated.png", &png.as_slice()[..300]),
            "decode",
        ),
        (
            write(dir.path(), "huge.png", &test_support::media::huge_png()),
            "50000×50000",
        ),
        (dir.path().join("missing.png"), "cannot read"),
        (tiny, "at least 32 pixels"),
    ];
    for command in ["quality", "ocr"] {
        for (path, expect) in &cases {
            let r = kyc(&[command, "--json"], path);
            assert_eq!(r.code, 2, "{command} {}: {}", path.display(), r.stderr);
            assert!(r.stdout.is_empty(), "{command}: nothing on stdout on error");
            assert!(
                r.stderr.to_lowercase().contains(&expect.to_lowercase()),
                "{command} {}: {:?} should mention {expect:?}",
                path.display(),
                r.stderr
            );
        }
    }
}

/// `kyc models list | head -1`: the reader leaves before the command writes; the command ends
/// by the pipe's signal, as Unix tools do, never by a panic.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(["models", "list"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KYC_ENV", "test")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kyc runs");
    // Close the reading end before the command has started writing.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("kyc ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?}: {stderr}",
        out.status
    );
}
