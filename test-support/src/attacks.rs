//! Presentation attacks the liveness tests make themselves with FFmpeg (no such video is
//! available under a free licence): a still picture shown with a second one during chosen
//! moments (a photo whose eyes are covered now and then: a fake blink), a flat picture turned
//! and tilted before the camera (a printed card face), a clip with another clip's frames
//! spliced in, and a clip where a second person stands beside the holder for half its length.
//! Each is 30 fps H.264, like the selfie-like clips of [`crate::video`].

use crate::video::{ffmpeg, utf8};
use std::path::{Path, PathBuf};

const H264: [&str; 8] = [
    "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p",
];

/// FFmpeg's input arguments for the still `image` looped at 30 fps for `seconds`.
fn looped<'a>(image: &'a Path, seconds: &'a str) -> [&'a str; 8] {
    [
        "-loop",
        "1",
        "-framerate",
        "30",
        "-t",
        seconds,
        "-i",
        utf8(image),
    ]
}

/// `enable` expression true during each `(from, to)` second window.
fn windows(w: &[(f32, f32)]) -> String {
    let parts: Vec<String> = w
        .iter()
        .map(|(a, b)| format!("between(t,{a},{b})"))
        .collect();
    parts.join("+")
}

/// A `seconds`-long 1280×720 clip of the still image `base`, panned and zoomed slowly, showing
/// `other` (the same size as `base`) instead during each window.
#[track_caller]
pub fn still_with(
    dir: &Path,
    base: &Path,
    other: &Path,
    during: &[(f32, f32)],
    seconds: u32,
    name: &str,
) -> PathBuf {
    let out = dir.join(name);
    let t = seconds.to_string();
    let graph = format!(
        "[0:v][1:v]overlay=enable='{}',\
         scale=1280:720:force_original_aspect_ratio=decrease,\
         pad=1280:720:(ow-iw)/2:(oh-ih)/2:color=0x505050,\
         zoompan=z='1.1+0.05*sin(2*PI*on/90)':x='(iw-iw/zoom)/2+40*sin(2*PI*on/120)':\
         y='(ih-ih/zoom)/2':d=1:s=1280x720:fps=30,setsar=1[v]",
        windows(during)
    );
    let mut args = looped(base, &t).to_vec();
    args.extend(looped(other, &t));
    args.extend(["-filter_complex", &graph, "-map", "[v]", "-t", &t]);
    args.extend(H264);
    args.push(utf8(&out));
    ffmpeg(&args);
    out
}

/// A `seconds`-long 1280×720 clip of the flat picture `image` (a printed card) held before a
/// grey background and turned about its vertical axis one way, then the other (perspective:
/// the far edge shortens), and tilted back: what a person does with a card to fake a turn.
#[track_caller]
pub fn turned_picture(dir: &Path, image: &Path, seconds: u32, name: &str) -> PathBuf {
    let out = dir.join(name);
    let t = seconds.to_string();
    // s: the turn, -1..1 over each 4 s; each edge's far corners move in by up to 18 % of W
    // and 12 % of H (about 35° of turn); the top edge also recedes now and then (a tilt).
    let s = "sin(2*PI*in/120)";
    let graph = format!(
        "scale=1100:640:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2:color=0x6a6a6a,\
         perspective=sense=destination:eval=frame:\
         x0='W*0.18*max(0,-{s})':y0='H*0.12*max(0,-{s})+H*0.05*max(0,sin(2*PI*in/90))':\
         x1='W-W*0.18*max(0,{s})':y1='H*0.12*max(0,{s})+H*0.05*max(0,sin(2*PI*in/90))':\
         x2='W*0.18*max(0,-{s})':y2='H-H*0.12*max(0,-{s})':\
         x3='W-W*0.18*max(0,{s})':y3='H-H*0.12*max(0,{s})',\
         setsar=1"
    );
    let mut args = looped(image, &t).to_vec();
    args.extend(["-vf", &graph]);
    args.extend(H264);
    args.push(utf8(&out));
    ffmpeg(&args);
    out
}

/// `clip` with `other`'s frames (scaled to `clip`'s size) shown instead during `during`.
#[track_caller]
pub fn spliced(dir: &Path, clip: &Path, other: &Path, during: (f32, f32), name: &str) -> PathBuf {
    let out = dir.join(name);
    let graph = format!(
        "[1:v][0:v]scale2ref[o][c];[c][o]overlay=enable='{}',setsar=1[v]",
        windows(&[during])
    );
    let mut args = vec!["-i", utf8(clip), "-i", utf8(other)];
    args.extend(["-filter_complex", &graph, "-map", "[v]", "-an"]);
    args.extend(H264);
    args.push(utf8(&out));
    ffmpeg(&args);
    out
}

/// `clip` with the still photo `person` standing beside the holder (scaled to 45 % of the
/// clip's height, at its right edge) from `from` seconds on.
#[track_caller]
pub fn second_person(dir: &Path, clip: &Path, person: &Path, from: f32, name: &str) -> PathBuf {
    let out = dir.join(name);
    let graph = format!(
        "[1:v][0:v]scale2ref=w=oh*mdar:h=ih*0.45[p][c];\
         [c][p]overlay=x=W-w:y=H-h:enable='gte(t,{from})':shortest=1,setsar=1[v]"
    );
    let mut args = vec!["-i", utf8(clip), "-loop", "1", "-i", utf8(person)];
    args.extend(["-filter_complex", &graph, "-map", "[v]", "-an"]);
    args.extend(H264);
    args.push(utf8(&out));
    ffmpeg(&args);
    out
}
