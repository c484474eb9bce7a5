//! Tenants through the running server: a tenant's key reaches its own sessions only (list,
//! read, erase, export, watch: another tenant's session is 404), the session token sees no
//! scores and no tenant view, a disabled tenant's key and its sessions' tokens are refused at
//! once and its open sockets closed, a rotated key replaces the old one at once, bad keys and
//! bad tenant requests get clear envelope errors, and `kyc tenants` works on a stopped server's
//! data folder and through a running server's admin API.

use super::helpers::{Client, Server, answer, consent, settings, spawn, start};
use futures::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

const ADMIN: &str = "admin-token-for-tenant-tests-01234";

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

/// `method path` with `key` as `X-Api-Key` (none: no key) and an optional JSON body.
async fn with_key(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = server.client.request(method, server.url(path));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    answer(req.send().await.expect("send")).await
}

async fn admin(server: &Server, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let (status, body) = server.with_bearer(method, path, ADMIN, body).await;
    assert!(status < 300, "{path}: {status} {body}");
    body["data"].clone()
}

/// Tenant B, made through the admin API: its id and key.
async fn tenant_b(server: &Server) -> (String, String) {
    let b = admin(
        server,
        reqwest::Method::POST,
        "/admin/tenants",
        Some(json!({ "name": "Bank B" })),
    )
    .await;
    let key = b["apiKey"].as_str().expect("apiKey").to_owned();
    assert!(key.starts_with("kyc_") && key.len() == 68, "{b}");
    assert_eq!(b["tenantId"], b["tenant"]["tenantId"]);
    (b["tenantId"].as_str().expect("id").to_owned(), key)
}

/// The upgrade of `/ws/kyc/{id}` with `key` as `X-Api-Key`: the HTTP status it was refused
/// with, or the open socket.
async fn ws_with_key(server: &Server, id: &str, key: &str) -> Result<super::helpers::Ws, u16> {
    let url = format!("{}/ws/kyc/{id}", server.address.replace("http://", "ws://"));
    let mut req = url.into_client_request().expect("request");
    req.headers_mut()
        .insert("x-api-key", key.parse().expect("header"));
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, _)) => Ok(ws),
        Err(WsError::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("websocket: {e}"),
    }
}

