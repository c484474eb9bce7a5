//! Frame-accurate sampling: K frames spread evenly over a video, each exactly the frame at the
//! index asked for, decoding only what those frames need. OpenCV's seek lands on a key frame's
//! neighbour (opencv#9053) and, when it is right, decodes a whole GOP per sample; counting
//! every frame decodes all of them. So the container is read here through libavformat and
//! libavcodec directly: one demux-only pass (no decoding) lists every video packet's
//! presentation time and key flag, which gives the true frame count (headers can be wrong) and
//! the presentation time of every frame index; samples fall on key frames where their span of
//! the video holds one (a key frame decodes alone); then, for each sample, the decoder seeks to the
//! key frame before it only when the sample is not reachable by decoding on, decodes forward
//! and hands over the frame whose timestamp is the sample's. Frames are identified by their
//! timestamp, never by where a seek was supposed to land.

use super::nal;
use super::probe::{VideoError, VideoInfo, VideoLimits};
use ffmpeg_next as ff;
use opencv::core::Mat;
use opencv::prelude::*;
use serde::Serialize;
use std::path::Path;

/// One sampled frame.
pub struct SampledFrame {
    /// 0-based index of the frame in presentation order.
    pub index: u64,
    /// Its presentation time, milliseconds from the start of the stream.
    pub timestamp_ms: f64,
    /// The frame, BGR, rotation applied, scaled down to at most [`ANALYSIS_MAX_SIDE`] pixels
    /// on its longer side.
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

/// Like [`plan`], but where one of the `k` equal spans holds a key frame (`keys`: frame
/// indices, ascending), the sample is the key frame nearest the span's middle: a key frame
/// decodes on its own, any other frame needs every frame since the last key frame. Still one
/// sample per span, so the samples stay spread over the whole video; the very first and last
/// frames are never taken.
pub fn plan_near_keys(count: u64, k: usize, keys: &[u64]) -> Vec<u64> {
    let k = (k as u64).min(count);
    let mut out: Vec<u64> = plan(count, k as usize)
        .into_iter()
        .enumerate()
        .map(|(i, middle)| {
            let (lo, hi) = (i as u64 * count / k, (i as u64 + 1) * count / k);
            let from = keys.partition_point(|&f| f < lo.max(1));
            keys[from..]
                .iter()
                .take_while(|&&f| f < hi && f + 1 < count)
                .min_by_key(|&&f| f.abs_diff(middle))
                .copied()
                .unwrap_or(middle)
        })
        .collect();
    out.dedup();
    out
}

/// The video stream's packets, read without decoding: what every frame's timestamp is.
struct PacketIndex {
    /// Presentation timestamps of all frames, ascending: frame `i` has `pts[i]`.
    pts: Vec<i64>,
    /// Presentation timestamps of the key frames, ascending.
    keys: Vec<i64>,
    /// Frame `i`: whether no other frame refers to it (`nal::h264_is_disposable`).
    disposable: Vec<bool>,
}

/// What the demux-only pass knows of the frames, for a plan to choose from.
#[derive(Debug, Clone, Copy)]
pub struct FrameTable<'a> {
    /// Frames in the video, counted from its packets.
    pub count: u64,
    /// The key frames' indices, ascending.
    pub keys: &'a [u64],
    /// Each frame's time, seconds after the first frame's.
    pub times_s: &'a [f64],
    /// Each frame: whether no other frame refers to it, so that decoding it serves only itself
    /// (an H.264 non-reference frame; never said of other codecs).
    pub disposable: &'a [bool],
}

impl PacketIndex {
    /// Each frame's time in seconds after the first frame's, with `tb` the stream's time base.
    fn times_s(&self, tb: f64) -> Vec<f64> {
        let first = self.pts[0];
        self.pts.iter().map(|&p| (p - first) as f64 * tb).collect()
    }

    /// Frame indices of the key frames, ascending.
    fn key_frames(&self) -> Vec<u64> {
        self.keys
            .iter()
            .filter_map(|k| self.pts.binary_search(k).ok())
            .map(|i| i as u64)
            .collect()
    }

    /// The key frame to start decoding from to reach the frame at `pts`: the last key frame
    /// at or before it.
    fn key_before(&self, pts: i64) -> Option<i64> {
        let i = self.keys.partition_point(|&k| k <= pts);
        i.checked_sub(1).map(|i| self.keys[i])
    }
}

