//! [`Guard`]: the builder that configures the guard, and the [`GuardLayer`] it produces.

use std::sync::Arc;

use bytes::Bytes;
use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::dpop::{NonceSource, ProofValidator};
use crate::token::{AccessTokenVerifier, CachingVerifier, TokenVerifier, TrustedIssuer};

use super::forwarded::{PublicUri, TrustedProxy};
use super::metadata::{
    MetadataError, ProtectedResourceMetadata, metadata_url, secure_or_loopback, well_known_paths,
};
use super::scope::ScopePolicy;
use super::service::GuardService;
use super::verifier::{DpopMode, ResourceVerifier};

/// Configures the guard in front of one protected resource (an MCP endpoint).
///
/// ```
/// use mcp_warden::guard::Guard;
/// use mcp_warden::jose::JwkSet;
/// use mcp_warden::token::TrustedIssuer;
///
/// # let keys = JwkSet::default();
/// let guard = Guard::builder()
///     .resource("https://mcp.example.com/mcp")
///     .authorization_server("https://as.example.com")
///     .trust_issuer(TrustedIssuer::new("https://as.example.com", keys))
///     .build()
///     .expect("valid configuration");
/// // `guard` is a tower `Layer`: `Router::new().route(...).layer(guard)`.
/// # let _ = guard;
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Guard;

impl Guard {
    /// A builder with the safe defaults: DPoP required, replay tracking in memory, no
    /// nonces, credentials removed before the inner service, JSON-RPC error bodies on.
    pub fn builder() -> GuardBuilder {
        GuardBuilder::default()
    }
}

/// A configuration problem, naming the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardConfigError {
    /// `resource` was not set.
    #[error("resource: the protected resource's public URL is required")]
    MissingResource,
    /// `resource` is not an acceptable resource identifier.
    #[error("resource: {0}")]
    InvalidResource(&'static str),
    /// No way to verify access tokens was configured.
    #[error(
        "trust_issuer / introspection / token_verifier: no way to verify access tokens is configured"
    )]
    NoTokenVerifier,
    /// The protected resource metadata cannot be built (an `authorization_server` that is
    /// not https, a `metadata_member` the guard sets itself, …).
    #[error("metadata: {0}")]
    Metadata(MetadataError),
}

/// Builds a [`GuardLayer`]; see [`Guard::builder`].
#[derive(Clone, Default)]
pub struct GuardBuilder {
    resource: Option<String>,
    authorization_servers: Vec<String>,
    issuers: Vec<TrustedIssuer>,
    opaque: Option<Arc<dyn TokenVerifier>>,
    token_verifier: Option<Arc<dyn TokenVerifier>>,
    mode: DpopMode,
    proofs: Option<ProofValidator>,
    scopes: ScopePolicy,
    max_body_bytes: Option<usize>,
    trusted_proxies: Vec<TrustedProxy>,
    forward_credentials: bool,
    plain_errors: bool,
    realm: Option<String>,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    scopes_supported: Vec<String>,
    extra_metadata: serde_json::Map<String, serde_json::Value>,
    leeway_s: u64,
    require_at_jwt: bool,
    token_cache: Option<(usize, u64)>,
    no_token_cache: bool,
    clock: Option<Arc<dyn Clock>>,
    resource_verifier: Option<ResourceVerifier>,
}

impl GuardBuilder {
    /// The protected resource's public URL (RFC 8707 / RFC 9728 `resource`): tokens must name
    /// it in `aud`, and proofs are checked against its origin. Required.
    pub fn resource(mut self, url: impl Into<String>) -> Self {
        self.resource = Some(url.into());
        self
    }

    /// An authorization server clients should get tokens from (RFC 9728
    /// `authorization_servers`). Repeatable.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Accepts JWT access tokens from `issuer`. Repeatable; each issuer's tokens are only
    /// ever checked against its own keys.
    pub fn trust_issuer(mut self, issuer: TrustedIssuer) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Verifies opaque (non-JWT) tokens with `verifier`, e.g. an RFC 7662
    /// introspection client.
    pub fn introspection(mut self, verifier: impl TokenVerifier) -> Self {
        self.opaque = Some(Arc::new(verifier));
        self
    }

    /// Uses a fully built request verifier (mode, proofs and tokens together), as the
    /// vector runner does; `mode`, `proofs`, `trust_issuer`, `introspection` and
    /// `token_verifier` are then ignored.
    pub fn resource_verifier(mut self, verifier: ResourceVerifier) -> Self {
        self.resource_verifier = Some(verifier);
        self
    }

