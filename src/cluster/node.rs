//! An engine node (`kyc serve --role engine`): the engine pool taking jobs from Redis, and a
//! small HTTP server for its probes and metrics — no sessions, no API, no records.

use super::worker::Worker;
use super::{Cluster, NodeInfo};
use crate::engines::{self, Engines, Readiness};
use crate::settings::Settings;
use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A built engine node.
pub struct EngineNode {
    listener: TcpListener,
    address: SocketAddr,
    cluster: Arc<Cluster>,
    engines: Arc<Engines>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct NodeState {
    cluster: Arc<Cluster>,
    engines: Arc<Engines>,
}

impl EngineNode {
    /// Binds the probe port, loads the engine pool (every worker warmed up) and starts taking
    /// jobs. `redis.url` is required; the master key is the cluster's (`security.master_key`).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let cluster = Cluster::connect(&settings)
            .await?
            .context("an engine node needs redis.url: it takes its work from Redis")?;
        let master = crate::media::master::resolve(&settings)
            .map(Arc::new)
            .context("cannot load the master key (every node of a cluster needs the same)")?;
        let (listener, address) = crate::app::listen(&settings).await?;
        let engines = Arc::new(
            engines::start(&settings, None)
                .await
                .context("cannot start the engine pools")?,
        );
        let worker = Worker::new(
            Arc::clone(&cluster),
            Arc::clone(&engines),
            master,
            Arc::clone(&settings),
        )
        .context("cannot make the engine worker's work folder")?;
        let mut tasks = worker.spawn();
        let e = Arc::clone(&engines);
        tasks.push(cluster.spawn_heartbeat(move |c| c.info(e.status().first())));
        tracing::info!(node = %cluster.node, "engine node taking jobs from Redis");
        Ok(Self {
            listener,
            address,
            cluster,
            engines,
            tasks,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves the probes until `shutdown`; then stops taking jobs (a job running now is taken
    /// over by another worker after the visibility timeout) and stops the pool.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tracing::info!("engine node listening on http://{}", self.address);
        let state = NodeState {
            cluster: Arc::clone(&self.cluster),
            engines: Arc::clone(&self.engines),
        };
        let router = axum::Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(state);
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await
            .context("HTTP server failed");
        for t in &self.tasks {
            t.abort();
        }
        self.engines.shutdown().await;
        served
    }
}

async fn healthz(State(s): State<NodeState>) -> impl IntoResponse {
    Json(
        serde_json::json!({ "data": { "status": "ok", "node": s.cluster.node, "role": "engine" } }),
    )
}

async fn readyz(State(s): State<NodeState>) -> impl IntoResponse {
    let redis = if s.cluster.is_up() { "up" } else { "down" };
    match s.engines.ready() {
        Ok(()) if s.cluster.is_up() => (
            StatusCode::OK,
            Json(serde_json::json!({ "data": { "status": "ready", "redis": redis } })),
        ),
        Ok(()) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": { "code": "NOT_READY",
                "message": "Redis is not reachable: this engine node cannot take jobs", "details": { "redis": redis } } })),
        ),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": { "code": "NOT_READY", "message": reason } })),
        ),
    }
}

async fn metrics(State(s): State<NodeState>) -> impl IntoResponse {
    use crate::http::metrics::single;
    let me: NodeInfo = s.cluster.info(s.engines.status().first());
    let mut out = String::new();
    let series: [(&str, &str, &str, u64); 4] = [
        (
            "kyc_cluster_redis_up",
            "Whether Redis answers (1) or not (0).",
            "gauge",
            u64::from(s.cluster.is_up()),
        ),
        (
            "kyc_engine_workers_loaded",
            "Engine workers loaded on this node.",
            "gauge",
            me.engine_workers as u64,
        ),
        (
            "kyc_engine_jobs_in_flight",
            "Jobs running on this node's engines.",
            "gauge",
            me.in_flight as u64,
        ),
        (
            "kyc_engine_jobs_completed_total",
            "Inferences this node's engines finished.",
            "counter",
            me.completed,
        ),
    ];
    for (name, help, kind, value) in series {
        single(&mut out, name, help, kind, value);
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
}
