//! The four verdicts of the quality gate, each from the frame's measurements against named
//! thresholds (tuned on the synthetic cards of the `cardgen` test crate), with the guidance a
//! person sees.

use super::metrics::Metrics;
use super::{CheckResult, Message};

/// Smallest sharpness of a readable card (second-derivative variance over gray variance where
/// the card has print, see `metrics::region_sharpness`). Set on the tuning seeds 0–39 of the
/// card generator with real face photos on the cards: clean cards 10.3–20.6, strongly blurred
/// ones (motion or defocus) at most 1.3, mildly blurred ones 1.6–8.6.
pub const SHARPNESS_MIN: f32 = 4.0;
/// Mean gray level of the card must lie between these.
pub const LIGHTING_MIN_BRIGHTNESS: f32 = 80.0;
pub const LIGHTING_MAX_BRIGHTNESS: f32 = 235.0;
/// Smallest standard deviation of the card's gray levels (print must stand out).
pub const LIGHTING_MIN_CONTRAST: f32 = 12.0;
/// Smallest darkest/brightest ratio of the card's background light.
pub const LIGHTING_MIN_EVENNESS: f32 = 0.6;
/// Largest share of clipped highlights on the card.
pub const LIGHTING_MAX_GLARE: f32 = 0.04;
/// Largest difference of a corner angle from 90°.
pub const ANGLE_MAX_CORNER_DEVIATION_DEG: f32 = 10.0;
/// Smallest shorter/longer ratio of opposite sides.
pub const ANGLE_MIN_SIDE_RATIO: f32 = 0.88;
/// Largest |ln(aspect / 1.585)|.
pub const ANGLE_MAX_ASPECT_ERROR: f32 = 0.12;
/// Largest in-plane rotation (the card must be held straight).
pub const ANGLE_MAX_ROTATION_DEG: f32 = 10.0;
/// Smallest card area as a share of the frame.
pub const COMPLETENESS_MIN_AREA: f32 = 0.20;
/// Largest card area as a share of the frame (closer and the edges are lost).
pub const COMPLETENESS_MAX_AREA: f32 = 0.92;
/// Smallest distance of every corner from the frame border, as a share of the shorter side.
pub const COMPLETENESS_MARGIN: f32 = 0.01;

/// Score of a measurement `v` that passes at `limit`: 0.5 at the limit, 1 at `best`, 0 at the
/// mirror of `best` about the limit; clamped.
fn score(v: f32, limit: f32, best: f32) -> f32 {
    let span = best - limit;
    if span == 0.0 || !v.is_finite() {
        return 0.0;
    }
    (0.5 + 0.5 * (v - limit) / span).clamp(0.0, 1.0)
}

fn result(score: f32, passed: bool, message: Message) -> CheckResult {
    CheckResult {
        score: if passed {
            score.max(0.5)
        } else {
            score.min(0.49)
        },
        passed,
        message,
    }
}

pub(crate) fn sharpness(m: &Metrics) -> CheckResult {
    let s = score(m.sharpness, SHARPNESS_MIN, SHARPNESS_MIN * 3.0);
    let passed = m.sharpness >= SHARPNESS_MIN;
    let message = if passed {
        Message::new("선명합니다", "Sharp")
    } else {
        Message::new(
            "카드가 흐립니다. 움직이지 말고 초점을 맞춰 주세요",
            "Hold still — the card is blurry",
        )
    };
    result(s, passed, message)
}

