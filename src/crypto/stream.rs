//! The chunked stream format for files (uploads of any size): encrypted while they are written,
//! checked while they are read, never whole in memory.
//!
//! ```text
//! header (28 bytes): "KYCENC" ‖ version 1 ‖ 0 ‖ chunk size (u32 BE) ‖ nonce prefix (8, random)
//!                    ‖ key check (8)
//! chunks:            ciphertext (chunk size bytes; the last one 0..=chunk size) ‖ tag (16)
//! ```
//!
//! Chunk `i` is AES-256-GCM with the nonce `prefix ‖ i (u32 BE)` and the associated data
//! `header ‖ last (0 or 1) ‖ caller's associated data`. So a chunk moved to another place or
//! another file fails (its nonce or header differs), a file cut at a chunk boundary fails (its
//! final chunk is not flagged last), and a file read as something else fails (the caller's
//! associated data names what it is). There is always a last chunk, empty for an empty input.
//! The key check (a domain-separated SHA-256 of key and prefix) tells a wrong key apart from a
//! damaged file before any chunk is tried.

use super::{CryptoError, DataKey};
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use zeroize::Zeroizing;

const MAGIC: &[u8; 6] = b"KYCENC";
const VERSION: u8 = 1;
/// Length of the header.
pub const HEADER_LEN: usize = 28;
/// Length of each chunk's authentication tag.
pub const TAG_LEN: usize = 16;
/// The chunk size files are written with: 64 KiB of plaintext per chunk.
pub const DEFAULT_CHUNK: usize = 64 * 1024;
/// The largest chunk size accepted (in a header, or asked of a writer).
pub const MAX_CHUNK: usize = 16 * 1024 * 1024;
const KEY_CHECK_DOMAIN: &[u8] = b"kyc stream key check v1\0";

/// Encrypted length of `plain` bytes written with chunks of `chunk` bytes.
pub fn encrypted_len(plain: u64, chunk: usize) -> u64 {
    let chunk = chunk as u64;
    let chunks = if plain == 0 { 1 } else { plain.div_ceil(chunk) };
    HEADER_LEN as u64 + plain + chunks * TAG_LEN as u64
}

fn key_check(key: &DataKey, prefix: &[u8; 8]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(KEY_CHECK_DOMAIN);
    h.update(key.bytes());
    h.update(prefix);
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize()[..8]);
    out
}

fn nonce(prefix: &[u8; 8], index: u64) -> Result<[u8; 12], CryptoError> {
    let counter = u32::try_from(index).map_err(|_| CryptoError::TooLong)?;
    let mut n = [0u8; 12];
    n[..8].copy_from_slice(prefix);
    n[8..].copy_from_slice(&counter.to_be_bytes());
    Ok(n)
}

/// The associated data of a chunk: header, last flag, the caller's.
fn chunk_aad(header: &[u8; HEADER_LEN], last: bool, aad: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 1 + aad.len());
    out.extend_from_slice(header);
    out.push(u8::from(last));
    out.extend_from_slice(aad);
    out
}

/// The encrypting half without I/O: takes plaintext in pieces of any size and gives back the
/// bytes to write (the header first). Usable from async code that writes with its own I/O.
pub struct Encryptor {
    cipher: Aes256Gcm,
    header: [u8; HEADER_LEN],
    prefix: [u8; 8],
    aad_more: Vec<u8>,
    aad_last: Vec<u8>,
    chunk: usize,
    buf: Zeroizing<Vec<u8>>,
    index: u64,
    header_given: bool,
}

impl Encryptor {
    /// A new stream under `key` for the file named by `aad`, in chunks of `chunk` bytes
    /// (1..=[`MAX_CHUNK`]).
    pub fn new(key: &DataKey, aad: &[u8], chunk: usize) -> Result<Self, CryptoError> {
        if chunk == 0 || chunk > MAX_CHUNK {
            return Err(CryptoError::BadHeader("chunk size out of range"));
        }
        let prefix = super::random::<8>()?;
        let mut header = [0u8; HEADER_LEN];
        header[..6].copy_from_slice(MAGIC);
        header[6] = VERSION;
        header[7] = 0;
        // chunk ≤ MAX_CHUNK fits in a u32.
        header[8..12].copy_from_slice(&(chunk as u32).to_be_bytes());
        header[12..20].copy_from_slice(&prefix);
        header[20..28].copy_from_slice(&key_check(key, &prefix));
        Ok(Self {
            cipher: key.cipher(),
            aad_more: chunk_aad(&header, false, aad),
            aad_last: chunk_aad(&header, true, aad),
            header,
            prefix,
            chunk,
            buf: Zeroizing::new(Vec::with_capacity(chunk)),
            index: 0,
            header_given: false,
        })
    }

