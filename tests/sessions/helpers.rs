//! The server with engines and sessions, a client for one session (REST + WebSocket), and the
//! test media.

use cardgen::{Degradation, generate};
use futures::{SinkExt, StreamExt};
use kyc::app::Application;
use kyc::settings::Settings;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use test_support::faces_dir;
use test_support::video::clip;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use vision::card::DocumentType;
use vision::opencv::core::{Vector, VectorToVec};
use vision::opencv::imgcodecs;

pub struct Server {
    pub address: String,
    pub client: reqwest::Client,
    /// The API key of the tenant the server was started with (`test`).
    pub api_key: String,
    pub tenant_id: String,
    #[allow(dead_code)]
    pub settings: Arc<Settings>,
    pub data_dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// GET `path` with the tenant's API key.
    pub async fn tenant_get(&self, path: &str) -> (u16, Value) {
        self.as_tenant(self.client.get(self.url(path))).await
    }

    /// `method path` with `token` as the bearer token (e.g. the admin token) and an optional
    /// JSON body.
    pub async fn with_bearer(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req.send().await.expect("send")).await
    }

    /// `req` sent with the tenant's API key.
    pub async fn as_tenant(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        answer(
            req.header("x-api-key", &self.api_key)
                .send()
                .await
                .expect("send"),
        )
        .await
    }

    /// The text of `/metrics`.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text")
    }

    /// Stops the server (sessions and engines) and waits for it.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    /// Starts the server again on the same data folder (after [`Server::halt`]), on a new port.
    pub async fn restart(&mut self) {
        self.halt().await;
        let (port, stop, done, _) = start(Arc::clone(&self.settings)).await;
        self.address = format!("http://127.0.0.1:{port}");
        self.stop = Some(stop);
        self.done = Some(done);
    }

    /// Stops the server and waits for it, keeping its data folder to look at.
    pub async fn halt(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = d.await;
        }
    }

    /// The halted server's embedded records store. A WebSocket task lets its session handle
    /// (and with it the store's lock) go a moment after the server stopped, later on a busy
    /// machine: the lock is waited for, at most 10 s.
    pub async fn records_store(&self) -> kyc::records::Embedded {
        let path = self.data_dir.path().join("records");
        let until = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match kyc::records::Embedded::open(&path) {
                Ok(store) => return store,
                Err(e) if std::time::Instant::now() < until => {
                    tracing::debug!(error = %e, "the records store is still locked");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the records store of the stopped server: {e}"),
            }
        }
    }
}

/// The `test` settings on port 0 with the data folder `dir` and `vars` on top.
pub fn settings(dir: &Path, vars: &[(&str, &str)]) -> Settings {
    let mut b = kyc::settings::Settings::builder()
        .config_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .var("KYC_ENV", "test")
        .var("KYC__SERVER__HOST", "127.0.0.1")
        .var("KYC__SERVER__PORT", "0")
        .var("KYC__SERVER__DATA_DIR", dir.display().to_string())
        // The test videos are photos panned and zoomed: they test matching and the flow, not
        // liveness (a photo never passes it); the liveness tests turn it on.
        .var("KYC__LIVENESS__MODE", "off");
    for (k, v) in vars {
        b = b.var(*k, *v);
    }
    b.build().expect("test settings")
}

/// The real server: engines, sessions, HTTP on port 0.
pub async fn spawn(vars: &[(&str, &str)]) -> Server {
    let data_dir = tempfile::tempdir().expect("data dir");
    let settings = Arc::new(settings(data_dir.path(), vars));
    let (port, stop, done, tenants) = start(Arc::clone(&settings)).await;
    // Each server its own tenant (a MariaDB store may be shared by several tests' servers).
    let name = format!("test {}", uuid::Uuid::new_v4());
    let (tenant, api_key) = tenants
        .create(&name, Default::default())
        .await
        .expect("the test tenant");
    Server {
        address: format!("http://127.0.0.1:{port}"),
        // A pooled connection is let go before the server's idle close
        // (`edge.header_read_timeout_secs`), as a client of the API should.
        client: reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(5))
            .build()
            .expect("client"),
        api_key,
        tenant_id: tenant.id,
        settings,
        data_dir,
        stop: Some(stop),
        done: Some(done),
    }
}

/// Builds the application with `settings` (port 0) and serves it; returns the port, the stop
/// switch, the task that ends once everything has stopped and the server's tenants.
pub async fn start(
    settings: Arc<Settings>,
) -> (
    u16,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
    Arc<kyc::tenants::Tenants>,
) {
    let app = Application::build(Settings::clone(&settings))
        .await
        .expect("the application starts");
    let port = app.port();
    let tenants = Arc::clone(app.tenants());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = tokio::spawn(async move {
        let _ = app
            .run_until_stopped(async {
                let _ = stopped.await;
            })
            .await;
    });
    (port, stop, done, tenants)
}

/// Status and envelope of an answer (checks the envelope's shape).
pub async fn answer(res: reqwest::Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("JSON envelope");
    assert!(
        body["timestamp"].is_string() && body["requestId"].is_string(),
        "{body}"
    );
    assert_eq!(body["success"], status < 400, "{body}");
    (status, body)
}

/// A session as a client holds it.
pub struct Client<'a> {
    pub server: &'a Server,
    pub id: String,
    pub token: String,
    pub ws_url: String,
}

/// The body of `POST /api/v1/sessions` with a complete consent.
pub fn consent() -> Value {
    serde_json::json!({
        "consent": {
            "version": "test-1",
            "purposes": ["identity_verification", "biometric_processing"],
        }
    })
}

