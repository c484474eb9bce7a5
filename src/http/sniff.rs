//! What an upload is, from its first bytes (never from its name or declared type): the image
//! and video containers the pipelines read.

/// A recognised upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    /// File extension the upload is kept under.
    pub ext: &'static str,
    pub mime: &'static str,
    pub video: bool,
}

/// Every format kyc reads: the extension an upload is kept under, its MIME type, whether it is
/// a video.
const FORMATS: [(&str, &str, bool); 7] = [
    ("jpg", "image/jpeg", false),
    ("png", "image/png", false),
    ("webp", "image/webp", false),
    ("mov", "video/quicktime", true),
    ("mp4", "video/mp4", true),
    ("mkv", "video/x-matroska", true),
    ("avi", "video/x-msvideo", true),
];

/// The format kept under the extension `ext`.
pub(crate) fn by_ext(ext: &str) -> Option<Sniffed> {
    FORMATS
        .iter()
        .find(|f| f.0 == ext)
        .map(|&(ext, mime, video)| Sniffed { ext, mime, video })
}

/// Bytes needed to decide.
pub const SNIFF_LEN: usize = 16;

/// The format of a file starting with `head`, if it is one kyc reads.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    match head {
        [0xFF, 0xD8, 0xFF, ..] => by_ext("jpg"),
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => by_ext("png"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => by_ext("webp"),
        [_, _, _, _, b'f', b't', b'y', b'p', b'q', b't', ..] => by_ext("mov"),
        [_, _, _, _, b'f', b't', b'y', b'p', ..] => by_ext("mp4"),
        [0x1A, 0x45, 0xDF, 0xA3, ..] => by_ext("mkv"),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'A',
            b'V',
            b'I',
            b' ',
            ..,
        ] => by_ext("avi"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_known_by_their_magic_bytes() {
        assert_eq!(
            sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF").map(|s| s.ext),
            Some("jpg")
        );
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0").map(|s| s.ext), Some("png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ").map(|s| s.ext), Some("webp"));
        let mp4 = sniff(b"\0\0\0\x20ftypisom\0\0").expect("mp4");
        assert!(mp4.video && mp4.ext == "mp4");
        assert_eq!(sniff(b"\0\0\0\x14ftypqt  ").map(|s| s.ext), Some("mov"));
        assert_eq!(sniff(b"\x1A\x45\xDF\xA3\x9f").map(|s| s.ext), Some("mkv"));
        assert_eq!(sniff(b"RIFF\0\0\0\0AVI LIST").map(|s| s.ext), Some("avi"));
        assert_eq!(sniff(b"<html><body>"), None);
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(by_ext("mp4").map(|f| f.mime), Some("video/mp4"));
        assert_eq!(by_ext("gif"), None);
    }
}
