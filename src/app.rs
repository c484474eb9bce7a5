//! The application, built in one place: settings → engine pools → sessions → router on a
//! bound listener. `kyc serve` and every test that starts a server build it the same way and
//! differ only in their settings.

use crate::cluster::Cluster;
use crate::cluster::worker::Worker;
use crate::engines::{self, Engines};
use crate::http::{self, AppState};
use crate::records::RecordsService;
use crate::retention::RetentionJob;
use crate::sessions::Sessions;
use crate::settings::Settings;
use crate::tenants::Tenants;
use crate::webhooks::Dispatcher;
use anyhow::Context;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A built, not yet serving, server.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
    retention: RetentionJob,
    /// Reads the tenants again now and then (changes made on other nodes).
    reloader: tokio::task::JoinHandle<()>,
    /// Delivers the tenants' webhook notifications.
    webhooks: tokio::task::JoinHandle<()>,
    /// In a cluster: the heartbeat, and the engine worker's loops on an `all` node.
    cluster_tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Creates the data folder, binds `server.host:server.port` (0: any free port), starts
    /// the engine pools (every worker loaded) and the sessions (every live session brought
    /// back from the journal, its pending job rerun).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let data = &settings.server.data_dir;
        // Private: 0700 (its files are 0600; the media in it are encrypted).
        crate::media::private_dir(data)
            .with_context(|| format!("cannot create the data folder {}", data.display()))?;
        let (listener, address) = listen(&settings).await?;
        let cluster = Cluster::connect(&settings).await?;
        let engines = Arc::new(
            engines::start(&settings, cluster.as_ref())
                .await
                .context("cannot start the engine pools")?,
        );
        let sessions = match Sessions::start(Arc::clone(&settings), Arc::clone(&engines)).await {
            Ok(s) => Arc::new(s),
            Err(e) => {
                engines.shutdown().await;
                return Err(e.context("cannot start the sessions"));
            }
        };
        // The records store and its drainer: what the sessions' steps left in the outbox
        // (also before a restart) goes to MariaDB or the embedded store from now on.
        let records = match RecordsService::start(&settings, sessions.outbox().clone()) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                sessions.stop().await;
                engines.shutdown().await;
                return Err(anyhow::Error::new(e).context("cannot open the records store"));
            }
        };
        let retention = RetentionJob::spawn(Arc::clone(&sessions), &settings.retention);
        // Boxed: the build's future is deep enough already (its layout hits the compiler's
        // recursion limit in the crates that await it).
        let tenants = Arc::new(Box::pin(Tenants::open(records.shared_store())).await);
        sessions.attach_tenants(&tenants);
        let reloader = Arc::clone(&tenants).spawn_reloader();
        let queue = sessions
            .webhook_queue()
            .context("cannot open the webhook queue")?;
        let webhooks = Dispatcher::new(queue, Arc::clone(&tenants), settings.webhooks.clone())
            .context("cannot make the webhook client")?
            .spawn();
        let cluster_tasks = match &cluster {
            Some(c) => start_cluster(c, &settings, &engines, sessions.media().master())?,
            None => Vec::new(),
        };
        let state = AppState::new(settings, engines, sessions, records, tenants, address);
        if state.settings.tenants.development_tenant {
            Box::pin(development_tenant(&state)).await;
        }
        Ok(Self {
            listener,
            address,
            state,
            retention,
            reloader,
            webhooks,
            cluster_tasks,
        })
    }

    /// The port it listens on (the one chosen when `server.port` was 0).
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.state.settings
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.state.sessions
    }

    pub fn engines(&self) -> &Arc<Engines> {
        &self.state.engines
    }

    /// The records store and its drainer.
    pub fn records(&self) -> &Arc<RecordsService> {
        &self.state.records
    }

    /// The tenants and their API keys.
    pub fn tenants(&self) -> &Arc<Tenants> {
        &self.state.tenants
    }

    /// Serves until `shutdown` completes, lets open requests finish for up to
    /// `server.shutdown_grace_secs`, then stops the sessions (the journal keeps them), lets the
    /// drainer deliver the outbox for up to the same grace (what is left waits for the next
    /// start), and stops the engine pools.
    pub async fn run_until_stopped<F>(self, shutdown: F) -> anyhow::Result<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tracing::info!("listening on http://{}", self.address);
        let grace = self.state.settings.server.shutdown_grace();
        let router = http::router(self.state.clone());
        let edge = http::Edge::new(
            self.state.settings.edge.clone(),
            std::sync::Arc::clone(&self.state.trusted_proxies),
        );
        let served = http::serve(self.listener, router, edge, grace, shutdown)
            .await
            .context("HTTP server failed");
        self.retention.stop().await;
        // Stopped and waited for: they hold the journal's and the records store's databases,
        // which a next start on the same folder must be able to lock.
        for task in [self.reloader, self.webhooks]
            .into_iter()
            .chain(self.cluster_tasks)
        {
            task.abort();
            let _ = task.await;
        }
        self.state.sessions.stop().await;
        self.state.records.stop(grace).await;
        self.state.engines.shutdown().await;
        served
    }
}

