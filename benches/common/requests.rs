//! The requests both `benches/validation.rs` and `examples/callgrind.rs` validate, built the
//! same way so that a criterion time and an instruction count describe the same work: an
//! ES256 issuer key, one DPoP-bound access token, and distinct pre-signed proofs.
//! Included with `#[path]`; each user takes what it needs.

#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use http::{HeaderMap, HeaderValue};
use mcp_warden::dpop::ProofSigner;
use mcp_warden::jose::{Algorithm, AlgorithmSet, JwkSet, SigningKey, base64url_decode};
use mcp_warden::token::{JwtVerifier, TrustedIssuer};
use serde_json::json;

pub(crate) const NOW: u64 = 1_764_288_000;
pub(crate) const RESOURCE: &str = "https://mcp.example.com/mcp";

/// The futures under test complete without waiting (in-memory keys and replay store), so
/// one poll with a no-op waker runs them, with no runtime in the figures.
pub(crate) fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the measured future must not wait"),
    }
}

pub(crate) struct Setup {
    pub token: String,
    pub proofs: Vec<String>,
    pub issuer_key: SigningKey,
    pub verifier_keys: JwkSet,
    pub signer: ProofSigner,
}

/// Fresh keys, the token, and `count` distinct proofs for `POST RESOURCE`.
pub(crate) fn setup(count: usize) -> Setup {
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
    let proofs = (0..count)
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

pub(crate) fn jwt_verifier(setup: &Setup) -> JwtVerifier {
    JwtVerifier::builder(RESOURCE)
        .issuer(
            TrustedIssuer::new("https://as.example.com", setup.verifier_keys.clone())
                .algorithms(AlgorithmSet::EMPTY.with(Algorithm::ES256)),
        )
        .build()
}

/// Splits a compact JWS into (signing input, signature bytes).
pub(crate) fn signed_parts(compact: &str) -> (Vec<u8>, Vec<u8>) {
    let dot = compact.rfind('.').unwrap();
    (
        compact.as_bytes()[..dot].to_vec(),
        base64url_decode(&compact[dot + 1..]).unwrap(),
    )
}

/// The key as aws-lc-rs parses it once, for the bare-verify baseline.
pub(crate) fn raw_key(key: &SigningKey) -> ParsedPublicKey {
    let members = key.public_jwk().public_members();
    let coordinate = |name: &str| base64url_decode(members[name].as_str().unwrap()).unwrap();
    let mut point = vec![0x04];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).unwrap()
}

/// One header map per proof: `Authorization: DPoP <token>` and that proof, as a client
/// sends them.
pub(crate) fn dpop_requests(setup: &Setup) -> Vec<HeaderMap> {
    let authorization = HeaderValue::from_str(&format!("DPoP {}", setup.token)).unwrap();
    setup
        .proofs
        .iter()
        .map(|proof| {
            let mut headers = HeaderMap::new();
            headers.insert(http::header::AUTHORIZATION, authorization.clone());
            headers.insert("dpop", HeaderValue::from_str(proof).unwrap());
            headers
        })
        .collect()
}
