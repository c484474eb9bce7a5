//! The ID capture quality gate and card rectification on generated camera frames: clean cards
//! pass, each kind of bad frame is caught by the check that should catch it, and the rectified
//! card matches the card that was photographed.

use cardgen::{
    Degradation, FRAME_HEIGHT, FRAME_WIDTH, caught_by_right_check, corners_inside, generate,
};
use opencv::core::{self, Mat, MatTraitConst, Point, Point2f, Rect, Scalar, Size, Vector};
use opencv::imgproc;
use std::time::Instant;
use vision::card::DocumentType;
use vision::card::detect::detect_card;
use vision::card::rectify::{photo_region, rectify};
use vision::card::{CARD_HEIGHT, CARD_WIDTH, Quad};
use vision::quality::{COMPLETENESS_MARGIN, QualityReport, assess};

/// The tests' deterministic generator: every run sees the same scenes.
use test_support::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Clean,
    Blur,
    Glare,
    LowLight,
    Tilt,
    Rotation,
    CornerCut,
    TooFar,
}

/// A canonical 856×540 card: light ground, a photo box, lines of dark "text" strokes.
fn own_card(rng: &mut Rng) -> Mat {
    let ground = Scalar::new(
        rng.range(215.0, 240.0) as f64,
        rng.range(215.0, 240.0) as f64,
        rng.range(215.0, 240.0) as f64,
        0.0,
    );
    let mut card =
        Mat::new_rows_cols_with_default(CARD_HEIGHT, CARD_WIDTH, core::CV_8UC3, ground).unwrap();
    imgproc::rectangle(
        &mut card,
        Rect::new(50, 140, 220, 300),
        Scalar::new(120.0, 110.0, 100.0, 0.0),
        -1,
        imgproc::LINE_8,
        0,
    )
    .unwrap();
    imgproc::circle(
        &mut card,
        Point::new(160, 250),
        60,
        Scalar::new(170.0, 180.0, 200.0, 0.0),
        -1,
        imgproc::LINE_AA,
        0,
    )
    .unwrap();
    for line in 0..8 {
        let y = 60 + line * 55;
        let mut x = if line == 0 { 60 } else { 320 };
        while x < 800 {
            let w = rng.range(8.0, 30.0) as i32;
            let thick = rng.range(2.0, 5.0) as i32;
            imgproc::rectangle(
                &mut card,
                Rect::new(x, y, w, 26),
                Scalar::new(40.0, 40.0, 45.0, 0.0),
                thick,
                imgproc::LINE_AA,
                0,
            )
            .unwrap();
            x += w + rng.range(4.0, 20.0) as i32;
        }
    }
    card
}

/// A textured 1280×720 background.
fn background(rng: &mut Rng) -> Mat {
    let mut noise =
        Mat::new_rows_cols_with_default(90, 160, core::CV_8UC3, Scalar::all(0.0)).unwrap();
    let base = rng.range(60.0, 140.0) as f64;
    core::randu(
        &mut noise,
        &Scalar::all(base - 40.0),
        &Scalar::all(base + 40.0),
    )
    .unwrap();
    let mut bg = Mat::default();
    imgproc::resize(
        &noise,
        &mut bg,
        Size::new(1280, 720),
        0.0,
        0.0,
        imgproc::INTER_CUBIC,
    )
    .unwrap();
    bg
}

fn rot(p: [f32; 2], c: [f32; 2], deg: f32) -> [f32; 2] {
    let (s, co) = deg.to_radians().sin_cos();
    let (x, y) = (p[0] - c[0], p[1] - c[1]);
    [c[0] + x * co - y * s, c[1] + x * s + y * co]
}

