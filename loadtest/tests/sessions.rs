//! The `loadtest sessions` binary's refusals and failure reports, with no server needed: a
//! non-loopback target, a server PID that does not exist, a server that never gets ready, too
//! few file descriptors, and a port nobody listens on. The end-to-end run against a real server is in loadtest/README.md.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn loadtest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .arg("sessions")
        .args(args)
        .args(["--api-key", "kyc_test"])
        .output()
        .unwrap()
}

#[test]
fn help_says_how_to_start_the_server() {
    let out = loadtest(&["--help"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "loadtest sessions",
        "KYC__SESSIONS__RATE_PER_IP_PER_MINUTE",
        "--server-pid",
        "--hold-secs",
    ] {
        assert!(help.contains(needle), "{needle:?} not in\n{help}");
    }
}

#[test]
fn non_loopback_target_is_refused_before_sending() {
    let started = Instant::now();
    let out = loadtest(&["--url", "http://10.1.2.3:8080", "--sessions", "5"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

#[test]
fn missing_server_process_is_refused() {
    let out = loadtest(&[
        "--url",
        "http://127.0.0.1:1",
        "--sessions",
        "1",
        "--server-pid",
        "2147483647",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/proc/2147483647/status"), "{stderr}");
}

#[test]
fn a_server_that_never_gets_ready_is_refused() {
    let started = Instant::now();
    let out = loadtest(&["--url", "http://127.0.0.1:1", "--wait-secs", "1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("http://127.0.0.1:1/readyz did not answer 200 within --wait-secs (1 s)"),
        "{stderr}"
    );
}

#[test]
fn too_few_descriptors_are_reported_before_sending() {
    // A hard limit of 256 cannot be raised by the run; 1000 sessions need over a thousand.
    let exe = env!("CARGO_BIN_EXE_loadtest");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 256 && exec '{exe}' sessions --url http://127.0.0.1:1 --api-key k --sessions 1000"
        ))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("1000 sessions need about 1464 file descriptors")
            && stderr.contains("may only open 256"),
        "{stderr}"
    );
}

#[tokio::test]
async fn unreachable_server_is_counted_by_kind() {
    // Bound but not listening: the port stays ours (no other test can take it) and refuses.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "sessions",
            "--url",
            &url,
            "--sessions",
            "3",
            "--hold-secs",
            "1",
            "--max-secs",
            "10",
            "--json",
            "--api-key",
            "kyc_test",
        ])
        .output()
        .await
        .unwrap();
    drop(socket);
    assert!(started.elapsed() < Duration::from_secs(8), "{out:?}");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["planned"], 3, "{v}");
    assert_eq!(v["opened"], 0, "{v}");
    assert_eq!(v["errors"]["create_connect"], 3, "{v}");
    assert_eq!(v["failed"], 3, "{v}");
    assert_eq!(v["unfinished"], 0, "{v}");
    assert_eq!(v["stopped_by"], "completed", "{v}");
    assert!(v["event_latency_ms"].is_null(), "{v}");
    assert!(v["memory"].is_null(), "{v}");
}
