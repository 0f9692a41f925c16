//! JWT access tokens (RFC 9068) verified against each trusted issuer's keys: the generic
//! steps (size cap, JWS structure, algorithm allow-list, issuer routing, `kid` refresh,
//! signature) are [`crate::jwt`]'s, and [`JwtVerifier`] is their access-token
//! [`ClaimsProfile`]: the `typ` rules and the `iss` lookup before any key is touched, the
//! RFC 9068 claims after the signature.

use serde_json::Value;

use crate::jose::{Object, typ_is};
use crate::jwt::{ClaimsProfile, SignatureError};

use super::claims::{AccessToken, ClaimRules};
use super::error::{TokenError, UnavailableCause};
use super::{TokenFuture, TokenVerifier};

// One issuer whose tokens are trusted: the type `crate::jwt` verifies with, under its old
// path `token::TrustedIssuer`.
pub use crate::jwt::TrustedIssuer;

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
        crate::jwt::verify_now(self, token, self.max_len, now)
    }

    /// Verifies `token` at time `now`, loading the issuer's keys when none are loaded and
    /// once more when the token names a `kid` the loaded set lacks (key rotation).
    pub async fn verify_async(&self, token: &str, now: u64) -> Result<AccessToken, TokenError> {
        crate::jwt::verify(self, token, self.max_len, now).await
    }
}

/// Access tokens: what needs no key (`typ`, the trusted issuer named by `iss`) in
/// [`route`](ClaimsProfile::route), the registered claims in [`check`](ClaimsProfile::check).
impl ClaimsProfile for JwtVerifier {
    type Verified = AccessToken;
    type Error = TokenError;

    fn route(&self, header: &Object, claims: &Object) -> Result<&TrustedIssuer, TokenError> {
        match header.get("typ") {
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
                // RFC 9068 §4: `typ` must be `at+jwt` (RFC 7515 §4.1.9 comparison) when
                // required.
                if self.require_at_jwt && !typ_is(typ, "at+jwt") {
                    return Err(TokenError::TypNotAtJwt);
                }
            }
            // RFC 7515 §4.1.9: `typ` is a string.
            Some(_) => return Err(TokenError::WrongType { name: "typ" }),
        }
        // The issuer picks the keys: a token is never checked against another issuer's keys
        // (RFC 8725 §3.8; RFC 9068 §4: `iss` exactly, RFC 7519 §4.1.1).
        match claims.get("iss") {
            None => Err(TokenError::ClaimMissing { name: "iss" }),
            Some(Value::String(iss)) => self
                .issuers
                .iter()
                .find(|trusted| trusted.issuer() == iss)
                .ok_or(TokenError::IssuerMismatch),
            Some(_) => Err(TokenError::WrongType { name: "iss" }),
        }
    }

    fn check(
        &self,
        _issuer: &TrustedIssuer,
        _header: Object,
        claims: Object,
        now: u64,
    ) -> Result<AccessToken, TokenError> {
        let rules = ClaimRules {
            issuers: &self.issuer_names,
            audience: &self.audience,
            leeway_s: self.leeway_s,
            jwt: true,
        };
        AccessToken::from_claims(claims, &rules, now)
    }
}

/// The generic refusals, as access-token refusals.
impl From<SignatureError> for TokenError {
    fn from(error: SignatureError) -> Self {
        match error {
            SignatureError::TooLarge { len, max } => TokenError::TooLarge { len, max },
            SignatureError::Jws(error) => TokenError::Jws(error),
            // RFC 7515 §4.1.4: `kid` is a string.
            SignatureError::KidNotString => TokenError::WrongType { name: "kid" },
            SignatureError::UnknownKey => TokenError::UnknownKey,
            SignatureError::Unavailable(error) => {
                TokenError::Unavailable(UnavailableCause::Keys(error))
            }
        }
    }
}

impl TokenVerifier for JwtVerifier {
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> TokenFuture<'a> {
        Box::pin(self.verify_async(token, now))
    }
}

impl JwtVerifierBuilder {
    /// Trusts tokens from `issuer`.
    pub fn issuer(mut self, issuer: TrustedIssuer) -> Self {
        self.verifier.issuer_names.push(issuer.issuer().to_owned());
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
