//! The whole chain through the real binaries, each its own process, on loopback, with server
//! nonces at both hops:
//!
//! a stand-in Kubernetes API server (OIDC discovery and JWKS) whose key signs the
//! workload's projected token, written to a file the test rotates →
//! `mcp-warden issuer` (trusting the cluster by discovery) →
//! `mcp-warden agent` (the egress proxy: the agent process sends plain MCP requests to
//! `/<route>`) →
//! `mcp-warden guard` (trusting the issuer by discovery) → the rmcp test server's `sum` tool.
//!
//! The agent process itself holds no credential: it speaks plain MCP to the proxy, which
//! discovers the issuer from the guard's 401 and adds a DPoP-bound token and a fresh proof
//! to every request.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

#[path = "support/sidecar.rs"]
mod sidecar;

use axum::Router;
use axum::routing::get;
use mcp_warden::exchange::{McpError, McpSession, ReqwestService};
use mcp_warden::jose::{Algorithm, SigningKey};
use serde_json::json;
use sidecar::{Process, TempDir, Upstream, free_port, http, spawn_ready};
use support::now;

struct Chain {
    cluster_key: SigningKey,
    cluster: Upstream,
    issuer: String,
    agent: String,
    token_file: std::path::PathBuf,
    dir: TempDir,
    _processes: Vec<Process>,
    _mcp: Upstream,
}

/// The stand-in cluster: discovery names the issuer by the Host it was reached at.
fn cluster(key: &SigningKey) -> Upstream {
    let jwks = json!({"keys": [key.public_jwk().to_json()]}).to_string();
    Upstream::start(
        Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(|headers: http::HeaderMap| async move {
                    let host = headers["host"].to_str().unwrap().to_owned();
                    axum::Json(json!({
                        "issuer": format!("http://{host}"),
                        "jwks_uri": format!("http://{host}/openid/v1/jwks"),
                    }))
                }),
            )
            .route(
                "/openid/v1/jwks",
                get(move || {
                    let jwks = jwks.clone();
                    async move { ([("content-type", "application/json")], jwks) }
                }),
            ),
    )
}

async fn start() -> Chain {
    let cluster_key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("cluster-1")
        .unwrap();
    let cluster = cluster(&cluster_key);
    let mcp = Upstream::start(Router::new().nest_service("/mcp", support::mcp::sum_service()));
    let [issuer_port, guard_port, agent_port] = [free_port(), free_port(), free_port()];
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    let resource = format!("http://127.0.0.1:{guard_port}/mcp");
    let dir = TempDir::new("agent-chain");
    let nonce_key = dir.write(
        "nonce.key",
        "YWdlbnQtY2hhaW4tdGVzdC1ub25jZS1rZXktb2YtMzItYnl0ZXMtb3ItbW9yZQ==",
    );
    let token_file = dir.path().join("mcp-token");
    let config = format!(
        r#"
[log]
level = "error"
[shutdown]
drain_timeout_s = 1
[nonce]
enabled = true
key_file = {nonce_key:?}

[issuer]
issuer = "{issuer}"
ephemeral_key = true
[issuer.listen]
address = "127.0.0.1:{issuer_port}"
[[issuer.trusted]]
name = "cluster"
platform = "kubernetes"
issuer = "{cluster}"
discovery = true
dangerous_allow_plain_http = true
[[issuer.resources]]
name = "sum"
uri = "{resource}"
scopes = ["tools:call", "tools:list"]
[[issuer.rules]]
name = "researcher"
issuer = "cluster"
claims = {{ "kubernetes.io.namespace" = "agents", "kubernetes.io.serviceaccount.name" = "researcher" }}
grants = [{{ resource = "sum", scopes = ["tools:call", "tools:list"] }}]

[guard]
resource = "{resource}"
authorization_servers = ["{issuer}"]
[guard.listen]
address = "127.0.0.1:{guard_port}"
[guard.upstream]
url = "{mcp}"
[[guard.issuers]]
issuer = "{issuer}"
discovery = true
dangerous_allow_plain_http = true
[guard.scopes]
methods = {{ "tools/call" = ["tools:call"] }}

[agent]
[agent.listen]
address = "127.0.0.1:{agent_port}"
[agent.workload]
token_file = {token_file:?}
[[agent.routes]]
name = "sum"
url = "{resource}"
scopes = ["tools:call", "tools:list"]
"#,
        cluster = cluster.url(),
        mcp = mcp.url(),
        nonce_key = nonce_key.display().to_string(),
        token_file = token_file.display().to_string(),
    );
    let file = dir.write("warden.toml", &config);
    let mut chain = Chain {
        cluster_key,
        cluster,
        issuer,
        agent: format!("http://127.0.0.1:{agent_port}"),
        token_file,
        dir,
        _processes: Vec::new(),
        _mcp: mcp,
    };
    chain.write_token("agents", "researcher");
    // Three processes from one file, each running its own role, each with its own admin
    // listener (an environment override).
    for role in ["issuer", "guard", "agent"] {
        let admin = free_port();
        let env = [("MCP_WARDEN_ADMIN__ADDRESS", format!("127.0.0.1:{admin}"))];
        let admin = format!("http://127.0.0.1:{admin}");
        let process = spawn_ready(role, &file, &env, &admin, &config).await;
        chain._processes.push(process);
    }
    chain
}

