//! Frame accuracy: videos made here with FFmpeg whose every frame shows its own index as a
//! 12-bit pattern of black and white blocks; every sampled frame must show the index the
//! sampler says it is, for a constant-frame-rate H.264 file with 2 s between key frames, a
//! variable-frame-rate one, and a file whose header frame count is wrong; reading stops at a
//! job's deadline.

use opencv::core::{CV_8UC1, Mat, Rect, Scalar};
use opencv::imgproc;
use opencv::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use test_support::video::{ffmpeg_output, with_rotation};
use vision::video::{SamplingStats, VideoLimits, plan, probe, sample_frames};

const W: i32 = 640;
const H: i32 = 480;
const BITS: i32 = 12;
const BLOCK: i32 = W / (BITS + 2);
/// H.264 with a key frame every 60 frames (2 s at 30 fps).
const X264_2S_GOP: [&str; 8] = [
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-g",
    "60",
    "-pix_fmt",
    "yuv420p",
];

/// A gray frame showing `index` in binary, most significant bit left.
fn frame(index: u64) -> Mat {
    let mut m = Mat::new_rows_cols_with_default(H, W, CV_8UC1, Scalar::all(128.0)).expect("mat");
    for b in 0..BITS {
        let bit = (index >> (BITS - 1 - b)) & 1;
        let r = Rect::new(BLOCK * (b + 1), H / 2 - 60, BLOCK, 120);
        imgproc::rectangle(
            &mut m,
            r,
            Scalar::all(if bit == 1 { 255.0 } else { 0.0 }),
            -1,
            imgproc::LINE_8,
            0,
        )
        .expect("block");
    }
    m
}

/// The index a decoded (BGR) frame shows.
fn read_index(image: &Mat) -> u64 {
    let mut gray = Mat::default();
    imgproc::cvt_color_def(image, &mut gray, imgproc::COLOR_BGR2GRAY).expect("gray");
    let mut index = 0;
    for b in 0..BITS {
        let r = Rect::new(BLOCK * (b + 1) + BLOCK / 4, H / 2 - 30, BLOCK / 2, 60);
        let roi = Mat::roi(&gray, r).expect("roi");
        let mean = opencv::core::mean_def(&roi).expect("mean")[0];
        index = index << 1 | u64::from(mean > 128.0);
    }
    index
}

/// `frames` indexed frames piped into FFmpeg at `fps`, encoded with `args` into `name`.
fn indexed_video(dir: &Path, name: &str, frames: u64, fps: u32, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let size = format!("{W}x{H}");
    let rate = fps.to_string();
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f", "rawvideo", "-pix_fmt", "gray", "-s", &size, "-r", &rate,
        ])
        .args(["-i", "-"])
        .args(args)
        .arg(&out)
        .stdin(Stdio::piped())
        .spawn()
        .expect("ffmpeg runs (Debian package ffmpeg)");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for i in 0..frames {
            let f = frame(i);
            stdin
                .write_all(f.data_bytes().expect("bytes"))
                .expect("pipe");
        }
    }
    assert!(child.wait().expect("ffmpeg").success(), "ffmpeg {args:?}");
    out
}

/// One sample in each of `k` equal spans of `count` frames, in order (the sampler takes the
/// span's middle, or a key frame in the span).
fn assert_spread(indices: &[u64], count: u64, k: u64) {
    assert_eq!(indices.len() as u64, k, "{indices:?}");
    for (i, &f) in indices.iter().enumerate() {
        let (lo, hi) = (i as u64 * count / k, (i as u64 + 1) * count / k);
        assert!(
            (lo..hi).contains(&f) && f > 0 && f + 1 < count,
            "sample {i} = frame {f}, outside its span {lo}..{hi}: {indices:?}"
        );
    }
    assert_ne!(
        indices,
        plan(count, k as usize),
        "no sample fell on a key frame"
    );
}

fn check(path: &Path, k: usize) -> (u64, Vec<(u64, f64)>) {
    check_stats(path, k).0
}