/// Binds `server.host:server.port` and opens the image codecs on a thread of their own while
/// the engines load (not on the first upload).
pub async fn listen(settings: &Settings) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let bind = settings.server.bind_address();
    let listener = TcpListener::bind(&bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let address = listener
        .local_addr()
        .context("cannot read the bound address")?;
    std::thread::spawn(|| {
        if let Err(e) = vision::codecs::preload() {
            tracing::error!(error = %e, "cannot open the image codecs; no image can be decoded");
        }
    });
    Ok((listener, address))
}

/// A node of a cluster: its heartbeat, and on an `all` node the loops that take engine jobs
/// from Redis (so its pool works for the whole cluster).
fn start_cluster(
    cluster: &Arc<Cluster>,
    settings: &Arc<Settings>,
    engines: &Arc<Engines>,
    master: Arc<crate::crypto::MasterKey>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    if engines.face.is_some() {
        let worker = Worker::new(
            Arc::clone(cluster),
            Arc::clone(engines),
            master,
            Arc::clone(settings),
        )
        .context("cannot make the engine worker's work folder")?;
        tasks.extend(worker.spawn());
    }
    let e = Arc::clone(engines);
    tasks.push(cluster.spawn_heartbeat(move |c| c.info(e.status().first())));
    tracing::info!(node = %cluster.node, role = %cluster.role, "cluster node");
    Ok(tasks)
}

/// Development: at a start with no tenant at all, makes `development` and prints its key (shown
/// this once) and a `curl` line that creates a session with it. A store that cannot be read
/// now is left alone (the next start tries again).
async fn development_tenant(state: &AppState) {
    match state.tenants.list().await {
        Ok(all) if all.is_empty() => {}
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the tenants; no development tenant made");
            return;
        }
    }
    match state
        .tenants
        .create("development", crate::records::TenantOptions::default())
        .await
    {
        Ok((tenant, key)) => {
            let url = &state.public_url;
            // On the terminal, not in the log: the key is a secret, shown once.
            println!(
                "\nA development tenant was made ({id}). Its API key, shown this once:\n\n  \
                 {key}\n\nCreate a session with it:\n\n  curl -s -X POST {url}/api/v1/sessions \
                 -H 'X-Api-Key: {key}' -H 'Content-Type: application/json' -d \
                 '{{\"externalId\":\"my-first\",\"consent\":{{\"version\":\"v1\",\
                 \"purposes\":[\"identity_verification\",\"biometric_processing\"]}}}}'\n\n\
                 A lost key is replaced with: kyc tenants rotate-key {id}\n",
                id = tenant.id,
            );
        }
        Err(e) => tracing::warn!(error = %e, "cannot make the development tenant"),
    }
}
