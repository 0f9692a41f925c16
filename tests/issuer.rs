//! The issuer over real HTTP on loopback: a stand-in Kubernetes API server (OIDC discovery
//! and JWKS, on its own thread so the test can stop it), mcp-warden's token endpoint, and
//! the guard in front of the rmcp test server trusting that issuer by RFC 8414 discovery.
//!
//! A workload token minted with the cluster's key is exchanged for a DPoP-bound access
//! token, which the guard accepts for its resource and a guard for another resource
//! refuses; then each way a token request can be wrong, key rotation with tokens
//! outstanding, and the cluster's keys going away.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

#[path = "support/sidecar.rs"]
mod sidecar;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use mcp_warden::dpop::{ProofSigner, ProofValidator};
use mcp_warden::guard::Guard;
use mcp_warden::issuer::{
    IssuerFacts, IssuerService, KeyRing, Platform, Policy, PolicyDocument, PolicyLimits,
    RetiredKey, TokenEndpoint, WorkloadIssuer, WorkloadIssuers, default_audiences,
};
use mcp_warden::jose::{Algorithm, SigningKey};
use mcp_warden::jwks::{JwksLocation, RemoteJwks};
use mcp_warden::jwt::TrustedIssuer;
use serde_json::{Value, json};
use sidecar::Upstream;
use support::{claims_of, now};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The cluster: its signing key, served as OIDC discovery + JWKS.
struct Cluster {
    key: SigningKey,
    server: Upstream,
}

impl Cluster {
    fn start() -> Self {
        let key = SigningKey::generate(Algorithm::RS256)
            .unwrap()
            .with_kid("cluster-1")
            .unwrap();
        let jwks = json!({"keys": [key.public_jwk().to_json()]}).to_string();
        // The issuer is only known once bound; the app reads it from the Host header.
        let app = Router::new()
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
            );
        Cluster {
            key,
            server: Upstream::start(app),
        }
    }

    fn issuer(&self) -> String {
        self.server.url()
    }

    /// A projected service-account token for `namespace`/`account`, audience `aud`.
    fn token(&self, namespace: &str, account: &str, aud: &str) -> String {
        let now = now();
        self.sign(json!({
            "iss": self.issuer(),
            "sub": format!("system:serviceaccount:{namespace}:{account}"),
            "aud": [aud],
            "iat": now, "nbf": now, "exp": now + 600,
            "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account}},
        }))
    }

    fn sign(&self, claims: Value) -> String {
        self.key
            .sign_compact(
                json!({"kid": "cluster-1"}).as_object().unwrap(),
                claims.as_object().unwrap(),
            )
            .unwrap()
    }
}

/// The keys of `issuer`, found by discovery over loopback http, with short lifetimes so
/// the test can watch them go stale.
fn discovered(issuer: &str, max_stale: Duration) -> Arc<RemoteJwks> {
    Arc::new(
        RemoteJwks::builder(JwksLocation::Discovery {
            issuer: issuer.into(),
        })
        .dangerous_allow_plain_http()
        .default_ttl(Duration::from_secs(1))
        .min_ttl(Duration::from_secs(1))
        .max_ttl(Duration::from_secs(1))
        .max_stale(max_stale)
        .min_refetch_interval(Duration::from_millis(100))
        .build()
        .unwrap(),
    )
}

