//! The media of the sessions on disk, always encrypted: where uploads arrive and are kept, each
//! session's data key (stored wrapped by the master key beside its media), and the plaintext a
//! job may see for its own lifetime only.
//!
//! Layout under the data folder (folders 0700, files 0600):
//!
//! ```text
//! media/erased/{session}           an erased session's marker: it never gets a key again
//! media/incoming/{upload}.part      an upload while it arrives (already encrypted); wiped at start
//! media/{session}/data.key          the session's data key, wrapped (crypto::WrappedKey)
//! media/{session}/{id|video}-{upload}.{ext}   the upload, in the crypto::stream format
//! work/                             plaintext for jobs: unnamed files only; wiped at start
//! ```
//!
//! The data key lives in a small file beside the media it protects rather than in the journal:
//! deleting the session's folder (erasure) removes key and media together, and the journal
//! never has to know about keys. Its wrapping is bound to the session id, so a key file copied
//! into another session's folder does not open. A stream's associated data names the session
//! and the upload, so a file moved to another name or session does not decrypt either.

mod erase;
pub mod master;
mod rotate;
mod scratch;
mod seal;

pub use erase::Deleted;
pub use rotate::{Rotation, rotate};
pub use scratch::PlainFile;
pub use seal::{SessionSeal, artifact_aad};

use crate::crypto::stream::{DEFAULT_CHUNK, DecryptingReader, EncryptingWriter, Encryptor};
use crate::crypto::{CryptoError, DataKey, MasterKey, WrappedKey};
use actors::session::SessionId;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// File name of a session's wrapped data key.
const KEY_FILE: &str = "data.key";

/// What can go wrong with the media on disk. Never carries key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("cannot {what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("session {session}: {source}")]
    Key {
        session: SessionId,
        source: CryptoError,
    },
    #[error("session {0} has no data key (its media were erased or never stored)")]
    NoKey(SessionId),
    #[error("session {0} was erased: nothing more is stored for it")]
    Erased(SessionId),
    #[error("{what}: {source}")]
    Crypto {
        what: &'static str,
        source: CryptoError,
    },
    #[error("the media task stopped: {0}")]
    Task(String),
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> MediaError + 'a {
    move |source| MediaError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and its parents) and makes it private: 0700.
pub fn private_dir(dir: &Path) -> Result<(), MediaError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io("create", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(io("restrict", dir))
}

/// Creates a new private file (0600); fails if it exists.
pub fn private_file(path: &Path) -> Result<std::fs::File, MediaError> {
    std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io("create", path))
}

/// Removes every entry of `dir` (files and folders): leftovers of a process that stopped.
fn wipe(dir: &Path) -> Result<usize, MediaError> {
    let mut n = 0;
    for e in std::fs::read_dir(dir).map_err(io("list", dir))?.flatten() {
        let p = e.path();
        let removed = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        removed.map_err(io("remove", &p))?;
        n += 1;
    }
    Ok(n)
}

/// The associated data of a stored upload: it names the session and the upload.
pub fn upload_aad(session: &SessionId, upload: &uuid::Uuid) -> Vec<u8> {
    format!("kyc media v1\0{}\0{}", session.simple(), upload.simple()).into_bytes()
}

/// The associated data of an upload encrypted before its session was known (a transient key).
fn transient_aad(upload: &uuid::Uuid) -> Vec<u8> {
    format!("kyc incoming v1\0{}", upload.simple()).into_bytes()
}

/// The context a session's data key is wrapped for.
/// Session `id`'s data key from its wrapped form ([`MediaStore::wrapped_key`]).
pub fn open_wrapped_key(
    master: &MasterKey,
    id: &SessionId,
    wrapped: &[u8],
) -> Result<DataKey, crate::crypto::CryptoError> {
    WrappedKey::from_bytes(wrapped).and_then(|w| master.unwrap(&w, &key_context(id)))
}

fn key_context(session: &SessionId) -> Vec<u8> {
    format!("kyc session data key v1\0{}", session.simple()).into_bytes()
}

/// Which key an incoming upload was encrypted with.
pub enum IncomingKey {
    /// The session's own key, for this upload: kept by a rename. `new`: the session had no key
    /// yet and this one is stored when the upload is kept (nothing is stored for an upload that
    /// is refused).
    Session {
        session: SessionId,
        key: DataKey,
        new: bool,
    },
    /// A key of this upload alone (the form named no session, or not yet, or a wrong one): the
    /// upload is re-encrypted under the session's key when it is kept.
    Transient(DataKey),
}

impl IncomingKey {
    /// The key and associated data to encrypt upload `upload` with.
    pub fn encryptor(&self, upload: &uuid::Uuid) -> Result<Encryptor, CryptoError> {
        match self {
            Self::Session { session, key, .. } => {
                Encryptor::new(key, &upload_aad(session, upload), DEFAULT_CHUNK)
            }
            Self::Transient(key) => Encryptor::new(key, &transient_aad(upload), DEFAULT_CHUNK),
        }
    }

