//! OpenCV's image decoder (`cv::imdecode`), opened on first use rather than at process start.
//!
//! Debian's `libopencv_imgcodecs` links GDAL, which brings about 60 more shared libraries and
//! most of the symbol relocations the dynamic loader resolves before `main`: linked normally,
//! it cost every `kyc` command, `kyc --version` included, about 90 ms of a 150 ms start
//! (BENCHMARKS.md). The C++ side (`codecs.cpp`) opens the library with `dlopen`, finds
//! `cv::imdecode` in it and turns its exceptions into messages. The decoder is the same
//! function with the same flags, so images decode exactly as before. A command that will decode
//! calls [`preload`] on a spare thread so the opening overlaps with its other start-up work.

use opencv::core::Mat;
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

/// `cv::imdecode(bytes, flags)`; an empty `Mat` when OpenCV cannot decode the data, `Err`
/// with OpenCV's message when it threw, or when the library cannot be opened.
pub fn imdecode(bytes: &[u8], flags: i32) -> Result<Mat, String> {
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
