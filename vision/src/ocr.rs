//! Text recognition with Tesseract (`kor+eng`): one engine per worker thread, fed OpenCV Mats,
//! so card fields and MRZ lines are read the same way by the server and the CLI.

use std::path::{Path, PathBuf};

use opencv::core::{CV_8UC1, CV_8UC3, CV_8UC4, Mat};
use opencv::imgproc;
use opencv::prelude::*;
use tesseract::{PageSegMode, Tesseract};

use crate::error::{Result, VisionError};

/// Where Debian's `tesseract-ocr-kor` / `tesseract-ocr-eng` put their language data.
pub const DEFAULT_TESSDATA: &str = "/usr/share/tesseract-ocr/5/tessdata";

/// The environment variable that caps Tesseract's OpenMP threads. It must be `1` in the
/// process's environment before it starts (libgomp reads it as it loads): each reader then
/// runs on its own thread only, and several readers share the cores without contention
/// (`.cargo/config.toml` sets it for tests, the `kyc` binary for itself).
pub const OPENMP_LIMIT_VAR: &str = "OMP_THREAD_LIMIT";

/// The resolution Tesseract is told the image has (rectified cards are ~10 px/mm ≈ 254 dpi).
pub const SOURCE_DPI: i32 = 300;

/// How the image is laid out, i.e. Tesseract's page segmentation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LineMode {
    /// One line of text (PSM 7): a cropped card field or an MRZ line.
    #[default]
    SingleLine,
    /// One uniform block of text (PSM 6): several lines, e.g. a whole MRZ.
    Block,
    /// One word (PSM 8).
    SingleWord,
    /// As much text as possible in no particular order (PSM 11): a whole card.
    Sparse,
}

impl LineMode {
    fn psm(self) -> PageSegMode {
        match self {
            Self::SingleLine => PageSegMode::PsmSingleLine,
            Self::Block => PageSegMode::PsmSingleBlock,
            Self::SingleWord => PageSegMode::PsmSingleWord,
            Self::Sparse => PageSegMode::PsmSparseText,
        }
    }
}

/// What Tesseract read.
#[derive(Debug, Clone, PartialEq)]
pub struct OcrText {
    /// The recognised text, trailing whitespace trimmed (lines separated by `\n`).
    pub text: String,
    /// Tesseract's mean word confidence, 0..1.
    pub confidence: f32,
}

/// A Tesseract engine. `Send` but not `Sync`: each worker owns its own, like the face engines.
pub struct Ocr {
    // Tesseract's builder API consumes the engine on every call; an engine lost to an error is
    // re-created on the next read.
    tess: Option<Tesseract>,
    languages: String,
    datapath: Option<PathBuf>,
}

impl std::fmt::Debug for Ocr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ocr")
            .field("languages", &self.languages)
            .field("datapath", &self.datapath)
            .finish()
    }
}

fn tess_err(what: &str, e: impl std::fmt::Display) -> VisionError {
    VisionError::Runtime(format!("tesseract {what}: {e}"))
}

impl Ocr {
    /// Loads the language data (`"kor+eng"`) from `datapath` (a `tessdata` folder) or, when
    /// `None`, from `TESSDATA_PREFIX` / Tesseract's built-in default.
    pub fn new(languages: &str, datapath: Option<&Path>) -> Result<Self> {
        let mut ocr = Self::deferred(languages, datapath);
        ocr.tess = Some(ocr.init()?);
        Ok(ocr)
    }

    /// As [`Ocr::new`], but the language data is loaded by the first [`Ocr::read`] (for an
    /// engine only some inputs need). Its errors then come from that read.
    pub fn deferred(languages: &str, datapath: Option<&Path>) -> Self {
        Self {
            tess: None,
            languages: languages.to_string(),
            datapath: datapath.map(Path::to_path_buf),
        }
    }

    /// The languages this engine was loaded with.
    pub fn languages(&self) -> &str {
        &self.languages
    }

    fn init(&self) -> Result<Tesseract> {
        let datapath = match &self.datapath {
            Some(p) => Some(p.to_str().ok_or_else(|| VisionError::Model {
                path: p.display().to_string(),
                reason: "the tessdata path is not valid UTF-8".into(),
            })?),
            None => None,
        };
        let tess =
            Tesseract::new(datapath, Some(&self.languages)).map_err(|e| VisionError::Model {
                path: format!(
                    "{}/{}.traineddata",
                    datapath.unwrap_or("<tesseract default>"),
                    self.languages
                ),
                reason: format!("tesseract could not load the language data: {e}"),
            })?;
        // Tesseract prints its own diagnostics ("Image too small to scale!!" for a speck of
        // ink) on stderr, which is the CLI's channel for errors: they go nowhere.
        tess.set_variable("debug_file", "/dev/null")
            .map_err(|e| tess_err("set_variable", e))
    }

    /// Reads the text in `image` (8-bit gray, BGR or BGRA). `whitelist` restricts the
    /// characters Tesseract may output (e.g. the MRZ alphabet); `None` allows all.
    pub fn read(
        &mut self,
        image: &Mat,
        mode: LineMode,
        whitelist: Option<&str>,
    ) -> Result<OcrText> {
        let gray = to_gray(image)?;
        let (width, height) = (gray.cols(), gray.rows());
        let bytes = gray.data_bytes()?;
        // `to_gray` returns a continuous 8-bit single-channel Mat: one byte per pixel, no padding.
        let bytes_per_line = width;
        if bytes.len() < (width as usize) * (height as usize) {
            return Err(VisionError::Runtime(
                "OCR: gray image buffer too small".into(),
            ));
        }

        let mut tess = match self.tess.take() {
            Some(t) => t,
            None => self.init()?,
        };
        tess.set_page_seg_mode(mode.psm());
        let tess = tess
            .set_variable("tessedit_char_whitelist", whitelist.unwrap_or(""))
            .map_err(|e| tess_err("set_variable", e))?;
        let tess = tess
            .set_frame(bytes, width, height, 1, bytes_per_line)
            .map_err(|e| tess_err("set_frame", e))?
            .set_source_resolution(SOURCE_DPI);
        let mut tess = tess.recognize().map_err(|e| tess_err("recognize", e))?;
        let text = tess.get_text();
        let confidence = tess.mean_text_conf().clamp(0, 100) as f32 / 100.0;
        self.tess = Some(tess);
        let text = text.map_err(|e| tess_err("get_text", e))?;
        Ok(OcrText {
            text: text.trim_end().to_string(),
            confidence,
        })
    }
}

/// An 8-bit single-channel, continuous copy (or view) of `image`.
fn to_gray(image: &Mat) -> Result<Mat> {
    if image.empty() || image.cols() <= 0 || image.rows() <= 0 {
        return Err(VisionError::EmptyInput);
    }
    let typ = image.typ();
    let mut gray = Mat::default();
    if typ == CV_8UC1 {
        gray = image.try_clone()?;
    } else if typ == CV_8UC3 {
        imgproc::cvt_color_def(image, &mut gray, imgproc::COLOR_BGR2GRAY)?;
    } else if typ == CV_8UC4 {
        imgproc::cvt_color_def(image, &mut gray, imgproc::COLOR_BGRA2GRAY)?;
    } else {
        return Err(VisionError::UnsupportedImage(format!(
            "OCR needs an 8-bit gray, BGR or BGRA image (OpenCV type {typ})"
        )));
    }
    if !gray.is_continuous() {
        gray = gray.try_clone()?;
    }
    Ok(gray)
}