fn listed(body: &Value) -> Vec<String> {
    body["data"]["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["sessionId"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_reaches_only_its_own_sessions_and_a_disabled_one_nothing() {
    let server = spawn(&[
        ("KYC__ADMIN__TOKEN", ADMIN),
        ("KYC__SESSIONS__WS_PING_SECS", "1"),
    ])
    .await;
    use reqwest::Method as M;
    // Tenant A is the server's own; B is made through the admin API.
    let (b_id, b_key) = tenant_b(&server).await;

    let a1 = Client::create(&server).await;
    let mut body = consent();
    body["externalId"] = json!("b-customer-7");
    let (status, created) = with_key(
        &server,
        M::POST,
        "/api/v1/sessions",
        Some(&b_key),
        Some(body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["data"]["externalId"], "b-customer-7");
    let b1 = created["data"]["sessionId"]
        .as_str()
        .expect("id")
        .to_owned();
    let b1_token = created["data"]["token"].as_str().expect("token").to_owned();
    let status_url = created["data"]["statusUrl"].as_str().expect("statusUrl");
    assert!(
        status_url.ends_with(&format!("/api/v1/sessions/{b1}")),
        "{status_url}"
    );

    // Each lists its own.
    let (status, list) = server.tenant_get("/api/v1/sessions").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(listed(&list), std::slice::from_ref(&a1.id));
    let (_, list) = with_key(&server, M::GET, "/api/v1/sessions", Some(&b_key), None).await;
    assert_eq!(listed(&list), std::slice::from_ref(&b1));
    assert_eq!(list["data"]["sessions"][0]["externalId"], "b-customer-7");

    // A cannot read, erase, export or watch B's session: it does not exist for A.
    let key = Some(server.api_key.as_str());
    let b1_path = format!("/api/v1/sessions/{b1}");
    for (method, path) in [
        (M::GET, b1_path.clone()),
        (M::DELETE, b1_path.clone()),
        (M::GET, format!("{b1_path}/export")),
    ] {
        let (status, body) = with_key(&server, method.clone(), &path, key, None).await;
        assert_eq!(
            (status, code(&body)),
            (404, "NOT_FOUND"),
            "{method} {path}: {body}"
        );
    }
    assert_eq!(
        ws_with_key(&server, &b1, &server.api_key).await.err(),
        Some(404)
    );
    // …while B reads its own in full, and A's session token cannot reach B's session.
    let (status, own) = with_key(&server, M::GET, &b1_path, Some(&b_key), None).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["data"]["externalId"], "b-customer-7");
    assert!(own["data"]["result"].is_object(), "{own}");
    let (status, body) = a1.get(&b1_path).await;
    assert_eq!((status, code(&body)), (403, "FORBIDDEN"), "{body}");
    // The session token sees its own outline, not the tenant's view.
    let (status, mine) = a1.get(&format!("/api/v1/sessions/{}", a1.id)).await;
    assert_eq!(status, 200, "{mine}");
    assert!(mine["data"].get("result").is_none() && mine["data"].get("externalId").is_none());
    let (status, body) = a1.get("/api/v1/sessions").await;
    assert_eq!((status, code(&body)), (401, "INVALID_API_KEY"), "{body}");

    // Bad keys: each a clear 401.
    let unknown = format!("kyc_{}", "0".repeat(64));
    for (k, says) in [
        (None, "no API key"),
        (Some("kyc_short"), "malformed"),
        (Some("not-a-key"), "malformed"),
        (Some(unknown.as_str()), "not known"),
    ] {
        let (status, body) = with_key(&server, M::POST, "/api/v1/sessions", k, None).await;
        assert_eq!(
            (status, code(&body)),
            (401, "INVALID_API_KEY"),
            "{k:?}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{k:?}: {message}");
    }
    // The key as a bearer token works too.
    let (status, _) = server
        .with_bearer(M::GET, "/api/v1/sessions", &b_key, None)
        .await;
    assert_eq!(status, 200);
    // A bad externalId and bad tenant requests.
    let (status, body) = with_key(
        &server,
        M::POST,
        "/api/v1/sessions",
        key,
        Some(json!({ "externalId": "x".repeat(129) })),
    )
    .await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_FAILED"), "{body}");
    for (name, want) in [
        (json!(""), (422, "VALIDATION_FAILED")),
        (json!("Bank B"), (409, "CONFLICT")),
    ] {
        let body = Some(json!({ "name": name }));
        let (status, body) = server
            .with_bearer(M::POST, "/admin/tenants", ADMIN, body)
            .await;
        assert_eq!((status, code(&body)), want, "{body}");
    }
    let body = Some(json!({ "name": "sneaky" }));
    let (status, body) = server
        .with_bearer(M::POST, "/admin/tenants", &server.api_key, body)
        .await;
    assert_eq!(status, 401, "a tenant key is no admin token: {body}");

    // B's socket, open when B is disabled, is closed at its next ping; B's key and its
    // sessions' tokens are refused at once.
    let mut open = ws_with_key(&server, &b1, &b_key)
        .await
        .expect("B watches its own");
    let disabled = admin(
        &server,
        M::POST,
        &format!("/admin/tenants/{b_id}/disable"),
        None,
    )
    .await;
    assert_eq!(disabled["disabled"], true);
    let (status, body) = with_key(&server, M::POST, "/api/v1/sessions", Some(&b_key), None).await;
    assert_eq!((status, code(&body)), (403, "TENANT_DISABLED"), "{body}");
    let (status, body) = with_key(&server, M::GET, "/api/v1/sessions", Some(&b_key), None).await;
    assert_eq!((status, code(&body)), (403, "TENANT_DISABLED"), "{body}");
    assert_eq!(ws_with_key(&server, &b1, &b_key).await.err(), Some(403));
    let (status, body) = server.with_bearer(M::GET, &b1_path, &b1_token, None).await;
    assert_eq!((status, code(&body)), (403, "TENANT_DISABLED"), "{body}");
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(msg) = open.next().await {
            if let Ok(WsMessage::Close(c)) = msg {
                return c.map(|c| u16::from(c.code));
            }
        }
        None
    })
    .await
    .expect("closed within 10 s");
    assert_eq!(closed, Some(1008), "closed as a policy violation");
    // Enabled again, B works again.
    admin(
        &server,
        M::POST,
        &format!("/admin/tenants/{b_id}/enable"),
        None,
    )
    .await;
    let (status, _) = with_key(&server, M::GET, "/api/v1/sessions", Some(&b_key), None).await;
    assert_eq!(status, 200);

    // A rotated key replaces the old one at once; the list shows hints, never keys.
    let rotated = admin(
        &server,
        M::POST,
        &format!("/admin/tenants/{}/rotate-key", server.tenant_id),
        None,
    )
    .await;
    let new_key = rotated["apiKey"].as_str().expect("key");
    let (status, body) = server.tenant_get("/api/v1/sessions").await;
    assert_eq!((status, code(&body)), (401, "INVALID_API_KEY"), "{body}");
    let (status, _) = with_key(&server, M::GET, "/api/v1/sessions", Some(new_key), None).await;
    assert_eq!(status, 200);
    let all = admin(&server, M::GET, "/admin/tenants", None).await;
    let text = all.to_string();
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
    assert!(
        !text.contains(&b_key[4..]) && !text.contains(&new_key[4..]),
        "{all}"
    );
    assert!(text.contains(&b_key[..10]), "each key's hint: {all}");
    server.stop().await;
}

