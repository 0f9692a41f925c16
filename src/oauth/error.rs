//! OAuth error responses (RFC 6749 §5.2): the codes, their HTTP status, and the JSON body.

use std::borrow::Cow;

use serde_json::Value;

use crate::jose::{Object, parse_object};

/// An `error` code of a token endpoint (RFC 6749 §5.2) and the extensions registered since.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// RFC 6749 §5.2: a parameter missing, repeated, unsupported or malformed.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2: the grant (here, the assertion) is invalid, expired or not trusted.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the requested scope is invalid or exceeds what may be granted.
    InvalidScope,
    /// RFC 8707 §2: the requested resource is unknown or not allowed.
    InvalidTarget,
    /// RFC 9449 §5: the DPoP proof is missing or invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: retry with the nonce in the `DPoP-Nonce` header.
    UseDpopNonce,
    /// The server cannot answer now (a trusted issuer's keys are unreachable); the
    /// authorization-endpoint code of RFC 6749 §4.1.2.1, used with 503.
    TemporarilyUnavailable,
    /// A code this crate does not know, as received.
    Other(String),
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::Other(code) => code,
        }
    }

    /// Parses a received code; unknown codes are kept as [`ErrorCode::Other`].
    pub fn parse(code: &str) -> Self {
        match code {
            "invalid_request" => ErrorCode::InvalidRequest,
            "invalid_client" => ErrorCode::InvalidClient,
            "invalid_grant" => ErrorCode::InvalidGrant,
            "unauthorized_client" => ErrorCode::UnauthorizedClient,
            "unsupported_grant_type" => ErrorCode::UnsupportedGrantType,
            "invalid_scope" => ErrorCode::InvalidScope,
            "invalid_target" => ErrorCode::InvalidTarget,
            "invalid_dpop_proof" => ErrorCode::InvalidDpopProof,
            "use_dpop_nonce" => ErrorCode::UseDpopNonce,
            "temporarily_unavailable" => ErrorCode::TemporarilyUnavailable,
            other => ErrorCode::Other(other.to_owned()),
        }
    }

    /// The status a token endpoint answers with. RFC 6749 §5.2: 400, except
    /// `invalid_client`, which is 401 (a client that authenticated through the
    /// `Authorization` header must also get a `WWW-Authenticate` challenge there).
    pub fn status(&self) -> u16 {
        match self {
            ErrorCode::InvalidClient => 401,
            ErrorCode::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error response body (RFC 6749 §5.2): `error`, and an optional human-readable
/// `error_description`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    /// `error`.
    pub error: ErrorCode,
    /// `error_description`: for the developer reading it, never the precise reason a
    /// security check failed (that goes to the audit log).
    pub description: Option<Cow<'static, str>>,
}

/// The longest `error_description` kept from a received response.
const MAX_DESCRIPTION: usize = 512;

impl ErrorResponse {
    /// An error with no description.
    pub fn new(error: ErrorCode) -> Self {
        ErrorResponse {
            error,
            description: None,
        }
    }

    /// With an `error_description`.
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        let mut body = Object::new();
        body.insert("error".into(), Value::from(self.error.as_str()));
        if let Some(description) = &self.description {
            body.insert(
                "error_description".into(),
                Value::from(description.as_ref()),
            );
        }
        Value::Object(body).to_string()
    }

    /// Parses a received error body; `None` if it is not an RFC 6749 §5.2 object (no string
    /// `error`, duplicate members, not JSON). A long description is cut, on a character
    /// boundary, so an endpoint cannot fill a log.
    pub fn parse(body: &[u8]) -> Option<Self> {
        let object = parse_object(body).ok()?;
        let error = object.get("error")?.as_str()?;
        let description = object
            .get("error_description")
            .and_then(Value::as_str)
            .map(|text| {
                let mut end = text.len().min(MAX_DESCRIPTION);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                Cow::Owned(text[..end].to_owned())
            });
        Some(ErrorResponse {
            error: ErrorCode::parse(error),
            description,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_carry_their_status() {
        for code in [
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidClient,
            ErrorCode::InvalidGrant,
            ErrorCode::UnauthorizedClient,
            ErrorCode::UnsupportedGrantType,
            ErrorCode::InvalidScope,
            ErrorCode::InvalidTarget,
            ErrorCode::InvalidDpopProof,
            ErrorCode::UseDpopNonce,
            ErrorCode::TemporarilyUnavailable,
        ] {
            assert_eq!(ErrorCode::parse(code.as_str()), code);
        }
        assert_eq!(ErrorCode::InvalidClient.status(), 401);
        assert_eq!(ErrorCode::TemporarilyUnavailable.status(), 503);
        assert_eq!(ErrorCode::InvalidTarget.status(), 400);
        assert_eq!(
            ErrorCode::parse("slow_down"),
            ErrorCode::Other("slow_down".into())
        );
    }

    #[test]
    fn bodies_are_written_and_read_strictly() {
        let body = ErrorResponse::new(ErrorCode::InvalidGrant)
            .with_description("assertion refused")
            .to_json();
        assert_eq!(
            body,
            r#"{"error":"invalid_grant","error_description":"assertion refused"}"#
        );
        let parsed = ErrorResponse::parse(body.as_bytes()).expect("parses");
        assert_eq!(parsed.error, ErrorCode::InvalidGrant);
        assert!(ErrorResponse::parse(br#"{"error":"a","error":"b"}"#).is_none());
        assert!(ErrorResponse::parse(br#"{"error":7}"#).is_none());
        let long = format!(
            r#"{{"error":"x","error_description":"{}"}}"#,
            "é".repeat(400)
        );
        let cut = ErrorResponse::parse(long.as_bytes()).expect("parses");
        assert!(cut.description.expect("kept").len() <= MAX_DESCRIPTION);
    }
}
