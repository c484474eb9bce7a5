//! The delivery loop: takes the notifications that are due, POSTs each to its tenant's webhook
//! signed with the tenant's secret, and records the attempt. A 2xx answer delivers it; anything
//! else (an error status, a timeout, a refused connection) schedules the next attempt after an
//! exponential wait with jitter, until `webhooks.give_up_after_secs` have passed since it was
//! made: then it is `failed`, visible to the tenant and the admin. Redirects are not followed.

use super::queue::{Attempt, Delivery, DeliveryStatus, WebhookQueue};
use super::sign::sign;
use crate::settings::WebhookSettings;
use crate::tenants::Tenants;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Notifications taken per round.
const BATCH: usize = 32;
/// The longest the loop sleeps when nothing is due (a step may have queued one meanwhile).
const IDLE: Duration = Duration::from_millis(200);

/// Delivers the tenants' notifications until aborted.
pub struct Dispatcher {
    queue: WebhookQueue,
    tenants: Arc<Tenants>,
    settings: WebhookSettings,
    client: reqwest::Client,
}

fn now_ms() -> u64 {
    u64::try_from(crate::records::now_ms()).unwrap_or(0)
}

/// The wait before attempt `n + 1` after `n` failed ones: `first × 2^(n−1)`, at most `max`,
/// then ±25 % (from `jitter` in 0..1).
pub fn backoff(settings: &WebhookSettings, failed: usize, jitter: f64) -> Duration {
    let exp = u32::try_from(failed.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(30);
    let base = settings
        .retry_first_ms
        .saturating_mul(1u64 << exp)
        .min(settings.retry_max_secs.saturating_mul(1000));
    let factor = 0.75 + 0.5 * jitter.clamp(0.0, 1.0);
    Duration::from_millis((base as f64 * factor) as u64)
}

/// A number in 0..1 from the OS's randomness.
fn jitter() -> f64 {
    let b = uuid::Uuid::new_v4().as_u128();
    (b & 0xFFFF_FFFF) as f64 / f64::from(u32::MAX)
}

impl Dispatcher {
    pub fn new(
        queue: WebhookQueue,
        tenants: Arc<Tenants>,
        settings: WebhookSettings,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout())
            .user_agent(concat!("kyc-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            queue,
            tenants,
            settings,
            client,
        })
    }

    /// Runs the loop on its own task.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { self.run().await })
    }

    async fn run(self) {
        loop {
            let now = now_ms();
            let due = match self.queue.due(now, BATCH) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the webhook queue");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
            };
            if due.is_empty() {
                let wait = match self.queue.next_due() {
                    Ok(Some(at)) => Duration::from_millis(at.saturating_sub(now)).min(IDLE),
                    _ => IDLE,
                };
                tokio::time::sleep(wait).await;
                continue;
            }
            futures::future::join_all(due.into_iter().map(|(key, d)| self.attempt(key, d))).await;
        }
    }

    /// One attempt of `d` (queued under `key`), recorded.
    async fn attempt(&self, key: sled::IVec, mut d: Delivery) {
        let target = match self.tenants.get(&d.tenant_id) {
            None => Err("the tenant no longer exists"),
            Some(t) if t.disabled => Err("the tenant is disabled"),
            Some(t) => t
                .webhook
                .clone()
                .ok_or("the tenant has no webhook registered"),
        };
        let result = match target {
            Err(reason) => {
                d.status = DeliveryStatus::Dropped;
                d.reason = Some(reason.into());
                d.next_attempt_ms = None;
                self.queue.finish(&key, &d)
            }
            Ok(target) => {
                let attempt = self.post(&d, &target.url, &target.secret).await;
                let ok = attempt.status.is_some_and(|s| (200..300).contains(&s));
                let now = attempt.at_ms + attempt.took_ms;
                d.attempts.push(attempt);
                let age = Duration::from_millis(now.saturating_sub(d.created_ms));
                if ok {
                    d.status = DeliveryStatus::Delivered;
                    d.next_attempt_ms = None;
                    self.queue.finish(&key, &d)
                } else if age >= self.settings.give_up_after() {
                    d.status = DeliveryStatus::Failed;
                    d.next_attempt_ms = None;
                    d.reason = Some(format!(
                        "no attempt succeeded within {} s ({} attempts)",
                        self.settings.give_up_after().as_secs_f64(),
                        d.attempts.len()
                    ));
                    tracing::warn!(tenant = %d.tenant_id, delivery = %d.delivery_id, "webhook given up");
                    self.queue.finish(&key, &d)
                } else {
                    let wait = backoff(&self.settings, d.attempts.len(), jitter());
                    d.next_attempt_ms = Some(now + wait.as_millis() as u64);
                    self.queue.reschedule(&key, &d)
                }
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "cannot record a webhook attempt");
        }
    }

    async fn post(&self, d: &Delivery, url: &str, secret: &str) -> Attempt {
        let body = d.payload();
        let at_ms = now_ms();
        let timestamp = at_ms / 1000;
        let started = Instant::now();
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Kyc-Timestamp", timestamp.to_string())
            .header("X-Kyc-Signature", sign(secret, timestamp, &body))
            .header("X-Kyc-Delivery", d.delivery_id.to_string())
            .body(body)
            .send()
            .await;
        let (status, error) = match sent {
            Ok(res) => {
                let status = res.status().as_u16();
                // The answer's body is not needed; read a little of it so the connection can
                // be reused, never more.
                let _ = tokio::time::timeout(Duration::from_millis(200), res.bytes()).await;
                (Some(status), None)
            }
            Err(e) if e.is_timeout() => (None, Some("timed out".to_owned())),
            Err(e) if e.is_connect() => (None, Some("connection failed".to_owned())),
            Err(_) => (None, Some("request failed".to_owned())),
        };
        Attempt {
            at_ms,
            status,
            error,
            took_ms: started.elapsed().as_millis() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_up_to_the_cap() {
        let s = WebhookSettings {
            retry_first_ms: 1000,
            retry_max_secs: 10,
            ..WebhookSettings::default()
        };
        assert_eq!(backoff(&s, 1, 0.5), Duration::from_millis(1000));
        assert_eq!(backoff(&s, 2, 0.5), Duration::from_millis(2000));
        assert_eq!(backoff(&s, 3, 0.0), Duration::from_millis(3000));
        assert_eq!(backoff(&s, 3, 1.0), Duration::from_millis(5000));
        assert_eq!(backoff(&s, 20, 0.5), Duration::from_secs(10), "capped");
        assert_eq!(backoff(&s, usize::MAX, 0.5), Duration::from_secs(10));
        let j = jitter();
        assert!((0.0..=1.0).contains(&j));
    }
}
