//! Video intake on real files made here with FFmpeg (Debian's `ffmpeg`): what the header says
//! of good videos (H.264 MP4, VP9 WebM, a rotated phone video), and a clear refusal of the bad
//! ones before their frames are decoded: too long (a 10-minute 4K file), too small, audio
//! only, empty, cut short, text renamed `.mp4`.

use std::path::Path;
use std::time::Instant;
use test_support::video::{audio_only, ffmpeg, ten_minutes_of_4k, test_pattern, with_rotation};
use vision::video::{VideoError, VideoLimits, probe};

#[test]
fn good_videos_are_described_from_their_header() {
    let dir = tempfile::tempdir().expect("tmp");
    let mp4 = test_pattern(dir.path(), "good.mp4", "640x480", 30, 3, &[]);
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
    let plain = test_pattern(dir.path(), "plain.mp4", "640x360", 30, 1, &[]);
    let rotated = with_rotation(&plain, dir.path(), "rotated.mp4", 90);
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
    let long = ten_minutes_of_4k(dir.path(), "long.mp4");
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
    let good = test_pattern(dir.path(), "good.mp4", "640x480", 30, 2, &[]);
    let bytes = std::fs::read(&good).expect("read");

    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").expect("write");
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, b"this is not a video, only text renamed .mp4\n").expect("write");
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let audio = audio_only(dir.path(), "audio.mp4");
    let tiny = test_pattern(dir.path(), "tiny.mp4", "160x120", 30, 1, &[]);

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
