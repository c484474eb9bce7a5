//! Liveness: whether the person in the video is present and alive. So far the passive check
//! (MiniFASNet anti-spoofing on face crops); the challenge and the replay cues come next.

pub mod passive;
