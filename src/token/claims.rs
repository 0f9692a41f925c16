//! Verified access-token claims, shared by JWT verification (RFC 9068) and introspection
//! (RFC 7662).

use std::sync::Arc;

use serde_json::Value;

use crate::jose::Object;

use super::error::TokenError;

/// An access token that passed verification: its claims, strictly typed.
///
/// Only this crate builds one, after checking signature (or introspection), issuer,
/// audience and lifetime.
#[derive(Debug, Clone)]
pub struct AccessToken(Arc<Verified>);

/// The claims behind an [`AccessToken`], shared: a token served from the verified-token
/// cache reaches every request without copying its claims.
#[derive(Debug)]
struct Verified {
    issuer: String,
    subject: Option<String>,
    client_id: Option<String>,
    audience: Vec<String>,
    scopes: Vec<String>,
    jti: Option<String>,
    expires_at: u64,
    not_before: Option<u64>,
    bound_jkt: Option<String>,
    claims: Object,
}

impl AccessToken {
    /// `iss`.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// `sub`, if present.
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// `client_id` (RFC 9068 §2.2, RFC 8693 §4.3), if present.
    pub fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
    }

    /// `aud`, as a list.
    pub fn audience(&self) -> &[String] {
        &self.0.audience
    }

    /// The granted scopes (`scope`, space-separated per RFC 6749 §3.3; or a `scp` array).
    pub fn scopes(&self) -> &[String] {
        &self.0.scopes
    }

    /// `jti`, if present.
    pub fn jti(&self) -> Option<&str> {
        self.0.jti.as_deref()
    }

    /// `exp`; `u64::MAX` for an introspected token whose response gave none.
    pub fn expires_at(&self) -> u64 {
        self.0.expires_at
    }

    /// `cnf.jkt` (RFC 9449 §6): the thumbprint of the key the token is bound to.
    pub fn bound_jkt(&self) -> Option<&str> {
        self.0.bound_jkt.as_deref()
    }

    /// Whether the token is still within its lifetime at `now` (`nbf`, `exp`, with
    /// `leeway_s`): what a cached verification must re-check on every use.
    pub fn is_current(&self, now: u64, leeway_s: u64) -> Result<(), TokenError> {
        if now >= self.0.expires_at.saturating_add(leeway_s) {
            return Err(TokenError::Expired {
                exp: self.0.expires_at,
                now,
            });
        }
        if let Some(nbf) = self.0.not_before
            && now.saturating_add(leeway_s) < nbf
        {
            return Err(TokenError::NotYetValid { nbf, now });
        }
        Ok(())
    }

    /// Every claim, as received.
    pub fn claims(&self) -> &Object {
        &self.0.claims
    }
}

/// What the claims must satisfy, besides the signature.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRules<'a> {
    pub(crate) issuers: &'a [String],
    pub(crate) audience: &'a str,
    pub(crate) leeway_s: u64,
    /// JWTs must carry `iss` and `exp`; introspection responses may omit them
    /// (RFC 7662 §2.2), the `active` verdict standing in for the lifetime.
    pub(crate) jwt: bool,
}

impl AccessToken {
    /// Checks the registered claims and builds the verified token.
    pub(crate) fn from_claims(
        claims: Object,
        rules: &ClaimRules<'_>,
        now: u64,
    ) -> Result<Self, TokenError> {
        let issuer = match optional_str(&claims, "iss")? {
            Some(iss) => {
                // RFC 7519 §4.1.1 / RFC 9068 §4: exact string comparison.
                if !rules.issuers.iter().any(|trusted| trusted == iss) {
                    return Err(TokenError::IssuerMismatch);
                }
                iss.to_owned()
            }
            None if rules.jwt => return Err(TokenError::ClaimMissing { name: "iss" }),
            None => rules.issuers.first().cloned().unwrap_or_default(),
        };
        // RFC 7519 §4.1.3: a string or an array of strings; RFC 8707 §2: it must name us.
        let audience = match claims.get("aud") {
            None => return Err(TokenError::ClaimMissing { name: "aud" }),
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(aud) => Ok(aud.clone()),
                    _ => Err(TokenError::WrongType { name: "aud" }),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err(TokenError::WrongType { name: "aud" }),
        };
        if !audience.iter().any(|aud| aud == rules.audience) {
            return Err(TokenError::AudienceMismatch);
        }
        // RFC 7519 §4.1.4: exp required here (RFC 9068 §2.2).
        let expires_at = match numeric_date(&claims, "exp")? {
            Some(exp) => exp,
            None if rules.jwt => return Err(TokenError::ClaimMissing { name: "exp" }),
            None => u64::MAX,
        };
        if now >= expires_at.saturating_add(rules.leeway_s) {
            return Err(TokenError::Expired {
                exp: expires_at,
                now,
            });
        }
        // RFC 7519 §4.1.5.
        let not_before = numeric_date(&claims, "nbf")?;
        if let Some(nbf) = not_before
            && now.saturating_add(rules.leeway_s) < nbf
        {
            return Err(TokenError::NotYetValid { nbf, now });
        }
        numeric_date(&claims, "iat")?;
        let subject = optional_str(&claims, "sub")?.map(str::to_owned);
        let client_id = optional_str(&claims, "client_id")?.map(str::to_owned);
        let jti = optional_str(&claims, "jti")?.map(str::to_owned);
        let scopes = scopes(&claims)?;
        let bound_jkt = confirmation(&claims)?;
        Ok(AccessToken(Arc::new(Verified {
            issuer,
            subject,
            client_id,
            audience,
            scopes,
            jti,
            expires_at,
            not_before,
            bound_jkt,
            claims,
        })))
    }
}

/// RFC 9449 §6.1: `cnf.jkt`. A `cnf` carrying only another confirmation method binds the
/// token to something this resource cannot check, so it is refused rather than treated
/// as unbound.
fn confirmation(claims: &Object) -> Result<Option<String>, TokenError> {
    match claims.get("cnf") {
        None => Ok(None),
        Some(Value::Object(cnf)) => match cnf.get("jkt") {
            Some(Value::String(jkt)) => Ok(Some(jkt.clone())),
            Some(_) => Err(TokenError::WrongType { name: "cnf.jkt" }),
            None if cnf.is_empty() => Ok(None),
            None => Err(TokenError::UnsupportedBinding),
        },
        Some(_) => Err(TokenError::WrongType { name: "cnf" }),
    }
}

/// RFC 9068 §2.2.3 / RFC 8693 §4.2: `scope` is one space-separated string. Some issuers use
/// a `scp` array instead; it is read only when `scope` is absent.
fn scopes(claims: &Object) -> Result<Vec<String>, TokenError> {
    if let Some(scope) = optional_str(claims, "scope")? {
        return Ok(scope
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect());
    }
    match claims.get("scp") {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(scope) => Ok(scope.clone()),
                _ => Err(TokenError::WrongType { name: "scp" }),
            })
            .collect(),
        Some(_) => Err(TokenError::WrongType { name: "scp" }),
    }
}

fn optional_str<'a>(claims: &'a Object, name: &'static str) -> Result<Option<&'a str>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(TokenError::WrongType { name }),
    }
}

fn numeric_date(claims: &Object, name: &'static str) -> Result<Option<u64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => crate::jose::numeric_date(value)
            .map(Some)
            .ok_or(TokenError::WrongType { name }),
    }
}
