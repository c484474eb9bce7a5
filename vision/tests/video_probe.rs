//! Video intake on real files made here with FFmpeg (Debian's `ffmpeg`): what the header says
//! of good videos (H.264 MP4, VP9 WebM, a rotated phone video), and a clear refusal of the bad
//! ones before their frames are decoded: too long (a 10-minute 4K file), too small, audio
//! only, empty, cut short, text renamed `.mp4`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use vision::video::{VideoError, VideoLimits, probe};

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs (Debian package ffmpeg)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `seconds` of FFmpeg's test pattern at `size` and `rate`, H.264 in MP4.
fn h264(dir: &Path, name: &str, size: &str, rate: u32, seconds: u32, extra: &[&str]) -> PathBuf {
    let p = dir.join(name);
    let src = format!("testsrc=size={size}:rate={rate}:duration={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &src];
    args.extend_from_slice(&[
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]);
    args.extend_from_slice(extra);
    let out = p.to_str().expect("utf-8");
    args.push(out);
    ffmpeg(&args);
    p
}

#[test]
fn good_videos_are_described_from_their_header() {
    let dir = tempfile::tempdir().expect("tmp");
    let mp4 = h264(dir.path(), "good.mp4", "640x480", 30, 3, &[]);
    let info = probe(&mp4, VideoLimits::default()).expect("a good video");
    eprintln!("{info:?}");
    assert_eq!((info.width, info.height), (640, 480));
    assert!((info.fps - 30.0).abs() < 0.01, "{}", info.fps);
    assert_eq!(info.frame_count_header, 90);
    assert!((info.duration_s - 3.0).abs() < 0.05, "{}", info.duration_s);
    assert!(
        matches!(info.codec.as_deref(), Some("h264" | "avc1")),
        "{:?}",
        info.codec
    );
    assert_eq!(info.rotation_deg, 0);

    let webm = dir.path().join("good.webm");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=480x360:rate=25:duration=2",
        "-c:v",
        "libvpx-vp9",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        webm.to_str().expect("utf-8"),
    ]);
    let info = probe(&webm, VideoLimits::default()).expect("a VP9 WebM");
    eprintln!("{info:?}");
    assert_eq!((info.width, info.height), (480, 360));
    assert!((info.duration_s - 2.0).abs() < 0.2, "{}", info.duration_s);

    // A phone video stored landscape with a rotation in its header (FFmpeg 5 writes the tag
    // when remuxing): frames come out portrait.
    let plain = h264(dir.path(), "plain.mp4", "640x360", 30, 1, &[]);
    let rotated = dir.path().join("rotated.mp4");
    ffmpeg(&[
        "-i",
        plain.to_str().expect("utf-8"),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        rotated.to_str().expect("utf-8"),
    ]);
    let info = probe(&rotated, VideoLimits::default()).expect("a rotated video");
    eprintln!("{info:?}");
    assert!(
        matches!(info.rotation_deg, 90 | 270),
        "{}",
        info.rotation_deg
    );
    assert_eq!((info.width, info.height), (360, 640));
}

#[test]
fn a_ten_minute_4k_video_is_refused_from_its_header() {
    let dir = tempfile::tempdir().expect("tmp");
    // Two seconds of 4K at 5 frames/s, then the same packets looped to ten minutes without
    // re-encoding.
    let short = h264(dir.path(), "short.mp4", "3840x2160", 5, 2, &["-g", "10"]);
    let long = dir.path().join("long.mp4");
    ffmpeg(&[
        "-stream_loop",
        "299",
        "-i",
        short.to_str().expect("utf-8"),
        "-c",
        "copy",
        long.to_str().expect("utf-8"),
    ]);
    let t = Instant::now();
    let err = probe(&long, VideoLimits::default()).expect_err("too long");
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    eprintln!("10-minute 4K refused in {ms:.0} ms: {err}");
    assert!(matches!(err, VideoError::TooLong { .. }), "{err}");
    assert!(err.to_string().contains("at most 30 s"), "{err}");
    // Decoding its 3000 4K frames would take minutes here: the refusal came from the header.
    assert!(ms < 5000.0, "{ms} ms");
}

#[test]
fn bad_files_get_a_clear_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = h264(dir.path(), "good.mp4", "640x480", 30, 2, &[]);
    let bytes = std::fs::read(&good).expect("read");

    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, b"this is not a video, only text renamed .mp4\n").expect("write");
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let audio = dir.path().join("audio.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-c:a",
        "aac",
        audio.to_str().expect("utf-8"),
    ]);
    let tiny = h264(dir.path(), "tiny.mp4", "160x120", 30, 1, &[]);

    let cases: [(&Path, &str, &str); 5] = [
        (&empty, "EMPTY_INPUT", "empty"),
        (&text, "UNSUPPORTED_VIDEO", "text"),
        (&cut, "CORRUPT_VIDEO", "cut short"),
        (&audio, "NO_VIDEO_STREAM", "no video stream"),
        (&tiny, "VIDEO_TOO_SMALL", "at least 240"),
    ];
    for (path, code, words) in cases {
        let err = probe(path, VideoLimits::default()).expect_err("refused");
        eprintln!("{}: {err}", path.display());
        assert_eq!(err.code(), code, "{}: {err}", path.display());
        assert!(err.is_bad_input());
        assert!(err.to_string().contains(words), "{}: {err}", path.display());
    }
    let missing = probe(&dir.path().join("missing.mp4"), VideoLimits::default());
    assert!(matches!(missing, Err(VideoError::Io(_))));
}
