//! An independent client against the issuer: panva's `oauth4webapi` (npm, pinned in
//! `tests/interop/package-lock.json`), run under Node.js 22 by `tests/interop/oauth4webapi.mjs`.
//!
//! In process, on loopback: a stand-in Kubernetes API server (OIDC discovery + JWKS), the
//! issuer ([`IssuerService`] under axum) for one MCP resource, and the guard in front of the
//! rmcp test server trusting that issuer by discovery. The test mints a projected
//! service-account token with the cluster's key and hands it to the script, which discovers
//! the issuer (RFC 8414), makes its own DPoP key, obtains a token with the jwt-bearer grant
//! and with token exchange, calls the MCP server with it, and has oauth4webapi's own
//! resource-server check validate the call. The test then checks what the script saw and
//! verifies the tokens itself.
//!
//! Needs `npm ci --prefix tests/interop` first (`.ci/run` does it): that installs
//! oauth4webapi and the `node` package, whose Node.js 22 binary the test runs. A `node` of
//! version 22 or later on `PATH`, or `MCP_WARDEN_NODE`, is used when that binary is absent.
//! Without Node.js the test fails, saying how to install it: it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

#[path = "support/node.rs"]
mod node;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use mcp_warden::dpop::{ProofValidator, StatelessNonces};
use mcp_warden::guard::Guard;
use mcp_warden::issuer::{
    IssuerFacts, IssuerService, KeyRing, Platform, Policy, PolicyDocument, PolicyLimits,
    TokenEndpoint, WorkloadIssuer, WorkloadIssuers, default_audiences,
};
use mcp_warden::jose::{Algorithm, SigningKey};
use mcp_warden::jwks::{JwksLocation, RemoteJwks};
use mcp_warden::jwt::TrustedIssuer;
use mcp_warden::token::JwtVerifier;
use serde_json::{Value, json};
use support::now;

const SUBJECT: &str = "system:serviceaccount:payments:agent";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// The cluster: its signing key, served as OIDC discovery + JWKS.
struct Cluster {
    key: SigningKey,
    issuer: String,
}

