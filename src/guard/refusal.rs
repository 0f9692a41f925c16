//! Why a request was refused, and the one table that turns a refusal into an HTTP answer
//! (RFC 6750 §3.1, RFC 9449 §7.1 and §12.2).
//!
//! Clients see only what [`Refusal::challenge`] returns: a status, an `error` code and a
//! fixed description per rule. `Display` text is for logs and never reaches the wire.

use crate::dpop::ProofError;
use crate::jose::{JwkError, JwsError};
use crate::token::TokenError;

use super::challenge::AUTH_ERROR_CODE;
use super::mcp::{HEADER_MISMATCH_CODE, McpError};

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
    /// The body is not a JSON-RPC message, so its scopes cannot be decided (the
    /// [`McpError`] body variants), or an `Mcp-Method` / `Mcp-Name` header is invalid or
    /// disagrees with the body (the header variants, MCP 2026-07-28).
    #[error("MCP request refused: {0}")]
    Mcp(McpError),
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
                RequestError::Mcp(error) => match error {
                    McpError::NotJson
                    | McpError::NotJsonRpc
                    | McpError::MethodNotString
                    | McpError::NameNotString
                    | McpError::DuplicateMember
                    | McpError::EmptyBatch => challenge(
                        400,
                        Some(InvalidRequest),
                        "request body is not a valid JSON-RPC message",
                    ),
                    // MCP 2026-07-28 gives this refusal its own JSON-RPC code.
                    McpError::HeaderInvalid { .. }
                    | McpError::HeaderMismatch { .. }
                    | McpError::HeaderWithBatch { .. } => Challenge {
                        json_rpc_code: HEADER_MISMATCH_CODE,
                        ..challenge(
                            400,
                            Some(InvalidRequest),
                            "Mcp-Method or Mcp-Name header disagrees with the body",
                        )
                    },
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
                TokenError::Unavailable(_) => {
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

// Every `reason` below is a `&'static str` chosen by an exhaustive match on the error's
// variant (no `_` arm), so the label set is fixed at compile time, never holds request data,
// and a new variant cannot compile until it has a label. docs/guard.md §4.1 lists them all.

impl RequestError {
    /// A short, stable label naming the failed rule, for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::NoCredentials => "no_credentials",
            RequestError::MultipleAuthorization => "multiple_authorization",
            RequestError::MalformedAuthorization => "malformed_authorization",
            RequestError::TokenTooLarge { .. } => "authorization_token_too_large",
            RequestError::InvalidRequestUri => "invalid_request_uri",
            RequestError::BearerNotAllowed => "bearer_not_allowed",
            RequestError::BoundTokenAsBearer => "bound_token_as_bearer",
            RequestError::UnboundTokenAsDpop => "unbound_token_as_dpop",
            RequestError::BodyTooLarge { .. } => "body_too_large",
            RequestError::BodyUnreadable => "body_unreadable",
            RequestError::Mcp(error) => mcp_reason(error),
        }
    }
}

/// One label per [`McpError`] variant: `invalid_mcp_message_*` for the body,
/// `mcp_header_*` for the `Mcp-Method` / `Mcp-Name` headers.
fn mcp_reason(error: &McpError) -> &'static str {
    match error {
        McpError::NotJson => "invalid_mcp_message_not_json",
        McpError::NotJsonRpc => "invalid_mcp_message_not_json_rpc",
        McpError::MethodNotString => "invalid_mcp_message_method_not_string",
        McpError::NameNotString => "invalid_mcp_message_name_not_string",
        McpError::DuplicateMember => "invalid_mcp_message_duplicate_member",
        McpError::EmptyBatch => "invalid_mcp_message_empty_batch",
        McpError::HeaderInvalid { .. } => "mcp_header_invalid",
        McpError::HeaderMismatch { .. } => "mcp_header_mismatch",
        McpError::HeaderWithBatch { .. } => "mcp_header_with_batch",
    }
}