pub(crate) fn lighting(m: &Metrics) -> CheckResult {
    let scores = [
        score(m.brightness, LIGHTING_MIN_BRIGHTNESS, 160.0),
        score(-m.brightness, -LIGHTING_MAX_BRIGHTNESS, -160.0),
        score(
            m.contrast,
            LIGHTING_MIN_CONTRAST,
            LIGHTING_MIN_CONTRAST * 2.5,
        ),
        score(m.evenness, LIGHTING_MIN_EVENNESS, 1.0),
        score(-m.glare, -LIGHTING_MAX_GLARE, 0.0),
    ];
    let s = scores.iter().copied().fold(1.0, f32::min);
    let message = if m.glare > LIGHTING_MAX_GLARE {
        Message::new(
            "빛 반사가 있습니다. 카드를 빛에서 비스듬히 돌려 주세요",
            "Tilt the card away from the light — there is glare",
        )
    } else if m.brightness < LIGHTING_MIN_BRIGHTNESS || m.contrast < LIGHTING_MIN_CONTRAST {
        Message::new(
            "너무 어둡습니다. 더 밝은 곳으로 이동해 주세요",
            "Too dark — move somewhere brighter",
        )
    } else if m.brightness > LIGHTING_MAX_BRIGHTNESS {
        Message::new(
            "너무 밝습니다. 조명을 줄여 주세요",
            "Too bright — move out of the direct light",
        )
    } else if m.evenness < LIGHTING_MIN_EVENNESS {
        Message::new(
            "조명이 고르지 않습니다. 그림자가 지지 않게 해 주세요",
            "Uneven light — keep shadows off the card",
        )
    } else {
        return result(s, true, Message::new("조명이 적절합니다", "Good lighting"));
    };
    result(s, false, message)
}

pub(crate) fn angle(m: &Metrics) -> CheckResult {
    if !m.card_found {
        return result(
            0.0,
            false,
            Message::new(
                "카드를 찾을 수 없어 각도를 확인할 수 없습니다",
                "No card found to check its angle",
            ),
        );
    }
    let rot = score(-m.rotation_deg.abs(), -ANGLE_MAX_ROTATION_DEG, 0.0);
    let persp = [
        score(
            -m.corner_deviation_deg,
            -ANGLE_MAX_CORNER_DEVIATION_DEG,
            0.0,
        ),
        score(m.side_ratio, ANGLE_MIN_SIDE_RATIO, 1.0),
        score(-m.aspect_error, -ANGLE_MAX_ASPECT_ERROR, 0.0),
    ]
    .into_iter()
    .fold(1.0, f32::min);
    let s = rot.min(persp);
    let tilted = m.corner_deviation_deg > ANGLE_MAX_CORNER_DEVIATION_DEG
        || m.side_ratio < ANGLE_MIN_SIDE_RATIO
        || m.aspect_error > ANGLE_MAX_ASPECT_ERROR;
    if tilted {
        result(
            s,
            false,
            Message::new(
                "카드를 기울이지 말고 카메라와 평행하게 들어 주세요",
                "Hold the card flat, facing the camera",
            ),
        )
    } else if m.rotation_deg.abs() > ANGLE_MAX_ROTATION_DEG {
        result(
            s,
            false,
            Message::new("카드를 똑바로 들어 주세요", "Hold the card straight"),
        )
    } else {
        result(s, true, Message::new("각도가 적절합니다", "Good angle"))
    }
}

pub(crate) fn completeness(m: &Metrics) -> CheckResult {
    if !m.card_found {
        return result(
            0.0,
            false,
            Message::new(
                "카드를 화면 안에 놓아 주세요",
                "Place the card inside the frame",
            ),
        );
    }
    let inside = score(m.corner_margin, COMPLETENESS_MARGIN, 0.08);
    let size = score(m.area_fraction, COMPLETENESS_MIN_AREA, 0.45).min(score(
        -m.area_fraction,
        -COMPLETENESS_MAX_AREA,
        -0.6,
    ));
    let s = inside.min(size);
    if m.corners_inside < 4 || m.corner_margin < COMPLETENESS_MARGIN {
        result(
            s,
            false,
            Message::new(
                "카드의 네 모서리가 모두 화면 안에 보이게 해 주세요",
                "Show all four corners of the card inside the frame",
            ),
        )
    } else if m.area_fraction < COMPLETENESS_MIN_AREA {
        result(
            s,
            false,
            Message::new("카드를 더 가까이 대 주세요", "Move closer"),
        )
    } else if m.area_fraction > COMPLETENESS_MAX_AREA {
        result(
            s,
            false,
            Message::new("카드를 조금 멀리 해 주세요", "Move the card back a little"),
        )
    } else {
        result(
            s,
            true,
            Message::new("카드 전체가 보입니다", "The whole card is in view"),
        )
    }
}
