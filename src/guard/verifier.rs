//! The request check that every entry point shares: the tower layer, the sidecar and the
//! vector runner all call [`ResourceVerifier::verify`], so a vector that passes proves the
//! middleware.

use std::sync::Arc;

use http::HeaderMap;

use crate::dpop::{NormalizedUri, ProofContext, ProofValidator, single_proof};
use crate::token::{AccessTokenVerifier, PresentedToken, TokenVerifier};

use super::credentials::{Scheme, credentials};
use super::principal::Principal;
use super::refusal::{Refusal, RequestError};

/// Which authentication schemes the resource accepts (RFC 9449 §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DpopMode {
    /// Only DPoP-bound tokens with a proof. The default.
    #[default]
    Required,
    /// DPoP, and also unbound tokens as Bearer; a bound token is never accepted as Bearer.
    Mixed,
    /// Only the Bearer scheme, for resources not yet migrated; bound tokens are still
    /// refused as Bearer.
    BearerOnly,
}

/// Verifies a request's credentials: the `Authorization` field, the DPoP proof, the access
/// token and the binding between them.
///
/// ```
/// use mcp_warden::dpop::ProofValidator;
/// use mcp_warden::guard::ResourceVerifier;
/// use mcp_warden::token::{AccessTokenVerifier, JwtVerifier};
///
/// let verifier = ResourceVerifier::builder()
///     .proofs(ProofValidator::builder().build())
///     .tokens(AccessTokenVerifier::new().jwt(JwtVerifier::builder("https://mcp.example.com/mcp").build()))
///     .build();
/// # let _ = verifier;
/// ```
#[derive(Clone)]
pub struct ResourceVerifier {
    mode: DpopMode,
    proofs: ProofValidator,
    tokens: Arc<dyn TokenVerifier>,
    max_token_len: usize,
}

/// Builds a [`ResourceVerifier`].
#[derive(Clone)]
pub struct ResourceVerifierBuilder {
    mode: DpopMode,
    proofs: Option<ProofValidator>,
    tokens: Option<Arc<dyn TokenVerifier>>,
    max_token_len: usize,
}

/// The parts of an HTTP request the verifier reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method.
    pub method: &'a str,
    /// The absolute URI the client addressed: the resource's public base URL plus the path.
    pub uri: &'a str,
    /// The header fields.
    pub headers: &'a HeaderMap,
}

impl ResourceVerifier {
    /// Default cap on the access token in `Authorization`.
    pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;

    /// A builder: DPoP required, default proof checks, no token verifier (every token
    /// refused until one is set).
    pub fn builder() -> ResourceVerifierBuilder {
        ResourceVerifierBuilder {
            mode: DpopMode::Required,
            proofs: None,
            tokens: None,
            max_token_len: Self::DEFAULT_MAX_TOKEN_LEN,
        }
    }

    /// The scheme policy.
    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// The proof validator.
    pub fn proofs(&self) -> &ProofValidator {
        &self.proofs
    }

    /// Verifies one request at time `now`.
    pub async fn verify(&self, request: &RequestParts<'_>, now: u64) -> Result<Principal, Refusal> {
        let Some(credentials) = credentials(request.headers, self.max_token_len)? else {
            return Err(RequestError::NoCredentials.into());
        };
        // Read every DPoP field even when it will not be used: two proofs are malformed
        // whatever the scheme.
        let proof = single_proof(request.headers.get_all("dpop").iter().map(|v| v.as_bytes()))?;
        match (credentials.scheme, self.mode) {
            (Scheme::Dpop, DpopMode::BearerOnly) => Err(RequestError::NoCredentials.into()),
            (Scheme::Bearer, DpopMode::Required) => Err(RequestError::BearerNotAllowed.into()),
            (Scheme::Bearer, DpopMode::Mixed | DpopMode::BearerOnly) => {
                let token = self.tokens.verify(credentials.token, now).await?;
                // RFC 9449 §7.2: a bound token is only ever accepted with its proof.
                if token.bound_jkt().is_some() {
                    return Err(RequestError::BoundTokenAsBearer.into());
                }
                Ok(Principal::new(token, None, Scheme::Bearer))
            }
            (Scheme::Dpop, DpopMode::Required | DpopMode::Mixed) => {
                let uri = NormalizedUri::parse(request.uri)
                    .map_err(|_| RequestError::InvalidRequestUri)?;
                let proof = proof.ok_or(crate::dpop::ProofError::Missing)?;
                // Hashed once: the token cache's key and the proof's `ath`.
                let presented = PresentedToken::new(credentials.token);
                let token = self.tokens.verify_presented(presented, now).await?;
                let Some(bound_jkt) = token.bound_jkt() else {
                    return Err(RequestError::UnboundTokenAsDpop.into());
                };
                let context = ProofContext {
                    method: request.method,
                    uri: &uri,
                    access_token: Some(presented),
                    bound_jkt: Some(bound_jkt),
                };
                let verified = self.proofs.validate(proof, &context, now).await?;
                Ok(Principal::new(
                    token,
                    Some(verified.jkt().clone()),
                    Scheme::Dpop,
                ))
            }
        }
    }
}

impl ResourceVerifierBuilder {
    /// The scheme policy (default [`DpopMode::Required`]).
    pub fn mode(mut self, mode: DpopMode) -> Self {
        self.mode = mode;
        self
    }

    /// The proof validator.
    pub fn proofs(mut self, proofs: ProofValidator) -> Self {
        self.proofs = Some(proofs);
        self
    }

    /// The access-token verifier.
    pub fn tokens(self, tokens: impl TokenVerifier) -> Self {
        self.token_verifier_arc(Arc::new(tokens))
    }

    /// [`ResourceVerifierBuilder::tokens`] with a shared verifier.
    pub fn token_verifier_arc(mut self, tokens: Arc<dyn TokenVerifier>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// The cap on the access token's length in bytes.
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// The verifier.
    pub fn build(self) -> ResourceVerifier {
        ResourceVerifier {
            mode: self.mode,
            proofs: self
                .proofs
                .unwrap_or_else(|| ProofValidator::builder().build()),
            tokens: self
                .tokens
                .unwrap_or_else(|| Arc::new(AccessTokenVerifier::new())),
            max_token_len: self.max_token_len,
        }
    }
}