impl Cluster {
    async fn start() -> Self {
        let key = SigningKey::generate(Algorithm::RS256)
            .unwrap()
            .with_kid("cluster-1")
            .unwrap();
        let jwks = json!({"keys": [key.public_jwk().to_json()]}).to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let discovery = json!({
            "issuer": issuer,
            "jwks_uri": format!("{issuer}/openid/v1/jwks"),
        });
        let app = Router::new()
            .route(
                "/.well-known/openid-configuration",
                get(move || {
                    let discovery = discovery.clone();
                    async move { axum::Json(discovery) }
                }),
            )
            .route(
                "/openid/v1/jwks",
                get(move || {
                    let jwks = jwks.clone();
                    async move { ([("content-type", "application/json")], jwks) }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Cluster { key, issuer }
    }

    /// A projected service-account token for payments/agent, audience `aud`.
    fn token(&self, aud: &str) -> String {
        let now = now();
        let claims = json!({
            "iss": self.issuer,
            "sub": SUBJECT,
            "aud": [aud],
            "iat": now, "nbf": now, "exp": now + 600,
            "jti": format!("k8s-{now}-{}", std::process::id()),
            "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "agent"}},
        });
        self.key
            .sign_compact(
                json!({"kid": "cluster-1"}).as_object().unwrap(),
                claims.as_object().unwrap(),
            )
            .unwrap()
    }
}

/// `issuer`'s keys by discovery over loopback http.
fn discovered(issuer: &str) -> Arc<RemoteJwks> {
    Arc::new(
        RemoteJwks::builder(JwksLocation::Discovery {
            issuer: issuer.into(),
        })
        .dangerous_allow_plain_http()
        .min_refetch_interval(Duration::from_millis(100))
        .build()
        .unwrap(),
    )
}

struct Harness {
    cluster: Cluster,
    warden: String,
    mcp: String,
}

async fn start(nonces: bool) -> Harness {
    let cluster = Cluster::start().await;
    let warden_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let warden = format!("http://{}", warden_listener.local_addr().unwrap());
    let token_endpoint = format!("{warden}/token");
    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp = format!("http://{}/mcp", mcp_listener.local_addr().unwrap());

    let workloads = WorkloadIssuers::new(vec![WorkloadIssuer::new(
        "cluster",
        Platform::Kubernetes,
        TrustedIssuer::with_key_source(cluster.issuer.clone(), discovered(&cluster.issuer)),
        default_audiences(&warden, &token_endpoint),
    )]);
    let document: PolicyDocument = serde_json::from_value(json!({
        "resources": [{"name": "sum", "uri": mcp, "scopes": ["tools:call", "tools:list"]}],
        "rules": [{
            "name": "payments-agent",
            "issuer": "cluster",
            "claims": {
                "kubernetes.io.namespace": "payments",
                "kubernetes.io.serviceaccount.name": "agent",
            },
            "grants": [{"resource": "sum", "scopes": ["tools:call"]}],
            "token_lifetime_s": 300,
        }],
    }))
    .unwrap();
    let facts = [IssuerFacts {
        name: "cluster".into(),
        tenant_claims: Vec::new(),
    }];
    let policy = Policy::compile(&document, &facts, PolicyLimits::default()).unwrap();
    let mut proofs = ProofValidator::builder();
    if nonces {
        proofs = proofs.nonces(Arc::new(StatelessNonces::generate()));
    }
    let endpoint = TokenEndpoint::builder(
        warden.clone(),
        workloads,
        policy,
        KeyRing::ephemeral(Algorithm::ES256).unwrap(),
    )
    .proofs(proofs.build())
    .build()
    .unwrap();
    let app = Router::new().fallback_service(IssuerService::new(endpoint));
    tokio::spawn(async move { axum::serve(warden_listener, app).await.unwrap() });

    // The guard trusts the issuer by discovery, like any other authorization server.
    let guard = Guard::builder()
        .resource(mcp.clone())
        .authorization_server(warden.clone())
        .trust_issuer(TrustedIssuer::with_key_source(
            warden.clone(),
            discovered(&warden),
        ))
        .build()
        .unwrap();
    let app = Router::new()
        .nest_service("/mcp", support::mcp::sum_service())
        .layer(guard);
    tokio::spawn(async move { axum::serve(mcp_listener, app).await.unwrap() });
    Harness {
        cluster,
        warden,
        mcp,
    }
}

/// Runs the script against `harness` and returns its JSON report.
async fn run_client(harness: &Harness) -> Value {
    let node = node::node("oauth4webapi");
    let workload_token = harness.cluster.token(&harness.warden);
    let mut command = Command::new(&node);
    command
        .arg(node::interop_dir().join("oauth4webapi.mjs"))
        .current_dir(node::interop_dir())
        .env("WARDEN_ISSUER", &harness.warden)
        .env("WORKLOAD_TOKEN", workload_token)
        .env("RESOURCE", &harness.mcp)
        .env("MCP_URL", &harness.mcp)
        .env("CLIENT_ID", SUBJECT)
        // Loopback only: no proxy, whatever the environment says.
        .env("NO_PROXY", "*")
        .env_remove("NODE_USE_ENV_PROXY")
        .env_remove("NODE_OPTIONS");
    // The servers run on the runtime's other threads while this one waits for node.
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .expect("the oauth4webapi script finished within 60 s")
    .unwrap()
    .unwrap_or_else(|error| panic!("running {}: {error}", node.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the oauth4webapi script failed ({}):\n{stderr}\n{stdout}",
        output.status
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("the script's output is not JSON ({error}): {stdout}"))
}

/// Checks both grants' answers, then verifies each token as a resource server would.
async fn check(harness: &Harness, report: &Value, nonces: bool) {
    let jkt = report["jkt"].as_str().unwrap();
    assert_eq!(report["metadata"]["issuer"], harness.warden);
    assert_eq!(
        report["metadata"]["token_endpoint"],
        format!("{}/token", harness.warden)
    );

    let sent = report["sent"].as_array().unwrap();
    let token_requests: Vec<&Value> = sent
        .iter()
        .filter(|entry| entry["url"] == format!("{}/token", harness.warden))
        .collect();
    // With nonces on: the first request is answered use_dpop_nonce, retried once; the
    // token exchange then already carries the nonce the last answer brought.
    assert_eq!(
        token_requests.len(),
        if nonces { 3 } else { 2 },
        "{sent:#?}"
    );
    for request in &token_requests {
        assert_eq!(request["method"], "POST");
        assert!(
            request["content_type"]
                .as_str()
                .unwrap()
                .starts_with("application/x-www-form-urlencoded"),
            "{request}"
        );
        assert_eq!(request["form"]["client_id"], SUBJECT, "{request}");
        assert_eq!(request["form"]["resource"], harness.mcp, "{request}");
        let proof = &request["dpop"];
        assert_eq!(proof["typ"], "dpop+jwt");
        assert_eq!(proof["alg"], "ES256");
        assert_eq!(proof["htm"], "POST");
        assert_eq!(proof["htu"], format!("{}/token", harness.warden));
        assert!(
            !request["headers"]
                .as_array()
                .unwrap()
                .contains(&json!("authorization")),
            "no client authentication header: {request}"
        );
    }
    assert_eq!(token_requests[0]["form"]["grant_type"], JWT_BEARER);
    assert_eq!(
        token_requests.last().unwrap()["form"]["grant_type"],
        TOKEN_EXCHANGE
    );
    if nonces {
        assert_eq!(token_requests[0]["status"], 400);
        assert_eq!(token_requests[0]["dpop"]["nonce"], false);
        assert_eq!(token_requests[1]["dpop"]["nonce"], true);
        assert_eq!(token_requests[2]["dpop"]["nonce"], true);
    }

    let verifier = JwtVerifier::builder(harness.mcp.clone())
        .issuer(TrustedIssuer::with_key_source(
            harness.warden.clone(),
            discovered(&harness.warden),
        ))
        .require_at_jwt()
        .build();
    for (grant, retries) in [("jwt_bearer", u64::from(nonces)), ("token_exchange", 0)] {
        let answer = &report[grant];
        // oauth4webapi lowercases token_type (it is case-insensitive, RFC 6749 §5.1);
        // the raw answer is checked below.
        assert_eq!(answer["token_type"], "dpop", "{grant}: {answer}");
        assert_eq!(answer["typ"], "at+jwt", "{grant}");
        assert_eq!(
            answer["cnf_jkt"], jkt,
            "{grant}: bound to the client's own key"
        );
        assert_eq!(answer["nonce_retries"], retries, "{grant}");
        assert_eq!(answer["scope"], "tools:call", "{grant}");
        assert_eq!(answer["expires_in"], 300, "{grant}");
        let token = answer["access_token"].as_str().unwrap();
        let verified = verifier
            .verify_async(token, now())
            .await
            .unwrap_or_else(|error| panic!("{grant}: the token does not verify: {error}"));
        assert_eq!(verified.issuer(), harness.warden);
        assert_eq!(verified.audience(), std::slice::from_ref(&harness.mcp));
        assert_eq!(verified.subject(), Some(SUBJECT));
        assert_eq!(verified.client_id(), Some(SUBJECT));
        assert_eq!(verified.bound_jkt(), Some(jkt));
    }
    assert_eq!(report["jwt_bearer"]["issued_token_type"], Value::Null);
    assert_eq!(
        report["token_exchange"]["issued_token_type"],
        ACCESS_TOKEN_TYPE
    );
    let raw: Vec<&Value> = token_requests
        .iter()
        .filter(|request| request["status"] == 200)
        .map(|request| &request["answer"]["token_type"])
        .collect();
    assert_eq!(
        raw,
        [&json!("DPoP"), &json!("DPoP")],
        "as the issuer sent it"
    );

    // The token at the guarded MCP server, with oauth4webapi's proof, and oauth4webapi's
    // own RFC 9068 + RFC 9449 check of that very request against the issuer's JWKS.
    let used = &report["resource_server"];
    assert_eq!(used["status"], 200, "{used}");
    assert!(used["body"].as_str().unwrap().contains('5'), "{used}");
    assert_eq!(used["validated"]["aud"], harness.mcp);
    assert_eq!(used["validated"]["iss"], harness.warden);
    assert_eq!(used["validated"]["cnf_jkt"], jkt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth4webapi_obtains_dpop_bound_tokens_by_jwt_bearer_and_token_exchange() {
    let harness = start(false).await;
    let report = run_client(&harness).await;
    eprintln!(
        "node {} with oauth4webapi {}",
        report["node"], report["oauth4webapi"]
    );
    check(&harness, &report, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth4webapi_retries_on_use_dpop_nonce_and_then_gets_its_tokens() {
    let harness = start(true).await;
    let report = run_client(&harness).await;
    check(&harness, &report, true).await;
}
