//! The `mcp-warden guard` binary itself, started by the test in front of a real rmcp
//! server and an echo/SSE upstream on loopback: MCP calls succeed with DPoP, refusals are
//! challenges, identity headers reach the upstream (and forged ones do not), a
//! Server-Sent Events stream arrives event by event, `/metrics` and the probes answer, and
//! SIGTERM drains an open stream before the process exits.

#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::sse::{Event, Sse};
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::{Value, json};
use support::{AuthorizationServer, Client, now};
use tokio::sync::{Mutex, Notify};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Releases one SSE event per `notify_one`.
#[derive(Clone, Default)]
struct Gate(Arc<Notify>);

async fn upstream(gate: Gate) -> SocketAddr {
    let mcp = support::mcp::sum_service();
    let app = Router::new()
        .nest_service("/mcp", mcp)
        .route(
            "/echo",
            post(|headers: http::HeaderMap| async move {
                // Every value of a repeated field, joined, so a test can see repeats.
                let seen: serde_json::Map<String, Value> = headers
                    .keys()
                    .map(|name| {
                        let values: Vec<&str> = headers
                            .get_all(name)
                            .iter()
                            .map(|value| value.to_str().unwrap_or(""))
                            .collect();
                        (name.to_string(), json!(values.join(" | ")))
                    })
                    .collect();
                axum::Json(Value::Object(seen))
            }),
        )
        .route(
            "/sse",
            get(move || {
                let gate = gate.clone();
                async move {
                    let stream = futures_util::stream::unfold(0, move |n| {
                        let gate = gate.clone();
                        async move {
                            if n == 3 {
                                return None;
                            }
                            if n > 0 {
                                gate.0.notified().await;
                            }
                            Some((
                                Ok::<_, std::convert::Infallible>(
                                    Event::default().data(format!("event-{n}")),
                                ),
                                n + 1,
                            ))
                        }
                    });
                    Sse::new(stream)
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

struct Sidecar {
    child: Child,
    base: String,
    admin: String,
    _dir: TempDir,
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start_sidecar(issuer: &AuthorizationServer, upstream: SocketAddr, extra: &str) -> Sidecar {
    start_sidecar_full(issuer, upstream, "", extra).await
}

async fn start_sidecar_with_listen(
    issuer: &AuthorizationServer,
    upstream: SocketAddr,
    listen: &str,
) -> Sidecar {
    start_sidecar_full(issuer, upstream, listen, "").await
}

async fn start_sidecar_full(
    issuer: &AuthorizationServer,
    upstream: SocketAddr,
    listen: &str,
    extra: &str,
) -> Sidecar {
    let dir = std::env::temp_dir().join(format!(
        "mcp-warden-sidecar-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::write(
        &jwks,
        json!({"keys": [issuer.key.public_jwk().to_json()]}).to_string(),
    )
    .unwrap();
    let (port, admin_port) = (free_port(), free_port());
    let config = format!(
        r#"
[listen]
address = "127.0.0.1:{port}"
{listen}
[admin]
address = "127.0.0.1:{admin_port}"
[upstream]
url = "http://{upstream}"
[guard]
resource = "http://127.0.0.1:{port}/mcp"
authorization_servers = ["https://as.example.com"]
[[guard.issuers]]
issuer = "https://as.example.com"
jwks_file = "{jwks}"
[log]
format = "text"
level = "warn"
[shutdown]
drain_timeout_s = 10
{extra}
"#,
        jwks = jwks.display()
    );
    let file = dir.join("warden.toml");
    std::fs::write(&file, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .args(["guard", "--config"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let sidecar = Sidecar {
        child,
        base: format!("http://127.0.0.1:{port}"),
        admin: format!("http://127.0.0.1:{admin_port}"),
        _dir: TempDir(dir),
    };
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..100 {
        if let Ok(response) = http.get(format!("{}/readyz", sidecar.admin)).send().await
            && response.status() == 200
        {
            return sidecar;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sidecar did not become ready in 10 s");
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn call() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "sum", "arguments": {"a": 40, "b": 2}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_tool_call_through_the_sidecar() {
    let issuer = AuthorizationServer::new();
    let client = Client::new();
    let upstream = upstream(Gate::default()).await;
    let sidecar = start_sidecar(&issuer, upstream, "").await;
    let url = format!("{}/mcp", sidecar.base);
    let now = now();
    let token = issuer.token(&url, Some(&client.jkt()), "tools:call", now);

    let response = http()
        .post(&url)
        .headers(client.headers("POST", &url, &token, None, now))
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&call())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "42", "{body}");

    // No credentials: a DPoP challenge pointing at the metadata the sidecar serves.
    let refused = http().post(&url).json(&call()).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    let metadata_url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let metadata: Value = http()
        .get(metadata_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], url.as_str());

    let metrics = http()
        .get(format!("{}/metrics", sidecar.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("mcp_warden_requests_total"), "{metrics}");
    assert!(metrics.contains("reason=\"no_credentials\""), "{metrics}");
    assert_eq!(
        http()
            .get(format!("{}/healthz", sidecar.admin))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_come_from_the_token_and_never_from_the_client() {
    let issuer = AuthorizationServer::new();
    let client = Client::new();
    let upstream = upstream(Gate::default()).await;
    let sidecar = start_sidecar(&issuer, upstream, "").await;
    let url = format!("{}/echo", sidecar.base);
    let audience = format!("{}/mcp", sidecar.base);
    let now = now();
    let token = issuer.token(&audience, Some(&client.jkt()), "tools:call", now);
    let seen: Value = http()
        .post(&url)
        .headers(client.headers("POST", &url, &token, None, now))
        .header("x-mcp-subject", "admin")
        .header("connection", "keep-alive, x-hop")
        .header("x-hop", "secret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["x-mcp-subject"], "agent-7", "{seen}");
    assert_eq!(seen["x-mcp-scopes"], "tools:call");
    assert_eq!(seen["x-mcp-key-thumbprint"], client.jkt().as_str());
    assert!(
        seen.get("authorization").is_none() && seen.get("dpop").is_none(),
        "{seen}"
    );
    assert!(
        seen.get("x-hop").is_none(),
        "hop-by-hop field forwarded: {seen}"
    );
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen["x-forwarded-proto"], "http");
    // RFC 7239 §4: this hop, with the Host the client addressed (quoted: it has a colon).
    let host = sidecar.base.trim_start_matches("http://");
    assert_eq!(seen["x-forwarded-host"], host);
    assert_eq!(
        seen["forwarded"],
        format!("for=127.0.0.1;proto=http;host=\"{host}\"")
    );
}

// The request id ties the audit line to the upstream's logs: the caller's is kept when it
// is short enough to log, replaced otherwise, and the upstream always sees exactly one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_kept_when_loggable_and_set_otherwise() {
    let issuer = AuthorizationServer::new();
    let client = Client::new();
    let upstream = upstream(Gate::default()).await;
    let sidecar = start_sidecar(&issuer, upstream, "").await;
    let url = format!("{}/echo", sidecar.base);
    let audience = format!("{}/mcp", sidecar.base);
    let long = "x".repeat(129);
    let cases: [(&[&str], Option<&str>); 4] = [
        (&["trace-1"], Some("trace-1")),
        (&[], None),
        (&[&long], None),
        (&["first", "second"], Some("first")),
    ];
    for (sent, kept) in cases {
        let now = now();
        let token = issuer.token(&audience, Some(&client.jkt()), "tools:call", now);
        let mut request = http()
            .post(&url)
            .headers(client.headers("POST", &url, &token, None, now));
        for id in sent {
            request = request.header("x-request-id", *id);
        }
        let response = request.send().await.unwrap();
        let answered = response.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let seen: Value = response.json().await.unwrap();
        let upstream_id = seen["x-request-id"].as_str().unwrap();
        assert_eq!(upstream_id, answered, "{sent:?}");
        match kept {
            Some(id) => assert_eq!(upstream_id, id, "{sent:?}"),
            None => assert!(
                upstream_id.len() == 32 && upstream_id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{sent:?}: {upstream_id}"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_arrive_one_by_one_and_sigterm_drains_the_stream() {
    let issuer = AuthorizationServer::new();
    let client = Client::new();
    let gate = Gate::default();
    let upstream = upstream(gate.clone()).await;
    let mut sidecar = start_sidecar(&issuer, upstream, "").await;
    let url = format!("{}/sse", sidecar.base);
    let audience = format!("{}/mcp", sidecar.base);
    let now = now();
    let token = issuer.token(&audience, Some(&client.jkt()), "tools:call", now);
    let response = http()
        .get(&url)
        .headers(client.headers("GET", &url, &token, None, now))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let events = Arc::new(Mutex::new(String::new()));
    let mut stream = response.bytes_stream();
    // Each later event is only produced after the test has seen the previous one: a proxy
    // that buffered the stream would never deliver event-0 and the wait would time out.
    for n in 0..3 {
        let wanted = format!("event-{n}");
        let arrived = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let chunk = stream.next().await.unwrap().unwrap();
                let mut seen = events.lock().await;
                seen.push_str(std::str::from_utf8(&chunk).unwrap());
                if seen.contains(&wanted) {
                    break;
                }
            }
        })
        .await;
        assert!(arrived.is_ok(), "{wanted} did not arrive on its own");
        if n == 1 {
            // SIGTERM with the stream open: the sidecar stops accepting but lets it finish.
            let pid = sidecar.child.id().to_string();
            assert!(
                Command::new("kill")
                    .args(["-TERM", &pid])
                    .status()
                    .unwrap()
                    .success()
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert!(
                http()
                    .get(format!("{}/healthz", sidecar.admin))
                    .send()
                    .await
                    .is_err(),
                "the admin listener should be closed after SIGTERM"
            );
        }
        gate.0.notify_one();
    }
    let status = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(status) = sidecar.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the sidecar exits once the stream ends");
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_identity_assertion_replaces_the_plain_headers() {
    use mcp_warden::jose::{Algorithm, AlgorithmSet, JwkSet, SigningKey, UnverifiedJws};

    let issuer = AuthorizationServer::new();
    let client = Client::new();
    let upstream = upstream(Gate::default()).await;
    let key_file = std::env::temp_dir().join(format!(
        "mcp-warden-identity-{}-{}.der",
        std::process::id(),
        free_port()
    ));
    let identity_key = SigningKey::generate(Algorithm::ES256).unwrap();
    std::fs::write(&key_file, identity_key.to_pkcs8().unwrap()).unwrap();
    let extra = format!(
        "[identity]\nassertion = true\nassertion_key_file = \"{}\"\nassertion_ttl_s = 30\n",
        key_file.display()
    );
    let sidecar = start_sidecar(&issuer, upstream, &extra).await;
    std::fs::remove_file(&key_file).ok();
    let url = format!("{}/echo", sidecar.base);
    let audience = format!("{}/mcp", sidecar.base);
    let now = now();
    let token = issuer.token(&audience, Some(&client.jkt()), "tools:call", now);
    let seen: Value = http()
        .post(&url)
        .headers(client.headers("POST", &url, &token, None, now))
        .header("x-mcp-identity", "forged")
        .header("x-mcp-subject", "forged-admin")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        seen.get("x-mcp-subject").is_none(),
        "plain headers should be off: {seen}"
    );
    let assertion = seen["x-mcp-identity"].as_str().unwrap();
    assert_ne!(assertion, "forged");

    // The upstream verifies it with the key set the admin listener publishes.
    let jwks = http()
        .get(format!("{}/identity/jwks.json", sidecar.admin))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let keys = JwkSet::from_json(&jwks).unwrap();
    let jws =
        UnverifiedJws::parse(assertion, 8192, AlgorithmSet::EMPTY.with(Algorithm::ES256)).unwrap();
    assert_eq!(jws.header()["typ"], "mcp-identity+jwt");
    let kid = jws.header()["kid"].as_str().unwrap().to_owned();
    let (verified, _) = jws
        .verify_any(keys.candidates(Some(&kid), Algorithm::ES256))
        .unwrap();
    let claims = verified.payload();
    assert_eq!(claims["sub"], "agent-7");
    assert_eq!(claims["scope"], "tools:call");
    assert_eq!(claims["cnf"]["jkt"], client.jkt().as_str());
    assert_eq!(claims["aud"], format!("http://{upstream}").as_str());
    assert_eq!(claims["token_iss"], "https://as.example.com");
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_terminates_tls_and_reloads_a_rotated_certificate() {
    let issuer = AuthorizationServer::new();
    let upstream = upstream(Gate::default()).await;
    let dir = std::env::temp_dir().join(format!(
        "mcp-warden-tls-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let (cert_file, key_file) = (dir.join("tls.crt"), dir.join("tls.key"));
    let write_pair = || {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(&key_file, pair.signing_key.serialize_pem()).unwrap();
        std::fs::write(&cert_file, pair.cert.pem()).unwrap();
        reqwest::Certificate::from_pem(pair.cert.pem().as_bytes()).unwrap()
    };
    let first = write_pair();
    let tls = format!(
        "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"\ntls_reload_interval_s = 1\n",
        cert_file.display(),
        key_file.display()
    );
    let sidecar = start_sidecar_with_listen(&issuer, upstream, &tls).await;
    let https = sidecar
        .base
        .replace("http://127.0.0.1", "https://localhost");
    let trusting = |certificate: &reqwest::Certificate| {
        reqwest::Client::builder()
            .no_proxy()
            .tls_certs_only([certificate.clone()])
            .build()
            .unwrap()
    };
    // Over TLS the guard answers as usual: no credentials, 401.
    let response = trusting(&first)
        .post(format!("{https}/mcp"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // Rotate in place (as cert-manager does); new connections get the new certificate.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = write_pair();
    let mut rotated = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Ok(response) = trusting(&second).post(format!("{https}/mcp")).send().await {
            assert_eq!(response.status(), 401);
            rotated = true;
            break;
        }
    }
    assert!(
        rotated,
        "the rotated certificate was not served within 10 s"
    );
    assert!(
        trusting(&first)
            .post(format!("{https}/mcp"))
            .send()
            .await
            .is_err(),
        "a client trusting only the old certificate must fail on a new connection"
    );
}

/// `log.format = "text"` written into a pipe (here: the sidecar cannot bind its port, so
/// it logs the error and exits) is plain text: no ANSI colour codes, whatever `NO_COLOR`.
#[test]
fn text_logs_into_a_pipe_carry_no_colour_codes() {
    let issuer = AuthorizationServer::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir(
        std::env::temp_dir().join(format!("mcp-warden-colour-{}-{port}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).unwrap();
    let jwks = dir.0.join("jwks.json");
    std::fs::write(
        &jwks,
        json!({"keys": [issuer.key.public_jwk().to_json()]}).to_string(),
    )
    .unwrap();
    let config = format!(
        r#"
[listen]
address = "127.0.0.1:{port}"
[admin]
address = "127.0.0.1:{admin}"
[guard]
resource = "http://127.0.0.1:{port}/mcp"
[[guard.issuers]]
issuer = "https://as.example.com"
jwks_file = "{jwks}"
[log]
format = "text"
level = "info"
"#,
        admin = free_port(),
        jwks = jwks.display()
    );
    let file = dir.0.join("warden.toml");
    std::fs::write(&file, config).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .args(["guard", "--config"])
        .arg(&file)
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    drop(taken);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("could not start"), "{stdout}");
    assert!(stdout.contains("ERROR"), "{stdout}");
    assert!(!stdout.contains("\x1b["), "{stdout:?}");
    assert!(!stderr.contains("\x1b["), "{stderr:?}");
}