/// Places the card on the background through `quad` (TL, TR, BR, BL).
fn compose(card: &Mat, bg: &Mat, quad: &Quad) -> Mat {
    let src: Vector<Point2f> = [[0.0, 0.0], [856.0, 0.0], [856.0, 540.0], [0.0, 540.0]]
        .iter()
        .map(|p| Point2f::new(p[0], p[1]))
        .collect();
    let dst: Vector<Point2f> = quad
        .corners
        .iter()
        .map(|p| Point2f::new(p[0], p[1]))
        .collect();
    let m = imgproc::get_perspective_transform(&src, &dst, core::DECOMP_LU).unwrap();
    let mut warped = Mat::default();
    imgproc::warp_perspective(
        card,
        &mut warped,
        &m,
        bg.size().unwrap(),
        imgproc::INTER_LINEAR,
        core::BORDER_CONSTANT,
        Scalar::all(0.0),
    )
    .unwrap();
    let white =
        Mat::new_rows_cols_with_default(540, 856, core::CV_8UC1, Scalar::all(255.0)).unwrap();
    let mut mask = Mat::default();
    imgproc::warp_perspective(
        &white,
        &mut mask,
        &m,
        bg.size().unwrap(),
        imgproc::INTER_LINEAR,
        core::BORDER_CONSTANT,
        Scalar::all(0.0),
    )
    .unwrap();
    let mut out = bg.clone();
    warped.copy_to_masked(&mut out, &mask).unwrap();
    out
}

/// One own scene: (frame, true quad, canonical card).
fn own_scene(seed: u64, kind: Kind) -> (Mat, Quad, Mat) {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let card = own_card(&mut rng);
    let bg = background(&mut rng);
    let mut cw = rng.range(700.0, 860.0);
    if kind == Kind::TooFar {
        cw = rng.range(300.0, 400.0);
    }
    if kind == Kind::Rotation {
        // Small enough that the turned card stays inside the frame.
        cw = rng.range(520.0, 600.0);
    }
    let ch = cw / 1.585;
    let c = [
        640.0 + rng.range(-40.0, 40.0),
        360.0 + rng.range(-30.0, 30.0),
    ];
    let mut q = [
        [c[0] - cw / 2.0, c[1] - ch / 2.0],
        [c[0] + cw / 2.0, c[1] - ch / 2.0],
        [c[0] + cw / 2.0, c[1] + ch / 2.0],
        [c[0] - cw / 2.0, c[1] + ch / 2.0],
    ];
    let mut angle = rng.range(-4.0, 4.0);
    match kind {
        Kind::Rotation => {
            angle = rng.range(20.0, 40.0) * if rng.range(0.0, 1.0) < 0.5 { -1.0 } else { 1.0 }
        }
        Kind::Tilt => {
            // The top edge recedes: shorter and lower.
            let k = rng.range(0.14, 0.22) * cw;
            q[0][0] += k;
            q[1][0] -= k;
            q[0][1] += 0.3 * ch;
            q[1][1] += 0.3 * ch;
        }
        Kind::CornerCut => {
            angle = rng.range(7.0, 9.0) * if rng.range(0.0, 1.0) < 0.5 { -1.0 } else { 1.0 }
        }
        _ => {}
    }
    let mut q = q.map(|p| rot(p, c, angle));
    if kind == Kind::CornerCut {
        // Only the leftmost corner leaves the frame.
        let dx = q.iter().map(|p| p[0]).fold(f32::INFINITY, f32::min) + rng.range(20.0, 40.0);
        for p in q.iter_mut() {
            p[0] -= dx;
        }
    }
    let quad = Quad { corners: q };
    let mut frame = compose(&card, &bg, &quad);
    match kind {
        Kind::Blur => {
            let mut b = Mat::default();
            let s = rng.range(3.0, 5.0) as f64;
            imgproc::gaussian_blur(
                &frame,
                &mut b,
                Size::new(0, 0),
                s,
                s,
                core::BORDER_REPLICATE,
            )
            .unwrap();
            frame = b;
        }
        Kind::Glare => {
            let mut over =
                Mat::new_rows_cols_with_default(720, 1280, core::CV_8UC3, Scalar::all(0.0))
                    .unwrap();
            let p = Point::new(
                (c[0] + rng.range(-150.0, 150.0)) as i32,
                (c[1] + rng.range(-80.0, 80.0)) as i32,
            );
            imgproc::ellipse(
                &mut over,
                p,
                Size::new(rng.range(70.0, 120.0) as i32, rng.range(50.0, 80.0) as i32),
                0.0,
                0.0,
                360.0,
                Scalar::all(255.0),
                -1,
                imgproc::LINE_AA,
                0,
            )
            .unwrap();
            let mut ob = Mat::default();
            imgproc::gaussian_blur(
                &over,
                &mut ob,
                Size::new(0, 0),
                15.0,
                15.0,
                core::BORDER_REPLICATE,
            )
            .unwrap();
            let mut out = Mat::default();
            core::add(&frame, &ob, &mut out, &core::no_array(), -1).unwrap();
            frame = out;
        }
        Kind::LowLight => {
            let mut out = Mat::default();
            frame
                .convert_to(&mut out, -1, rng.range(0.18, 0.28) as f64, 0.0)
                .unwrap();
            frame = out;
        }
        _ => {}
    }
    (frame, quad, card)
}

