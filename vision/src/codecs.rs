//! OpenCV's image decoder (`cv::imdecode`), opened on first use rather than at process start.
//!
//! Debian's `libopencv_imgcodecs` links GDAL, which brings about 60 more shared libraries and
//! most of the symbol relocations the dynamic loader resolves before `main`: linked normally,
//! it cost every `kyc` command, `kyc --version` included, about 90 ms of a 150 ms start
//! (BENCHMARKS.md). The C++ side (`codecs.cpp`) opens the library with `dlopen`, finds
//! `cv::imdecode` in it and turns its exceptions into messages. The decoder is the same
//! function with the same flags, so images decode exactly as before. A command that will decode
//! calls [`preload`] on a spare thread so the opening overlaps with its other start-up work.
//!
//! JPEGs read in colour do not need the library at all: `jpeg.c` decodes them with libjpeg
//! (already in the process, through Tesseract's Leptonica) exactly as OpenCV's JPEG decoder
//! does — the same library and settings, BGR out, the EXIF orientation applied as
//! `cv::imdecode` applies it — so `kyc compare` on two JPEGs never opens GDAL's tree. CMYK
//! JPEGs, other formats and other flags go to OpenCV.

use opencv::core::{CV_8UC3, Mat, Scalar};
use opencv::imgcodecs::IMREAD_COLOR;
use opencv::prelude::*;
use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::sync::OnceLock;

/// The codecs library (`libopencv_imgcodecs.so.406` for OpenCV 4.6), as built against.
pub const SONAME: &str = env!("KYC_IMGCODECS_SONAME");

