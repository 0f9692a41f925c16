//! JWT access tokens (RFC 9068) verified against each trusted issuer's keys.

use std::sync::Arc;

use serde_json::Value;

use crate::jose::{AlgorithmSet, JwkSet, UnverifiedJws, typ_is};
use crate::jwks::{KeySource, KeySourceError, Refresh, StaticKeys};

use super::claims::{AccessToken, ClaimRules};
use super::error::{TokenError, UnavailableCause};
use super::{TokenFuture, TokenVerifier};

/// One issuer whose tokens are trusted, with its keys and algorithms.
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

    /// The algorithms this issuer's tokens may use.
    pub fn algorithms(mut self, algorithms: AlgorithmSet) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

/// Verifies JWT access tokens: signature by a key of the token's own issuer, `iss`, `aud`
/// naming this resource, `exp`, `nbf`, and the token type.
///
/// ```
/// use mcp_warden::jose::{Algorithm, JwkSet, SigningKey};
/// use mcp_warden::token::{JwtVerifier, TrustedIssuer};
///
/// let issuer_key = SigningKey::generate(Algorithm::ES256)?.with_kid("as-1")?;
/// let keys = JwkSet::from_json(issuer_key_set(&issuer_key).as_bytes()).unwrap();
/// let verifier = JwtVerifier::builder("https://mcp.example.com/mcp")
///     .issuer(TrustedIssuer::new("https://as.example.com", keys))
///     .build();
///
/// let token = issuer_key.sign_compact(
///     serde_json::json!({"typ": "at+jwt", "kid": "as-1"}).as_object().unwrap(),
///     serde_json::json!({
///         "iss": "https://as.example.com", "aud": "https://mcp.example.com/mcp",
///         "sub": "agent-7", "exp": 1_764_288_600, "cnf": {"jkt": "abc"}
///     }).as_object().unwrap(),
/// )?;
/// let verified = verifier.verify_now(&token, 1_764_288_000).unwrap();
/// assert_eq!(verified.subject(), Some("agent-7"));
/// assert_eq!(verified.bound_jkt(), Some("abc"));
/// # fn issuer_key_set(key: &SigningKey) -> String {
/// #     serde_json::json!({"keys": [key.public_jwk().to_json()]}).to_string()
/// # }
/// # Ok::<(), mcp_warden::jose::SignError>(())
/// ```
#[derive(Clone, Debug)]
pub struct JwtVerifier {
    audience: String,
    issuers: Vec<TrustedIssuer>,
    issuer_names: Vec<String>,
    leeway_s: u64,
    max_len: usize,
    require_at_jwt: bool,
}

/// Builds a [`JwtVerifier`].
#[derive(Debug, Clone)]
pub struct JwtVerifierBuilder {
    verifier: JwtVerifier,
}

impl JwtVerifier {
    /// Default cap on a token's length in bytes, checked before decoding.
    pub const DEFAULT_MAX_LEN: usize = 16 * 1024;

    /// A builder for tokens whose `aud` must include `audience` (the resource's canonical
    /// URI, RFC 8707 §2). Leeway defaults to 0: strict unless opted out.
    pub fn builder(audience: impl Into<String>) -> JwtVerifierBuilder {
        JwtVerifierBuilder {
            verifier: JwtVerifier {
                audience: audience.into(),
                issuers: Vec::new(),
                issuer_names: Vec::new(),
                leeway_s: 0,
                max_len: Self::DEFAULT_MAX_LEN,
                require_at_jwt: false,
            },
        }
    }

    /// Verifies `token` at time `now` with the keys already loaded, without waiting: what
    /// a verifier over fixed keys needs. A key source with nothing loaded refuses with
    /// [`TokenError::Unavailable`].
    pub fn verify_now(&self, token: &str, now: u64) -> Result<AccessToken, TokenError> {
        let checked = self.precheck(token)?;
        let keys = checked.issuer.keys.current().ok_or_else(keys_unavailable)?;
        self.finish(checked, &keys, now)
    }

    /// Verifies `token` at time `now`, loading the issuer's keys when none are loaded and
    /// once more when the token names a `kid` the loaded set lacks (key rotation).
    pub async fn verify_async(&self, token: &str, now: u64) -> Result<AccessToken, TokenError> {
        let checked = self.precheck(token)?;
        let source = &checked.issuer.keys;
        let mut keys = match source.current() {
            Some(keys) => keys,
            None => source
                .refresh(Refresh::Missing)
                .await
                .map_err(unavailable)?,
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
                .map_err(unavailable)?;
        }
        self.finish(checked, &keys, now)
    }

