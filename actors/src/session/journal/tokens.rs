//! Sessions found by their token: the token's hash names its session, so a request is
//! authorized from its header alone, before a byte of its body is read.

use super::{Journal, JournalError, SessionId, SessionRecord, decode};

impl Journal {
    /// The session whose token hashes to `token_sha256` (hex), if any.
    pub fn session_of_token(&self, token_sha256: &str) -> Result<Option<SessionId>, JournalError> {
        match self.tokens.get(token_sha256.as_bytes())? {
            Some(b) => SessionId::from_slice(&b)
                .map(Some)
                .map_err(|e| JournalError::Corrupt(e.to_string())),
            None => Ok(None),
        }
    }

    /// Indexes the tokens of sessions journaled before the index existed. Returns how many.
    pub fn index_tokens(&self) -> Result<usize, JournalError> {
        let mut added = 0;
        for kv in self.sessions.iter() {
            let (_, v) = kv?;
            let r: SessionRecord = decode(&v)?;
            let key = r.token_sha256.as_bytes();
            if !key.is_empty() && self.tokens.get(key)?.is_none() {
                self.tokens.insert(key, r.id.as_bytes())?;
                added += 1;
            }
        }
        Ok(added)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_session_also_for_sessions_from_before_the_index() {
        let j = Journal::temporary().expect("journal");
        let a = SessionRecord::new(SessionId::new_v4(), "aa11".into());
        j.create(&a).expect("create");
        assert_eq!(j.session_of_token("aa11").expect("get"), Some(a.id));
        assert_eq!(j.session_of_token("bb22").expect("get"), None);
        // A session written without the index (an older journal).
        let b = SessionRecord::new(SessionId::new_v4(), "bb22".into());
        j.sessions
            .insert(b.id.as_bytes(), serde_json::to_vec(&b).expect("json"))
            .expect("insert");
        assert_eq!(j.index_tokens().expect("index"), 1);
        assert_eq!(j.session_of_token("bb22").expect("get"), Some(b.id));
        assert_eq!(j.index_tokens().expect("again"), 0);
    }
}