unsafe extern "C" {
    fn kyc_codecs_open(soname: *const c_char, err: *mut c_char, err_len: usize) -> c_int;
    fn kyc_codecs_imdecode(
        data: *const u8,
        len: usize,
        flags: c_int,
        out: *mut *mut c_void,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn kyc_jpeg_decode_bgr(
        data: *const u8,
        len: usize,
        pixels: *mut *mut u8,
        width: *mut c_int,
        height: *mut c_int,
        orientation: *mut c_int,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn kyc_jpeg_free(pixels: *mut u8);
}

static OPENED: OnceLock<Result<(), String>> = OnceLock::new();

fn message(buf: &[c_char]) -> String {
    // SAFETY: the C++ side writes a NUL-terminated string into `buf` (snprintf); the last byte
    // is forced to NUL below in any case.
    let mut owned = buf.to_vec();
    if let Some(last) = owned.last_mut() {
        *last = 0;
    }
    unsafe { CStr::from_ptr(owned.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// Opens the codecs library once per process; later calls return the first outcome.
pub fn preload() -> Result<(), String> {
    OPENED
        .get_or_init(|| {
            let soname = CString::new(SONAME).map_err(|e| e.to_string())?;
            let mut err = [0 as c_char; 512];
            // SAFETY: valid NUL-terminated name and a writable buffer of the given length.
            let rc = unsafe { kyc_codecs_open(soname.as_ptr(), err.as_mut_ptr(), err.len()) };
            if rc == 0 {
                Ok(())
            } else {
                Err(format!("cannot open {SONAME}: {}", message(&err)))
            }
        })
        .clone()
}

/// Whether decoding `bytes` in colour (as `decode_image` does) may need OpenCV's codecs
/// library: anything but a JPEG.
pub fn colour_needs_library(bytes: &[u8]) -> bool {
    !bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// `cv::imdecode(bytes, flags)`; an empty `Mat` when OpenCV cannot decode the data, `Err`
/// with OpenCV's message when it threw, or when the library cannot be opened.
pub fn imdecode(bytes: &[u8], flags: i32) -> Result<Mat, String> {
    if flags == IMREAD_COLOR
        && !colour_needs_library(bytes)
        && let Some(mat) = jpeg_bgr(bytes)?
    {
        return Ok(mat);
    }
    preload()?;
    let mut out: *mut c_void = std::ptr::null_mut();
    let mut err = [0 as c_char; 1024];
    // SAFETY: `bytes` outlives the call (the decoder copies what it keeps), `out` and `err`
    // are writable; on success `out` holds a `new cv::Mat` whose ownership passes to us.
    let rc = unsafe {
        kyc_codecs_imdecode(
            bytes.as_ptr(),
            bytes.len(),
            flags,
            &mut out,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    if rc != 0 || out.is_null() {
        return Err(message(&err));
    }
    // SAFETY: `out` is a heap `cv::Mat` made with `new`, which is what `Mat` owns and deletes.
    Ok(unsafe { Mat::from_raw(out) })
}

/// A JPEG decoded as `cv::imdecode(bytes, IMREAD_COLOR)` decodes it: `None` when OpenCV has to
/// (CMYK), an empty `Mat` when libjpeg refuses the data.
fn jpeg_bgr(bytes: &[u8]) -> Result<Option<Mat>, String> {
    let mut pixels: *mut u8 = std::ptr::null_mut();
    let (mut w, mut h, mut orientation) = (0 as c_int, 0 as c_int, 1 as c_int);
    let mut err = [0 as c_char; 256];
    // SAFETY: `bytes` is read only during the call; the out-pointers are valid; on 0 `pixels`
    // holds w * h * 3 bytes from malloc, freed below.
    let rc = unsafe {
        kyc_jpeg_decode_bgr(
            bytes.as_ptr(),
            bytes.len(),
            &mut pixels,
            &mut w,
            &mut h,
            &mut orientation,
            err.as_mut_ptr(),
            err.len(),
        )
    };
    match rc {
        0 => {}
        2 => return Ok(None),
        _ => {
            tracing::debug!(reason = %message(&err), "libjpeg refused the data");
            return Ok(Some(Mat::default()));
        }
    }
    let len = (w as usize) * (h as usize) * 3;
    let copied =
        Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(0.0)).and_then(|mut mat| {
            // SAFETY: `pixels` holds `len` initialised bytes (rc 0).
            let src = unsafe { std::slice::from_raw_parts(pixels, len) };
            mat.data_bytes_mut()?.copy_from_slice(src);
            Ok(mat)
        });
    // SAFETY: allocated by kyc_jpeg_decode_bgr, not used after this.
    unsafe { kyc_jpeg_free(pixels) };
    let mat = copied.map_err(|e| e.to_string())?;
    orient(mat, orientation)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// The EXIF orientation applied as `cv::imdecode` applies it (OpenCV's `ApplyExifOrientation`).
fn orient(mat: Mat, orientation: c_int) -> opencv::Result<Mat> {
    use opencv::core::{flip, transpose};
    let flipped = |m: &Mat, code: i32| -> opencv::Result<Mat> {
        let mut out = Mat::default();
        flip(m, &mut out, code)?;
        Ok(out)
    };
    let transposed = |m: &Mat| -> opencv::Result<Mat> {
        let mut out = Mat::default();
        transpose(m, &mut out)?;
        Ok(out)
    };
    match orientation {
        2 => flipped(&mat, 1),
        3 => flipped(&mat, -1),
        4 => flipped(&mat, 0),
        5 => transposed(&mat),
        6 => flipped(&transposed(&mat)?, 1),
        7 => flipped(&transposed(&mat)?, -1),
        8 => flipped(&transposed(&mat)?, 0),
        _ => Ok(mat),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{Vector, no_array};
    use opencv::imgcodecs;

    fn photo() -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../models/files/test_images/obama.jpg");
        std::fs::read(&p)
            .unwrap_or_else(|e| panic!("{}: {e} (run `kyc models fetch`)", p.display()))
    }

    /// The same pixels as OpenCV's imdecode linked the usual way.
    fn assert_same(bytes: &[u8], flags: i32) {
        let ours = imdecode(bytes, flags).expect("decodes");
        let theirs = imgcodecs::imdecode(&Vector::<u8>::from_slice(bytes), flags).expect("decodes");
        assert_eq!(
            (ours.rows(), ours.cols(), ours.typ()),
            (theirs.rows(), theirs.cols(), theirs.typ())
        );
        let diff =
            opencv::core::norm2(&ours, &theirs, opencv::core::NORM_INF, &no_array()).expect("norm");
        assert_eq!(diff, 0.0);
    }

    #[test]
    fn decodes_exactly_as_opencv_does() {
        let jpeg = photo();
        assert_same(&jpeg, imgcodecs::IMREAD_COLOR);
        assert_same(&jpeg, imgcodecs::IMREAD_GRAYSCALE);
        let decoded = imdecode(&jpeg, imgcodecs::IMREAD_COLOR).expect("decodes");
        let mut png = Vector::<u8>::new();
        imgcodecs::imencode(".png", &decoded, &mut png, &Vector::new()).expect("encode");
        assert_same(png.as_slice(), imgcodecs::IMREAD_COLOR);
    }

    /// `jpeg` with an APP1 Exif segment (big- or little-endian TIFF) holding `orientation`.
    fn with_orientation(jpeg: &[u8], orientation: u16, little_endian: bool) -> Vec<u8> {
        let u16b = |v: u16| {
            if little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let u32b = |v: u32| {
            if little_endian {
                v.to_le_bytes()
            } else {
                v.to_be_bytes()
            }
        };
        let mut tiff = if little_endian {
            b"II".to_vec()
        } else {
            b"MM".to_vec()
        };
        tiff.extend_from_slice(&u16b(42));
        tiff.extend_from_slice(&u32b(8));
        tiff.extend_from_slice(&u16b(1));
        tiff.extend_from_slice(&u16b(0x0112));
        tiff.extend_from_slice(&u16b(3));
        tiff.extend_from_slice(&u32b(1));
        tiff.extend_from_slice(&u16b(orientation));
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&u32b(0));
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, 0xE1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn jpegs_decode_without_the_library_exactly_as_opencv_does() {
        let jpeg = photo();
        assert!(!colour_needs_library(&jpeg));
        let plain = jpeg_bgr(&jpeg).expect("decodes").expect("handled");
        assert!(plain.rows() > 0);
        // Every EXIF orientation, in both byte orders, turns the image as OpenCV turns it.
        for orientation in 1..=8 {
            for le in [false, true] {
                let oriented = with_orientation(&jpeg, orientation, le);
                assert_same(&oriented, imgcodecs::IMREAD_COLOR);
            }
        }
        // A grey JPEG comes out as three equal channels, as OpenCV gives it.
        let grey = imdecode(&jpeg, imgcodecs::IMREAD_GRAYSCALE).expect("decodes");
        let mut grey_jpeg = Vector::<u8>::new();
        imgcodecs::imencode(".jpg", &grey, &mut grey_jpeg, &Vector::new()).expect("encode");
        assert_same(grey_jpeg.as_slice(), imgcodecs::IMREAD_COLOR);
        // Cut inside the headers: nothing, as from OpenCV.
        assert!(
            jpeg_bgr(&jpeg[..200])
                .expect("no error")
                .expect("handled")
                .empty()
        );
    }

    #[test]
    fn damaged_data_decodes_to_nothing_and_never_panics() {
        let jpeg = photo();
        let m = imdecode(&jpeg[..200], imgcodecs::IMREAD_COLOR).expect("no exception");
        assert!(m.empty());
        let m = imdecode(b"not an image at all", imgcodecs::IMREAD_COLOR).expect("no exception");
        assert!(m.empty());
        assert!(imdecode(&[], imgcodecs::IMREAD_COLOR).is_err());
        // A BMP header declaring a width over OpenCV's limit: cv::imdecode throws, which comes
        // back as a message instead of unwinding into Rust.
        let mut bmp = b"BM".to_vec();
        for v in [0u32, 0, 54, 40, 2_000_000, 1] {
            bmp.extend_from_slice(&v.to_le_bytes());
        }
        bmp.extend_from_slice(&[1, 0, 24, 0]);
        bmp.extend_from_slice(&[0; 24]);
        let e = imdecode(&bmp, imgcodecs::IMREAD_COLOR).expect_err("OpenCV refuses the size");
        assert!(e.contains("CV_IO_MAX_IMAGE_WIDTH"), "{e}");
    }
}
