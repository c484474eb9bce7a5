//! Selfie videos: what is in a file before anything is decoded (container, stream, duration,
//! size, rotation), a refusal, early and worded for the person who sent it, of what the
//! verification cannot use, and frames sampled at exactly the indices asked for.

mod probe;
mod sample;

pub use probe::{Container, VideoError, VideoInfo, VideoLimits, probe};
pub use sample::{SampledFrame, plan, sample_frames};
