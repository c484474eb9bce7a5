//! Erasing media: a session's data key and files deleted together (after which nothing sealed
//! with that key can be opened again), or only its uploads (retention of raw media), and the
//! marker that keeps an erased session from ever getting a new key.

use super::{MediaError, MediaStore, io, private_dir, sync_dir};
use actors::session::SessionId;
use std::path::PathBuf;

/// What [`MediaStore::erase`] or [`MediaStore::delete_uploads`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    /// Upload files removed.
    pub files: usize,
    /// Bytes those files held.
    pub bytes: u64,
    /// The data key was destroyed.
    pub key: bool,
}

impl MediaStore {
    /// The marker of an erased session (an empty file).
    fn erased_marker(&self, id: &SessionId) -> PathBuf {
        self.media_dir.join("erased").join(id.simple().to_string())
    }

    /// Whether session `id` was erased (its key can never be made again).
    pub fn is_erased(&self, id: &SessionId) -> bool {
        self.erased_marker(id).exists()
    }

    /// Erases session `id`'s media: marks it erased (durably, first, so no job still running
    /// can make it a new key), then deletes its folder — the wrapped data key and every upload.
    /// Everything sealed with that key (journal artifacts, record fields, embeddings) can no
    /// longer be opened. Idempotent.
    pub fn erase(&self, id: &SessionId) -> Result<Deleted, MediaError> {
        let marker = self.erased_marker(id);
        let erased_dir = self.media_dir.join("erased");
        private_dir(&erased_dir)?;
        if !marker.exists() {
            super::private_file(&marker)?
                .sync_all()
                .map_err(io("write", &marker))?;
            sync_dir(&erased_dir)?;
        }
        let dir = self.session_dir(id);
        let mut deleted = self.delete_uploads(id)?;
        if dir.exists() {
            deleted.key = dir.join(super::KEY_FILE).exists();
            std::fs::remove_dir_all(&dir).map_err(io("delete", &dir))?;
            sync_dir(&self.media_dir)?;
        }
        Ok(deleted)
    }

    /// Whether session `id` still has uploads on disk.
    pub fn has_uploads(&self, id: &SessionId) -> Result<bool, MediaError> {
        let dir = self.session_dir(id);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(io("list", &dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io("list", &dir))?;
            if !entry
                .file_name()
                .to_string_lossy()
                .starts_with(super::KEY_FILE)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes session `id`'s uploads (ID photos, videos) and keeps its data key, so the
    /// session's sealed fields stay readable until the session itself is erased. Idempotent.
    pub fn delete_uploads(&self, id: &SessionId) -> Result<Deleted, MediaError> {
        self.delete_where(id, |_| true)
    }

    /// Deletes session `id`'s uploads of `kind` (`id` or `video`) except `keep` (the file
    /// name of the upload that supersedes them): a retake's predecessors.
    pub fn delete_superseded(
        &self,
        id: &SessionId,
        kind: &str,
        keep: &str,
    ) -> Result<Deleted, MediaError> {
        let prefix = format!("{kind}-");
        self.delete_where(id, |name| name.starts_with(&prefix) && name != keep)
    }

    fn delete_where(
        &self,
        id: &SessionId,
        pick: impl Fn(&str) -> bool,
    ) -> Result<Deleted, MediaError> {
        let dir = self.session_dir(id);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Deleted::default()),
            Err(e) => return Err(io("list", &dir)(e)),
        };
        let mut deleted = Deleted::default();
        for entry in entries {
            let entry = entry.map_err(io("list", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(super::KEY_FILE) || !pick(&name) {
                continue;
            }
            let path = entry.path();
            let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
            std::fs::remove_file(&path).map_err(io("delete", &path))?;
            deleted.files += 1;
            deleted.bytes += bytes;
        }
        if deleted.files > 0 {
            sync_dir(&dir)?;
        }
        Ok(deleted)
    }
}