pub(super) fn ensure_init() -> Result<(), VideoError> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ff::init().map_err(|e| e.to_string())?;
        // libav's own warnings about damaged input go to stderr otherwise; the errors we
        // return say what is wrong.
        ff::util::log::set_level(ff::util::log::Level::Fatal);
        Ok(())
    })
    .clone()
    .map_err(VideoError::Backend)
}

/// The demuxers a selfie video may go through (MP4/MOV and Matroska/WebM): libavformat
/// probes any of its hundreds of formats otherwise, each a parser an upload could aim at.
pub(super) const DEMUXERS: &str = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm";

/// Opens `path` for reading with libavformat, held to [`DEMUXERS`] and the `file` protocol (a
/// container cannot make it open a URL or another file).
pub(super) fn open_file(path: &Path) -> Result<ff::format::context::Input, ff::Error> {
    let mut opts = ff::Dictionary::new();
    opts.set("format_whitelist", DEMUXERS);
    opts.set("protocol_whitelist", "file");
    ff::format::input_with_dictionary(&path, opts)
}

/// Caps the pixels of one frame `ctx`'s decoder allocates (a stream whose header is
/// understated cannot make it allocate more for a later frame).
pub(super) fn limit_pixels(ctx: &mut ff::codec::context::Context, max_side: u32) {
    let max = i64::from(max_side) * i64::from(max_side);
    // SAFETY: `ctx` owns a valid AVCodecContext, not yet opened; `max_pixels` is a plain
    // field libavcodec reads when it allocates a frame.
    unsafe {
        (*ctx.as_mut_ptr()).max_pixels = max;
    }
}

fn open_input(path: &Path) -> Result<(ff::format::context::Input, usize), VideoError> {
    let input = open_file(path)
        .map_err(|e| VideoError::Undecodable(format!("the container cannot be read ({e})")))?;
    let index = input
        .streams()
        .best(ff::media::Type::Video)
        .map(|s| s.index())
        .ok_or(VideoError::NoVideoStream)?;
    Ok((input, index))
}

/// The highest frame rate the packet index plans for.
const MAX_FPS: f64 = 240.0;

/// Reads every packet of the video stream (no decoding). Refuses a stream with more frames
/// than the duration limit allows at the header's frame rate (a header that understated the
/// length).
fn index_packets(
    input: &mut ff::format::context::Input,
    stream: usize,
    fps: f64,
    tb: f64,
    limits: &VideoLimits,
) -> Result<PacketIndex, VideoError> {
    let max_s = limits.max_duration_s;
    // The header's rate is the file's to claim: capped at a phone's fastest (240 fps), so the
    // index stays bounded whatever the file says.
    let max_frames = (max_s * fps.clamp(1.0, MAX_FPS) * 1.5).ceil() as u64 + 60;
    // Packets of any stream: a file of endless audio or data packets is read this far only.
    let max_packets = max_frames.saturating_mul(8);
    let mut read = 0u64;
    let h264 = input
        .stream(stream)
        .is_some_and(|s| s.parameters().id() == ff::codec::Id::H264);
    // (timestamp, disposable), in decoding order.
    let mut pts: Vec<(i64, bool)> = Vec::new();
    let mut keys = Vec::new();
    let mut packet = ff::Packet::empty();
    loop {
        match packet.read(input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            // A damaged tail: what was read so far is the video.
            Err(_) if !pts.is_empty() => break,
            Err(e) => return Err(e.into()),
        }
        read += 1;
        if read.is_multiple_of(256) {
            limits.in_time()?;
        }
        if read > max_packets {
            return Err(VideoError::Undecodable(format!(
                "the file holds more than {max_packets} packets"
            )));
        }
        if packet.stream() != stream {
            continue;
        }
        let Some(t) = packet.pts().or(packet.dts()) else {
            return Err(VideoError::Undecodable(
                "the video's packets carry no timestamps".into(),
            ));
        };
        let disposable = h264 && packet.data().is_some_and(nal::h264_is_disposable);
        pts.push((t, disposable));
        if packet.is_key() {
            keys.push(t);
        }
        if pts.len() as u64 > max_frames {
            return Err(VideoError::TooLong {
                duration_s: pts.len() as f64 / fps,
                max_s,
            });
        }
    }
    pts.sort_unstable_by_key(|&(t, _)| t);
    // Two packets with one timestamp (a damaged file): the frame is a reference if either is.
    pts.dedup_by(|b, a| {
        let same = a.0 == b.0;
        if same {
            a.1 &= b.1;
        }
        same
    });
    let (pts, disposable): (Vec<i64>, Vec<bool>) = pts.into_iter().unzip();
    keys.sort_unstable();
    keys.dedup();
    if pts.is_empty() {
        return Err(VideoError::Undecodable("the video holds no frames".into()));
    }
    // A header without a duration (WebM from a browser's MediaRecorder) was not checked by
    // the probe: the timestamps say how long the video is.
    let span_s = (pts[pts.len() - 1] - pts[0]) as f64 * tb;
    if span_s > max_s {
        return Err(VideoError::TooLong {
            duration_s: span_s,
            max_s,
        });
    }
    if keys.first().is_none_or(|&k| k > pts[0]) {
        // Streams whose first packet is not flagged key still decode from the start.
        keys.insert(0, pts[0]);
    }
    Ok(PacketIndex {
        pts,
        keys,
        disposable,
    })
}

