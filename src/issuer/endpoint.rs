//! The token endpoint's decision, from request to signed token: the DPoP proof (RFC 9449
//! §5, §8), the workload's token (RFC 7523 §3), the actor (RFC 8693 §4.1), the policy, the
//! single use of `jti`, and minting. No I/O of its own: keys and the replay store come in
//! through their traits, and the time is passed in.
//!
//! The checks run cheapest first and each refusal is final: a proof without the server's
//! nonce is answered `use_dpop_nonce` before any assertion work, and a `jti` is recorded as
//! used only once everything else has passed, so a refused request burns nothing.

use std::sync::{Arc, PoisonError, RwLock};

use http::HeaderMap;
use serde_json::Value;

use crate::dpop::{
    InMemoryReplayStore, NormalizedUri, ProofContext, ProofError, ProofValidator, ReplayKey,
    ReplayStore, Seen, single_proof,
};
use crate::jose::{JwkSet, Thumbprint};
use crate::oauth::{TokenResponse, grant_type, token_type};
use crate::secret::Secret;

use super::assertion::{AssertionError, VerifiedWorkload, WorkloadIssuers};
use super::keys::KeyRing;
use super::mint::{Actor, TokenClaims, mint};
use super::policy::{GrantKind, Policy, PolicyRefusal, Request, Workload};
use super::refusal::IssuerRefusal;
use super::request::{RequestLimits, TokenRequest};

/// The token service: configuration plus the swappable policy and keys.
///
/// Cheap to clone; clones share everything, so a policy reloaded through one is seen by
/// all.
#[derive(Clone)]
pub struct TokenEndpoint {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    token_endpoint: NormalizedUri,
    jwks_uri: String,
    workloads: WorkloadIssuers,
    policy: RwLock<Arc<Policy>>,
    keys: RwLock<Arc<KeyRing>>,
    proofs: ProofValidator,
    assertion_replay: Arc<dyn ReplayStore>,
    limits: RequestLimits,
    max_token_lifetime_s: u64,
}

/// Builds a [`TokenEndpoint`].
pub struct TokenEndpointBuilder {
    issuer: String,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    workloads: WorkloadIssuers,
    policy: Policy,
    keys: KeyRing,
    proofs: Option<ProofValidator>,
    assertion_replay: Option<Arc<dyn ReplayStore>>,
    limits: RequestLimits,
    max_token_lifetime_s: u64,
}

/// A [`TokenEndpoint`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointConfigError {
    /// The issuer identifier is not an https URL without query or fragment (RFC 8414 §2;
    /// http is allowed on loopback only, for tests and the demo).
    #[error("issuer {0:?} must be an https URL without query or fragment")]
    Issuer(String),
    /// The token endpoint URL is not usable as a DPoP `htu` (RFC 9449 §4.2).
    #[error("token endpoint {0:?} is not an absolute http(s) URL")]
    TokenEndpoint(String),
}

/// The answer to a successful token request, and what the audit record says.
#[derive(Debug, Clone)]
pub struct Issuance {
    /// The response body (RFC 6749 §5.1).
    pub response: TokenResponse,
    /// What was decided, for the audit log.
    pub record: IssuanceRecord,
}

/// One structured audit record: who got what. Never the assertion or the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuanceRecord {
    /// The grant type.
    pub grant: GrantKind,
    /// The trusted issuer's configured name.
    pub source: String,
    /// The workload token's `iss`.
    pub workload_issuer: String,
    /// Its `sub`.
    pub subject: String,
    /// The rule that granted it.
    pub rule: String,
    /// The token's `aud`.
    pub resource: String,
    /// The granted scopes.
    pub scopes: Vec<String>,
    /// The proof key's thumbprint (`cnf.jkt`); `None` for a Bearer token.
    pub key_thumbprint: Option<String>,
    /// The issued token's `jti`.
    pub token_id: String,
    /// The actor of a token exchange.
    pub actor: Option<String>,
    /// `expires_in`.
    pub expires_in: u64,
}

/// A refusal with what was known when it happened, for the audit log.
#[derive(Debug, Clone)]
pub struct Refused {
    /// Why.
    pub refusal: IssuerRefusal,
    /// The grant type, once the form was read.
    pub grant: Option<GrantKind>,
    /// The workload, once its token verified: (source, issuer, subject).
    pub workload: Option<(String, String, String)>,
    /// The thumbprint of a verified proof key.
    pub key_thumbprint: Option<String>,
}

impl Refused {
    fn new(refusal: impl Into<IssuerRefusal>) -> Self {
        Refused {
            refusal: refusal.into(),
            grant: None,
            workload: None,
            key_thumbprint: None,
        }
    }
}

