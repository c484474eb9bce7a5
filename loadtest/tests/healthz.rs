//! Runs the load generator against a minimal HTTP server on 127.0.0.1:0, and checks that
//! non-loopback targets are refused before anything is sent.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use loadtest::{Cli, ConfigError, StopReason, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers every request on its own connection with `status` (e.g. "200 OK"), then closes it.
/// With `status == None` it accepts connections and never answers. Returns the port and a
/// count of requests answered
/// (read in full and about to be answered).
async fn serve(status: Option<&'static str>) -> (u16, Arc<AtomicU64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&answered);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(1024);
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let Some(status) = status else {
                    // Hold the connection open without answering.
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    return;
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
                     Connection: close\r\n\r\nok"
                );
                // Counted before writing, so the count is up by the time the client has the answer.
                count.fetch_add(1, Ordering::SeqCst);
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (port, answered)
}

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("loadtest").chain(args.iter().copied())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_requests_to_healthz_are_ok() {
    let (port, answered) = serve(Some("200 OK")).await;
    let url = format!("http://127.0.0.1:{port}");
    let cfg = cli(&["--url", &url, "--requests", "200", "--concurrency", "8"])
        .into_config()
        .unwrap();
    assert_eq!(cfg.target().path(), "/healthz");

    let report = run(&cfg).await;

    assert_eq!(report.sent, 200, "{report:?}");
    assert_eq!(report.ok, 200, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.unfinished, 0);
    assert_eq!(report.stopped_by, StopReason::Requests);
    assert!(report.all_ok());
    assert!(report.throughput_rps > 0.0);
    let l = report.latency_ms.expect("latencies recorded");
    assert!(
        0.0 < l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99 && l.p99 <= l.max,
        "{l:?}"
    );
    assert_eq!(answered.load(Ordering::SeqCst), 200);
}

#[test]
fn non_loopback_url_is_refused_before_sending() {
    // The library never hands out a Config for it, so `run` cannot be called at all.
    let err = cli(&["--url", "http://10.1.2.3/"])
        .into_config()
        .unwrap_err();
    assert!(matches!(err, ConfigError::NotLoopback { .. }), "{err}");

    // The binary refuses it with exit status 2 at once: a connection attempt to 10.1.2.3 would
    // hang until --timeout-secs, and nothing is printed on stdout.
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args([
            "--url",
            "http://10.1.2.3/",
            "--requests",
            "1",
            "--timeout-secs",
            "30",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(out.stdout.is_empty(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_json_and_exits_by_outcome() {
    let exe = env!("CARGO_BIN_EXE_loadtest");
    for (status, code, key) in [
        ("200 OK", 0, None),
        ("503 Service Unavailable", 1, Some("status_503")),
    ] {
        let (port, _) = serve(Some(status)).await;
        let url = format!("http://localhost:{port}");
        let out = tokio::process::Command::new(exe)
            .args([
                "--url",
                &url,
                "--path",
                "/x",
                "--requests",
                "20",
                "--concurrency",
                "4",
                "--json",
            ])
            .output()
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["sent"], 20, "{v}");
        assert_eq!(v["target"], format!("http://localhost:{port}/x"));
        match key {
            None => assert_eq!(v["ok"], 20, "{v}"),
            Some(key) => assert_eq!(v["errors"][key], 20, "{v}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_are_connect_errors() {
    // Bound but not listening: the port stays ours (no other test can take it) and refuses.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let cfg = cli(&["--url", &url, "--requests", "5", "--concurrency", "2"])
        .into_config()
        .unwrap();
    let report = run(&cfg).await;
    assert_eq!(report.sent, 5);
    assert_eq!(report.failed, 5);
    assert_eq!(report.errors.get("connect"), Some(&5), "{report:?}");
    assert!(report.latency_ms.is_none());
    drop(socket);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_stops_at_the_time_limit() {
    let (port, _) = serve(None).await;
    let url = format!("http://127.0.0.1:{port}");
    let cfg = cli(&[
        "--url",
        &url,
        "--requests",
        "1000",
        "--concurrency",
        "4",
        "--max-secs",
        "1",
    ])
    .into_config()
    .unwrap();
    let started = Instant::now();
    let report = run(&cfg).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(report.stopped_by, StopReason::Time);
    assert_eq!(report.sent, 4, "{report:?}");
    assert_eq!(report.unfinished, 4, "{report:?}");
    assert_eq!(report.failed, 0);
    assert!(report.all_ok());
}
