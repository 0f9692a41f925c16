//! The agent's token client over real HTTP on loopback, against mcp-warden's issuer (nonces
//! on) and the guard in front of the rmcp test server: discovery from the server's `401`,
//! the jwt-bearer grant with a workload token read from a file, the nonce retry, the cache
//! (a burst of 1,000 callers makes one token request), no retry after a refusal, a resource
//! whose metadata names another resource (nothing sent to its authorization server), and a
//! token endpoint that is down or answers garbage.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

#[path = "support/sidecar.rs"]
mod sidecar;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::routing::{get, post};
use mcp_warden::dpop::{ProofSigner, ProofValidator, StatelessNonces};
use mcp_warden::exchange::{
    Audience, DiscoveryError, DpopClientLayer, ExchangeError, Grant, McpSession, MetadataError,
    NonceBook, ReqwestService, TokenClient, TokenProvider, challenge, discover,
};
use mcp_warden::guard::{Guard, ScopePolicy};
use mcp_warden::issuer::{
    IssuerFacts, IssuerService, KeyRing, Platform, Policy, PolicyDocument, PolicyLimits,
    TokenEndpoint, WorkloadIssuer, WorkloadIssuers, default_audiences,
};
use mcp_warden::jose::{Algorithm, JwkSet, SigningKey};
use mcp_warden::jwt::TrustedIssuer;
use mcp_warden::oauth::ErrorCode;
use mcp_warden::workload::FileSource;
use serde_json::json;
use sidecar::TempDir;
use support::{claims_of, now};

const CLUSTER: &str = "https://kubernetes.default.svc";

struct Harness {
    cluster_key: SigningKey,
    warden: String,
    mcp: String,
    /// HTTP requests the token endpoint received.
    token_requests: Arc<AtomicU64>,
    /// The MCP server's 4xx answers: status and `WWW-Authenticate`.
    refusals: support::mcp::Refusals,
    http: reqwest::Client,
    dir: TempDir,
}

async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

async fn start() -> Harness {
    start_with(false).await
}

/// The harness; `nonces` turns on the guard's server nonces (RFC 9449 §9). The guard asks
/// `tools:call` for `tools/call`.
async fn start_with(nonces: bool) -> Harness {
    let cluster_key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("c1")
        .unwrap();
    let (warden_listener, warden) = bind().await;
    let (mcp_listener, base) = bind().await;
    let mcp = format!("{base}/mcp");
    let token_endpoint = format!("{warden}/token");

    let jwks = JwkSet::from_json(
        json!({"keys": [cluster_key.public_jwk().to_json()]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let workloads = WorkloadIssuers::new(vec![WorkloadIssuer::new(
        "cluster",
        Platform::Kubernetes,
        TrustedIssuer::new(CLUSTER, jwks),
        default_audiences(&warden, &token_endpoint),
    )]);
    let document: PolicyDocument = serde_json::from_value(json!({
        "resources": [{"name": "sum", "uri": mcp, "scopes": ["tools:call", "tools:list"]}],
        "rules": [{
            "name": "payments-agent",
            "issuer": "cluster",
            "claims": {"kubernetes.io.namespace": "payments"},
            "grants": [{"resource": "sum", "scopes": ["tools:call", "tools:list"]}],
            "token_lifetime_s": 300,
        }],
    }))
    .unwrap();
    let facts = [IssuerFacts {
        name: "cluster".into(),
        tenant_claims: Vec::new(),
    }];
    let policy = Policy::compile(&document, &facts, PolicyLimits::default()).unwrap();
    let endpoint = TokenEndpoint::builder(
        warden.clone(),
        workloads,
        policy,
        KeyRing::ephemeral(Algorithm::ES256).unwrap(),
    )
    .proofs(
        ProofValidator::builder()
            .nonces(Arc::new(StatelessNonces::generate()))
            .build(),
    )
    .build()
    .unwrap();
    let token_requests = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&token_requests);
    let app = Router::new()
        .fallback_service(IssuerService::new(endpoint))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let counter = Arc::clone(&counter);
                async move {
                    if request.method() == http::Method::POST {
                        counter.fetch_add(1, Ordering::SeqCst);
                    }
                    next.run(request).await
                }
            },
        ));
    tokio::spawn(async move { axum::serve(warden_listener, app).await.unwrap() });

    let local_keys = {
        // The guard fetches the warden's keys by discovery, like any resource server.
        let remote =
            mcp_warden::jwks::RemoteJwks::builder(mcp_warden::jwks::JwksLocation::Discovery {
                issuer: warden.clone(),
            })
            .dangerous_allow_plain_http()
            .build()
            .unwrap();
        TrustedIssuer::with_key_source(warden.clone(), Arc::new(remote))
    };
    let mut proofs = ProofValidator::builder();
    if nonces {
        proofs = proofs.nonces(Arc::new(StatelessNonces::generate()));
    }
    let guard = Guard::builder()
        .resource(mcp.clone())
        .authorization_server(warden.clone())
        .trust_issuer(local_keys)
        .proofs(proofs.build())
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
        cluster_key,
        warden,
        mcp,
        token_requests,
        refusals,
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        dir: TempDir::new("exchange"),
    }
}

