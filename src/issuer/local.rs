//! The issuer's own keys as a [`KeySource`], for a resource server in the same process
//! (`mcp-warden serve` with the guard and the issuer): its tokens are verified against the
//! key ring the issuer signs with, with no HTTP round trip to its own `jwks_uri` and no
//! window in which a rotated key is not yet fetched.
//!
//! The set is the one the issuer publishes at `now` (the active key and the retired ones
//! whose tokens may still be valid, RFC 7517 §5), so trusting in process accepts exactly
//! what trusting by discovery would.

use std::sync::Arc;

use crate::clock::Clock;
use crate::jose::JwkSet;
use crate::jwks::{KeySource, KeysFuture, Refresh};

use super::endpoint::TokenEndpoint;

/// The keys a [`TokenEndpoint`] publishes, read in process.
#[derive(Clone)]
pub struct LocalKeys {
    endpoint: TokenEndpoint,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeys")
            .field("issuer", &self.endpoint.issuer())
            .finish_non_exhaustive()
    }
}

impl LocalKeys {
    /// `endpoint`'s published keys, as of `clock`'s now (which decides when a retired key
    /// stops being published).
    pub fn new(endpoint: TokenEndpoint, clock: Arc<dyn Clock>) -> Self {
        LocalKeys { endpoint, clock }
    }

    /// The issuer identifier these keys sign for.
    pub fn issuer(&self) -> &str {
        self.endpoint.issuer()
    }

    fn published(&self) -> Arc<JwkSet> {
        Arc::new(self.endpoint.published_keys(self.clock.now()))
    }
}

impl KeySource for LocalKeys {
    fn current(&self) -> Option<Arc<JwkSet>> {
        Some(self.published())
    }

    /// Never fetches: the ring is already the newest. An unknown `kid` is a key this
    /// issuer never had (or no longer publishes), and the verifier refuses it.
    fn refresh<'a>(&'a self, _reason: Refresh<'a>) -> KeysFuture<'a> {
        Box::pin(std::future::ready(Ok(self.published())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dpop::ProofValidator;
    use crate::issuer::{
        IssuerFacts, KeyRing, Policy, PolicyDocument, PolicyLimits, RetiredKey, WorkloadIssuers,
    };
    use crate::jose::{Algorithm, SigningKey};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A clock the test moves.
    struct TestClock(AtomicU64);

    impl Clock for TestClock {
        fn now(&self) -> u64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    fn endpoint(keys: KeyRing) -> TokenEndpoint {
        let document: PolicyDocument = serde_json::from_value(serde_json::json!({
            "resources": [{"name": "tools", "uri": "https://mcp.example/mcp", "scopes": ["tools:call"]}],
            "rules": [{"name": "r", "issuer": "k8s", "subject": "system:serviceaccount:a:b",
                       "grants": [{"resource": "tools", "scopes": ["tools:call"]}]}],
        }))
        .expect("a policy document");
        let facts = [IssuerFacts {
            name: "k8s".into(),
            tenant_claims: vec![],
        }];
        let policy = Policy::compile(&document, &facts, PolicyLimits::default()).expect("policy");
        TokenEndpoint::builder(
            "https://issuer.example",
            WorkloadIssuers::default(),
            policy,
            keys,
        )
        .proofs(ProofValidator::builder().build())
        .max_token_lifetime_s(300)
        .build()
        .expect("a valid endpoint")
    }

    fn kids(set: &JwkSet) -> Vec<String> {
        set.keys()
            .iter()
            .map(|key| key.kid().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn follows_rotation_and_drops_retired_keys_when_their_tokens_expired() {
        let first = SigningKey::generate(Algorithm::ES256)
            .and_then(|key| key.with_kid("k1"))
            .expect("key");
        let second = SigningKey::generate(Algorithm::ES256)
            .and_then(|key| key.with_kid("k2"))
            .expect("key");
        let first_public = crate::issuer::public_copy(first.public_jwk()).expect("public");
        let endpoint = endpoint(KeyRing::new(first, Vec::new()).expect("ring"));
        let clock = Arc::new(TestClock(AtomicU64::new(1_000)));
        let local = LocalKeys::new(endpoint.clone(), clock.clone());
        assert_eq!(kids(&local.current().expect("keys")), ["k1"]);

        let retired = RetiredKey {
            key: Arc::new(first_public),
            retired_at: Some(1_000),
        };
        endpoint.replace_keys(KeyRing::new(second, vec![retired]).expect("ring"));
        assert_eq!(kids(&local.current().expect("keys")), ["k2", "k1"]);

        clock.0.store(1_000 + 300, Ordering::Relaxed);
        assert_eq!(kids(&local.current().expect("keys")), ["k2"]);
    }
}
