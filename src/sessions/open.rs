//! How many sessions each tenant has open, so `sessions.max_open_per_tenant` can refuse one
//! more without scanning the tenant's history at each creation. A tenant's open sessions are
//! read from the journal once (only those younger than the token lifetime: older ones can no
//! longer be used), then kept as a list that grows with each creation; the list is pruned
//! (each session read back: decided, failed, expired or too old leave it) only when it has
//! reached the limit, so below the limit a creation reads nothing.

use super::{Sessions, SessionsError};
use actors::session::{Journal, SessionId, SessionRecord};
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

/// One tenant's known open sessions and the creations in flight.
#[derive(Debug, Default)]
struct TenantOpen {
    /// (session, created at ms)
    ids: Vec<(SessionId, u64)>,
    reserved: usize,
    loaded: bool,
}

/// See the module's doc.
#[derive(Debug, Default)]
pub struct OpenSessions {
    by_tenant: Mutex<HashMap<String, TenantOpen>>,
}

/// Whether `r` still counts as open at `now_ms` for a token lifetime of `lifetime_ms`.
fn is_open(r: &SessionRecord, now_ms: u64, lifetime_ms: u64) -> bool {
    !r.state.is_terminal() && r.created_ms.saturating_add(lifetime_ms) > now_ms
}

/// The open sessions of `tenant` in the journal, newest first, down to the lifetime's edge.
fn scan(
    journal: &Journal,
    tenant: &str,
    now_ms: u64,
    lifetime_ms: u64,
) -> Result<Vec<(SessionId, u64)>, SessionsError> {
    const PAGE: usize = 500;
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = journal.sessions_of_tenant(tenant, before, PAGE)?;
        let Some(last) = page.last() else {
            break;
        };
        before = Some((last.created_ms, last.id));
        let full = page.len() == PAGE;
        let mut past_edge = false;
        for r in &page {
            if r.created_ms.saturating_add(lifetime_ms) <= now_ms {
                past_edge = true;
                break;
            }
            if is_open(r, now_ms, lifetime_ms) {
                out.push((r.id, r.created_ms));
            }
        }
        if past_edge || !full {
            break;
        }
    }
    Ok(out)
}

impl OpenSessions {
    fn with<T>(&self, tenant: &str, f: impl FnOnce(&mut TenantOpen) -> T) -> T {
        let mut all = self
            .by_tenant
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(all.entry(tenant.to_owned()).or_default())
    }
}

/// A place for one more open session of a tenant, held while it is created.
pub struct Reservation<'a> {
    open: &'a OpenSessions,
    tenant: String,
}

impl Reservation<'_> {
    /// The session was made: it counts from now on.
    pub fn made(self, record: &SessionRecord) {
        self.open
            .with(&self.tenant, |t| t.ids.push((record.id, record.created_ms)));
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.open.with(&self.tenant, |t| {
            t.reserved = t.reserved.saturating_sub(1);
        });
    }
}

impl Sessions {
    /// A place for one more open session of `tenant`, which may have `max` open; `None` when
    /// it has them all.
    pub async fn reserve_open(
        &self,
        tenant: &str,
        max: usize,
    ) -> Result<Option<Reservation<'_>>, SessionsError> {
        let now = actors::session::event::now_ms();
        let lifetime_ms = self.lifetime_ms;
        let open = &self.open;
        if !open.with(tenant, |t| t.loaded) {
            let (journal, who) = (self.journal.clone(), tenant.to_owned());
            let found = tokio::task::spawn_blocking(move || scan(&journal, &who, now, lifetime_ms))
                .await
                .map_err(|_| SessionsError::Down)??;
            open.with(tenant, |t| {
                if !t.loaded {
                    t.ids = found;
                    t.loaded = true;
                }
            });
        }
        let at_limit = |t: &mut TenantOpen| t.ids.len() + t.reserved >= max;
        if open.with(tenant, at_limit) {
            // Prune: read each listed session back (at most `max` reads, only at the limit).
            let listed = open.with(tenant, |t| t.ids.clone());
            let journal = self.journal.clone();
            let closed: HashSet<SessionId> = tokio::task::spawn_blocking(move || {
                listed
                    .into_iter()
                    .filter(|(id, _)| {
                        journal
                            .record(id)
                            .ok()
                            .flatten()
                            .is_none_or(|r| !is_open(&r, now, lifetime_ms))
                    })
                    .map(|(id, _)| id)
                    .collect()
            })
            .await
            .map_err(|_| SessionsError::Down)?;
            open.with(tenant, |t| t.ids.retain(|(id, _)| !closed.contains(id)));
        }
        let granted = open.with(tenant, |t| {
            if at_limit(t) {
                false
            } else {
                t.reserved += 1;
                true
            }
        });
        Ok(granted.then(|| Reservation {
            open,
            tenant: tenant.to_owned(),
        }))
    }
}
