//! `GET /metrics`: the node in Prometheus' text format — sessions by state, session actors in
//! memory and their restarts, the job line, stage latencies, the live-frame lane, engine pools
//! (workers, in flight, errors), the records outbox and its drainer. Open like `/healthz`: it
//! carries counts, never personal data.

use super::AppState;
use crate::flow::live::LiveStats;
use crate::metrics::Metrics;
use crate::sessions::Sessions;
use actors::PoolStatus;
use actors::session::Stage;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

fn line(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One value with its HELP and TYPE lines.
pub(crate) fn single(
    out: &mut String,
    name: &str,
    help: &str,
    kind: &str,
    value: impl std::fmt::Display,
) {
    line(out, name, help, kind);
    let _ = writeln!(out, "{name} {value}");
}

/// The exposition text.
pub async fn render(app: &AppState) -> String {
    let mut out = String::with_capacity(4096);
    single(&mut out, "kyc_up", "1 while the server runs.", "gauge", 1);
    sessions(&mut out, &app.sessions).await;
    jobs(&mut out, &app.sessions);
    single(
        &mut out,
        "kyc_websockets_open",
        "WebSockets open (at most edge.max_websockets).",
        "gauge",
        app.websockets.in_use(),
    );
    stages(&mut out, app.sessions.metrics());
    live_frames(&mut out, app.sessions.live_stats());
    engines(&mut out, &app.engines.status());
    if let Some(remote) = &app.engines.remote {
        cluster(&mut out, remote);
    }
    out.push_str(&app.records.prometheus());
    out
}

/// Sessions by state, session actors, their restarts, sessions recovered.
async fn sessions(out: &mut String, s: &Sessions) {
    if let Ok(states) = s.count_by_state().await {
        line(
            out,
            "kyc_sessions",
            "Sessions in the journal by state.",
            "gauge",
        );
        for (state, n) in states {
            let _ = writeln!(out, "kyc_sessions{{state=\"{state}\"}} {n}");
        }
    }
    if let Ok(st) = s.stats().await {
        single(
            out,
            "kyc_session_actors",
            "Session actors in memory.",
            "gauge",
            st.running,
        );
        single(
            out,
            "kyc_session_restarts_total",
            "Session actors restarted from their journal after a failure.",
            "counter",
            st.restarts,
        );
        single(
            out,
            "kyc_sessions_recovered",
            "Sessions brought back from the journal at start-up.",
            "gauge",
            st.recovered,
        );
    }
}

/// The job line.
fn jobs(out: &mut String, s: &Sessions) {
    let q = s.queue_stats();
    single(
        out,
        "kyc_jobs_running",
        "ID photo and video jobs running.",
        "gauge",
        q.running,
    );
    single(
        out,
        "kyc_jobs_waiting",
        "Jobs waiting for an engine.",
        "gauge",
        q.waiting,
    );
}

/// Stage latencies and failures.
fn stages(out: &mut String, m: &Metrics) {
    line(
        out,
        "kyc_stage_seconds",
        "Time from a job's acceptance to its last step, waiting included.",
        "histogram",
    );
    for stage in Stage::WORK {
        let Some(h) = m.stage(stage) else { continue };
        let stage = stage.as_str();
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
        out,
        "kyc_jobs_failed_total",
        "Jobs that failed on a system error, by stage.",
        "counter",
    );
    for stage in Stage::WORK {
        let _ = writeln!(
            out,
            "kyc_jobs_failed_total{{stage=\"{}\"}} {}",
            stage.as_str(),
            m.failed(stage)
        );
    }
}

/// The live-frame lane.
fn live_frames(out: &mut String, l: LiveStats) {
    single(
        out,
        "kyc_live_frames_running",
        "Live camera frames being checked now.",
        "gauge",
        l.running,
    );
    single(
        out,
        "kyc_live_frames_peak",
        "The most live frames checked at once since the start.",
        "gauge",
        l.peak,
    );
    single(
        out,
        "kyc_live_frames_bound",
        "Live frames that may be checked at once.",
        "gauge",
        l.bound,
    );
    single(
        out,
        "kyc_live_frames_checked_total",
        "Live frames checked.",
        "counter",
        l.checked,
    );
    single(
        out,
        "kyc_live_frames_refused_total",
        "Live frames refused because the lane was full.",
        "counter",
        l.refused,
    );
}

/// The engine pools: workers, in flight, queue, jobs, errors, restarts.
fn engines(out: &mut String, pools: &[PoolStatus]) {
    type Read = fn(&PoolStatus) -> u64;
    let series: [(&str, &str, &str, Read); 6] = [
        (
            "kyc_engine_workers",
            "Workers with their models loaded.",
            "gauge",
            |p| p.workers_loaded as u64,
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
    ];
    for (name, help, kind, get) in series {
        line(out, name, help, kind);
        for p in pools {
            let _ = writeln!(out, "{name}{{pool=\"{}\"}} {}", p.name, get(p));
        }
    }
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "probes",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, description = "UNAUTHORIZED: `admin.metrics_token` is set and was not given", body = super::ErrorEnvelope),
    ))]
pub async fn metrics(State(app): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    if let Err(e) = app.metrics_access(&headers) {
        return e.into_response();
    }
    let mut res = render(&app).await.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    res
}

/// The cluster through Redis: whether Redis answers, the nodes and engine workers alive, and
/// what this node's jobs cost in transport.
fn cluster(out: &mut String, remote: &crate::cluster::remote::Remote) {
    let c = remote.cluster();
    let t = remote.stats.snapshot();
    let series: [(&str, &str, &str, u64); 8] = [
        (
            "kyc_cluster_redis_up",
            "1 while Redis answers, 0 while this node is degraded.",
            "gauge",
            u64::from(c.is_up()),
        ),
        (
            "kyc_cluster_nodes",
            "Nodes alive in the cluster.",
            "gauge",
            c.nodes().len() as u64,
        ),
        (
            "kyc_cluster_engine_workers",
            "Engine workers alive in the cluster.",
            "gauge",
            c.engine_workers() as u64,
        ),
        (
            "kyc_cluster_jobs_total",
            "Jobs this node sent through Redis.",
            "counter",
            t.jobs,
        ),
        (
            "kyc_cluster_jobs_failed_total",
            "Jobs sent through Redis that failed or timed out.",
            "counter",
            t.failed,
        ),
        (
            "kyc_cluster_bytes_sent_total",
            "Bytes of jobs sent through Redis.",
            "counter",
            t.bytes_sent,
        ),
        (
            "kyc_cluster_bytes_received_total",
            "Bytes of results received through Redis.",
            "counter",
            t.bytes_received,
        ),
        (
            "kyc_cluster_overhead_ms_total",
            "Time of answered jobs beyond their workers' own, summed (ms).",
            "counter",
            t.overhead_ms,
        ),
    ];
    for (name, help, kind, value) in series {
        single(out, name, help, kind, value);
    }
}
