//! Why a request was refused, and the one table that turns a refusal into an HTTP answer
//! (RFC 6750 §3.1, RFC 9449 §7.1 and §12.2).
//!
//! Clients see only what [`Refusal::challenge`] returns: a status, an `error` code and a
//! fixed description per rule. `Display` text is for logs and never reaches the wire.

use crate::dpop::ProofError;
use crate::token::TokenError;

use super::challenge::AUTH_ERROR_CODE;
use super::mcp::HEADER_MISMATCH_CODE;

/// A refusal about the request itself rather than the proof or the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No credentials of a scheme this resource accepts (RFC 6750 §3.1: no error code).
    #[error("no credentials")]
    NoCredentials,
    /// More than one `Authorization` field — possibly Bearer and DPoP at once.
    #[error("more than one Authorization field")]
    MultipleAuthorization,
    /// The `Authorization` field is not `scheme SP token68`.
    #[error("malformed Authorization field")]
    MalformedAuthorization,
    /// The token is longer than the configured cap.
    #[error("access token is {len} bytes, over the {max}-byte limit")]
    TokenTooLarge {
        /// Bytes received.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The request URI cannot be normalized (it cannot match any `htu`).
    #[error("request URI is not a valid absolute http(s) URI")]
    InvalidRequestUri,
    /// Bearer scheme where only DPoP is accepted (RFC 9449 §7.2).
    #[error("Bearer tokens are not accepted; use DPoP")]
    BearerNotAllowed,
    /// A DPoP-bound token presented with the Bearer scheme (RFC 9449 §7.2).
    #[error("DPoP-bound token presented as Bearer")]
    BoundTokenAsBearer,
    /// The DPoP scheme with a token that is not bound to a key (no `cnf.jkt`).
    #[error("token presented with DPoP is not DPoP-bound")]
    UnboundTokenAsDpop,
    /// The body the scope policy needs is larger than the configured cap.
    #[error("request body over the {max}-byte limit")]
    BodyTooLarge {
        /// The cap.
        max: usize,
    },
    /// The body could not be read.
    #[error("request body could not be read")]
    BodyUnreadable,
    /// The body is not a JSON-RPC message, so its scopes cannot be decided.
    #[error("request body is not a valid MCP JSON-RPC message")]
    InvalidMcpMessage,
    /// An `Mcp-Method` / `Mcp-Name` header disagrees with the body (MCP 2026-07-28).
    #[error("{header} header disagrees with the request body")]
    McpHeaderMismatch {
        /// The header.
        header: &'static str,
    },
}

/// Why the guard refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request's credentials are absent or malformed, or the scheme is wrong.
    #[error(transparent)]
    Request(#[from] RequestError),
    /// The DPoP proof was refused.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The access token was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The token is valid but lacks scopes this operation needs (RFC 6750 §3.1).
    #[error("insufficient scope: the operation needs {}", required.join(" "))]
    InsufficientScope {
        /// Every scope the operation needs (not only the missing ones).
        required: Vec<String>,
    },
}

/// The `error` codes of RFC 6750 §3.1 and RFC 9449 §7.1, §12.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// `invalid_request`.
    InvalidRequest,
    /// `invalid_token`.
    InvalidToken,
    /// `invalid_dpop_proof`.
    InvalidDpopProof,
    /// `use_dpop_nonce`.
    UseDpopNonce,
    /// `insufficient_scope`.
    InsufficientScope,
}

impl ErrorCode {
    /// The wire value.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::InsufficientScope => "insufficient_scope",
        }
    }
}

/// What the client is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// HTTP status.
    pub status: u16,
    /// The `error` parameter; `None` when the request carried no credentials
    /// (RFC 6750 §3.1).
    pub error: Option<ErrorCode>,
    /// A fixed `error_description`, safe for clients.
    pub description: &'static str,
    /// The JSON-RPC `error.code` of the optional error body: [`AUTH_ERROR_CODE`], or
    /// [`HEADER_MISMATCH_CODE`] where MCP 2026-07-28 assigns one.
    pub json_rpc_code: i64,
}

const fn challenge(status: u16, error: Option<ErrorCode>, description: &'static str) -> Challenge {
    Challenge {
        status,
        error,
        description,
        json_rpc_code: AUTH_ERROR_CODE,
    }
}

