//! The edge toward clients: every answer carries the security headers and is never cached, the
//! WebSocket URL handed out comes from `server.public_url` and not from the request's `Host`
//! header, `/metrics` asks for its own token when one is set, the admin token is compared
//! whatever its length, a JSON body over 64 KiB is refused with 413, and `X-Forwarded-For`
//! names the client only when a trusted proxy sends it.

use super::helpers::{answer, consent, spawn};

const ADMIN: &str = "admin-token-for-edge-tests-0123456";
const METRICS: &str = "metrics-token-for-edge-tests-0123";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carry_security_headers_and_urls_come_from_the_public_base() {
    let server = spawn(&[
        ("KYC__SERVER__PUBLIC_URL", "https://kyc.example.test/"),
        ("KYC__ADMIN__TOKEN", ADMIN),
        ("KYC__ADMIN__METRICS_TOKEN", METRICS),
    ])
    .await;
    let res = server
        .client
        .post(server.url("/api/v1/sessions"))
        .header("x-api-key", &server.api_key)
        .header(reqwest::header::HOST, "evil.example")
        .json(&consent())
        .send()
        .await
        .expect("send");
    let h = res.headers().clone();
    let (status, body) = answer(res).await;
    assert_eq!(status, 201, "{body}");
    for (name, want) in [
        ("cache-control", "no-store"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(
            h.get(name).and_then(|v| v.to_str().ok()),
            Some(want),
            "{name}"
        );
    }
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    let id = body["data"]["sessionId"].as_str().expect("id");
    let ws = body["data"]["wsUrl"].as_str().expect("wsUrl");
    assert!(
        ws.starts_with(&format!("wss://kyc.example.test/ws/kyc/{id}?token=")),
        "from the public URL, not the Host header: {ws}"
    );

    // The docs page may run its own inline script and fetch the document, nothing else.
    let res = server
        .client
        .get(server.url("/api/v1/docs"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("script-src 'unsafe-inline'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );

    // /metrics: its own token.
    let metrics = |token: Option<&'static str>| {
        let mut req = server.client.get(server.url("/metrics"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    for token in [None, Some("wrong"), Some(ADMIN)] {
        let res = metrics(token).await.expect("send");
        assert_eq!(res.status(), 401, "{token:?}");
    }
    let res = metrics(Some(METRICS)).await.expect("send");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.expect("text").contains("kyc_"));

    // The admin token: wrong ones of any length are refused alike, the right one works.
    for wrong in [
        "x",
        "admin-token-for-edge-tests-012345",
        "admin-token-for-edge-tests-01234567",
    ] {
        let res = server
            .client
            .get(server.url("/admin/tree"))
            .bearer_auth(wrong)
            .send()
            .await
            .expect("send");
        assert_eq!(res.status(), 401, "{wrong}");
    }
    let res = server
        .client
        .get(server.url("/admin/tree"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200);
    server.stop().await;
}

/// POSTs `n` session creations, each claiming another client in `X-Forwarded-For`; returns the
/// statuses.
async fn creations_claiming_clients(server: &super::helpers::Server, n: usize) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..n {
        let res = server
            .client
            .post(server.url("/api/v1/sessions"))
            .header("x-api-key", &server.api_key)
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .send()
            .await
            .expect("send");
        statuses.push(res.status().as_u16());
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_bounded_and_forwarded_for_counts_only_from_a_trusted_proxy() {
    let server = spawn(&[("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "3")]).await;
    // A JSON body over 64 KiB: 413 in the envelope, nothing created.
    let big = format!(r#"{{"externalId":"{}"}}"#, "x".repeat(100 * 1024));
    let res = server
        .client
        .post(server.url("/api/v1/sessions"))
        .header("x-api-key", &server.api_key)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    let (status, body) = answer(res).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE", "{body}");
    // A client that claims to be others is still itself: its 3 a minute, then 429.
    assert_eq!(
        creations_claiming_clients(&server, 4).await,
        [201, 201, 201, 429]
    );
    server.stop().await;

    // Behind a trusted proxy (here: the test itself), each forwarded client has its own
    // allowance.
    let server = spawn(&[
        ("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "3"),
        ("KYC__SERVER__TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8"),
    ])
    .await;
    assert_eq!(creations_claiming_clients(&server, 5).await, [201; 5]);
    server.stop().await;
}
