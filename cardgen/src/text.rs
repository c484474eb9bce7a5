//! Hangul text on a BGR `Mat`: OpenCV's putText has only Hershey fonts, so glyphs are rasterised
//! with ab_glyph from Debian's fonts-nanum TTF files and alpha-blended into the pixels.
//!
//! The fonts are not shipped with kyc: they are read from where Debian's packages install them
//! (`fonts-nanum` for Hangul, `fonts-dejavu-core` for machine-readable zones; scripts/setup.sh
//! installs both). A missing file is a [`CardgenError::FontMissing`] naming the package.

use crate::error::{CardgenError, Result};
use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use opencv::core::{CV_8UC3, Mat, MatTraitConst, MatTraitManual};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Where Debian's `fonts-nanum` package puts its files (`apt-get install fonts-nanum`);
/// `KYC_NANUM_FONT_DIR` overrides it.
pub const NANUM_FONT_DIR: &str = "/usr/share/fonts/truetype/nanum";
/// The Debian package that provides [`NANUM_FONT_DIR`], and the other way to provide it.
const NANUM: FontPackage = FontPackage {
    name: "fonts-nanum",
    hint: ", or set KYC_NANUM_FONT_DIR to a folder holding the Nanum TTF files",
};

/// Debian's fonts-dejavu-core monospace cuts (absolute: `load` joins them to nothing else).
const DEJAVU_MONO: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf";
const DEJAVU_MONO_BOLD: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf";
const DEJAVU: FontPackage = FontPackage {
    name: "fonts-dejavu-core",
    hint: "",
};

/// Where a font file comes from, for the error when it is missing.
struct FontPackage {
    name: &'static str,
    hint: &'static str,
}

/// The Nanum family a synthetic card is printed in (titles use its bold cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FontChoice {
    NanumGothic,
    NanumMyeongjo,
    NanumBarunGothic,
    NanumSquare,
    /// Only in the varied designs ([`FontChoice::VARIETY`]), never in [`FontChoice::ALL`].
    NanumSquareRound,
}

impl FontChoice {
    /// The fonts of [`crate::generate`]'s cards (their order fixes which seed gets which).
    pub const ALL: [FontChoice; 4] = [
        FontChoice::NanumGothic,
        FontChoice::NanumMyeongjo,
        FontChoice::NanumBarunGothic,
        FontChoice::NanumSquare,
    ];

    /// The fonts of the varied designs ([`crate::generate_varied`]): every Nanum family of
    /// Debian's fonts-nanum except the coding one.
    pub const VARIETY: [FontChoice; 5] = [
        FontChoice::NanumGothic,
        FontChoice::NanumMyeongjo,
        FontChoice::NanumBarunGothic,
        FontChoice::NanumSquare,
        FontChoice::NanumSquareRound,
    ];

    /// File names of the regular and the bold cut.
    pub fn files(self) -> (&'static str, &'static str) {
        match self {
            FontChoice::NanumGothic => ("NanumGothic.ttf", "NanumGothicBold.ttf"),
            FontChoice::NanumMyeongjo => ("NanumMyeongjo.ttf", "NanumMyeongjoBold.ttf"),
            FontChoice::NanumBarunGothic => ("NanumBarunGothic.ttf", "NanumBarunGothicBold.ttf"),
            FontChoice::NanumSquare => ("NanumSquareR.ttf", "NanumSquareB.ttf"),
            FontChoice::NanumSquareRound => ("NanumSquareRoundR.ttf", "NanumSquareRoundB.ttf"),
        }
    }
}

