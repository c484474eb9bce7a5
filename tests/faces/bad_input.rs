//! Bad input through `kyc compare` (the binary, for exit codes and messages) and its code path:
//! each case is a clear error or a clear answer, never a panic.

use crate::{photo, pool, settings};
use kyc::photo_pair::compare_photos;
use opencv::core::{Mat, Scalar, Size, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

fn encode(mat: &Mat, ext: &str) -> Vec<u8> {
    let mut buf = Vector::<u8>::new();
    imgcodecs::imencode(ext, mat, &mut buf, &Vector::new()).expect("encode");
    buf.to_vec()
}

/// Smooth noise: an image with no face.
fn no_face_png() -> Vec<u8> {
    let mut noise =
        Mat::new_rows_cols_with_default(400, 600, opencv::core::CV_8UC3, Scalar::all(0.0))
            .expect("mat");
    opencv::core::randu(&mut noise, &Scalar::all(0.0), &Scalar::all(255.0)).expect("randu");
    let mut smooth = Mat::default();
    imgproc::gaussian_blur_def(&noise, &mut smooth, Size::new(25, 25), 0.0).expect("blur");
    encode(&smooth, ".png")
}

/// Obama large on the left, Biden smaller on the right, in one photo.
fn two_faces_jpeg() -> Vec<u8> {
    let decode = |b: &[u8]| {
        imgcodecs::imdecode(&Vector::<u8>::from_slice(b), imgcodecs::IMREAD_COLOR).expect("decode")
    };
    let obama = decode(&photo("obama.jpg"));
    let biden = decode(&photo("biden.jpg"));
    let h = obama.rows();
    let mut small = Mat::default();
    let scale = 0.5 * h as f64 / biden.rows() as f64;
    imgproc::resize(
        &biden,
        &mut small,
        Size::default(),
        scale,
        scale,
        imgproc::INTER_AREA,
    )
    .expect("resize");
    let mut padded = Mat::default();
    opencv::core::copy_make_border(
        &small,
        &mut padded,
        0,
        h - small.rows(),
        0,
        0,
        opencv::core::BORDER_CONSTANT,
        Scalar::all(0.0),
    )
    .expect("pad");
    let mut both = Mat::default();
    let parts = Vector::<Mat>::from_iter([obama, padded]);
    opencv::core::hconcat(&parts, &mut both).expect("hconcat");
    encode(&both, ".jpg")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn kyc_compare(a: &Path, b: &Path) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_kyc"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KYC_ENV", "test")
        .arg("compare")
        .arg(a)
        .arg(b)
        .arg("--json")
        .output()
        .expect("kyc runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn the_cli_refuses_bad_files_with_exit_code_2_and_a_message() {
    // With YuNet the opencv fallback finds no face in the noise; its Haar fallback can.
    test_support::shared_model(vision::face::engine::YUNET_FILE);
    let dir = tempfile::tempdir().expect("tmp");
    let good = write(dir.path(), "good.jpg", &photo("obama.jpg"));
    let jpeg = photo("obama2.jpg");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.jpg", vec![], "empty"),
        (
            "notes.txt",
            b"name: someone\nthis is text".to_vec(),
            "not a supported image",
        ),
        ("truncated.jpg", jpeg[..400].to_vec(), "decode"),
        ("huge.png", test_support::media::huge_png(), "50000×50000"),
        ("noise.png", no_face_png(), "no face"),
    ];
    for (name, bytes, expect) in cases {
        let bad = write(dir.path(), name, &bytes);
        let r = kyc_compare(&good, &bad);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{name}: nothing on stdout on error");
        assert!(
            r.stderr.to_lowercase().contains(&expect.to_lowercase()),
            "{name}: {:?} should mention {expect:?}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{name}: {}", r.stderr);
    }
    let missing = kyc_compare(&good, &dir.path().join("nope.jpg"));
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("cannot read"), "{}", missing.stderr);
}

#[test]
fn the_cli_prints_exactly_one_json_object() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = write(dir.path(), "a.jpg", &photo("obama.jpg"));
    let b = write(dir.path(), "b.jpg", &photo("obama3.jpg"));
    let r = kyc_compare(&a, &b);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).expect("one JSON object");
    assert_eq!(r.stdout.trim().lines().count(), 1);
    for key in ["similarity", "match", "threshold", "engine"] {
        assert!(v.get(key).is_some(), "missing {key}: {v}");
    }
    assert_eq!(v["match"], serde_json::Value::Bool(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_faces_use_the_largest_and_say_so() {
    let settings = settings();
    let pool = pool(&settings, None, 2).await;
    let group: Arc<[u8]> = Arc::from(two_faces_jpeg());
    let r = compare_photos(
        &pool,
        group,
        photo("obama2.jpg"),
        settings.engine.match_threshold,
    )
    .await
    .expect("compares");
    assert_eq!(r.a.faces_found, 2, "{:?}", r.a);
    assert!(
        r.a.notes.iter().any(|n| n.contains("largest")),
        "{:?}",
        r.a.notes
    );
    assert!(r.is_match, "the larger face is Obama: {}", r.similarity);
    pool.stop().await;
}