fn mad(a: &Mat, b: &Mat) -> f64 {
    let mut d = Mat::default();
    core::absdiff(a, b, &mut d).unwrap();
    let m = core::mean(&d, &core::no_array()).unwrap();
    (m[0] + m[1] + m[2]) / 3.0
}

fn caught(r: &QualityReport, kind: Kind) -> bool {
    let c = &r.checks;
    match kind {
        Kind::Clean => r.passed,
        Kind::Blur => !c.sharpness.passed,
        Kind::Glare | Kind::LowLight => !c.lighting.passed,
        Kind::Tilt | Kind::Rotation => !c.angle.passed,
        Kind::CornerCut | Kind::TooFar => !c.completeness.passed,
    }
}

const SEEDS: u64 = 40;

/// Min / median / max of each measurement over a set of frames (for tuning the thresholds).
fn print_stats<K: std::fmt::Debug>(kind: K, all: &[vision::quality::Metrics]) {
    let stat = |name: &str, f: &dyn Fn(&vision::quality::Metrics) -> f32| {
        let mut v: Vec<f32> = all.iter().filter(|m| m.card_found).map(f).collect();
        if v.is_empty() {
            return format!("{name} -");
        }
        v.sort_by(|a, b| a.total_cmp(b));
        format!(
            "{name} {:.3}/{:.3}/{:.3}",
            v[0],
            v[v.len() / 2],
            v[v.len() - 1]
        )
    };
    let found = all.iter().filter(|m| m.card_found).count();
    println!(
        "  {kind:?}: found {found}/{}; {}; {}; {}; {}; {}; {}; {}; {}; {}; {}; {}",
        all.len(),
        stat("sharp", &|m| m.sharpness),
        stat("lapvar", &|m| m.laplacian_variance),
        stat("bright", &|m| m.brightness),
        stat("contrast", &|m| m.contrast),
        stat("even", &|m| m.evenness),
        stat("glare", &|m| m.glare),
        stat("cornerdev", &|m| m.corner_deviation_deg),
        stat("sides", &|m| m.side_ratio),
        stat("aspect", &|m| m.aspect_error),
        stat("rot", &|m| m.rotation_deg.abs()),
        stat("area", &|m| m.area_fraction),
    );
}

#[test]
fn own_scenes_are_judged_by_the_right_check() {
    let kinds = [
        Kind::Clean,
        Kind::Blur,
        Kind::Glare,
        Kind::LowLight,
        Kind::Tilt,
        Kind::Rotation,
        Kind::CornerCut,
        Kind::TooFar,
    ];
    let mut failures = Vec::new();
    for kind in kinds {
        let mut hits = 0;
        let mut all = Vec::new();
        for seed in 0..SEEDS {
            let (frame, _, _) = own_scene(seed, kind);
            let r = assess(&frame).unwrap();
            all.push(r.metrics.clone());
            if caught(&r, kind) {
                hits += 1;
            } else if std::env::var("QUALITY_DEBUG").is_ok() {
                eprintln!(
                    "{kind:?} seed {seed}: {:?}\n  {:?}",
                    r.metrics,
                    r.checks.guidance()
                );
            }
        }
        let rate = hits as f64 / SEEDS as f64;
        print_stats(kind, &all);
        println!("own scenes {kind:?}: {:.0} % caught/passed", rate * 100.0);
        if rate < 0.95 {
            failures.push(format!("{kind:?} {:.0} %", rate * 100.0));
        }
    }
    assert!(failures.is_empty(), "below 95 %: {failures:?}");
}