    /// Replaces token verification entirely (issuers and introspection are then ignored).
    pub fn token_verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.token_verifier = Some(Arc::new(verifier));
        self
    }

    /// The scheme policy (default [`DpopMode::Required`]).
    pub fn mode(mut self, mode: DpopMode) -> Self {
        self.mode = mode;
        self
    }

    /// The proof validator (algorithms, window, replay store, nonces).
    pub fn proofs(mut self, proofs: ProofValidator) -> Self {
        self.proofs = Some(proofs);
        self
    }

    /// Required scopes per MCP operation.
    pub fn scopes(mut self, scopes: ScopePolicy) -> Self {
        self.scopes = scopes;
        self
    }

    /// The most body the guard reads when the scope policy needs it (default 1 MiB);
    /// larger requests get 413.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// Believe `X-Forwarded-Proto/Host/Prefix` from peers in `range`.
    pub fn trusted_proxy(mut self, range: TrustedProxy) -> Self {
        self.trusted_proxies.push(range);
        self
    }

    /// Leave `Authorization` and `DPoP` on the request for the inner service. MCP forbids
    /// passing tokens through to upstream APIs, so this is only for servers that verify
    /// the token again themselves.
    pub fn dangerous_forward_credentials(mut self) -> Self {
        self.forward_credentials = true;
        self
    }

    /// Refusals get an empty body instead of a JSON-RPC error object.
    pub fn plain_error_bodies(mut self) -> Self {
        self.plain_errors = true;
        self
    }

    /// The `realm` of challenges.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// RFC 9728 `resource_name`.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// RFC 9728 `resource_documentation`: a page for developers of clients.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// RFC 9728 `scopes_supported` (default: every scope the scope policy names).
    pub fn scopes_supported<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// An extra member of the protected resource metadata.
    pub fn metadata_member(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.extra_metadata.insert(name.into(), value);
        self
    }

    /// Clock tolerance for JWT `exp`/`nbf` in seconds (default 0).
    pub fn token_leeway_s(mut self, seconds: u64) -> Self {
        self.leeway_s = seconds;
        self
    }

    /// Remember verified JWT access tokens (keyed by the token's SHA-256, never past their
    /// `exp`) for at most `max_ttl_s`, up to `max_entries` of them: a client reusing its
    /// token then costs one signature check per request, its proof's. On by default with
    /// 10,000 entries and 300 s; the cost is that a key withdrawn from the issuer's JWKS
    /// keeps its already-verified tokens working for up to `max_ttl_s`.
    pub fn token_cache(mut self, max_entries: usize, max_ttl_s: u64) -> Self {
        self.token_cache = Some((max_entries, max_ttl_s));
        self
    }

    /// Verify every JWT access token on every request.
    pub fn no_token_cache(mut self) -> Self {
        self.no_token_cache = true;
        self
    }

    /// Require `typ: at+jwt` on JWT access tokens (RFC 9068 §4).
    pub fn require_at_jwt(mut self) -> Self {
        self.require_at_jwt = true;
        self
    }

    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Checks the configuration and builds the layer.
    pub fn build(self) -> Result<GuardLayer, GuardConfigError> {
        let resource_text = self.resource.ok_or(GuardConfigError::MissingResource)?;
        let resource = parse_resource(&resource_text)?;
        let tokens: Arc<dyn TokenVerifier> = match self.token_verifier {
            _ if self.resource_verifier.is_some() => Arc::new(AccessTokenVerifier::new()),
            Some(verifier) => verifier,
            None => {
                if self.issuers.is_empty() && self.opaque.is_none() {
                    return Err(GuardConfigError::NoTokenVerifier);
                }
                let mut tokens = AccessTokenVerifier::new();
                if !self.issuers.is_empty() {
                    let mut jwt = crate::token::JwtVerifier::builder(resource_text.clone())
                        .leeway_s(self.leeway_s);
                    if self.require_at_jwt {
                        jwt = jwt.require_at_jwt();
                    }
                    for issuer in self.issuers {
                        jwt = jwt.issuer(issuer);
                    }
                    let jwt = jwt.build();
                    tokens = if self.no_token_cache {
                        tokens.jwt(jwt)
                    } else {
                        let (entries, ttl) = self.token_cache.unwrap_or((
                            CachingVerifier::DEFAULT_MAX_ENTRIES,
                            CachingVerifier::DEFAULT_MAX_TTL_S,
                        ));
                        tokens.jwt(
                            CachingVerifier::new(jwt)
                                .max_entries(entries)
                                .max_ttl_s(ttl)
                                .leeway_s(self.leeway_s),
                        )
                    };
                }
                if let Some(opaque) = self.opaque {
                    tokens = tokens.opaque_arc(opaque);
                }
                Arc::new(tokens)
            }
        };
        let mode = self
            .resource_verifier
            .as_ref()
            .map_or(self.mode, ResourceVerifier::mode);
        let proofs = match &self.resource_verifier {
            Some(verifier) => verifier.proofs().clone(),
            None => self
                .proofs
                .unwrap_or_else(|| ProofValidator::builder().build()),
        };
        let nonces = proofs.nonces().cloned();
        let scopes_supported = if self.scopes_supported.is_empty() {
            self.scopes
                .scopes()
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            self.scopes_supported
        };
        let mut metadata = ProtectedResourceMetadata::builder(resource_text.clone())
            .scopes_supported(scopes_supported)
            .dpop(mode, proofs.algorithms());
        for server in self.authorization_servers {
            metadata = metadata.authorization_server(server);
        }
        if let Some(name) = self.resource_name {
            metadata = metadata.resource_name(name);
        }
        if let Some(url) = self.resource_documentation {
            metadata = metadata.resource_documentation(url);
        }
        for (name, value) in self.extra_metadata {
            metadata = metadata.extra(name, value);
        }
        let metadata = metadata.build().map_err(GuardConfigError::Metadata)?;
        let algs = proofs.algorithms();
        let verifier = match self.resource_verifier {
            Some(verifier) => verifier,
            None => ResourceVerifier::builder()
                .mode(mode)
                .proofs(proofs)
                .token_verifier_arc(tokens)
                .build(),
        };
        Ok(GuardLayer {
            config: Arc::new(GuardConfig {
                verifier,
                public_uri: PublicUri::new(&resource, self.trusted_proxies),
                metadata_json: metadata.to_json(),
                metadata_paths: well_known_paths(&resource),
                metadata_url: metadata_url(&resource),
                scopes: self.scopes,
                max_body_bytes: self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
                forward_credentials: self.forward_credentials,
                json_rpc_errors: !self.plain_errors,
                realm: self.realm,
                mode,
                algs,
                nonces,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            }),
        })
    }
}

