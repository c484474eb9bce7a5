//! Liveness: whether the person in the video is present and alive. A challenge drawn for the
//! session; a dense pass over the clip (face, 106 landmarks, head turn, tilt and eye opening,
//! now and then the MiniFASNet passive score); the actions found and matched to the challenge;
//! the replay cues (a still, a flat picture); the verdict with each check's reason.

pub mod actions;
pub mod challenge;
pub mod landmarks;
pub mod motion;
pub mod passive;
pub mod planar;
pub mod track;
pub mod verdict;
