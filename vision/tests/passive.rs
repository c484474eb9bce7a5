//! The passive anti-spoofing models give the Silent-Face-Anti-Spoofing project's reference
//! numbers on its three sample images with their boxes (`../shared/testdata/liveness/README.md`),
//! which shows the preprocessing matches; and SCRFD's own boxes give the same labels.

use test_support::{models_dir, require, shared_dir, shared_model};
use vision::face::detect::Detector;
use vision::face::engine::SCRFD_FILE;
use vision::face::scrfd::Scrfd;
use vision::liveness::passive::{FaceRect, Passive, V1SE_FILE, V2_FILE};
use vision::runtime::ORT_DYLIB_FILE;
use vision::{ImageLimits, RuntimeConfig, decode_image};

/// Image, the README's box, whether it is real, the reference confidence of its label.
const REFERENCE: [(&str, [f32; 4], bool, f32); 3] = [
    ("image_T1.jpg", [106.0, 147.0, 207.0, 213.0], true, 0.994),
    ("image_F1.jpg", [178.0, 136.0, 223.0, 225.0], false, 0.732),
    ("image_F2.jpg", [120.0, 252.0, 252.0, 256.0], false, 0.817),
];

fn cfg() -> RuntimeConfig {
    RuntimeConfig::cpu(models_dir().join(ORT_DYLIB_FILE), 1)
}

fn image(name: &str) -> vision::opencv::core::Mat {
    let path = require(
        shared_dir().join("testdata/liveness").join(name),
        "a liveness reference image",
    );
    let bytes = std::fs::read(&path).expect("readable image");
    decode_image(&bytes, ImageLimits::default())
        .expect("decodable image")
        .mat
}

#[test]
fn the_reference_images_give_the_reference_numbers() {
    let mut passive = Passive::load(&cfg(), &shared_model(V2_FILE), &shared_model(V1SE_FILE))
        .expect("the anti-spoofing models load");
    for (name, [x, y, width, height], real, confidence) in REFERENCE {
        let s = passive
            .score(
                &image(name),
                FaceRect {
                    x,
                    y,
                    width,
                    height,
                },
            )
            .expect("scored");
        assert_eq!(s.is_real, real, "{name}: {s:?}");
        assert!(
            (s.confidence - confidence).abs() < 0.005,
            "{name}: confidence {:.3}, the reference says {confidence}",
            s.confidence
        );
    }
}

#[test]
fn scrfd_boxes_give_the_same_labels() {
    let mut passive = Passive::load(&cfg(), &shared_model(V2_FILE), &shared_model(V1SE_FILE))
        .expect("the anti-spoofing models load");
    let mut scrfd = Scrfd::load(
        &cfg(),
        &require(models_dir().join(SCRFD_FILE), "SCRFD"),
        640,
        0.5,
    )
    .expect("SCRFD loads");
    for (name, _, real, _) in REFERENCE {
        let img = image(name);
        let faces = scrfd.detect(&img).expect("detected");
        let f = faces
            .iter()
            .max_by(|a, b| a.area().total_cmp(&b.area()))
            .unwrap_or_else(|| panic!("{name}: SCRFD found no face"));
        let s = passive
            .score(
                &img,
                FaceRect {
                    x: f.x,
                    y: f.y,
                    width: f.width,
                    height: f.height,
                },
            )
            .expect("scored");
        eprintln!(
            "{name}: SCRFD box {:.0},{:.0},{:.0},{:.0} → {s:?}",
            f.x, f.y, f.width, f.height
        );
        assert_eq!(s.is_real, real, "{name} with SCRFD's box: {s:?}");
    }
}
