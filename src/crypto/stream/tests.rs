//! The stream format against every chunk boundary and every way a file can be damaged.

use super::*;
use crate::crypto::CryptoError;

const AAD: &[u8] = b"session/1/video/2";

fn data(n: usize) -> Vec<u8> {
    // Not a repeating pattern, so a moved chunk cannot decrypt to the same bytes by chance.
    (0..n)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn encrypt(key: &DataKey, plain: &[u8], chunk: usize) -> Vec<u8> {
    let mut w = EncryptingWriter::new(Vec::new(), key, AAD, chunk).expect("writer");
    // Uneven writes, so buffering across chunk boundaries is exercised.
    let mut rest = plain;
    let mut step = 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        w.write_all(&rest[..n]).expect("write");
        rest = &rest[n..];
        step = step * 3 % 97 + 1;
    }
    w.finish().expect("finish")
}

fn decrypt(key: &DataKey, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let reader = DecryptingReader::new(sealed, key, aad)?;
    let mut out = Vec::new();
    decrypt_to(reader, &mut out)?;
    Ok(out)
}

#[test]
fn every_chunk_boundary_round_trips() {
    let key = DataKey::generate().expect("key");
    for chunk in [16usize, 1000, DEFAULT_CHUNK] {
        for n in [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 3 * chunk + 7] {
            let plain = data(n);
            let sealed = encrypt(&key, &plain, chunk);
            assert_eq!(
                sealed.len() as u64,
                encrypted_len(n as u64, chunk),
                "size {n}, chunk {chunk}"
            );
            if n >= 64 {
                assert!(
                    !sealed.windows(64).any(|w| w == &plain[..64]),
                    "plaintext visible"
                );
            }
            assert_eq!(decrypt(&key, &sealed, AAD).expect("decrypts"), plain);
        }
    }
}

#[test]
fn the_sans_io_encryptor_matches_the_writer_format() {
    let key = DataKey::generate().expect("key");
    let plain = data(100);
    let mut enc = Encryptor::new(&key, AAD, 16).expect("encryptor");
    let mut out = Vec::new();
    for piece in plain.chunks(7) {
        enc.update(piece, &mut out).expect("update");
    }
    enc.finish(&mut out).expect("finish");
    assert_eq!(out.len() as u64, encrypted_len(100, 16));
    assert_eq!(decrypt(&key, &out, AAD).expect("decrypts"), plain);
    // Nothing written at all still makes a header and an empty last chunk.
    let mut empty = Vec::new();
    Encryptor::new(&key, AAD, 16)
        .expect("encryptor")
        .finish(&mut empty)
        .expect("finish");
    assert_eq!(decrypt(&key, &empty, AAD).expect("decrypts"), b"");
}

#[test]
fn a_wrong_key_is_told_apart() {
    let key = DataKey::generate().expect("key");
    let other = DataKey::generate().expect("key");
    let sealed = encrypt(&key, &data(100), 16);
    assert!(matches!(
        decrypt(&other, &sealed, AAD),
        Err(CryptoError::WrongKey)
    ));
}

#[test]
fn a_flipped_byte_anywhere_fails() {
    let key = DataKey::generate().expect("key");
    let chunk = 16;
    let sealed = encrypt(&key, &data(50), chunk);
    for at in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[at] ^= 0x01;
        let err = decrypt(&key, &bad, AAD).expect_err("a flipped byte must fail");
        if at >= HEADER_LEN {
            let index = ((at - HEADER_LEN) / (chunk + TAG_LEN)) as u64;
            assert!(
                matches!(err, CryptoError::Corrupt { index: i } if i == index),
                "byte {at}: {err:?}"
            );
        } else {
            assert!(
                matches!(
                    err,
                    CryptoError::BadHeader(_) | CryptoError::WrongKey | CryptoError::Corrupt { .. }
                ),
                "header byte {at}: {err:?}"
            );
        }
    }
}

