//! The records of this node at run time: the store the settings choose and the drainer that
//! fills it from the sessions' outbox, started with the server and stopped after the sessions,
//! with what `/readyz`, `/metrics` and the readers need to know about them.

use super::{
    Backlog, ComparisonReport, DecisionRecord, DecisionRow, Drainer, DrainerHandle, DrainerTuning,
    Outbox, Record, Records, RecordsError, Store,
};
use crate::settings::Settings;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long the backend may fail with records waiting before `/readyz` calls the outbox
/// lagging (it stays 200: the records are safe in the outbox).
pub const LAG_AFTER: Duration = Duration::from_secs(10);

/// The outbox as `/readyz` reports it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordsHealth {
    /// `mariadb` or `embedded`.
    pub records_backend: &'static str,
    pub outbox: Backlog,
    /// True while deliveries fail and the oldest waiting record is older than 10 s.
    pub lagging: bool,
    /// Why, when lagging.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lagging_reason: Option<String>,
}

/// The store and its drainer.
pub struct RecordsService {
    store: Arc<Store>,
    outbox: Outbox,
    backend: &'static str,
    drainer: Mutex<Option<DrainerHandle>>,
}

impl RecordsService {
    /// Opens the configured store and starts draining `outbox` into it.
    pub fn start(settings: &Settings, outbox: Outbox) -> Result<Self, RecordsError> {
        let store = Arc::new(Store::open(settings)?);
        let backend = store.name();
        let drainer = Drainer::spawn(outbox.clone(), Arc::clone(&store), DrainerTuning::default());
        tracing::info!(backend, "records store opened; draining the outbox");
        Ok(Self {
            store,
            outbox,
            backend,
            drainer: Mutex::new(Some(drainer)),
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, shared (the tenants read and write theirs there).
    pub fn shared_store(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    pub fn backend(&self) -> &'static str {
        self.backend
    }

    fn with_drainer<T>(&self, f: impl FnOnce(&DrainerHandle) -> T) -> Option<T> {
        self.drainer.lock().ok()?.as_ref().map(f)
    }

    /// True while deliveries fail (the store is then not asked: readers use the journal).
    pub fn retrying(&self) -> bool {
        self.with_drainer(|d| d.stats().retrying).unwrap_or(false)
    }

    /// `/readyz`'s view of the outbox.
    pub fn health(&self) -> RecordsHealth {
        let reason = self.with_drainer(|d| d.lagging(LAG_AFTER)).flatten();
        RecordsHealth {
            records_backend: self.backend,
            outbox: self.outbox.backlog(),
            lagging: reason.is_some(),
            lagging_reason: reason,
        }
    }

    /// The drainer's lines for `/metrics`.
    pub fn prometheus(&self) -> String {
        self.with_drainer(DrainerHandle::prometheus)
            .unwrap_or_default()
    }

    /// The comparison `id` of `session` and its decision, when both are in the store.
    pub async fn comparison(
        &self,
        session: Uuid,
        id: Uuid,
    ) -> Result<Option<(ComparisonReport, DecisionRecord)>, RecordsError> {
        let Some(report) = self.store.comparison(id).await? else {
            return Ok(None);
        };
        if report.session_id != session {
            return Ok(None);
        }
        let decision = self.decision_of(session, id).await?;
        Ok(decision.map(|d| (report, d)))
    }

    /// The comparisons of `session` in the store, each with its decision when stored.
    pub async fn comparisons_of(
        &self,
        session: Uuid,
    ) -> Result<Vec<(ComparisonReport, Option<DecisionRecord>)>, RecordsError> {
        let reports = self.store.comparisons_of(session).await?;
        if reports.is_empty() {
            return Ok(Vec::new());
        }
        let decisions = self.decisions_of(session).await?;
        Ok(reports
            .into_iter()
            .map(|r| {
                let d = decisions
                    .iter()
                    .find(|d| d.comparison_id == Some(r.comparison.comparison_id))
                    .cloned();
                (r, d)
            })
            .collect())
    }

    async fn decisions_of(&self, session: Uuid) -> Result<Vec<DecisionRecord>, RecordsError> {
        Ok(self
            .store
            .session_records(session)
            .await?
            .into_iter()
            .filter_map(|e| match e.record {
                Record::Decision(d) => Some(d),
                _ => None,
            })
            .collect())
    }

    async fn decision_of(
        &self,
        session: Uuid,
        comparison: Uuid,
    ) -> Result<Option<DecisionRecord>, RecordsError> {
        Ok(self
            .decisions_of(session)
            .await?
            .into_iter()
            .find(|d| d.comparison_id == Some(comparison)))
    }

    /// Decisions made in `[from_ms, to_ms)`, oldest first, at most `limit`.
    pub async fn decisions_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<DecisionRow>, RecordsError> {
        self.store.decisions_between(from_ms, to_ms, limit).await
    }

    /// Lets the drainer deliver what waits for up to `grace` (while deliveries succeed), then
    /// stops it; what is left stays in the outbox for the next start.
    pub async fn stop(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        loop {
            let backlog = self.outbox.backlog().count;
            if backlog == 0 || self.retrying() || Instant::now() >= deadline {
                if backlog > 0 {
                    tracing::warn!(
                        records = backlog,
                        "records left in the outbox; delivered after the next start"
                    );
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let drainer = self.drainer.lock().ok().and_then(|mut d| d.take());
        if let Some(d) = drainer {
            d.stop().await;
        }
        if let Err(e) = self.outbox.flush().await {
            tracing::warn!(error = %e, "final outbox flush failed");
        }
    }
}
