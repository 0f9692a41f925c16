//! The issuer role in the real binary: `mcp-warden serve` with `[issuer]` and `[guard]`,
//! the guard trusting the issuer (its keys read in process). A workload token becomes an
//! access token at the issuer's listener, which the guard's listener accepts on the way to
//! an upstream; the policy file is reloaded on SIGHUP and when it changes (a broken one is
//! refused and the running policy kept); `check-config` names a bad rule.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

#[path = "support/sidecar.rs"]
mod sidecar;

use std::process::Command;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::any;
use mcp_warden::dpop::ProofSigner;
use mcp_warden::jose::{Algorithm, SigningKey};
use serde_json::{Value, json};
use sidecar::{Process, TempDir, Upstream, free_port, http, spawn_ready};
use support::now;

const CLUSTER: &str = "https://kubernetes.default.svc.cluster.local";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

fn policy(scopes: &[&str]) -> String {
    format!(
        r#"
[[resources]]
name = "mcp"
uri = "RESOURCE"
scopes = ["tools:call", "tools:list"]

[[rules]]
name = "payments"
issuer = "cluster"
claims = {{ "kubernetes.io.namespace" = "payments" }}
grants = [{{ resource = "mcp", scopes = {scopes:?} }}]
"#
    )
}

struct Warden {
    process: Process,
    issuer: String,
    guard: String,
    admin: String,
    dir: TempDir,
    cluster_key: SigningKey,
    resource: String,
    _upstream: Upstream,
}

async fn start() -> Warden {
    start_with("discovery = true", 0).await
}

