//! The drainer: one task that moves outbox entries to the records backend in order, deletes
//! them once committed, and backs off exponentially while the backend is away. Its counters
//! and the outbox backlog feed `/readyz` and `/metrics`.

use super::{Backlog, Outbox, OutboxError, RecordEntry, Records, RecordsError};
use serde::Serialize;
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// How the drainer paces itself.
#[derive(Debug, Clone, Copy)]
pub struct DrainerTuning {
    /// Entries committed per backend transaction.
    pub batch: usize,
    /// First wait after a failed delivery; doubled on each failure up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Look at the outbox this often even without a wake-up.
    pub idle_poll: Duration,
}

impl Default for DrainerTuning {
    fn default() -> Self {
        Self {
            batch: 64,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
            idle_poll: Duration::from_millis(250),
        }
    }
}

/// One entry committed to the backend (for benchmarks and tests that time delivery).
#[derive(Debug, Clone, Copy)]
pub struct Delivered {
    pub session_id: uuid::Uuid,
    pub seq: u64,
    pub committed_at: Instant,
}

/// The drainer's counters.
#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    duplicates: AtomicU64,
    failures: AtomicU64,
    set_aside: AtomicU64,
    retrying: AtomicBool,
}

/// A snapshot of the drainer.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainerStats {
    pub backend: &'static str,
    pub backlog: Backlog,
    /// Entries newly committed since start.
    pub delivered: u64,
    /// Entries the backend already had (redeliveries after a lost acknowledgement).
    pub duplicates: u64,
    /// Failed delivery attempts.
    pub failures: u64,
    /// Entries the backend refused for good, moved to `outbox_dead`.
    pub set_aside: u64,
    /// True while the last attempt failed and the drainer is backing off.
    pub retrying: bool,
}

/// Starts drainers.
pub struct Drainer;

/// The running drainer.
pub struct DrainerHandle {
    outbox: Outbox,
    backend: &'static str,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    delivered: broadcast::Sender<Delivered>,
}

impl Drainer {
    /// Spawns the drainer of `outbox` into `records` on the current tokio runtime.
    pub fn spawn<R: Records>(
        outbox: Outbox,
        records: Arc<R>,
        tuning: DrainerTuning,
    ) -> DrainerHandle {
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = watch::channel(false);
        let (delivered, _) = broadcast::channel(4096);
        let run = Run {
            outbox: outbox.clone(),
            records: records.clone(),
            tuning,
            counters: counters.clone(),
            delivered: delivered.clone(),
        };
        DrainerHandle {
            outbox,
            backend: records.name(),
            counters,
            stop,
            task: tokio::spawn(run.run(stopped)),
            delivered,
        }
    }
}

impl DrainerHandle {
    pub fn backlog(&self) -> Backlog {
        self.outbox.backlog()
    }

    pub fn stats(&self) -> DrainerStats {
        let c = &self.counters;
        DrainerStats {
            backend: self.backend,
            backlog: self.backlog(),
            delivered: c.delivered.load(Ordering::Relaxed),
            duplicates: c.duplicates.load(Ordering::Relaxed),
            failures: c.failures.load(Ordering::Relaxed),
            set_aside: c.set_aside.load(Ordering::Relaxed),
            retrying: c.retrying.load(Ordering::Relaxed),
        }
    }

    /// Every entry committed from now on (lagging receivers miss some).
    pub fn subscribe(&self) -> broadcast::Receiver<Delivered> {
        self.delivered.subscribe()
    }

    /// `/readyz`'s view: a reason when the backend has been failing and the backlog is older
    /// than `max_age` (the server still serves; the records wait in the outbox).
    pub fn lagging(&self, max_age: Duration) -> Option<String> {
        let s = self.stats();
        (s.retrying && u128::from(s.backlog.oldest_age_ms) > max_age.as_millis()).then(|| {
            format!(
                "records backend {} unreachable: {} records waiting in the outbox, oldest {} ms",
                s.backend, s.backlog.count, s.backlog.oldest_age_ms
            )
        })
    }

