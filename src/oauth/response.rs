//! Successful token responses (RFC 6749 §5.1, RFC 8693 §2.2.1, RFC 9449 §5).

use serde_json::Value;

use crate::jose::{JsonError, Object, parse_object};
use crate::secret::Secret;

/// A token endpoint's successful answer.
///
/// `Debug` never prints the access token.
#[derive(Debug, Clone)]
pub struct TokenResponse {
    /// `access_token`.
    pub access_token: Secret,
    /// `token_type`: `DPoP` for a key-bound token (RFC 9449 §5), `Bearer` otherwise.
    /// Compared case-insensitively (RFC 6749 §5.1).
    pub token_type: String,
    /// `expires_in`, seconds (RFC 6749 §5.1 recommends it; a client without it must
    /// assume a short lifetime).
    pub expires_in: Option<u64>,
    /// `scope`, when the granted scope differs from the requested one (RFC 6749 §5.1) —
    /// this crate's issuer always sends it.
    pub scope: Option<String>,
    /// `issued_token_type` (RFC 8693 §2.2.1), required in a token-exchange answer.
    pub issued_token_type: Option<String>,
}

/// Why a token response was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenResponseError {
    /// Not one JSON object with unique members.
    #[error("token response is not a JSON object: {0}")]
    Json(#[from] JsonError),
    /// A required member is missing.
    #[error("token response lacks {0}")]
    Missing(&'static str),
    /// A member has the wrong type (or `expires_in` is negative or fractional).
    #[error("token response member {0} has the wrong type")]
    WrongType(&'static str),
}

impl TokenResponse {
    /// Whether `token_type` is `DPoP` (RFC 9449 §5; case-insensitive, RFC 6749 §5.1).
    pub fn is_dpop(&self) -> bool {
        self.token_type.eq_ignore_ascii_case("DPoP")
    }

    /// Parses a response body strictly: duplicate members are refused, so two parsers
    /// cannot read two different tokens from one answer.
    pub fn parse(body: &[u8]) -> Result<Self, TokenResponseError> {
        let object = parse_object(body)?;
        let text = |name: &'static str| match object.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(TokenResponseError::WrongType(name)),
        };
        let access_token =
            text("access_token")?.ok_or(TokenResponseError::Missing("access_token"))?;
        let token_type = text("token_type")?.ok_or(TokenResponseError::Missing("token_type"))?;
        let expires_in = match object.get("expires_in") {
            None => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .ok_or(TokenResponseError::WrongType("expires_in"))?,
            ),
        };
        Ok(TokenResponse {
            access_token: Secret::new(access_token),
            token_type,
            expires_in,
            scope: text("scope")?,
            issued_token_type: text("issued_token_type")?,
        })
    }

    /// The JSON body (what the issuer sends, with `Cache-Control: no-store`, RFC 6749 §5.1).
    pub fn to_json(&self) -> String {
        let mut body = Object::new();
        body.insert(
            "access_token".into(),
            Value::from(self.access_token.expose()),
        );
        body.insert("token_type".into(), Value::from(self.token_type.as_str()));
        if let Some(expires_in) = self.expires_in {
            body.insert("expires_in".into(), Value::from(expires_in));
        }
        if let Some(scope) = &self.scope {
            body.insert("scope".into(), Value::from(scope.as_str()));
        }
        if let Some(issued) = &self.issued_token_type {
            body.insert("issued_token_type".into(), Value::from(issued.as_str()));
        }
        Value::Object(body).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_round_trips() {
        let response = TokenResponse {
            access_token: Secret::new("at"),
            token_type: "DPoP".into(),
            expires_in: Some(300),
            scope: Some("tools:call".into()),
            issued_token_type: Some(crate::oauth::token_type::ACCESS_TOKEN.into()),
        };
        let parsed = TokenResponse::parse(response.to_json().as_bytes()).expect("parses");
        assert_eq!(parsed.access_token.expose(), "at");
        assert!(parsed.is_dpop());
        assert_eq!(parsed.expires_in, Some(300));
        assert_eq!(parsed.scope.as_deref(), Some("tools:call"));
        assert!(!format!("{parsed:?}").contains("\"at\""));
    }

    #[test]
    fn malformed_responses_are_refused() {
        let refused = |body: &str| TokenResponse::parse(body.as_bytes()).unwrap_err();
        assert_eq!(
            refused(r#"{"token_type":"DPoP"}"#),
            TokenResponseError::Missing("access_token")
        );
        assert_eq!(
            refused(r#"{"access_token":"a","token_type":"DPoP","expires_in":-1}"#),
            TokenResponseError::WrongType("expires_in")
        );
        assert_eq!(
            refused(r#"{"access_token":"a","access_token":"b","token_type":"DPoP"}"#),
            TokenResponseError::Json(JsonError::DuplicateMember)
        );
        assert!(
            TokenResponse::parse(br#"{"access_token":"a","token_type":"bearer"}"#)
                .is_ok_and(|response| !response.is_dpop())
        );
    }
}
