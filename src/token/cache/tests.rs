use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

use super::*;
use crate::jose::{Algorithm, JwkSet, SigningKey};
use crate::token::{JwtVerifier, TokenError, TrustedIssuer};

const RESOURCE: &str = "https://mcp.example.com/mcp";
const NOW: u64 = 1_764_288_000;

/// Counts how often the inner verifier really runs.
struct Counting {
    inner: JwtVerifier,
    calls: Arc<AtomicUsize>,
}

impl TokenVerifier for Counting {
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> TokenFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(token, now)
    }
}

fn setup() -> (SigningKey, CachingVerifier, Arc<AtomicUsize>) {
    let key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("k")
        .unwrap();
    let keys = JwkSet::from_json(
        json!({"keys": [key.public_jwk().to_json()]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let jwt = JwtVerifier::builder(RESOURCE)
        .issuer(TrustedIssuer::new("https://as.example.com", keys))
        .build();
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = CachingVerifier::new(Counting {
        inner: jwt,
        calls: calls.clone(),
    })
    .max_ttl_s(60);
    (key, cache, calls)
}

fn token(key: &SigningKey, exp: u64, sub: &str) -> String {
    key.sign_compact(
        json!({"kid": "k"}).as_object().unwrap(),
        json!({"iss": "https://as.example.com", "aud": RESOURCE, "sub": sub, "exp": exp})
            .as_object()
            .unwrap(),
    )
    .unwrap()
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn a_repeated_token_is_verified_once() {
    let (key, cache, calls) = setup();
    let token = token(&key, NOW + 600, "a");
    for _ in 0..10 {
        assert_eq!(run(cache.verify(&token, NOW)).unwrap().subject(), Some("a"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.len(), 1);
}

#[test]
fn the_presented_digest_and_the_plain_token_share_one_entry() {
    // The guard primes nothing itself: a token first seen through `verify` (an embedding
    // application, a benchmark's warm-up) must be a hit for the guard's
    // `verify_presented`, and the other way round.
    let (key, cache, calls) = setup();
    let first = token(&key, NOW + 600, "a");
    run(cache.verify(&first, NOW)).unwrap();
    let hit = run(cache.verify_presented(crate::token::PresentedToken::new(&first), NOW));
    assert_eq!(hit.unwrap().subject(), Some("a"));
    let second = token(&key, NOW + 600, "b");
    run(cache.verify_presented(crate::token::PresentedToken::new(&second), NOW)).unwrap();
    run(cache.verify(&second, NOW)).unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "one verification per token"
    );
    assert_eq!(cache.len(), 2);
}

#[test]
fn a_cached_token_still_expires_and_the_ttl_bounds_reuse() {
    let (key, cache, calls) = setup();
    let short = token(&key, NOW + 5, "short");
    run(cache.verify(&short, NOW)).unwrap();
    assert!(matches!(
        run(cache.verify(&short, NOW + 5)),
        Err(TokenError::Expired { .. })
    ));
    let long = token(&key, NOW + 6_000, "long");
    run(cache.verify(&long, NOW)).unwrap();
    run(cache.verify(&long, NOW + 59)).unwrap();
    let before = calls.load(Ordering::SeqCst);
    run(cache.verify(&long, NOW + 60)).unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        before + 1,
        "max_ttl_s reached: verified again"
    );
}

#[test]
fn failures_are_not_cached_and_other_tokens_are_not_hits() {
    let (key, cache, calls) = setup();
    let valid = token(&key, NOW + 600, "a");
    let mut forged = valid.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    run(cache.verify(&valid, NOW)).unwrap();
    for _ in 0..3 {
        assert!(run(cache.verify(&forged, NOW)).is_err());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(cache.len(), 1);
}

#[test]
fn the_cache_is_bounded() {
    let (key, cache, _calls) = setup();
    let cache = cache.max_entries(32);
    for n in 0..500 {
        run(cache.verify(&token(&key, NOW + 600, &format!("s{n}")), NOW)).unwrap();
    }
    assert!(cache.len() <= 32, "{} entries", cache.len());
}