#[test]
fn own_scenes_rectify_back_to_the_card() {
    for seed in 0..10 {
        let (frame, truth, card) = own_scene(seed, Kind::Clean);
        let r = rectify(&frame, &truth).unwrap();
        assert_eq!((r.cols(), r.rows()), (CARD_WIDTH, CARD_HEIGHT));
        let d_true = mad(&r, &card);
        let det = detect_card(&frame).unwrap().expect("card found");
        let r2 = rectify(&frame, &det.quad).unwrap();
        let d_det = mad(&r2, &card);
        let err = det
            .quad
            .corners
            .iter()
            .zip(truth.corners.iter())
            .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
            .fold(0.0f32, f32::max);
        println!(
            "seed {seed}: MAD true quad {d_true:.1}, detected quad {d_det:.1}, corner error {err:.1} px"
        );
        assert!(d_true < 8.0, "{d_true}");
        assert!(d_det < 12.0, "{d_det}");
        assert!(err < 6.0, "{err}");
    }
}

#[test]
fn a_frame_without_a_card_fails_completeness() {
    let mut rng = Rng::new(77);
    let bg = background(&mut rng);
    let r = assess(&bg).unwrap();
    assert!(!r.passed);
    println!("{:?}", r.quad);
    assert!(r.quad.is_none());
    assert!(!r.checks.completeness.passed);
    assert_eq!(
        r.checks.completeness.message.en,
        "Place the card inside the frame"
    );
    assert_eq!(
        r.checks.completeness.message.ko,
        "카드를 화면 안에 놓아 주세요"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["checks"]["completeness"]["passed"], false);
    assert!(json["checks"]["sharpness"]["score"].is_number());
}

#[test]
fn a_cut_corner_is_reported() {
    let mut three = 0;
    for seed in 0..SEEDS {
        let (frame, truth, _) = own_scene(seed, Kind::CornerCut);
        let outside = truth.corners.iter().filter(|p| p[0] < 0.0).count();
        assert_eq!(outside, 1);
        if let Some(det) = detect_card(&frame).unwrap()
            && det.corners_inside == 3
        {
            three += 1;
        }
    }
    println!("own scenes CornerCut: 3 corners reported in {three}/{SEEDS}");
    assert!(three as f64 >= 0.7 * SEEDS as f64, "{three}/{SEEDS}");
}

// ---- The synthetic Korean ID cards of the `cardgen` crate ----

/// Writes a frame with the found outline drawn to /tmp/quality-debug (debugging aid).
fn dump(frame: &Mat, quad: Option<&Quad>, name: &str) {
    let mut f = frame.clone();
    if let Some(q) = quad {
        let pts: Vector<Point> = q
            .corners
            .iter()
            .map(|p| Point::new(p[0] as i32, p[1] as i32))
            .collect();
        let mut v = Vector::<Vector<Point>>::new();
        v.push(pts);
        imgproc::polylines(
            &mut f,
            &v,
            true,
            Scalar::new(0.0, 0.0, 255.0, 0.0),
            3,
            imgproc::LINE_8,
            0,
        )
        .unwrap();
    }
    let mut small = Mat::default();
    imgproc::resize(
        &f,
        &mut small,
        Size::new(640, 360),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )
    .unwrap();
    let f = small;
    let _ = std::fs::create_dir_all("/tmp/quality-debug");
    let _ =
        opencv::imgcodecs::imwrite(format!("/tmp/quality-debug/{name}.png"), &f, &Vector::new());
}

fn doc_for(seed: u64) -> DocumentType {
    if seed.is_multiple_of(2) {
        DocumentType::ResidentRegistrationCard
    } else {
        DocumentType::DriverLicence
    }
}

