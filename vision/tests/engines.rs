//! The real face engines on real photos (fetched by `kyc models fetch` from the PyPI sdist of
//! face-recognition 1.3.0): each engine finds the face, same-person pairs score above
//! different-person pairs, and both runtimes of the recognizer give comparable embeddings (and
//! ONNX Runtime the same with its PRelu layers rewritten, `vision::prelu`).

use opencv::core::{Mat, Point2f, Scalar};
use opencv::imgproc;
use opencv::prelude::*;
use std::path::PathBuf;
use test_support::{models_dir, shared_model, test_image as photo};
use vision::face::engine::{EngineConfig, EngineKind, ModelPaths, YUNET_FILE, build_engine};
use vision::runtime::ORT_DYLIB_FILE;
use vision::{DecodedImage, ImageLimits, RuntimeConfig, VisionError, compare, decode_image};

/// The engine `kind` as shipped: the opencv engine (alone or as the hybrid's other engine)
/// with YuNet from ../shared. Without YuNet it is the Haar fallback, which finds a second
/// "face" in obama.jpg and misses the dark one; that fallback has a test of its own.
fn config(kind: EngineKind) -> EngineConfig {
    let yunet = (!matches!(kind, EngineKind::Insightface)).then(|| shared_model(YUNET_FILE));
    config_with(kind, yunet)
}

fn config_with(kind: EngineKind, yunet: Option<PathBuf>) -> EngineConfig {
    let dir = models_dir();
    EngineConfig::new(
        kind,
        RuntimeConfig::cpu(dir.join(ORT_DYLIB_FILE), 1),
        ModelPaths::in_dir(&dir, yunet),
    )
}

#[test]
fn every_engine_finds_and_matches_real_faces() {
    for kind in [
        EngineKind::Insightface,
        EngineKind::Opencv,
        EngineKind::Hybrid,
    ] {
        let mut engine = build_engine(&config(kind)).expect("engine loads");
        let lim = ImageLimits::default();
        let o1 = engine.analyze_bytes(&photo("obama.jpg"), lim).unwrap();
        let o2 = engine.analyze_bytes(&photo("obama2.jpg"), lim).unwrap();
        let b = engine.analyze_bytes(&photo("biden.jpg"), lim).unwrap();
        assert_eq!(o1.faces_found, 1, "{kind}: {o1:?}");
        assert!(o1.face.score > 0.5, "{kind}: {o1:?}");
        let same = compare(&o1.embedding, &o2.embedding, 0.0)
            .unwrap()
            .similarity;
        let diff = compare(&o1.embedding, &b.embedding, 0.0)
            .unwrap()
            .similarity;
        eprintln!("{kind}: same {same:.3} diff {diff:.3} det {:?}", o1.timings);
        assert!(same > 0.5, "{kind}: obama/obama2 {same}");
        assert!(diff < 0.2, "{kind}: obama/biden {diff}");
    }
}

#[test]
fn both_recognizer_runtimes_give_comparable_embeddings() {
    let mut ins = build_engine(&config(EngineKind::Insightface)).unwrap();
    let mut cv = build_engine(&config(EngineKind::Opencv)).unwrap();
    let lim = ImageLimits::default();
    let a = ins.analyze_bytes(&photo("obama.jpg"), lim).unwrap();
    let b = cv.analyze_bytes(&photo("obama.jpg"), lim).unwrap();
    assert_eq!(a.embedding.model, b.embedding.model);
    assert_ne!(a.embedding.engine, b.embedding.engine);
    let s = compare(&a.embedding, &b.embedding, 0.0).unwrap().similarity;
    // Different detectors give slightly different landmarks, so not identical, but close.
    assert!(s > 0.85, "same photo through both engines: {s}");
}

#[test]
fn the_rewritten_prelu_layers_give_the_embeddings_the_model_file_gives() {
    let mut on_disk = config(EngineKind::Insightface);
    on_disk.runtime.keep_prelu = true;
    let mut fast = build_engine(&config(EngineKind::Insightface)).unwrap();
    let mut reference = build_engine(&on_disk).unwrap();
    let lim = ImageLimits::default();
    for name in ["obama.jpg", "biden.jpg"] {
        let a = fast.analyze_bytes(&photo(name), lim).unwrap();
        let b = reference.analyze_bytes(&photo(name), lim).unwrap();
        let s = compare(&a.embedding, &b.embedding, 0.0).unwrap().similarity;
        assert!(s > 0.99999, "{name}: {s}");
    }
}

#[test]
fn decode_refuses_bad_images_clearly() {
    let jpeg = photo("obama.jpg");
    let truncated = &jpeg[..jpeg.len() / 3];
    // A truncated JPEG either decodes partially (libjpeg pads with grey) or fails clearly.
    match decode_image(truncated, ImageLimits::default()) {
        Ok(img) => assert!(img.width() > 0),
        Err(e) => assert!(e.is_bad_input(), "{e}"),
    }
}

fn rotated(img: &DecodedImage, degrees: f64) -> DecodedImage {
    let c = Point2f::new(img.width() as f32 / 2.0, img.height() as f32 / 2.0);
    let m = imgproc::get_rotation_matrix_2d(c, degrees, 1.0).unwrap();
    let mut out = Mat::default();
    imgproc::warp_affine(
        &img.mat,
        &mut out,
        &m,
        img.mat.size().unwrap(),
        imgproc::INTER_LINEAR,
        opencv::core::BORDER_CONSTANT,
        Scalar::all(0.0),
    )
    .unwrap();
    DecodedImage { mat: out }
}

