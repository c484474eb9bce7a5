//! The 106 landmarks land on the face: on the real photos of `../shared/testdata/faces`, the
//! point nearest each of SCRFD's five (eyes, nose tip, mouth corners) is within 8 % of the
//! face's width and belongs to the group the liveness measures read it as. The model as loaded
//! (its PRelu layers rewritten, `vision::prelu`) gives the points the file on disk
//! gives.

use test_support::{faces_dir, models_dir, require};
use vision::face::detect::Detector;
use vision::face::engine::SCRFD_FILE;
use vision::face::scrfd::Scrfd;
use vision::liveness::landmarks::{
    LANDMARKS_FILE, LEFT_EYE, Landmarks, MOUTH, NOSE_TIP, RIGHT_EYE,
};
use vision::liveness::passive::FaceRect;
use vision::runtime::ORT_DYLIB_FILE;
use vision::{ImageLimits, RuntimeConfig, decode_image};

#[test]
fn the_points_nearest_scrfds_five_are_the_eyes_nose_and_mouth() {
    let cfg = RuntimeConfig::cpu(models_dir().join(ORT_DYLIB_FILE), 1);
    let mut scrfd = Scrfd::load(
        &cfg,
        &require(models_dir().join(SCRFD_FILE), "SCRFD"),
        640,
        0.5,
    )
    .expect("SCRFD loads");
    let mut marks = Landmarks::load(
        &cfg,
        &require(models_dir().join(LANDMARKS_FILE), "the 106-point model"),
    )
    .expect("the landmark model loads");
    let on_disk = RuntimeConfig {
        keep_prelu: true,
        ..cfg.clone()
    };
    let mut unchanged = Landmarks::load(&on_disk, &models_dir().join(LANDMARKS_FILE))
        .expect("the landmark model loads as it is on disk");
    let mut photos: Vec<_> = std::fs::read_dir(faces_dir())
        .expect("the faces folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    assert!(
        photos.len() >= 20,
        "too few face photos in {}",
        faces_dir().display()
    );
    let mut nearest: Vec<[usize; 5]> = Vec::new();
    for p in &photos {
        let img = decode_image(&std::fs::read(p).expect("readable"), ImageLimits::default())
            .expect("decodable")
            .mat;
        let Some(f) = scrfd
            .detect(&img)
            .expect("detected")
            .into_iter()
            .max_by(|a, b| a.area().total_cmp(&b.area()))
        else {
            continue;
        };
        let rect = FaceRect {
            x: f.x,
            y: f.y,
            width: f.width,
            height: f.height,
        };
        let pts = marks.points(&img, rect).expect("landmarks");
        let reference = unchanged.points(&img, rect).expect("landmarks");
        let moved = pts
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a[0] - b[0]).hypot(a[1] - b[1]))
            .fold(0f32, f32::max);
        assert!(
            moved < 0.01,
            "{}: the rewritten model moved a point by {moved} px",
            p.display()
        );
        let mut idx = [0usize; 5];
        for (k, lm) in f.landmarks.iter().enumerate() {
            let d = |q: &[f32; 2]| (q[0] - lm[0]).hypot(q[1] - lm[1]);
            let (i, q) = pts
                .iter()
                .enumerate()
                .min_by(|a, b| d(a.1).total_cmp(&d(b.1)))
                .expect("106 points");
            assert!(
                d(q) < 0.08 * f.width,
                "{}: point {k} of SCRFD is {:.1} px from the nearest landmark ({i})",
                p.display(),
                d(q)
            );
            idx[k] = i;
        }
        let groups = [
            LEFT_EYE.contains(&idx[0]),
            RIGHT_EYE.contains(&idx[1]),
            idx[2] == NOSE_TIP,
            MOUTH.contains(&idx[3]),
            MOUTH.contains(&idx[4]),
        ];
        assert!(
            groups.iter().all(|&g| g),
            "{}: nearest points {idx:?}",
            p.display()
        );
        nearest.push(idx);
    }
    assert!(nearest.len() >= 20, "SCRFD found too few faces");
}
