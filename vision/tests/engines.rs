//! The real face engines on real photos (fetched by `kyc models fetch` from the PyPI sdist of
//! face-recognition 1.3.0): each engine finds the face, same-person pairs score above
//! different-person pairs, and both runtimes of the recognizer give comparable embeddings.

use std::path::{Path, PathBuf};
use vision::face::engine::{EngineConfig, EngineKind, ModelPaths, YUNET_FILE, build_engine};
use vision::runtime::ORT_DYLIB_FILE;
use vision::{ImageLimits, RuntimeConfig, compare, decode_image};

fn models_dir() -> PathBuf {
    std::env::var_os("KYC_TEST_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/files"))
}

fn config(kind: EngineKind) -> EngineConfig {
    let dir = models_dir();
    let yunet = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models")
        .join(YUNET_FILE);
    EngineConfig::new(
        kind,
        RuntimeConfig::cpu(dir.join(ORT_DYLIB_FILE), 1),
        ModelPaths::in_dir(&dir, yunet.is_file().then_some(yunet)),
    )
}

fn photo(name: &str) -> Vec<u8> {
    let p = models_dir().join("test_images").join(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "{}: {e} — run `kyc models fetch` (make test does) first",
            p.display()
        )
    })
}

#[test]
fn every_engine_finds_and_matches_real_faces() {
    for kind in [EngineKind::Insightface, EngineKind::Opencv, EngineKind::Hybrid] {
        let mut engine = build_engine(&config(kind)).expect("engine loads");
        let lim = ImageLimits::default();
        let o1 = engine.analyze_bytes(&photo("obama.jpg"), lim).unwrap();
        let o2 = engine.analyze_bytes(&photo("obama2.jpg"), lim).unwrap();
        let b = engine.analyze_bytes(&photo("biden.jpg"), lim).unwrap();
        assert_eq!(o1.faces_found, 1, "{kind}: {o1:?}");
        assert!(o1.face.score > 0.5, "{kind}: {o1:?}");
        let same = compare(&o1.embedding, &o2.embedding, 0.0).unwrap().similarity;
        let diff = compare(&o1.embedding, &b.embedding, 0.0).unwrap().similarity;
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
fn decode_refuses_bad_images_clearly() {
    let jpeg = photo("obama.jpg");
    let truncated = &jpeg[..jpeg.len() / 3];
    // A truncated JPEG either decodes partially (libjpeg pads with grey) or fails clearly.
    match decode_image(truncated, ImageLimits::default()) {
        Ok(img) => assert!(img.width() > 0),
        Err(e) => assert!(e.is_bad_input(), "{e}"),
    }
}
