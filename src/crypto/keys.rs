//! The keys: the master key from the settings, the per-session data keys it wraps, and the
//! wrapped form in which a data key is stored (never in clear).

use super::{CryptoError, random};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};
use std::fmt;
use zeroize::{Zeroize, Zeroizing};

/// Length of every key, in bytes (AES-256).
pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Version byte of the wrapped form and of sealed blobs.
const WRAP_VERSION: u8 = 1;
const SEAL_VERSION: u8 = 1;
/// Domain separation: what the associated data of each use starts with.
const WRAP_DOMAIN: &[u8] = b"kyc wrapped data key v1\0";
const SEAL_DOMAIN: &[u8] = b"kyc sealed blob v1\0";
const KEY_ID_DOMAIN: &[u8] = b"kyc master key id v1\0";

/// A master key's fingerprint (the first 8 bytes of a domain-separated SHA-256 of it): names
/// the key in wrapped data keys and logs without revealing it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// The key that wraps every data key (`security.master_key`).
pub struct MasterKey {
    key: Zeroizing<[u8; KEY_LEN]>,
    id: KeyId,
}

impl MasterKey {
    /// A fresh random key (`kyc keys generate`, the development key).
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self::from_bytes(Zeroizing::new(random::<KEY_LEN>()?)))
    }

    fn from_bytes(key: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let mut h = Sha256::new();
        h.update(KEY_ID_DOMAIN);
        h.update(key.as_slice());
        let digest = h.finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        Self { key, id: KeyId(id) }
    }

    /// Parses standard base64 (padding optional, surrounding whitespace ignored) of exactly 32
    /// bytes. An all-zero key is refused: it is a placeholder, not a key.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(CryptoError::BadKey("it is empty".into()));
        }
        let decoded = Zeroizing::new(
            STANDARD_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| CryptoError::BadKey("it is not base64".into()))?,
        );
        if decoded.len() != KEY_LEN {
            return Err(CryptoError::BadKey(format!(
                "it decodes to {} bytes, not {KEY_LEN}",
                decoded.len()
            )));
        }
        if decoded.iter().all(|b| *b == 0) {
            return Err(CryptoError::BadKey("it is all zeros".into()));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&decoded);
        Ok(Self::from_bytes(key))
    }

    /// The key in standard base64 (44 characters), wiped when dropped.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(self.key.as_slice()))
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Wraps `data_key` for `context` (e.g. the session id): the wrapped key opens only with
    /// this master key and the same context, so it cannot be moved to another session.
    pub fn wrap(&self, data_key: &DataKey, context: &[u8]) -> Result<WrappedKey, CryptoError> {
        let nonce = random::<NONCE_LEN>()?;
        let aad = wrap_aad(self.id, context);
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: data_key.key.as_slice(),
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Unwrap)?;
        let mut bytes = Vec::with_capacity(WrappedKey::LEN);
        bytes.push(WRAP_VERSION);
        bytes.extend_from_slice(self.id.as_bytes());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(WrappedKey { bytes })
    }

    /// The data key inside `wrapped`, which must have been wrapped by this master key for the
    /// same `context`.
    pub fn unwrap(&self, wrapped: &WrappedKey, context: &[u8]) -> Result<DataKey, CryptoError> {
        let by = wrapped.master_key_id();
        if by != self.id {
            return Err(CryptoError::OtherMasterKey {
                wrapped_by: by,
                have: self.id,
            });
        }
        let aad = wrap_aad(self.id, context);
        let nonce = &wrapped.bytes[9..9 + NONCE_LEN];
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: &wrapped.bytes[9 + NONCE_LEN..],
                        aad: &aad,
                    },
                )
                .map_err(|_| CryptoError::Unwrap)?,
        );
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(&plain);
        Ok(DataKey { key })
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.as_slice().into())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

fn wrap_aad(id: KeyId, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(WRAP_DOMAIN.len() + 8 + context.len());
    aad.extend_from_slice(WRAP_DOMAIN);
    aad.extend_from_slice(id.as_bytes());
    aad.extend_from_slice(context);
    aad
}

/// Re-wraps a data key from the `old` master key to the `new` one (key rotation): the data it
/// protects is not touched. The context must be the one it was wrapped for.
pub fn rewrap(
    old: &MasterKey,
    new: &MasterKey,
    wrapped: &WrappedKey,
    context: &[u8],
) -> Result<WrappedKey, CryptoError> {
    let key = old.unwrap(wrapped, context)?;
    new.wrap(&key, context)
}

/// A data key as stored: `version (1) ‖ master key id (8) ‖ nonce (12) ‖ ciphertext (32) ‖
/// tag (16)`, 69 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedKey {
    bytes: Vec<u8>,
}

impl WrappedKey {
    /// The length of the wrapped form.
    pub const LEN: usize = 1 + 8 + NONCE_LEN + KEY_LEN + TAG_LEN;

    /// Checks the form (length, version); whether it opens is [`MasterKey::unwrap`]'s question.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        if bytes.len() != Self::LEN {
            return Err(CryptoError::BadWrappedKey("wrong length"));
        }
        if bytes[0] != WRAP_VERSION {
            return Err(CryptoError::BadWrappedKey("unknown version"));
        }
        Ok(Self {
            bytes: bytes.to_vec(),
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Which master key wrapped it.
    pub fn master_key_id(&self) -> KeyId {
        let mut id = [0u8; 8];
        id.copy_from_slice(&self.bytes[1..9]);
        KeyId(id)
    }
}

impl fmt::Debug for WrappedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedKey")
            .field("master_key", &self.master_key_id())
            .finish_non_exhaustive()
    }
}

/// A session's data key: encrypts its media and blobs. Only ever stored wrapped.
#[derive(Clone)]
pub struct DataKey {
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl DataKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self {
            key: Zeroizing::new(random::<KEY_LEN>()?),
        })
    }

    pub(super) fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.key.as_slice().into())
    }

    pub(super) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }

    /// Encrypts a small blob: `version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`. `aad` names
    /// what it is (e.g. `session/…/artifact/id-face`); [`DataKey::open`] needs the same.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let nonce = random::<NONCE_LEN>()?;
        let full_aad = [SEAL_DOMAIN, aad].concat();
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &full_aad,
                },
            )
            .map_err(|_| CryptoError::Open)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts a blob made by [`DataKey::seal`] with this key and the same `aad`.
    pub fn open(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if blob.len() < 1 + NONCE_LEN + TAG_LEN {
            return Err(CryptoError::BadBlob("too short"));
        }
        if blob[0] != SEAL_VERSION {
            return Err(CryptoError::BadBlob("unknown version"));
        }
        let full_aad = [SEAL_DOMAIN, aad].concat();
        let plain = self
            .cipher()
            .decrypt(
                Nonce::from_slice(&blob[1..1 + NONCE_LEN]),
                Payload {
                    msg: &blob[1 + NONCE_LEN..],
                    aad: &full_aad,
                },
            )
            .map_err(|_| CryptoError::Open)?;
        Ok(Zeroizing::new(plain))
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl Drop for WrappedKey {
    fn drop(&mut self) {
        // Not secret on its own, but together with a leaked master key it would be.
        self.bytes.zeroize();
    }
}
