//! Parsed public keys remembered by their key material: a DPoP client signs every proof
//! with the same key, so the point validation and provider key setup of RFC 9449 §4.3
//! step 7 need to happen once per client, not once per request.
//!
//! Only a `jwk` made of exactly the RFC 7638 required members (`kty`, `crv`, `x`, `y` for
//! EC; `kty`, `crv`, `x` for OKP; `kty`, `n`, `e` for RSA) is cached: such a key is fully
//! described by those strings, so a hit is exactly the key a fresh parse would give. Any
//! other `jwk` (with `kid`, `alg`, `use`, `key_ops`, private members, …) is parsed every
//! time, by the same strict parser. The cache is bounded; a flood of new keys only costs
//! what parsing costs anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;

use super::error::JwkError;
use super::json::Object;
use super::jwk::PublicJwk;

const SHARDS: usize = 8;

/// One shard: key material → parsed key.
type Shard = Mutex<HashMap<String, Arc<PublicJwk>>>;

/// A bounded cache of parsed public keys.
pub struct JwkCache {
    shards: Box<[Shard]>,
    per_shard: usize,
}

impl std::fmt::Debug for JwkCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwkCache")
            .field("capacity", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

impl Default for JwkCache {
    fn default() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }
}

impl JwkCache {
    /// Default number of keys remembered.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A cache of at most `capacity` keys.
    pub fn with_capacity(capacity: usize) -> Self {
        JwkCache {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (capacity / SHARDS).max(1),
        }
    }

    /// The parsed key for `object`: remembered when the object holds exactly the
    /// required members, parsed (strictly, as [`PublicJwk::from_object`]) otherwise.
    pub fn get_or_parse(&self, object: &Object) -> Result<Arc<PublicJwk>, JwkError> {
        let Some(material) = material_key(object) else {
            return PublicJwk::from_object(object).map(Arc::new);
        };
        let shard = &self.shards[shard_of(&material)];
        if let Some(hit) = lock(shard).get(&material) {
            return Ok(hit.clone());
        }
        let parsed = Arc::new(PublicJwk::from_object(object)?);
        let mut map = lock(shard);
        // Bounded by clearing: a simple rule whose worst case (keys churning) costs only
        // the parses a cache-less validator would do anyway.
        if map.len() >= self.per_shard {
            map.clear();
        }
        map.insert(material, parsed.clone());
        Ok(parsed)
    }
}

fn lock(shard: &Shard) -> std::sync::MutexGuard<'_, HashMap<String, Arc<PublicJwk>>> {
    // A panic under the lock leaves at worst a missing entry.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

fn shard_of(material: &str) -> usize {
    // The last characters are base64url of key bytes: spread enough for a shard choice.
    material.bytes().rev().take(4).fold(0usize, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(usize::from(b))
    }) % SHARDS
}

/// The key material of a required-members-only JWK, as one unambiguous string
/// (members joined by `|`, which base64url and the `kty`/`crv` names never contain).
fn material_key(object: &Object) -> Option<String> {
    let text = |name: &str| match object.get(name) {
        Some(Value::String(value)) if !value.contains('|') => Some(value.as_str()),
        _ => None,
    };
    let kty = text("kty")?;
    let members: &[&str] = match kty {
        "EC" => &["crv", "x", "y"],
        "OKP" => &["crv", "x"],
        "RSA" => &["n", "e"],
        _ => return None,
    };
    if object.len() != members.len() + 1 {
        return None;
    }
    let mut key = String::with_capacity(256);
    key.push_str(kty);
    for member in members {
        key.push('|');
        key.push_str(text(member)?);
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{Algorithm, SigningKey};

    #[test]
    fn a_bare_key_is_parsed_once_and_extras_are_parsed_every_time() {
        let cache = JwkCache::with_capacity(64);
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let bare = key.public_jwk().public_members();
        let first = cache.get_or_parse(&bare).unwrap();
        let second = cache.get_or_parse(&bare).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(first.thumbprint(), key.public_jwk().thumbprint());

        let mut with_alg = bare.clone();
        with_alg.insert("alg".into(), "ES384".into());
        // Not cached, so the contradiction is still found.
        assert_eq!(
            cache.get_or_parse(&with_alg).unwrap_err(),
            JwkError::AlgMismatch
        );
        let mut with_d = bare.clone();
        with_d.insert("d".into(), "AAAA".into());
        assert!(matches!(
            cache.get_or_parse(&with_d),
            Err(JwkError::PrivateMember { name: "d" })
        ));
    }

    #[test]
    fn a_bad_key_is_never_remembered_and_the_cache_is_bounded() {
        let cache = JwkCache::with_capacity(16);
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let mut off_curve = key.public_jwk().public_members();
        off_curve.insert(
            "y".into(),
            "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDE".into(),
        );
        for _ in 0..2 {
            assert_eq!(
                cache.get_or_parse(&off_curve).unwrap_err(),
                JwkError::InvalidKey
            );
        }
        for _ in 0..100 {
            let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
            cache
                .get_or_parse(&key.public_jwk().public_members())
                .unwrap();
        }
        let held: usize = cache.shards.iter().map(|shard| lock(shard).len()).sum();
        assert!(held <= 16, "{held}");
    }
}
