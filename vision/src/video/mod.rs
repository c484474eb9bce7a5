//! Selfie videos: what is in a file before anything is decoded (container, stream, duration,
//! size, rotation), and a refusal, early and worded for the person who sent it, of what the
//! verification cannot use.

mod probe;

pub use probe::{VideoError, VideoInfo, VideoLimits, probe};