fn font_dir() -> PathBuf {
    std::env::var_os("KYC_NANUM_FONT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(NANUM_FONT_DIR))
}

/// Loads a font file (from Debian's `package`) once per process.
fn load(file: &str, package: &FontPackage) -> Result<Arc<FontVec>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<FontVec>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache
        .lock()
        .map_err(|_| CardgenError::Unsupported("font cache poisoned".into()))?;
    if let Some(f) = map.get(file) {
        return Ok(f.clone());
    }
    let path = font_dir().join(file);
    let bytes = std::fs::read(&path).map_err(|source| CardgenError::FontMissing {
        path: path.display().to_string(),
        package: package.name,
        hint: package.hint,
        source,
    })?;
    let font = FontVec::try_from_vec(bytes).map_err(|e| CardgenError::BadFont {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let font = Arc::new(font);
    map.insert(file.to_string(), font.clone());
    Ok(font)
}

/// A font with fallbacks for characters it lacks (Hanja are not in every Nanum cut).
pub struct Pen {
    fonts: Vec<Arc<FontVec>>,
}

impl Pen {
    /// The regular (or bold) cut of `choice`, falling back to NanumMyeongjo and NanumGothic.
    pub fn new(choice: FontChoice, bold: bool) -> Result<Self> {
        let (regular, heavy) = choice.files();
        let mut fonts = vec![load(if bold { heavy } else { regular }, &NANUM)?];
        for fallback in ["NanumMyeongjo.ttf", "NanumGothic.ttf"] {
            if let Ok(f) = load(fallback, &NANUM) {
                fonts.push(f);
            }
        }
        Ok(Self { fonts })
    }

    /// DejaVu Sans Mono (Debian's fonts-dejavu-core), bold when `bold`: machine-readable zones
    /// are printed at a fixed pitch, and its thin `<` reads as a filler where NanumGothicCoding's
    /// heavy one was read as `K` or `C`.
    pub fn monospace(bold: bool) -> Result<Self> {
        let file = if bold { DEJAVU_MONO_BOLD } else { DEJAVU_MONO };
        Ok(Self {
            fonts: vec![load(file, &DEJAVU)?],
        })
    }

    fn font_for(&self, c: char) -> Option<&FontVec> {
        self.fonts
            .iter()
            .map(|f| f.as_ref())
            .find(|f| f.glyph_id(c).0 != 0)
    }

    /// Ascent and descent (negative) in pixels at `px`.
    pub fn metrics(&self, px: f32) -> (f32, f32) {
        let f = self.fonts[0].as_scaled(PxScale::from(px));
        (f.ascent(), f.descent())
    }

    /// Advance width of `text` at `px` with `spacing` extra pixels between characters.
    pub fn measure(&self, text: &str, px: f32, spacing: f32) -> f32 {
        let mut w = 0.0;
        let n = text.chars().count();
        for c in text.chars() {
            if let Some(f) = self.font_for(c) {
                let sf = f.as_scaled(PxScale::from(px));
                w += sf.h_advance(f.glyph_id(c));
            }
        }
        w + spacing * n.saturating_sub(1) as f32
    }

    /// Draws `text` starting at `origin` = (x, baseline), in BGR `color`, with
    /// `spacing` extra pixels between characters. Returns the advance drawn.
    pub fn draw(
        &self,
        img: &mut Mat,
        text: &str,
        origin: (f32, f32),
        px: f32,
        color: [u8; 3],
        spacing: f32,
    ) -> Result<f32> {
        if img.typ() != CV_8UC3 || !img.is_continuous() {
            return Err(CardgenError::Unsupported(
                "text is drawn on continuous 8-bit BGR images only".into(),
            ));
        }
        let (cols, rows) = (img.cols(), img.rows());
        let (x, baseline) = origin;
        let data = img.data_bytes_mut()?;
        let mut pen_x = x;
        for c in text.chars() {
            let Some(font) = self.font_for(c) else {
                continue;
            };
            let scaled = font.as_scaled(PxScale::from(px));
            let id = font.glyph_id(c);
            let glyph = id.with_scale_and_position(PxScale::from(px), point(pen_x, baseline));
            if let Some(outline) = font.outline_glyph(glyph) {
                let b = outline.px_bounds();
                let (ox, oy) = (b.min.x as i32, b.min.y as i32);
                outline.draw(|gx, gy, coverage| {
                    let (px_x, px_y) = (ox + gx as i32, oy + gy as i32);
                    if px_x < 0 || px_y < 0 || px_x >= cols || px_y >= rows {
                        return;
                    }
                    let a = coverage.clamp(0.0, 1.0);
                    let i = (px_y as usize * cols as usize + px_x as usize) * 3;
                    for ch in 0..3 {
                        let old = f32::from(data[i + ch]);
                        data[i + ch] = (old + (f32::from(color[ch]) - old) * a).round() as u8;
                    }
                });
            }
            pen_x += scaled.h_advance(id) + spacing;
        }
        Ok(pen_x - x)
    }
}
