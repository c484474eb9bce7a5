//! A tenant's sessions, newest first, from an index kept in the same transaction as each
//! session's creation, so a tenant lists its own sessions without a scan of everyone's.

use super::{Journal, JournalError, SessionId, SessionRecord};

/// The index key of `record` (which has a tenant): tenant ‖ 0 ‖ created ms (big-endian) ‖ id.
pub(super) fn tenant_key(record: &SessionRecord) -> Vec<u8> {
    let tenant = record.tenant.as_deref().unwrap_or_default();
    let mut k = Vec::with_capacity(tenant.len() + 25);
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k.extend_from_slice(&record.created_ms.to_be_bytes());
    k.extend_from_slice(record.id.as_bytes());
    k
}

fn prefix(tenant: &str) -> Vec<u8> {
    let mut p = tenant.as_bytes().to_vec();
    p.push(0);
    p
}

impl Journal {
    /// Up to `limit` sessions of `tenant` listed after `before` (created ms, session: the last
    /// of the previous page; from the newest when `None`), newest first.
    pub fn sessions_of_tenant(
        &self,
        tenant: &str,
        before: Option<(u64, SessionId)>,
        limit: usize,
    ) -> Result<Vec<SessionRecord>, JournalError> {
        let start = prefix(tenant);
        let mut end = start.clone();
        match before {
            Some((ms, id)) => {
                end.extend_from_slice(&ms.to_be_bytes());
                end.extend_from_slice(id.as_bytes());
            }
            None => end.extend_from_slice(&[0xff; 25]),
        }
        let mut out = Vec::new();
        for kv in self.by_tenant.range(start.as_slice()..end.as_slice()).rev() {
            if out.len() >= limit {
                break;
            }
            let (k, _) = kv?;
            let id = SessionId::from_slice(&k[k.len() - 16..])
                .map_err(|e| JournalError::Corrupt(e.to_string()))?;
            if let Some(r) = self.record(&id)? {
                out.push(r);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(tenant: Option<&str>, created_ms: u64) -> SessionRecord {
        let mut r = SessionRecord::new(SessionId::new_v4(), String::new());
        r.tenant = tenant.map(str::to_owned);
        r.created_ms = created_ms;
        r
    }

    #[test]
    fn a_tenant_lists_its_own_sessions_newest_first_and_forgotten_ones_leave() {
        let j = Journal::temporary().expect("journal");
        let a1 = session(Some("a"), 10);
        let a2 = session(Some("a"), 20);
        let b1 = session(Some("ab"), 15);
        let none = session(None, 5);
        for r in [&a1, &a2, &b1, &none] {
            j.create(r).expect("create");
        }
        let ids = |v: Vec<SessionRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(j.sessions_of_tenant("a", None, 10).expect("list")),
            [a2.id, a1.id]
        );
        assert_eq!(
            ids(j.sessions_of_tenant("a", None, 1).expect("list")),
            [a2.id]
        );
        assert_eq!(
            ids(j
                .sessions_of_tenant("a", Some((20, a2.id)), 10)
                .expect("list")),
            [a1.id]
        );
        // Two sessions of the same millisecond: the page boundary splits them exactly.
        let a3 = session(Some("a"), 10);
        j.create(&a3).expect("create");
        let first = j
            .sessions_of_tenant("a", Some((20, a2.id)), 1)
            .expect("list");
        let rest = j
            .sessions_of_tenant("a", Some((10, first[0].id)), 10)
            .expect("list");
        let mut both = ids(first);
        both.extend(ids(rest));
        both.sort();
        let mut want = vec![a1.id, a3.id];
        want.sort();
        assert_eq!(both, want);
        assert_eq!(
            ids(j.sessions_of_tenant("ab", None, 10).expect("list")),
            [b1.id]
        );
        assert!(
            j.sessions_of_tenant("c", None, 10)
                .expect("list")
                .is_empty()
        );
        j.forget(&a2.id).expect("forget");
        assert_eq!(
            ids(j.sessions_of_tenant("a", None, 10).expect("list")).len(),
            2
        );
    }
}
