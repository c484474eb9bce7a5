//! The real `kyc` binary: `kyc serve --port 0` starts, makes the development tenant on a
//! first start (printing its key, which then creates a session), logs its address, answers,
//! and exits 0 on SIGTERM within the grace period; a bad setting stops it with exit code 2.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn kyc() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kyc"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("KYC_ENV", "test")
        .env(
            "KYC_CONFIG_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
        )
        .env("KYC__LOG__LEVEL", "info,ort=warn")
        .env("KYC__LOG__FORMAT", "pretty")
        .env_remove("RUST_LOG")
        .env_remove("KYC__SERVER__PORT")
        .env_remove("KYC__SERVER__HOST")
        .env_remove("KYC__SERVER__DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Kills the child if the test fails half-way.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends every line of stdout and stderr to one channel.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    rx
}

/// Waits for a line containing `needle`; returns it, or panics with what was seen.
fn wait_for(
    rx: &mpsc::Receiver<String>,
    needle: &str,
    timeout: Duration,
    seen: &mut Vec<String>,
) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line.clone());
                if hit {
                    return line;
                }
            }
            Err(_) => panic!(
                "no line with {needle:?} within {timeout:?}; output:\n{}",
                seen.join("\n")
            ),
        }
    }
}

#[tokio::test]
async fn serve_answers_and_exits_0_on_sigterm() {
    let data = tempfile::tempdir().expect("tempdir");
    let child = kyc()
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data.path().join("data"))
        .env("KYC__TENANTS__DEVELOPMENT_TENANT", "true")
        .spawn()
        .expect("kyc serve starts");
    let mut child = Guard(child);
    let rx = lines(&mut child.0);
    let mut seen = Vec::new();

    let line = wait_for(
        &rx,
        "listening on http://",
        Duration::from_secs(120),
        &mut seen,
    );
    let address = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("an address after 'listening on'")
        .to_owned();
    assert!(address.starts_with("http://127.0.0.1:"), "{address}");
    assert!(
        data.path().join("data").is_dir(),
        "the data folder is created"
    );

    let res = reqwest::get(format!("{address}/healthz"))
        .await
        .expect("GET /healthz");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["success"], true);

    // The development tenant's key, printed once, creates a session as the printed curl does.
    let key = seen
        .iter()
        .map(|l| l.trim())
        .find(|l| l.starts_with("kyc_"))
        .unwrap_or_else(|| panic!("no key printed:\n{}", seen.join("\n")))
        .to_owned();
    assert!(
        seen.iter()
            .any(|l| l.contains("curl") && l.contains(&key) && l.contains(&address)),
        "a ready curl line:\n{}",
        seen.join("\n")
    );
    let res = reqwest::Client::new()
        .post(format!("{address}/api/v1/sessions"))
        .header("x-api-key", &key)
        .send()
        .await
        .expect("POST /api/v1/sessions");
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);

    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());

    // The test settings give 5 s of grace; allow for a slow machine on top.
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.0.try_wait().expect("try_wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "kyc serve did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        seen.push(line);
    }
    assert_eq!(exit.code(), Some(0), "output:\n{}", seen.join("\n"));
    assert!(
        seen.iter().any(|l| l.contains("SIGTERM received")),
        "output:\n{}",
        seen.join("\n")
    );
}

#[test]
fn serve_refuses_a_bad_setting_naming_the_key() {
    let out = kyc()
        .args(["serve"])
        .env("KYC__SERVER__PORT", "abc")
        .output()
        .expect("kyc runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.port"), "stderr: {stderr}");
}
