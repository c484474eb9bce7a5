//! What the 106 landmarks say about one frame's head and eyes: the head's turn (yaw) and tilt
//! (pitch) as ratios that do not depend on the face's size or roll, and each eye's opening.
//! Pure geometry; the series over a clip is judged by the liveness checks.

use super::landmarks::{LEFT_EYE, MOUTH, NOSE_TIP, Points, RIGHT_EYE};
use serde::Serialize;

/// The head and eyes in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FaceMotion {
    /// The nose tip's offset from the eyes' midpoint along the eye line, in interocular
    /// distances: 0 facing the camera, positive when the person turns to their left (the nose
    /// moves to the image's right in an unmirrored video).
    pub yaw: f32,
    /// The nose tip's height between the eyes' line (0) and the mouth's (1): smaller when the
    /// person looks up.
    pub pitch: f32,
    /// The head's roll, degrees (the eye line against the horizontal).
    pub roll_deg: f32,
    /// Each eye's height over its width (image left eye, image right eye).
    pub eye_opening: [f32; 2],
}

fn mean(points: &Points, idx: impl Iterator<Item = usize>) -> [f32; 2] {
    let (mut x, mut y, mut n) = (0f32, 0f32, 0f32);
    for i in idx {
        x += points[i][0];
        y += points[i][1];
        n += 1.0;
    }
    [x / n.max(1.0), y / n.max(1.0)]
}

/// The eye's extent across over along `axis` (a unit vector along the eye line).
fn opening(points: &Points, eye: std::ops::RangeInclusive<usize>, axis: [f32; 2]) -> f32 {
    let (mut lo_a, mut hi_a, mut lo_c, mut hi_c) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
    for i in eye {
        let [x, y] = points[i];
        let along = x * axis[0] + y * axis[1];
        let across = -x * axis[1] + y * axis[0];
        lo_a = lo_a.min(along);
        hi_a = hi_a.max(along);
        lo_c = lo_c.min(across);
        hi_c = hi_c.max(across);
    }
    let width = hi_a - lo_a;
    if width > 0.0 {
        (hi_c - lo_c) / width
    } else {
        0.0
    }
}

/// The head and eyes of one face's landmarks.
pub fn face_motion(points: &Points) -> FaceMotion {
    let (l, r) = (mean(points, LEFT_EYE), mean(points, RIGHT_EYE));
    let (dx, dy) = (r[0] - l[0], r[1] - l[1]);
    let d = dx.hypot(dy).max(1e-3);
    let axis = [dx / d, dy / d];
    let mid = [(l[0] + r[0]) / 2.0, (l[1] + r[1]) / 2.0];
    let nose = points[NOSE_TIP];
    let mouth = mean(points, [*MOUTH.start(), 61].into_iter());
    // Coordinates along the eye line and across it (down the face), from the eyes' midpoint.
    let frame = |p: [f32; 2]| {
        let (x, y) = (p[0] - mid[0], p[1] - mid[1]);
        (x * axis[0] + y * axis[1], -x * axis[1] + y * axis[0])
    };
    let (nose_along, nose_down) = frame(nose);
    let (_, mouth_down) = frame(mouth);
    FaceMotion {
        yaw: nose_along / d,
        pitch: if mouth_down > 0.0 {
            nose_down / mouth_down
        } else {
            0.0
        },
        roll_deg: dy.atan2(dx).to_degrees(),
        eye_opening: [
            opening(points, LEFT_EYE, axis),
            opening(points, RIGHT_EYE, axis),
        ],
    }
}
