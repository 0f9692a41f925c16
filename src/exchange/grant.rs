//! The grants an agent uses to turn its workload identity into an access token, and the
//! form each puts on the wire:
//!
//! - [`Grant::JwtBearer`]: RFC 7523 §2.1, the grant of MCP SEP-1933 — the workload token is
//!   the `assertion`;
//! - [`Grant::TokenExchange`]: RFC 8693 §2.1 — the workload token is the `subject_token`,
//!   optionally with an `actor_token` (delegation, §4.1 `act`);
//! - [`Grant::FederatedClientCredentials`]: `client_credentials` (RFC 6749 §4.4) with the
//!   workload token as the RFC 7523 §2.2 `client_assertion` — how Microsoft Entra and
//!   Keycloak federate workload identity;
//! - [`Grant::ClientCredentials`]: `client_credentials` authenticated by the configured
//!   client authentication (`private_key_jwt`, a secret).
//!
//! Building the form is pure: [`form`] takes every input and the time.

use crate::oauth::{JWT_BEARER_CLIENT_ASSERTION, PreparedClientAuth, grant_type, token_type};
use crate::secret::Secret;

/// How the token is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Grant {
    /// RFC 7523 §2.1 (MCP SEP-1933): `assertion` = the workload token.
    JwtBearer,
    /// RFC 8693: `subject_token` = the workload token.
    TokenExchange {
        /// `subject_token_type`: [`token_type::JWT`] (default) or [`token_type::ID_TOKEN`].
        subject_token_type: String,
        /// `requested_token_type`, if any (e.g. [`token_type::ACCESS_TOKEN`]).
        requested_token_type: Option<String>,
    },
    /// `client_credentials` with `client_assertion` = the workload token (RFC 7523 §2.2).
    FederatedClientCredentials {
        /// `client_id`, for servers that want it next to the assertion (Entra does).
        client_id: Option<String>,
    },
    /// `client_credentials` with the configured client authentication; no workload token.
    ClientCredentials,
}

impl Grant {
    /// RFC 8693 token exchange of a JWT.
    pub fn token_exchange() -> Self {
        Grant::TokenExchange {
            subject_token_type: token_type::JWT.to_owned(),
            requested_token_type: None,
        }
    }

    /// The `grant_type` value, as the server's `grant_types_supported` lists it.
    pub fn grant_type(&self) -> &'static str {
        match self {
            Grant::JwtBearer => grant_type::JWT_BEARER,
            Grant::TokenExchange { .. } => grant_type::TOKEN_EXCHANGE,
            Grant::FederatedClientCredentials { .. } | Grant::ClientCredentials => {
                grant_type::CLIENT_CREDENTIALS
            }
        }
    }

    /// Whether the grant carries a workload token.
    pub fn needs_workload_token(&self) -> bool {
        !matches!(self, Grant::ClientCredentials)
    }

    /// The name used in configuration and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Grant::JwtBearer => "jwt-bearer",
            Grant::TokenExchange { .. } => "token-exchange",
            Grant::FederatedClientCredentials { .. } => "federated-client-credentials",
            Grant::ClientCredentials => "client-credentials",
        }
    }
}

/// Where the token should be usable, and for what.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Audience {
    /// RFC 8707 `resource`: the MCP server, exactly as its metadata publishes it. `None`
    /// leaves it out (providers that do not take it, e.g. Entra, which reads the scope).
    pub resource: Option<String>,
    /// The scopes, sent space-separated; empty leaves `scope` out (the server's default).
    pub scopes: Vec<String>,
}

impl Audience {
    /// A token for `resource` with `scopes`.
    pub fn new(
        resource: impl Into<String>,
        scopes: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        let mut scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        scopes.sort();
        scopes.dedup();
        Audience {
            resource: Some(resource.into()),
            scopes,
        }
    }

    /// `scope` as sent.
    pub fn scope(&self) -> Option<String> {
        (!self.scopes.is_empty()).then(|| self.scopes.join(" "))
    }
}

/// The inputs of one token request, besides the proof.
#[derive(Debug, Clone, Copy)]
pub struct FormInputs<'a> {
    /// The grant.
    pub grant: &'a Grant,
    /// The workload token, for every grant but [`Grant::ClientCredentials`].
    pub workload_token: Option<&'a Secret>,
    /// An actor token for token exchange (RFC 8693 §2.1 `actor_token`, of type JWT).
    pub actor_token: Option<&'a Secret>,
    /// Where and what for.
    pub audience: &'a Audience,
    /// Client authentication, if configured.
    pub client_auth: Option<&'a PreparedClientAuth>,
    /// The token endpoint (the default audience of a `private_key_jwt` assertion).
    pub token_endpoint: &'a str,
}

/// A form could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormError {
    /// The grant needs a workload token and none was given.
    #[error("the {0} grant needs a workload token")]
    NoWorkloadToken(&'static str),
    /// `client_credentials` without client authentication would be anonymous.
    #[error("the client-credentials grant needs client authentication")]
    NoClientAuth,
    /// The client assertion could not be signed.
    #[error("the client assertion could not be signed: {0}")]
    Sign(String),
}