/// A decoder over the video stream that hands out frames by presentation timestamp.
struct Decoder {
    input: ff::format::context::Input,
    stream: usize,
    decoder: ff::decoder::Video,
    /// Stream time base, seconds per tick.
    tick_s: f64,
    start_pts: i64,
    rotation_deg: i32,
    /// Converters to BGR, one per (input format and size, output size) in use: the comparison
    /// samples' and the dense pass's.
    scalers: Vec<(ff::software::scaling::Context, [u32; 4], ff::format::Pixel)>,
    /// Timestamp of the last frame decoded since the last seek (None: nothing yet).
    last_pts: Option<i64>,
    at_eof: bool,
    frame: ff::frame::Video,
    /// Frames decoded, frames left undecoded, seeks made (for the log: what sampling cost).
    decoded: u64,
    skipped: u64,
    seeks: u64,
    /// H.264: non-reference frames can be skipped.
    h264: bool,
    /// Timestamps of the samples (never skipped).
    wanted: std::collections::HashSet<i64>,
}

impl Decoder {
    /// A decoder reading `stream` of `input` (positioned anywhere: the first sample seeks).
    fn new(
        input: ff::format::context::Input,
        stream: usize,
        rotation_deg: i32,
        start_pts: i64,
        max_side: u32,
    ) -> Result<Self, VideoError> {
        let st = input.stream(stream).ok_or(VideoError::NoVideoStream)?;
        let tb = st.time_base();
        let tick_s = f64::from(tb.numerator()) / f64::from(tb.denominator().max(1));
        let h264 = st.parameters().id() == ff::codec::Id::H264;
        let mut ctx = ff::codec::context::Context::from_parameters(st.parameters())?;
        limit_pixels(&mut ctx, max_side);
        // Two frame threads: this is a 2-core target and the face engine runs meanwhile.
        ctx.set_threading(ff::threading::Config {
            kind: ff::threading::Type::Frame,
            count: 2,
            ..Default::default()
        });
        let decoder = ctx
            .decoder()
            .video()
            .map_err(|e| VideoError::Undecodable(format!("no decoder for this codec ({e})")))?;
        Ok(Self {
            input,
            stream,
            decoder,
            tick_s,
            start_pts,
            rotation_deg,
            scalers: Vec::new(),
            last_pts: None,
            at_eof: false,
            frame: ff::frame::Video::empty(),
            decoded: 0,
            skipped: 0,
            seeks: 0,
            h264,
            wanted: std::collections::HashSet::new(),
        })
    }

    /// Positions the demuxer at the key frame `key` (or the one before it) and empties the
    /// decoder.
    fn seek_to_key(&mut self, key: i64) -> Result<(), VideoError> {
        // `Input::seek` takes AV_TIME_BASE (µs) units, `..us` means "at most us"; round down
        // so a key frame is never skipped (landing on an earlier one only costs a few frames).
        let us = (key as f64 * self.tick_s * 1e6).floor() as i64;
        self.input.seek(us, ..us)?;
        self.decoder.flush();
        self.seeks += 1;
        self.last_pts = None;
        self.at_eof = false;
        Ok(())
    }

