//! The agent side of mcp-warden against an authorization server it shares no code with:
//! panva's `oidc-provider` (npm, pinned in `tests/interop/package-lock.json`), run under
//! Node.js 22 by `tests/interop/oidc-provider.mjs`.
//!
//! oidc-provider has one client, authenticated by `private_key_jwt` with the agent's client
//! key, allowed `client_credentials` only, whose tokens must be DPoP-bound; it requires a
//! server nonce in every DPoP proof (RFC 9449 §8) and issues, for the MCP server's URL as
//! `resource` (RFC 8707), an RFC 9068 JWT access token bound by `cnf.jkt`. In process, on
//! loopback: the guard in front of the rmcp test server, trusting oidc-provider by
//! discovery, with its own server nonces, asking `tools:call` for `tools/call`.
//!
//! The agent knows only the MCP server's URL and its client credentials: it discovers
//! oidc-provider from the guard's `401`, gets a token with `TokenClient` +
//! `TokenProvider` (`Grant::ClientCredentials`), and runs an MCP session through
//! `DpopClientLayer` over reqwest, asking first for `tools:list` only so that the guard's
//! step-up is answered by a second token from oidc-provider. oidc-provider's log of the token
//! requests shows its `use_dpop_nonce` answered once, and a fresh client assertion in every
//! request, the nonce retry included (it refuses a `jti` it has seen). The guard must then
//! refuse the token with a replayed proof and with a proof from another key.
//!
//! Needs `npm ci --prefix tests/interop` first (`.ci/run` does it). Without Node.js 22 or
//! without oidc-provider installed the test fails, saying how to install: it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

#[path = "support/node.rs"]
mod node;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_warden::dpop::{ProofSigner, ProofValidator, StatelessNonces};
use mcp_warden::exchange::{
    Audience, DpopClientLayer, Grant, McpSession, NonceBook, ReqwestService, TokenClient,
    TokenProvider, challenge, discover,
};
use mcp_warden::guard::{Guard, ScopePolicy};
use mcp_warden::jose::{Algorithm, SigningKey};
use mcp_warden::jwks::{JwksLocation, RemoteJwks};
use mcp_warden::jwt::TrustedIssuer;
use mcp_warden::oauth::{ClientAuth, PreparedClientAuth};
use serde_json::{Value, json};
use support::{claims_of, now};
use tokio::io::AsyncBufReadExt;

const CLIENT_ID: &str = "mcp-agent";

/// oidc-provider, running; killed when dropped (and it exits when its stdin closes).
struct OidcProvider {
    issuer: String,
    version: String,
    /// The script's `{"event":"token"}` lines, one per token request, in order.
    token_requests: Arc<Mutex<Vec<Value>>>,
    _child: tokio::process::Child,
}