const DEGRADATIONS: [Degradation; 9] = [
    Degradation::Clean,
    Degradation::MotionBlur,
    Degradation::Defocus,
    Degradation::Glare,
    Degradation::LowLight,
    Degradation::Tilt,
    Degradation::Rotation,
    Degradation::CornerCut,
    Degradation::TooFar,
];

#[test]
fn synth_cards_are_judged_by_the_right_check() {
    let mut failures = Vec::new();
    let mut times = Vec::new();
    for d in DEGRADATIONS {
        let (mut hits, mut only) = (0, 0);
        let mut all = Vec::new();
        for seed in 0..SEEDS {
            let s = generate(seed, doc_for(seed), None, d).unwrap();
            let t = Instant::now();
            let r = assess(&s.frame).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            all.push(r.metrics.clone());
            let ok = caught_by_right_check(&r, d);
            if ok {
                hits += 1;
                // Caught by the right check alone (or, for clean cards, passed).
                if d == Degradation::Clean || r.checks.guidance().len() == 1 {
                    only += 1;
                }
            } else if std::env::var("QUALITY_DEBUG").is_ok() {
                eprintln!(
                    "{d:?} seed {seed}: {:?}\n  {:?}",
                    r.metrics,
                    r.checks.guidance()
                );
                dump(&s.frame, r.quad.as_ref(), &format!("{d:?}_{seed}"));
            }
        }
        let rate = hits as f64 / SEEDS as f64;
        println!(
            "synth {d:?}: {:.0} % caught by the right check ({:.0} % by it alone)",
            rate * 100.0,
            only as f64 / SEEDS as f64 * 100.0
        );
        print_stats(d, &all);
        if rate < 0.95 {
            failures.push(format!("{d:?} {:.0} %", rate * 100.0));
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!(
        "assess on 1280×720 synth frames: median {:.2} ms, p90 {:.2} ms over {}",
        times[times.len() / 2],
        times[times.len() * 9 / 10],
        times.len()
    );
    assert!(failures.is_empty(), "below 95 %: {failures:?}");
}

/// Mean absolute difference of two images' gray levels after each is brought to zero mean and
/// unit spread (the camera's exposure and white balance drop out), in hundredths of a spread.
fn normalised_mad(a: &Mat, b: &Mat) -> f64 {
    let norm = |m: &Mat| {
        let mut g = Mat::default();
        imgproc::cvt_color(m, &mut g, imgproc::COLOR_BGR2GRAY, 0).unwrap();
        let mut mean = Scalar::default();
        let mut std = Scalar::default();
        core::mean_std_dev(&g, &mut mean, &mut std, &core::no_array()).unwrap();
        let mut f = Mat::default();
        g.convert_to(
            &mut f,
            core::CV_32F,
            100.0 / std[0].max(1.0),
            -100.0 * mean[0] / std[0].max(1.0),
        )
        .unwrap();
        f
    };
    let mut d = Mat::default();
    core::absdiff(&norm(a), &norm(b), &mut d).unwrap();
    core::mean(&d, &core::no_array()).unwrap()[0]
}

#[test]
fn synth_cards_rectify_back_to_the_card() {
    let (mut worst_true, mut worst_det) = (0.0f64, 0.0f64);
    let mut corner_errors = Vec::new();
    for seed in 0..12 {
        let s = generate(seed, doc_for(seed), None, Degradation::Clean).unwrap();
        let r = rectify(&s.frame, &s.quad).unwrap();
        assert_eq!((r.cols(), r.rows()), (CARD_WIDTH, CARD_HEIGHT));
        let det = detect_card(&s.frame).unwrap().expect("card found");
        assert_eq!(det.corners_inside, 4);
        let r_det = rectify(&s.frame, &det.quad).unwrap();
        let err = det
            .quad
            .corners
            .iter()
            .zip(s.quad.corners.iter())
            .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
            .fold(0.0f32, f32::max);
        if std::env::var("QUALITY_DEBUG").is_ok() {
            eprintln!(
                "seed {seed}: corner error {err:.1}: {:?} vs {:?}",
                det.quad, s.quad
            );
            dump(&s.frame, Some(&det.quad), &format!("rectify_{seed}"));
            let _ = opencv::imgcodecs::imwrite(
                format!("/tmp/quality-debug/frame_{seed}.png"),
                &s.frame,
                &Vector::new(),
            );
        }
        worst_true = worst_true.max(normalised_mad(&r, &s.card));
        worst_det = worst_det.max(normalised_mad(&r_det, &s.card));
        corner_errors.push(err);
        let photo = photo_region(&r, doc_for(seed)).unwrap();
        assert!(
            photo.cols() > 150 && photo.rows() > 200,
            "{:?}",
            photo.size()
        );
    }
    corner_errors.sort_by(|a, b| a.total_cmp(b));
    let median_corner = corner_errors[corner_errors.len() / 2];
    let worst_corner = corner_errors[corner_errors.len() - 1];
    println!(
        "synth rectify: worst normalised MAD vs the clean card {worst_true:.1} (true quad), {worst_det:.1} (detected quad); corner error median {median_corner:.1} px, worst {worst_corner:.1} px"
    );
    assert!(worst_true < 25.0, "{worst_true}");
    assert!(worst_det < 50.0, "{worst_det}");
    assert!(median_corner < 3.0, "{corner_errors:?}");
    assert!(worst_corner < 30.0, "{corner_errors:?}");
}

/// A card with one corner outside the frame is reported with three corners inside on most
/// frames (27 of 40 when this was written); on the others the detector finds no card or an
/// outline touching the frame's edge, which the completeness check catches too. It never reports
/// a cut card as whole: four corners clear of the edges by the completeness margin.
#[test]
fn synth_cut_corner_reports_three_corners() {
    let margin = COMPLETENESS_MARGIN * FRAME_HEIGHT as f32;
    let mut three = 0;
    let mut whole = Vec::new();
    for seed in 0..SEEDS {
        let s = generate(seed, doc_for(seed), None, Degradation::CornerCut).unwrap();
        assert_eq!(
            corners_inside(&s.quad, FRAME_WIDTH, FRAME_HEIGHT, 0.0),
            3,
            "seed {seed}: {:?}",
            s.quad
        );
        match detect_card(&s.frame).unwrap() {
            Some(det) if det.corners_inside == 3 => three += 1,
            Some(det) if corners_inside(&det.quad, FRAME_WIDTH, FRAME_HEIGHT, margin) == 4 => {
                whole.push(seed)
            }
            _ => {}
        }
    }
    println!("synth CornerCut: 3 corners reported in {three}/{SEEDS}");
    assert!(
        whole.is_empty(),
        "cut cards reported whole: seeds {whole:?}"
    );
    assert!(three as f64 >= 0.6 * SEEDS as f64, "{three}/{SEEDS}");
}

/// Issue 12: on cards of the second generator with real face photos (the photo used to halve
/// the sharpness measure), on held-out seeds never tuned on: at least 39 of 40 clean cards
/// pass and at least 39 of 40 captures of each defect are refused by the check that should
/// refuse them. `kyc bench cards --varied` measures the same on 400 cards.
#[test]
fn varied_cards_with_real_photos_are_judged_by_the_right_check() {
    let dir = test_support::faces_dir();
    let faces: Vec<Mat> = (1..=25)
        .map(|i| {
            let p = dir.join(format!("img{i}.jpg"));
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            vision::decode_image(&bytes, vision::ImageLimits::default())
                .expect("photo decodes")
                .mat
        })
        .collect();
    let mut tally = cardgen::GateTally::default();
    for seed in 2_000_000..2_000_040u64 {
        let face = &faces[seed as usize % faces.len()];
        for d in DEGRADATIONS {
            let s = cardgen::generate_varied(seed, doc_for(seed), Some(face), d, false)
                .expect("varied card");
            tally.add(d, &assess(&s.frame).expect("assess"));
        }
    }
    let mut failures = Vec::new();
    for row in tally.rows() {
        eprintln!(
            "{:?}: {}/{} judged by the right check (refused by {:?})",
            row.kind, row.right, row.captures, row.failed
        );
        if row.right < 39 {
            failures.push(format!("{:?} {}/{}", row.kind, row.right, row.captures));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}
