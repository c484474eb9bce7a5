//! What one virtual user saw over its verifications: counts, failures, decisions, retries and
//! each stage's latencies, merged over all users into the report at the end.

use std::collections::BTreeMap;
use std::time::Duration;

use super::api::Step;
use crate::sessions::api::Fault;

/// What users saw, merged into the report at the end.
#[derive(Debug, Default)]
pub struct Tally {
    pub started: u64,
    pub completed: u64,
    pub unfinished: u64,
    pub failures: BTreeMap<String, u64>,
    pub decisions: BTreeMap<String, u64>,
    pub retries: BTreeMap<String, u64>,
    /// Upload (or request) sent → awaited event, per step: card, video, compare.
    pub stages: [Vec<Duration>; 3],
    /// Session creation → decision, over completed verifications.
    pub totals: Vec<Duration>,
}

impl Tally {
    /// `step` ended `took` after its request was sent.
    pub fn stage(&mut self, step: Step, took: Duration) {
        self.stages[step as usize].push(took);
    }

    /// A verification decided `decision`, `total` after it began.
    pub fn decided(&mut self, decision: String, total: Duration) {
        self.completed += 1;
        self.totals.push(total);
        *self.decisions.entry(decision).or_default() += 1;
    }

    /// A verification that failed.
    pub fn failed(&mut self, fault: Fault) {
        *self.failures.entry(fault.0).or_default() += 1;
    }

    /// Adds `other`'s counts and latencies to this one.
    pub fn merge(&mut self, other: Tally) {
        self.started += other.started;
        self.completed += other.completed;
        self.unfinished += other.unfinished;
        for (mine, theirs) in [
            (&mut self.failures, other.failures),
            (&mut self.decisions, other.decisions),
            (&mut self.retries, other.retries),
        ] {
            for (k, n) in theirs {
                *mine.entry(k).or_default() += n;
            }
        }
        for (mine, theirs) in self.stages.iter_mut().zip(other.stages) {
            mine.extend(theirs);
        }
        self.totals.extend(other.totals);
    }
}
