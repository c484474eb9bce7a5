//! `spawn_app()`: the real server, in-process, on port 0, with its own temporary data folder and
//! the `test` settings (plus any `KYC__…` / `ORT_DYLIB_PATH` of the environment running the
//! tests, so CI can point them at models or a device).

use kyc::http::{self, AppState, Readiness};
use kyc::settings::Settings;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// A running server. Dropping it stops the server and removes its data folder.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub settings: Arc<Settings>,
    pub data_dir: TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    /// Polls `/readyz` until it answers 200, for at most `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) -> reqwest::Response {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let res = self.get("/readyz").await;
            if res.status() == reqwest::StatusCode::OK || tokio::time::Instant::now() > deadline {
                return res;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The `test` settings with port 0 and `data_dir` as the data folder.
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    let inherited = std::env::vars().filter(|(k, _)| {
        (k.starts_with("KYC__") || k == "ORT_DYLIB_PATH")
            && k != "KYC__SERVER__PORT"
            && k != "KYC__SERVER__DATA_DIR"
            && k != "KYC__SERVER__HOST"
    });
    kyc::settings::SettingsBuilder::with_vars(inherited)
        .config_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .var("KYC_ENV", "test")
        .var("KYC__SERVER__HOST", "127.0.0.1")
        .var("KYC__SERVER__PORT", "0")
        .var("KYC__SERVER__DATA_DIR", data_dir.display().to_string())
        .build()
        .expect("test settings load")
}

/// The real server with the real engines.
pub async fn spawn_app() -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp data dir");
    let settings = test_settings(data_dir.path());
    let engines = kyc::engines::start(&settings).await.expect("engines start");
    spawn_with(settings, data_dir, Arc::new(engines)).await
}

/// The real server with a readiness of the test's choosing.
pub async fn spawn_app_with_readiness(readiness: Arc<dyn Readiness>) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp data dir");
    let settings = test_settings(data_dir.path());
    spawn_with(settings, data_dir, readiness).await
}

async fn spawn_with(
    settings: Settings,
    data_dir: TempDir,
    readiness: Arc<dyn Readiness>,
) -> TestApp {
    let settings = Arc::new(settings);
    let listener = tokio::net::TcpListener::bind(settings.server.bind_address())
        .await
        .expect("bind port 0");
    let port = listener.local_addr().expect("local addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(Arc::clone(&settings), readiness);
    tokio::spawn(http::serve(listener, state, async {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::new(),
        settings,
        data_dir,
        _stop: stop,
    }
}

/// Checks the envelope of DESIGN.md and the `x-request-id` header, and returns the status,
/// the request id and the body.
pub async fn envelope(res: reqwest::Response) -> (reqwest::StatusCode, String, Value) {
    let status = res.status();
    let header_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("an x-request-id header");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: Value = res.json().await.expect("a JSON body");
    let success = body["success"].as_bool().expect("success is a bool");
    assert_eq!(success, status.is_success(), "{body}");
    assert_eq!(
        body["requestId"].as_str(),
        Some(header_id.as_str()),
        "requestId equals the header: {body}"
    );
    let timestamp = body["timestamp"].as_str().expect("timestamp");
    time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
        .expect("timestamp is RFC 3339");
    if success {
        assert!(body.get("error").is_none(), "{body}");
    } else {
        assert!(body.get("data").is_none(), "{body}");
        assert!(body["error"]["code"].is_string(), "{body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    (status, header_id, body)
}