impl<'a> Client<'a> {
    /// A session whose consent the caller sent at creation.
    pub async fn create(server: &'a Server) -> Client<'a> {
        Self::create_with(server, Some(consent())).await
    }

    /// A session created with `body` (`None`: no body at all).
    pub async fn create_with(server: &'a Server, body: Option<Value>) -> Client<'a> {
        let mut req = server
            .client
            .post(server.url("/api/v1/sessions"))
            .header("x-api-key", &server.api_key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("send");
        let (status, body) = answer(res).await;
        assert_eq!(status, 201, "{body}");
        let d = &body["data"];
        Client {
            server,
            id: d["sessionId"].as_str().expect("id").to_owned(),
            token: d["token"].as_str().expect("token").to_owned(),
            ws_url: d["wsUrl"].as_str().expect("wsUrl").to_owned(),
        }
    }

    pub async fn upload(&self, path: &str, file: Vec<u8>, name: &str) -> (u16, Value) {
        self.upload_as(path, file, name, &self.id, Some(&self.token))
            .await
    }

    pub async fn upload_as(
        &self,
        path: &str,
        file: Vec<u8>,
        name: &str,
        session: &str,
        token: Option<&str>,
    ) -> (u16, Value) {
        let form = reqwest::multipart::Form::new()
            .text("sessionId", session.to_owned())
            .part(
                "file",
                reqwest::multipart::Part::bytes(file).file_name(name.to_owned()),
            );
        let mut req = self
            .server
            .client
            .post(self.server.url(path))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        answer(req.send().await.expect("send")).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let res = self
            .server
            .client
            .get(self.server.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("send");
        answer(res).await
    }

    pub async fn compare(&self) -> (u16, Value) {
        let res = self
            .server
            .client
            .post(self.server.url("/api/v1/face-similarity"))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "sessionId": self.id }))
            .send()
            .await
            .expect("send");
        answer(res).await
    }

    /// Opens the session's WebSocket from `since`.
    pub async fn watch(&self, since: u64) -> Watcher {
        let url = format!("{}&since={since}", self.ws_url);
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Watcher {
            ws,
            events: Vec::new(),
        }
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open WebSocket and the events it has delivered.
pub struct Watcher {
    pub ws: Ws,
    pub events: Vec<Value>,
}

impl Watcher {
    /// Reads events until one satisfies `until` (returned), for at most `timeout`.
    pub async fn until(&mut self, timeout: Duration, until: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| {
                    panic!("no matching event in {timeout:?}; got {:#?}", self.events)
                })
                .expect("socket open")
                .expect("frame");
            match msg {
                WsMessage::Text(t) => {
                    let e: Value = serde_json::from_str(&t).expect("event JSON");
                    self.events.push(e.clone());
                    if until(&e) {
                        return e;
                    }
                }
                WsMessage::Ping(p) => {
                    let _ = self.ws.send(WsMessage::Pong(p)).await;
                }
                WsMessage::Close(c) => panic!("socket closed: {c:?}; events {:#?}", self.events),
                _ => {}
            }
        }
    }

    /// Waits for `state`, or for the job to end without it (a retake, a failure).
    pub async fn state(&mut self, timeout: Duration, state: &str) -> Value {
        self.until(timeout, |e| {
            e["state"] == state
                || e["state"] == "failed"
                || e["result"]["status"] == "retake"
                || e["result"]["accepted"] == false
        })
        .await
    }

    pub fn seqs(&self) -> Vec<u64> {
        self.events
            .iter()
            .map(|e| e["seq"].as_u64().expect("seq"))
            .collect()
    }
}

/// A generated Korean resident registration card with `photo` (from the shared faces) on it,
/// as a camera frame, PNG: any seed gives a clean card the capture gate accepts.
pub fn card_image(photo: &str, seed: u64) -> Vec<u8> {
    card(photo, seed).0
}

/// [`card_image`] and what is printed on the card.
pub fn card(photo: &str, seed: u64) -> (Vec<u8>, cardgen::CardTruth) {
    document(DocumentType::ResidentRegistrationCard, photo, seed)
}

/// A generated clean card of type `doc` (a 주민등록증 or a 운전면허증) with `photo` on it, PNG,
/// and what is printed on it.
pub fn document(doc: DocumentType, photo: &str, seed: u64) -> (Vec<u8>, cardgen::CardTruth) {
    let bytes = std::fs::read(faces_dir().join(photo)).expect("photo");
    let face = vision::decode_image(&bytes, vision::ImageLimits::default()).expect("decodes");
    let s = generate(seed, doc, Some(&face.mat), Degradation::Clean).expect("card");
    let mut out = Vector::<u8>::new();
    imgcodecs::imencode(".png", &s.frame, &mut out, &Vector::new()).expect("encode");
    (out.to_vec(), s.truth)
}

/// A short selfie-like clip of `photo`, made once per test in `dir`.
pub fn video(dir: &Path, photo: &str, seconds: u32) -> PathBuf {
    clip(
        dir,
        photo,
        seconds,
        "",
        &format!("{}.mp4", photo.trim_end_matches(".jpg")),
    )
}

/// Where a state sits in the flow (events' states never go back, retries aside).
pub fn rank(state: &str) -> u8 {
    match state {
        "created" => 0,
        "id_capture" => 1,
        "id_accepted" => 2,
        "video" => 3,
        "video_accepted" => 4,
        "comparing" => 5,
        _ => 6,
    }
}
