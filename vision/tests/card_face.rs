//! The card's face: a real photo printed on a generated card, the card found in a camera frame
//! and rectified, its photo zone cropped and embedded — the embedding matches the source photo
//! and not the other person.

use cardgen::{Degradation, generate};
use vision::card::DocumentType;
use vision::card::detect::detect_card;
use vision::card::rectify::{photo_region, rectify};
use vision::face::engine::{EngineConfig, EngineKind, ModelPaths, build_engine};
use vision::runtime::ORT_DYLIB_FILE;
use vision::{DecodedImage, ImageLimits, RuntimeConfig, compare, decode_image};

fn photo(name: &str) -> DecodedImage {
    decode_image(&test_support::test_image(name), ImageLimits::default()).expect("decodes")
}

#[test]
fn the_card_face_matches_its_source_photo_only() {
    let dir = test_support::models_dir();
    let cfg = EngineConfig::new(
        EngineKind::Hybrid,
        RuntimeConfig::cpu(dir.join(ORT_DYLIB_FILE), 1),
        ModelPaths::in_dir(&dir, None),
    );
    let mut engine = build_engine(&cfg).expect("engine");
    let people = ["obama2.jpg", "biden.jpg"];
    let sources: Vec<_> = people
        .iter()
        .map(|p| engine.analyze(&photo(p)).expect("source face").embedding)
        .collect();
    for (i, person) in people.iter().enumerate() {
        for (seed, doc) in [
            (7u64, DocumentType::ResidentRegistrationCard),
            (8, DocumentType::DriverLicence),
        ] {
            let face = photo(person);
            let s = generate(seed, doc, Some(&face.mat), Degradation::Clean).expect("card");
            let det = detect_card(&s.frame).expect("detect").expect("card found");
            let card = rectify(&s.frame, &det.quad).expect("rectify");
            let crop = photo_region(&card, doc).expect("photo zone");
            let a = engine
                .analyze(&DecodedImage { mat: crop })
                .unwrap_or_else(|e| panic!("{person} on {doc:?}: {e}"));
            let same = compare(&a.embedding, &sources[i], 0.0).unwrap().similarity;
            let other = compare(&a.embedding, &sources[1 - i], 0.0)
                .unwrap()
                .similarity;
            eprintln!("{person} on {doc:?}: same {same:.3}, other {other:.3}");
            assert!(
                same >= 0.35,
                "{person} on {doc:?}: card face vs source {same}"
            );
            assert!(
                other < 0.35,
                "{person} on {doc:?}: card face vs other {other}"
            );
        }
    }
}
