//! Probing a video file through libavformat: the container is sniffed from its first bytes,
//! the stream's header gives codec, frame rate, frame count, size and rotation, and the file is
//! refused (too long, too large, too small, no video, no decoder, damaged) before any frame is
//! decoded.

use ffmpeg_next as ff;
use serde::Serialize;
use std::io::Read;
use std::path::Path;
use thiserror::Error;

/// What a selfie video may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoLimits {
    /// Longest accepted duration, seconds.
    pub max_duration_s: f64,
    /// Largest accepted file, bytes.
    pub max_bytes: u64,
    /// Longest accepted side of a frame, pixels (4K's 3840 by default).
    pub max_side: u32,
    /// Shortest accepted side of a frame, pixels (a face must be large enough to compare).
    pub min_side: u32,
    /// When reading must have ended (a job's time limit): packets and frames stop being read
    /// then, so the thread is free again even if its job was given up.
    pub deadline: Option<std::time::Instant>,
}

impl VideoLimits {
    /// `Err(TimedOut)` once the deadline has passed.
    pub(super) fn in_time(&self) -> Result<(), VideoError> {
        match self.deadline {
            Some(d) if std::time::Instant::now() >= d => Err(VideoError::TimedOut),
            _ => Ok(()),
        }
    }
}

impl Default for VideoLimits {
    fn default() -> Self {
        Self {
            max_duration_s: 30.0,
            max_bytes: 200 * 1024 * 1024,
            max_side: 3840,
            min_side: 240,
            deadline: None,
        }
    }
}

/// Why a video file cannot be used. All are the sender's to fix, except `Backend`.
#[derive(Debug, Error)]
pub enum VideoError {
    #[error("the video file is empty")]
    Empty,
    #[error("not a video file: expected MP4, MOV or WebM/Matroska (found {0})")]
    NotAVideo(String),
    #[error("the file holds no video stream (audio only?)")]
    NoVideoStream,
    #[error("the video cannot be decoded: {0}")]
    Undecodable(String),
    #[error("the video is {duration_s:.1} s long; at most {max_s:.0} s are accepted")]
    TooLong { duration_s: f64, max_s: f64 },
    #[error("the video file is {bytes} bytes; at most {max_bytes} are accepted")]
    FileTooLarge { bytes: u64, max_bytes: u64 },
    #[error("the video is {width}×{height}; at most {max_side} pixels per side are accepted")]
    FrameTooLarge {
        width: u32,
        height: u32,
        max_side: u32,
    },
    #[error("the video is {width}×{height}; at least {min_side} pixels per side are needed")]
    FrameTooSmall {
        width: u32,
        height: u32,
        min_side: u32,
    },
    #[error("cannot read the video file: {0}")]
    Io(String),
    #[error("video backend: {0}")]
    Backend(String),
    #[error("reading the video ran past its job's time limit")]
    TimedOut,
}

impl VideoError {
    /// True when the sender can fix it (everything but the backend failing).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, Self::Backend(_) | Self::TimedOut)
    }

    /// A stable machine-readable code for API envelopes and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "EMPTY_INPUT",
            Self::NotAVideo(_) => "UNSUPPORTED_VIDEO",
            Self::NoVideoStream => "NO_VIDEO_STREAM",
            Self::Undecodable(_) => "CORRUPT_VIDEO",
            Self::TooLong { .. } => "VIDEO_TOO_LONG",
            Self::FileTooLarge { .. } | Self::FrameTooLarge { .. } => "VIDEO_TOO_LARGE",
            Self::FrameTooSmall { .. } => "VIDEO_TOO_SMALL",
            Self::Io(_) => "UNREADABLE_FILE",
            Self::Backend(_) => "VIDEO_BACKEND_ERROR",
            Self::TimedOut => "VIDEO_TIMEOUT",
        }
    }
}

impl From<opencv::Error> for VideoError {
    fn from(e: opencv::Error) -> Self {
        Self::Backend(format!("opencv: {}", e.message))
    }
}

impl From<ff::Error> for VideoError {
    fn from(e: ff::Error) -> Self {
        Self::Undecodable(format!("libav: {e}"))
    }
}

/// A video container, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    /// ISO base media: MP4, MOV, 3GP.
    IsoMedia,
    /// Matroska or WebM.
    Matroska,
}

