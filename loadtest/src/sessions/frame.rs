//! The live camera frame every session sends: a small PNG made in code, so the scenario needs
//! no media files. A grey background with a lighter card-sized rectangle; the server's quality
//! gate answers it with guidance, which is still one real event per frame.

/// Width and height of the frame.
pub const FRAME_SIZE: (u32, u32) = (320, 240);

/// An 8-bit greyscale PNG of `width` × `height`: grey 96, with a grey-200 rectangle of an ID
/// card's proportions (85.6 × 54 mm) filling 60 % of the width, centred.
pub fn card_frame_png(width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let (w, h) = (width as usize, height as usize);
    let card_w = w * 6 / 10;
    let card_h = card_w * 54 / 86;
    let (left, top) = ((w - card_w.min(w)) / 2, (h - card_h.min(h)) / 2);
    let mut pixels = vec![96u8; w * h];
    for row in pixels.chunks_exact_mut(w.max(1)).skip(top).take(card_h) {
        for px in row.iter_mut().skip(left).take(card_w) {
            *px = 200;
        }
    }

    let mut out = Vec::with_capacity(2048);
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&pixels)?;
    writer.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_decodes_back() {
        let (w, h) = FRAME_SIZE;
        let bytes = card_frame_png(w, h).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert!(bytes.len() < 4096, "{} bytes", bytes.len());

        let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (320, 240));
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let px = |x: usize, y: usize| buf[y * 320 + x];
        assert_eq!(px(0, 0), 96);
        assert_eq!(px(319, 239), 96);
        assert_eq!(px(160, 120), 200);
        // The card: 192 × 120 pixels, centred.
        assert_eq!(buf.iter().filter(|&&v| v == 200).count(), 192 * 120);
        assert_eq!(
            (px(63, 120), px(64, 120), px(255, 120), px(256, 120)),
            (96, 200, 200, 96)
        );
    }

    #[test]
    fn tiny_frames_do_not_panic() {
        for (w, h) in [(1, 1), (2, 1), (1, 5)] {
            let bytes = card_frame_png(w, h).unwrap();
            let reader = png::Decoder::new(std::io::Cursor::new(&bytes))
                .read_info()
                .unwrap();
            assert_eq!((reader.info().width, reader.info().height), (w, h));
        }
    }
}