impl Harness {
    /// Writes a projected service-account token for `namespace` to the token file.
    fn write_workload_token(&self, namespace: &str) -> std::path::PathBuf {
        let now = now();
        let token = self
            .cluster_key
            .sign_compact(
                json!({"kid": "c1"}).as_object().unwrap(),
                json!({
                    "iss": CLUSTER, "sub": format!("system:serviceaccount:{namespace}:agent"),
                    "aud": [self.warden], "iat": now, "nbf": now, "exp": now + 600,
                    "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": "agent"}},
                })
                .as_object()
                .unwrap(),
            )
            .unwrap();
        self.dir.write("token", &token)
    }

    async fn provider(&self, signer: Arc<ProofSigner>, token_endpoint: url::Url) -> TokenProvider {
        self.provider_with(signer, token_endpoint, Arc::new(NonceBook::new()))
            .await
    }

    async fn provider_with(
        &self,
        signer: Arc<ProofSigner>,
        token_endpoint: url::Url,
        nonces: Arc<NonceBook>,
    ) -> TokenProvider {
        let client = TokenClient::builder(token_endpoint, signer)
            .nonces(nonces)
            .require_dpop()
            .build()
            .unwrap();
        let path = self.write_workload_token("payments");
        TokenProvider::builder(client, Grant::JwtBearer)
            .source(Arc::new(FileSource::new(path)))
            .build()
    }

    async fn call(&self, token: &str, signer: &ProofSigner) -> reqwest::Response {
        let proof = signer
            .proof("POST", &self.mcp, Some(token), None, now())
            .unwrap();
        support::mcp::call_sum(&self.http, &self.mcp, token, &proof).await
    }
}

