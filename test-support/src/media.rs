//! Bad media that intake must refuse without decoding it.

/// A PNG header declaring 50000×50000 pixels, with no pixel data behind it.
pub fn huge_png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    png.extend_from_slice(&50_000u32.to_be_bytes());
    png.extend_from_slice(&50_000u32.to_be_bytes());
    png.extend_from_slice(&[8, 2, 0, 0, 0, 0x9a, 0x4b, 0x1c, 0x2a]);
    png
}