/// What the header of a usable video says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoInfo {
    pub container: Container,
    /// FFmpeg's name of the video codec (`h264`, `hevc`, `vp9`, …).
    pub codec: Option<String>,
    /// Frame size as decoded (rotation applied).
    pub width: u32,
    pub height: u32,
    /// Average frame rate from the header.
    pub fps: f64,
    /// Frame count from the header: an estimate (some containers do not store it, and a
    /// variable-frame-rate file's may be off); sampling counts frames itself.
    pub frame_count_header: u64,
    pub duration_s: f64,
    /// Rotation the file asks for (0, 90, 180, 270), already applied to decoded frames.
    pub rotation_deg: i32,
    pub bytes: u64,
}

/// Sniffs the container from the first bytes, or says what the file looks like instead.
fn sniff(head: &[u8]) -> Result<Container, VideoError> {
    if head.len() >= 12
        && matches!(
            &head[4..8],
            b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide" | b"skip"
        )
    {
        return Ok(Container::IsoMedia);
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Ok(Container::Matroska);
    }
    let what = if head.iter().take(64).all(|b| b.is_ascii() && *b != 0) {
        "text"
    } else if head.starts_with(b"\xFF\xD8") || head.starts_with(b"\x89PNG") {
        "an image"
    } else if head.starts_with(b"ID3") || head.starts_with(b"OggS") || head.starts_with(b"RIFF") {
        "audio or another container"
    } else {
        "unrecognised content"
    };
    Err(VideoError::NotAVideo(what.into()))
}

/// Clockwise rotation (0, 90, 180, 270) that turns stored frames upright, from the stream's
/// display matrix (nine 16.16 fixed-point numbers; FFmpeg's `av_display_rotation_get` reads
/// the counter-clockwise angle from the same two cells).
fn rotation(stream: &ff::format::stream::Stream) -> i32 {
    for sd in stream.side_data() {
        if sd.kind() != ff::codec::packet::side_data::Type::DisplayMatrix {
            continue;
        }
        let m: Vec<f64> = sd
            .data()
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        if m.len() < 9 {
            continue;
        }
        let (s0, s1) = (m[0].hypot(m[3]), m[1].hypot(m[4]));
        if s0 == 0.0 || s1 == 0.0 {
            continue;
        }
        let deg = (m[1] / s1).atan2(m[0] / s0).to_degrees();
        return ((deg / 90.0).round() as i32 * 90).rem_euclid(360);
    }
    0
}

pub(super) fn rate(r: ff::Rational) -> f64 {
    if r.denominator() == 0 {
        0.0
    } else {
        f64::from(r.numerator()) / f64::from(r.denominator())
    }
}

