//! The criterion side-by-side: mcp-warden, dpop-verifier, turbomcp-dpop, a plain
//! jsonwebtoken validator, axum-jose and axum-jwt-auth on the same inputs, in one run, next
//! to the bare aws-lc-rs ES256 verifies. The inputs, the contenders and the fairness rules
//! are in `src/lib.rs`; the results and what each contender checks are in
//! docs/performance.md, "Against other validators".
//!
//! `cd benches/peers && cargo bench --bench peers`
//!
//! Groups: `baseline` (bare verifies), `cold` (a new proof and the token verified on every
//! request), `warm` (the same token on every request, as in an agent's session), `bearer`
//! (an unbound token against the JWK Set: entry points, then whole axum routers).

#![allow(clippy::unwrap_used, clippy::expect_used)] // Benchmark setup: a panic is a bug report.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use axum::Router;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use mcp_warden::guard::RequestParts;
use mcp_warden_peers::*;

/// Times `iters` validations over the pool of distinct proofs, with a fresh contender (and
/// so an empty replay store) whenever the pool is used up; rebuilding and re-signing are
/// not timed.
fn timed_over_pool<V, T>(
    iters: u64,
    proofs: &mut Proofs,
    fresh: impl Fn() -> V,
    mut run: impl FnMut(&mut V, &HeaderMap) -> Result<T, Refused>,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut remaining = iters;
    while remaining > 0 {
        let requests = proofs.fresh();
        let mut contender = fresh();
        let batch = remaining.min(POOL as u64) as usize;
        let start = Instant::now();
        for request in &requests[..batch] {
            black_box(run(&mut contender, black_box(request)).unwrap());
        }
        total += start.elapsed();
        remaining -= batch as u64;
    }
    total
}

/// Times `iters` requests through a router; building the requests is not timed.
fn timed_requests(iters: u64, router: &Router, token: &str) -> Duration {
    let mut total = Duration::ZERO;
    let mut remaining = iters;
    while remaining > 0 {
        let batch = remaining.min(POOL as u64);
        let requests: Vec<_> = (0..batch).map(|_| bearer_request(token)).collect();
        let start = Instant::now();
        for request in requests {
            through(router, black_box(request));
        }
        total += start.elapsed();
        remaining -= batch;
    }
    total
}

