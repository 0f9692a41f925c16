//! The issuer's signing keys: one active key signs, the keys it replaced stay published in
//! the JWKS until every token they signed has expired (RFC 7517 §5; the rotation RFC 8414
//! §2 `jwks_uri` exists for), then drop out.
//!
//! Every key has a `kid` — its RFC 7638 thumbprint unless configured — so a resource server
//! picks the right key without trying each (RFC 7515 §4.1.4).

use std::sync::Arc;

use serde_json::Value;

use crate::jose::{Algorithm, JwkSet, PublicJwk, SignError, SigningKey};

/// The algorithms the issuer signs access tokens with: asymmetric, and the ones every
/// resource-server library verifies.
pub const SIGNING_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::PS256,
];

/// A key that no longer signs but is still published.
#[derive(Debug, Clone)]
pub struct RetiredKey {
    /// Its public half (with `kid`).
    pub key: Arc<PublicJwk>,
    /// When it stopped signing (Unix seconds); `None` keeps it published until it is
    /// removed from the configuration.
    pub retired_at: Option<u64>,
}

/// The active key and the retired ones.
#[derive(Debug, Clone)]
pub struct KeyRing {
    active: Arc<SigningKey>,
    /// The active key's public half, shared with every published set.
    active_public: Arc<PublicJwk>,
    retired: Vec<RetiredKey>,
}

/// Why a key ring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRingError {
    /// The active key's algorithm is not one the issuer signs with.
    #[error("{0} is not an issuer signing algorithm (ES256, EdDSA, RS256, PS256)")]
    Algorithm(&'static str),
    /// Two keys share a `kid`, so a verifier could not tell them apart.
    #[error("two keys have the kid {0:?}")]
    DuplicateKid(String),
    /// The key could not be rebuilt with its `kid`.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The key's public half could not be read back.
    #[error("the public key could not be read back: {0}")]
    Public(#[from] crate::jose::JwkError),
}

impl KeyRing {
    /// A ring signing with `active`; `retired` keys stay published. A key without `kid`
    /// gets its RFC 7638 thumbprint as `kid`.
    pub fn new(active: SigningKey, retired: Vec<RetiredKey>) -> Result<Self, KeyRingError> {
        if !SIGNING_ALGORITHMS.contains(&active.alg()) {
            return Err(KeyRingError::Algorithm(active.alg().name()));
        }
        let active = match active.public_jwk().kid() {
            Some(_) => active,
            None => {
                let kid = active.public_jwk().thumbprint().as_str().to_owned();
                active.with_kid(kid)?
            }
        };
        let mut seen = vec![active.public_jwk().kid().unwrap_or_default().to_owned()];
        for key in &retired {
            let kid = key
                .key
                .kid()
                .unwrap_or(key.key.thumbprint().as_str())
                .to_owned();
            if seen.contains(&kid) {
                return Err(KeyRingError::DuplicateKid(kid));
            }
            seen.push(kid);
        }
        let active_public = Arc::new(public_copy(active.public_jwk())?);
        Ok(KeyRing {
            active: Arc::new(active),
            active_public,
            retired,
        })
    }

    /// A freshly generated key, for the demo and tests only: tokens it signs are
    /// worthless after a restart, and replicas would each have their own.
    pub fn ephemeral(alg: Algorithm) -> Result<Self, KeyRingError> {
        Self::new(SigningKey::generate(alg)?, Vec::new())
    }

    /// The key that signs.
    pub fn active(&self) -> &Arc<SigningKey> {
        &self.active
    }

    /// The keys to publish at `now`: the active one, and each retired key until
    /// `max_token_lifetime_s` after it retired (no token it signed can still be valid).
    pub fn published(&self, now: u64, max_token_lifetime_s: u64) -> Vec<Arc<PublicJwk>> {
        let mut keys = vec![Arc::clone(&self.active_public)];
        keys.extend(
            self.retired
                .iter()
                .filter(|key| {
                    key.retired_at
                        .is_none_or(|at| now < at.saturating_add(max_token_lifetime_s))
                })
                .map(|key| Arc::clone(&key.key)),
        );
        keys
    }

    /// The published keys as a JWK Set, for verifying in process (no HTTP round trip).
    pub fn jwk_set(&self, now: u64, max_token_lifetime_s: u64) -> JwkSet {
        JwkSet::from_shared(self.published(now, max_token_lifetime_s))
    }

    /// The JWKS document served at `jwks_uri`: each key with `kid`, `use: sig` and, for
    /// the active key, its `alg` (RFC 7517 §4.2, §4.4).
    pub fn jwks_document(&self, now: u64, max_token_lifetime_s: u64) -> Value {
        let active_kid = self.active.public_jwk().kid();
        let keys = self
            .published(now, max_token_lifetime_s)
            .iter()
            .map(|key| {
                let mut json = key.to_json();
                if let Value::Object(members) = &mut json {
                    members.insert("use".into(), Value::from("sig"));
                    if key.kid().is_some() && key.kid() == active_kid {
                        members.insert("alg".into(), Value::from(self.active.alg().name()));
                    }
                }
                json
            })
            .collect();
        serde_json::json!({ "keys": Value::Array(keys) })
    }
}

/// A [`PublicJwk`] is not `Clone` (it holds parsed provider keys); its JSON round-trips.
pub(crate) fn public_copy(key: &PublicJwk) -> Result<PublicJwk, crate::jose::JwkError> {
    PublicJwk::from_json(key.to_json().to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retired(alg: Algorithm, kid: &str, retired_at: Option<u64>) -> RetiredKey {
        let key = SigningKey::generate(alg)
            .and_then(|key| key.with_kid(kid))
            .expect("a key");
        RetiredKey {
            key: Arc::new(public_copy(key.public_jwk()).expect("a public key")),
            retired_at,
        }
    }

    #[test]
    fn retired_keys_are_published_until_their_tokens_expire() -> Result<(), KeyRingError> {
        let ring = KeyRing::new(
            SigningKey::generate(Algorithm::ES256)?,
            vec![
                retired(Algorithm::ES256, "old", Some(1_000)),
                retired(Algorithm::RS256, "kept", None),
            ],
        )?;
        let kid = ring.active().public_jwk().kid().map(str::to_owned);
        assert_eq!(
            kid.as_deref(),
            Some(ring.active().public_jwk().thumbprint().as_str()),
            "a key without kid is named by its thumbprint"
        );
        let kids = |now| {
            ring.published(now, 300)
                .iter()
                .map(|key| key.kid().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(kids(1_299).len(), 3);
        assert_eq!(
            kids(1_300),
            [kid.clone().unwrap_or_default(), "kept".into()]
        );
        let document = ring.jwks_document(1_300, 300);
        assert_eq!(document["keys"][0]["alg"], "ES256");
        assert_eq!(document["keys"][0]["use"], "sig");
        assert!(document["keys"][1].get("alg").is_none());
        assert!(
            document.to_string().find("\"d\"").is_none(),
            "no private member"
        );
        Ok(())
    }

    #[test]
    fn bad_rings_are_refused() -> Result<(), KeyRingError> {
        assert_eq!(
            KeyRing::new(SigningKey::generate(Algorithm::ES384)?, Vec::new()).unwrap_err(),
            KeyRingError::Algorithm("ES384")
        );
        let active = SigningKey::generate(Algorithm::ES256)?.with_kid("k")?;
        assert_eq!(
            KeyRing::new(active, vec![retired(Algorithm::ES256, "k", None)]).unwrap_err(),
            KeyRingError::DuplicateKid("k".into())
        );
        Ok(())
    }
}
