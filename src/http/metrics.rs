//! `GET /metrics`: the node in Prometheus' text format — sessions by state, session actors in
//! memory and their restarts, the job line, stage latencies, engine pools (workers, in flight,
//! errors). Open like `/healthz`: it carries counts, never personal data.

use super::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

fn line(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The exposition text.
pub async fn render(app: &AppState) -> String {
    let mut out = String::with_capacity(4096);
    let _ = writeln!(
        out,
        "# HELP kyc_up 1 while the server runs.\n# TYPE kyc_up gauge\nkyc_up 1"
    );
    if let Some(s) = &app.sessions {
        if let Ok(states) = s.count_by_state().await {
            line(
                &mut out,
                "kyc_sessions",
                "Sessions in the journal by state.",
                "gauge",
            );
            for (state, n) in states {
                let _ = writeln!(out, "kyc_sessions{{state=\"{state}\"}} {n}");
            }
        }
        if let Ok(st) = s.stats().await {
            line(
                &mut out,
                "kyc_session_actors",
                "Session actors in memory.",
                "gauge",
            );
            let _ = writeln!(out, "kyc_session_actors {}", st.running);
            line(
                &mut out,
                "kyc_session_restarts_total",
                "Session actors restarted from their journal after a failure.",
                "counter",
            );
            let _ = writeln!(out, "kyc_session_restarts_total {}", st.restarts);
            line(
                &mut out,
                "kyc_sessions_recovered",
                "Sessions brought back from the journal at start-up.",
                "gauge",
            );
            let _ = writeln!(out, "kyc_sessions_recovered {}", st.recovered);
        }
        if let Some(q) = s.queue_stats() {
            line(
                &mut out,
                "kyc_jobs_running",
                "ID photo and video jobs running.",
                "gauge",
            );
            let _ = writeln!(out, "kyc_jobs_running {}", q.running);
            line(
                &mut out,
                "kyc_jobs_waiting",
                "Jobs waiting for an engine.",
                "gauge",
            );
            let _ = writeln!(out, "kyc_jobs_waiting {}", q.waiting);
        }
        if let Some(m) = s.metrics() {
            line(
                &mut out,
                "kyc_stage_seconds",
                "Time from a job's acceptance to its last step, waiting included.",
                "histogram",
            );
            for stage in crate::metrics::STAGES {
                let Some(h) = m.stage(stage) else { continue };
                let (buckets, count, sum) = h.read();
                for (le, n) in buckets {
                    let _ = writeln!(
                        out,
                        "kyc_stage_seconds_bucket{{stage=\"{stage}\",le=\"{le}\"}} {n}"
                    );
                }
                let _ = writeln!(
                    out,
                    "kyc_stage_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {count}"
                );
                let _ = writeln!(out, "kyc_stage_seconds_sum{{stage=\"{stage}\"}} {sum}");
                let _ = writeln!(out, "kyc_stage_seconds_count{{stage=\"{stage}\"}} {count}");
            }
            line(
                &mut out,
                "kyc_jobs_failed_total",
                "Jobs that failed on a system error, by stage.",
                "counter",
            );
            for stage in crate::metrics::STAGES {
                let _ = writeln!(
                    out,
                    "kyc_jobs_failed_total{{stage=\"{stage}\"}} {}",
                    m.failed(stage)
                );
            }
        }
    }
    if let Some(e) = &app.engines {
        let pools = e.status();
        for (name, help, kind, get) in [
            (
                "kyc_engine_workers",
                "Workers with their models loaded.",
                "gauge",
                (|p: &actors::PoolStatus| p.workers_loaded as u64)
                    as fn(&actors::PoolStatus) -> u64,
            ),
            (
                "kyc_engine_in_flight",
                "Engine jobs queued or running.",
                "gauge",
                |p| p.in_flight as u64,
            ),
            (
                "kyc_engine_queue_capacity",
                "Engine jobs that may wait.",
                "gauge",
                |p| p.queue_capacity as u64,
            ),
            (
                "kyc_engine_jobs_total",
                "Engine jobs completed.",
                "counter",
                |p| p.completed,
            ),
            (
                "kyc_engine_errors_total",
                "Engine jobs that failed in the engine.",
                "counter",
                |p| p.engine_errors,
            ),
            (
                "kyc_engine_worker_restarts_total",
                "Engine workers restarted.",
                "counter",
                |p| p.restarts as u64,
            ),
        ] {
            line(&mut out, name, help, kind);
            for p in &pools {
                let _ = writeln!(out, "{name}{{pool=\"{}\"}} {}", p.name, get(p));
            }
        }
    }
    out
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "probes",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut res = render(&app).await.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}