#[test]
fn a_truncated_file_fails() {
    let key = DataKey::generate().expect("key");
    let chunk = 16;
    let sealed = encrypt(&key, &data(5 * chunk + 3), chunk);
    let whole = chunk + TAG_LEN;
    // Cut at each chunk boundary: the file then ends on a chunk not flagged last.
    for chunks in 0..=5 {
        let cut = &sealed[..HEADER_LEN + chunks * whole];
        let err = decrypt(&key, cut, AAD).expect_err("truncated");
        assert!(
            matches!(err, CryptoError::Truncated { chunks: c } if c == chunks as u64),
            "cut after {chunks} chunks: {err:?}"
        );
    }
    // Cut inside a chunk, or inside the header.
    for len in [sealed.len() - 1, HEADER_LEN + whole + 5, HEADER_LEN + 3, 10] {
        let err = decrypt(&key, &sealed[..len], AAD).expect_err("truncated");
        assert!(
            matches!(
                err,
                CryptoError::Corrupt { .. } | CryptoError::Truncated { .. }
            ),
            "cut at {len}: {err:?}"
        );
    }
}

#[test]
fn swapped_or_foreign_chunks_fail() {
    let key = DataKey::generate().expect("key");
    let chunk = 16;
    let whole = chunk + TAG_LEN;
    let sealed = encrypt(&key, &data(4 * chunk), chunk);
    let mut swapped = sealed.clone();
    let (a, b) = (HEADER_LEN, HEADER_LEN + whole);
    let first = sealed[a..a + whole].to_vec();
    swapped[a..a + whole].copy_from_slice(&sealed[b..b + whole]);
    swapped[b..b + whole].copy_from_slice(&first);
    assert!(matches!(
        decrypt(&key, &swapped, AAD),
        Err(CryptoError::Corrupt { index: 0 })
    ));
    // A chunk from another file under the same key (another nonce prefix and header).
    let other = encrypt(&key, &data(4 * chunk), chunk);
    let mut spliced = sealed.clone();
    spliced[b..b + whole].copy_from_slice(&other[b..b + whole]);
    assert!(matches!(
        decrypt(&key, &spliced, AAD),
        Err(CryptoError::Corrupt { index: 1 })
    ));
    // An extra chunk appended after the last one.
    let mut longer = sealed.clone();
    longer.extend_from_slice(&sealed[a..a + whole]);
    assert!(decrypt(&key, &longer, AAD).is_err());
}

#[test]
fn another_files_associated_data_fails() {
    let key = DataKey::generate().expect("key");
    let sealed = encrypt(&key, &data(40), 16);
    assert!(matches!(
        decrypt(&key, &sealed, b"session/1/video/3"),
        Err(CryptoError::Corrupt { index: 0 })
    ));
}

#[test]
fn plain_files_and_bad_headers_are_refused() {
    let key = DataKey::generate().expect("key");
    let jpeg = [0xFFu8, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0]
        .iter()
        .copied()
        .cycle()
        .take(200)
        .collect::<Vec<_>>();
    assert!(matches!(
        decrypt(&key, &jpeg, AAD),
        Err(CryptoError::BadHeader(_))
    ));
    let mut huge = encrypt(&key, &data(10), 16);
    huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        decrypt(&key, &huge, AAD),
        Err(CryptoError::BadHeader(_))
    ));
    assert!(Encryptor::new(&key, AAD, 0).is_err());
    assert!(Encryptor::new(&key, AAD, MAX_CHUNK + 1).is_err());
}

#[test]
fn read_all_keeps_to_its_limit() {
    let key = DataKey::generate().expect("key");
    let plain = data(300);
    let sealed = encrypt(&key, &plain, 64);
    let r = DecryptingReader::new(&sealed[..], &key, AAD).expect("reader");
    assert_eq!(
        r.read_all(300).expect("within the limit").as_slice(),
        &plain[..]
    );
    let r = DecryptingReader::new(&sealed[..], &key, AAD).expect("reader");
    assert!(r.read_all(299).is_err());
}
