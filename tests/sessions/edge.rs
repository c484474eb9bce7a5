//! The edge toward clients: every answer carries the security headers and is never cached, the
//! WebSocket URL handed out comes from `server.public_url` and not from the request's `Host`
//! header, `/metrics` asks for its own token when one is set, and the admin token is compared
//! whatever its length.

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
