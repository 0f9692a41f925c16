//! Why the token endpoint refused, and the one table that turns each refusal into its
//! HTTP answer (RFC 6749 §5.2, RFC 7523 §3.1–3.2, RFC 8693 §2.2.2, RFC 8707 §2,
//! RFC 9449 §5, §8).
//!
//! The client learns the OAuth error code and a fixed description; the precise reason —
//! which claim, which rule — goes to the audit record through [`IssuerRefusal::reason`].

use crate::dpop::ProofError;
use crate::jose::SignError;
use crate::oauth::ErrorCode;

use super::assertion::AssertionError;
use super::policy::{GrantKind, PolicyRefusal};
use super::request::RequestError;

/// A refused token request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerRefusal {
    /// The body is not a usable token request.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// An `Authorization` header: this issuer takes no client secrets or tokens there.
    #[error("client authentication in the Authorization header is not supported")]
    AuthorizationHeader {
        /// The scheme the client used, to answer in kind (RFC 6749 §5.2).
        scheme: &'static str,
    },
    /// The DPoP proof is invalid (RFC 9449 §4.3), or there are two.
    #[error("DPoP proof: {0}")]
    Proof(ProofError),
    /// No DPoP proof, and the rule that matched does not allow Bearer tokens.
    #[error("no DPoP proof")]
    ProofMissing,
    /// The workload's token (`assertion`, `subject_token` or `client_assertion`).
    #[error("workload token ({grant}): {error}", grant = grant.name())]
    Assertion {
        /// The grant it came with: it decides the error code.
        grant: GrantKind,
        /// What was wrong.
        error: AssertionError,
    },
    /// The RFC 8693 `actor_token`.
    #[error("actor token: {0}")]
    Actor(AssertionError),
    /// The policy grants nothing.
    #[error("policy ({grant}): {error}", grant = grant.name())]
    Policy {
        /// The grant it came with.
        grant: GrantKind,
        /// Why not.
        error: PolicyRefusal,
    },
    /// The access token could not be signed.
    #[error("signing: {0}")]
    Sign(SignError),
}

/// The HTTP answer for a refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    /// The status.
    pub status: u16,
    /// The `error` code.
    pub error: ErrorCode,
    /// A fixed `error_description`, safe for clients.
    pub description: &'static str,
}

impl IssuerRefusal {
    /// A short, stable label naming the failed rule, for metrics and the audit record.
    /// Never holds request data.
    pub fn reason(&self) -> &'static str {
        match self {
            IssuerRefusal::Request(error) => error.reason(),
            IssuerRefusal::AuthorizationHeader { .. } => "authorization_header",
            IssuerRefusal::Proof(error) => crate::guard::proof_reason(error),
            IssuerRefusal::ProofMissing => "proof_missing",
            IssuerRefusal::Assertion { error, .. } => error.reason(),
            IssuerRefusal::Actor(error) if error.is_unavailable() => "actor_keys_unavailable",
            IssuerRefusal::Actor(_) => "actor_token_invalid",
            IssuerRefusal::Policy { error, .. } => error.reason(),
            IssuerRefusal::Sign(_) => "sign_failed",
        }
    }

    /// The answer: the only place a token-endpoint refusal meets the wire.
    pub fn answer(&self) -> TokenError {
        use ErrorCode::*;
        let answer = |error: ErrorCode, description| TokenError {
            status: error.status(),
            error,
            description,
        };
        // RFC 6749 §5.2 allows 400 for `invalid_client` when the client did not use the
        // Authorization header: the assertion came in the body.
        let client_in_body = |description| TokenError {
            status: 400,
            error: InvalidClient,
            description,
        };
        match self {
            IssuerRefusal::Request(error) => match error {
                RequestError::UnsupportedGrantType => {
                    answer(UnsupportedGrantType, "grant type not supported")
                }
                // RFC 7523 §3.2: a client assertion problem is the client's.
                RequestError::ClientAssertionType | RequestError::UnexpectedClientAuth => {
                    client_in_body("client authentication not accepted")
                }
                RequestError::InvalidResource => answer(InvalidTarget, "invalid resource"),
                RequestError::BodyTooLarge { .. } => TokenError {
                    status: 413,
                    error: InvalidRequest,
                    description: "request body too large",
                },
                RequestError::ContentType
                | RequestError::Malformed
                | RequestError::Repeated(_)
                | RequestError::Missing(_)
                | RequestError::TooLong(_)
                | RequestError::TooManyTargets(_)
                | RequestError::UnsupportedTokenType(_) => {
                    answer(InvalidRequest, "malformed token request")
                }
            },
            // RFC 6749 §5.2: 401, with a challenge for the scheme the client used.
            IssuerRefusal::AuthorizationHeader { .. } => {
                answer(InvalidClient, "client authentication not accepted")
            }
            IssuerRefusal::Proof(error) => match error {
                // RFC 9449 §8: the nonce to use comes in the DPoP-Nonce header.
                ProofError::NonceMissing | ProofError::NonceInvalid(_) => {
                    answer(UseDpopNonce, "use the DPoP nonce")
                }
                ProofError::ReplayStore(_) => answer(TemporarilyUnavailable, "try again later"),
                _ => answer(InvalidDpopProof, "invalid DPoP proof"),
            },
            IssuerRefusal::ProofMissing => answer(InvalidDpopProof, "DPoP proof required"),
            IssuerRefusal::Assertion { grant, error } => {
                if error.is_unavailable() {
                    return answer(TemporarilyUnavailable, "try again later");
                }
                match grant {
                    // RFC 7523 §3.1.
                    GrantKind::JwtBearer => answer(InvalidGrant, "invalid assertion"),
                    // RFC 8693 §2.2.2: an invalid subject token is `invalid_request`.
                    GrantKind::TokenExchange => answer(InvalidRequest, "invalid subject token"),
                    // RFC 7523 §3.2.
                    GrantKind::ClientCredentials => client_in_body("invalid client assertion"),
                }
            }
            IssuerRefusal::Actor(error) => {
                if error.is_unavailable() {
                    answer(TemporarilyUnavailable, "try again later")
                } else {
                    answer(InvalidRequest, "invalid actor token")
                }
            }
            IssuerRefusal::Policy { grant, error } => match error {
                PolicyRefusal::NoRuleMatches => match grant {
                    GrantKind::JwtBearer => answer(InvalidGrant, "not authorized"),
                    // RFC 8693 §2.2.2: "unacceptable based on policy".
                    GrantKind::TokenExchange => answer(InvalidRequest, "not authorized"),
                    GrantKind::ClientCredentials => answer(UnauthorizedClient, "not authorized"),
                },
                PolicyRefusal::GrantTypeNotAllowed(_) => {
                    answer(UnauthorizedClient, "grant type not allowed")
                }
                PolicyRefusal::SeveralResources
                | PolicyRefusal::UnknownResource
                | PolicyRefusal::NoResource
                | PolicyRefusal::ResourceNotGranted => answer(InvalidTarget, "invalid target"),
                PolicyRefusal::NoScopeLeft | PolicyRefusal::MalformedScope => {
                    answer(InvalidScope, "invalid scope")
                }
                PolicyRefusal::ProofRequired => answer(InvalidDpopProof, "DPoP proof required"),
            },
            IssuerRefusal::Sign(_) => answer(TemporarilyUnavailable, "try again later"),
        }
    }
}
