//! Test videos made with FFmpeg (Debian's `ffmpeg`): selfie-like clips of the real labelled
//! photos of `../shared/testdata/faces` (1280×720 H.264 at 30 fps, a slow pan and zoom and a
//! brightness swing, so every sampled frame differs from the photo and from the others),
//! FFmpeg's test pattern, an audio-only file and a ten-minute 4K file.

use crate::data::faces_dir;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `ffmpeg -y` quietly with `args`; a failure fails the test with FFmpeg's message.
#[track_caller]
pub fn ffmpeg(args: &[&str]) {
    ffmpeg_output(args);
}

/// [`ffmpeg`], returning what it wrote on stdout (for an output of `-`).
#[track_caller]
pub fn ffmpeg_output(args: &[&str]) -> Vec<u8> {
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
    out.stdout
}

pub(crate) fn utf8(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The pan/zoom/brightness chain that turns a still photo into a 1280×720 selfie-like clip.
fn motion(extra: &str) -> String {
    format!(
        "scale=1280:720:force_original_aspect_ratio=decrease,\
         pad=1280:720:(ow-iw)/2:(oh-ih)/2:color=0x505050,\
         zoompan=z='1.1+0.1*sin(2*PI*on/90)':x='(iw-iw/zoom)/2+60*sin(2*PI*on/120)':\
         y='(ih-ih/zoom)/2':d=1:s=1280x720:fps=30,\
         eq=brightness='0.06*sin(2*PI*t/2)':eval=frame{extra},setsar=1,format=yuv420p"
    )
}

const H264: [&str; 6] = ["-c:v", "libx264", "-preset", "veryfast", "-g", "60"];

/// A `seconds`-long 720p H.264 clip `dir/name` of the shared photo `photo`, with `extra`
/// filters appended (e.g. `",lutyuv=y=val*0.15"` for a dark one).
#[track_caller]
pub fn clip(dir: &Path, photo: &str, seconds: u32, extra: &str, name: &str) -> PathBuf {
    let out = dir.join(name);
    let src = faces_dir().join(photo);
    let t = seconds.to_string();
    let vf = motion(extra);
    let mut args = vec!["-loop", "1", "-framerate", "30", "-t", &t, "-i", utf8(&src)];
    args.extend(["-vf", &vf]);
    args.extend(H264);
    args.push(utf8(&out));
    ffmpeg(&args);
    out
}

/// `a` then `b`, one file `dir/cut.mp4`.
#[track_caller]
pub fn cut(dir: &Path, a: &Path, b: &Path) -> PathBuf {
    let out = dir.join("cut.mp4");
    let mut args = vec!["-i", utf8(a), "-i", utf8(b)];
    args.extend([
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1[v]",
        "-map",
        "[v]",
    ]);
    args.extend(H264);
    args.push(utf8(&out));
    ffmpeg(&args);
    out
}

/// `seconds` of FFmpeg's test pattern at `size` (`"640x480"`) and `rate`, H.264 in MP4, with
/// `extra` output options.
#[track_caller]
pub fn test_pattern(
    dir: &Path,
    name: &str,
    size: &str,
    rate: u32,
    seconds: u32,
    extra: &[&str],
) -> PathBuf {
    let p = dir.join(name);
    let src = format!("testsrc=size={size}:rate={rate}:duration={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &src];
    args.extend([
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
    ]);
    args.extend_from_slice(extra);
    args.push(utf8(&p));
    ffmpeg(&args);
    p
}

/// Two seconds of a 440 Hz tone, AAC in MP4: a file with no video stream.
#[track_caller]
pub fn audio_only(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-c:a",
        "aac",
        utf8(&p),
    ]);
    p
}

/// A ten-minute 4K H.264 file, made fast: two seconds at 5 frames/s, then the same packets
/// looped to ten minutes without re-encoding.
#[track_caller]
pub fn ten_minutes_of_4k(dir: &Path, name: &str) -> PathBuf {
    let short = test_pattern(dir, "short4k.mp4", "3840x2160", 5, 2, &["-g", "10"]);
    let long = dir.join(name);
    ffmpeg(&[
        "-stream_loop",
        "299",
        "-i",
        utf8(&short),
        "-c",
        "copy",
        utf8(&long),
    ]);
    long
}

/// `src` remuxed (not re-encoded) to `dir/name` with a rotation of `degrees` in its header, as
/// a phone stores a video filmed upright (FFmpeg 5 writes the tag when remuxing).
#[track_caller]
pub fn with_rotation(src: &Path, dir: &Path, name: &str, degrees: u32) -> PathBuf {
    let out = dir.join(name);
    let rotate = format!("rotate={degrees}");
    ffmpeg(&[
        "-i",
        utf8(src),
        "-c",
        "copy",
        "-metadata:s:v:0",
        &rotate,
        utf8(&out),
    ]);
    out
}

/// `src` re-recorded as a browser's MediaRecorder writes it: WebM/VP8 written as a stream (no
/// duration, no cues), frame times uneven by up to 12 ms, and no frame rate in the header (its
/// `DefaultDuration` blanked out, so FFmpeg reports only the 1 kHz time base: "1k tbr").
#[track_caller]
pub fn media_recorder_webm(dir: &Path, src: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let bytes = ffmpeg_output(&[
        "-i",
        utf8(src),
        "-an",
        "-vf",
        "settb=1/1000,setpts='floor(PTS+12*random(1))'",
        "-fps_mode",
        "vfr",
        "-enc_time_base",
        "1/1000",
        "-c:v",
        "libvpx",
        "-b:v",
        "2M",
        "-deadline",
        "realtime",
        "-cpu-used",
        "8",
        "-f",
        "webm",
        "-",
    ]);
    let stripped = without_default_duration(bytes);
    std::fs::write(&out, stripped).expect("write the WebM");
    out
}

/// `webm` with its track's DefaultDuration element (ID 0x23E383) overwritten by a Void
/// element of the same length.
#[track_caller]
fn without_default_duration(mut webm: Vec<u8>) -> Vec<u8> {
    const ID: [u8; 3] = [0x23, 0xE3, 0x83];
    let at = webm
        .windows(3)
        .position(|w| w == ID)
        .expect("FFmpeg's WebM names a DefaultDuration");
    let size = webm[at + 3];
    assert!(size & 0x80 != 0, "a one-byte element size");
    let total = 4 + usize::from(size & 0x7f);
    let void = total - 2;
    webm[at] = 0xEC;
    webm[at + 1] = 0x80 | u8::try_from(void).expect("short");
    webm[at + 2..at + total].fill(0);
    webm
}