    fn reader(&self, file: std::fs::File, upload: &uuid::Uuid) -> Result<Reader, CryptoError> {
        let file = std::io::BufReader::new(file);
        match self {
            Self::Session { session, key, .. } => {
                DecryptingReader::new(file, key, &upload_aad(session, upload))
            }
            Self::Transient(key) => DecryptingReader::new(file, key, &transient_aad(upload)),
        }
    }
}

type Reader = DecryptingReader<std::io::BufReader<std::fs::File>>;

/// The media folders and the keys that protect them.
pub struct MediaStore {
    master: Arc<MasterKey>,
    data_dir: PathBuf,
    media_dir: PathBuf,
    work_dir: PathBuf,
    /// Serialises the creation of data keys, so two uploads never make two keys.
    creating: Mutex<()>,
}

impl MediaStore {
    /// Makes the folders private (0700) and wipes what a stopped process left in `incoming`
    /// (unacknowledged uploads) and `work` (job plaintext).
    pub fn open(data_dir: &Path, master: MasterKey) -> Result<Self, MediaError> {
        let media_dir = data_dir.join("media");
        let work_dir = data_dir.join("work");
        private_dir(data_dir)?;
        private_dir(&media_dir)?;
        private_dir(&media_dir.join("incoming"))?;
        private_dir(&work_dir)?;
        wipe(&media_dir.join("incoming"))?;
        let stale = wipe(&work_dir)?;
        if stale > 0 {
            tracing::warn!(
                files = stale,
                "removed job files a stopped process left in the work folder"
            );
        }
        Ok(Self {
            master: Arc::new(master),
            data_dir: data_dir.to_path_buf(),
            media_dir,
            work_dir,
            creating: Mutex::new(()),
        })
    }

    pub fn master_key_id(&self) -> crate::crypto::KeyId {
        self.master.id()
    }

    /// The data folder (media records' storage keys are relative to it).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where uploads are written while they arrive.
    pub fn incoming_dir(&self) -> PathBuf {
        self.media_dir.join("incoming")
    }

    /// The folder of session `id`'s media.
    pub fn session_dir(&self, id: &SessionId) -> PathBuf {
        self.media_dir.join(id.simple().to_string())
    }

    /// Session `id`'s data key, `None` when it has none yet.
    pub fn data_key(&self, id: &SessionId) -> Result<Option<DataKey>, MediaError> {
        Ok(self.data_key_wrapped(id)?.map(|(key, _)| key))
    }