/// One label per [`JwsError`] variant, behind a fixed prefix (`proof_jws_`, `token_jws_`):
/// `concat!` keeps every label a `&'static str`.
macro_rules! jws_reason {
    ($error:expr, $prefix:literal) => {
        match $error {
            JwsError::TooLarge { .. } => concat!($prefix, "too_large"),
            JwsError::SegmentCount => concat!($prefix, "segment_count"),
            JwsError::Base64(_) => concat!($prefix, "base64"),
            JwsError::Json { .. } => concat!($prefix, "json"),
            JwsError::HeaderType { .. } => concat!($prefix, "header_type"),
            JwsError::MissingAlg => concat!($prefix, "missing_alg"),
            JwsError::AlgNone => concat!($prefix, "alg_none"),
            JwsError::SymmetricAlg => concat!($prefix, "symmetric_alg"),
            JwsError::UnsupportedAlg => concat!($prefix, "unsupported_alg"),
            JwsError::AlgNotAllowed(_) => concat!($prefix, "alg_not_allowed"),
            JwsError::CritUnsupported => concat!($prefix, "crit_unsupported"),
            JwsError::UnencodedPayload => concat!($prefix, "unencoded_payload"),
            JwsError::SignatureLength { .. } => concat!($prefix, "signature_length"),
            JwsError::KeyMismatch { .. } => concat!($prefix, "key_mismatch"),
            JwsError::BadSignature => concat!($prefix, "bad_signature"),
        }
    };
}

/// One label per [`JwkError`] variant of a proof's `jwk` header (RFC 9449 §4.3 step 7).
fn proof_jwk_reason(error: &JwkError) -> &'static str {
    match error {
        JwkError::Json(_) => "proof_jwk_json",
        JwkError::MemberType { .. } => "proof_jwk_member_type",
        JwkError::MissingMember { .. } => "proof_jwk_missing_member",
        JwkError::PrivateMember { .. } => "proof_jwk_private_member",
        JwkError::SymmetricKey => "proof_jwk_symmetric_key",
        JwkError::UnsupportedKeyType => "proof_jwk_unsupported_key_type",
        JwkError::UnsupportedCurve => "proof_jwk_unsupported_curve",
        JwkError::Encoding { .. } => "proof_jwk_encoding",
        JwkError::CoordinateLength { .. } => "proof_jwk_coordinate_length",
        JwkError::InvalidKey => "proof_jwk_invalid_key",
        JwkError::RsaModulusSize { .. } => "proof_jwk_rsa_modulus_size",
        JwkError::RsaExponent => "proof_jwk_rsa_exponent",
        JwkError::UseNotSig => "proof_jwk_use_not_sig",
        JwkError::KeyOpsNotVerify => "proof_jwk_key_ops_not_verify",
        JwkError::AlgMismatch => "proof_jwk_alg_mismatch",
    }
}

