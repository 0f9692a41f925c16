//! Token requests as sent: an `application/x-www-form-urlencoded` body (RFC 6749 §3.2,
//! Appendix B) read into a typed [`TokenRequest`], every parameter bounded.
//!
//! - RFC 6749 §3.2: parameters sent without a value are treated as omitted, unknown
//!   parameters are ignored, and none may appear more than once — except `resource`
//!   (RFC 8707 §2) and `audience` (RFC 8693 §2.1), which may repeat.
//! - RFC 7523 §2.1: `assertion` holds exactly one JWT.
//! - RFC 8693 §2.1: `subject_token` with its `subject_token_type`; `actor_token` only with
//!   `actor_token_type`.
//! - RFC 7523 §2.2: `client_assertion` with `client_assertion_type` = jwt-bearer.

use url::form_urlencoded;

use crate::oauth::{JWT_BEARER_CLIENT_ASSERTION, grant_type, token_type};

use super::policy::GrantKind;

/// Limits on a token request's body.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// The whole body, in bytes (default 64 KiB).
    pub max_body_bytes: usize,
    /// One assertion or subject/actor token, in bytes (default 16 KiB).
    pub max_assertion_bytes: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_body_bytes: 64 * 1024,
            max_assertion_bytes: 16 * 1024,
        }
    }
}

/// The most parameters read from one body; a form with more is refused rather than
/// parsed at length.
const MAX_PARAMETERS: usize = 64;
/// The most `resource` or `audience` values.
const MAX_TARGETS: usize = 8;
/// The longest value of any other parameter.
const MAX_VALUE_BYTES: usize = 4096;

/// A parsed token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The grant.
    pub grant: GrantKind,
    /// The workload's token: `assertion`, `subject_token` or `client_assertion`.
    pub assertion: String,
    /// RFC 8693 `actor_token`, if any (its type was checked).
    pub actor_token: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `resource` values.
    pub resources: Vec<String>,
    /// `audience` values.
    pub audiences: Vec<String>,
    /// RFC 8693 `subject_token_type`, for the audit record.
    pub subject_token_type: Option<String>,
}

