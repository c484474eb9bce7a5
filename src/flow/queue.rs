//! Admission of session jobs to the engines: at most `running` jobs at once, so the engine
//! pools' bounded queues never overflow; the others wait in arrival order and are told their
//! place in line as events; when `max_waiting` already wait, new work is refused (503 with
//! Retry-After) instead of piling up.

use actors::session::{Message, SessionState, Stage, Step, StepSink};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How often a waiting job looks at its place in line.
const POLL: Duration = Duration::from_millis(500);

pub struct JobQueue {
    slots: Arc<Semaphore>,
    running: usize,
    max_waiting: usize,
    waiting: AtomicUsize,
    /// Jobs waiting, by tenant (`""`: sessions without one).
    waiting_by: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    /// The waiting jobs one tenant may have (`sessions.tenant_job_share` of `max_waiting`).
    max_waiting_per_tenant: usize,
    /// Tickets handed out / admitted, in arrival order.
    issued: AtomicU64,
    admitted: AtomicU64,
}

/// Counters for /admin and /metrics.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    pub running: usize,
    pub max_running: usize,
    pub waiting: usize,
    pub max_waiting: usize,
}

impl JobQueue {
    /// `tenant_share`: the share of `max_waiting` one tenant's jobs may fill.
    pub fn new(running: usize, max_waiting: usize, tenant_share: f64) -> Self {
        let running = running.max(1);
        Self {
            slots: Arc::new(Semaphore::new(running)),
            running,
            max_waiting,
            waiting: AtomicUsize::new(0),
            waiting_by: Default::default(),
            max_waiting_per_tenant: ((max_waiting as f64 * tenant_share).ceil() as usize).max(1),
            issued: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
        }
    }

    /// True when new work should be refused.
    pub fn is_full(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) >= self.max_waiting
    }

    /// True when new work of `tenant` should be refused: the line is full, or the tenant's
    /// jobs fill its share of it.
    pub fn is_full_for(&self, tenant: Option<&str>) -> bool {
        self.is_full()
            || self
                .waiting_by
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(tenant.unwrap_or_default())
                .is_some_and(|&n| n >= self.max_waiting_per_tenant)
    }

    fn count_tenant(&self, tenant: &str, up: bool) {
        let mut by = self
            .waiting_by
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = by.entry(tenant.to_owned()).or_default();
        if up {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
            if *n == 0 {
                by.remove(tenant);
            }
        }
    }

    pub fn stats(&self) -> QueueStats {
        QueueStats {
            running: self.running - self.slots.available_permits(),
            max_running: self.running,
            waiting: self.waiting.load(Ordering::Relaxed),
            max_waiting: self.max_waiting,
        }
    }

    /// Waits for a slot. While it waits, each change of its place in line is an event of the
    /// session (`state`, `stage`, progress 0 %).
    pub async fn admit(
        &self,
        tenant: Option<&str>,
        steps: &StepSink,
        state: SessionState,
        stage: Stage,
    ) -> anyhow::Result<OwnedSemaphorePermit> {
        let ticket = self.issued.fetch_add(1, Ordering::SeqCst);
        if let Ok(p) = Arc::clone(&self.slots).try_acquire_owned() {
            self.admitted.fetch_add(1, Ordering::SeqCst);
            return Ok(p);
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let tenant = tenant.unwrap_or_default();
        self.count_tenant(tenant, true);
        let _waiting = Waiting(self, tenant);
        let acquire = Arc::clone(&self.slots).acquire_owned();
        tokio::pin!(acquire);
        let mut told = 0u64;
        loop {
            let place = ticket
                .saturating_sub(self.admitted.load(Ordering::SeqCst))
                .max(1);
            if place != told {
                told = place;
                let step = Step::progress(
                    state,
                    stage,
                    0,
                    Message::new(
                        format!("Waiting for a free engine: number {place} in line"),
                        format!("처리 대기 중입니다: {place}번째"),
                    ),
                )
                .with_result(serde_json::json!({ "queuePosition": place }));
                steps.step(step).await?;
            }
            tokio::select! {
                p = &mut acquire => {
                    self.admitted.fetch_add(1, Ordering::SeqCst);
                    return Ok(p?);
                }
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// Counts a job as waiting (in all and for its tenant) for as long as it lives.
struct Waiting<'a>(&'a JobQueue, &'a str);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        self.0.count_tenant(self.1, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_when_the_waiting_line_is_at_its_limit() {
        let q = JobQueue::new(2, 0, 0.5);
        assert!(q.is_full());
        let q = JobQueue::new(0, 3, 0.5);
        assert_eq!(q.stats().max_running, 1);
        assert!(!q.is_full());
    }

    #[test]
    fn one_tenant_fills_only_its_share_of_the_line() {
        let q = JobQueue::new(1, 4, 0.5);
        let a = [Waiting(&q, "a"), Waiting(&q, "a")];
        for _ in &a {
            q.waiting.fetch_add(1, Ordering::SeqCst);
            q.count_tenant("a", true);
        }
        assert!(q.is_full_for(Some("a")), "a has its 2 of 4 places");
        assert!(!q.is_full_for(Some("b")), "b is still taken");
        assert!(!q.is_full_for(None));
        drop(a);
        assert!(
            !q.is_full_for(Some("a")),
            "freed when a's jobs leave the line"
        );
        assert_eq!(q.stats().waiting, 0);
    }
}
