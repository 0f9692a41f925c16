//! The refusals of access-token verification.

use crate::jose::{JsonError, JwsError, SignError};
use crate::jwks::KeySourceError;

/// An access token was refused.
///
/// Context fields hold values safe to log (times, claim names); never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than the configured cap; checked before any decoding.
    #[error("access token is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// Not a JWT, and no introspection is configured for opaque tokens.
    #[error("access token is not a JWT and no introspection is configured")]
    NotAJwt,
    /// The JWS is malformed, uses a refused algorithm, or does not verify.
    #[error("access token JWS: {0}")]
    Jws(#[from] JwsError),
    /// The header names a `kid` no trusted key has.
    #[error("access token kid is not a key of the issuer")]
    UnknownKey,
    /// `typ` is `dpop+jwt`: a DPoP proof presented as an access token (RFC 8725 §3.11).
    #[error("a DPoP proof is not an access token")]
    ProofAsToken,
    /// `typ` is not `at+jwt` where RFC 9068 §4 typing is required.
    #[error("access token typ is not at+jwt")]
    TypNotAtJwt,
    /// A header parameter or claim has the wrong JSON type; never treated as absent.
    #[error("access token member {name:?} has the wrong type")]
    WrongType {
        /// The claim or header parameter.
        name: &'static str,
    },
    /// A required claim is absent.
    #[error("access token has no {name} claim")]
    ClaimMissing {
        /// The claim.
        name: &'static str,
    },
    /// `iss` is not a trusted issuer (RFC 7519 §4.1.1).
    #[error("access token issuer is not trusted")]
    IssuerMismatch,
    /// `aud` does not name this resource (RFC 7519 §4.1.3, RFC 8707 §2).
    #[error("access token audience does not include this resource")]
    AudienceMismatch,
    /// Expired (RFC 7519 §4.1.4).
    #[error("access token expired at {exp} (now {now})")]
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// Not valid yet (RFC 7519 §4.1.5).
    #[error("access token not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: u64,
        /// The verifier's clock.
        now: u64,
    },
    /// `cnf` binds the token to something other than a DPoP key (e.g. an mTLS certificate,
    /// RFC 8705 `x5t#S256`), which this resource cannot check.
    #[error("access token is bound by an unsupported confirmation method")]
    UnsupportedBinding,
    /// Introspection says the token is not active (RFC 7662 §2.2).
    #[error("access token is not active")]
    Inactive,
    /// Introspection gives a `token_type` other than DPoP for a key-bound token
    /// (RFC 9449 §6.2).
    #[error("introspected token_type is not DPoP")]
    TokenTypeNotDpop,
    /// The introspection endpoint or key source could not answer; refused (fail closed).
    #[error("token verification unavailable: {0}")]
    Unavailable(#[from] UnavailableCause),
}

/// Why a token could not be verified at all — a dependency failed, not the token. Bounded
/// and free of token data and of what the remote side sent (a status code, a cap, a parse
/// error kind).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnavailableCause {
    /// The issuer's keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] KeySourceError),
    /// The introspection endpoint gave no usable answer (RFC 7662 §2.2).
    #[error(transparent)]
    Introspection(#[from] IntrospectionFailure),
}

/// Why an RFC 7662 introspection request gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionFailure {
    /// No answer within the configured timeout.
    #[error("introspection request timed out")]
    Timeout,
    /// No connection could be made.
    #[error("could not connect to the introspection endpoint")]
    Connect,
    /// Any other transport failure.
    #[error("introspection request failed")]
    Transport,
    /// The answer came from another URL than the endpoint (a caller-provided client
    /// followed a redirect).
    #[error("introspection response came from a redirect")]
    Redirected,
    /// `401` or `403`: the endpoint refused our own client credentials — a configuration
    /// problem, not the token's.
    #[error("introspection endpoint refused our client credentials (HTTP {0})")]
    CredentialsRefused(u16),
    /// Any other status than `200 OK`.
    #[error("introspection endpoint answered HTTP {0}")]
    Status(u16),
    /// The body is over the configured cap.
    #[error("introspection response over {max} bytes")]
    TooLarge {
        /// The cap.
        max: usize,
    },
    /// The body is not one strict JSON object (duplicate members included).
    #[error("introspection response refused: {0}")]
    Parse(JsonError),
    /// The client assertion could not be minted (RFC 7523 §2.2): no randomness for its
    /// `jti` (RFC 7523 §3) or no signature ([`SignError::Provider`]), or it could not be
    /// serialized.
    #[error("could not sign the client assertion: {0}")]
    ClientAssertion(SignError),
}