    /// Everything that needs no key: size, structure, `typ`, the issuer and its
    /// algorithms, the `kid`'s type.
    fn precheck<'t>(&'t self, token: &'t str) -> Result<Prechecked<'t>, TokenError> {
        if token.len() > self.max_len {
            return Err(TokenError::TooLarge {
                len: token.len(),
                max: self.max_len,
            });
        }
        let jws = UnverifiedJws::parse(token, self.max_len, AlgorithmSet::ALL)?;
        match jws.header().get("typ") {
            None => {
                if self.require_at_jwt {
                    return Err(TokenError::TypNotAtJwt);
                }
            }
            Some(Value::String(typ)) => {
                // RFC 8725 §3.11: explicit typing keeps a DPoP proof from being accepted as
                // an access token.
                if typ_is(typ, "dpop+jwt") {
                    return Err(TokenError::ProofAsToken);
                }
                if self.require_at_jwt && !typ_is(typ, "at+jwt") {
                    return Err(TokenError::TypNotAtJwt);
                }
            }
            Some(_) => return Err(TokenError::WrongType { name: "typ" }),
        }
        // The issuer picks the keys: a token is never checked against another issuer's keys.
        let issuer = match jws.payload().get("iss") {
            None => return Err(TokenError::ClaimMissing { name: "iss" }),
            Some(Value::String(iss)) => self
                .issuers
                .iter()
                .find(|trusted| &trusted.issuer == iss)
                .ok_or(TokenError::IssuerMismatch)?,
            Some(_) => return Err(TokenError::WrongType { name: "iss" }),
        };
        let alg = jws.alg();
        if !issuer.algorithms.contains(alg) {
            return Err(TokenError::Jws(crate::jose::JwsError::AlgNotAllowed(alg)));
        }
        let kid = match jws.header().get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(_) => return Err(TokenError::WrongType { name: "kid" }),
        };
        Ok(Prechecked { jws, issuer, kid })
    }

    fn finish(
        &self,
        checked: Prechecked<'_>,
        keys: &JwkSet,
        now: u64,
    ) -> Result<AccessToken, TokenError> {
        let Prechecked { jws, kid, .. } = checked;
        let mut candidates = keys.candidates(kid.as_deref(), jws.alg()).peekable();
        if candidates.peek().is_none() {
            return Err(TokenError::UnknownKey);
        }
        let (verified, _key) = jws.verify_any(candidates)?;
        let (_, claims) = verified.into_parts();
        let rules = ClaimRules {
            issuers: &self.issuer_names,
            audience: &self.audience,
            leeway_s: self.leeway_s,
            jwt: true,
        };
        AccessToken::from_claims(claims, &rules, now)
    }
}

/// A token that passed every check that needs no key.
struct Prechecked<'t> {
    jws: UnverifiedJws<'t>,
    issuer: &'t TrustedIssuer,
    kid: Option<String>,
}

fn keys_unavailable() -> TokenError {
    unavailable(KeySourceError::NotLoaded)
}

fn unavailable(error: KeySourceError) -> TokenError {
    TokenError::Unavailable(UnavailableCause::Keys(error))
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> TokenFuture<'a> {
        Box::pin(self.verify_async(token, now))
    }
}

impl JwtVerifierBuilder {
    /// Trusts tokens from `issuer`.
    pub fn issuer(mut self, issuer: TrustedIssuer) -> Self {
        self.verifier.issuer_names.push(issuer.issuer.clone());
        self.verifier.issuers.push(issuer);
        self
    }

    /// Clock tolerance for `exp` and `nbf`, in seconds.
    pub fn leeway_s(mut self, seconds: u64) -> Self {
        self.verifier.leeway_s = seconds;
        self
    }

    /// The cap on a token's length in bytes.
    pub fn max_len(mut self, bytes: usize) -> Self {
        self.verifier.max_len = bytes;
        self
    }

    /// Require `typ: at+jwt` (RFC 9068 §4); off by default because many issuers do not
    /// set it.
    pub fn require_at_jwt(mut self) -> Self {
        self.verifier.require_at_jwt = true;
        self
    }

    /// The verifier.
    pub fn build(self) -> JwtVerifier {
        self.verifier
    }
}