/// One token request as the endpoint sees it.
#[derive(Debug, Clone, Copy)]
pub struct TokenCall<'a> {
    /// The request's headers (`DPoP`, `Authorization`, `Content-Type`).
    pub headers: &'a HeaderMap,
    /// The body, already capped by the caller at [`RequestLimits::max_body_bytes`].
    pub body: &'a [u8],
}

impl TokenEndpoint {
    /// A builder for the issuer `issuer` (its identifier: `iss` of every token and the
    /// base of the RFC 8414 metadata URL).
    pub fn builder(
        issuer: impl Into<String>,
        workloads: WorkloadIssuers,
        policy: Policy,
        keys: KeyRing,
    ) -> TokenEndpointBuilder {
        TokenEndpointBuilder {
            issuer: issuer.into(),
            token_endpoint: None,
            jwks_uri: None,
            workloads,
            policy,
            keys,
            proofs: None,
            assertion_replay: None,
            limits: RequestLimits::default(),
            max_token_lifetime_s: 3600,
        }
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The token endpoint's URL (the `htu` its proofs must carry).
    pub fn token_endpoint(&self) -> &str {
        self.inner.token_endpoint.as_str()
    }

    /// The JWKS URL.
    pub fn jwks_uri(&self) -> &str {
        &self.inner.jwks_uri
    }

    /// The request limits.
    pub fn limits(&self) -> &RequestLimits {
        &self.inner.limits
    }

    /// The trusted workload issuers.
    pub fn workloads(&self) -> &WorkloadIssuers {
        &self.inner.workloads
    }

    /// Replaces the policy; requests already deciding finish with the old one.
    pub fn replace_policy(&self, policy: Policy) {
        *self
            .inner
            .policy
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }

    /// Replaces the signing keys (rotation).
    pub fn replace_keys(&self, keys: KeyRing) {
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
    }

    /// The current keys.
    pub fn keys(&self) -> Arc<KeyRing> {
        Arc::clone(
            &self
                .inner
                .keys
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn policy(&self) -> Arc<Policy> {
        Arc::clone(
            &self
                .inner
                .policy
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// A fresh `DPoP-Nonce` value when nonces are on (RFC 9449 §8).
    pub fn nonce(&self, now: u64) -> Option<String> {
        self.inner.proofs.nonces().map(|nonces| nonces.issue(now))
    }

    /// RFC 8414 §2 metadata.
    pub fn metadata(&self) -> Value {
        let inner = &self.inner;
        let dpop_algs: Vec<&str> = inner
            .proofs
            .algorithms()
            .iter()
            .map(|alg| alg.name())
            .collect();
        serde_json::json!({
            "issuer": inner.issuer,
            "token_endpoint": inner.token_endpoint.as_str(),
            "jwks_uri": inner.jwks_uri,
            "grant_types_supported": [
                grant_type::JWT_BEARER,
                grant_type::TOKEN_EXCHANGE,
                grant_type::CLIENT_CREDENTIALS,
            ],
            // The workload's token is the client's credential (RFC 7523 §2.2); no secrets.
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": asymmetric_names(),
            "dpop_signing_alg_values_supported": dpop_algs,
            // RFC 8414 §2 requires the member; there is no authorization endpoint.
            "response_types_supported": [],
        })
    }

    /// The keys published at `now`, as a set to verify with in process
    /// ([`LocalKeys`](super::LocalKeys)).
    pub fn published_keys(&self, now: u64) -> JwkSet {
        self.keys().jwk_set(now, self.inner.max_token_lifetime_s)
    }

    /// The JWK Set document at `jwks_uri`.
    pub fn jwks(&self, now: u64) -> Value {
        self.keys()
            .jwks_document(now, self.inner.max_token_lifetime_s)
    }

    /// Decides one token request at `now`.
    pub async fn exchange(&self, call: &TokenCall<'_>, now: u64) -> Result<Issuance, Refused> {
        let inner = &self.inner;
        // RFC 6749 §5.2: a client that authenticated in the header is answered in kind;
        // this issuer takes no client secrets or bearer tokens there.
        if let Some(value) = call.headers.get(http::header::AUTHORIZATION) {
            return Err(Refused::new(IssuerRefusal::AuthorizationHeader {
                scheme: scheme_of(value.as_bytes()),
            }));
        }
        // RFC 6749 §3.2: the body is application/x-www-form-urlencoded.
        if !is_form(call.headers) {
            return Err(Refused::new(super::request::RequestError::ContentType));
        }
        let request = TokenRequest::parse(call.body, &inner.limits).map_err(Refused::new)?;
        let grant = request.grant;
        let refused = |refusal: IssuerRefusal, state: &State| Refused {
            refusal,
            grant: Some(grant),
            workload: state.workload.clone(),
            key_thumbprint: state.jkt.as_ref().map(|jkt| jkt.as_str().to_owned()),
        };
        let mut state = State::default();

        // RFC 9449 §4.3 step 1, then every other step, with the token endpoint as `htu`
        // and no access token (RFC 9449 §5).
        let proofs = call
            .headers
            .get_all("dpop")
            .iter()
            .map(|value| value.as_bytes());
        let proof = single_proof(proofs).map_err(|e| refused(IssuerRefusal::Proof(e), &state))?;
        if let Some(proof) = proof {
            let context = ProofContext {
                method: "POST",
                uri: &inner.token_endpoint,
                access_token: None,
                bound_jkt: None,
            };
            let verified = inner
                .proofs
                .validate(proof, &context, now)
                .await
                .map_err(|e| refused(IssuerRefusal::Proof(e), &state))?;
            state.jkt = Some(verified.jkt().clone());
        }

        let workload = self
            .verify_workload(&request.assertion, now)
            .await
            .map_err(|error| refused(IssuerRefusal::Assertion { grant, error }, &state))?;
        state.workload = Some((
            workload.source.to_string(),
            workload.issuer.clone(),
            workload.subject.clone(),
        ));
        let actor = match &request.actor_token {
            Some(token) => {
                let actor = self
                    .verify_workload(token, now)
                    .await
                    .map_err(|e| refused(IssuerRefusal::Actor(e), &state))?;
                Some(Actor {
                    issuer: actor.issuer,
                    subject: actor.subject,
                })
            }
            None => None,
        };

        let policy = self.policy();
        let decision = policy
            .decide(
                &Workload {
                    issuer: &workload.source,
                    subject: &workload.subject,
                    claims: &workload.claims,
                },
                &Request {
                    grant,
                    resources: &request.resources,
                    audiences: &request.audiences,
                    scope: request.scope.as_deref(),
                    dpop: state.jkt.is_some(),
                },
            )
            .map_err(|error| {
                let refusal = if error == PolicyRefusal::ProofRequired {
                    IssuerRefusal::ProofMissing
                } else {
                    IssuerRefusal::Policy { grant, error }
                };
                refused(refusal, &state)
            })?;

        // RFC 7523 §3 item 7: a single-use `jti`, recorded last.
        if workload.single_use {
            self.record_jti(&workload, now)
                .await
                .map_err(|error| refused(IssuerRefusal::Assertion { grant, error }, &state))?;
        }

        // A token never outlives the identity it was exchanged for.
        let remaining = workload.expires_at.saturating_sub(now).max(1);
        let lifetime_s = decision.token_lifetime_s.min(remaining);
        let keys = self.keys();
        let issued = mint(
            &keys,
            &TokenClaims {
                issuer: &inner.issuer,
                subject: &workload.subject,
                decision: &decision,
                bound_to: state.jkt.as_ref(),
                actor: actor.as_ref(),
                issued_at: now,
                lifetime_s,
            },
        )
        .map_err(|e| refused(IssuerRefusal::Sign(e), &state))?;

        let record = IssuanceRecord {
            grant,
            source: workload.source.to_string(),
            workload_issuer: workload.issuer.clone(),
            subject: workload.subject.clone(),
            rule: decision.rule.to_string(),
            resource: decision.resource.clone(),
            scopes: decision.scopes.clone(),
            key_thumbprint: state.jkt.as_ref().map(|jkt| jkt.as_str().to_owned()),
            token_id: issued.jti.clone(),
            actor: actor.map(|actor| actor.subject),
            expires_in: issued.expires_in,
        };
        let response = TokenResponse {
            access_token: Secret::new(issued.token),
            // RFC 9449 §5: `DPoP` for a key-bound token.
            token_type: if state.jkt.is_some() {
                "DPoP"
            } else {
                "Bearer"
            }
            .into(),
            expires_in: Some(issued.expires_in),
            scope: Some(decision.scopes.join(" ")),
            // RFC 8693 §2.2.1: required in a token-exchange answer.
            issued_token_type: (grant == GrantKind::TokenExchange)
                .then(|| token_type::ACCESS_TOKEN.to_owned()),
        };
        Ok(Issuance { response, record })
    }

    async fn verify_workload(
        &self,
        token: &str,
        now: u64,
    ) -> Result<VerifiedWorkload, AssertionError> {
        self.inner.workloads.verify(token, now).await
    }

    async fn record_jti(
        &self,
        workload: &VerifiedWorkload,
        now: u64,
    ) -> Result<(), AssertionError> {
        let Some(jti) = &workload.jti else {
            return Err(AssertionError::ClaimMissing { name: "jti".into() });
        };
        // Keyed by issuer and `jti`: one issuer's `jti` cannot burn another's. The prefix
        // keeps these keys apart from proof keys (a thumbprint never holds a space).
        let key = ReplayKey::new(&format!("assertion {}", workload.issuer), jti);
        // Remembered until the assertion could no longer be accepted anyway.
        let ttl = workload.expires_at.saturating_sub(now).saturating_add(60);
        match self
            .inner
            .assertion_replay
            .check_and_record(key, now, ttl)
            .await
        {
            Ok(Seen::First) => Ok(()),
            Ok(Seen::Replay) => Err(AssertionError::Replayed),
            // Fail closed: without the store, single use cannot be promised.
            Err(error) => {
                tracing::warn!(%error, "assertion replay store unavailable");
                Err(AssertionError::ReplayStoreUnavailable)
            }
        }
    }
}

#[derive(Default)]
struct State {
    jkt: Option<Thumbprint>,
    workload: Option<(String, String, String)>,
}

impl TokenEndpointBuilder {
    /// The token endpoint URL; `{issuer}/token` when not set.
    pub fn token_endpoint(mut self, url: impl Into<String>) -> Self {
        self.token_endpoint = Some(url.into());
        self
    }

    /// The JWKS URL; `{issuer}/jwks.json` when not set.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// The DPoP proof validator for token requests (nonces, replay store, algorithms).
    /// Defaults to [`ProofValidator::builder`]'s safe defaults.
    pub fn proofs(mut self, proofs: ProofValidator) -> Self {
        self.proofs = Some(proofs);
        self
    }

    /// Where single-use `jti`s are recorded (Redis when there are replicas); an in-memory
    /// store by default.
    pub fn assertion_replay(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.assertion_replay = Some(store);
        self
    }

    /// Body and assertion size limits.
    pub fn limits(mut self, limits: RequestLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The longest lifetime any rule gives (keeps retired keys published that long).
    pub fn max_token_lifetime_s(mut self, seconds: u64) -> Self {
        self.max_token_lifetime_s = seconds;
        self
    }

    /// The endpoint.
    pub fn build(self) -> Result<TokenEndpoint, EndpointConfigError> {
        let issuer_url = url::Url::parse(&self.issuer)
            .map_err(|_| EndpointConfigError::Issuer(self.issuer.clone()))?;
        let loopback = matches!(
            issuer_url.host(),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback()
        ) || matches!(issuer_url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            || issuer_url.host_str() == Some("localhost");
        // RFC 8414 §2: https, no query, no fragment.
        if !(issuer_url.scheme() == "https" || (issuer_url.scheme() == "http" && loopback))
            || issuer_url.query().is_some()
            || issuer_url.fragment().is_some()
        {
            return Err(EndpointConfigError::Issuer(self.issuer));
        }
        let base = self.issuer.trim_end_matches('/');
        let token_endpoint = self
            .token_endpoint
            .unwrap_or_else(|| format!("{base}/token"));
        let normalized = NormalizedUri::parse(&token_endpoint)
            .map_err(|_| EndpointConfigError::TokenEndpoint(token_endpoint.clone()))?;
        let jwks_uri = self.jwks_uri.unwrap_or_else(|| format!("{base}/jwks.json"));
        Ok(TokenEndpoint {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                token_endpoint: normalized,
                jwks_uri,
                workloads: self.workloads,
                policy: RwLock::new(Arc::new(self.policy)),
                keys: RwLock::new(Arc::new(self.keys)),
                proofs: self
                    .proofs
                    .unwrap_or_else(|| ProofValidator::builder().build()),
                assertion_replay: self
                    .assertion_replay
                    .unwrap_or_else(|| Arc::new(InMemoryReplayStore::new())),
                limits: self.limits,
                max_token_lifetime_s: self.max_token_lifetime_s,
            }),
        })
    }
}

fn asymmetric_names() -> Vec<&'static str> {
    crate::jose::Algorithm::ALL
        .iter()
        .map(|alg| alg.name())
        .collect()
}

/// The auth-scheme of an `Authorization` value, as one of the schemes a challenge may
/// name; anything else is answered as `Basic`.
fn scheme_of(value: &[u8]) -> &'static str {
    let scheme = value.split(|b| *b == b' ').next().unwrap_or_default();
    for known in ["Basic", "Bearer", "DPoP"] {
        if scheme.eq_ignore_ascii_case(known.as_bytes()) {
            return known;
        }
    }
    "Basic"
}

fn is_form(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(text) = value.to_str() else {
        return false;
    };
    // RFC 9110 §8.3.1: the media type is case-insensitive; parameters may follow.
    let essence = text.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

impl From<ProofError> for IssuerRefusal {
    fn from(error: ProofError) -> Self {
        IssuerRefusal::Proof(error)
    }
}
