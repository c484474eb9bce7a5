//! Which compressed frames no other frame refers to: an H.264 frame whose slices all have
//! `nal_ref_idc` 0 can be left undecoded without changing any other frame, so the sampler skips
//! those it does not want on its way to a sample. Anything not positively recognised as such
//! (other codecs, unparsable packets) counts as a reference frame and is decoded.

/// True when `packet` (one H.264 access unit, length-prefixed as in MP4/Matroska or with
/// Annex B start codes) holds only non-reference slices.
pub fn h264_is_disposable(packet: &[u8]) -> bool {
    let mut slices = 0;
    for nal in nal_units(packet) {
        let Some(&header) = nal.first() else {
            continue;
        };
        let kind = header & 0x1F;
        let ref_idc = (header >> 5) & 0x3;
        // 1: non-IDR slice, 5: IDR slice (always a reference), 2-4: data partitions.
        if matches!(kind, 1..=5) {
            if ref_idc != 0 {
                return false;
            }
            slices += 1;
        }
    }
    slices > 0
}

/// The NAL units of a packet: Annex B when it starts with a start code, else 4-byte length
/// prefixes; empty when the lengths do not add up (then nothing is called disposable).
fn nal_units(packet: &[u8]) -> Vec<&[u8]> {
    if packet.starts_with(&[0, 0, 1]) || packet.starts_with(&[0, 0, 0, 1]) {
        return annex_b(packet);
    }
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < packet.len() {
        let Some(len) = packet
            .get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        else {
            return Vec::new();
        };
        let Some(nal) = packet.get(at + 4..at + 4 + len) else {
            return Vec::new();
        };
        out.push(nal);
        at += 4 + len;
    }
    out
}

fn annex_b(packet: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= packet.len() {
        if packet[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let end = starts.get(n + 1).map_or(packet.len(), |&next| next - 3);
            &packet[s..end.max(s)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avcc(nals: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for n in nals {
            out.extend_from_slice(&(n.len() as u32).to_be_bytes());
            out.extend_from_slice(n);
        }
        out
    }

    #[test]
    fn non_reference_slices_are_disposable_and_nothing_else_is() {
        // nal_ref_idc 0, type 1 (a B slice nothing refers to), after an SEI (type 6).
        assert!(h264_is_disposable(&avcc(&[&[0x06, 1, 2], &[0x01, 0xAA]])));
        // nal_ref_idc 2, type 1: a reference P/B slice.
        assert!(!h264_is_disposable(&avcc(&[&[0x41, 0xAA]])));
        // IDR.
        assert!(!h264_is_disposable(&avcc(&[&[0x65, 0xAA]])));
        // No slice at all, a broken length, nothing.
        assert!(!h264_is_disposable(&avcc(&[&[0x06, 1]])));
        assert!(!h264_is_disposable(&[0, 0, 0, 9, 0x01]));
        assert!(!h264_is_disposable(&[]));
        // Annex B.
        assert!(h264_is_disposable(&[
            0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x01, 0xAA
        ]));
        assert!(!h264_is_disposable(&[0, 0, 1, 0x21, 0xAA]));
    }
}
