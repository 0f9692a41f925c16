//! A whole request check (`ResourceVerifier::verify`) with arbitrary `Authorization`,
//! `DPoP`, method and URI against a fixed issuer key: refused or accepted, never a panic,
//! and never accepted (no input can carry a valid signature by the fixed key).
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use mcp_warden::guard::{DpopMode, RequestParts, ResourceVerifier};
use mcp_warden::jose::{Algorithm, JwkSet, SigningKey};
use mcp_warden::token::{AccessTokenVerifier, JwtVerifier, TrustedIssuer};

const RESOURCE: &str = "https://mcp.example.com/mcp";

#[derive(Debug, Arbitrary)]
struct Input {
    authorization: Vec<Vec<u8>>,
    dpop: Vec<Vec<u8>>,
    method: String,
    uri: String,
    mixed: bool,
}

static VERIFIERS: LazyLock<[ResourceVerifier; 2]> = LazyLock::new(|| {
    let key = SigningKey::generate(Algorithm::ES256)
        .and_then(|key| key.with_kid("k"))
        .expect("a key");
    let keys = format!(r#"{{"keys": [{}]}}"#, key.public_jwk().to_json());
    let keys = JwkSet::from_json(keys.as_bytes()).expect("a key set");
    [DpopMode::Required, DpopMode::Mixed].map(|mode| {
        let jwt = JwtVerifier::builder(RESOURCE)
            .issuer(TrustedIssuer::new("https://as.example.com", keys.clone()))
            .build();
        ResourceVerifier::builder()
            .mode(mode)
            .tokens(AccessTokenVerifier::new().jwt(jwt))
            .build()
    })
});

fn ready<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

fuzz_target!(|input: Input| {
    let mut headers = HeaderMap::new();
    for value in input.authorization.iter().take(3) {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(http::header::AUTHORIZATION, value);
        }
    }
    for value in input.dpop.iter().take(3) {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append("dpop", value);
        }
    }
    let request = RequestParts {
        method: &input.method,
        uri: &input.uri,
        headers: &headers,
    };
    let verifier = &VERIFIERS[usize::from(input.mixed)];
    // In-memory keys and replay store: the check completes without waiting.
    let outcome = ready(verifier.verify(&request, 1_764_288_000)).expect("no waiting");
    assert!(outcome.is_err(), "accepted a request nobody could have signed");
});
