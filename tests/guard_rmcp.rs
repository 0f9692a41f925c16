//! The guard in front of a real rmcp Streamable HTTP server on loopback: a DPoP-bound call
//! reaches the tool, and each kind of refusal gets the right status and challenge.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

use std::net::SocketAddr;

use mcp_warden::guard::{Guard, ScopePolicy};
use serde_json::{Value, json};
use support::{AuthorizationServer, Client, now};

struct Harness {
    url: String,
    issuer: AuthorizationServer,
    client: Client,
    http: reqwest::Client,
}

async fn start(scopes: ScopePolicy) -> Harness {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let url = format!("http://{address}/mcp");
    let issuer = AuthorizationServer::new();
    let mcp = support::mcp::sum_service();
    let guard = Guard::builder()
        .resource(url.clone())
        .authorization_server("https://as.example.com")
        .trust_issuer(issuer.trusted())
        .scopes(scopes)
        .build()
        .unwrap();
    let app = axum::Router::new().nest_service("/mcp", mcp).layer(guard);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Harness {
        url,
        issuer,
        client: Client::new(),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

fn call(name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

impl Harness {
    async fn post(&self, headers: http::HeaderMap, body: &Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .headers(headers)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2025-06-18")
            .json(body)
            .send()
            .await
            .unwrap()
    }

    fn headers_for(&self, scope: &str) -> http::HeaderMap {
        let now = now();
        let token = self
            .issuer
            .token(&self.url, Some(&self.client.jkt()), scope, now);
        self.client.headers("POST", &self.url, &token, None, now)
    }
}

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_bound_tool_call_reaches_the_tool() {
    let harness = start(ScopePolicy::default()).await;
    let response = harness
        .post(
            harness.headers_for("tools:call"),
            &call("sum", json!({"a": 2, "b": 40})),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "42", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_carry_the_right_status_and_challenge() {
    let harness = start(
        ScopePolicy::builder()
            .tool("sum", ["tools:sum"])
            .build()
            .unwrap(),
    )
    .await;
    let body = call("sum", json!({"a": 1, "b": 1}));

    // No credentials: 401, a DPoP challenge pointing at the metadata, no error code.
    let response = harness.post(http::HeaderMap::new(), &body).await;
    assert_eq!(response.status(), 401);
    let www = challenge(&response);
    assert!(www.starts_with("DPoP "), "{www}");
    assert!(www.contains("resource_metadata=\"http://"), "{www}");
    assert!(!www.contains("error="), "{www}");

    // A replayed proof: the first is accepted, the second refused.
    let headers = harness.headers_for("tools:sum");
    assert_eq!(harness.post(headers.clone(), &body).await.status(), 200);
    let replay = harness.post(headers, &body).await;
    assert_eq!(replay.status(), 401);
    assert!(challenge(&replay).contains("error=\"invalid_dpop_proof\""));
    let error: Value = replay.json().await.unwrap();
    assert_eq!(error["error"]["code"], -32001, "{error}");

    // A token without the tool's scope: 403 naming the scope.
    let response = harness
        .post(harness.headers_for("tools:other"), &body)
        .await;
    assert_eq!(response.status(), 403);
    let www = challenge(&response);
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");
    assert!(www.contains("scope=\"tools:sum\""), "{www}");

    // The same token as Bearer: DPoP-only resources refuse it.
    let mut bearer = harness.headers_for("tools:sum");
    let token = bearer["authorization"]
        .to_str()
        .unwrap()
        .replace("DPoP ", "Bearer ");
    bearer.insert("authorization", token.parse().unwrap());
    let response = harness.post(bearer, &body).await;
    assert_eq!(response.status(), 401);
    assert!(challenge(&response).contains("error=\"invalid_token\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_resource_metadata_is_public() {
    let harness = start(ScopePolicy::default()).await;
    let base = harness.url.trim_end_matches("/mcp");
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = harness
            .http
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let metadata: Value = response.json().await.unwrap();
        assert_eq!(metadata["resource"], harness.url.as_str());
        assert_eq!(
            metadata["authorization_servers"][0],
            "https://as.example.com"
        );
        assert_eq!(metadata["dpop_bound_access_tokens_required"], true);
        assert!(
            metadata["dpop_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("ES256"))
        );
    }
}
