//! Where the master key comes from at start-up: `security.master_key` (required in production,
//! checked by the settings), or — in development and test only, when it is unset — a random key
//! generated once per data folder and kept in `{data_dir}/dev-master.key` (0600), so restarts
//! read their own media. That key lies beside the data it protects and protects nothing against
//! someone who can read the folder: a clear warning says so at every start.

use super::{MediaError, io, private_file};
use crate::crypto::MasterKey;
use crate::settings::{Environment, MASTER_KEY_VAR, Settings};
use std::io::Write;
use std::path::Path;
use zeroize::Zeroizing;

/// File name of the development master key in the data folder.
pub const DEV_KEY_FILE: &str = "dev-master.key";

/// The master key the server runs with.
pub fn resolve(settings: &Settings) -> Result<MasterKey, MediaError> {
    let configured = settings
        .security
        .master_key()
        .map_err(|e| MediaError::Task(e.to_string()))?;
    if let Some(key) = configured {
        tracing::info!(master_key = %key.id(), "encryption at rest with the configured master key");
        return Ok(key);
    }
    if settings.environment == Environment::Production {
        // The settings refuse this already; never fall back to a generated key in production.
        return Err(MediaError::Task(format!(
            "security.master_key is required in production (set {MASTER_KEY_VAR})"
        )));
    }
    let data = &settings.server.data_dir;
    super::private_dir(data)?;
    let key = development_key_at(&data.join(DEV_KEY_FILE))?;
    tracing::warn!(
        master_key = %key.id(),
        file = %data.join(DEV_KEY_FILE).display(),
        "no security.master_key set: using a development master key kept in the data folder — \
         for development only; set {MASTER_KEY_VAR} (`kyc keys generate`) in production"
    );
    Ok(key)
}

/// Reads the development key at `path`, or makes it (0600) when there is none.
pub(super) fn development_key_at(path: &Path) -> Result<MasterKey, MediaError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            return MasterKey::from_base64(&text).map_err(|e| {
                MediaError::Task(format!(
                    "the development master key {} is damaged ({e}); remove it only if the data \
                 folder holds nothing to keep",
                    path.display()
                ))
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("read", path)(e)),
    }
    let key = MasterKey::generate().map_err(|e| MediaError::Task(e.to_string()))?;
    let mut f = private_file(path)?;
    f.write_all(key.to_base64().as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .and_then(|()| f.sync_all())
        .map_err(io("write", path))?;
    Ok(key)
}