#[tokio::test]
async fn from_the_servers_401_to_a_dpop_bound_token_the_guard_accepts() {
    let harness = start().await;
    // The client knows only the MCP server's URL: its 401 says where to go.
    let refused = harness.http.post(&harness.mcp).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let challenges = challenge::challenges(refused.headers());
    let found = discover(&harness.http, &harness.mcp, &challenges, None)
        .await
        .unwrap();
    assert_eq!(found.resource.resource, harness.mcp);
    assert_eq!(found.server.issuer, harness.warden);
    assert!(found.server.supports_grant(Grant::JwtBearer.grant_type()));

    let signer = Arc::new(ProofSigner::generate(Algorithm::ES256).unwrap());
    let provider = harness
        .provider(Arc::clone(&signer), found.server.token_endpoint.clone())
        .await;
    let audience = Audience::new(&harness.mcp, ["tools:call"]);
    let token = provider.token(&audience).await.unwrap();
    assert!(token.dpop);
    assert_eq!(token.scope.as_deref(), Some("tools:call"));
    // The issuer asked for a nonce first (RFC 9449 §8): two HTTP requests, one token.
    assert_eq!(harness.token_requests.load(Ordering::SeqCst), 2);
    assert_eq!(provider.requests(), 1);
    let claims = claims_of(token.token.expose());
    assert_eq!(claims["cnf"]["jkt"], signer.thumbprint().as_str());
    assert_eq!(claims["aud"], harness.mcp);

    let response = harness.call(token.token.expose(), &signer).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("\"5\""));

    // Another key cannot use the token (RFC 9449 §6.1).
    let thief = ProofSigner::generate(Algorithm::ES256).unwrap();
    assert_eq!(
        harness.call(token.token.expose(), &thief).await.status(),
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_a_thousand_callers_makes_one_token_request() {
    let harness = start().await;
    let signer = Arc::new(ProofSigner::generate(Algorithm::ES256).unwrap());
    let endpoint = url::Url::parse(&format!("{}/token", harness.warden)).unwrap();
    let provider = harness.provider(signer, endpoint).await;
    let audience = Audience::new(&harness.mcp, ["tools:call"]);
    let callers: Vec<_> = (0..1_000)
        .map(|_| {
            let (provider, audience) = (provider.clone(), audience.clone());
            tokio::spawn(async move {
                provider
                    .token(&audience)
                    .await
                    .map(|t| t.token.expose().to_owned())
            })
        })
        .collect();
    let mut tokens = std::collections::HashSet::new();
    for caller in callers {
        tokens.insert(caller.await.unwrap().unwrap());
    }
    assert_eq!(tokens.len(), 1, "every caller got the one token");
    assert_eq!(provider.requests(), 1);
    // One token request, plus the one the nonce cost.
    assert_eq!(harness.token_requests.load(Ordering::SeqCst), 2);

    // Another audience is another token.
    let listing = Audience::new(&harness.mcp, ["tools:list"]);
    let other = provider.token(&listing).await.unwrap();
    assert!(!tokens.contains(other.token.expose()));
    assert_eq!(provider.requests(), 2);
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_the_file_is_read_again() {
    let harness = start().await;
    let signer = Arc::new(ProofSigner::generate(Algorithm::ES256).unwrap());
    let endpoint = url::Url::parse(&format!("{}/token", harness.warden)).unwrap();
    let provider = harness.provider(signer, endpoint).await;
    let audience = Audience::new(&harness.mcp, ["tools:call"]);
    provider.token(&audience).await.unwrap();
    let before = harness.token_requests.load(Ordering::SeqCst);

    // The kubelet rotated the file: now the token is of a namespace no rule grants.
    harness.write_workload_token("elsewhere");
    provider.forget(&audience);
    let refused = provider.token(&audience).await.unwrap_err();
    assert!(
        matches!(
            &refused,
            ExchangeError::Refused {
                status: 400,
                code: ErrorCode::InvalidGrant,
                ..
            }
        ),
        "{refused:?}"
    );
    assert!(!refused.is_transient());
    // One request (the nonce is known by now), and no retry.
    assert_eq!(harness.token_requests.load(Ordering::SeqCst), before + 1);
    // Asking again at once is answered from the failure, not sent.
    assert!(provider.token(&audience).await.is_err());
    assert_eq!(harness.token_requests.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn metadata_naming_another_resource_sends_nothing_to_its_server() {
    let harness = start().await;
    // A server whose metadata claims to be someone else, pointing at the real issuer.
    let (listener, base) = bind().await;
    let claimed = json!({"resource": "https://bank.example/mcp",
                         "authorization_servers": [harness.warden]});
    let app = Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(move || {
                let claimed = claimed.clone();
                async move { axum::Json(claimed) }
            }),
        )
        .route("/mcp", post(|| async { http::StatusCode::UNAUTHORIZED }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let found = discover(&harness.http, &format!("{base}/mcp"), &[], None).await;
    assert!(
        matches!(
            found,
            Err(DiscoveryError::Metadata(
                MetadataError::ResourceMismatch { .. }
            ))
        ),
        "{found:?}"
    );
    assert_eq!(harness.token_requests.load(Ordering::SeqCst), 0);

    // A pinned authorization server the resource does not name is refused too.
    let found = discover(
        &harness.http,
        &harness.mcp,
        &[],
        Some("https://evil.example"),
    )
    .await;
    assert!(
        matches!(found, Err(DiscoveryError::IssuerNotListed(_))),
        "{found:?}"
    );
}

#[tokio::test]
async fn a_token_endpoint_that_is_down_or_answers_garbage_fails_clearly_without_a_storm() {
    let harness = start().await;
    let signer = Arc::new(ProofSigner::generate(Algorithm::ES256).unwrap());
    // Nothing listens there.
    let (listener, closed) = bind().await;
    drop(listener);
    let provider = harness
        .provider(
            Arc::clone(&signer),
            url::Url::parse(&format!("{closed}/token")).unwrap(),
        )
        .await;
    let audience = Audience::new(&harness.mcp, ["tools:call"]);
    let error = provider.token(&audience).await.unwrap_err();
    assert!(
        matches!(&error, ExchangeError::Transport { reason, .. } if reason == "cannot connect"),
        "{error:?}"
    );
    assert!(error.is_transient());
    for _ in 0..50 {
        assert!(provider.token(&audience).await.is_err());
    }
    assert_eq!(provider.requests(), 1, "the delay holds the retries back");

    // An endpoint answering 200 with something that is not a token response.
    let (listener, garbage) = bind().await;
    let app = Router::new().route("/token", post(|| async { "<html>hello</html>" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let provider = harness
        .provider(
            signer,
            url::Url::parse(&format!("{garbage}/token")).unwrap(),
        )
        .await;
    let error = provider.token(&audience).await.unwrap_err();
    assert!(matches!(error, ExchangeError::Response(_)), "{error:?}");
}

/// The client layer over reqwest, through an MCP session, against a guard with nonces on
/// that asks `tools:call` for `tools/call`: the first request is answered
/// `use_dpop_nonce` and sent again with the nonce; the token asked for `tools:list` only is
/// answered `insufficient_scope` at the call and a token for both scopes is asked for once.
#[tokio::test]
async fn the_client_layer_answers_the_nonce_and_step_up_challenges_once_each() {
    let harness = start_with(true).await;
    let signer = Arc::new(ProofSigner::generate(Algorithm::ES256).unwrap());
    let nonces = Arc::new(NonceBook::new());
    let endpoint = url::Url::parse(&format!("{}/token", harness.warden)).unwrap();
    let provider = harness
        .provider_with(Arc::clone(&signer), endpoint, Arc::clone(&nonces))
        .await;
    let layer = DpopClientLayer::new(
        provider.clone(),
        signer,
        Audience::new(&harness.mcp, ["tools:list"]),
    )
    .nonces(nonces);
    let service = tower::Layer::layer(&layer, ReqwestService::new(harness.http.clone()));
    let mut session = McpSession::new(service, harness.mcp.parse().unwrap());
    session.initialize("exchange-test").await.unwrap();
    let tools = session.list_tools().await.unwrap();
    assert_eq!(tools[0]["name"], "sum");
    let result = session
        .call_tool("sum", json!({"a": 2, "b": 3}))
        .await
        .unwrap();
    assert_eq!(result["content"][0]["text"], "5");

    assert_eq!(layer.audience().scopes, ["tools:call", "tools:list"]);
    assert_eq!(provider.requests(), 2, "one token per scope set");
    let refusals = harness.refusals.lock().unwrap().clone();
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert_eq!(refusals[0].0, 401);
    assert!(refusals[0].1.contains("use_dpop_nonce"), "{refusals:?}");
    assert_eq!(refusals[1].0, 403);
    assert!(refusals[1].1.contains("insufficient_scope"), "{refusals:?}");
}

/// A token endpoint slower than the client's timeout is a clear transient error, not a hang.
#[tokio::test]
async fn a_slow_token_endpoint_times_out_clearly() {
    let harness = start().await;
    let (listener, slow) = bind().await;
    let app = Router::new().route(
        "/token",
        post(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            "{}"
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let signer = Arc::new(ProofSigner::generate(Algorithm::ES256).unwrap());
    let client = TokenClient::builder(url::Url::parse(&format!("{slow}/token")).unwrap(), signer)
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let path = harness.write_workload_token("payments");
    let provider = TokenProvider::builder(client, Grant::JwtBearer)
        .source(Arc::new(FileSource::new(path)))
        .build();
    let started = std::time::Instant::now();
    let error = provider
        .token(&Audience::new(&harness.mcp, ["tools:call"]))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ExchangeError::Transport { reason, .. } if reason == "timed out"),
        "{error:?}"
    );
    assert!(error.is_transient());
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

/// An unreadable workload token file is named in the error, and nothing is sent; an expired
/// workload token is sent and refused by the issuer (it is the authorization server's call),
/// never retried.
#[tokio::test]
async fn an_unreadable_or_expired_workload_token_fails_clearly() {
    let harness = start().await;
    let signer = Arc::new(ProofSigner::generate(Algorithm::ES256).unwrap());
    let endpoint = url::Url::parse(&format!("{}/token", harness.warden)).unwrap();
    let client = TokenClient::builder(endpoint, signer).build().unwrap();
    let missing = harness.dir.path().join("no-such-token");
    let provider = TokenProvider::builder(client.clone(), Grant::JwtBearer)
        .source(Arc::new(FileSource::new(&missing)))
        .build();
    let audience = Audience::new(&harness.mcp, ["tools:call"]);
    let error = provider.token(&audience).await.unwrap_err();
    match &error {
        ExchangeError::Workload(message) => {
            assert!(message.contains("no-such-token"), "{message}")
        }
        other => panic!("expected a workload error, got {other:?}"),
    }
    assert_eq!(harness.token_requests.load(Ordering::SeqCst), 0);

    let now = now();
    let expired = harness
        .cluster_key
        .sign_compact(
            json!({"kid": "c1"}).as_object().unwrap(),
            json!({
                "iss": CLUSTER, "sub": "system:serviceaccount:payments:agent",
                "aud": [harness.warden], "iat": now - 1200, "exp": now - 600,
                "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "agent"}},
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
    let path = harness.dir.write("expired", &expired);
    let provider = TokenProvider::builder(client, Grant::JwtBearer)
        .source(Arc::new(FileSource::new(path)))
        .build();
    let error = provider.token(&audience).await.unwrap_err();
    assert!(
        matches!(
            &error,
            ExchangeError::Refused {
                code: ErrorCode::InvalidGrant,
                ..
            }
        ),
        "{error:?}"
    );
}
