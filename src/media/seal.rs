//! The session journal's artifacts (ID face and its embedding, the video's frames and their
//! embeddings, the read card, the comparison, the consent) sealed with the session's data key,
//! so none of them is plaintext in the sled files and erasing the key makes them unreadable.

use super::MediaStore;
use actors::session::{ArtifactSeal, SessionId};
use std::sync::Arc;

/// The associated data of artifact `name` of `session`: a sealed artifact opens only under its
/// own session and name.
pub fn artifact_aad(session: &SessionId, name: &str) -> Vec<u8> {
    format!("kyc artifact v1\0{}\0{name}", session.simple()).into_bytes()
}

/// Seals artifacts with their session's data key (made on the first one a session stores).
pub struct SessionSeal {
    media: Arc<MediaStore>,
}

impl SessionSeal {
    pub fn new(media: Arc<MediaStore>) -> Self {
        Self { media }
    }
}

impl ArtifactSeal for SessionSeal {
    fn seal(&self, session: &SessionId, name: &str, plain: &[u8]) -> Result<Vec<u8>, String> {
        let key = self
            .media
            .data_key_or_create(session)
            .map_err(|e| e.to_string())?;
        key.seal(&artifact_aad(session, name), plain)
            .map_err(|e| e.to_string())
    }

    fn open(&self, session: &SessionId, name: &str, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let key = self
            .media
            .data_key(session)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "the session has no data key (erased, or never had one)".to_owned())?;
        key.open(&artifact_aad(session, name), sealed)
            .map(|plain| plain.to_vec())
            .map_err(|e| {
                format!("{e} (sealed with another key, or stored unsealed by an older version)")
            })
    }
}
