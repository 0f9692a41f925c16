//! What validating one DPoP-bound request costs, next to the physical limit: the bare
//! aws-lc-rs ES256 verifications it cannot avoid (one for the proof, one for the access
//! token), measured in the same run so that the ratio is meaningful on any machine.
//!
//! Every validation sees a distinct, pre-signed proof: a reused proof would be refused by
//! the replay store, which is cheaper and would flatter the figures.
//!
//! `cargo bench --bench validation`

#![allow(clippy::unwrap_used, clippy::expect_used)] // Benchmark setup: a panic is a bug report.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use mcp_warden::dpop::{NormalizedUri, ProofContext, ProofSigner, ProofValidator};
use mcp_warden::guard::{RequestParts, ResourceVerifier};
use mcp_warden::jose::{Algorithm, AlgorithmSet, JwkSet, SigningKey, base64url_decode};
use mcp_warden::token::PresentedToken;
use mcp_warden::token::{
    AccessTokenVerifier, CachingVerifier, JwtVerifier, TokenVerifier, TrustedIssuer,
};
use serde_json::json;

const NOW: u64 = 1_764_288_000;
const RESOURCE: &str = "https://mcp.example.com/mcp";
const POOL: usize = 4096;

/// The futures under test complete without waiting (in-memory keys and replay store), so
/// one poll with a no-op waker runs them without a runtime's overhead in the figures.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked future must not wait"),
    }
}

struct Setup {
    token: String,
    proofs: Vec<String>,
    issuer_key: SigningKey,
    verifier_keys: JwkSet,
    signer: ProofSigner,
}

