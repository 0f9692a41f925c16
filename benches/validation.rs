//! What validating one DPoP-bound request costs, next to the physical limit: the bare
//! aws-lc-rs ES256 verifications it cannot avoid (one for the proof, one for the access
//! token), measured in the same run so that the ratio is meaningful on any machine.
//!
//! Every validation sees a distinct, pre-signed proof: a reused proof would be refused by
//! the replay store, which is cheaper and would flatter the figures.
//!
//! `cargo bench --bench validation`

#![allow(clippy::unwrap_used, clippy::expect_used)] // Benchmark setup: a panic is a bug report.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use mcp_warden::dpop::{NormalizedUri, ProofContext, ProofValidator};
use mcp_warden::guard::{RequestParts, ResourceVerifier};
use mcp_warden::token::PresentedToken;
use mcp_warden::token::{AccessTokenVerifier, CachingVerifier, TokenVerifier};

#[path = "common/requests.rs"]
mod requests;

use requests::{NOW, RESOURCE, Setup, jwt_verifier, raw_key, ready, signed_parts};

const POOL: usize = 4096;

/// Builds a fresh verifier (so an empty replay store) for a benchmark.
type MakeVerifier = fn(&Setup) -> ResourceVerifier;

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
    let setup = requests::setup(POOL);
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

    let requests = requests::dpop_requests(&setup);
    // Cold: the token verified on every request; warm: the guard's default token cache
    // already holds it.
    let verifiers: [(&str, MakeVerifier); 2] = [
        ("request_token_and_proof", resource_verifier),
        ("request_warm_token", warm_resource_verifier),
    ];
    for (name, fresh) in verifiers {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut next = 0;
                timed_over_pool(
                    iters,
                    || fresh(&setup),
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
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
