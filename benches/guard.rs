//! Requests per second through an axum handler with and without the guard layer, in
//! process and in the same run, and the per-request cost of finding the issuer's keys in a
//! remote JWKS cache that is warm (next to a fixed key set).
//!
//! Every guarded request carries a distinct, pre-signed proof; the pool is rebuilt with a
//! fresh guard (empty replay store) when used up, outside the timed section.
//!
//! `cargo bench --bench guard`

#![allow(clippy::unwrap_used, clippy::expect_used)] // Benchmark setup: a panic is a bug report.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use mcp_warden::dpop::ProofSigner;
use mcp_warden::guard::Guard;
use mcp_warden::jose::{Algorithm, JwkSet, KeyFamily, SigningKey};
use mcp_warden::jwks::{JwksLocation, KeySource, RemoteJwks, StaticKeys};
use mcp_warden::token::TrustedIssuer;
use serde_json::json;
use tower::ServiceExt;

const RESOURCE: &str = "http://127.0.0.1:8080/mcp";
const ISSUER: &str = "https://as.example.com";
const POOL: usize = 2048;
const BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sum","arguments":{"a":1,"b":2}}}"#;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Setup {
    issuer_key: SigningKey,
    token: String,
    proofs: Vec<String>,
}

fn setup() -> Setup {
    let issuer_key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("as-1")
        .unwrap();
    let signer = ProofSigner::generate(Algorithm::ES256).unwrap();
    let now = now();
    let token = issuer_key
        .sign_compact(
            json!({"typ": "at+jwt", "kid": "as-1"}).as_object().unwrap(),
            json!({"iss": ISSUER, "aud": RESOURCE, "sub": "agent", "scope": "tools:call",
                   "exp": now + 3600, "cnf": {"jkt": signer.thumbprint().as_str()}})
            .as_object()
            .unwrap(),
        )
        .unwrap();
    let proofs = (0..POOL)
        .map(|_| {
            signer
                .proof("POST", RESOURCE, Some(&token), None, now)
                .unwrap()
        })
        .collect();
    Setup {
        issuer_key,
        token,
        proofs,
    }
}

fn jwks(setup: &Setup) -> JwkSet {
    JwkSet::from_json(
        json!({"keys": [setup.issuer_key.public_jwk().to_json()]})
            .to_string()
            .as_bytes(),
    )
    .unwrap()
}

fn handler_router() -> Router {
    Router::new().route(
        "/mcp",
        post(|body: String| async move { body.len().to_string() }),
    )
}

fn guarded(setup: &Setup) -> Router {
    let guard = Guard::builder()
        .resource(RESOURCE)
        .trust_issuer(TrustedIssuer::new(ISSUER, jwks(setup)))
        .build()
        .unwrap();
    handler_router().layer(guard)
}

fn request(authorization: Option<(&str, &str)>) -> Request<Body> {
    let mut builder = Request::post("/mcp").header("content-type", "application/json");
    if let Some((token, proof)) = authorization {
        builder = builder
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof);
    }
    builder.body(Body::from(BODY)).unwrap()
}

fn bench(c: &mut Criterion) {
    let setup = setup();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("axum");
    let bare = handler_router();
    group.bench_function("handler_without_guard", |b| {
        b.to_async(&runtime).iter(|| {
            let app = bare.clone();
            async move {
                let response = app.oneshot(request(None)).await.unwrap();
                assert_eq!(response.status(), 200);
            }
        })
    });
    group.bench_function("handler_with_guard", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let setup = &setup;
            async move {
                let mut total = Duration::ZERO;
                let mut remaining = iters as usize;
                while remaining > 0 {
                    let app = guarded(setup);
                    let batch = remaining.min(POOL);
                    let requests: Vec<_> = setup.proofs[..batch]
                        .iter()
                        .map(|proof| request(Some((&setup.token, proof))))
                        .collect();
                    let start = Instant::now();
                    for request in requests {
                        let response = app.clone().oneshot(request).await.unwrap();
                        assert_eq!(response.status(), 200);
                    }
                    total += start.elapsed();
                    remaining -= batch;
                }
                total
            }
        })
    });
    group.finish();

    // The key lookup every JWT verification starts with.
    let mut group = c.benchmark_group("keys");
    let fixed = StaticKeys::new(jwks(&setup));
    group.bench_function("static_current", |b| {
        b.iter(|| {
            black_box(
                fixed
                    .current()
                    .unwrap()
                    .candidates(Some("as-1"), Algorithm::ES256)
                    .count(),
            )
        })
    });
    let remote = runtime.block_on(async {
        let body = json!({"keys": [setup.issuer_key.public_jwk().to_json()]}).to_string();
        let app = Router::new().route("/jwks", axum::routing::get(move || async move { body }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let url = url::Url::parse(&format!("http://{address}/jwks")).unwrap();
        let remote = RemoteJwks::builder(JwksLocation::JwksUri(url))
            .dangerous_allow_plain_http()
            .default_ttl(Duration::from_secs(3600))
            .build()
            .unwrap();
        remote.load().await.unwrap();
        Arc::new(remote)
    });
    group.bench_function("remote_jwks_cache_hit", |b| {
        let _entered = runtime.enter();
        b.iter(|| {
            black_box(
                remote
                    .current()
                    .unwrap()
                    .candidates(Some("as-1"), Algorithm::ES256)
                    .count(),
            )
        })
    });
    assert!(matches!(
        remote.current().unwrap().keys()[0].family(),
        KeyFamily::Ec(_)
    ));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
