//! Frame-accurate sampling: K frames spread evenly over a video, each exactly the frame at the
//! index asked for. OpenCV's seek (`CAP_PROP_POS_FRAMES`) lands on a key frame's neighbour
//! (opencv#9053), so frames are counted here instead: every frame is grabbed (demuxed and
//! decoded) in order and only the wanted ones are converted (`retrieve`). Header frame counts
//! can be wrong (variable frame rate, containers that store none): the frames are counted to
//! the end, and when the true count would have put the samples elsewhere, they are taken
//! again on the true count.

use super::probe::{VideoError, VideoInfo, VideoLimits, open};
use opencv::core::Mat;
use opencv::prelude::*;
use opencv::videoio;
use std::path::Path;

/// One sampled frame.
pub struct SampledFrame {
    /// 0-based index of the frame in decode order.
    pub index: u64,
    /// Its presentation time, milliseconds from the start.
    pub timestamp_ms: f64,
    /// The frame, BGR, rotation applied.
    pub image: Mat,
}

/// `k` frame indices spread evenly over `count` frames: the middle of each of `k` equal
/// spans (so neither the first nor the last frame, often a blur of the start or stop tap).
pub fn plan(count: u64, k: usize) -> Vec<u64> {
    if count == 0 || k == 0 {
        return Vec::new();
    }
    let k = (k as u64).min(count);
    let mut out: Vec<u64> = (0..k)
        .map(|i| ((2 * i + 1) * count / (2 * k)).min(count - 1))
        .collect();
    out.dedup();
    out
}

/// At most how many frames a pass decodes: a header that understates the length may not make
/// the decoder run for minutes.
struct FrameBudget {
    max_frames: u64,
    fps: f64,
    max_s: f64,
}

/// One pass over the video: the frames at `wanted` (sorted) and the number of frames.
fn pass(
    path: &Path,
    wanted: &[u64],
    budget: &FrameBudget,
) -> Result<(Vec<SampledFrame>, u64), VideoError> {
    let mut cap = open(path)?;
    if !cap.is_opened()? {
        return Err(VideoError::Undecodable(
            "the video could not be opened again".into(),
        ));
    }
    let mut out = Vec::with_capacity(wanted.len());
    let mut next = wanted.iter().peekable();
    let mut n = 0u64;
    while cap.grab()? {
        if next.peek() == Some(&&n) {
            next.next();
            let mut image = Mat::default();
            if !cap.retrieve(&mut image, 0)? || image.empty() {
                return Err(VideoError::Undecodable(format!(
                    "frame {n} does not decode (damaged file)"
                )));
            }
            out.push(SampledFrame {
                index: n,
                timestamp_ms: cap.get(videoio::CAP_PROP_POS_MSEC)?,
                image,
            });
        }
        n += 1;
        if n > budget.max_frames {
            return Err(VideoError::TooLong {
                duration_s: n as f64 / budget.fps,
                max_s: budget.max_s,
            });
        }
    }
    Ok((out, n))
}

/// `k` frames spread evenly over the video at `path` (probed as `info`), each the exact frame
/// its index names. Errors: the file holds more frames than its header and the duration limit
/// allow (`TooLong`), or no frame decodes.
pub fn sample_frames(
    path: &Path,
    info: &VideoInfo,
    k: usize,
    limits: VideoLimits,
) -> Result<Vec<SampledFrame>, VideoError> {
    let fps = info.fps.max(1.0);
    let budget = FrameBudget {
        max_frames: (limits.max_duration_s * fps * 1.5).ceil() as u64 + 60,
        fps,
        max_s: limits.max_duration_s,
    };
    let wanted = plan(info.frame_count_header, k);
    let (frames, count) = pass(path, &wanted, &budget)?;
    if count == 0 {
        return Err(VideoError::Undecodable("no frame decodes".into()));
    }
    let true_plan = plan(count, k);
    if true_plan == wanted && frames.len() == wanted.len() {
        return Ok(frames);
    }
    // The header's count was off: take the samples again where the true count puts them.
    let (frames, _) = pass(path, &true_plan, &budget)?;
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_spread_evenly_and_stay_inside() {
        assert_eq!(
            plan(900, 12),
            vec![37, 112, 187, 262, 337, 412, 487, 562, 637, 712, 787, 862]
        );
        assert_eq!(plan(5, 12), vec![0, 1, 2, 3, 4]);
        assert_eq!(plan(1, 3), vec![0]);
        assert!(plan(0, 12).is_empty());
        for (n, k) in [(90, 12), (91, 7), (13, 12)] {
            let p = plan(n, k);
            assert!(p.windows(2).all(|w| w[0] < w[1]), "{p:?}");
            assert!(p.iter().all(|&i| i < n));
        }
    }
}
