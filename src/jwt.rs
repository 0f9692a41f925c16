//! Signed JWTs (RFC 7519 §7.2) checked against a trusted issuer's keys, generic over what
//! the claims must be: access tokens (`token`) and workload assertions (`issuer`) share the
//! size cap, the header checks, the choice of keys by issuer, the `kid` refresh and the
//! signature, and differ only in their [`ClaimsProfile`].
//!
//! The order is the one RFC 8725 §3.1–3.2 argues for: everything that needs no key first
//! (size, structure, algorithm allow-list, `typ`, which issuer), the keys of that issuer
//! alone — never another's — then the signature, and only then the claims.

use std::sync::Arc;

use serde_json::Value;

use crate::jose::{AlgorithmSet, JwkSet, JwsError, Object, UnverifiedJws};
use crate::jwks::{KeySource, KeySourceError, Refresh, StaticKeys};

/// One issuer whose JWTs are trusted, with its keys and algorithms.
#[derive(Clone)]
pub struct TrustedIssuer {
    issuer: String,
    algorithms: AlgorithmSet,
    keys: Arc<dyn KeySource>,
}

impl std::fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl TrustedIssuer {
    /// An issuer (`iss`, compared exactly) with a fixed key set; every asymmetric algorithm
    /// its keys support is allowed until [`TrustedIssuer::algorithms`] narrows it.
    pub fn new(issuer: impl Into<String>, keys: JwkSet) -> Self {
        Self::with_key_source(issuer, Arc::new(StaticKeys::new(keys)))
    }

    /// An issuer whose keys come from `keys` (e.g. a [`RemoteJwks`](crate::jwks::RemoteJwks)).
    pub fn with_key_source(issuer: impl Into<String>, keys: Arc<dyn KeySource>) -> Self {
        TrustedIssuer {
            issuer: issuer.into(),
            algorithms: AlgorithmSet::ALL,
            keys,
        }
    }

    /// The algorithms this issuer's JWTs may use.
    pub fn algorithms(mut self, algorithms: AlgorithmSet) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Where its keys come from.
    pub fn keys(&self) -> &Arc<dyn KeySource> {
        &self.keys
    }
}

/// What a JWT of one kind must be, beyond a good signature by its issuer's key.
pub trait ClaimsProfile: Sync {
    /// What a verified JWT becomes.
    type Verified;
    /// The profile's refusals; every generic failure converts into it.
    type Error: From<SignatureError>;

    /// The checks that need no key — `typ`, the issuer named by the claims — returning
    /// the issuer whose keys must have signed. Nothing here is verified yet.
    fn route(&self, header: &Object, claims: &Object) -> Result<&TrustedIssuer, Self::Error>;

    /// The claims' checks, after the signature verified.
    fn check(
        &self,
        issuer: &TrustedIssuer,
        header: Object,
        claims: Object,
        now: u64,
    ) -> Result<Self::Verified, Self::Error>;
}

/// Why a JWT's signature could not be accepted, whatever its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Longer than the cap; checked before any decoding.
    #[error("JWT is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The JWS is malformed, uses an algorithm the issuer is not trusted with, or does not
    /// verify.
    #[error("JWS: {0}")]
    Jws(#[from] JwsError),
    /// `kid` is present and not a string (RFC 7515 §4.1.4).
    #[error("kid is not a string")]
    KidNotString,
    /// No key of the issuer has the `kid` (or fits the algorithm), even after a refresh.
    #[error("no key of the issuer fits the JWS")]
    UnknownKey,
    /// The issuer's keys could not be loaded.
    #[error(transparent)]
    Unavailable(#[from] KeySourceError),
}

/// Verifies `token` for `profile` with the keys already loaded, without waiting.
pub fn verify_now<P: ClaimsProfile>(
    profile: &P,
    token: &str,
    max_len: usize,
    now: u64,
) -> Result<P::Verified, P::Error> {
    let checked = precheck(profile, token, max_len)?;
    let keys = checked
        .issuer
        .keys
        .current()
        .ok_or(SignatureError::Unavailable(KeySourceError::NotLoaded))?;
    finish(profile, checked, &keys, now)
}

/// Verifies `token` for `profile`, loading the issuer's keys when none are loaded and once
/// more when the JWT names a `kid` the loaded set lacks (key rotation).
pub async fn verify<P: ClaimsProfile>(
    profile: &P,
    token: &str,
    max_len: usize,
    now: u64,
) -> Result<P::Verified, P::Error> {
    let checked = precheck(profile, token, max_len)?;
    let source = &checked.issuer.keys;
    let mut keys = match source.current() {
        Some(keys) => keys,
        None => source
            .refresh(Refresh::Missing)
            .await
            .map_err(SignatureError::from)?,
    };
    if let Some(kid) = checked.kid.as_deref()
        && keys
            .candidates(Some(kid), checked.jws.alg())
            .next()
            .is_none()
    {
        keys = source
            .refresh(Refresh::UnknownKid(kid))
            .await
            .map_err(SignatureError::from)?;
    }
    finish(profile, checked, &keys, now)
}

/// A JWT that passed every check needing no key.
struct Prechecked<'t> {
    jws: UnverifiedJws<'t>,
    issuer: &'t TrustedIssuer,
    kid: Option<String>,
}

fn precheck<'t, P: ClaimsProfile>(
    profile: &'t P,
    token: &'t str,
    max_len: usize,
) -> Result<Prechecked<'t>, P::Error> {
    if token.len() > max_len {
        return Err(SignatureError::TooLarge {
            len: token.len(),
            max: max_len,
        }
        .into());
    }
    // Symmetric and `none` algorithms never parse (RFC 8725 §3.1); the issuer's own
    // allow-list is applied once the issuer is known.
    let jws =
        UnverifiedJws::parse(token, max_len, AlgorithmSet::ALL).map_err(SignatureError::from)?;
    let issuer = profile.route(jws.header(), jws.payload())?;
    let alg = jws.alg();
    if !issuer.algorithms.contains(alg) {
        return Err(SignatureError::Jws(JwsError::AlgNotAllowed(alg)).into());
    }
    let kid = match jws.header().get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(SignatureError::KidNotString.into()),
    };
    Ok(Prechecked { jws, issuer, kid })
}

fn finish<P: ClaimsProfile>(
    profile: &P,
    checked: Prechecked<'_>,
    keys: &JwkSet,
    now: u64,
) -> Result<P::Verified, P::Error> {
    let Prechecked { jws, issuer, kid } = checked;
    let mut candidates = keys.candidates(kid.as_deref(), jws.alg()).peekable();
    if candidates.peek().is_none() {
        return Err(SignatureError::UnknownKey.into());
    }
    let (verified, _key) = jws.verify_any(candidates).map_err(SignatureError::from)?;
    let (header, claims) = verified.into_parts();
    profile.check(issuer, header, claims, now)
}