impl Refusal {
    /// A short, stable label naming the failed rule (`proof_htu_mismatch`, …), for metrics
    /// and logs. Never contains request data.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Request(error) => error.reason(),
            Refusal::Proof(error) => proof_reason(error),
            Refusal::Token(error) => token_reason(error),
            Refusal::InsufficientScope { .. } => "insufficient_scope",
        }
    }

    /// The HTTP answer for this refusal — the only place refusals meet the wire.
    pub fn challenge(&self) -> Challenge {
        use ErrorCode::*;
        match self {
            Refusal::Request(error) => match error {
                RequestError::NoCredentials => challenge(401, None, "authentication required"),
                RequestError::MultipleAuthorization => challenge(
                    400,
                    Some(InvalidRequest),
                    "more than one Authorization field",
                ),
                RequestError::MalformedAuthorization => {
                    challenge(400, Some(InvalidRequest), "malformed Authorization field")
                }
                RequestError::TokenTooLarge { .. } => {
                    challenge(400, Some(InvalidRequest), "access token too large")
                }
                RequestError::InvalidRequestUri => {
                    challenge(400, Some(InvalidRequest), "invalid request URI")
                }
                RequestError::BearerNotAllowed => {
                    challenge(401, Some(InvalidToken), "DPoP-bound access token required")
                }
                RequestError::BoundTokenAsBearer => challenge(
                    401,
                    Some(InvalidToken),
                    "DPoP-bound token requires the DPoP scheme",
                ),
                RequestError::UnboundTokenAsDpop => {
                    challenge(401, Some(InvalidToken), "access token is not DPoP-bound")
                }
                RequestError::BodyTooLarge { .. } => {
                    challenge(413, Some(InvalidRequest), "request body too large")
                }
                RequestError::BodyUnreadable => {
                    challenge(400, Some(InvalidRequest), "request body could not be read")
                }
                RequestError::InvalidMcpMessage => challenge(
                    400,
                    Some(InvalidRequest),
                    "request body is not a valid JSON-RPC message",
                ),
                // MCP 2026-07-28 gives this refusal its own JSON-RPC code.
                RequestError::McpHeaderMismatch { .. } => Challenge {
                    json_rpc_code: HEADER_MISMATCH_CODE,
                    ..challenge(
                        400,
                        Some(InvalidRequest),
                        "Mcp-Method or Mcp-Name header disagrees with the body",
                    )
                },
            },
            Refusal::InsufficientScope { .. } => challenge(
                403,
                Some(InsufficientScope),
                "the access token lacks a scope this operation requires",
            ),
            Refusal::Proof(error) => match error {
                // RFC 9449 §4.3 step 1 makes "not more than one DPoP field" a check of the
                // proof, so two proofs are an invalid proof (§7.1: 401), unlike two
                // `Authorization` fields, a malformed request (RFC 6750 §3.1: 400).
                ProofError::MultipleProofs => {
                    challenge(401, Some(InvalidDpopProof), "more than one DPoP proof")
                }
                ProofError::NonceMissing | ProofError::NonceInvalid(_) => challenge(
                    401,
                    Some(UseDpopNonce),
                    "resource server requires nonce in DPoP proof",
                ),
                ProofError::ReplayStore(_) => {
                    challenge(503, None, "replay protection temporarily unavailable")
                }
                ProofError::Replayed => {
                    challenge(401, Some(InvalidDpopProof), "DPoP proof replayed")
                }
                ProofError::IatTooOld { .. } | ProofError::IatInFuture { .. } => challenge(
                    401,
                    Some(InvalidDpopProof),
                    "DPoP proof iat outside the acceptance window",
                ),
                ProofError::HtmMismatch { .. }
                | ProofError::HtuMismatch
                | ProofError::HtuInvalid(_) => challenge(
                    401,
                    Some(InvalidDpopProof),
                    "DPoP proof does not match this request",
                ),
                ProofError::AthMissing | ProofError::AthMismatch | ProofError::KeyMismatch => {
                    challenge(
                        401,
                        Some(InvalidDpopProof),
                        "DPoP proof is not bound to this access token",
                    )
                }
                ProofError::Missing => {
                    challenge(401, Some(InvalidDpopProof), "DPoP proof required")
                }
                ProofError::NotAscii
                | ProofError::Jws(_)
                | ProofError::TypMissing
                | ProofError::TypMismatch
                | ProofError::JwkMissing
                | ProofError::Jwk(_)
                | ProofError::WrongType { .. }
                | ProofError::ClaimMissing { .. }
                | ProofError::JtiEmpty
                | ProofError::JtiTooLong { .. } => {
                    challenge(401, Some(InvalidDpopProof), "invalid DPoP proof")
                }
            },
            Refusal::Token(error) => match error {
                TokenError::Unavailable { .. } => {
                    challenge(503, None, "token verification temporarily unavailable")
                }
                TokenError::Expired { .. } => {
                    challenge(401, Some(InvalidToken), "access token expired")
                }
                TokenError::AudienceMismatch => challenge(
                    401,
                    Some(InvalidToken),
                    "access token not issued for this resource",
                ),
                TokenError::TooLarge { .. }
                | TokenError::NotAJwt
                | TokenError::Jws(_)
                | TokenError::UnknownKey
                | TokenError::ProofAsToken
                | TokenError::TypNotAtJwt
                | TokenError::WrongType { .. }
                | TokenError::ClaimMissing { .. }
                | TokenError::IssuerMismatch
                | TokenError::NotYetValid { .. }
                | TokenError::UnsupportedBinding
                | TokenError::Inactive
                | TokenError::TokenTypeNotDpop => {
                    challenge(401, Some(InvalidToken), "invalid access token")
                }
            },
        }
    }
}