/// `kyc tenants` as a process, with `vars` in its environment.
fn kyc(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_kyc"));
    c.arg("tenants").args(args).env("KYC_ENV", "test");
    for (k, v) in vars {
        c.env(k, v);
    }
    c.output().expect("kyc runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kyc_tenants_works_on_a_stopped_server_and_through_a_running_ones_admin_api() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().to_str().expect("utf-8");
    // No server: on the data folder's store directly.
    let out = kyc(
        &[
            "create",
            "Bank C",
            "--liveness-mode",
            "sometimes",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not off, passive or challenge"),
        "{out:?}"
    );
    let out = kyc(
        &[
            "create",
            "Bank C",
            "--liveness-mode",
            "passive",
            "--json",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let made: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        made["tenant"]["options"]["livenessMode"], "passive",
        "{made}"
    );
    let key = made["apiKey"].as_str().expect("apiKey").to_owned();
    assert!(made["tenantId"].is_string(), "{made}");
    let out = kyc(&["create", "Bank C", "--data-dir", data], &[]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a taken name is bad input: {out:?}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exists"),
        "{out:?}"
    );

    // The server on that folder takes the key.
    let s = Arc::new(settings(dir.path(), &[("KYC__ADMIN__TOKEN", ADMIN)]));
    let (port, stop, done, _) = start(Arc::clone(&s)).await;
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("client");
    let (status, body) = create(&client, &url, &key).await;
    assert_eq!(status, 201, "{body}");
    // While it runs, through its admin API (the store is locked by it).
    let out = kyc(
        &["list", "--json", "--url", &url, "--data-dir", data],
        &[("KYC__ADMIN__TOKEN", ADMIN)],
    );
    assert!(out.status.success(), "{out:?}");
    let all: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(all[0]["name"], "Bank C", "{all}");
    assert_eq!(all[0]["options"]["livenessMode"], "passive", "{all}");
    let id = made["tenantId"].as_str().expect("id");
    let out = kyc(
        &["disable", id, "--url", &url],
        &[("KYC__ADMIN__TOKEN", ADMIN)],
    );
    assert!(out.status.success(), "{out:?}");
    let (status, body) = create(&client, &url, &key).await;
    assert_eq!(
        (status, code(&body)),
        (403, "TENANT_DISABLED"),
        "at once: {body}"
    );
    // Without the admin token a running server's tenants are not touched.
    let out = kyc(&["list", "--url", &url], &[]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("KYC__ADMIN__TOKEN"),
        "{out:?}"
    );
    let _ = stop.send(());
    let _ = done.await;
    // Both changes are in the audit chain: the one made on the store directly (written into
    // the journal's outbox by `kyc tenants`, delivered by the server) and the admin API's.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kyc"))
        .args(["audit", "verify"])
        .env("KYC_ENV", "test")
        .env("KYC__SERVER__DATA_DIR", data)
        .output()
        .expect("kyc runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("the chain holds: 2 entries"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_over_its_rate_waits_while_another_is_served_and_tokens_expire() {
    let server = spawn(&[
        ("KYC__ADMIN__TOKEN", ADMIN),
        ("KYC__SESSIONS__RATE_PER_IP_PER_MINUTE", "1000000"),
        ("KYC__SESSIONS__RATE_PER_TENANT_PER_MINUTE", "100"),
        ("KYC__SESSIONS__MAX_LIFETIME_SECS", "3"),
        ("KYC__SESSIONS__WS_PING_SECS", "1"),
    ])
    .await;
    use reqwest::Method as M;
    let (_, b_key) = tenant_b(&server).await;
    // A session (and its open socket) made first, to outlive its token.
    let early = Client::create(&server).await;
    let mut socket = early.watch(0).await;
    // 1 000 creations from A: its allowance (100 a minute, 99 left) passes, the rest get 429
    // with Retry-After, while B is served throughout.
    let mut created = 0;
    let mut limited = 0;
    let started = std::time::Instant::now();
    for i in 0..1000 {
        let res = server
            .client
            .post(server.url("/api/v1/sessions"))
            .header("x-api-key", &server.api_key)
            .send()
            .await
            .expect("send");
        match res.status().as_u16() {
            201 => created += 1,
            429 => {
                let retry = res
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<u64>().ok());
                assert!(retry.is_some_and(|s| (1..=60).contains(&s)), "{retry:?}");
                let (_, body) = answer(res).await;
                assert_eq!(code(&body), "RATE_LIMITED", "{body}");
                limited += 1;
            }
            s => panic!("creation {i}: {s}"),
        }
        if i % 100 == 0 {
            let (status, body) =
                with_key(&server, M::POST, "/api/v1/sessions", Some(&b_key), None).await;
            assert_eq!(status, 201, "B is served while A waits: {body}");
        }
    }
    // The bucket refills continuously (100 a minute: one token every 0.6 s), so a slow
    // machine that spends seconds on the loop earns A a token for each 0.6 s of it.
    let refilled = (started.elapsed().as_secs_f64() * 100.0 / 60.0).ceil() as i32;
    assert!(
        (99..=101 + refilled).contains(&created),
        "{created} created in {:?}",
        started.elapsed()
    );
    assert_eq!(created + limited, 1000);

    // Past its lifetime the token is refused with a clear error, and the socket is closed;
    // the tenant still reads the session.
    let created_ms = early_created_ms(&server, &early.id).await;
    let expires = created_ms + 3000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(expires.saturating_sub(now) + 100)).await;
    let (status, body) = early.get(&format!("/api/v1/sessions/{}", early.id)).await;
    assert_eq!((status, code(&body)), (401, "TOKEN_EXPIRED"), "{body}");
    let (status, body) = early
        .upload("/api/v1/id-capture", vec![0xff, 0xd8, 0xff], "c.jpg")
        .await;
    assert_eq!((status, code(&body)), (401, "TOKEN_EXPIRED"), "{body}");
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut seen = Vec::new();
        while let Some(msg) = socket.ws.next().await {
            if let Ok(WsMessage::Close(c)) = msg {
                return (c.map(|c| u16::from(c.code)), seen);
            }
            seen.push(format!("{msg:?}"));
        }
        (None, seen)
    })
    .await
    .expect("closed within 5 s");
    assert_eq!(closed.0, Some(1008), "{:?}", closed.1);
    let (status, body) = server
        .tenant_get(&format!("/api/v1/sessions/{}", early.id))
        .await;
    assert_eq!(status, 200, "{body}");
    server.stop().await;
}

/// When session `id` was created (read with the tenant's key).
async fn early_created_ms(server: &Server, id: &str) -> u64 {
    let (status, body) = server.tenant_get(&format!("/api/v1/sessions/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["createdMs"].as_u64().expect("createdMs")
}

/// `POST {url}/api/v1/sessions` with `key`.
async fn create(client: &reqwest::Client, url: &str, key: &str) -> (u16, Value) {
    answer(
        client
            .post(format!("{url}/api/v1/sessions"))
            .header("x-api-key", key)
            .send()
            .await
            .expect("send"),
    )
    .await
}