/// `serve` with the guard's `[[guard.issuers]]` entry for the local issuer holding
/// `guard_keys`, and the issuer's `policy_poll_s`.
async fn start_with(guard_keys: &str, policy_poll_s: u64) -> Warden {
    let upstream = Upstream::start(Router::new().route("/mcp", any(|| async { "upstream" })));
    let (issuer_port, guard_port, admin_port) = (free_port(), free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let resource = format!("http://127.0.0.1:{guard_port}/mcp");
    let cluster_key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("c1")
        .unwrap();
    let dir = TempDir::new("issuer-sidecar");
    let policy_file = dir.write(
        "policy.toml",
        &policy(&["tools:call"]).replace("RESOURCE", &resource),
    );
    let jwks = json!({"keys": [cluster_key.public_jwk().to_json()]}).to_string();
    let config = format!(
        r#"
[admin]
address = "127.0.0.1:{admin_port}"
[log]
format = "text"
level = "error"
[shutdown]
drain_timeout_s = 1

[issuer]
issuer = "{issuer}"
ephemeral_key = true
policy_file = {policy_file:?}
policy_poll_s = {policy_poll_s}
[issuer.listen]
address = "127.0.0.1:{issuer_port}"
[[issuer.trusted]]
name = "cluster"
platform = "kubernetes"
issuer = "{CLUSTER}"
jwks = {jwks:?}

[guard]
resource = "{resource}"
authorization_servers = ["{issuer}"]
[guard.listen]
address = "127.0.0.1:{guard_port}"
[guard.upstream]
url = "{upstream}"
[[guard.issuers]]
issuer = "{issuer}"
{guard_keys}
dangerous_allow_plain_http = true
"#,
        policy_file = policy_file.display().to_string(),
        upstream = upstream.url(),
    );
    let file = dir.write("warden.toml", &config);
    let admin = format!("http://127.0.0.1:{admin_port}");
    let process = spawn_ready("serve", &file, &[], &admin, &config).await;
    Warden {
        process,
        issuer,
        guard: resource.clone(),
        admin,
        dir,
        cluster_key,
        resource,
        _upstream: upstream,
    }
}

impl Warden {
    fn assertion(&self) -> String {
        let now = now();
        self.cluster_key
            .sign_compact(
                json!({"kid": "c1"}).as_object().unwrap(),
                json!({
                    "iss": CLUSTER, "sub": "system:serviceaccount:payments:agent",
                    "aud": self.issuer, "iat": now, "exp": now + 600,
                    "kubernetes.io": {"namespace": "payments"},
                })
                .as_object()
                .unwrap(),
            )
            .unwrap()
    }

    async fn token(&self, agent: &ProofSigner, scope: &str) -> (u16, Value) {
        let token_endpoint = format!("{}/token", self.issuer);
        let proof = agent
            .proof("POST", &token_endpoint, None, None, now())
            .unwrap();
        let response = http()
            .post(&token_endpoint)
            .header("dpop", proof)
            .form(&[
                ("grant_type", JWT_BEARER),
                ("assertion", &self.assertion()),
                ("resource", &self.resource),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn sighup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.process.0.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_issuer_and_the_guard_trusts_it() {
    let warden = start().await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let (status, body) = warden.token(&agent, "tools:call").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();

    let proof = agent
        .proof("POST", &warden.guard, Some(token), None, now())
        .unwrap();
    let response = http()
        .post(&warden.guard)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "upstream");

    let metrics = http()
        .get(format!("{}/metrics", warden.admin))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"mcp_warden_tokens_issued_total{rule="payments"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("mcp_warden_issuer_requests_total"),
        "{metrics}"
    );
}

/// The guard's entry for the local issuer names a `jwks_uri` nothing listens on: the token
/// is accepted all the same, so `serve` verified it with the issuer's keys in process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_verifies_the_local_issuers_tokens_in_process() {
    let warden = start_with(r#"jwks_uri = "http://127.0.0.1:9/nothing-listens-here""#, 0).await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let (status, body) = warden.token(&agent, "tools:call").await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap();
    let call = |token: String| {
        let proof = agent
            .proof("POST", &warden.guard, Some(&token), None, now())
            .unwrap();
        http()
            .post(&warden.guard)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .header("content-type", "application/json")
            .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
            .send()
    };
    let response = call(token.to_owned()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "upstream");

    // The in-process keys still verify: a token signed by any other key is refused.
    let other = SigningKey::generate(Algorithm::ES256).unwrap();
    let claims: Value = {
        let payload = token.split('.').nth(1).unwrap();
        use base64::Engine as _;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    let forged = other
        .sign_compact(
            json!({"typ": "at+jwt"}).as_object().unwrap(),
            claims.as_object().unwrap(),
        )
        .unwrap();
    let response = call(forged).await.unwrap();
    assert_eq!(response.status(), 401);
}

/// With `policy_poll_s`, editing the policy file is enough: no SIGHUP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_file_is_reloaded_when_it_changes() {
    let warden = start_with("discovery = true", 1).await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let (status, body) = warden.token(&agent, "tools:list").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    warden.dir.write(
        "policy.toml",
        &policy(&["tools:call", "tools:list"]).replace("RESOURCE", &warden.resource),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = warden.token(&agent, "tools:list").await;
        if status == 200 {
            assert_eq!(body["scope"], "tools:list");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the changed policy file was not loaded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_file_is_reloaded_on_sighup_and_a_broken_one_is_refused() {
    let warden = start().await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let (status, body) = warden.token(&agent, "tools:list").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    warden.dir.write(
        "policy.toml",
        &policy(&["tools:call", "tools:list"]).replace("RESOURCE", &warden.resource),
    );
    warden.sighup();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, body) = warden.token(&agent, "tools:list").await;
        if status == 200 {
            assert_eq!(body["scope"], "tools:list");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new policy was not loaded: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A policy that does not compile is refused; the running one stays.
    warden.dir.write(
        "policy.toml",
        "[[rules]]\nname = \"broken\"\nissuer = \"nowhere\"\n",
    );
    warden.sighup();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = warden.token(&agent, "tools:list").await;
    assert_eq!(status, 200, "{body}");
}

#[test]
fn check_config_names_every_bad_rule() {
    let dir = TempDir::new("issuer-check");
    let file = dir.write(
        "warden.toml",
        r#"
[issuer]
issuer = "https://warden.example.com"
ephemeral_key = true
[[issuer.trusted]]
name = "github"
platform = "github-actions"
issuer = "https://token.actions.githubusercontent.com"
discovery = true
[[issuer.resources]]
name = "mcp"
uri = "https://mcp.example.com/mcp"
scopes = ["tools:call"]
[[issuer.rules]]
name = "any-repo"
issuer = "github"
claims = { ref = "refs/heads/main" }
grants = [{ resource = "mcp", scopes = ["tools:call", "admin"] }]
"#,
    );
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-warden"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"rules[0] "any-repo""#) && stderr.contains("serves many tenants"),
        "{stderr}"
    );
    assert!(
        stderr.contains(r#"scope "admin" is not a scope"#),
        "{stderr}"
    );
    assert!(
        stderr.contains("ephemeral_key"),
        "the demo key is warned about: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_the_policy_under_load_refuses_no_valid_request() {
    let warden = std::sync::Arc::new(start().await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (warden, stop) = (warden.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
            let mut answered = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, body) = warden.token(&agent, "tools:call").await;
                assert_eq!(
                    status, 200,
                    "a valid request was refused during a reload: {body}"
                );
                answered += 1;
            }
            answered
        }));
    }
    // Every reload grants tools:call; half also grant tools:list.
    for round in 0..10 {
        let scopes: &[&str] = if round % 2 == 0 {
            &["tools:call", "tools:list"]
        } else {
            &["tools:call"]
        };
        warden.dir.write(
            "policy.toml",
            &policy(scopes).replace("RESOURCE", &warden.resource),
        );
        warden.sighup();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for client in clients {
        total += client.await.unwrap();
    }
    assert!(total > 20, "the load ran: {total} requests");
}
