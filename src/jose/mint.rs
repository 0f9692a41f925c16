//! Minting JWTs: the one place that gives a signed token its `jti`, `iat` and `exp`
//! (RFC 7519 §4.1.4, §4.1.6, §4.1.7), so DPoP proofs, client assertions, identity assertions
//! and issued access tokens cannot drift apart in how they do it.

use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

use super::b64;
use super::error::SignError;
use super::json::Object;
use super::sign::SigningKey;

/// Signs JWTs with one key and one protected header, adding the registered time and
/// identity claims to each.
///
/// The header is fixed when the minter is built — `typ`, and the key's `kid` (or the whole
/// public key for a DPoP proof, RFC 9449 §4.2) — and `alg` always comes from the key.
///
/// ```
/// use std::sync::Arc;
/// use mcp_warden::jose::{Algorithm, AlgorithmSet, JwtMinter, Lifetime, SigningKey, UnverifiedJws};
///
/// let key = Arc::new(SigningKey::generate(Algorithm::ES256)?.with_kid("k1")?);
/// let minter = JwtMinter::new(key.clone(), "at+jwt");
/// let mut claims = serde_json::Map::new();
/// claims.insert("sub".into(), "agent-7".into());
/// let token = minter.mint(claims, Lifetime::expiring(1_764_288_000, 300))?;
///
/// let jws = UnverifiedJws::parse(&token, 8192, AlgorithmSet::ALL).unwrap();
/// assert_eq!(jws.header()["kid"], "k1");
/// assert_eq!(jws.payload()["exp"], 1_764_288_300_u64);
/// assert_eq!(jws.payload()["jti"].as_str().map(str::len), Some(22));
/// # Ok::<(), mcp_warden::jose::SignError>(())
/// ```
#[derive(Debug, Clone)]
pub struct JwtMinter {
    key: Arc<SigningKey>,
    /// The protected header, encoded once (serializing a JSON object cannot fail in
    /// practice; if it ever did, every mint fails with that error).
    encoded_header: Result<String, SignError>,
}

/// When a minted JWT is issued and for how long it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// `iat`, Unix seconds.
    pub issued_at: u64,
    /// Seconds from `iat` to `exp`; `None` writes no `exp` (a DPoP proof, whose lifetime
    /// the verifier sets from `iat`, RFC 9449 §4.3 step 11).
    pub lifetime_s: Option<u64>,
}

impl Lifetime {
    /// Issued at `issued_at`, expiring `lifetime_s` later.
    pub fn expiring(issued_at: u64, lifetime_s: u64) -> Self {
        Lifetime {
            issued_at,
            lifetime_s: Some(lifetime_s),
        }
    }

    /// Issued at `issued_at`, with no `exp`.
    pub fn unbounded(issued_at: u64) -> Self {
        Lifetime {
            issued_at,
            lifetime_s: None,
        }
    }
}

impl JwtMinter {
    /// A minter whose header names `typ` and the key's `kid`, if it has one: what a
    /// verifier holding the key set needs to pick the key.
    pub fn new(key: Arc<SigningKey>, typ: &str) -> Self {
        let mut header = Object::new();
        header.insert("typ".into(), Value::String(typ.into()));
        if let Some(kid) = key.public_jwk().kid() {
            header.insert("kid".into(), Value::String(kid.into()));
        }
        JwtMinter::with_header(key, header)
    }

    /// A minter whose header carries the public key itself (`jwk`) instead of a `kid`:
    /// a DPoP proof is checked against the key it presents (RFC 9449 §4.2).
    pub fn with_embedded_key(key: Arc<SigningKey>, typ: &str) -> Self {
        let mut header = Object::new();
        header.insert("typ".into(), Value::String(typ.into()));
        header.insert(
            "jwk".into(),
            Value::Object(key.public_jwk().public_members()),
        );
        JwtMinter::with_header(key, header)
    }

    /// The header is the same for every token of this minter, so it is serialized and
    /// encoded once here rather than at each mint (for a DPoP proof, whose header holds the
    /// whole public key, that is a tenth of the cost of a proof).
    fn with_header(key: Arc<SigningKey>, header: Object) -> Self {
        let encoded_header = key.encode_header(&header);
        JwtMinter {
            key,
            encoded_header,
        }
    }

    /// The signing key.
    pub fn key(&self) -> &Arc<SigningKey> {
        &self.key
    }

    /// Signs `claims` with `iat` and, if the lifetime has one, `exp` set from `lifetime`,
    /// and a random 128-bit `jti` unless `claims` already holds one. Those registered
    /// claims always come from here: any `iat` or `exp` in `claims` is replaced.
    pub fn mint(&self, mut claims: Object, lifetime: Lifetime) -> Result<String, SignError> {
        if !claims.contains_key("jti") {
            claims.insert("jti".into(), Value::String(random_jti()?));
        }
        claims.insert("iat".into(), Value::from(lifetime.issued_at));
        match lifetime.lifetime_s {
            Some(seconds) => {
                claims.insert(
                    "exp".into(),
                    Value::from(lifetime.issued_at.saturating_add(seconds)),
                );
            }
            None => {
                claims.remove("exp");
            }
        }
        let header = self.encoded_header.as_ref().map_err(Clone::clone)?;
        self.key.sign_with_encoded_header(header, &claims)
    }
}

/// A random 128-bit `jti`, base64url: RFC 7519 §4.1.7 asks that a collision be negligible,
/// and RFC 9449 §4.2 that a proof's `jti` be unguessable.
pub fn random_jti() -> Result<String, SignError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SignError::Provider)?;
    Ok(b64::encode(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{Algorithm, AlgorithmSet, UnverifiedJws};

    fn parse(token: &str) -> (Object, Object) {
        let jws = UnverifiedJws::parse(token, 16 * 1024, AlgorithmSet::ALL).expect("a JWS");
        (jws.header().clone(), jws.payload().clone())
    }

    #[test]
    fn registered_claims_come_from_the_minter() -> Result<(), SignError> {
        let key = Arc::new(SigningKey::generate(Algorithm::ES256)?);
        let minter = JwtMinter::new(key, "JWT");
        let mut claims = Object::new();
        claims.insert("iat".into(), Value::from(1));
        claims.insert("exp".into(), Value::from(u64::MAX));
        let (header, payload) = parse(&minter.mint(claims, Lifetime::expiring(1000, 60))?);
        assert_eq!(header.get("kid"), None, "a key without kid names none");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(payload["iat"], 1000);
        assert_eq!(payload["exp"], 1060);
        Ok(())
    }

    #[test]
    fn unbounded_lifetime_writes_no_exp_and_a_given_jti_is_kept() -> Result<(), SignError> {
        let key = Arc::new(SigningKey::generate(Algorithm::EdDSA)?);
        let minter = JwtMinter::with_embedded_key(key.clone(), "dpop+jwt");
        let mut claims = Object::new();
        claims.insert("jti".into(), Value::from("fixed"));
        claims.insert("exp".into(), Value::from(5));
        let (header, payload) = parse(&minter.mint(claims, Lifetime::unbounded(7))?);
        assert_eq!(
            header["jwk"],
            Value::Object(key.public_jwk().public_members())
        );
        assert_eq!(payload["jti"], "fixed");
        assert_eq!(payload.get("exp"), None);
        Ok(())
    }

    #[test]
    fn random_jtis_differ() -> Result<(), SignError> {
        assert_ne!(random_jti()?, random_jti()?);
        Ok(())
    }
}
