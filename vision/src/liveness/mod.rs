//! Liveness: whether the person in the video is present and alive. So far the passive check
//! (MiniFASNet anti-spoofing on face crops) and the 106 landmarks the head turn and blinks are
//! measured from; the challenge, the motion measures and the replay cues come next.

pub mod landmarks;
pub mod motion;
pub mod passive;
