//! The issuer role (`[issuer]`): the token service ([`crate::issuer::IssuerService`]) on the
//! role's own listener — `POST` token requests, RFC 8414 metadata, the JWKS.
//!
//! It shares the host's replay store (proof `jti`s and single-use assertion `jti`s, in
//! Redis when there are replicas) and nonce key (the guard's stateless scheme). Probes: one
//! [`JwksProbe`] per trusted issuer whose keys are fetched. On SIGHUP the policy is
//! recompiled (from `policy_file`, if set) and swapped in; a policy that does not compile
//! is logged and the running one kept. Metrics: the shared request counter and latency
//! histogram under `mcp_warden_issuer_*`, with the refusal reason, and
//! `mcp_warden_tokens_issued_total` by rule.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;

use crate::clock::SystemClock;
use crate::dpop::ProofValidator;
use crate::issuer::{
    IssuerOutcome, IssuerService, KeyRing, LocalKeys, Refused, RequestLimits, TokenEndpoint,
    WorkloadIssuer, WorkloadIssuers, default_audiences,
};
use crate::jose::Algorithm;
use crate::jwks::{JwksLocation, RemoteJwks};
use crate::jwt::TrustedIssuer;

use super::super::config::{ConfigError, IssuerKeys, IssuerSection, TrustedConfig};
use super::super::error::SidecarError;
use super::super::host::Host;
use super::super::observe::{Accounting, Observe, RefusalReason};
use super::super::probe::{BoxFuture, JwksProbe, Probe};
use super::super::server::Listener;
use super::super::shared::InProcessKeys;
use super::super::signal::Shutdown;
use super::{Reload, Role};

/// The issuer's metrics.
const ACCOUNTING: Accounting = Accounting {
    role: "issuer",
    requests: "mcp_warden_issuer_requests_total",
    duration: "mcp_warden_issuer_request_duration_seconds",
    answered: "answered",
    failed: "error",
    failures_by_status: None,
};

impl RefusalReason for Refused {
    fn reason(&self) -> &'static str {
        self.refusal.reason()
    }
}

/// The issuer role, built and bound.
pub struct IssuerRole {
    listener: Listener,
    service: IssuerService,
    probes: Vec<Arc<dyn Probe>>,
    config: IssuerSection,
}

impl std::fmt::Debug for IssuerRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuerRole")
            .field("issuer", &self.config.issuer)
            .field("listen", &self.config.listen.address)
            .finish_non_exhaustive()
    }
}

impl IssuerRole {
    /// Builds the token service from `config` with `host`'s shared parts, and binds its
    /// listener.
    pub async fn build(config: &IssuerSection, host: &Host) -> Result<IssuerRole, SidecarError> {
        let policy = config.compile_policy().map_err(first)?;
        let keys = match config.key_ring()? {
            Some(keys) => keys,
            None => {
                tracing::warn!(
                    "issuer.ephemeral_key: signing with a key generated now; tokens die with the process (demo only)"
                );
                KeyRing::ephemeral(Algorithm::ES256)
                    .map_err(|error| ConfigError::new("issuer.ephemeral_key", error.to_string()))?
            }
        };
        let base = config.issuer.trim_end_matches('/');
        let token_endpoint = config
            .token_endpoint
            .clone()
            .unwrap_or_else(|| format!("{base}/token"));
        let mut workloads = Vec::new();
        let mut probes: Vec<Arc<dyn Probe>> = Vec::new();
        for (index, trusted) in config.trusted.iter().enumerate() {
            let prefix = format!("issuer.trusted[{index}]");
            let (issuer, remote) = workload_issuer(trusted, &prefix, config, &token_endpoint)?;
            if let Some(remote) = remote {
                probes.push(Arc::new(JwksProbe::new(trusted.issuer.clone(), remote)));
            }
            workloads.push(issuer);
        }
        let shared = host.shared();
        let mut proofs = ProofValidator::builder().replay_store(shared.replay.store.clone());
        if let Some(nonces) = &shared.nonces {
            proofs = proofs.nonces(nonces.clone());
        }
        let mut endpoint = TokenEndpoint::builder(
            config.issuer.clone(),
            WorkloadIssuers::new(workloads),
            policy,
            keys,
        )
        .token_endpoint(token_endpoint)
        .proofs(proofs.build())
        .assertion_replay(shared.replay.store.clone())
        .limits(RequestLimits {
            max_body_bytes: config.max_body_bytes,
            max_assertion_bytes: config.max_assertion_bytes,
        })
        .max_token_lifetime_s(config.max_token_lifetime_s);
        if let Some(jwks_uri) = &config.jwks_uri {
            endpoint = endpoint.jwks_uri(jwks_uri.clone());
        }
        let endpoint = endpoint
            .build()
            .map_err(|error| ConfigError::new("issuer.issuer", error.to_string()))?;
        let listener = Listener::open(&config.listen, host.drain_timeout()).await?;
        Ok(IssuerRole {
            listener,
            service: IssuerService::new(endpoint),
            probes,
            config: config.clone(),
        })
    }