fn check_stats(path: &Path, k: usize) -> ((u64, Vec<(u64, f64)>), SamplingStats) {
    let info = probe(path, VideoLimits::default()).expect("probe");
    let (frames, stats) = sample_frames(path, &info, k, VideoLimits::default()).expect("sample");
    let mut got = Vec::new();
    for f in &frames {
        let shown = read_index(&f.image);
        assert_eq!(
            shown,
            f.index,
            "{}: frame said to be {} shows {shown}",
            path.display(),
            f.index
        );
        got.push((f.index, f.timestamp_ms));
    }
    ((info.frame_count_header, got), stats)
}

#[test]
fn the_pattern_reads_back() {
    for i in [0, 1, 2, 300, 899, 4095] {
        let mut bgr = Mat::default();
        imgproc::cvt_color_def(&frame(i), &mut bgr, imgproc::COLOR_GRAY2BGR).expect("bgr");
        assert_eq!(read_index(&bgr), i);
    }
}

#[test]
fn constant_frame_rate_h264_with_2_s_key_frames() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = indexed_video(dir.path(), "cfr.mp4", 300, 30, &X264_2S_GOP);
    let (header, got) = check(&path, 12);
    eprintln!("CFR: header {header} frames, sampled {got:?}");
    assert_eq!(header, 300);
    let indices: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_spread(&indices, 300, 12);
    for (i, t) in &got {
        assert!(
            (t - *i as f64 * 1000.0 / 30.0).abs() < 1.0,
            "frame {i} at {t} ms"
        );
    }
}

#[test]
fn reading_stops_at_the_deadline() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = indexed_video(dir.path(), "late.mp4", 300, 30, &X264_2S_GOP);
    let info = probe(&path, VideoLimits::default()).expect("probe");
    let late = VideoLimits {
        deadline: Some(std::time::Instant::now()),
        ..VideoLimits::default()
    };
    let Err(err) = sample_frames(&path, &info, 12, late) else {
        panic!("sampled past its deadline");
    };
    assert!(matches!(err, vision::video::VideoError::TimedOut), "{err}");
    assert!(
        !err.is_bad_input(),
        "the server's limit, not the sender's fault"
    );
    let ahead = VideoLimits {
        deadline: Some(std::time::Instant::now() + std::time::Duration::from_secs(60)),
        ..VideoLimits::default()
    };
    let (frames, _) = sample_frames(&path, &info, 12, ahead).expect("in time");
    assert_eq!(frames.len(), 12);
}

#[test]
fn a_10_s_key_frame_interval_with_b_frames() {
    // x264's usual B-frame pyramid: the sampler leaves the non-reference B-frames it passes
    // undecoded, and every sample must still be the exact frame.
    let dir = tempfile::tempdir().expect("tmp");
    // b-adapt=0: x264 would otherwise see every frame of this pattern as a change and
    // choose few B-frames.
    let args = [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-x264-params",
        "bframes=3:b-adapt=0:b-pyramid=normal",
        "-g",
        "300",
        "-pix_fmt",
        "yuv420p",
    ];
    let path = indexed_video(dir.path(), "gop10s.mp4", 330, 30, &args);
    let ((header, got), stats) = check_stats(&path, 12);
    eprintln!("10 s GOP with B-frames: header {header} frames, sampled {got:?}, {stats:?}");
    assert!(stats.skipped > 0, "no B-frame was skipped: {stats:?}");
    assert_eq!(stats.frame_count, 330);
    let indices: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_eq!(indices.len(), 12);
    for (i, t) in &got {
        assert!(
            (t - *i as f64 * 1000.0 / 30.0).abs() < 1.0,
            "frame {i} at {t} ms"
        );
    }
}

