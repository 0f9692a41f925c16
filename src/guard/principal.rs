//! The verified caller, handed to the protected service.

use crate::jose::Thumbprint;
use crate::token::AccessToken;

use super::credentials::Scheme;

/// Who is calling: the verified access token and, for DPoP, the proof key it is bound to.
///
/// Only the verifier builds one; a handler that receives it knows every check passed.
#[derive(Debug, Clone)]
pub struct Principal {
    token: AccessToken,
    jkt: Option<Thumbprint>,
    scheme: Scheme,
}

impl Principal {
    pub(crate) fn new(token: AccessToken, jkt: Option<Thumbprint>, scheme: Scheme) -> Self {
        Principal { token, jkt, scheme }
    }

    /// The token's issuer.
    pub fn issuer(&self) -> &str {
        self.token.issuer()
    }

    /// The token's subject, if any.
    pub fn subject(&self) -> Option<&str> {
        self.token.subject()
    }

    /// The OAuth client the token was issued to, if the token says.
    pub fn client_id(&self) -> Option<&str> {
        self.token.client_id()
    }

    /// The granted scopes.
    pub fn scopes(&self) -> &[String] {
        self.token.scopes()
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.token.scopes().iter().any(|granted| granted == scope)
    }

    /// The token's audience.
    pub fn audience(&self) -> &[String] {
        self.token.audience()
    }

    /// The token's `jti`, if any.
    pub fn token_id(&self) -> Option<&str> {
        self.token.jti()
    }

    /// The thumbprint of the proof key (DPoP requests only).
    pub fn key_thumbprint(&self) -> Option<&Thumbprint> {
        self.jkt.as_ref()
    }

    /// The scheme the request used.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The verified access token, with every claim.
    pub fn token(&self) -> &AccessToken {
        &self.token
    }
}