    /// The drainer's lines in Prometheus' text format.
    pub fn prometheus(&self) -> String {
        let s = self.stats();
        let mut out = String::new();
        for (name, help, kind, value) in [
            (
                "kyc_outbox_backlog",
                "Records waiting in the outbox.",
                "gauge",
                s.backlog.count,
            ),
            (
                "kyc_outbox_oldest_age_ms",
                "Age of the oldest record waiting, ms.",
                "gauge",
                s.backlog.oldest_age_ms,
            ),
            (
                "kyc_outbox_dead",
                "Records set aside: refused by the backend for good.",
                "gauge",
                s.backlog.dead,
            ),
            (
                "kyc_records_delivered_total",
                "Records committed to the backend.",
                "counter",
                s.delivered,
            ),
            (
                "kyc_records_duplicates_total",
                "Records the backend already had.",
                "counter",
                s.duplicates,
            ),
            (
                "kyc_records_failures_total",
                "Failed deliveries to the backend.",
                "counter",
                s.failures,
            ),
            (
                "kyc_records_retrying",
                "1 while deliveries fail and the drainer backs off.",
                "gauge",
                u64::from(s.retrying),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }

    /// Stops after the delivery in progress (what is left stays in the outbox).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

struct Run<R> {
    outbox: Outbox,
    records: Arc<R>,
    tuning: DrainerTuning,
    counters: Arc<Counters>,
    delivered: broadcast::Sender<Delivered>,
}

/// Why a round stopped short.
enum Failure {
    Backend(RecordsError),
    Outbox(OutboxError),
}

impl<R: Records> Run<R> {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let wake = self.outbox.notified();
        let mut backoff = self.tuning.initial_backoff;
        while !*stopped.borrow() {
            let wait = match self.round().await {
                Ok(n) => {
                    backoff = self.tuning.initial_backoff;
                    self.counters.retrying.store(false, Ordering::Relaxed);
                    (n == 0).then_some(self.tuning.idle_poll)
                }
                Err(f) => {
                    self.counters.failures.fetch_add(1, Ordering::Relaxed);
                    self.counters.retrying.store(true, Ordering::Relaxed);
                    match f {
                        Failure::Backend(e) => tracing::warn!(
                            backend = self.records.name(),
                            error = %e.label(),
                            retry_ms = backoff.as_millis() as u64,
                            "records: delivery failed; retrying"
                        ),
                        Failure::Outbox(e) => {
                            tracing::error!(error = %e, "records: outbox read failed")
                        }
                    }
                    let w = backoff;
                    backoff = (backoff * 2).min(self.tuning.max_backoff);
                    Some(w)
                }
            };
            if let Some(wait) = wait {
                tokio::select! {
                    _ = wake.notified(), if !self.counters.retrying.load(Ordering::Relaxed) => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
    }

    /// Delivers one batch; how many entries left the outbox.
    async fn round(&self) -> Result<usize, Failure> {
        let batch = self
            .outbox
            .peek(self.tuning.batch)
            .map_err(Failure::Outbox)?;
        if batch.is_empty() {
            return Ok(0);
        }
        // An entry is visible here as soon as its step's transaction commits, before the
        // journal's flush makes it durable: delivered then and lost in a crash, the rerun step
        // would record it again under another number. Flushing first delivers only what a
        // restart keeps (one sync per batch, shared with the journal's group commit).
        self.outbox.flush().await.map_err(Failure::Outbox)?;
        let entries: Vec<RecordEntry> = batch.iter().map(|(_, e)| e.clone()).collect();
        match self.records.write_batch(&entries).await {
            Ok(new) => {
                let keys: Vec<_> = batch.iter().map(|(k, _)| k.clone()).collect();
                self.outbox.remove(&keys).map_err(Failure::Outbox)?;
                self.committed(&entries, new);
                Ok(batch.len())
            }
            Err(e) if e.is_transient() => Err(Failure::Backend(e)),
            // Something in the batch can never be written: find it, deliver the rest.
            Err(_) => self.one_by_one(&batch).await,
        }
    }

    async fn one_by_one(&self, batch: &[(sled::IVec, RecordEntry)]) -> Result<usize, Failure> {
        let mut done = 0;
        for (key, entry) in batch {
            match self.records.write(entry).await {
                Ok(new) => {
                    self.outbox
                        .remove(std::slice::from_ref(key))
                        .map_err(Failure::Outbox)?;
                    self.committed(std::slice::from_ref(entry), new);
                }
                Err(e) if e.is_transient() => return Err(Failure::Backend(e)),
                Err(e) => {
                    tracing::error!(
                        session = %entry.session_id,
                        seq = entry.seq,
                        kind = entry.record.kind(),
                        error = %e.label(),
                        "records: the backend refused a record; set aside in outbox_dead"
                    );
                    self.outbox.set_aside(key).map_err(Failure::Outbox)?;
                    self.counters.set_aside.fetch_add(1, Ordering::Relaxed);
                }
            }
            done += 1;
        }
        Ok(done)
    }

    fn committed(&self, entries: &[RecordEntry], new: usize) {
        let c = &self.counters;
        c.delivered.fetch_add(new as u64, Ordering::Relaxed);
        c.duplicates.fetch_add(
            (entries.len() - new.min(entries.len())) as u64,
            Ordering::Relaxed,
        );
        let now = Instant::now();
        for e in entries {
            let _ = self.delivered.send(Delivered {
                session_id: e.session_id,
                seq: e.seq,
                committed_at: now,
            });
        }
    }
}