#[test]
fn variable_frame_rate_and_a_wrong_header_count() {
    let dir = tempfile::tempdir().expect("tmp");
    // Frames 0–89 at 30 fps, then every frame held twice as long (15 fps).
    let mut vfr = vec![
        "-vf",
        "setpts='if(lt(N,90),N,90+2*(N-90))/(30*TB)'",
        "-fps_mode",
        "vfr",
    ];
    vfr.extend_from_slice(&X264_2S_GOP);
    let mp4 = indexed_video(dir.path(), "vfr.mp4", 240, 30, &vfr);
    let (header, got) = check(&mp4, 12);
    eprintln!("VFR MP4: header {header} frames, sampled {got:?}");
    let indices: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_spread(&indices, 240, 12);
    // The timestamps show the change of rate: 33 ms per frame, then 67.
    let late = got.iter().find(|g| g.0 > 100).expect("a late sample");
    let expected = (90.0 + 2.0 * (late.0 as f64 - 90.0)) * 1000.0 / 30.0;
    assert!((late.1 - expected).abs() < 2.0, "{late:?} vs {expected}");

    // Matroska stores no frame count: OpenCV estimates it from duration × frame rate, which a
    // variable frame rate throws off. The samples must still be exact and evenly spread over
    // the 240 frames really there.
    let mkv = indexed_video(dir.path(), "vfr.mkv", 240, 30, &vfr);
    let (header, got) = check(&mkv, 12);
    eprintln!("VFR MKV: header says {header} frames, sampled {got:?}");
    assert_ne!(
        header, 240,
        "the header count should be off for this case to mean anything"
    );
    let indices: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_spread(&indices, 240, 12);
}

/// Frame `index` of `path` as FFmpeg's command line shows it (rotation applied), gray.
fn ffmpeg_frame(path: &Path, index: u64, width: i32, height: i32) -> Mat {
    let select = format!("select=eq(n\\,{index})");
    let path = path.to_str().expect("utf-8 path");
    let gray = ffmpeg_output(&[
        "-i",
        path,
        "-vf",
        &select,
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        "-",
    ]);
    assert_eq!(gray.len(), (width * height) as usize, "frame size");
    Mat::new_rows_cols_with_data(height, width, &gray)
        .expect("mat")
        .try_clone()
        .expect("own")
}

#[test]
fn a_rotated_phone_video_comes_out_upright_as_ffmpeg_shows_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let plain = indexed_video(dir.path(), "plain.mp4", 60, 30, &X264_2S_GOP);
    for deg in [90, 180, 270] {
        let rotated = with_rotation(&plain, dir.path(), &format!("rotated{deg}.mp4"), deg);
        let info = probe(&rotated, VideoLimits::default()).expect("probe");
        let (frames, _) =
            sample_frames(&rotated, &info, 3, VideoLimits::default()).expect("sample");
        for f in &frames {
            let (w, h) = (f.image.cols(), f.image.rows());
            assert_eq!((w, h), (info.width as i32, info.height as i32));
            let mut gray = Mat::default();
            imgproc::cvt_color_def(&f.image, &mut gray, imgproc::COLOR_BGR2GRAY).expect("gray");
            let reference = ffmpeg_frame(&rotated, f.index, w, h);
            let mut diff = Mat::default();
            opencv::core::absdiff(&gray, &reference, &mut diff).expect("diff");
            let mean = opencv::core::mean_def(&diff).expect("mean")[0];
            assert!(
                mean < 4.0,
                "rotation {deg}°, frame {}: differs from FFmpeg's upright frame by {mean:.1}",
                f.index
            );
        }
    }
}

#[test]
fn a_browser_recording_without_duration_or_frame_rate_is_read_by_its_timestamps() {
    let dir = tempfile::tempdir().expect("tmp");
    let mp4 = indexed_video(dir.path(), "src.mp4", 300, 30, &X264_2S_GOP);
    let webm = test_support::video::media_recorder_webm(dir.path(), &mp4, "recorded.webm");
    let info = probe(&webm, VideoLimits::default()).expect("probe");
    assert_eq!(
        (info.duration_s, info.frame_count_header),
        (0.0, 0),
        "the header says nothing of its length: {info:?}"
    );
    let ((_, got), stats) = check_stats(&webm, 12);
    let indices: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_spread(&indices, 300, 12);
    assert_eq!(stats.frame_count, 300);
    assert!((stats.duration_s - 10.0).abs() < 0.05, "{stats:?}");
    assert!((stats.fps - 30.0).abs() < 0.5, "{stats:?}");
    // The duration limit holds without a duration in the header.
    let short = VideoLimits {
        max_duration_s: 5.0,
        ..VideoLimits::default()
    };
    let Err(err) = sample_frames(&webm, &info, 12, short) else {
        panic!("a 10 s recording sampled under a 5 s limit");
    };
    assert!(err.to_string().contains("at most 5 s"), "{err}");
}