fn setup() -> Setup {
    let issuer_key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("as-1")
        .unwrap();
    let signer = ProofSigner::generate(Algorithm::ES256).unwrap();
    let token = issuer_key
        .sign_compact(
            json!({"typ": "at+jwt", "kid": "as-1"}).as_object().unwrap(),
            json!({
                "iss": "https://as.example.com", "aud": RESOURCE, "sub": "agent",
                "client_id": "agent", "scope": "tools:call", "iat": NOW, "exp": NOW + 600,
                "jti": "token-1", "cnf": {"jkt": signer.thumbprint().as_str()}
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
    let proofs = (0..POOL)
        .map(|_| {
            signer
                .proof("POST", RESOURCE, Some(&token), None, NOW)
                .unwrap()
        })
        .collect();
    let verifier_keys = JwkSet::from_json(
        json!({"keys": [issuer_key.public_jwk().to_json()]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    Setup {
        token,
        proofs,
        issuer_key,
        verifier_keys,
        signer,
    }
}

fn jwt_verifier(setup: &Setup) -> JwtVerifier {
    JwtVerifier::builder(RESOURCE)
        .issuer(
            TrustedIssuer::new("https://as.example.com", setup.verifier_keys.clone())
                .algorithms(AlgorithmSet::EMPTY.with(Algorithm::ES256)),
        )
        .build()
}

/// Cold: every request verifies the access token too.
fn resource_verifier(setup: &Setup) -> ResourceVerifier {
    ResourceVerifier::builder()
        .proofs(ProofValidator::builder().build())
        .tokens(AccessTokenVerifier::new().jwt(jwt_verifier(setup)))
        .build()
}

/// Warm: the guard's default token cache, already holding the token.
fn warm_resource_verifier(setup: &Setup) -> ResourceVerifier {
    let cached = CachingVerifier::new(jwt_verifier(setup));
    ready(cached.verify(&setup.token, NOW)).unwrap();
    ResourceVerifier::builder()
        .proofs(ProofValidator::builder().build())
        .tokens(AccessTokenVerifier::new().jwt(cached))
        .build()
}

/// Splits a compact JWS into (signing input, signature bytes).
fn signed_parts(compact: &str) -> (Vec<u8>, Vec<u8>) {
    let dot = compact.rfind('.').unwrap();
    (
        compact.as_bytes()[..dot].to_vec(),
        base64url_decode(&compact[dot + 1..]).unwrap(),
    )
}

fn raw_key(key: &SigningKey) -> ParsedPublicKey {
    let members = key.public_jwk().public_members();
    let coordinate = |name: &str| base64url_decode(members[name].as_str().unwrap()).unwrap();
    let mut point = vec![0x04];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).unwrap()
}

/// Times `iters` validations over the pool of distinct proofs, with a fresh verifier (and
/// so an empty replay store) whenever the pool is used up; rebuilding is not timed.
fn timed_over_pool<V>(iters: u64, fresh: impl Fn() -> V, mut run: impl FnMut(&V)) -> Duration {
    let mut total = Duration::ZERO;
    let mut remaining = iters;
    while remaining > 0 {
        let verifier = fresh();
        let batch = remaining.min(POOL as u64) as usize;
        let start = Instant::now();
        for _ in 0..batch {
            run(&verifier);
        }
        total += start.elapsed();
        remaining -= batch as u64;
    }
    total
}

fn bench(c: &mut Criterion) {
    let setup = setup();
    let proof_key = raw_key(setup.signer.key());
    let token_key = raw_key(&setup.issuer_key);
    let (proof_input, proof_signature) = signed_parts(&setup.proofs[0]);
    let (token_input, token_signature) = signed_parts(&setup.token);

    let mut group = c.benchmark_group("es256");
    group.bench_function("bare_verify_x1", |b| {
        b.iter(|| {
            proof_key
                .verify_sig(black_box(&proof_input), black_box(&proof_signature))
                .unwrap()
        })
    });
    group.bench_function("bare_verify_x2", |b| {
        b.iter(|| {
            proof_key
                .verify_sig(black_box(&proof_input), black_box(&proof_signature))
                .unwrap();
            token_key
                .verify_sig(black_box(&token_input), black_box(&token_signature))
                .unwrap();
        })
    });

    let uri = NormalizedUri::parse(RESOURCE).unwrap();
    let jkt = setup.signer.thumbprint().as_str().to_owned();
    group.bench_function("proof_only", |b| {
        b.iter_custom(|iters| {
            let mut next = 0;
            timed_over_pool(
                iters,
                || ProofValidator::builder().build(),
                |validator| {
                    let context = ProofContext {
                        method: "POST",
                        uri: &uri,
                        access_token: Some(PresentedToken::new(&setup.token)),
                        bound_jkt: Some(&jkt),
                    };
                    let proof = &setup.proofs[next % POOL];
                    next += 1;
                    ready(validator.validate(black_box(proof), &context, NOW)).unwrap();
                },
            )
        })
    });

    let authorization = HeaderValue::from_str(&format!("DPoP {}", setup.token)).unwrap();
    let requests: Vec<HeaderMap> = setup
        .proofs
        .iter()
        .map(|proof| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, authorization.clone());
            headers.insert("dpop", HeaderValue::from_str(proof).unwrap());
            headers
        })
        .collect();
    group.bench_function("request_token_and_proof", |b| {
        b.iter_custom(|iters| {
            let mut next = 0;
            timed_over_pool(
                iters,
                || resource_verifier(&setup),
                |verifier| {
                    let parts = RequestParts {
                        method: "POST",
                        uri: RESOURCE,
                        headers: &requests[next % POOL],
                    };
                    next += 1;
                    ready(verifier.verify(black_box(&parts), NOW)).unwrap();
                },
            )
        })
    });
    group.bench_function("request_warm_token", |b| {
        b.iter_custom(|iters| {
            let mut next = 0;
            timed_over_pool(
                iters,
                || warm_resource_verifier(&setup),
                |verifier| {
                    let parts = RequestParts {
                        method: "POST",
                        uri: RESOURCE,
                        headers: &requests[next % POOL],
                    };
                    next += 1;
                    ready(verifier.verify(black_box(&parts), NOW)).unwrap();
                },
            )
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