const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// RFC 8707 §2 / RFC 9728 §1.2: an absolute URI without a fragment; https, except on
/// loopback for development.
fn parse_resource(text: &str) -> Result<Url, GuardConfigError> {
    let url =
        Url::parse(text).map_err(|_| GuardConfigError::InvalidResource("not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(GuardConfigError::InvalidResource(
            "must not have a fragment",
        ));
    }
    if !secure_or_loopback(&url) {
        return Err(GuardConfigError::InvalidResource(
            "must be https (plain http only on a loopback host)",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(GuardConfigError::InvalidResource(
            "must not contain userinfo",
        ));
    }
    Ok(url)
}

/// Everything the service needs, shared by every clone of it.
pub(crate) struct GuardConfig {
    pub(crate) verifier: ResourceVerifier,
    pub(crate) public_uri: PublicUri,
    pub(crate) metadata_json: Bytes,
    pub(crate) metadata_paths: Vec<String>,
    pub(crate) metadata_url: String,
    pub(crate) scopes: ScopePolicy,
    pub(crate) max_body_bytes: usize,
    pub(crate) forward_credentials: bool,
    pub(crate) json_rpc_errors: bool,
    pub(crate) realm: Option<String>,
    pub(crate) mode: DpopMode,
    pub(crate) algs: crate::jose::AlgorithmSet,
    pub(crate) nonces: Option<Arc<dyn NonceSource>>,
    pub(crate) clock: Arc<dyn Clock>,
}

/// The guard as a tower [`Layer`](tower_layer::Layer): wraps a service in a
/// [`GuardService`].
#[derive(Clone)]
pub struct GuardLayer {
    config: Arc<GuardConfig>,
}

impl std::fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLayer")
            .field("metadata_url", &self.config.metadata_url)
            .field("mode", &self.config.mode)
            .finish_non_exhaustive()
    }
}

impl GuardLayer {
    /// The URL clients are pointed to for the protected resource metadata.
    pub fn metadata_url(&self) -> &str {
        &self.config.metadata_url
    }

    /// The request verifier, for callers that check requests outside tower.
    pub fn verifier(&self) -> &ResourceVerifier {
        &self.config.verifier
    }
}

impl<S> tower_layer::Layer<S> for GuardLayer {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService::new(inner, self.config.clone())
    }
}