#[test]
fn hybrid_falls_back_to_the_other_engine_when_the_primary_finds_no_face() {
    let mut single = [
        build_engine(&config(EngineKind::Insightface)).unwrap(),
        build_engine(&config(EngineKind::Opencv)).unwrap(),
    ];
    let names = ["insightface", "opencv"];
    // Strong in-plane rotation defeats one detector before the other. Find, on the real
    // photos, a rotation where one engine (with its CLAHE retry) finds nothing and the other
    // finds the face; then make the failing one the hybrid's primary.
    let mut case = None;
    'search: for name in ["obama3.jpg", "obama.jpg", "biden.jpg", "obama2.jpg"] {
        let img = decode_image(&photo(name), ImageLimits::default()).unwrap();
        for angle in (40..=90).step_by(2).map(f64::from) {
            let r = rotated(&img, angle);
            let found = [single[0].analyze(&r).is_ok(), single[1].analyze(&r).is_ok()];
            if found[0] != found[1] {
                case = Some((r, usize::from(found[0])));
                break 'search;
            }
        }
    }
    let (image, failing) = case.expect("a rotation only one detector handles");
    let mut cfg = config(EngineKind::Hybrid);
    cfg.primary = [EngineKind::Insightface, EngineKind::Opencv][failing];
    let mut hybrid = build_engine(&cfg).unwrap();
    let a = hybrid.analyze(&image).expect("the hybrid still answers");
    assert_eq!(a.embedding.engine, names[1 - failing]);
    let reason = a.fallback_reason.expect("the fallback is said");
    assert!(
        reason.contains(&format!("{} found no face", names[failing])),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("used {}", names[1 - failing])),
        "{reason}"
    );
}

#[test]
fn a_very_dark_photo_is_enhanced_and_still_matches() {
    let mut hybrid = build_engine(&config(EngineKind::Hybrid)).unwrap();
    let img = decode_image(&photo("obama.jpg"), ImageLimits::default()).unwrap();
    let mut dark = Mat::default();
    img.mat.convert_to(&mut dark, -1, 0.04, 0.0).unwrap();
    let a = hybrid
        .analyze(&DecodedImage { mat: dark })
        .expect("found in the dark");
    assert!(a.enhanced, "{a:?}");
    let b = hybrid
        .analyze_bytes(&photo("obama2.jpg"), ImageLimits::default())
        .unwrap();
    let s = compare(&a.embedding, &b.embedding, 0.0).unwrap().similarity;
    assert!(s > 0.35, "dark obama vs obama2: {s}");
}

#[test]
fn no_engine_invents_a_face() {
    // Smooth noise: no face anywhere.
    let mut noise =
        Mat::new_rows_cols_with_default(480, 640, opencv::core::CV_8UC3, Scalar::all(0.0)).unwrap();
    opencv::core::randu(&mut noise, &Scalar::all(0.0), &Scalar::all(255.0)).unwrap();
    let mut smooth = Mat::default();
    imgproc::gaussian_blur_def(&noise, &mut smooth, opencv::core::Size::new(21, 21), 0.0).unwrap();
    for kind in [
        EngineKind::Insightface,
        EngineKind::Opencv,
        EngineKind::Hybrid,
    ] {
        let mut e = build_engine(&config(kind)).unwrap();
        match e.analyze(&DecodedImage {
            mat: smooth.clone(),
        }) {
            Err(VisionError::NoFace) => {}
            other => panic!("{kind}: expected NoFace, got {:?}", other.map(|a| a.face)),
        }
    }
}

#[test]
fn without_yunet_the_opencv_engine_uses_haar_and_still_matches() {
    let cfg = config_with(EngineKind::Opencv, None);
    let mut haar = build_engine(&cfg).unwrap();
    assert_eq!(haar.info().detector, "haar");
    let lim = ImageLimits::default();
    let o1 = haar.analyze_bytes(&photo("obama.jpg"), lim).unwrap();
    let o2 = haar.analyze_bytes(&photo("obama2.jpg"), lim).unwrap();
    let b = haar.analyze_bytes(&photo("biden.jpg"), lim).unwrap();
    assert_eq!(o1.detector, "haar");
    assert!(!o1.face.landmarks_detected);
    assert!(
        o1.notes.iter().any(|n| n.contains("estimated")),
        "{:?}",
        o1.notes
    );
    let same = compare(&o1.embedding, &o2.embedding, 0.0)
        .unwrap()
        .similarity;
    let diff = compare(&o1.embedding, &b.embedding, 0.0)
        .unwrap()
        .similarity;
    assert!(
        same > 0.35 && diff < 0.2,
        "haar: same {same}, different {diff}"
    );

    // The landmarks estimated from the Haar box lie near SCRFD's detected ones.
    let mut scrfd = build_engine(&config(EngineKind::Insightface)).unwrap();
    let s1 = scrfd.analyze_bytes(&photo("obama.jpg"), lim).unwrap();
    for (est, det) in o1.face.landmarks.iter().zip(s1.face.landmarks.iter()) {
        let d = ((est[0] - det[0]).powi(2) + (est[1] - det[1]).powi(2)).sqrt();
        assert!(
            d < 0.12 * o1.face.width,
            "landmark {est:?} vs {det:?}: {d} px"
        );
    }
}