    /// The next decoded frame's timestamp (the frame itself in `self.frame`), or None at the
    /// end of the stream.
    fn next_frame(&mut self) -> Result<Option<i64>, VideoError> {
        loop {
            if self.decoder.receive_frame(&mut self.frame).is_ok() {
                let t = self.frame.timestamp().or(self.frame.pts()).ok_or_else(|| {
                    VideoError::Undecodable("a decoded frame has no timestamp".into())
                })?;
                self.last_pts = Some(t);
                self.decoded += 1;
                return Ok(Some(t));
            }
            if self.at_eof {
                return Ok(None);
            }
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {
                    if packet.stream() == self.stream && !self.skippable(&packet) {
                        // A damaged packet is skipped; if the frame we want is in it, the
                        // caller finds it missing and says so.
                        let _ = self.decoder.send_packet(&packet);
                    }
                }
                Err(_) => {
                    self.at_eof = true;
                    let _ = self.decoder.send_eof();
                }
            }
        }
    }

    /// A frame no other frame refers to and that is not a sample: not worth decoding.
    fn skippable(&mut self, packet: &ff::Packet) -> bool {
        let disposable = self.h264
            && packet.pts().is_some_and(|t| !self.wanted.contains(&t))
            && packet.data().is_some_and(nal::h264_is_disposable);
        self.skipped += u64::from(disposable);
        disposable
    }

    /// Decodes forward to the frame at `pts`; false when the stream passed it or ended.
    fn decode_to(&mut self, pts: i64) -> Result<bool, VideoError> {
        while let Some(t) = self.next_frame()? {
            if t == pts {
                return Ok(true);
            }
            if t > pts {
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// The current frame as a BGR `Mat`, rotation applied.
    fn current_bgr(&mut self, max_side: u32) -> Result<Mat, VideoError> {
        let (fmt, w, h) = (self.frame.format(), self.frame.width(), self.frame.height());
        let (ow, oh) = scaled_size(w, h, max_side);
        let key = [w, h, ow, oh];
        let at = match self
            .scalers
            .iter()
            .position(|(_, k, f)| *k == key && *f == fmt)
        {
            Some(i) => i,
            None => {
                let ctx = ff::software::scaling::Context::get(
                    fmt,
                    w,
                    h,
                    ff::format::Pixel::BGR24,
                    ow,
                    oh,
                    ff::software::scaling::Flags::AREA,
                )?;
                // Two sizes are in use at most; a stream whose frames change size drops the
                // oldest.
                if self.scalers.len() >= 2 {
                    self.scalers.remove(0);
                }
                self.scalers.push((ctx, key, fmt));
                self.scalers.len() - 1
            }
        };
        let mut bgr = ff::frame::Video::empty();
        self.scalers[at].0.run(&self.frame, &mut bgr)?;
        let mut mat = Mat::new_rows_cols_with_default(
            oh as i32,
            ow as i32,
            opencv::core::CV_8UC3,
            opencv::core::Scalar::all(0.0),
        )?;
        let stride = bgr.stride(0);
        let src = bgr.data(0);
        let row = 3 * ow as usize;
        let dst = mat.data_bytes_mut()?;
        for y in 0..oh as usize {
            dst[y * row..(y + 1) * row].copy_from_slice(&src[y * stride..y * stride + row]);
        }
        rotate(mat, self.rotation_deg)
    }

    fn timestamp_ms(&self, pts: i64) -> f64 {
        (pts - self.start_pts) as f64 * self.tick_s * 1000.0
    }
}

/// Longest side of a sampled frame. Faces are found at 320 px and compared at 112 px, so a
/// 4K frame (25 MB as BGR, twelve per verification) is scaled down while it is converted,
/// which costs less than converting it at full size.
pub const ANALYSIS_MAX_SIDE: u32 = 1280;

/// Longest side of a frame only the liveness dense pass looks at: its face is found at 160 px
/// and its landmarks read at 192 px, so a smaller copy converts faster and travels lighter.
pub const DENSE_MAX_SIDE: u32 = 640;

/// The size a `w`×`h` frame is handed over at: the same, or scaled to `ANALYSIS_MAX_SIDE`.
#[cfg(test)]
fn analysis_size(w: u32, h: u32) -> (u32, u32) {
    scaled_size(w, h, ANALYSIS_MAX_SIDE)
}

/// `w`×`h`, or scaled down so that its longer side is `max_side` (even sides).
fn scaled_size(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max_side {
        return (w, h);
    }
    let scale =
        |v: u32| ((u64::from(v) * u64::from(max_side) / u64::from(long)) as u32).max(2) & !1;
    (scale(w), scale(h))
}

/// Turns a decoded frame upright for the rotation the file's header names (as the probe reads
/// it), the way FFmpeg's own player and command line show it (tested against them).
fn rotate(mat: Mat, deg: i32) -> Result<Mat, VideoError> {
    let code = match deg {
        90 => opencv::core::ROTATE_90_CLOCKWISE,
        180 => opencv::core::ROTATE_180,
        270 => opencv::core::ROTATE_90_COUNTERCLOCKWISE,
        _ => return Ok(mat),
    };
    let mut out = Mat::default();
    opencv::core::rotate(&mat, &mut out, code)?;
    Ok(out)
}

/// `k` frames spread evenly over the video at `path` (probed as `info`), each the exact frame
/// its index names. Errors: the file holds more frames than the duration limit allows
/// (`TooLong`), or a sampled frame does not decode.
pub fn sample_frames(
    path: &Path,
    info: &VideoInfo,
    k: usize,
    limits: VideoLimits,
) -> Result<(Vec<SampledFrame>, SamplingStats), VideoError> {
    let mut out = Vec::with_capacity(k);
    let stats = sample_frames_each(path, info, k, limits, |f| {
        out.push(f);
        true
    })?;
    Ok((out, stats))
}

/// What sampling a video cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SamplingStats {
    /// Frames in the video, counted from its packets.
    pub frame_count: u64,
    /// Frames decoded to reach the samples (the samples included).
    pub decoded: u64,
    /// Non-reference frames passed on the way and left undecoded.
    pub skipped: u64,
    pub seeks: u64,
    /// How long the video is by its frames' timestamps (the first frame's to the last's, and
    /// one mean frame interval more): a header may have no duration (WebM from MediaRecorder).
    pub duration_s: f64,
    /// The mean frame rate by the timestamps (0 for a single frame).
    pub fps: f64,
}

/// As [`sample_frames`], handing each frame to `on_frame` as soon as it is decoded (so the
/// caller can work on it while the next one decodes); `on_frame` returns false to stop.
pub fn sample_frames_each(
    path: &Path,
    info: &VideoInfo,
    k: usize,
    limits: VideoLimits,
    on_frame: impl FnMut(SampledFrame) -> bool,
) -> Result<SamplingStats, VideoError> {
    sample_plan_each(
        path,
        info,
        limits,
        |f| plan_near_keys(f.count, k, f.keys),
        |_| ANALYSIS_MAX_SIDE,
        on_frame,
    )
}

/// The frames nearest to every `interval_s` of the video by their timestamps (`times_s`,
/// ascending, one per frame), starting half an interval in: the dense pass's frames. By
/// time, not by a frame rate: a browser's recording has none in its header and an uneven one
/// in its frames. A frame other frames refer to is taken over a nearer `disposable` one when
/// it is within a third of an interval of the time: the decoder must decode it anyway, while a
/// disposable frame it can skip.
pub fn every_interval(times_s: &[f64], disposable: &[bool], interval_s: f64) -> Vec<u64> {
    let Some(&last) = times_s.last() else {
        return Vec::new();
    };
    let interval = interval_s.max(1e-3);
    let is_ref = |i: usize| !disposable.get(i).copied().unwrap_or(false);
    let mut out: Vec<u64> = Vec::new();
    let mut t = interval / 2.0;
    while t <= last + interval / 2.0 {
        let after = times_s.partition_point(|&x| x < t);
        let nearest = match after {
            0 => 0,
            n if n >= times_s.len() => times_s.len() - 1,
            n if t - times_s[n - 1] <= times_s[n] - t => n - 1,
            n => n,
        };
        let reach = interval / 3.0;
        let i = if is_ref(nearest) {
            nearest
        } else {
            let lo = times_s.partition_point(|&x| x < t - reach);
            let hi = times_s.partition_point(|&x| x <= t + reach);
            (lo..hi)
                .filter(|&j| is_ref(j))
                .min_by(|&a, &b| (times_s[a] - t).abs().total_cmp(&(times_s[b] - t).abs()))
                .unwrap_or(nearest)
        };
        if out.last() != Some(&(i as u64)) {
            out.push(i as u64);
        }
        t += interval;
    }
    out
}

/// As [`sample_frames_each`], for the frame indices `plan` chooses from the true frame count
/// and the key frames' indices (ascending, deduplicated here), each frame handed over with its
/// longer side at most `max_side(index)` (and [`ANALYSIS_MAX_SIDE`]).
pub fn sample_plan_each(
    path: &Path,
    info: &VideoInfo,
    limits: VideoLimits,
    plan: impl FnOnce(FrameTable<'_>) -> Vec<u64>,
    max_side: impl Fn(u64) -> u32,
    mut on_frame: impl FnMut(SampledFrame) -> bool,
) -> Result<SamplingStats, VideoError> {
    ensure_init()?;
    let started = std::time::Instant::now();
    let (mut input, stream) = open_input(path)?;
    let tb = input
        .stream(stream)
        .map(|s| super::probe::rate(s.time_base()))
        .filter(|tb| tb.is_finite() && *tb > 0.0)
        .ok_or_else(|| VideoError::Undecodable("the video stream has no time base".into()))?;
    let index = index_packets(&mut input, stream, info.fps.max(1.0), tb, &limits)?;
    let index_ms = started.elapsed().as_secs_f64() * 1000.0;
    let count = index.pts.len() as u64;
    let times = index.times_s(tb);
    let span_s = times.last().copied().unwrap_or(0.0);
    let fps = if count > 1 && span_s > 0.0 {
        (count - 1) as f64 / span_s
    } else {
        0.0
    };
    let duration_s = if fps > 0.0 { span_s + 1.0 / fps } else { 0.0 };
    let mut dec = Decoder::new(
        input,
        stream,
        info.rotation_deg,
        index.pts[0],
        limits.max_side,
    )?;
    let keys = index.key_frames();
    let table = FrameTable {
        count,
        keys: &keys,
        times_s: &times,
        disposable: &index.disposable,
    };
    let mut wanted: Vec<u64> = plan(table).into_iter().filter(|&i| i < count).collect();
    wanted.sort_unstable();
    wanted.dedup();
    dec.wanted = wanted.iter().map(|&i| index.pts[i as usize]).collect();
    for i in wanted {
        limits.in_time()?;
        let pts = index.pts[i as usize];
        let key = index.key_before(pts).unwrap_or(index.pts[0]);
        // Decode on from where the decoder is when that reaches the sample without passing
        // a key frame it could have jumped to; seek otherwise.
        let reachable = dec.last_pts.is_some_and(|last| last >= key && last < pts);
        if !reachable {
            dec.seek_to_key(key)?;
        }
        let mut found = dec.decode_to(pts)?;
        if !found {
            // The seek landed after the key frame (inexact index in the container): decode
            // from the very start, which always reaches every frame.
            dec.seek_to_key(index.pts[0])?;
            found = dec.decode_to(pts)?;
        }
        if !found {
            return Err(VideoError::Undecodable(format!(
                "frame {i} does not decode (damaged file)"
            )));
        }
        let frame = SampledFrame {
            index: i,
            timestamp_ms: dec.timestamp_ms(pts),
            image: dec.current_bgr(max_side(i).min(ANALYSIS_MAX_SIDE))?,
        };
        if !on_frame(frame) {
            break;
        }
    }
    tracing::debug!(
        frames = count,
        decoded = dec.decoded,
        skipped = dec.skipped,
        seeks = dec.seeks,
        index_ms,
        total_ms = started.elapsed().as_secs_f64() * 1000.0,
        "video sampled"
    );
    Ok(SamplingStats {
        frame_count: count,
        decoded: dec.decoded,
        skipped: dec.skipped,
        seeks: dec.seeks,
        duration_s,
        fps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_expected_demuxers_open_a_file() {
        // A valid YUV4MPEG2 video (two 16×16 frames): libavformat reads it, but it is not a
        // container a selfie video comes in, so ours refuses it.
        ensure_init().expect("ffmpeg");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("clip.y4m");
        let mut y4m = b"YUV4MPEG2 W16 H16 F25:1 Ip A1:1 C420jpeg\n".to_vec();
        for _ in 0..2 {
            y4m.extend_from_slice(b"FRAME\n");
            y4m.extend_from_slice(&[128u8; 16 * 16 * 3 / 2]);
        }
        std::fs::write(&path, &y4m).expect("write");
        assert!(ff::format::input(&path).is_ok(), "libavformat reads it");
        assert!(open_file(&path).is_err(), "not one of {DEMUXERS}");
        assert!(matches!(open_input(&path), Err(VideoError::Undecodable(_))));
    }

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

    #[test]
    fn samples_move_to_a_key_frame_in_their_span() {
        // 900 frames, key frames every 60: every span of 75 holds one.
        let keys: Vec<u64> = (0..15).map(|i| i * 60).collect();
        let p = plan_near_keys(900, 12, &keys);
        assert_eq!(
            p,
            vec![60, 120, 180, 240, 360, 420, 480, 540, 660, 720, 780, 840]
        );
        // Frame 0 is never taken (span 0 keeps its middle); spans without a key frame keep
        // their middle.
        assert_eq!(
            plan_near_keys(900, 12, &[0, 300, 600]),
            vec![37, 112, 187, 262, 300, 412, 487, 562, 600, 712, 787, 862]
        );
        assert_eq!(plan_near_keys(900, 12, &[]), plan(900, 12));
        assert_eq!(plan_near_keys(5, 12, &[0, 4]), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn every_interval_follows_the_timestamps() {
        // 30 fps: every 0.125 s from 0.0625 s.
        let even: Vec<f64> = (0..30).map(|i| f64::from(i) / 30.0).collect();
        assert_eq!(
            every_interval(&even, &[], 0.125),
            vec![2, 6, 9, 13, 17, 21, 24, 28]
        );
        // Uneven frames (a browser's recording) are chosen by time, not by index.
        let uneven = [0.0, 0.01, 0.02, 0.3, 0.31, 0.6, 1.0];
        assert_eq!(every_interval(&uneven, &[], 0.25), vec![2, 4, 5, 6]);
        assert_eq!(every_interval(&[0.0], &[], 0.125), vec![0]);
        assert!(every_interval(&[], &[], 0.125).is_empty());
    }

    #[test]
    fn every_interval_prefers_a_reference_frame_near_the_time() {
        // 30 fps, every odd frame disposable (x264's B-frames): the even frame next to it is
        // taken, one frame (33 ms) off the time; never two frames off.
        let even: Vec<f64> = (0..30).map(|i| f64::from(i) / 30.0).collect();
        let odd: Vec<bool> = (0..30).map(|i| i % 2 == 1).collect();
        let chosen = every_interval(&even, &odd, 0.125);
        assert!(chosen.iter().all(|&i| i % 2 == 0), "{chosen:?}");
        for (i, c) in every_interval(&even, &[], 0.125).iter().zip(&chosen) {
            assert!(i.abs_diff(*c) <= 1, "{i} → {c}");
        }
        // All disposable: the nearest, as without the flags.
        let all = vec![true; 30];
        assert_eq!(
            every_interval(&even, &all, 0.125),
            every_interval(&even, &[], 0.125)
        );
    }

    #[test]
    fn large_frames_are_handed_over_at_analysis_size() {
        assert_eq!(analysis_size(1280, 720), (1280, 720));
        assert_eq!(analysis_size(640, 480), (640, 480));
        assert_eq!(analysis_size(3840, 2160), (1280, 720));
        assert_eq!(analysis_size(2160, 3840), (720, 1280));
        assert_eq!(analysis_size(1920, 1080), (1280, 720));
    }

    #[test]
    fn the_key_frame_before_a_sample() {
        let index = PacketIndex {
            pts: (0..10).collect(),
            keys: vec![0, 4, 8],
            disposable: vec![false; 10],
        };
        assert_eq!(index.key_before(0), Some(0));
        assert_eq!(index.key_before(3), Some(0));
        assert_eq!(index.key_before(4), Some(4));
        assert_eq!(index.key_before(9), Some(8));
        assert_eq!(index.key_before(-1), None);
    }
}