    /// Session `id`'s data key with its stored form (wrapped by the master key), for a job that
    /// travels to an engine node: a node with the same master key opens the stored form with
    /// [`open_wrapped_key`]. `None` when it has none yet.
    pub fn data_key_wrapped(
        &self,
        id: &SessionId,
    ) -> Result<Option<(DataKey, Vec<u8>)>, MediaError> {
        let path = self.session_dir(id).join(KEY_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let key = open_wrapped_key(&self.master, id, &bytes).map_err(|source| MediaError::Key {
            session: *id,
            source,
        })?;
        Ok(Some((key, bytes)))
    }

    /// The master key (the engine worker of an `all` node opens the jobs' keys with it).
    pub fn master(&self) -> Arc<MasterKey> {
        Arc::clone(&self.master)
    }

    /// The key an upload for session `id` is encrypted with as it arrives: the session's, or a
    /// new one (not stored yet: [`MediaStore::keep_upload`] stores it).
    pub fn upload_key(&self, id: &SessionId) -> Result<IncomingKey, MediaError> {
        Ok(match self.data_key(id)? {
            Some(key) => IncomingKey::Session {
                session: *id,
                key,
                new: false,
            },
            None => IncomingKey::Session {
                session: *id,
                key: DataKey::generate().map_err(|source| MediaError::Key {
                    session: *id,
                    source,
                })?,
                new: true,
            },
        })
    }

    /// Session `id`'s data key, made (random, stored wrapped, durably) when it has none.
    pub fn data_key_or_create(&self, id: &SessionId) -> Result<DataKey, MediaError> {
        let key = DataKey::generate().map_err(|source| MediaError::Key {
            session: *id,
            source,
        })?;
        match self.adopt_key(id, &key)? {
            true => Ok(key),
            false => self.data_key(id)?.ok_or(MediaError::NoKey(*id)),
        }
    }

    /// Stores `key` as session `id`'s data key unless it has one; whether it was stored.
    fn adopt_key(&self, id: &SessionId, key: &DataKey) -> Result<bool, MediaError> {
        let _one = self
            .creating
            .lock()
            .map_err(|_| MediaError::Task("the key lock was poisoned".into()))?;
        if self.is_erased(id) {
            return Err(MediaError::Erased(*id));
        }
        if self.data_key(id)?.is_some() {
            return Ok(false);
        }
        let wrapped =
            self.master
                .wrap(key, &key_context(id))
                .map_err(|source| MediaError::Key {
                    session: *id,
                    source,
                })?;
        let dir = self.session_dir(id);
        private_dir(&dir)?;
        let tmp = dir.join(format!("{KEY_FILE}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let mut f = private_file(&tmp)?;
        f.write_all(wrapped.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io("write", &tmp))?;
        let path = dir.join(KEY_FILE);
        std::fs::rename(&tmp, &path).map_err(io("store", &path))?;
        sync_dir(&dir)?;
        Ok(true)
    }

    /// Keeps an incoming upload as `name` in session `id`'s folder (durably) and returns its
    /// path: a rename when it was encrypted with the session's key (stored now if it is new),
    /// else re-encrypted under the session's key (made if it has none).
    pub fn keep_upload(
        &self,
        id: &SessionId,
        upload: &uuid::Uuid,
        from: &Path,
        key: &IncomingKey,
        name: &str,
    ) -> Result<PathBuf, MediaError> {
        let dir = self.session_dir(id);
        private_dir(&dir)?;
        let to = dir.join(name);
        let renamed = match key {
            IncomingKey::Session { session, key, new } if session == id => {
                !new || self.adopt_key(id, key)?
            }
            _ => false,
        };
        if renamed {
            std::fs::rename(from, &to).map_err(io("keep", &to))?;
        } else {
            {
                let session_key = self.data_key_or_create(id)?;
                let reader = self.incoming_reader(from, upload, key)?;
                let out = private_file(&to)?;
                let result = (|| {
                    let mut w = EncryptingWriter::new(
                        std::io::BufWriter::new(out),
                        &session_key,
                        &upload_aad(id, upload),
                        DEFAULT_CHUNK,
                    )?;
                    crate::crypto::stream::decrypt_to(reader, &mut w)?;
                    let out = w.finish()?.into_inner().map_err(|e| e.into_error())?;
                    out.sync_all()?;
                    Ok::<_, CryptoError>(())
                })();
                if let Err(source) = result {
                    let _ = std::fs::remove_file(&to);
                    return Err(MediaError::Crypto {
                        what: "re-encrypting an upload",
                        source,
                    });
                }
                let _ = std::fs::remove_file(from);
            }
        }
        sync_dir(&dir)?;
        Ok(to)
    }

    fn incoming_reader(
        &self,
        from: &Path,
        upload: &uuid::Uuid,
        key: &IncomingKey,
    ) -> Result<Reader, MediaError> {
        let f = std::fs::File::open(from).map_err(io("open", from))?;
        key.reader(f, upload).map_err(|source| MediaError::Crypto {
            what: "opening an incoming upload",
            source,
        })
    }

    /// An incoming upload's plaintext in memory (a live camera frame), at most `limit` bytes.
    pub fn read_incoming(
        &self,
        from: &Path,
        upload: &uuid::Uuid,
        key: &IncomingKey,
        limit: u64,
    ) -> Result<Zeroizing<Vec<u8>>, MediaError> {
        self.incoming_reader(from, upload, key)?
            .read_all(limit)
            .map_err(|source| MediaError::Crypto {
                what: "reading an incoming upload",
                source,
            })
    }

    /// The reader of stored upload `upload` of session `id` at `path`.
    fn stored_reader(
        &self,
        id: &SessionId,
        upload: &uuid::Uuid,
        path: &Path,
    ) -> Result<Reader, MediaError> {
        let key = self.data_key(id)?.ok_or(MediaError::NoKey(*id))?;
        let f = std::fs::File::open(path).map_err(io("open", path))?;
        DecryptingReader::new(std::io::BufReader::new(f), &key, &upload_aad(id, upload)).map_err(
            |source| MediaError::Crypto {
                what: "opening a stored upload",
                source,
            },
        )
    }

    /// A stored upload's plaintext in memory (an ID photo), at most `limit` bytes. Blocking.
    pub fn read_stored(
        &self,
        id: &SessionId,
        upload: &uuid::Uuid,
        path: &Path,
        limit: u64,
    ) -> Result<Zeroizing<Vec<u8>>, MediaError> {
        self.stored_reader(id, upload, path)?
            .read_all(limit)
            .map_err(|source| MediaError::Crypto {
                what: "decrypting a stored upload",
                source,
            })
    }

    /// A stored upload decrypted into an unnamed private file for a job that needs a path
    /// (FFmpeg); the plaintext is gone when the [`PlainFile`] is dropped or the process dies.
    /// Blocking.
    pub fn plain_file(
        &self,
        id: &SessionId,
        upload: &uuid::Uuid,
        path: &Path,
    ) -> Result<PlainFile, MediaError> {
        let reader = self.stored_reader(id, upload, path)?;
        PlainFile::decrypt(&self.work_dir, reader)
    }
}

/// Makes the entries of `dir` durable (a rename is durable once its folder is synced).
fn sync_dir(dir: &Path) -> Result<(), MediaError> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("sync", dir))
}

#[cfg(test)]
mod tests;
