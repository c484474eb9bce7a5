//! Sessions counted by state, kept beside the journal: read whole once when it opens, then
//! moved by each write that changes a session's state, so `/metrics` reads counters instead of
//! every session in the journal.

use super::{Journal, JournalError, SessionRecord, decode};
use crate::session::state::SessionState;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

/// See the module's doc.
#[derive(Debug, Default)]
pub struct StateCounts {
    by: Mutex<HashMap<SessionState, usize>>,
}

impl StateCounts {
    /// The counts of the records in `sessions`.
    pub(super) fn read(sessions: &sled::Tree) -> Result<Self, JournalError> {
        let mut by = HashMap::new();
        for kv in sessions.iter() {
            let (_, v) = kv?;
            let r: SessionRecord = decode(&v)?;
            *by.entry(r.state).or_default() += 1;
        }
        Ok(Self { by: Mutex::new(by) })
    }

    /// One session more in `to` and, when it was in `from`, one fewer there.
    pub(super) fn moved(&self, from: Option<SessionState>, to: Option<SessionState>) {
        if from == to {
            return;
        }
        let mut by = self.by.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = from
            && let Some(n) = by.get_mut(&f)
        {
            *n = n.saturating_sub(1);
        }
        if let Some(t) = to {
            *by.entry(t).or_default() += 1;
        }
    }
}

impl Journal {
    /// Sessions in the journal by state (their state's name), from the counters.
    pub fn count_by_state(&self) -> BTreeMap<String, usize> {
        self.counts
            .by
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| (s.as_str().to_owned(), *n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counters_follow_every_write_and_equal_a_full_count() {
        let j = Journal::temporary().expect("journal");
        let ids: Vec<uuid::Uuid> = (0..3).map(|_| uuid::Uuid::new_v4()).collect();
        for id in &ids {
            j.create(&SessionRecord::new(*id, String::new()))
                .expect("create");
        }
        assert_eq!(j.count_by_state().get("created"), Some(&3));
        let mut r = j.record(&ids[0]).expect("read").expect("there");
        r.state = SessionState::Decided;
        j.save(&r).expect("save");
        j.forget(&ids[1]).expect("forget");
        j.forget(&ids[1]).expect("forgetting twice changes nothing");
        let want: BTreeMap<String, usize> =
            [("created".to_owned(), 1), ("decided".to_owned(), 1)].into();
        assert_eq!(j.count_by_state(), want);
        let recount = StateCounts::read(&j.sessions).expect("recount");
        let mut full: BTreeMap<String, usize> = BTreeMap::new();
        for (s, n) in recount.by.lock().expect("lock").iter() {
            full.insert(s.as_str().to_owned(), *n);
        }
        assert_eq!(full, want, "the counters equal a count of every record");
    }
}