/// Why a token request body was refused; each maps to an RFC 6749 §5.2 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Over [`RequestLimits::max_body_bytes`].
    #[error("the body is over {max} bytes")]
    BodyTooLarge {
        /// The cap.
        max: usize,
    },
    /// Not `application/x-www-form-urlencoded`.
    #[error("the body is not application/x-www-form-urlencoded")]
    ContentType,
    /// Not UTF-8 after decoding, or too many parameters.
    #[error("the form is malformed")]
    Malformed,
    /// A parameter appears twice (RFC 6749 §3.2).
    #[error("parameter {0} appears more than once")]
    Repeated(&'static str),
    /// A required parameter is missing.
    #[error("parameter {0} is missing")]
    Missing(&'static str),
    /// A value is longer than allowed.
    #[error("parameter {0} is too long")]
    TooLong(&'static str),
    /// More `resource` or `audience` values than allowed.
    #[error("too many {0} values")]
    TooManyTargets(&'static str),
    /// A `grant_type` this issuer does not serve.
    #[error("unsupported grant type")]
    UnsupportedGrantType,
    /// `subject_token_type`, `actor_token_type` or `requested_token_type` is not one
    /// this issuer handles.
    #[error("unsupported {0}")]
    UnsupportedTokenType(&'static str),
    /// `client_assertion_type` is not jwt-bearer (RFC 7523 §2.2).
    #[error("unsupported client_assertion_type")]
    ClientAssertionType,
    /// Client authentication sent where the grant's assertion already identifies the
    /// workload (a client secret, or a client assertion beside `assertion`).
    #[error("client authentication is not accepted with this grant")]
    UnexpectedClientAuth,
    /// RFC 8707 §2: a `resource` that is not an absolute URI without fragment.
    #[error("resource is not an absolute URI without fragment")]
    InvalidResource,
}

impl RequestError {
    /// A short, stable name for metrics labels and audit records.
    pub fn reason(&self) -> &'static str {
        match self {
            RequestError::BodyTooLarge { .. } => "request_body_too_large",
            RequestError::ContentType => "request_content_type",
            RequestError::Malformed => "request_malformed",
            RequestError::Repeated(_) => "request_parameter_repeated",
            RequestError::Missing(_) => "request_parameter_missing",
            RequestError::TooLong(_) => "request_parameter_too_long",
            RequestError::TooManyTargets(_) => "request_too_many_targets",
            RequestError::UnsupportedGrantType => "request_unsupported_grant_type",
            RequestError::UnsupportedTokenType(_) => "request_unsupported_token_type",
            RequestError::ClientAssertionType => "request_client_assertion_type",
            RequestError::UnexpectedClientAuth => "request_client_auth",
            RequestError::InvalidResource => "request_invalid_resource",
        }
    }
}

/// The parameters this issuer reads; every other one is ignored (RFC 6749 §3.2).
#[derive(Default)]
struct Form {
    grant_type: Option<String>,
    assertion: Option<String>,
    scope: Option<String>,
    subject_token: Option<String>,
    subject_token_type: Option<String>,
    actor_token: Option<String>,
    actor_token_type: Option<String>,
    requested_token_type: Option<String>,
    client_assertion: Option<String>,
    client_assertion_type: Option<String>,
    client_secret: Option<String>,
    resources: Vec<String>,
    audiences: Vec<String>,
}

impl TokenRequest {
    /// Parses a body already capped at [`RequestLimits::max_body_bytes`] by the caller.
    pub fn parse(body: &[u8], limits: &RequestLimits) -> Result<Self, RequestError> {
        if body.len() > limits.max_body_bytes {
            return Err(RequestError::BodyTooLarge {
                max: limits.max_body_bytes,
            });
        }
        let form = read_form(body, limits)?;
        let grant = match form.grant_type.as_deref() {
            None => return Err(RequestError::Missing("grant_type")),
            Some(grant_type::JWT_BEARER) => GrantKind::JwtBearer,
            Some(grant_type::TOKEN_EXCHANGE) => GrantKind::TokenExchange,
            Some(grant_type::CLIENT_CREDENTIALS) => GrantKind::ClientCredentials,
            Some(_) => return Err(RequestError::UnsupportedGrantType),
        };
        if form.client_secret.is_some() {
            return Err(RequestError::UnexpectedClientAuth);
        }
        for resource in &form.resources {
            // RFC 8707 §2: an absolute URI, no fragment.
            match url::Url::parse(resource) {
                Ok(url) if url.fragment().is_none() && !url.cannot_be_a_base() => {}
                _ => return Err(RequestError::InvalidResource),
            }
        }
        let (assertion, actor_token, subject_token_type) = match grant {
            GrantKind::JwtBearer => {
                if form.client_assertion.is_some() {
                    return Err(RequestError::UnexpectedClientAuth);
                }
                let assertion = form.assertion.ok_or(RequestError::Missing("assertion"))?;
                (assertion, None, None)
            }
            GrantKind::TokenExchange => {
                if form.client_assertion.is_some() {
                    return Err(RequestError::UnexpectedClientAuth);
                }
                let subject = form
                    .subject_token
                    .ok_or(RequestError::Missing("subject_token"))?;
                let subject_type = form
                    .subject_token_type
                    .ok_or(RequestError::Missing("subject_token_type"))?;
                if !is_jwt_type(&subject_type) {
                    return Err(RequestError::UnsupportedTokenType("subject_token_type"));
                }
                // RFC 8693 §2.1: actor_token_type is required with actor_token, and must
                // not be sent without it.
                match (&form.actor_token, &form.actor_token_type) {
                    (Some(_), Some(kind)) if is_jwt_type(kind) => {}
                    (Some(_), Some(_)) => {
                        return Err(RequestError::UnsupportedTokenType("actor_token_type"));
                    }
                    (Some(_), None) => return Err(RequestError::Missing("actor_token_type")),
                    (None, Some(_)) => return Err(RequestError::Missing("actor_token")),
                    (None, None) => {}
                }
                // What this issuer issues: an access token (in JWT form).
                if let Some(requested) = &form.requested_token_type
                    && requested != token_type::ACCESS_TOKEN
                    && requested != token_type::JWT
                {
                    return Err(RequestError::UnsupportedTokenType("requested_token_type"));
                }
                (subject, form.actor_token, Some(subject_type))
            }
            GrantKind::ClientCredentials => {
                let kind = form
                    .client_assertion_type
                    .ok_or(RequestError::Missing("client_assertion_type"))?;
                if kind != JWT_BEARER_CLIENT_ASSERTION {
                    return Err(RequestError::ClientAssertionType);
                }
                let assertion = form
                    .client_assertion
                    .ok_or(RequestError::Missing("client_assertion"))?;
                (assertion, None, None)
            }
        };
        Ok(TokenRequest {
            grant,
            assertion,
            actor_token,
            scope: form.scope,
            resources: form.resources,
            audiences: form.audiences,
            subject_token_type,
        })
    }
}

fn is_jwt_type(kind: &str) -> bool {
    kind == token_type::JWT || kind == token_type::ID_TOKEN
}

fn read_form(body: &[u8], limits: &RequestLimits) -> Result<Form, RequestError> {
    let mut form = Form::default();
    for (count, (name, value)) in form_urlencoded::parse(body).enumerate() {
        if count >= MAX_PARAMETERS {
            return Err(RequestError::Malformed);
        }
        // `parse` replaces invalid UTF-8 with U+FFFD; a token request is ASCII, so such a
        // value can only be an attack or a broken client.
        if name.contains('\u{FFFD}') || value.contains('\u{FFFD}') {
            return Err(RequestError::Malformed);
        }
        // RFC 6749 §3.2: a parameter without a value is treated as omitted.
        if value.is_empty() {
            continue;
        }
        let (slot, name, max): (&mut Option<String>, &'static str, usize) = match name.as_ref() {
            "resource" | "audience" => {
                let (list, name) = if name == "resource" {
                    (&mut form.resources, "resource")
                } else {
                    (&mut form.audiences, "audience")
                };
                if list.len() >= MAX_TARGETS {
                    return Err(RequestError::TooManyTargets(name));
                }
                if value.len() > MAX_VALUE_BYTES {
                    return Err(RequestError::TooLong(name));
                }
                list.push(value.into_owned());
                continue;
            }
            "grant_type" => (&mut form.grant_type, "grant_type", MAX_VALUE_BYTES),
            "assertion" => (&mut form.assertion, "assertion", limits.max_assertion_bytes),
            "scope" => (&mut form.scope, "scope", MAX_VALUE_BYTES),
            "subject_token" => (
                &mut form.subject_token,
                "subject_token",
                limits.max_assertion_bytes,
            ),
            "subject_token_type" => (
                &mut form.subject_token_type,
                "subject_token_type",
                MAX_VALUE_BYTES,
            ),
            "actor_token" => (
                &mut form.actor_token,
                "actor_token",
                limits.max_assertion_bytes,
            ),
            "actor_token_type" => (
                &mut form.actor_token_type,
                "actor_token_type",
                MAX_VALUE_BYTES,
            ),
            "requested_token_type" => (
                &mut form.requested_token_type,
                "requested_token_type",
                MAX_VALUE_BYTES,
            ),
            "client_assertion" => (
                &mut form.client_assertion,
                "client_assertion",
                limits.max_assertion_bytes,
            ),
            "client_assertion_type" => (
                &mut form.client_assertion_type,
                "client_assertion_type",
                MAX_VALUE_BYTES,
            ),
            "client_secret" => (&mut form.client_secret, "client_secret", MAX_VALUE_BYTES),
            _ => continue,
        };
        if value.len() > max {
            return Err(RequestError::TooLong(name));
        }
        if slot.is_some() {
            return Err(RequestError::Repeated(name));
        }
        *slot = Some(value.into_owned());
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<TokenRequest, RequestError> {
        TokenRequest::parse(body.as_bytes(), &RequestLimits::default())
    }

    const JWT_BEARER: &str = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";

    #[test]
    fn a_jwt_bearer_request_reads() {
        let request = parse(&format!(
            "{JWT_BEARER}&assertion=a.b.c&scope=tools%3Acall+tools%3Alist\
             &resource=https%3A%2F%2Fmcp.example.com%2Fmcp&unknown=ignored&client_id="
        ))
        .expect("a request");
        assert_eq!(request.grant, GrantKind::JwtBearer);
        assert_eq!(request.assertion, "a.b.c");
        assert_eq!(request.scope.as_deref(), Some("tools:call tools:list"));
        assert_eq!(request.resources, ["https://mcp.example.com/mcp"]);
    }

    #[test]
    fn a_token_exchange_request_reads_with_its_actor() {
        let request = parse(
            "grant_type=urn:ietf:params:oauth:grant-type:token-exchange\
             &subject_token=s.s.s&subject_token_type=urn:ietf:params:oauth:token-type:jwt\
             &actor_token=a.a.a&actor_token_type=urn:ietf:params:oauth:token-type:id_token\
             &audience=tools&audience=other\
             &requested_token_type=urn:ietf:params:oauth:token-type:access_token",
        )
        .expect("a request");
        assert_eq!(request.grant, GrantKind::TokenExchange);
        assert_eq!(request.assertion, "s.s.s");
        assert_eq!(request.actor_token.as_deref(), Some("a.a.a"));
        assert_eq!(request.audiences, ["tools", "other"]);
    }

    #[test]
    fn a_client_credentials_request_needs_a_jwt_client_assertion() {
        let base = "grant_type=client_credentials&client_assertion=c.c.c";
        assert_eq!(
            parse(base).unwrap_err(),
            RequestError::Missing("client_assertion_type")
        );
        assert_eq!(
            parse(&format!("{base}&client_assertion_type=urn:other")).unwrap_err(),
            RequestError::ClientAssertionType
        );
        let request = parse(&format!(
            "{base}&client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        ))
        .expect("a request");
        assert_eq!(request.assertion, "c.c.c");
        assert_eq!(
            parse(&format!("{base}&client_secret=s")).unwrap_err(),
            RequestError::UnexpectedClientAuth
        );
    }

    #[test]
    fn malformed_requests_are_refused_precisely() {
        let cases: [(String, RequestError); 12] = [
            ("assertion=a".into(), RequestError::Missing("grant_type")),
            (
                "grant_type=password".into(),
                RequestError::UnsupportedGrantType,
            ),
            (JWT_BEARER.into(), RequestError::Missing("assertion")),
            (
                format!("{JWT_BEARER}&assertion=a&assertion=b"),
                RequestError::Repeated("assertion"),
            ),
            (
                format!("{JWT_BEARER}&{JWT_BEARER}&assertion=a"),
                RequestError::Repeated("grant_type"),
            ),
            (
                format!("{JWT_BEARER}&assertion={}", "a".repeat(16 * 1024 + 1)),
                RequestError::TooLong("assertion"),
            ),
            (
                format!("{JWT_BEARER}&assertion=a&client_assertion=b"),
                RequestError::UnexpectedClientAuth,
            ),
            (
                format!("{JWT_BEARER}&assertion=a&resource=relative"),
                RequestError::InvalidResource,
            ),
            (
                format!("{JWT_BEARER}&assertion=a&resource=https://x.example/%23f#"),
                RequestError::InvalidResource,
            ),
            (
                format!("{JWT_BEARER}&assertion=%FF"),
                RequestError::Malformed,
            ),
            (
                format!(
                    "{JWT_BEARER}&assertion=a{}",
                    "&resource=https://r.example/".repeat(9)
                ),
                RequestError::TooManyTargets("resource"),
            ),
            (
                format!("{JWT_BEARER}&assertion=a{}", "&x=1".repeat(64)),
                RequestError::Malformed,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(&body).unwrap_err(), expected, "{body:.80}");
        }
        assert_eq!(
            TokenRequest::parse(&vec![b'a'; 64 * 1024 + 1], &RequestLimits::default()).unwrap_err(),
            RequestError::BodyTooLarge { max: 64 * 1024 }
        );
    }

    #[test]
    fn token_exchange_types_are_checked() {
        let base = "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=s";
        assert_eq!(
            parse(base).unwrap_err(),
            RequestError::Missing("subject_token_type")
        );
        assert_eq!(
            parse(&format!(
                "{base}&subject_token_type=urn:ietf:params:oauth:token-type:saml2"
            ))
            .unwrap_err(),
            RequestError::UnsupportedTokenType("subject_token_type")
        );
        let typed = format!("{base}&subject_token_type=urn:ietf:params:oauth:token-type:jwt");
        assert_eq!(
            parse(&format!("{typed}&actor_token=a")).unwrap_err(),
            RequestError::Missing("actor_token_type")
        );
        assert_eq!(
            parse(&format!(
                "{typed}&actor_token_type=urn:ietf:params:oauth:token-type:jwt"
            ))
            .unwrap_err(),
            RequestError::Missing("actor_token")
        );
        assert_eq!(
            parse(&format!(
                "{typed}&requested_token_type=urn:ietf:params:oauth:token-type:refresh_token"
            ))
            .unwrap_err(),
            RequestError::UnsupportedTokenType("requested_token_type")
        );
    }
}