impl Chain {
    /// The kubelet's job: a fresh projected token for `namespace`/`account`.
    fn write_token(&self, namespace: &str, account: &str) {
        let now = now();
        let token = self
            .cluster_key
            .sign_compact(
                json!({"kid": "cluster-1"}).as_object().unwrap(),
                json!({
                    "iss": self.cluster.url(),
                    "sub": format!("system:serviceaccount:{namespace}:{account}"),
                    "aud": [self.issuer], "iat": now, "nbf": now, "exp": now + 600,
                    "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account}},
                })
                .as_object()
                .unwrap(),
            )
            .unwrap();
        let staged = self.dir.write("mcp-token.new", &token);
        // Atomically, as the kubelet swaps its symlink.
        std::fs::rename(staged, &self.token_file).unwrap();
    }

    /// An MCP session through the agent proxy, with no credentials of its own.
    fn session(&self) -> McpSession<ReqwestService> {
        McpSession::new(
            ReqwestService::new(http()),
            format!("{}/sum", self.agent).parse().unwrap(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_credentials_calls_a_guarded_tool_through_the_proxy() {
    let chain = start().await;
    let mut session = chain.session();
    session.initialize("plain-agent").await.unwrap();
    let tools = session.list_tools().await.unwrap();
    assert_eq!(tools[0]["name"], "sum");
    let result = session
        .call_tool("sum", json!({"a": 20, "b": 22}))
        .await
        .unwrap();
    assert_eq!(result["content"][0]["text"], "42");

    // The kubelet rotates the token file: the proxy goes on (it reads the file whenever it
    // needs a new token), and a second agent session works as well.
    chain.write_token("agents", "researcher");
    let mut again = chain.session();
    again.initialize("plain-agent-2").await.unwrap();
    let result = again
        .call_tool("sum", json!({"a": 1, "b": 2}))
        .await
        .unwrap();
    assert_eq!(result["content"][0]["text"], "3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_says_why_it_cannot_forward() {
    let chain = start().await;
    // No such route: 404, naming the routes there are.
    let response = http()
        .post(format!("{}/nowhere", chain.agent))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "no_route");
    assert!(body["error_description"].as_str().unwrap().contains("/sum"));

    // A workload the issuer's policy does not cover: the token endpoint refuses, the proxy
    // answers 502 saying so, and the MCP server never sees the request.
    chain.write_token("agents", "intruder");
    let mut session = chain.session();
    match session.initialize("intruder").await {
        Err(McpError::Status { status: 502, .. }) => {}
        other => panic!("expected a 502 from the proxy, got {other:?}"),
    }
    let response = http()
        .post(format!("{}/sum", chain.agent))
        .header("content-type", "application/json")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "token", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("invalid_grant"), "{description}");
}
