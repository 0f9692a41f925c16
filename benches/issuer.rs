//! What issuing one token costs — form, proof, workload assertion, policy, minting — next to
//! the crypto it cannot avoid, measured in the same run: one RS256 verification (a
//! Kubernetes service-account token), one ES256 verification (the DPoP proof) and one ES256
//! signature (the access token), straight on aws-lc-rs.
//!
//! Every request carries a distinct, pre-signed proof (a reused one would be refused as a
//! replay, which is cheaper and would flatter the figure).
//!
//! `cargo bench --bench issuer`

#![allow(clippy::unwrap_used, clippy::expect_used)] // Benchmark setup: a panic is a bug report.

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, KeyPair, ParsedPublicKey, RsaPublicKeyComponents,
};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use mcp_warden::dpop::ProofSigner;
use mcp_warden::issuer::{
    IssuerFacts, KeyRing, Platform, Policy, PolicyDocument, PolicyLimits, TokenCall, TokenEndpoint,
    WorkloadIssuer, WorkloadIssuers, default_audiences,
};
use mcp_warden::jose::{Algorithm, JwkSet, SigningKey, base64url_decode};
use mcp_warden::jwt::TrustedIssuer;
use serde_json::json;

#[path = "common/requests.rs"]
mod requests;

use requests::{NOW, ready, signed_parts};

const POOL: usize = 4096;
const CLUSTER: &str = "https://kubernetes.default.svc.cluster.local";
const WARDEN: &str = "https://warden.example.com";
const TOKEN_ENDPOINT: &str = "https://warden.example.com/token";
const RESOURCE: &str = "https://mcp.example.com/mcp";

struct Setup {
    cluster_key: SigningKey,
    assertion: String,
    proofs: Vec<String>,
    agent: ProofSigner,
    body: Vec<u8>,
}

fn setup() -> Setup {
    let cluster_key = SigningKey::generate(Algorithm::RS256)
        .unwrap()
        .with_kid("k8s")
        .unwrap();
    let assertion = cluster_key
        .sign_compact(
            json!({"kid": "k8s"}).as_object().unwrap(),
            json!({
                "iss": CLUSTER, "sub": "system:serviceaccount:payments:agent", "aud": [WARDEN],
                "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3000,
                "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "agent"}},
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
    let agent = ProofSigner::generate(Algorithm::ES256).unwrap();
    let proofs = (0..POOL)
        .map(|_| {
            agent
                .proof("POST", TOKEN_ENDPOINT, None, None, NOW)
                .unwrap()
        })
        .collect();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")
        .append_pair("assertion", &assertion)
        .append_pair("resource", RESOURCE)
        .append_pair("scope", "tools:call")
        .finish()
        .into_bytes();
    Setup {
        cluster_key,
        assertion,
        proofs,
        agent,
        body,
    }
}

fn endpoint(setup: &Setup) -> TokenEndpoint {
    let keys = JwkSet::from_json(
        json!({"keys": [setup.cluster_key.public_jwk().to_json()]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let workloads = WorkloadIssuers::new(vec![WorkloadIssuer::new(
        "cluster",
        Platform::Kubernetes,
        TrustedIssuer::new(CLUSTER, keys),
        default_audiences(WARDEN, TOKEN_ENDPOINT),
    )]);
    let document: PolicyDocument = serde_json::from_value(json!({
        "resources": [{"name": "mcp", "uri": RESOURCE, "scopes": ["tools:call", "tools:list"]}],
        "rules": [{"name": "payments", "issuer": "cluster",
                   "claims": {"kubernetes.io.namespace": "payments"},
                   "grants": [{"resource": "mcp", "scopes": ["tools:call", "tools:list"]}]}],
    }))
    .unwrap();
    let facts = [IssuerFacts {
        name: "cluster".into(),
        tenant_claims: Vec::new(),
    }];
    let policy = Policy::compile(&document, &facts, PolicyLimits::default()).unwrap();
    TokenEndpoint::builder(
        WARDEN,
        workloads,
        policy,
        KeyRing::ephemeral(Algorithm::ES256).unwrap(),
    )
    .build()
    .unwrap()
}

fn headers(proof: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    headers.insert("dpop", HeaderValue::from_str(proof).unwrap());
    headers
}

fn bench(c: &mut Criterion) {
    let setup = setup();
    // The floor, on aws-lc-rs directly: the three operations an issuance cannot skip.
    let members = setup.cluster_key.public_jwk().public_members();
    let component = |name: &str| base64url_decode(members[name].as_str().unwrap()).unwrap();
    let rsa = RsaPublicKeyComponents {
        n: component("n"),
        e: component("e"),
    };
    let (assertion_input, assertion_signature) = signed_parts(&setup.assertion);
    let proof_members = setup.agent.key().public_jwk().public_members();
    let coordinate = |name: &str| base64url_decode(proof_members[name].as_str().unwrap()).unwrap();
    let mut point = vec![0x04];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    let proof_key = ParsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point).unwrap();
    let (proof_input, proof_signature) = signed_parts(&setup.proofs[0]);
    let signer = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let _ = signer.public_key();
    let rng = SystemRandom::new();
    let message = vec![b'x'; 600];

    let mut group = c.benchmark_group("issuance");
    group.bench_function("bare_rs256_verify_es256_verify_es256_sign", |b| {
        b.iter(|| {
            rsa.verify(
                &sig::RSA_PKCS1_2048_8192_SHA256,
                black_box(&assertion_input),
                black_box(&assertion_signature),
            )
            .unwrap();
            proof_key
                .verify_sig(black_box(&proof_input), black_box(&proof_signature))
                .unwrap();
            black_box(signer.sign(&rng, black_box(&message)).unwrap());
        })
    });

    let requests: Vec<HeaderMap> = setup.proofs.iter().map(|proof| headers(proof)).collect();
    group.bench_function("token_request", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut remaining = iters;
            let mut next = 0;
            while remaining > 0 {
                // A fresh endpoint (empty proof replay store) per pass over the pool; not timed.
                let endpoint = endpoint(&setup);
                let batch = remaining.min(POOL as u64) as usize;
                let start = Instant::now();
                for _ in 0..batch {
                    let call = TokenCall {
                        headers: &requests[next % POOL],
                        body: &setup.body,
                    };
                    next += 1;
                    let issued = ready(endpoint.exchange(black_box(&call), NOW));
                    assert!(issued.is_ok());
                }
                total += start.elapsed();
                remaining -= batch as u64;
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
