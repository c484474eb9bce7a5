//! Master key rotation: every session's data key re-wrapped from the old master key to the new
//! one, file by file (written beside, synced, renamed), without touching the media or anything
//! sealed with the data keys. A key already wrapped by the new master key is skipped, so an
//! interrupted rotation is finished by running it again.

use super::{KEY_FILE, MediaError, io, key_context, private_file, sync_dir};
use crate::crypto::{MasterKey, WrappedKey, rewrap};
use actors::session::SessionId;
use std::io::Write;
use std::path::Path;

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Data keys re-wrapped now.
    pub rewrapped: usize,
    /// Data keys already wrapped by the new key (a rotation run before).
    pub already: usize,
}

/// Re-wraps every data key under `{data_dir}/media` from `old` to `new`. A key wrapped by
/// neither stops the rotation with an error naming its session (nothing is lost: the keys done
/// so far open with `new`, the rest still with `old`).
pub fn rotate(data_dir: &Path, old: &MasterKey, new: &MasterKey) -> Result<Rotation, MediaError> {
    let media = data_dir.join("media");
    let mut done = Rotation::default();
    let entries = match std::fs::read_dir(&media) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(io("list", &media)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(io("list", &media))?;
        let Ok(session) = SessionId::parse_str(&entry.file_name().to_string_lossy()) else {
            continue; // incoming/, erased/
        };
        let dir = entry.path();
        let path = dir.join(KEY_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io("read", &path)(e)),
        };
        let key_error = |source| MediaError::Key { session, source };
        let wrapped = WrappedKey::from_bytes(&bytes).map_err(key_error)?;
        if wrapped.master_key_id() == new.id() {
            done.already += 1;
            continue;
        }
        let again = rewrap(old, new, &wrapped, &key_context(&session)).map_err(key_error)?;
        let tmp = dir.join(format!("{KEY_FILE}.rotate.tmp"));
        let _ = std::fs::remove_file(&tmp); // a stopped rotation's leftover
        let mut f = private_file(&tmp)?;
        f.write_all(again.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("store", &path))?;
        sync_dir(&dir)?;
        done.rewrapped += 1;
    }
    Ok(done)
}
