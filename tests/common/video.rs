//! Selfie-like test videos made with FFmpeg from the real labelled photos of
//! `../shared/testdata/faces`: 1280×720 H.264 at 30 fps, a slow pan and zoom and a brightness
//! swing, so every sampled frame differs from the photo and from the others.
// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn faces_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/faces");
    assert!(
        dir.join("pairs.csv").is_file(),
        "{} is missing: the tests need ../shared beside the checkout",
        dir.display()
    );
    dir
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

pub fn ffmpeg(args: &[&str]) {
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

const H264: [&str; 6] = ["-c:v", "libx264", "-preset", "veryfast", "-g", "60"];

/// A `seconds`-long 720p H.264 clip of the photo `photo`, with `extra` filters appended.
pub fn clip(dir: &Path, photo: &str, seconds: u32, extra: &str, name: &str) -> PathBuf {
    let out = dir.join(name);
    let src = faces_dir().join(photo);
    let t = seconds.to_string();
    let vf = motion(extra);
    let mut args = vec!["-loop", "1", "-framerate", "30", "-t", &t, "-i"];
    let src = src.to_str().expect("utf-8 path");
    args.push(src);
    args.extend(["-vf", &vf]);
    args.extend(H264);
    let o = out.to_str().expect("utf-8 path");
    args.push(o);
    ffmpeg(&args);
    out
}

/// `a` then `b`, one file.
pub fn cut(dir: &Path, a: &Path, b: &Path) -> PathBuf {
    let out = dir.join("cut.mp4");
    ffmpeg(&[
        "-i",
        a.to_str().expect("utf-8"),
        "-i",
        b.to_str().expect("utf-8"),
        "-filter_complex",
        "[0:v][1:v]concat=n=2:v=1[v]",
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-g",
        "60",
        out.to_str().expect("utf-8"),
    ]);
    out
}