fn bench(c: &mut Criterion) {
    install_jsonwebtoken10_provider();
    let (inputs, mut proofs) = inputs();
    let access = Arc::new(JsonwebtokenAccess::new(&inputs.jwks_json, ISSUER));
    let turbomcp_keys = Arc::new(ready(turbomcp_dpop::DpopKeyManager::new_memory()).unwrap());
    check_every_contender_accepts(&inputs, &mut proofs, &access, &turbomcp_keys);

    // Baselines: the signature checks nobody can avoid.
    let proof_key =
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_point(proofs.signer.key())).unwrap();
    let token_key =
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_point(&inputs.issuer_key)).unwrap();
    let first_proof = proofs.requests[0]["dpop"].to_str().unwrap().to_owned();
    let (proof_input, proof_signature) = signed_parts(&first_proof);
    let (token_input, token_signature) = signed_parts(&inputs.token);
    let mut group = c.benchmark_group("baseline");
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
    let p256_key =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&public_point(proofs.signer.key())).unwrap();
    let p256_signature = p256::ecdsa::Signature::from_slice(&proof_signature).unwrap();
    group.bench_function("bare_verify_p256_x1", |b| {
        use p256::ecdsa::signature::Verifier as _;
        b.iter(|| {
            p256_key
                .verify(black_box(&proof_input), black_box(&p256_signature))
                .unwrap()
        })
    });
    group.finish();

    // Cold: every request carries a new proof and the token is verified every time.
    let mut group = c.benchmark_group("cold");
    group.bench_function("mcp_warden", |b| {
        b.iter_custom(|iters| {
            timed_over_pool(iters, &mut proofs, || mcp_warden_cold(&inputs), mcp_warden)
        })
    });
    group.bench_function("dpop_verifier+jsonwebtoken", |b| {
        b.iter_custom(|iters| {
            timed_over_pool(
                iters,
                &mut proofs,
                || DpopVerifierContender {
                    verifier: dpop_verifier::DpopVerifier::new(),
                    store: DpopVerifierStore::default(),
                    access: access.clone(),
                },
                dpop_verifier,
            )
        })
    });
    group.bench_function("turbomcp_dpop+jsonwebtoken", |b| {
        b.iter_custom(|iters| {
            timed_over_pool(
                iters,
                &mut proofs,
                || TurbomcpContender {
                    generator: turbomcp_dpop::DpopProofGenerator::new(turbomcp_keys.clone()),
                    access: access.clone(),
                },
                turbomcp_dpop,
            )
        })
    });
    group.bench_function("plain_jsonwebtoken", |b| {
        b.iter_custom(|iters| {
            timed_over_pool(
                iters,
                &mut proofs,
                || PlainJsonwebtoken::new(access.clone(), false),
                plain_jsonwebtoken,
            )
        })
    });
    group.finish();

    // Warm: the same token on every request (an agent's session), a new proof each time.
    let mut group = c.benchmark_group("warm");
    group.bench_function("mcp_warden", |b| {
        b.iter_custom(|iters| {
            timed_over_pool(iters, &mut proofs, || mcp_warden_warm(&inputs), mcp_warden)
        })
    });
    group.bench_function("plain_jsonwebtoken", |b| {
        b.iter_custom(|iters| {
            timed_over_pool(
                iters,
                &mut proofs,
                || PlainJsonwebtoken::new(access.clone(), false),
                plain_jsonwebtoken,
            )
        })
    });
    group.bench_function("plain_jsonwebtoken+token_cache", |b| {
        b.iter_custom(|iters| {
            timed_over_pool(
                iters,
                &mut proofs,
                || {
                    let mut plain = PlainJsonwebtoken::new(access.clone(), true);
                    let claims = access.access_token(&inputs.token).unwrap();
                    plain
                        .token_cache
                        .as_mut()
                        .unwrap()
                        .insert(inputs.token.clone(), claims);
                    plain
                },
                plain_jsonwebtoken,
            )
        })
    });
    group.finish();

    // Bearer / JWKS only: the unbound token, its signature checked on every request.
    let bearer_headers = {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {}", inputs.bearer_token)).unwrap(),
        );
        headers
    };
    let mut group = c.benchmark_group("bearer");
    let jwt_verifier = mcp_warden_jwt(&inputs, BEARER_ISSUER);
    group.bench_function("mcp_warden_jwt_verify_now", |b| {
        b.iter(|| {
            jwt_verifier
                .verify_now(black_box(&inputs.bearer_token), now())
                .unwrap()
        })
    });
    let bearer_verifier = mcp_warden_bearer(&inputs);
    group.bench_function("mcp_warden_resource_verifier", |b| {
        let request = RequestParts {
            method: "POST",
            uri: RESOURCE,
            headers: &bearer_headers,
        };
        b.iter(|| ready(bearer_verifier.verify(black_box(&request), now())).unwrap())
    });
    let decoder = axum_jwt_auth_decoder(&inputs);
    group.bench_function("axum_jwt_auth_decode", |b| {
        b.iter(|| axum_jwt_auth_decode(&decoder, black_box(&bearer_headers)).unwrap())
    });
    let bearer_access = JsonwebtokenAccess::new(&inputs.jwks_json, BEARER_ISSUER);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            bearer_access
                .access_token(black_box(&inputs.bearer_token))
                .unwrap()
        })
    });
    for (name, router) in [
        ("router_no_auth", handler_router()),
        ("router_mcp_warden_guard", mcp_warden_guard_router(&inputs)),
        ("router_axum_jose_layer", axum_jose_router(&inputs)),
        (
            "router_axum_jwt_auth_extractor",
            axum_jwt_auth_router(&inputs),
        ),
    ] {
        let token = &inputs.bearer_token;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| timed_requests(iters, &router, token))
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