    /// The token service.
    pub fn endpoint(&self) -> &TokenEndpoint {
        self.service.endpoint()
    }

    /// The keys this issuer publishes, for a role of the same process that trusts it.
    pub fn in_process_keys(&self) -> InProcessKeys {
        let endpoint = self.service.endpoint();
        InProcessKeys {
            issuer: endpoint.issuer().to_owned(),
            keys: Arc::new(LocalKeys::new(endpoint.clone(), Arc::new(SystemClock))),
        }
    }
}

/// One trusted workload issuer, and its remote key set if the keys are fetched.
fn workload_issuer(
    trusted: &TrustedConfig,
    prefix: &str,
    config: &IssuerSection,
    token_endpoint: &str,
) -> Result<(WorkloadIssuer, Option<RemoteJwks>), SidecarError> {
    let algorithms = trusted.algorithm_set(prefix).map_err(first)?;
    let iss = if trusted.issuer.is_empty() {
        format!(
            "spiffe://{}",
            trusted.trust_domain.clone().unwrap_or_default()
        )
    } else {
        trusted.issuer.clone()
    };
    let (keys, remote) = match trusted.keys(prefix)? {
        IssuerKeys::Static(keys) => (TrustedIssuer::new(iss, keys), None),
        IssuerKeys::JwksUri(url) => remote(trusted, prefix, iss, JwksLocation::JwksUri(url))?,
        IssuerKeys::Discovery => {
            let location = JwksLocation::Discovery {
                issuer: trusted.issuer.clone(),
            };
            remote(trusted, prefix, iss, location)?
        }
    };
    let keys = keys.algorithms(algorithms);
    let audiences = if trusted.audiences.is_empty() {
        default_audiences(&config.issuer, token_endpoint)
    } else {
        trusted.audiences.clone()
    };
    let platform = trusted
        .platform
        .ok_or_else(|| ConfigError::new(format!("{prefix}.platform"), "required"))?;
    let mut issuer = match &trusted.trust_domain {
        Some(domain) => WorkloadIssuer::spiffe(
            trusted.name.clone(),
            domain.clone(),
            keys,
            audiences,
            trusted.iss_optional,
        ),
        None => WorkloadIssuer::new(trusted.name.clone(), platform, keys, audiences),
    };
    if let Some(claims) = &trusted.required_claims {
        issuer = issuer.required_claims(claims.clone());
    }
    let issuer = issuer
        .max_lifetime_s(trusted.max_lifetime_s)
        .leeway_s(trusted.leeway_s)
        .single_use_jti(trusted.single_use_jti);
    Ok((issuer, remote))
}

fn remote(
    trusted: &TrustedConfig,
    prefix: &str,
    iss: String,
    location: JwksLocation,
) -> Result<(TrustedIssuer, Option<RemoteJwks>), SidecarError> {
    let mut builder = RemoteJwks::builder(location)
        .max_stale(Duration::from_secs(trusted.max_stale_s))
        .min_refetch_interval(Duration::from_secs(trusted.min_refetch_interval_s))
        .timeout(Duration::from_secs(trusted.timeout_s));
    if trusted.dangerous_allow_plain_http {
        builder = builder.dangerous_allow_plain_http();
    }
    if let Some(ca) = trusted.ca_pem() {
        builder = builder.extra_roots_pem(ca.to_vec());
    }
    if let Some(file) = &trusted.jwks_bearer_token_file {
        builder = builder.bearer_token_file(file.clone());
    }
    let remote = builder
        .build()
        .map_err(|error| ConfigError::new(prefix, error.to_string()))?;
    let keys = TrustedIssuer::with_key_source(iss, Arc::new(remote.clone()));
    Ok((keys, Some(remote)))
}