struct Harness {
    cluster: Cluster,
    warden: String,
    token_endpoint: String,
    endpoint: TokenEndpoint,
    mcp: String,
    other_mcp: String,
    http: reqwest::Client,
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn start(nonces: bool) -> Harness {
    let cluster = Cluster::start();
    // The warden's address first: the issuer identifier is in every token.
    let warden_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let warden = format!("http://{}", warden_listener.local_addr().unwrap());
    let token_endpoint = format!("{warden}/token");

    let mcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mcp = format!("http://{}/mcp", mcp_listener.local_addr().unwrap());

    let workloads = WorkloadIssuers::new(vec![
        WorkloadIssuer::new(
            "cluster",
            Platform::Kubernetes,
            TrustedIssuer::with_key_source(
                cluster.issuer(),
                discovered(&cluster.issuer(), Duration::from_secs(2)),
            ),
            default_audiences(&warden, &token_endpoint),
        )
        .max_lifetime_s(3600),
    ]);
    let document: PolicyDocument = serde_json::from_value(json!({
        "resources": [
            {"name": "sum", "uri": mcp, "scopes": ["tools:call", "tools:list"]},
            {"name": "other", "uri": "https://other.example/mcp", "scopes": ["tools:call"]},
        ],
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
        proofs = proofs.nonces(Arc::new(mcp_warden::dpop::StatelessNonces::generate()));
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
    let service = IssuerService::new(endpoint.clone());
    let app = Router::new().fallback_service(service);
    tokio::spawn(async move { axum::serve(warden_listener, app).await.unwrap() });

    // The guard trusts the warden by discovery, like any other authorization server.
    let guard = |resource: &str| {
        Guard::builder()
            .resource(resource.to_owned())
            .authorization_server(warden.clone())
            .trust_issuer(mcp_warden::token::TrustedIssuer::with_key_source(
                warden.clone(),
                discovered(&warden, Duration::from_secs(600)),
            ))
            .build()
            .unwrap()
    };
    let app = Router::new()
        .nest_service("/mcp", support::mcp::sum_service())
        .layer(guard(&mcp));
    tokio::spawn(async move { axum::serve(mcp_listener, app).await.unwrap() });
    let other_mcp = format!(
        "{}/mcp",
        serve(
            Router::new()
                .nest_service("/mcp", support::mcp::sum_service())
                .layer(guard("https://other.example/mcp"))
        )
        .await
    );
    Harness {
        cluster,
        warden,
        token_endpoint,
        endpoint,
        mcp,
        other_mcp,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Value,
}

impl Harness {
    async fn token_request(
        &self,
        form: &[(&str, &str)],
        signer: Option<&ProofSigner>,
        nonce: Option<&str>,
    ) -> Answer {
        let mut request = self.http.post(&self.token_endpoint).form(form);
        if let Some(signer) = signer {
            let proof = signer
                .proof("POST", &self.token_endpoint, None, nonce, now())
                .unwrap();
            request = request.header("dpop", proof);
        }
        answer(request.send().await.unwrap()).await
    }

    async fn exchange(&self, assertion: &str, signer: &ProofSigner) -> Answer {
        self.token_request(
            &[
                ("grant_type", JWT_BEARER),
                ("assertion", assertion),
                ("resource", &self.mcp),
            ],
            Some(signer),
            None,
        )
        .await
    }

    /// A tools/call to `url` with `token`, proved with `signer`.
    async fn call(&self, url: &str, token: &str, signer: &ProofSigner) -> reqwest::Response {
        let proof = signer.proof("POST", url, Some(token), None, now()).unwrap();
        support::mcp::call_sum(&self.http, url, token, &proof).await
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn a_workload_token_becomes_a_dpop_bound_token_the_guard_accepts() {
    let harness = start(false).await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let assertion = harness.cluster.token("payments", "agent", &harness.warden);
    let issued = harness.exchange(&assertion, &agent).await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert_eq!(issued.headers["cache-control"], "no-store");
    assert_eq!(issued.body["token_type"], "DPoP");
    assert_eq!(issued.body["scope"], "tools:call");
    assert_eq!(issued.body["expires_in"], 300);
    let token = issued.body["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["iss"], harness.warden);
    assert_eq!(claims["aud"], harness.mcp);
    assert_eq!(claims["sub"], "system:serviceaccount:payments:agent");
    assert_eq!(claims["cnf"]["jkt"], agent.thumbprint().as_str());
    assert!(
        claims.get("kubernetes.io").is_none(),
        "no claim copied unasked"
    );

    let response = harness.call(&harness.mcp, token, &agent).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains('5'), "the tool ran");

    // The same token at another resource: its audience is not that resource.
    let response = harness.call(&harness.other_mcp, token, &agent).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("invalid_token"), "{challenge}");

    // Another key cannot use it (RFC 9449 §7.1: the proof key must be the bound one).
    let thief = ProofSigner::generate(Algorithm::ES256).unwrap();
    assert_eq!(
        harness.call(&harness.mcp, token, &thief).await.status(),
        401
    );
}

#[tokio::test]
async fn token_exchange_records_the_actor_and_says_what_it_issued() {
    let harness = start(false).await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let subject = harness.cluster.token("payments", "agent", &harness.warden);
    let actor = harness.cluster.token("ci", "runner", &harness.warden);
    let issued = harness
        .token_request(
            &[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", &subject),
                ("subject_token_type", JWT_TYPE),
                ("actor_token", &actor),
                ("actor_token_type", JWT_TYPE),
                ("audience", "sum"),
            ],
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    assert_eq!(
        issued.body["issued_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    let claims = claims_of(issued.body["access_token"].as_str().unwrap());
    assert_eq!(claims["act"]["sub"], "system:serviceaccount:ci:runner");
    assert_eq!(claims["aud"], harness.mcp);
}

#[tokio::test]
async fn bad_token_requests_get_the_right_error() {
    let harness = start(false).await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let good = harness.cluster.token("payments", "agent", &harness.warden);
    let expect = |answer: Answer, status: u16, error: &str| {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.body["error"], error, "{}", answer.body);
        assert_eq!(answer.headers["cache-control"], "no-store");
        // No detail that helps an attacker: a fixed description.
        let description = answer.body["error_description"].as_str().unwrap_or("");
        assert!(!description.contains("namespace") && !description.contains("aud"));
    };
    let wrong_audience = harness
        .cluster
        .token("payments", "agent", "https://elsewhere.example");
    expect(
        harness.exchange(&wrong_audience, &agent).await,
        400,
        "invalid_grant",
    );
    let other_namespace = harness.cluster.token("default", "agent", &harness.warden);
    expect(
        harness.exchange(&other_namespace, &agent).await,
        400,
        "invalid_grant",
    );
    let forged = SigningKey::generate(Algorithm::RS256)
        .unwrap()
        .with_kid("cluster-1")
        .unwrap()
        .sign_compact(
            json!({"kid": "cluster-1"}).as_object().unwrap(),
            &claims_of(&good).as_object().unwrap().clone(),
        )
        .unwrap();
    expect(
        harness.exchange(&forged, &agent).await,
        400,
        "invalid_grant",
    );
    let unsecured = format!(
        "{}.{}.",
        mcp_warden::jose::base64url_encode(br#"{"alg":"none"}"#),
        good.split('.').nth(1).unwrap()
    );
    expect(
        harness.exchange(&unsecured, &agent).await,
        400,
        "invalid_grant",
    );

    // No proof: the rule allows no Bearer token (RFC 9449 §5).
    let form = [
        ("grant_type", JWT_BEARER),
        ("assertion", good.as_str()),
        ("resource", harness.mcp.as_str()),
    ];
    expect(
        harness.token_request(&form, None, None).await,
        400,
        "invalid_dpop_proof",
    );
    // A proof for another URL.
    let elsewhere = agent
        .proof("POST", "http://127.0.0.1:1/token", None, None, now())
        .unwrap();
    let response = harness
        .http
        .post(&harness.token_endpoint)
        .header("dpop", &elsewhere)
        .form(&form)
        .send()
        .await
        .unwrap();
    expect(answer(response).await, 400, "invalid_dpop_proof");
    // The same proof twice: a replay (RFC 9449 §11.1).
    let proof = agent
        .proof("POST", &harness.token_endpoint, None, None, now())
        .unwrap();
    let send = || {
        harness
            .http
            .post(&harness.token_endpoint)
            .header("dpop", &proof)
            .form(&form)
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    expect(
        answer(send().await.unwrap()).await,
        400,
        "invalid_dpop_proof",
    );

    let unknown_resource = [
        ("grant_type", JWT_BEARER),
        ("assertion", good.as_str()),
        ("resource", "https://nowhere.example/mcp"),
    ];
    expect(
        harness
            .token_request(&unknown_resource, Some(&agent), None)
            .await,
        400,
        "invalid_target",
    );
    let not_granted = [
        ("grant_type", JWT_BEARER),
        ("assertion", good.as_str()),
        ("resource", "https://other.example/mcp"),
    ];
    expect(
        harness
            .token_request(&not_granted, Some(&agent), None)
            .await,
        400,
        "invalid_target",
    );
    let bad_scope = [
        ("grant_type", JWT_BEARER),
        ("assertion", good.as_str()),
        ("scope", "tools:list"),
    ];
    expect(
        harness.token_request(&bad_scope, Some(&agent), None).await,
        400,
        "invalid_scope",
    );
    expect(
        harness
            .token_request(&[("grant_type", "password")], Some(&agent), None)
            .await,
        400,
        "unsupported_grant_type",
    );
    expect(
        harness
            .token_request(
                &[("grant_type", JWT_BEARER), ("grant_type", JWT_BEARER)],
                Some(&agent),
                None,
            )
            .await,
        400,
        "invalid_request",
    );
    // Oversized and malformed bodies.
    let huge = "a".repeat(70 * 1024);
    let response = harness
        .http
        .post(&harness.token_endpoint)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type={JWT_BEARER}&assertion={huge}"))
        .send()
        .await
        .unwrap();
    expect(answer(response).await, 413, "invalid_request");
    let response = harness
        .http
        .post(&harness.token_endpoint)
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    expect(answer(response).await, 400, "invalid_request");
    // Client secrets are not taken: 401 with a challenge in the client's scheme.
    let response = harness
        .http
        .post(&harness.token_endpoint)
        .basic_auth("client", Some("secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let answered = answer(response).await;
    assert_eq!(
        answered.headers["www-authenticate"],
        "Basic error=\"invalid_client\""
    );
    expect(answered, 401, "invalid_client");
    // The token endpoint only takes POST.
    let response = harness
        .http
        .get(&harness.token_endpoint)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn nonces_are_asked_for_then_accepted() {
    let harness = start(true).await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let assertion = harness.cluster.token("payments", "agent", &harness.warden);
    let first = harness.exchange(&assertion, &agent).await;
    // RFC 9449 §8: 400 use_dpop_nonce with the nonce to use.
    assert_eq!(first.status, 400);
    assert_eq!(first.body["error"], "use_dpop_nonce");
    let nonce = first.headers["dpop-nonce"].to_str().unwrap().to_owned();
    let form = [
        ("grant_type", JWT_BEARER),
        ("assertion", assertion.as_str()),
        ("resource", harness.mcp.as_str()),
    ];
    let second = harness
        .token_request(&form, Some(&agent), Some(&nonce))
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert!(
        second.headers.contains_key("dpop-nonce"),
        "a fresh nonce comes along"
    );
}

#[tokio::test]
async fn metadata_and_keys_are_published_for_discovery() {
    let harness = start(false).await;
    let metadata: Value = harness
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            harness.warden
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["issuer"], harness.warden);
    assert_eq!(metadata["token_endpoint"], harness.token_endpoint);
    let grants = metadata["grant_types_supported"].to_string();
    assert!(grants.contains(JWT_BEARER) && grants.contains(TOKEN_EXCHANGE));
    assert!(
        metadata["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256"))
    );
    let jwks: Value = harness
        .http
        .get(metadata["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["use"], "sig");
    assert_eq!(key["alg"], "ES256");
    assert!(key.get("d").is_none());
}

async fn issue(harness: &Harness, agent: &ProofSigner) -> String {
    let assertion = harness.cluster.token("payments", "agent", &harness.warden);
    let issued = harness.exchange(&assertion, agent).await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    issued.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotated_keys_keep_outstanding_tokens_valid() {
    let harness = start(false).await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let before = issue(&harness, &agent).await;
    assert_eq!(
        harness.call(&harness.mcp, &before, &agent).await.status(),
        200
    );

    // Rotate: a new active key; the old one stays published as retired.
    let old = harness.endpoint.keys();
    let old_public = old.jwk_set(now(), 3600).keys()[0].clone();
    let ring = KeyRing::new(
        SigningKey::generate(Algorithm::ES256).unwrap(),
        vec![RetiredKey {
            key: old_public,
            retired_at: Some(now()),
        }],
    )
    .unwrap();
    harness.endpoint.replace_keys(ring);
    let after = issue(&harness, &agent).await;
    assert_ne!(
        claims_of(&after)["jti"],
        claims_of(&before)["jti"],
        "a new token"
    );
    let kid = |token: &str| {
        let header = token.split('.').next().unwrap();
        let header: Value =
            serde_json::from_slice(&mcp_warden::jose::base64url_decode(header).unwrap()).unwrap();
        header["kid"].clone()
    };
    assert_ne!(kid(&after), kid(&before), "signed with the new key");
    // The guard learns the new key on its unknown kid (refetched at most once per
    // min_refetch_interval, 100 ms here), and still knows the old one.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        harness.call(&harness.mcp, &after, &agent).await.status(),
        200
    );
    assert_eq!(
        harness.call(&harness.mcp, &before, &agent).await.status(),
        200
    );
}

#[tokio::test]
async fn an_unreachable_cluster_is_served_stale_for_a_while_then_fails_closed() {
    let mut harness = start(false).await;
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let assertion = harness.cluster.token("payments", "agent", &harness.warden);
    assert_eq!(harness.exchange(&assertion, &agent).await.status, 200);
    harness.cluster.server.stop();
    // Past the keys' 1 s lifetime, within the 2 s stale allowance: still served.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stale = harness.exchange(&assertion, &agent).await;
    assert_eq!(stale.status, 200, "{}", stale.body);
    // Past both: the issuer cannot check the workload, and says so (503).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let gone = harness.exchange(&assertion, &agent).await;
    assert_eq!(gone.status, 503, "{}", gone.body);
    assert_eq!(gone.body["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn a_jwks_behind_a_bearer_token_is_fetched_with_the_token_file_read_each_time() {
    let jwks =
        json!({"keys": [SigningKey::generate(Algorithm::ES256).unwrap().public_jwk().to_json()]})
            .to_string();
    // Like a Kubernetes API server's /openid/v1/jwks: authenticated callers only.
    let app = Router::new().route(
        "/openid/v1/jwks",
        get(move |headers: http::HeaderMap| {
            let jwks = jwks.clone();
            async move {
                let authorized = headers
                    .get("authorization")
                    .is_some_and(|value| value == "Bearer sa-token-2");
                if authorized {
                    (http::StatusCode::OK, jwks)
                } else {
                    (http::StatusCode::UNAUTHORIZED, String::new())
                }
            }
        }),
    );
    let url = format!("{}/openid/v1/jwks", serve(app).await);
    let dir = sidecar::TempDir::new("bearer");
    let token_file = dir.write("token", "sa-token-1\n");
    let keys = RemoteJwks::builder(JwksLocation::JwksUri(url.parse().unwrap()))
        .dangerous_allow_plain_http()
        .min_refetch_interval(Duration::from_millis(1))
        .bearer_token_file(&token_file)
        .build()
        .unwrap();
    let refused = keys.load().await.unwrap_err();
    assert_eq!(
        refused.fetch_error(),
        Some(&mcp_warden::jwks::FetchError::Status(401))
    );
    // The kubelet rotated the token: the next fetch reads the new one.
    dir.write("token", "sa-token-2\n");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(keys.load().await.unwrap().keys().len(), 1);
}
