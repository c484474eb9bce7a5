//! `spawn_app()`: the real server, in-process, on port 0, with its own temporary data folder and
//! the `test` settings (plus any `KYC__…` / `ORT_DYLIB_PATH` of the environment running the
//! tests, so CI can point them at models or a device).

use kyc::app::Application;
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
        // Photo-made test videos test matching, not liveness.
        .var("KYC__LIVENESS__MODE", "off")
        .build()
        .expect("test settings load")
}

/// The real server (engines, sessions, HTTP), built as `kyc serve` builds it.
pub async fn spawn_app() -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp data dir");
    let app = Application::build(test_settings(data_dir.path()))
        .await
        .expect("the application starts");
    let port = app.port();
    let settings = Arc::clone(app.settings());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        // Pooled connections go before the server's idle close (`edge.header_read_timeout_secs`).
        client: reqwest::Client::builder()
            .pool_idle_timeout(std::time::Duration::from_secs(5))
            .build()
            .expect("client"),
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