pub(crate) fn proof_reason(error: &ProofError) -> &'static str {
    match error {
        ProofError::Missing => "proof_missing",
        ProofError::MultipleProofs => "proof_multiple_proofs",
        ProofError::NotAscii => "proof_not_ascii",
        ProofError::Jws(error) => jws_reason!(error, "proof_jws_"),
        ProofError::TypMissing => "proof_typ_missing",
        ProofError::TypMismatch => "proof_typ_mismatch",
        ProofError::JwkMissing => "proof_jwk_missing",
        ProofError::Jwk(error) => proof_jwk_reason(error),
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
        TokenError::Jws(error) => jws_reason!(error, "token_jws_"),
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
        TokenError::Unavailable(_) => "token_unavailable",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::dpop::{HtuError, NonceError, ReplayStoreError};
    use crate::jose::{Algorithm, Curve, JsonError, JwsPart};
    use crate::jwks::KeySourceError;
    use crate::token::UnavailableCause;

    fn mcp_errors() -> [McpError; 9] {
        let header = "Mcp-Method";
        [
            McpError::NotJson,
            McpError::NotJsonRpc,
            McpError::MethodNotString,
            McpError::NameNotString,
            McpError::DuplicateMember,
            McpError::EmptyBatch,
            McpError::HeaderInvalid { header },
            McpError::HeaderMismatch { header },
            McpError::HeaderWithBatch { header },
        ]
    }

    fn jws_errors() -> [JwsError; 15] {
        let alg = Algorithm::ES256;
        [
            JwsError::TooLarge { len: 2, max: 1 },
            JwsError::SegmentCount,
            JwsError::Base64(JwsPart::Header),
            JwsError::Json {
                part: JwsPart::Payload,
                reason: JsonError::Syntax,
            },
            JwsError::HeaderType { name: "alg" },
            JwsError::MissingAlg,
            JwsError::AlgNone,
            JwsError::SymmetricAlg,
            JwsError::UnsupportedAlg,
            JwsError::AlgNotAllowed(alg),
            JwsError::CritUnsupported,
            JwsError::UnencodedPayload,
            JwsError::SignatureLength {
                alg,
                len: 1,
                expected: 64,
            },
            JwsError::KeyMismatch { alg },
            JwsError::BadSignature,
        ]
    }

    fn jwk_errors() -> [JwkError; 15] {
        let name = "x";
        [
            JwkError::Json(JsonError::Syntax),
            JwkError::MemberType { name },
            JwkError::MissingMember { name },
            JwkError::PrivateMember { name: "d" },
            JwkError::SymmetricKey,
            JwkError::UnsupportedKeyType,
            JwkError::UnsupportedCurve,
            JwkError::Encoding { name },
            JwkError::CoordinateLength {
                name,
                curve: Some(Curve::P256),
                len: 31,
                expected: 32,
            },
            JwkError::InvalidKey,
            JwkError::RsaModulusSize { bits: 1024 },
            JwkError::RsaExponent,
            JwkError::UseNotSig,
            JwkError::KeyOpsNotVerify,
            JwkError::AlgMismatch,
        ]
    }

    /// One refusal of every variant, nested JOSE and MCP variants included.
    fn every_refusal() -> Vec<Refusal> {
        let request = [
            RequestError::NoCredentials,
            RequestError::MultipleAuthorization,
            RequestError::MalformedAuthorization,
            RequestError::TokenTooLarge { len: 2, max: 1 },
            RequestError::InvalidRequestUri,
            RequestError::BearerNotAllowed,
            RequestError::BoundTokenAsBearer,
            RequestError::UnboundTokenAsDpop,
            RequestError::BodyTooLarge { max: 1 },
            RequestError::BodyUnreadable,
        ]
        .into_iter()
        .chain(mcp_errors().map(RequestError::Mcp))
        .map(Refusal::Request);
        let proof = [
            ProofError::Missing,
            ProofError::MultipleProofs,
            ProofError::NotAscii,
            ProofError::TypMissing,
            ProofError::TypMismatch,
            ProofError::JwkMissing,
            ProofError::WrongType { name: "typ" },
            ProofError::ClaimMissing { name: "jti" },
            ProofError::JtiEmpty,
            ProofError::JtiTooLong { len: 2, max: 1 },
            ProofError::HtmMismatch {
                expected: "POST".into(),
            },
            ProofError::HtuInvalid(HtuError::Malformed),
            ProofError::HtuMismatch,
            ProofError::IatTooOld { iat: 0, now: 1000 },
            ProofError::IatInFuture { iat: 1000, now: 0 },
            ProofError::NonceMissing,
            ProofError::NonceInvalid(NonceError::Malformed),
            ProofError::AthMissing,
            ProofError::AthMismatch,
            ProofError::KeyMismatch,
            ProofError::Replayed,
            ProofError::ReplayStore(ReplayStoreError::Full { capacity: 1 }),
        ]
        .into_iter()
        .chain(jws_errors().map(ProofError::Jws))
        .chain(jwk_errors().map(ProofError::Jwk))
        .map(Refusal::Proof);
        let token = [
            TokenError::TooLarge { len: 2, max: 1 },
            TokenError::NotAJwt,
            TokenError::UnknownKey,
            TokenError::ProofAsToken,
            TokenError::TypNotAtJwt,
            TokenError::WrongType { name: "exp" },
            TokenError::ClaimMissing { name: "exp" },
            TokenError::IssuerMismatch,
            TokenError::AudienceMismatch,
            TokenError::Expired { exp: 0, now: 1 },
            TokenError::NotYetValid { nbf: 1, now: 0 },
            TokenError::UnsupportedBinding,
            TokenError::Inactive,
            TokenError::TokenTypeNotDpop,
            TokenError::Unavailable(UnavailableCause::Keys(KeySourceError::NotLoaded)),
        ]
        .into_iter()
        .chain(jws_errors().map(TokenError::Jws))
        .map(Refusal::Token);
        request
            .chain(proof)
            .chain(token)
            .chain([Refusal::InsufficientScope {
                required: vec!["mcp".into()],
            }])
            .collect()
    }

    #[test]
    fn every_mcp_error_has_its_own_reason_and_the_wire_answer_of_its_kind() {
        let body = challenge(
            400,
            Some(ErrorCode::InvalidRequest),
            "request body is not a valid JSON-RPC message",
        );
        let header = Challenge {
            json_rpc_code: HEADER_MISMATCH_CODE,
            ..challenge(
                400,
                Some(ErrorCode::InvalidRequest),
                "Mcp-Method or Mcp-Name header disagrees with the body",
            )
        };
        let mut reasons = HashSet::new();
        for error in mcp_errors() {
            let refusal = Refusal::from(RequestError::Mcp(error));
            let reason = refusal.reason();
            assert!(reasons.insert(reason), "{error:?}: {reason} twice");
            let expected = match error {
                McpError::HeaderInvalid { .. }
                | McpError::HeaderMismatch { .. }
                | McpError::HeaderWithBatch { .. } => {
                    assert!(reason.starts_with("mcp_header_"), "{reason}");
                    header
                }
                _ => {
                    assert!(reason.starts_with("invalid_mcp_message_"), "{reason}");
                    body
                }
            };
            assert_eq!(refusal.challenge(), expected, "{error:?}");
            // The variant's own text reaches the log line, never the client.
            assert!(refusal.to_string().ends_with(&error.to_string()));
        }
        assert_eq!(reasons.len(), 9);
    }

    #[test]
    fn every_jws_error_has_its_own_reason_for_proofs_and_for_tokens() {
        let proof = challenge(401, Some(ErrorCode::InvalidDpopProof), "invalid DPoP proof");
        let token = challenge(401, Some(ErrorCode::InvalidToken), "invalid access token");
        let mut reasons = HashSet::new();
        for error in jws_errors() {
            let as_proof = Refusal::from(ProofError::Jws(error.clone()));
            let as_token = Refusal::from(TokenError::Jws(error.clone()));
            let (p, t) = (as_proof.reason(), as_token.reason());
            assert!(p.starts_with("proof_jws_") && t.starts_with("token_jws_"));
            // The same rule under both prefixes.
            assert_eq!(&p["proof_jws_".len()..], &t["token_jws_".len()..]);
            assert!(reasons.insert(p) && reasons.insert(t), "{error:?}");
            assert_eq!(as_proof.challenge(), proof, "{error:?}");
            assert_eq!(as_token.challenge(), token, "{error:?}");
        }
        assert_eq!(reasons.len(), 30);
    }

    #[test]
    fn every_jwk_error_has_its_own_reason() {
        let expected = challenge(401, Some(ErrorCode::InvalidDpopProof), "invalid DPoP proof");
        let mut reasons = HashSet::new();
        for error in jwk_errors() {
            let refusal = Refusal::from(ProofError::Jwk(error.clone()));
            assert!(reasons.insert(refusal.reason()), "{error:?}");
            assert!(refusal.reason().starts_with("proof_jwk_"));
            assert_eq!(refusal.challenge(), expected, "{error:?}");
        }
        assert_eq!(reasons.len(), 15);
    }

    #[test]
    fn the_cause_of_an_unavailable_token_changes_neither_label_nor_answer() {
        let causes = [
            UnavailableCause::Keys(KeySourceError::NotLoaded),
            UnavailableCause::Keys(KeySourceError::Fetch(crate::jwks::FetchError::Status(500))),
            UnavailableCause::Introspection(crate::token::IntrospectionFailure::Timeout),
        ];
        for cause in causes {
            let refusal = Refusal::from(TokenError::Unavailable(cause));
            assert_eq!(refusal.reason(), "token_unavailable");
            assert_eq!(
                refusal.challenge(),
                challenge(503, None, "token verification temporarily unavailable")
            );
        }
    }

    #[test]
    fn every_reason_is_distinct_bounded_and_documented() {
        let docs = include_str!("../../docs/guard.md");
        let mut reasons = HashSet::new();
        for refusal in every_refusal() {
            let reason = refusal.reason();
            assert!(reasons.insert(reason), "{reason} for two refusals");
            assert!(
                !reason.is_empty()
                    && reason.len() <= 48
                    && reason
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{reason}"
            );
            assert!(
                docs.contains(&format!("`{reason}`")),
                "{reason} is not listed in docs/guard.md"
            );
        }
        assert_eq!(reasons.len(), every_refusal().len());
    }
}
