//! RFC 7662 introspection responses, checked into an [`AccessToken`].
//!
//! The HTTP client that asks an authorization server is
//! [`IntrospectionClient`](super::IntrospectionClient); this module owns what a response must
//! say for the token to be accepted, so that the client, the tests and the vector runner
//! share one set of rules.

use serde_json::Value;

use crate::jose::Object;

use super::claims::{AccessToken, ClaimRules};
use super::error::TokenError;

/// What an introspection response must satisfy.
#[derive(Debug, Clone)]
pub struct IntrospectionRules {
    issuers: Vec<String>,
    audience: String,
    leeway_s: u64,
}

impl IntrospectionRules {
    /// Responses must name `audience` in `aud`; `iss`, when present, must be one of
    /// `issuers`.
    pub fn new(audience: impl Into<String>, issuers: Vec<String>) -> Self {
        IntrospectionRules {
            issuers,
            audience: audience.into(),
            leeway_s: 0,
        }
    }

    /// Clock tolerance for `exp`/`nbf` in seconds (default 0).
    pub fn leeway_s(mut self, seconds: u64) -> Self {
        self.leeway_s = seconds;
        self
    }

    /// Checks one response (RFC 7662 §2.2) at time `now`.
    ///
    /// `active` must be the JSON `true`; `aud` must name the resource (RFC 8707 — without
    /// it the response does not say the token is meant for us, so it is refused); `exp` and
    /// `nbf` are honoured when present; `cnf.jkt` is read as a top-level member (RFC 9449
    /// §6.2), and a bound token's `token_type`, when present, must be `DPoP`.
    pub fn check(&self, response: Object, now: u64) -> Result<AccessToken, TokenError> {
        match response.get("active") {
            Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) | None => return Err(TokenError::Inactive),
            Some(_) => return Err(TokenError::WrongType { name: "active" }),
        }
        let token_type = match response.get("token_type") {
            None => None,
            Some(Value::String(kind)) => Some(kind.clone()),
            Some(_) => return Err(TokenError::WrongType { name: "token_type" }),
        };
        let rules = ClaimRules {
            issuers: &self.issuers,
            audience: &self.audience,
            leeway_s: self.leeway_s,
            jwt: false,
        };
        let token = AccessToken::from_claims(response, &rules, now)?;
        if token.bound_jkt().is_some()
            && token_type.is_some_and(|kind| !kind.eq_ignore_ascii_case("DPoP"))
        {
            return Err(TokenError::TokenTypeNotDpop);
        }
        Ok(token)
    }
}
