//! Access tokens: JWT verification against trusted issuers' keys (RFC 9068, RFC 7519),
//! introspection responses (RFC 7662), and the verified claims both produce.

mod cache;
mod claims;
mod error;
mod introspection;
mod introspection_client;
mod jwt;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use cache::CachingVerifier;
pub use claims::AccessToken;
pub use error::{IntrospectionFailure, TokenError, UnavailableCause};
pub use introspection::{IntrospectionRules, StaticIntrospection};
pub use introspection_client::{
    ClientAuth, IntrospectionClient, IntrospectionClientBuilder, IntrospectionConfigError,
    IntrospectionStats,
};
pub use jwt::{JwtVerifier, JwtVerifierBuilder, TrustedIssuer};

/// An access token as presented, with its SHA-256 computed once.
///
/// A DPoP-bound request needs that digest twice: as the verified-token cache's key and, in
/// base64url, as the proof's `ath` (RFC 9449 §4.2). Hashing a typical token is about 2 % of
/// a warm request, so the guard hashes it once and hands this to both. The digest can only
/// come from [`PresentedToken::new`], so it always belongs to the text beside it.
#[derive(Clone, Copy)]
pub struct PresentedToken<'a> {
    text: &'a str,
    sha256: [u8; 32],
}

impl<'a> PresentedToken<'a> {
    /// Hashes `text`.
    pub fn new(text: &'a str) -> Self {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()).as_ref(),
        );
        PresentedToken { text, sha256 }
    }

    /// The token as presented.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// SHA-256 of the token's ASCII bytes.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

/// Never the token itself: `Debug` output ends up in logs.
impl std::fmt::Debug for PresentedToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedToken")
            .field("len", &self.text.len())
            .finish_non_exhaustive()
    }
}

/// The future of a token verification.
pub type TokenFuture<'a> =
    Pin<Box<dyn Future<Output = Result<AccessToken, TokenError>> + Send + 'a>>;

/// Anything that turns a presented access token into verified claims: a JWT verifier, an
/// introspection client. I/O, if any, lives behind this trait.
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies `token` at time `now`.
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> TokenFuture<'a>;

    /// [`TokenVerifier::verify`] for a token already hashed by the caller. Verifiers keyed
    /// by the token's digest (the token cache) override it to skip hashing again; the
    /// default ignores the digest.
    fn verify_presented<'a>(&'a self, token: PresentedToken<'a>, now: u64) -> TokenFuture<'a> {
        self.verify(token.as_str(), now)
    }
}

/// JWTs to a JWT verifier, everything else to an opaque-token verifier (introspection).
///
/// A token is JWT-shaped when it has exactly two `.`; such a token never falls through to
/// introspection when a JWT verifier is configured, so a failed signature cannot be
/// retried elsewhere.
#[derive(Clone, Default)]
pub struct AccessTokenVerifier {
    jwt: Option<Arc<dyn TokenVerifier>>,
    opaque: Option<Arc<dyn TokenVerifier>>,
}

impl AccessTokenVerifier {
    /// No verifier yet: every token is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Verifies JWT-shaped tokens with `verifier`.
    pub fn jwt(mut self, verifier: impl TokenVerifier) -> Self {
        self.jwt = Some(Arc::new(verifier));
        self
    }

    /// Verifies other tokens with `verifier` (introspection).
    pub fn opaque(self, verifier: impl TokenVerifier) -> Self {
        self.opaque_arc(Arc::new(verifier))
    }

    /// [`AccessTokenVerifier::opaque`] with a shared verifier.
    pub fn opaque_arc(mut self, verifier: Arc<dyn TokenVerifier>) -> Self {
        self.opaque = Some(verifier);
        self
    }
}

impl TokenVerifier for AccessTokenVerifier {
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> TokenFuture<'a> {
        let jwt_shaped = token.bytes().filter(|b| *b == b'.').count() == 2;
        match (&self.jwt, &self.opaque) {
            (Some(jwt), _) if jwt_shaped => jwt.verify(token, now),
            (_, Some(opaque)) => opaque.verify(token, now),
            _ => Box::pin(std::future::ready(Err(TokenError::NotAJwt))),
        }
    }

    fn verify_presented<'a>(&'a self, token: PresentedToken<'a>, now: u64) -> TokenFuture<'a> {
        let jwt_shaped = token.as_str().bytes().filter(|b| *b == b'.').count() == 2;
        match (&self.jwt, &self.opaque) {
            (Some(jwt), _) if jwt_shaped => jwt.verify_presented(token, now),
            (_, Some(opaque)) => opaque.verify_presented(token, now),
            _ => Box::pin(std::future::ready(Err(TokenError::NotAJwt))),
        }
    }
}

#[cfg(test)]
mod presented_tests {
    use super::PresentedToken;

    #[test]
    fn a_presented_token_carries_its_sha256_and_never_prints_itself() {
        let token = PresentedToken::new("eyJ.secret-token-value.sig");
        let expected =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"eyJ.secret-token-value.sig");
        assert_eq!(token.sha256().as_slice(), expected.as_ref());
        assert_eq!(token.as_str(), "eyJ.secret-token-value.sig");
        let printed = format!("{token:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