impl Role for IssuerRole {
    fn name(&self) -> &'static str {
        "issuer"
    }

    fn probes(&self) -> Vec<Arc<dyn Probe>> {
        self.probes.clone()
    }

    fn reloader(&self) -> Option<Arc<dyn Reload>> {
        Some(Arc::new(PolicyReload {
            config: self.config.clone(),
            endpoint: self.service.endpoint().clone(),
        }))
    }

    fn serve(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, ()> {
        let IssuerRole {
            listener,
            service,
            config,
            ..
        } = *self;
        let watch = match (&config.policy_file, config.policy_poll_s) {
            (Some(file), seconds) if seconds > 0 => Some(tokio::spawn(watch_policy_file(
                file.clone(),
                Duration::from_secs(seconds),
                PolicyReload {
                    config: config.clone(),
                    endpoint: service.endpoint().clone(),
                },
            ))),
            _ => None,
        };
        Box::pin(async move {
            tracing::info!(
                listen = %config.listen.address,
                issuer = %config.issuer,
                token_endpoint = service.endpoint().token_endpoint(),
                "mcp-warden issuer started"
            );
            let service = Observe::<_, Refused>::new(CountIssued(service), ACCOUNTING);
            listener.serve(service, shutdown.begun()).await;
            if let Some(watch) = watch {
                watch.abort();
            }
            tracing::info!("mcp-warden issuer stopped");
        })
    }
}

/// Counts issued tokens by rule (a label from the configuration, so bounded).
#[derive(Clone)]
struct CountIssued(IssuerService);

impl<B> tower_service::Service<Request<B>> for CountIssued
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        tower_service::Service::<Request<B>>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let call = self.0.call(request);
        Box::pin(async move {
            let mut response = call.await?;
            if let Some(outcome) = response.extensions().get::<IssuerOutcome>().cloned() {
                match outcome {
                    IssuerOutcome::Issued(record) => {
                        metrics::counter!("mcp_warden_tokens_issued_total", "rule" => record.rule.clone())
                            .increment(1);
                    }
                    // Where the observing layer finds a refusal.
                    IssuerOutcome::Refused(refused) => {
                        response.extensions_mut().insert((*refused).clone());
                    }
                }
            }
            Ok(response)
        })
    }
}

/// Recompiles the policy on SIGHUP.
struct PolicyReload {
    config: IssuerSection,
    endpoint: TokenEndpoint,
}

impl Reload for PolicyReload {
    fn reload(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            match self.config.compile_policy() {
                Ok(policy) => {
                    self.endpoint.replace_policy(policy);
                    tracing::info!("issuer policy reloaded");
                }
                Err(errors) => {
                    for error in errors {
                        tracing::error!(%error, "issuer policy not reloaded; the running policy is kept");
                    }
                }
            }
        })
    }
}

/// Reloads the policy whenever `file`'s modification time or size changes, checked every
/// `interval`. Reading the file is the same as on SIGHUP, so a broken edit is logged and
/// the running policy kept; the next change is tried again.
async fn watch_policy_file(file: std::path::PathBuf, interval: Duration, reload: PolicyReload) {
    let stamp = |file: &std::path::Path| {
        std::fs::metadata(file)
            .ok()
            .map(|meta| (meta.modified().ok(), meta.len()))
    };
    let mut seen = stamp(&file);
    loop {
        tokio::time::sleep(interval).await;
        let now = stamp(&file);
        if now == seen {
            continue;
        }
        seen = now;
        tracing::info!(file = %file.display(), "issuer policy file changed: reloading");
        reload.reload().await;
    }
}

fn first(mut errors: Vec<ConfigError>) -> SidecarError {
    if errors.is_empty() {
        ConfigError::new("issuer", "invalid").into()
    } else {
        errors.swap_remove(0).into()
    }
}
