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
pub use introspection::IntrospectionRules;
pub use introspection_client::{
    IntrospectionClient, IntrospectionClientBuilder, IntrospectionConfigError, IntrospectionStats,
};
pub use jwt::{JwtVerifier, JwtVerifierBuilder, TrustedIssuer};

// Lives in `jose` because the DPoP validator needs it too (its `ath`), and `dpop` does not
// depend on `token`; re-exported here, where verifiers take it.
pub use crate::jose::PresentedToken;
// The client authentication of the introspection client, shared with the other clients of
// token endpoints in `oauth`; kept under its old path `token::ClientAuth`.
pub use crate::oauth::ClientAuth;

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