impl RequestError {
    /// A short, stable label naming the failed rule, for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::NoCredentials => "no_credentials",
            RequestError::MultipleAuthorization => "multiple_authorization",
            RequestError::MalformedAuthorization => "malformed_authorization",
            RequestError::TokenTooLarge { .. } => "token_too_large",
            RequestError::InvalidRequestUri => "invalid_request_uri",
            RequestError::BearerNotAllowed => "bearer_not_allowed",
            RequestError::BoundTokenAsBearer => "bound_token_as_bearer",
            RequestError::UnboundTokenAsDpop => "unbound_token_as_dpop",
            RequestError::BodyTooLarge { .. } => "body_too_large",
            RequestError::BodyUnreadable => "body_unreadable",
            RequestError::InvalidMcpMessage => "invalid_mcp_message",
            RequestError::McpHeaderMismatch { .. } => "mcp_header_mismatch",
        }
    }
}

fn proof_reason(error: &ProofError) -> &'static str {
    match error {
        ProofError::Missing => "proof_missing",
        ProofError::MultipleProofs => "proof_multiple_proofs",
        ProofError::NotAscii => "proof_not_ascii",
        ProofError::Jws(_) => "proof_jws",
        ProofError::TypMissing => "proof_typ_missing",
        ProofError::TypMismatch => "proof_typ_mismatch",
        ProofError::JwkMissing => "proof_jwk_missing",
        ProofError::Jwk(_) => "proof_jwk",
        ProofError::WrongType { .. } => "proof_wrong_type",
        ProofError::ClaimMissing { .. } => "proof_claim_missing",
        ProofError::JtiEmpty => "proof_jti_empty",
        ProofError::JtiTooLong { .. } => "proof_jti_too_long",
        ProofError::HtmMismatch { .. } => "proof_htm_mismatch",
        ProofError::HtuInvalid(_) => "proof_htu_invalid",
        ProofError::HtuMismatch => "proof_htu_mismatch",
        ProofError::IatTooOld { .. } => "proof_iat_too_old",
        ProofError::IatInFuture { .. } => "proof_iat_in_future",
        ProofError::NonceMissing => "proof_nonce_missing",
        ProofError::NonceInvalid(_) => "proof_nonce_invalid",
        ProofError::AthMissing => "proof_ath_missing",
        ProofError::AthMismatch => "proof_ath_mismatch",
        ProofError::KeyMismatch => "proof_key_mismatch",
        ProofError::Replayed => "proof_replayed",
        ProofError::ReplayStore(_) => "proof_replay_store",
    }
}

fn token_reason(error: &TokenError) -> &'static str {
    match error {
        TokenError::TooLarge { .. } => "token_too_large",
        TokenError::NotAJwt => "token_not_a_jwt",
        TokenError::Jws(_) => "token_jws",
        TokenError::UnknownKey => "token_unknown_key",
        TokenError::ProofAsToken => "token_proof_as_token",
        TokenError::TypNotAtJwt => "token_typ_not_at_jwt",
        TokenError::WrongType { .. } => "token_wrong_type",
        TokenError::ClaimMissing { .. } => "token_claim_missing",
        TokenError::IssuerMismatch => "token_issuer_mismatch",
        TokenError::AudienceMismatch => "token_audience_mismatch",
        TokenError::Expired { .. } => "token_expired",
        TokenError::NotYetValid { .. } => "token_not_yet_valid",
        TokenError::UnsupportedBinding => "token_unsupported_binding",
        TokenError::Inactive => "token_inactive",
        TokenError::TokenTypeNotDpop => "token_token_type_not_dpop",
        TokenError::Unavailable { .. } => "token_unavailable",
    }
}
