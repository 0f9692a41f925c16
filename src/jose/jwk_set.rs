//! JWK Sets (RFC 7517 §5): the keys an issuer publishes.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::alg::Algorithm;
use super::json;
use super::jwk::PublicJwk;

/// A set holds at most this many usable keys; real issuers publish a handful.
pub const MAX_KEYS: usize = 64;

/// Keys tried for a token without `kid` (many issuers omit it): bounded so that a key set
/// cannot multiply the cost of one forged token.
pub const MAX_KIDLESS_CANDIDATES: usize = 4;

/// Why a JWK Set document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwkSetError {
    /// Not a strict JSON object.
    #[error("JWK Set: {0}")]
    Json(json::JsonError),
    /// No `keys` array (RFC 7517 §5.1).
    #[error("JWK Set has no keys array")]
    MissingKeys,
    /// More than [`MAX_KEYS`] entries.
    #[error("JWK Set has {count} keys, more than {max}")]
    TooManyKeys {
        /// Entries found.
        count: usize,
        /// The cap.
        max: usize,
    },
}

/// The usable signature keys of a JWK Set.
///
/// Entries this library cannot use (encryption keys, symmetric keys, unknown `kty`) are
/// skipped as RFC 7517 §5 asks, and counted, so that a set with one odd key still works.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    keys: Vec<Arc<PublicJwk>>,
    skipped: usize,
}

impl JwkSet {
    /// Parses a JWK Set document.
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwkSetError> {
        Self::parse(bytes, |key| Some(Cow::Borrowed(key)))
    }

    /// Parses a SPIFFE trust bundle (SPIFFE Trust Domain and Bundle §4): a JWK Set whose
    /// JWT-SVID authorities carry `use: jwt-svid` instead of RFC 7517's `sig`. Those keys are
    /// read as signature keys; every other entry (`x509-svid` authorities, keys without the
    /// SPIFFE `use`) is skipped, so an X.509 authority can never verify a JWT.
    ///
    /// ```
    /// use mcp_warden::jose::JwkSet;
    ///
    /// let bundle = br#"{"keys": [{"use": "jwt-svid", "kty": "EC", "crv": "P-256", "kid": "a",
    ///     "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    ///     "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}]}"#;
    /// let set = JwkSet::from_spiffe_bundle(bundle).unwrap();
    /// assert_eq!(set.keys().len(), 1);
    /// assert!(JwkSet::from_json(bundle).unwrap().is_empty(), "not an RFC 7517 `use`");
    /// ```
    pub fn from_spiffe_bundle(bytes: &[u8]) -> Result<Self, JwkSetError> {
        Self::parse(bytes, |key| {
            if key.get("use").and_then(Value::as_str) != Some("jwt-svid") {
                return None;
            }
            let mut key = key.clone();
            key.remove("use");
            Some(Cow::Owned(key))
        })
    }

    fn parse(
        bytes: &[u8],
        adapt: impl Fn(&json::Object) -> Option<Cow<'_, json::Object>>,
    ) -> Result<Self, JwkSetError> {
        let object = json::parse_object(bytes).map_err(JwkSetError::Json)?;
        let Some(Value::Array(entries)) = object.get("keys") else {
            return Err(JwkSetError::MissingKeys);
        };
        if entries.len() > MAX_KEYS {
            return Err(JwkSetError::TooManyKeys {
                count: entries.len(),
                max: MAX_KEYS,
            });
        }
        let mut set = JwkSet::default();
        for entry in entries {
            match entry {
                Value::Object(key) => match adapt(key).map(|key| PublicJwk::from_object(&key)) {
                    Some(Ok(jwk)) => set.keys.push(Arc::new(jwk)),
                    Some(Err(_)) | None => set.skipped += 1,
                },
                _ => set.skipped += 1,
            }
        }
        Ok(set)
    }

    /// A set of the given keys.
    pub fn from_keys(keys: impl IntoIterator<Item = PublicJwk>) -> Self {
        JwkSet {
            keys: keys.into_iter().map(Arc::new).collect(),
            skipped: 0,
        }
    }

    /// A set of keys shared with other sets (an issuer publishing its active key and the
    /// ones it replaced).
    pub fn from_shared(keys: Vec<Arc<PublicJwk>>) -> Self {
        JwkSet { keys, skipped: 0 }
    }

    /// The usable keys.
    pub fn keys(&self) -> &[Arc<PublicJwk>] {
        &self.keys
    }

    /// How many entries were skipped as unusable.
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Whether the set has no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys that may verify a JWS with this `kid` and `alg`: the keys with that `kid`
    /// if there is one (RFC 7515 §4.1.4), otherwise at most [`MAX_KIDLESS_CANDIDATES`] keys
    /// that support `alg`.
    pub fn candidates<'a>(
        &'a self,
        kid: Option<&'a str>,
        alg: Algorithm,
    ) -> impl Iterator<Item = &'a PublicJwk> + 'a {
        let limit = if kid.is_some() {
            MAX_KEYS
        } else {
            MAX_KIDLESS_CANDIDATES
        };
        self.keys
            .iter()
            .map(|key| key.as_ref())
            .filter(move |key| key.supports(alg) && (kid.is_none() || key.kid() == kid))
            .take(limit)
    }

    /// The set as a JWK Set document.
    pub fn to_json(&self) -> Value {
        Value::Object(
            [(
                "keys".to_owned(),
                Value::Array(self.keys.iter().map(|key| key.to_json()).collect()),
            )]
            .into_iter()
            .collect(),
        )
    }
}
