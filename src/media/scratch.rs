//! Plaintext for the lifetime of one job: FFmpeg reads a video from a path, so a stored video
//! is decrypted into a file that has no name. It is created in the private work folder
//! (0600), unlinked at once — before any plaintext is written — and then reached only through
//! its open descriptor (`/proc/self/fd/N`). The kernel frees it when the job drops it, and also
//! when the process dies in any way (kill -9, OOM, power loss), so no plaintext file survives a
//! crash; the start-up wipe of the work folder removes the empty names a crash between create
//! and unlink could leave.

use super::{MediaError, io, private_file};
use crate::crypto::CryptoError;
use crate::crypto::stream::{DecryptingReader, decrypt_to};
use std::io::{BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// A decrypted file without a name; `path()` opens it while this value lives.
pub struct PlainFile {
    file: std::fs::File,
    path: PathBuf,
    bytes: u64,
}

impl PlainFile {
    /// Decrypts `reader` into a new unnamed file in `work_dir`.
    pub(super) fn decrypt<R: Read>(
        work_dir: &Path,
        reader: DecryptingReader<R>,
    ) -> Result<Self, MediaError> {
        if !Path::new("/proc/self/fd").is_dir() {
            return Err(MediaError::Task(
                "job files need /proc/self/fd (Linux) to stay unnamed".into(),
            ));
        }
        let named = work_dir.join(format!("{}.plain", uuid::Uuid::new_v4().simple()));
        let file = private_file(&named)?;
        std::fs::remove_file(&named).map_err(io("unlink", &named))?;
        let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
        let mut out = BufWriter::with_capacity(256 * 1024, &file);
        let bytes = decrypt_to(reader, &mut out)
            .and_then(|n| {
                out.flush()?;
                Ok(n)
            })
            .map_err(|source: CryptoError| MediaError::Crypto {
                what: "decrypting a stored upload for a job",
                source,
            })?;
        drop(out);
        Ok(Self { file, path, bytes })
    }

    /// A path that opens the plaintext (in this process only).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Plaintext length.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// The open file (kept open: closing it frees the plaintext).
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }
}
