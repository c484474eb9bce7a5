//! The notifications waiting for the tenants' webhooks, in the journal's database: staged in
//! the same transaction as the step that ends a session (decided, failed, expired, erased), so
//! none is lost and none is made twice; a `webhooks` tree ordered by when each is due, and a
//! `webhook_log` of the finished ones (delivered, failed, dropped) with every attempt, for the
//! tenant and the admin to see.

use actors::session::{BesideTree, Decision, OutboxWrite, SessionId, SessionRecord, SessionState};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use uuid::Uuid;

/// Finished notifications kept for inspection (the oldest go first).
const LOG_MAX: usize = 10_000;

/// Where a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answer.
    Delivered,
    /// No attempt succeeded within `webhooks.give_up_after_secs`.
    Failed,
    /// Not sent: the tenant had no webhook, or is disabled or gone.
    Dropped,
}

/// One try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub at_ms: u64,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why it failed without an answer (timeout, refused, …).
    pub error: Option<String>,
    pub took_ms: u64,
}

/// A notification to a tenant's webhook and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Also the `id` of the payload and `X-Kyc-Delivery`: the same on every retry, so a
    /// receiver can drop a repeat.
    pub delivery_id: Uuid,
    pub tenant_id: String,
    #[schema(value_type = String, format = Uuid)]
    pub session_id: SessionId,
    pub external_id: Option<String>,
    /// `session.decided`, `session.failed`, `session.expired` or `session.erased`.
    pub event: String,
    pub state: SessionState,
    pub decision: Option<Decision>,
    pub created_ms: u64,
    pub status: DeliveryStatus,
    pub attempts: Vec<Attempt>,
    pub next_attempt_ms: Option<u64>,
    /// Why it failed or was dropped.
    pub reason: Option<String>,
}

impl Delivery {
    /// The JSON body POSTed (the same bytes on every retry).
    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "id": self.delivery_id,
            "type": self.event,
            "createdMs": self.created_ms,
            "data": {
                "tenantId": self.tenant_id,
                "sessionId": self.session_id,
                "externalId": self.external_id,
                "state": self.state,
                "decision": self.decision,
            },
        }))
        .unwrap_or_default()
    }
}

/// The notification a session reaching `state` sends, if any.
fn event_of(state: SessionState) -> Option<&'static str> {
    match state {
        SessionState::Decided => Some("session.decided"),
        SessionState::Failed => Some("session.failed"),
        SessionState::Expired => Some("session.expired"),
        SessionState::Erased => Some("session.erased"),
        _ => None,
    }
}

/// Queue key: due ms ‖ delivery id.
fn due_key(due_ms: u64, id: &Uuid) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&due_ms.to_be_bytes());
    k[8..].copy_from_slice(id.as_bytes());
    k
}

/// The notification of the step that leaves `session` as it is (a tenant's session that has
/// just ended), for the step's transaction.
pub fn stage(session: &SessionRecord, at_ms: u64) -> Result<Option<OutboxWrite>, String> {
    let (Some(tenant), Some(event)) = (&session.tenant, event_of(session.state)) else {
        return Ok(None);
    };
    let d = Delivery {
        delivery_id: Uuid::new_v4(),
        tenant_id: tenant.clone(),
        session_id: session.id,
        external_id: session.external_id.clone(),
        event: event.to_owned(),
        state: session.state,
        decision: session.decision,
        created_ms: at_ms,
        status: DeliveryStatus::Pending,
        attempts: Vec::new(),
        next_attempt_ms: Some(at_ms),
        reason: None,
    };
    Ok(Some(OutboxWrite {
        key: due_key(at_ms, &d.delivery_id).to_vec(),
        value: serde_json::to_vec(&d).map_err(|e| e.to_string())?,
        tree: BesideTree::Webhooks,
    }))
}

/// The queue and the log.
#[derive(Clone)]
pub struct WebhookQueue {
    queue: sled::Tree,
    log: sled::Tree,
}

type Keyed = (sled::IVec, Delivery);

fn decode(v: &[u8]) -> Result<Delivery, sled::Error> {
    serde_json::from_slice(v).map_err(|e| sled::Error::Unsupported(e.to_string()))
}

fn done<T>(r: Result<T, TransactionError<()>>) -> Result<T, sled::Error> {
    r.map_err(|e| match e {
        TransactionError::Storage(e) => e,
        TransactionError::Abort(()) => sled::Error::Unsupported("aborted".into()),
    })
}