impl OidcProvider {
    async fn start(client_key: &SigningKey, resource: &str) -> Self {
        let node = node::node("oidc-provider");
        let jwks = json!({"keys": [client_key.public_jwk().to_json()]});
        let mut child = tokio::process::Command::new(&node)
            .arg(node::interop_dir().join("oidc-provider.mjs"))
            .current_dir(node::interop_dir())
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_JWKS", jwks.to_string())
            .env("RESOURCE", resource)
            .env("PORT", "0")
            .env("NO_PROXY", "*")
            .env_remove("NODE_USE_ENV_PROXY")
            .env_remove("NODE_OPTIONS")
            .env_remove("DEBUG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("running {}: {error}", node.display()));
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("oidc-provider.mjs said it listens within 30 s")
            .unwrap()
            .unwrap_or_else(|| panic!("oidc-provider.mjs exited: {:?}", child.try_wait()));
        let ready: Value = serde_json::from_str(&first)
            .unwrap_or_else(|error| panic!("not a JSON line ({error}): {first}"));
        assert_eq!(ready["event"], "listening", "{ready}");
        let token_requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&token_requests);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let event: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|error| panic!("not a JSON line ({error}): {line}"));
                if event["event"] == "token" {
                    seen.lock().unwrap().push(event);
                }
            }
        });
        eprintln!(
            "oidc-provider {} under node {} at {}",
            ready["version"], ready["node"], ready["issuer"]
        );
        OidcProvider {
            issuer: ready["issuer"].as_str().unwrap().to_owned(),
            version: ready["version"].as_str().unwrap().to_owned(),
            token_requests,
            _child: child,
        }
    }

    /// Panics with `error` and what oidc-provider logged of the token requests.
    fn failed<T>(&self, error: impl std::fmt::Debug) -> T {
        // The reader task runs on the runtime's other thread.
        std::thread::sleep(Duration::from_millis(300));
        let requests = self.token_requests.lock().unwrap().clone();
        panic!("{error:?}\noidc-provider's token requests: {requests:#?}")
    }

    /// The token requests logged so far, once there are `count` of them (the script writes
    /// its line before the answer leaves, but this side reads it on its own time).
    async fn token_requests(&self, count: usize) -> Vec<Value> {
        for _ in 0..200 {
            let seen = self.token_requests.lock().unwrap().clone();
            if seen.len() >= count {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let seen = self.token_requests.lock().unwrap().clone();
        panic!("expected {count} token requests, oidc-provider logged {seen:#?}");
    }
}

struct Harness {
    provider: OidcProvider,
    mcp: String,
    /// The MCP server's 4xx answers: status and `WWW-Authenticate`.
    refusals: support::mcp::Refusals,
    http: reqwest::Client,
}

/// oidc-provider, and the guard (server nonces on, `tools:call` for `tools/call`)
/// trusting it by discovery in front of the rmcp test server.
async fn start(client_key: &SigningKey) -> Harness {
    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp = format!("http://{}/mcp", mcp_listener.local_addr().unwrap());
    let provider = OidcProvider::start(client_key, &mcp).await;
    let issuer = provider.issuer.clone();
    let keys = RemoteJwks::builder(JwksLocation::Discovery {
        issuer: issuer.clone(),
    })
    .dangerous_allow_plain_http()
    .build()
    .unwrap();
    let guard = Guard::builder()
        .resource(mcp.clone())
        .authorization_server(issuer.clone())
        .trust_issuer(TrustedIssuer::with_key_source(issuer, Arc::new(keys)))
        .proofs(
            ProofValidator::builder()
                .nonces(Arc::new(StatelessNonces::generate()))
                .build(),
        )
        .scopes(
            ScopePolicy::builder()
                .method("tools/call", ["tools:call"])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let refusals = support::mcp::serve_guarded(mcp_listener, guard);
    Harness {
        provider,
        mcp,
        refusals,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

impl Harness {
    /// `tools/call` sum(2, 3) sent raw, with `proof`.
    async fn call(&self, token: &str, proof: &str) -> reqwest::Response {
        support::mcp::call_sum(&self.http, &self.mcp, token, proof).await
    }
}

fn header_of(token: &str) -> Value {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap()
}

fn www_authenticate(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_issues_a_dpop_bound_token_by_private_key_jwt_that_the_guard_accepts() {
    let client_key = Arc::new(
        SigningKey::generate(Algorithm::ES256)
            .unwrap()
            .with_kid("agent-client-1")
            .unwrap(),
    );
    let harness = start(&client_key).await;
    let issuer = harness.provider.issuer.clone();
    assert!(
        harness.provider.version.starts_with("9."),
        "{}",
        harness.provider.version
    );

    // The agent knows the MCP server's URL only: the guard's 401 leads to oidc-provider.
    let refused = harness.http.post(&harness.mcp).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let challenges = challenge::challenges(refused.headers());
    let found = discover(&harness.http, &harness.mcp, &challenges, None)
        .await
        .unwrap();
    assert_eq!(found.resource.resource, harness.mcp);
    assert_eq!(found.server.issuer, issuer);
    assert_eq!(
        found.server.token_endpoint.as_str(),
        format!("{issuer}/token")
    );
    assert!(
        found
            .server
            .supports_grant(Grant::ClientCredentials.grant_type())
    );
    let listed = |list: &[String], value: &str| list.iter().any(|item| item == value);
    assert!(listed(
        &found.server.token_endpoint_auth_methods_supported,
        "private_key_jwt"
    ));
    assert!(listed(
        &found.server.dpop_signing_alg_values_supported,
        "ES256"
    ));

    // The token client: private_key_jwt with the issuer as the assertion's audience
    // (RFC 7523 §3; oidc-provider also takes the token endpoint), a DPoP key of its own,
    // one nonce book shared with the client layer.
    let signer = Arc::new(ProofSigner::generate(Algorithm::ES256).unwrap());
    let nonces = Arc::new(NonceBook::new());
    let auth = PreparedClientAuth::new(ClientAuth::PrivateKeyJwt {
        client_id: CLIENT_ID.into(),
        key: Arc::clone(&client_key),
        audience: Some(issuer.clone()),
    })
    .unwrap();
    let client = TokenClient::builder(found.server.token_endpoint.clone(), Arc::clone(&signer))
        .client_auth(auth)
        .nonces(Arc::clone(&nonces))
        .require_dpop()
        .build()
        .unwrap();
    let tokens = TokenProvider::builder(client, Grant::ClientCredentials).build();
    let layer = DpopClientLayer::new(
        tokens.clone(),
        Arc::clone(&signer),
        Audience::new(&harness.mcp, ["tools:list"]),
    )
    .nonces(Arc::clone(&nonces));
    let service = tower::Layer::layer(&layer, ReqwestService::new(harness.http.clone()));
    let mut session = McpSession::new(service, harness.mcp.parse().unwrap());
    session
        .initialize("oidc-provider-test")
        .await
        .unwrap_or_else(|error| harness.provider.failed(error));
    let tools = session
        .list_tools()
        .await
        .unwrap_or_else(|error| harness.provider.failed(error));
    assert_eq!(tools[0]["name"], "sum");
    let result = session
        .call_tool("sum", json!({"a": 2, "b": 3}))
        .await
        .unwrap_or_else(|error| harness.provider.failed(error));
    assert_eq!(result["content"][0]["text"], "5");

    // Two tokens: tools:list, then tools:call + tools:list after the guard's step-up.
    assert_eq!(layer.audience().scopes, ["tools:call", "tools:list"]);
    assert_eq!(tokens.requests(), 2, "one token per scope set");
    // The guard's refusals: the discovery probe's 401, then one nonce challenge and one
    // step-up, each answered once by the client layer.
    let refusals = harness.refusals.lock().unwrap().clone();
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    assert_eq!(refusals[0].0, 401);
    assert!(refusals[0].1.contains("resource_metadata"), "{refusals:?}");
    assert_eq!(refusals[1].0, 401);
    assert!(refusals[1].1.contains("use_dpop_nonce"), "{refusals:?}");
    assert_eq!(refusals[2].0, 403);
    assert!(refusals[2].1.contains("insufficient_scope"), "{refusals:?}");

    // What oidc-provider saw: its use_dpop_nonce answered once, then each token request
    // with its nonce, a private_key_jwt assertion for the issuer, the resource and scope.
    let requests = harness.provider.token_requests(3).await;
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert_eq!(requests[0]["status"], 400, "{requests:#?}");
    assert_eq!(requests[0]["error"], "use_dpop_nonce", "{requests:#?}");
    assert_eq!(requests[0]["proof_nonce"], false);
    assert_eq!(requests[0]["answer_nonce"], true);
    for request in &requests[1..] {
        assert_eq!(request["status"], 200, "{request}");
        assert_eq!(request["token_type"], "DPoP", "{request}");
        assert_eq!(request["proof_nonce"], true, "{request}");
    }
    for request in &requests {
        assert_eq!(
            request["params"],
            json!([
                "client_assertion",
                "client_assertion_type",
                "grant_type",
                "resource",
                "scope"
            ]),
            "{request}"
        );
        assert_eq!(request["client_assertion_aud"], issuer, "{request}");
    }
    // A fresh client assertion each time, the nonce retry included: oidc-provider refuses
    // a `jti` it has seen ("client assertion tokens must only be used once").
    let jtis: std::collections::HashSet<&str> = requests
        .iter()
        .map(|request| request["client_assertion_jti"].as_str().unwrap())
        .collect();
    assert_eq!(jtis.len(), 3, "{requests:#?}");
    assert!(
        nonces.get(&found.server.token_endpoint).is_some(),
        "oidc-provider's nonce is remembered for its origin"
    );

    // The token: an RFC 9068 JWT from oidc-provider, for the MCP server, bound to the
    // agent's DPoP key (not its client key).
    let audience = layer.audience();
    let token = tokens.token(&audience).await.unwrap();
    assert!(token.dpop);
    assert_eq!(tokens.requests(), 2, "served from the cache");
    let token = token.token.expose().to_owned();
    assert_eq!(header_of(&token)["typ"], "at+jwt");
    assert_eq!(header_of(&token)["alg"], "ES256");
    let claims = claims_of(&token);
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["aud"], harness.mcp);
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert_eq!(claims["cnf"]["jkt"], signer.thumbprint().as_str());
    assert_ne!(
        claims["cnf"]["jkt"],
        client_key.public_jwk().thumbprint().as_str()
    );
    let mut scopes: Vec<&str> = claims["scope"].as_str().unwrap().split(' ').collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["tools:call", "tools:list"]);

    // Misuse, sent raw. A fresh proof with the guard's current nonce is accepted...
    let nonce = nonces
        .get(&url::Url::parse(&harness.mcp).unwrap())
        .expect("the guard's nonce is remembered");
    let proof = signer
        .proof("POST", &harness.mcp, Some(&token), Some(&nonce), now())
        .unwrap();
    let accepted = harness.call(&token, &proof).await;
    assert_eq!(accepted.status(), 200);
    assert!(accepted.text().await.unwrap().contains("\"5\""));
    // ...once: the same proof again is a replay (RFC 9449 §11.1).
    let replayed = harness.call(&token, &proof).await;
    assert_eq!(replayed.status(), 401);
    let challenge = www_authenticate(&replayed);
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    assert!(challenge.contains("replayed"), "{challenge}");
    // Another key cannot use the token (RFC 9449 §6.1), even with a valid nonce.
    let thief = ProofSigner::generate(Algorithm::ES256).unwrap();
    let stolen = thief
        .proof("POST", &harness.mcp, Some(&token), Some(&nonce), now())
        .unwrap();
    let refused = harness.call(&token, &stolen).await;
    assert_eq!(refused.status(), 401);
    let challenge = www_authenticate(&refused);
    assert!(challenge.contains("invalid_dpop_proof"), "{challenge}");
    assert!(challenge.contains("not bound"), "{challenge}");
}