/// Reads what the header of the video at `path` says and checks it against `limits` without
/// decoding a frame (the sampler's first frame proves the stream decodes).
pub fn probe(path: &Path, limits: VideoLimits) -> Result<VideoInfo, VideoError> {
    let meta = std::fs::metadata(path).map_err(|e| VideoError::Io(e.to_string()))?;
    let bytes = meta.len();
    if bytes == 0 {
        return Err(VideoError::Empty);
    }
    if bytes > limits.max_bytes {
        return Err(VideoError::FileTooLarge {
            bytes,
            max_bytes: limits.max_bytes,
        });
    }
    let mut head = [0u8; 64];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| VideoError::Io(e.to_string()))?;
    let container = sniff(&head[..n])?;
    super::sample::ensure_init()?;
    let Ok(input) = super::sample::open_file(path) else {
        // A container FFmpeg cannot open: a file cut short before its index, or a damaged
        // header.
        return Err(match container {
            Container::IsoMedia => match iso_top_boxes(path) {
                boxes if !boxes.iter().any(|b| b == b"moov") => VideoError::Undecodable(
                    "the file's index (moov box) is missing: was the upload cut short?".into(),
                ),
                _ if !has_video_handler(path) => VideoError::NoVideoStream,
                _ => VideoError::Undecodable("the container's header is damaged".into()),
            },
            Container::Matroska => {
                VideoError::Undecodable("the Matroska/WebM header is damaged".into())
            }
        });
    };
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or(VideoError::NoVideoStream)?;
    let params = stream.parameters();
    let codec_id = params.id();
    let decoder = ff::codec::context::Context::from_parameters(params)
        .and_then(|mut c| {
            super::sample::limit_pixels(&mut c, limits.max_side);
            c.decoder().video()
        })
        .map_err(|_| {
            VideoError::Undecodable(format!(
                "no decoder for its video codec ({})",
                codec_id.name()
            ))
        })?;
    let (w, h) = (decoder.width(), decoder.height());
    if w == 0 || h == 0 {
        return Err(VideoError::NoVideoStream);
    }
    let fps = match rate(stream.avg_frame_rate()) {
        f if f.is_finite() && f > 0.0 => f,
        _ => rate(stream.rate()),
    };
    if !(fps.is_finite() && fps > 0.0) {
        return Err(VideoError::Undecodable(
            "the stream has no frame rate".into(),
        ));
    }
    let tb = rate(stream.time_base());
    let duration_s = if stream.duration() > 0 {
        stream.duration() as f64 * tb
    } else if input.duration() > 0 {
        input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE)
    } else {
        0.0
    };
    // MP4 stores the count; Matroska does not (estimated here as OpenCV does; the sampler
    // counts the packets).
    let frame_count_header = match stream.frames() {
        n if n > 0 => n as u64,
        _ => (duration_s * fps).round().max(0.0) as u64,
    };
    let rotation_deg = rotation(&stream);
    let (width, height) = if rotation_deg % 180 == 90 {
        (h, w)
    } else {
        (w, h)
    };
    if duration_s > limits.max_duration_s {
        return Err(VideoError::TooLong {
            duration_s,
            max_s: limits.max_duration_s,
        });
    }
    if width.max(height) > limits.max_side {
        return Err(VideoError::FrameTooLarge {
            width,
            height,
            max_side: limits.max_side,
        });
    }
    if width.min(height) < limits.min_side {
        return Err(VideoError::FrameTooSmall {
            width,
            height,
            min_side: limits.min_side,
        });
    }
    Ok(VideoInfo {
        container,
        codec: Some(codec_id.name().to_string()),
        width,
        height,
        fps,
        frame_count_header,
        duration_s,
        rotation_deg,
        bytes,
    })
}

/// The types of an ISO media file's top-level boxes, in order (a walk over their headers;
/// stops at the first box that does not fit in the file).
fn iso_top_boxes(path: &Path) -> Vec<[u8; 4]> {
    use std::io::{Seek, SeekFrom};
    let mut out = Vec::new();
    let Ok(mut f) = std::fs::File::open(path) else {
        return out;
    };
    let Ok(len) = f.metadata().map(|m| m.len()) else {
        return out;
    };
    let mut at = 0u64;
    while at + 8 <= len && out.len() < 1000 {
        let mut h = [0u8; 16];
        if f.seek(SeekFrom::Start(at)).is_err() || f.read_exact(&mut h[..8]).is_err() {
            break;
        }
        let mut size = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
        let kind = [h[4], h[5], h[6], h[7]];
        if size == 1 {
            if f.read_exact(&mut h[8..16]).is_err() {
                break;
            }
            size = u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        } else if size == 0 {
            size = len - at;
        }
        if size < 8 {
            break;
        }
        out.push(kind);
        at = at.saturating_add(size);
    }
    out
}

/// Whether an ISO media file's index names a video handler (`hdlr` … `vide`).
fn has_video_handler(path: &Path) -> bool {
    let mut buf = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(8 << 20).read_to_end(&mut buf));
    read.is_ok() && buf.windows(4).any(|w| w == b"vide")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_sniffed() {
        assert_eq!(
            sniff(b"\0\0\0\x20ftypisom\0\0\0\0").ok(),
            Some(Container::IsoMedia)
        );
        assert_eq!(
            sniff(&[0x1A, 0x45, 0xDF, 0xA3, 1, 2, 3, 4]).ok(),
            Some(Container::Matroska)
        );
        let text = sniff(b"this is a text file renamed .mp4").unwrap_err();
        assert!(text.to_string().contains("text"), "{text}");
        assert!(text.is_bad_input());
        assert_eq!(text.code(), "UNSUPPORTED_VIDEO");
    }
}
