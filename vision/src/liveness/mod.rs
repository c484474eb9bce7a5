//! Liveness: whether the person in the video is present and alive. So far the passive check
//! (MiniFASNet anti-spoofing on face crops), the 106 landmarks, the head turn, tilt and eye
//! opening measured from them, and the actions found in a clip and matched to a challenge;
//! drawing the challenge, the replay cues and the verdict come next.

pub mod actions;
pub mod landmarks;
pub mod motion;
pub mod passive;
