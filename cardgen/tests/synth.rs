//! The synthetic ID card generator: deterministic per seed, valid resident registration
//! numbers, text and photo where the layout says, and every degradation as labelled.

use cardgen::{
    Degradation, FRAME_HEIGHT, FRAME_WIDTH, FontChoice, Scene, Style, SynthRng, corners_inside,
    max_corner_deviation_deg, quad_area, render_card, rrn_check_digit, rrn_is_valid, sample,
};
use opencv::core::{Mat, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;
use std::path::Path;
use vision::card::layout::{Field, layout, zone_of};
use vision::card::{CARD_HEIGHT, CARD_WIDTH, DocumentType, Quad};
use vision::{ImageLimits, decode_image};

const DOCS: [DocumentType; 2] = [
    DocumentType::ResidentRegistrationCard,
    DocumentType::DriverLicence,
];

fn obama() -> Mat {
    let bytes = test_support::test_image("obama.jpg");
    decode_image(&bytes, ImageLimits::default())
        .expect("obama.jpg decodes")
        .mat
}

fn bytes(m: &Mat) -> Vec<u8> {
    m.data_bytes().expect("continuous").to_vec()
}

fn pixel(m: &Mat, x: i32, y: i32) -> [u8; 3] {
    let p = m.at_2d::<opencv::core::Vec3b>(y, x).expect("in range");
    [p[0], p[1], p[2]]
}

fn save(name: &str, m: &Mat) {
    let dir = Path::new("/tmp/synth");
    if std::fs::create_dir_all(dir).is_ok() {
        let path = dir.join(name);
        let _ = imgcodecs::imwrite(path.to_string_lossy().into_owned(), m, &Vector::new());
    }
}

fn frame_area() -> f32 {
    (FRAME_WIDTH * FRAME_HEIGHT) as f32
}

#[test]
fn same_seed_same_truth_and_pixels() {
    for doc in DOCS {
        let a = cardgen::generate(7, doc, None, Degradation::Glare).expect("generate");
        let b = cardgen::generate(7, doc, None, Degradation::Glare).expect("generate");
        assert_eq!(a.truth, b.truth);
        assert_eq!(a.quad, b.quad);
        assert_eq!(bytes(&a.card), bytes(&b.card));
        assert_eq!(bytes(&a.frame), bytes(&b.frame));
        let c = cardgen::generate(8, doc, None, Degradation::Glare).expect("generate");
        assert_ne!(a.truth, c.truth, "another seed, another holder");
    }
}

#[test]
fn truths_are_plausible_and_rrns_valid() {
    for seed in 0..500 {
        for doc in DOCS {
            let t = sample(seed, doc);
            assert_eq!(t.doc, doc);
            assert!(rrn_is_valid(&t.rrn), "{t:?}");
            let digits: Vec<u32> = t.rrn.chars().filter_map(|c| c.to_digit(10)).collect();
            assert_eq!(t.rrn.len(), 14, "{}", t.rrn);
            assert_eq!(&t.rrn[6..7], "-");
            let first12: String = t.rrn.chars().filter(|c| *c != '-').take(12).collect();
            assert_eq!(rrn_check_digit(&first12), Some(digits[12]));
            // Birth date, century/sex digit and the RRN agree.
            let year: u32 = t.birth_date[..4].parse().expect("year");
            assert!((1940..=2005).contains(&year), "{t:?}");
            assert_eq!(&t.birth_date[2..4], &t.rrn[0..2]);
            assert_eq!(&t.birth_date[5..7], &t.rrn[2..4]);
            assert_eq!(&t.birth_date[8..10], &t.rrn[4..6]);
            let s = digits[6];
            let expected = match (year >= 2000, t.sex) {
                (false, 'M') => 1,
                (false, 'F') => 2,
                (true, 'M') => 3,
                (true, 'F') => 4,
                _ => panic!("sex {}", t.sex),
            };
            assert_eq!(s, expected, "{t:?}");
            let issue_year: u32 = t.issue_date[..4].parse().expect("issue year");
            assert!(issue_year >= year + 17 && issue_year <= 2025, "{t:?}");
            assert!(t.name.chars().count() == 3, "{t:?}");
            assert!(t.address.chars().count() > 8, "{t:?}");
            if doc == DocumentType::DriverLicence {
                let n = t.licence_number.as_deref().expect("licence number");
                let parts: Vec<&str> = n.split('-').collect();
                assert_eq!(
                    parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
                    [2, 2, 6, 2]
                );
                assert_eq!(parts[1], &t.issue_date[2..4]);
                assert!(t.licence_type.is_some() && t.renewal.is_some());
                assert!(t.issuer.ends_with("경찰청장"), "{t:?}");
            } else {
                assert!(t.licence_number.is_none() && t.renewal.is_none());
                assert!(
                    t.issuer.ends_with("청장")
                        || t.issuer.ends_with("시장")
                        || t.issuer.ends_with("군수"),
                    "{t:?}"
                );
            }
        }
    }
    // A known number: 900101-1234568 (Σ = 2·9+3·0+4·0+5·1+6·0+7·1+8·1+9·2+2·3+3·4+4·5+5·6
    // = 124, 124 mod 11 = 3, (11 − 3) mod 10 = 8).
    assert_eq!(rrn_check_digit("900101123456"), Some(8));
    assert!(rrn_is_valid("900101-1234568"));
    assert!(!rrn_is_valid("900101-1234567"));
    assert!(!rrn_is_valid("90010a-1234568"));
}

#[test]
fn truth_round_trips_through_json() {
    let t = sample(3, DocumentType::DriverLicence);
    let json = serde_json::to_string(&t).expect("serialize");
    let back: cardgen::CardTruth = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(t, back);
}

#[test]
fn card_is_canonical_size_with_text_and_photo_in_their_zones() {
    let face = obama();
    for (i, doc) in DOCS.into_iter().enumerate() {
        for (j, font) in FontChoice::ALL.into_iter().enumerate() {
            let truth = sample(100 + i as u64 * 10 + j as u64, doc);
            let style = Style { font, scale: 1.0 };
            let card = render_card(&truth, Some(&face), &style).expect("render");
            assert_eq!((card.cols(), card.rows()), (CARD_WIDTH, CARD_HEIGHT));
            assert_eq!(card.typ(), opencv::core::CV_8UC3);
            save(&format!("card_{doc:?}_{font:?}.png"), &card);

            // Text: many dark pixels in each text zone, none in empty stock between zones.
            for zone in layout(doc).iter().filter(|z| z.field != Field::Photo) {
                let (x, y, w, h) = zone.to_card_pixels();
                let mut dark = 0;
                for yy in y..y + h {
                    for xx in x..x + w {
                        let p = pixel(&card, xx, yy);
                        if p.iter().map(|v| u32::from(*v)).sum::<u32>() < 3 * 110 {
                            dark += 1;
                        }
                    }
                }
                assert!(
                    dark > (w * h) / 120,
                    "{doc:?} {font:?} {:?}: only {dark} ink pixels",
                    zone.field
                );
            }

            // Photo: the zone shows the photo (varied, skin-toned), not the card stock.
            let (x, y, w, h) = zone_of(doc, Field::Photo)
                .expect("photo zone")
                .to_card_pixels();
            let mut reddish = 0;
            let mut sum = 0u64;
            let mut sum2 = 0u64;
            for yy in y + 2..y + h - 2 {
                for xx in x + 2..x + w - 2 {
                    let [b, g, r] = pixel(&card, xx, yy);
                    if r > g && g > b && r > 90 {
                        reddish += 1;
                    }
                    let l = u64::from(b) + u64::from(g) + u64::from(r);
                    sum += l;
                    sum2 += l * l;
                }
            }
            let n = ((w - 4) * (h - 4)) as u64;
            let var = sum2 as f64 / n as f64 - (sum as f64 / n as f64).powi(2);
            assert!(reddish as u64 > n / 10, "{doc:?}: skin in the photo zone");
            assert!(var.sqrt() > 40.0, "{doc:?}: the photo has contrast");
        }
    }
    // Without a face there is still a card (with a silhouette).
    let card = render_card(
        &sample(1, DocumentType::DriverLicence),
        None,
        &Style::default(),
    )
    .expect("render");
    assert_eq!((card.cols(), card.rows()), (CARD_WIDTH, CARD_HEIGHT));
}

#[test]
fn name_zone_differs_from_background() {
    let truth = sample(11, DocumentType::ResidentRegistrationCard);
    let card = render_card(&truth, None, &Style::default()).expect("render");
    let (x, y, w, h) = zone_of(truth.doc, Field::Name)
        .expect("zone")
        .to_card_pixels();
    // Compare with the same rows just right of the name zone, before the photo: stock only.
    let mut differing = 0;
    for yy in y..y + h {
        for xx in x..x + w {
            let p = pixel(&card, xx, yy);
            let q = pixel(&card, 600, yy);
            let d: i32 = (0..3)
                .map(|c| (i32::from(p[c]) - i32::from(q[c])).abs())
                .sum();
            if d > 120 {
                differing += 1;
            }
        }
    }
    assert!(
        differing > 500,
        "only {differing} pixels of ink in the name zone"
    );
}

fn check_quad(q: &Quad, d: Degradation, mild: bool) {
    let area = quad_area(q) / frame_area();
    let inside = corners_inside(q, FRAME_WIDTH, FRAME_HEIGHT, 0.0);
    let dev = max_corner_deviation_deg(q);
    match d {
        Degradation::CornerCut => assert_eq!(inside, 3, "{d:?} mild={mild}: {q:?}"),
        Degradation::TooFar => {
            assert!(area < 0.15, "{d:?}: area {area}");
            assert_eq!(inside, 4);
        }
        Degradation::Tilt if !mild => {
            assert!(dev >= 20.0, "tilt: {dev}°");
            assert_eq!(inside, 4);
        }
        Degradation::Rotation => {
            let c = &q.corners;
            let angle = (c[1][1] - c[0][1])
                .atan2(c[1][0] - c[0][0])
                .to_degrees()
                .abs();
            if mild {
                assert!((4.0..=12.0).contains(&angle), "rotation {angle}");
            } else {
                assert!((20.0..=40.0).contains(&angle), "rotation {angle}");
            }
            assert_eq!(corners_inside(q, FRAME_WIDTH, FRAME_HEIGHT, 5.0), 4);
        }
        Degradation::Tilt => {
            assert!(dev < 12.0, "mild tilt {dev}°");
            assert_eq!(inside, 4);
        }
        _ => {
            assert_eq!(
                corners_inside(q, FRAME_WIDTH, FRAME_HEIGHT, 20.0),
                4,
                "{d:?}: {q:?}"
            );
            assert!(area > 0.25, "{d:?}: area {area}");
            assert!(dev < 6.0, "{d:?}: {dev}°");
        }
    }
}

#[test]
fn every_degradation_gives_a_frame_and_a_consistent_quad() {
    let face = obama();
    for d in Degradation::ALL {
        for mild in [false, true] {
            for seed in 0..4u64 {
                let doc = DOCS[(seed % 2) as usize];
                let s = cardgen::generate_with(seed, doc, Some(&face), d, mild).expect("generate");
                assert_eq!(
                    (s.frame.cols(), s.frame.rows()),
                    (FRAME_WIDTH, FRAME_HEIGHT)
                );
                assert_eq!((s.card.cols(), s.card.rows()), (CARD_WIDTH, CARD_HEIGHT));
                assert_eq!(s.degradation, d);
                check_quad(&s.quad, d, mild);
                if seed < 2 {
                    let kind = if mild { "mild" } else { "strong" };
                    save(&format!("frame_{d:?}_{kind}_{seed}.png"), &s.frame);
                }
            }
        }
    }
}

#[test]
fn poses_always_show_their_defect() {
    // The quality gate is held to ≥ 95 %: the poses themselves must be right every time.
    for d in Degradation::ALL {
        for mild in [false, true] {
            let (mut lo, mut hi) = (f32::MAX, f32::MIN);
            for seed in 0..2000u64 {
                let mut rng = SynthRng::new(seed);
                let q = Scene::for_degradation(d, mild, &mut rng).project();
                check_quad(&q, d, mild);
                let v = if d == Degradation::Tilt {
                    max_corner_deviation_deg(&q)
                } else {
                    quad_area(&q) / frame_area()
                };
                lo = lo.min(v);
                hi = hi.max(v);
            }
            eprintln!("{d:?} mild={mild}: {lo:.3}..{hi:.3}");
        }
    }
}

#[test]
fn photometric_defects_show_in_the_pixels() {
    fn mean_and_sharpness(m: &Mat, q: &Quad) -> (f64, f64, usize) {
        // Inside the card's bounding box shrunk to its middle.
        let xs = q.corners.map(|c| c[0]);
        let ys = q.corners.map(|c| c[1]);
        let (x0, x1) = (
            xs.iter().cloned().fold(f32::MAX, f32::min),
            xs.iter().cloned().fold(f32::MIN, f32::max),
        );
        let (y0, y1) = (
            ys.iter().cloned().fold(f32::MAX, f32::min),
            ys.iter().cloned().fold(f32::MIN, f32::max),
        );
        let (cx0, cx1) = ((x0 + (x1 - x0) * 0.2) as i32, (x1 - (x1 - x0) * 0.2) as i32);
        let (cy0, cy1) = ((y0 + (y1 - y0) * 0.2) as i32, (y1 - (y1 - y0) * 0.2) as i32);
        let (mut sum, mut grad, mut n, mut clipped) = (0.0, 0.0, 0.0, 0);
        for y in cy0..cy1 {
            for x in cx0..cx1 - 1 {
                let p = pixel(m, x, y);
                let q = pixel(m, x + 1, y);
                let r = pixel(m, x, y + 1);
                let l = f64::from(p[1]);
                sum += l;
                let (dx, dy) = (l - f64::from(q[1]), l - f64::from(r[1]));
                grad += dx * dx + dy * dy;
                n += 1.0;
                if p.iter().all(|v| *v >= 250) {
                    clipped += 1;
                }
            }
        }
        (sum / n, grad / n, clipped)
    }
    for seed in 0..4u64 {
        let doc = DOCS[(seed % 2) as usize];
        let clean = cardgen::generate(seed, doc, None, Degradation::Clean).expect("clean");
        let (mean, sharp, clip) = mean_and_sharpness(&clean.frame, &clean.quad);
        assert!(mean > 150.0, "clean is well lit: {mean}");
        assert!(clip < 200, "clean has no blown highlights: {clip}");
        for d in [Degradation::MotionBlur, Degradation::Defocus] {
            let s = cardgen::generate(seed, doc, None, d).expect("blur");
            let (_, blurred, _) = mean_and_sharpness(&s.frame, &s.quad);
            assert!(blurred < sharp * 0.3, "{d:?}: {blurred} vs clean {sharp}");
        }
        let dark = cardgen::generate(seed, doc, None, Degradation::LowLight).expect("dark");
        let (m, _, _) = mean_and_sharpness(&dark.frame, &dark.quad);
        assert!(m < 60.0, "low light mean {m}");
        let glare = cardgen::generate(seed, doc, None, Degradation::Glare).expect("glare");
        let (_, _, clipped) = mean_and_sharpness(&glare.frame, &glare.quad);
        assert!(clipped > 2000, "glare clips highlights: {clipped}");
    }
}

/// Writes clean frames of the first seeds to /tmp/synth for a person to look at:
/// `cargo test --release -p cardgen --test synth -- --ignored`.
#[test]
#[ignore]
fn dump_clean_frames() {
    for seed in 0..12u64 {
        let doc = DOCS[(seed % 2) as usize];
        let s = cardgen::generate(seed, doc, None, Degradation::Clean).expect("generate");
        save(&format!("clean_{seed}.png"), &s.frame);
    }
}

#[test]
fn generation_is_fast_enough_for_test_suites() {
    let t = std::time::Instant::now();
    for seed in 0..6u64 {
        cardgen::generate(seed, DOCS[(seed % 2) as usize], None, Degradation::Glare)
            .expect("generate");
    }
    let each = t.elapsed().as_secs_f64() / 6.0;
    eprintln!("generate: {:.0} ms per sample", each * 1000.0);
    assert!(each < 2.0, "{each} s per sample");
}