impl WebhookQueue {
    /// The trees in the journal's database `db`.
    pub fn open(db: &sled::Db) -> Result<Self, sled::Error> {
        Ok(Self {
            queue: db.open_tree(actors::session::journal::WEBHOOKS_TREE)?,
            log: db.open_tree("webhook_log")?,
        })
    }

    /// Up to `limit` notifications due at `now_ms`, the earliest first.
    pub fn due(&self, now_ms: u64, limit: usize) -> Result<Vec<Keyed>, sled::Error> {
        let end = due_key(now_ms, &Uuid::max());
        self.queue
            .range(..=&end[..])
            .take(limit)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k, decode(&v)?))
            })
            .collect()
    }

    /// When the next notification is due.
    pub fn next_due(&self) -> Result<Option<u64>, sled::Error> {
        Ok(self.queue.first()?.and_then(|(k, _)| {
            k.get(..8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
        }))
    }

    /// `d` (taken from `key`) waits again until its `next_attempt_ms`.
    pub fn reschedule(&self, key: &[u8], d: &Delivery) -> Result<(), sled::Error> {
        let value = serde_json::to_vec(d).map_err(|e| sled::Error::Unsupported(e.to_string()))?;
        let new = due_key(d.next_attempt_ms.unwrap_or(0), &d.delivery_id);
        done(self.queue.transaction(|q| {
            q.remove(key)?;
            q.insert(&new[..], value.as_slice())?;
            Ok::<_, ConflictableTransactionError<()>>(())
        }))
    }

    /// `d` (taken from `key`) is finished: out of the queue, into the log, in one transaction.
    pub fn finish(&self, key: &[u8], d: &Delivery) -> Result<(), sled::Error> {
        let value = serde_json::to_vec(d).map_err(|e| sled::Error::Unsupported(e.to_string()))?;
        let logged = due_key(d.created_ms, &d.delivery_id);
        done((&self.queue, &self.log).transaction(|(q, l)| {
            q.remove(key)?;
            l.insert(&logged[..], value.as_slice())?;
            Ok::<_, ConflictableTransactionError<()>>(())
        }))?;
        while self.log.len() > LOG_MAX {
            if self.log.pop_min()?.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Tenant `tenant`'s notifications, waiting and finished, newest first, at most `limit`.
    pub fn of_tenant(&self, tenant: &str, limit: usize) -> Result<Vec<Delivery>, sled::Error> {
        let mut out = Vec::new();
        for tree in [&self.queue, &self.log] {
            for kv in tree.iter().rev() {
                let d = decode(&kv?.1)?;
                if d.tenant_id == tenant {
                    out.push(d);
                }
            }
        }
        out.sort_by_key(|d| std::cmp::Reverse(d.created_ms));
        out.truncate(limit);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_tenants_session_that_ended_is_notified_and_the_queue_keeps_order() {
        let mut s = SessionRecord::new(SessionId::new_v4(), String::new());
        s.state = SessionState::Decided;
        assert_eq!(stage(&s, 5).expect("stage"), None, "no tenant, no notice");
        s.tenant = Some("t".into());
        s.state = SessionState::VideoAccepted;
        assert_eq!(stage(&s, 5).expect("stage"), None, "not ended");
        let db = sled::Config::new().temporary(true).open().expect("db");
        let q = WebhookQueue::open(&db).expect("queue");
        for (state, at) in [(SessionState::Decided, 20), (SessionState::Erased, 10)] {
            s.state = state;
            let w = stage(&s, at).expect("stage").expect("a notice");
            assert_eq!(w.tree, BesideTree::Webhooks);
            q.queue.insert(w.key, w.value).expect("insert");
        }
        let due = q.due(15, 10).expect("due");
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].1.event, "session.erased");
        assert_eq!(q.next_due().expect("next"), Some(10));
        let (key, mut d) = due[0].clone();
        d.next_attempt_ms = Some(30);
        q.reschedule(&key, &d).expect("again");
        assert_eq!(q.next_due().expect("next"), Some(20));
        let (key, mut d) = q.due(40, 10).expect("due")[0].clone();
        d.status = DeliveryStatus::Delivered;
        q.finish(&key, &d).expect("finish");
        let all = q.of_tenant("t", 10).expect("all");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].event, "session.decided", "newest first");
        assert_eq!(all[0].status, DeliveryStatus::Delivered);
        assert!(q.of_tenant("u", 10).expect("none").is_empty());
    }
}
