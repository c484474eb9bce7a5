//! The records a session step carries into the journal's transaction: typed [`Record`]s that
//! become outbox entries once the step's sequence number is known, numbered `seq × 16 + i` so
//! each is unique per session and the same step always yields the same numbers.

use super::{Outbox, Record, RecordEntry};
use actors::session::{BesideTree, OutboxWrite, RecordSource, SessionRecord, StepRecords};

/// Records one step may carry (the low bits of their sequence numbers).
pub const PER_STEP: u64 = 16;

/// The sequence number of the `index`-th record of the step journaled as event `event_seq`
/// (0 for the session's creation).
pub fn record_seq(event_seq: u64, index: usize) -> u64 {
    event_seq.saturating_mul(PER_STEP) + index as u64
}

/// Records for one step, staged in `outbox`.
pub struct OutboxRecords {
    outbox: Outbox,
    records: Vec<Record>,
}

impl OutboxRecords {
    /// `records` (at most [`PER_STEP`]) as a step's records.
    pub fn step(outbox: &Outbox, records: Vec<Record>) -> StepRecords {
        StepRecords::new(Self {
            outbox: outbox.clone(),
            records,
        })
    }
}

impl RecordSource for OutboxRecords {
    fn encode(
        &self,
        session: &SessionRecord,
        seq: u64,
        at_ms: u64,
    ) -> Result<Vec<OutboxWrite>, String> {
        if self.records.len() as u64 > PER_STEP {
            return Err(format!(
                "{} records in one step (at most {PER_STEP})",
                self.records.len()
            ));
        }
        let mut writes = self
            .records
            .iter()
            .enumerate()
            .map(|(i, record)| {
                let entry = RecordEntry {
                    session_id: session.id,
                    seq: record_seq(seq, i),
                    at_ms: i64::try_from(at_ms).unwrap_or(i64::MAX),
                    tenant_id: session.tenant.clone(),
                    record: record.clone(),
                };
                let (key, value) = self
                    .outbox
                    .stage(&entry)
                    .map_err(|e| e.to_string())?
                    .into_parts();
                Ok(OutboxWrite {
                    key,
                    value,
                    tree: BesideTree::Outbox,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        // A tenant's session that ends with this step: its webhook's notice, in the same
        // transaction.
        writes.extend(crate::webhooks::stage(session, at_ms)?);
        Ok(writes)
    }

    fn durable(&self) {
        self.outbox.notify();
    }
}