/// The `application/x-www-form-urlencoded` body of a token request at `now`.
pub fn form(inputs: &FormInputs<'_>, now: u64) -> Result<String, FormError> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", inputs.grant.grant_type());
    let workload = || {
        inputs
            .workload_token
            .map(Secret::expose)
            .ok_or(FormError::NoWorkloadToken(inputs.grant.name()))
    };
    match inputs.grant {
        Grant::JwtBearer => {
            form.append_pair("assertion", workload()?);
        }
        Grant::TokenExchange {
            subject_token_type,
            requested_token_type,
        } => {
            form.append_pair("subject_token", workload()?);
            form.append_pair("subject_token_type", subject_token_type);
            if let Some(requested) = requested_token_type {
                form.append_pair("requested_token_type", requested);
            }
            if let Some(actor) = inputs.actor_token {
                form.append_pair("actor_token", actor.expose());
                form.append_pair("actor_token_type", token_type::JWT);
            }
        }
        Grant::FederatedClientCredentials { client_id } => {
            if let Some(client_id) = client_id {
                form.append_pair("client_id", client_id);
            }
            form.append_pair("client_assertion_type", JWT_BEARER_CLIENT_ASSERTION);
            form.append_pair("client_assertion", workload()?);
        }
        Grant::ClientCredentials => {
            if inputs.client_auth.is_none() {
                return Err(FormError::NoClientAuth);
            }
        }
    }
    // A federated assertion already authenticates the client; adding a second client
    // authentication would be two methods at once (RFC 6749 §2.3).
    if !matches!(inputs.grant, Grant::FederatedClientCredentials { .. })
        && let Some(auth) = inputs.client_auth
    {
        let fields = auth
            .form_fields(inputs.token_endpoint, now)
            .map_err(|error| FormError::Sign(error.to_string()))?;
        for (name, value) in fields {
            form.append_pair(name, &value);
        }
    }
    if let Some(resource) = &inputs.audience.resource {
        form.append_pair("resource", resource);
    }
    if let Some(scope) = inputs.audience.scope() {
        form.append_pair("scope", &scope);
    }
    Ok(form.finish())
}

/// The parameter names of a form body (never values).
#[cfg(test)]
fn names(body: &str) -> Vec<std::borrow::Cow<'_, str>> {
    url::form_urlencoded::parse(body.as_bytes())
        .map(|(name, _)| name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(body: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn each_grant_puts_the_workload_token_where_its_rfc_says() {
        let token = Secret::new("eyJ.workload.sig");
        let audience = Audience::new("https://mcp.example.com/mcp", ["b", "a", "a"]);
        let inputs = |grant| FormInputs {
            grant,
            workload_token: Some(&token),
            actor_token: None,
            audience: &audience,
            client_auth: None,
            token_endpoint: "https://as.example.com/token",
        };
        let body = form(&inputs(&Grant::JwtBearer), 0).expect("form");
        assert_eq!(
            pairs(&body),
            [
                ("grant_type", grant_type::JWT_BEARER),
                ("assertion", "eyJ.workload.sig"),
                ("resource", "https://mcp.example.com/mcp"),
                ("scope", "a b"),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        let exchange = Grant::token_exchange();
        let body = form(&inputs(&exchange), 0).expect("form");
        assert_eq!(
            names(&body),
            [
                "grant_type",
                "subject_token",
                "subject_token_type",
                "resource",
                "scope"
            ]
        );
        let grant = Grant::FederatedClientCredentials {
            client_id: Some("app".into()),
        };
        let body = form(&inputs(&grant), 0).expect("form");
        assert_eq!(
            names(&body),
            [
                "grant_type",
                "client_id",
                "client_assertion_type",
                "client_assertion",
                "resource",
                "scope"
            ]
        );
        assert_eq!(
            form(&inputs(&Grant::ClientCredentials), 0),
            Err(FormError::NoClientAuth)
        );
        let mut without = inputs(&Grant::JwtBearer);
        without.workload_token = None;
        assert_eq!(
            form(&without, 0),
            Err(FormError::NoWorkloadToken("jwt-bearer"))
        );
    }

    #[test]
    fn an_actor_token_goes_with_token_exchange() {
        let (token, actor) = (Secret::new("subject"), Secret::new("actor"));
        let audience = Audience::default();
        let body = form(
            &FormInputs {
                grant: &Grant::token_exchange(),
                workload_token: Some(&token),
                actor_token: Some(&actor),
                audience: &audience,
                client_auth: None,
                token_endpoint: "https://as.example.com/token",
            },
            0,
        )
        .expect("form");
        let pairs = pairs(&body);
        assert!(pairs.contains(&("actor_token".into(), "actor".into())));
        assert!(pairs.contains(&("actor_token_type".into(), token_type::JWT.into())));
        assert!(!names(&body).contains(&"scope".into()));
    }
}
