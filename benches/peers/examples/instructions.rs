//! Instructions per validation for one contender, counted by callgrind: figures that a noisy
//! neighbour cannot move, to back the criterion timings (which drift by a few per cent
//! between runs on a shared machine, as much as the Bearer contenders differ).
//!
//! ```sh
//! cd benches/peers
//! cargo build --profile bench --example instructions
//! valgrind --tool=callgrind --toggle-collect='*measured*' --callgrind-out-file=/dev/null \
//!     target/release/examples/instructions cold/mcp_warden 1000
//! # "Collected : N" ÷ 1000 = instructions per validation
//! ```
//!
//! Only `measured` (and what it calls) is counted: the set-up, the signing of the proofs
//! and the building of requests are not. One contender, one pool of distinct proofs, no
//! rebuild: `n` must not exceed the pool. The contender names are the benchmark's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A measurement tool: a panic is a bug report.

use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use axum::Router;
use axum::body::Body;
use http::{HeaderMap, HeaderValue, Request};
use mcp_warden::guard::RequestParts;
use mcp_warden_peers::*;

/// Runs `run` once per request; the only function callgrind counts.
#[inline(never)]
fn measured<V, T>(
    contender: &mut V,
    requests: &[HeaderMap],
    mut run: impl FnMut(&mut V, &HeaderMap) -> Result<T, Refused>,
) {
    for request in requests {
        black_box(run(contender, black_box(request)).unwrap());
    }
}

#[inline(never)]
fn measured_requests(router: &Router, requests: Vec<Request<Body>>) {
    for request in requests {
        through(router, black_box(request));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args
        .next()
        .expect("usage: instructions <group/contender> <n>");
    let n: usize = args.next().map_or(1000, |n| n.parse().unwrap());
    assert!(n <= POOL, "at most {POOL} distinct proofs");

    install_jsonwebtoken10_provider();
    let (inputs, proofs) = inputs();
    let access = Arc::new(JsonwebtokenAccess::new(&inputs.jwks_json, ISSUER));
    let requests = &proofs.requests[..n];
    let bearer = {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Bearer {}", inputs.bearer_token)).unwrap();
        headers.insert(http::header::AUTHORIZATION, value);
        vec![headers; n]
    };
    let bearer_requests = || {
        (0..n)
            .map(|_| bearer_request(&inputs.bearer_token))
            .collect()
    };

    match name.as_str() {
        "baseline/bare_verify_x1" => {
            let first = proofs.requests[0]["dpop"].to_str().unwrap();
            let (input, signature) = signed_parts(first);
            let key =
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_point(proofs.signer.key()))
                    .unwrap();
            measured(&mut (), requests, |(), _| {
                key.verify_sig(black_box(&input), black_box(&signature))
                    .map_err(|_| Refused("signature".into()))
            });
        }
        "cold/mcp_warden" => measured(&mut mcp_warden_cold(&inputs), requests, mcp_warden),
        "warm/mcp_warden" => measured(&mut mcp_warden_warm(&inputs), requests, mcp_warden),
        "cold/dpop_verifier+jsonwebtoken" => measured(
            &mut DpopVerifierContender {
                verifier: dpop_verifier::DpopVerifier::new(),
                store: DpopVerifierStore::default(),
                access,
            },
            requests,
            dpop_verifier,
        ),
        "cold/turbomcp_dpop+jsonwebtoken" => {
            let keys = Arc::new(ready(turbomcp_dpop::DpopKeyManager::new_memory()).unwrap());
            measured(
                &mut TurbomcpContender {
                    generator: turbomcp_dpop::DpopProofGenerator::new(keys),
                    access,
                },
                requests,
                turbomcp_dpop,
            )
        }
        "cold/plain_jsonwebtoken" => measured(
            &mut PlainJsonwebtoken::new(access, false),
            requests,
            plain_jsonwebtoken,
        ),
        "warm/plain_jsonwebtoken+token_cache" => {
            let mut plain = PlainJsonwebtoken::new(access.clone(), true);
            let claims = access.access_token(&inputs.token).unwrap();
            plain
                .token_cache
                .as_mut()
                .unwrap()
                .insert(inputs.token.clone(), claims);
            measured(&mut plain, requests, plain_jsonwebtoken)
        }
        "bearer/mcp_warden_jwt_verify_now" => {
            let verifier = mcp_warden_jwt(&inputs, BEARER_ISSUER);
            measured(&mut (), &bearer, |(), _| {
                verifier
                    .verify_now(&inputs.bearer_token, now())
                    .map_err(|error| Refused(error.to_string()))
            })
        }
        "bearer/mcp_warden_resource_verifier" => {
            let verifier = mcp_warden_bearer(&inputs);
            measured(&mut (), &bearer, |(), headers| {
                let request = RequestParts {
                    method: "POST",
                    uri: RESOURCE,
                    headers,
                };
                ready(verifier.verify(&request, now()))
                    .map_err(|refusal| Refused(format!("{refusal:?}")))
            })
        }
        "bearer/axum_jwt_auth_decode" => {
            let decoder = axum_jwt_auth_decoder(&inputs);
            measured(&mut (), &bearer, |(), headers| {
                axum_jwt_auth_decode(&decoder, headers)
            })
        }
        "bearer/jsonwebtoken_decode" => {
            let access = JsonwebtokenAccess::new(&inputs.jwks_json, BEARER_ISSUER);
            measured(&mut (), &bearer, |(), _| {
                access.access_token(&inputs.bearer_token)
            })
        }
        "bearer/router_no_auth" => measured_requests(&handler_router(), bearer_requests()),
        "bearer/router_mcp_warden_guard" => {
            measured_requests(&mcp_warden_guard_router(&inputs), bearer_requests())
        }
        "bearer/router_axum_jose_layer" => {
            measured_requests(&axum_jose_router(&inputs), bearer_requests())
        }
        "bearer/router_axum_jwt_auth_extractor" => {
            measured_requests(&axum_jwt_auth_router(&inputs), bearer_requests())
        }
        other => panic!("unknown contender {other}"),
    }
}