    fn header_once(&mut self, out: &mut Vec<u8>) {
        if !self.header_given {
            out.extend_from_slice(&self.header);
            self.header_given = true;
        }
    }

    /// Appends to `out` the bytes `data` completes (the header on the first call, then every
    /// full chunk that is known not to be the last); the rest waits in a buffer.
    pub fn update(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.header_once(out);
        while !data.is_empty() {
            if self.buf.len() == self.chunk {
                // More follows, so the full buffer is not the last chunk.
                self.seal_buffer(false, out)?;
            }
            let take = (self.chunk - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Appends the last chunk (what is buffered, possibly nothing) and ends the stream.
    pub fn finish(mut self, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        self.header_once(out);
        self.seal_buffer(true, out)
    }

    fn seal_buffer(&mut self, last: bool, out: &mut Vec<u8>) -> Result<(), CryptoError> {
        let n = nonce(&self.prefix, self.index)?;
        let start = out.len();
        out.extend_from_slice(&self.buf);
        let aad = if last { &self.aad_last } else { &self.aad_more };
        let tag = self
            .cipher
            .encrypt_in_place_detached(Nonce::from_slice(&n), aad, &mut out[start..])
            .map_err(|_| CryptoError::TooLong)?;
        out.extend_from_slice(&tag);
        self.buf.clear();
        self.index += 1;
        Ok(())
    }
}

/// Encrypts everything written to it into `inner`; [`EncryptingWriter::finish`] writes the last
/// chunk (a writer dropped without it leaves a file that reads as truncated).
pub struct EncryptingWriter<W: Write> {
    inner: W,
    enc: Encryptor,
    out: Vec<u8>,
}

impl<W: Write> EncryptingWriter<W> {
    pub fn new(inner: W, key: &DataKey, aad: &[u8], chunk: usize) -> Result<Self, CryptoError> {
        Ok(Self {
            inner,
            enc: Encryptor::new(key, aad, chunk)?,
            out: Vec::with_capacity(chunk + TAG_LEN + HEADER_LEN),
        })
    }

    /// Writes the last chunk, flushes, and gives back the inner writer.
    pub fn finish(mut self) -> Result<W, CryptoError> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        self.enc.finish(&mut out)?;
        self.inner.write_all(&out)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.out.clear();
        self.enc
            .update(data, &mut self.out)
            .map_err(CryptoError::into_io)?;
        self.inner.write_all(&self.out)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypts a stream while it is read, checking each chunk before giving out any of its bytes.
/// Errors are [`CryptoError`]s inside `io::Error`s ([`CryptoError::from_io`] takes them out).
pub struct DecryptingReader<R: Read> {
    inner: R,
    cipher: Aes256Gcm,
    prefix: [u8; 8],
    aad_more: Vec<u8>,
    aad_last: Vec<u8>,
    chunk: usize,
    sealed: Vec<u8>,
    plain: Zeroizing<Vec<u8>>,
    pos: usize,
    index: u64,
    lookahead: Option<u8>,
    done: bool,
}

impl<R: Read> DecryptingReader<R> {
    /// Reads and checks the header; fails with [`CryptoError::WrongKey`] for another key.
    pub fn new(mut inner: R, key: &DataKey, aad: &[u8]) -> Result<Self, CryptoError> {
        let mut header = [0u8; HEADER_LEN];
        let got = read_full(&mut inner, &mut header)?;
        if got < HEADER_LEN {
            let m = got.min(MAGIC.len());
            return Err(if got > 0 && header[..m] == MAGIC[..m] {
                CryptoError::Truncated { chunks: 0 }
            } else {
                CryptoError::BadHeader("too short")
            });
        }
        if &header[..6] != MAGIC {
            return Err(CryptoError::BadHeader("no kyc stream magic"));
        }
        if header[6] != VERSION || header[7] != 0 {
            return Err(CryptoError::BadHeader("unsupported version"));
        }
        let mut size = [0u8; 4];
        size.copy_from_slice(&header[8..12]);
        let chunk = u32::from_be_bytes(size) as usize;
        if chunk == 0 || chunk > MAX_CHUNK {
            return Err(CryptoError::BadHeader("chunk size out of range"));
        }
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&header[12..20]);
        if header[20..28] != key_check(key, &prefix) {
            return Err(CryptoError::WrongKey);
        }
        Ok(Self {
            inner,
            cipher: key.cipher(),
            prefix,
            aad_more: chunk_aad(&header, false, aad),
            aad_last: chunk_aad(&header, true, aad),
            chunk,
            sealed: Vec::with_capacity(chunk + TAG_LEN),
            plain: Zeroizing::new(Vec::with_capacity(chunk)),
            pos: 0,
            index: 0,
            lookahead: None,
            done: false,
        })
    }

    /// Reads the next sealed chunk and opens it into `plain`.
    fn next_chunk(&mut self) -> Result<(), CryptoError> {
        let want = self.chunk + TAG_LEN;
        self.sealed.clear();
        self.sealed.resize(want, 0);
        let mut got = 0;
        if let Some(b) = self.lookahead.take() {
            self.sealed[0] = b;
            got = 1;
        }
        got += read_full(&mut self.inner, &mut self.sealed[got..])?;
        self.sealed.truncate(got);
        // A full chunk is the last one only when nothing follows it.
        let last = if got == want {
            let mut one = [0u8; 1];
            if read_full(&mut self.inner, &mut one)? == 1 {
                self.lookahead = Some(one[0]);
                false
            } else {
                true
            }
        } else {
            true
        };
        if got < TAG_LEN {
            return Err(CryptoError::Truncated { chunks: self.index });
        }
        let n = nonce(&self.prefix, self.index)?;
        let tag_at = got - TAG_LEN;
        let tag = *Tag::from_slice(&self.sealed[tag_at..]);
        self.plain.clear();
        self.plain.extend_from_slice(&self.sealed[..tag_at]);
        let aad = if last { &self.aad_last } else { &self.aad_more };
        let opened = self.cipher.decrypt_in_place_detached(
            Nonce::from_slice(&n),
            aad,
            &mut self.plain,
            &tag,
        );
        if opened.is_err() {
            // A chunk that opens as a middle one where the stream ends: the end was cut off.
            let mut probe = self.sealed[..tag_at].to_vec();
            let cut = last
                && self
                    .cipher
                    .decrypt_in_place_detached(
                        Nonce::from_slice(&n),
                        &self.aad_more,
                        &mut probe,
                        &tag,
                    )
                    .is_ok();
            probe.fill(0);
            self.plain.clear();
            return Err(if cut {
                CryptoError::Truncated {
                    chunks: self.index + 1,
                }
            } else {
                CryptoError::Corrupt { index: self.index }
            });
        }
        self.pos = 0;
        self.index += 1;
        self.done = last;
        Ok(())
    }

    /// The whole plaintext in memory, refusing more than `limit` bytes (for small files: photos).
    pub fn read_all(mut self, limit: u64) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut out = Zeroizing::new(Vec::new());
        let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
        loop {
            let n = self.read(&mut buf).map_err(CryptoError::from_io)?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() as u64 + n as u64 > limit {
                return Err(CryptoError::Io(std::io::Error::other(format!(
                    "the decrypted file is larger than {limit} bytes"
                ))));
            }
            out.extend_from_slice(&buf[..n]);
        }
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.pos < self.plain.len() {
                let n = (self.plain.len() - self.pos).min(buf.len());
                buf[..n].copy_from_slice(&self.plain[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.done || buf.is_empty() {
                return Ok(0);
            }
            self.next_chunk().map_err(CryptoError::into_io)?;
        }
    }
}

/// Reads until `buf` is full or the input ends; the count read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, CryptoError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(got)
}

/// Decrypts all of `reader` into `out`; the plaintext byte count.
pub fn decrypt_to<R: Read, W: Write>(
    mut reader: DecryptingReader<R>,
    out: &mut W,
) -> Result<u64, CryptoError> {
    let mut buf = Zeroizing::new(vec![0u8; 64 * 1024]);
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(CryptoError::from_io)?;
        if n == 0 {
            return Ok(total);
        }
        out.write_all(&buf[..n])?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests;
