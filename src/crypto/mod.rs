//! Encryption at rest: the master key, per-session data keys wrapped by it, sealed small blobs
//! and a chunked stream format for files, so personal data (ID photos, selfie videos) is never
//! stored in clear and erasing a session's data key makes its data unreadable.
//!
//! Everything is AES-256-GCM (RustCrypto `aes-gcm`, AES-NI and CLMUL where the CPU has them).
//! Key material is wiped from memory when dropped (`zeroize`) and never shows in `Debug`.
//!
//! - [`MasterKey`]: 32 bytes from `security.master_key` (base64). It only wraps data keys; its
//!   [`KeyId`] (a fingerprint) travels with every wrapped key, so a key rotation can tell which
//!   master key wrapped what and [`rewrap`] the data keys without touching the data.
//! - [`DataKey`]: 32 random bytes per session; [`DataKey::seal`] / [`DataKey::open`] for small
//!   blobs (`version ‖ nonce ‖ ciphertext ‖ tag`, bound to associated data naming what the blob
//!   is, so one cannot be swapped for another).
//! - [`stream`]: files of any size, encrypted chunk by chunk while they are written and checked
//!   chunk by chunk while they are read; reordered, swapped, altered or truncated files fail.

mod keys;
pub mod stream;

pub use keys::{DataKey, KEY_LEN, KeyId, MasterKey, WrappedKey, rewrap};

/// Why a key could not be used or data could not be decrypted. None of the messages holds key
/// material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A master key that is not base64 of exactly 32 bytes.
    #[error("the key is not valid: {0}")]
    BadKey(String),
    /// A wrapped data key made by another master key than the one at hand.
    #[error("the data key was wrapped by master key {wrapped_by}, not by {have}")]
    OtherMasterKey { wrapped_by: KeyId, have: KeyId },
    /// A wrapped data key that is not in the wrapped form, or an unknown version of it.
    #[error("not a wrapped data key: {0}")]
    BadWrappedKey(&'static str),
    /// A wrapped data key whose authentication failed: altered, or wrapped for another context.
    #[error("the wrapped data key cannot be unwrapped (altered, or for another context)")]
    Unwrap,
    /// A sealed blob that is too short or of an unknown version.
    #[error("not a sealed blob: {0}")]
    BadBlob(&'static str),
    /// A sealed blob whose authentication failed: wrong key, wrong associated data, or altered.
    #[error("the blob cannot be opened (wrong key, wrong associated data, or altered)")]
    Open,
    /// A stream whose header is not the kyc stream header (or an unsupported version of it).
    #[error("not an encrypted kyc file: {0}")]
    BadHeader(&'static str),
    /// A stream encrypted with another data key than the one given.
    #[error("the file was encrypted with another key")]
    WrongKey,
    /// A chunk of a stream that fails authentication: altered, reordered, swapped in from
    /// elsewhere, or read with the wrong associated data.
    #[error("chunk {index} of the encrypted file is altered or out of place")]
    Corrupt { index: u64 },
    /// A stream that ends before its last chunk (cut short, or its end removed).
    #[error("the encrypted file is truncated (it ends after chunk {chunks} without its last)")]
    Truncated { chunks: u64 },
    /// More chunks than the nonce counter can number.
    #[error("the file is too large for one encrypted stream")]
    TooLong,
    /// The operating system's random source failed.
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl CryptoError {
    /// The crypto error inside an I/O error returned by a stream's `Read`/`Write` (they can only
    /// return `io::Error`), or the I/O error itself.
    pub fn from_io(e: std::io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<CryptoError>()) {
            match e.into_inner().map(|inner| inner.downcast::<CryptoError>()) {
                Some(Ok(c)) => *c,
                Some(Err(other)) => Self::Io(std::io::Error::other(other)),
                None => Self::Io(std::io::Error::other("I/O error")),
            }
        } else {
            Self::Io(e)
        }
    }

    fn into_io(self) -> std::io::Error {
        match self {
            Self::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

/// `N` bytes from the operating system's random source.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| CryptoError::Random(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests;
