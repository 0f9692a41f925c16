//! The guard role (`[guard]`): the guard layer in front of the reverse proxy to the
//! upstream MCP server, on the role's own listener, with the caller's identity passed on in
//! headers or a signed assertion. Its parts: [`super::super::build`] (the guard layer),
//! [`super::super::proxy`] and [`super::super::upstream`] (forwarding).
//!
//! Probes: one [`JwksProbe`] per issuer whose keys are fetched. Admin route:
//! `/identity/jwks.json`, the identity-assertion key's JWK Set (404 when assertions are
//! off). Nothing is reloaded on SIGHUP.

use std::sync::Arc;

use bytes::Bytes;
use tower_layer::Layer;

use crate::guard::{GuardLayer, Refusal};

use super::super::admin::{AdminRoute, Document};
use super::super::build::build_guard;
use super::super::config::{ConfigError, GuardConfig};
use super::super::error::SidecarError;
use super::super::host::Host;
use super::super::observe::{Accounting, Observe};
use super::super::probe::{BoxFuture, JwksProbe, Probe};
use super::super::proxy::{IdentityAssertion, IdentityHeaders, Proxy, UpstreamSettings};
use super::super::server::Listener;
use super::super::shared::InProcessKeys;
use super::super::signal::Shutdown;
use super::Role;

/// Whether requests are checked. Unchecked exists only to measure the proxy's own cost
/// next to the guarded one (`docs/performance.md`), in a binary built with the
/// `bench-unguarded` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardSwitch {
    /// Every request is checked (the only mode for real traffic).
    #[default]
    On,
    /// Nothing is checked: a plain reverse proxy, for benchmarks.
    #[cfg(feature = "bench-unguarded")]
    DangerousOff,
}

/// The guard role, built and bound.
pub struct GuardRole {
    listener: Listener,
    /// `None` only with `GuardSwitch::DangerousOff`.
    layer: Option<GuardLayer>,
    proxy: Proxy,
    probes: Vec<Arc<dyn Probe>>,
    identity_jwks: Option<Bytes>,
    /// For the start-up line.
    listen: String,
    upstream: String,
    resource: String,
}

impl std::fmt::Debug for GuardRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardRole")
            .field("listen", &self.listen)
            .field("upstream", &self.upstream)
            .field("resource", &self.resource)
            .field("checked", &self.layer.is_some())
            .finish_non_exhaustive()
    }
}

impl GuardRole {
    /// Builds the guard from `config` with `host`'s shared parts, and binds its listener.
    /// Issuers in `in_process` (another role's own keys) are verified in process.
    pub async fn build(
        config: &GuardConfig,
        host: &Host,
        switch: GuardSwitch,
        in_process: &[InProcessKeys],
    ) -> Result<GuardRole, SidecarError> {
        let built = build_guard(config, host.shared(), in_process)?;
        let identity = &config.identity;
        let names = identity.header_names().map_err(first)?;
        let assertion = identity
            .assertion_signer()
            .map_err(first)?
            .map(|(header, key)| IdentityAssertion {
                header,
                key: Arc::new(key),
                issuer: config.resource.clone().unwrap_or_default(),
                audience: config.upstream.url.clone(),
                ttl_s: identity.assertion_ttl_s,
            });
        let identity_jwks = assertion.as_ref().map(|assertion| {
            Bytes::from(
                serde_json::json!({"keys": [assertion.key.public_jwk().to_json()]}).to_string(),
            )
        });
        let listener = Listener::open(&config.listen, host.drain_timeout()).await?;
        let upstream = &config.upstream;
        let settings = UpstreamSettings {
            url: upstream.url()?,
            http2_prior_knowledge: upstream.http2_prior_knowledge,
            connect_timeout: upstream.connect_timeout(),
            first_byte_timeout: upstream.first_byte_timeout(),
            idle_timeout: upstream.idle_timeout(),
            extra_roots_pem: match &upstream.ca_file {
                Some(path) => Some(std::fs::read(path).map_err(|e| {
                    ConfigError::new(
                        upstream.field("ca_file"),
                        format!("{}: {e}", path.display()),
                    )
                })?),
                None => None,
            },
            max_body_bytes: config.listen.max_body_bytes as u64,
            identity: IdentityHeaders {
                subject: names.subject,
                client_id: names.client_id,
                scopes: names.scopes,
                key_thumbprint: names.key_thumbprint,
                assertion,
                strip: identity.configured_names(),
            },
            trusted_proxies: config.proxies().map_err(first)?,
            listener_tls: listener.is_tls(),
        };
        let proxy = Proxy::new(settings)?;
        let probes = built
            .jwks
            .iter()
            .map(|issuer| {
                Arc::new(JwksProbe::new(issuer.issuer.clone(), issuer.jwks.clone()))
                    as Arc<dyn Probe>
            })
            .collect();
        let layer = match switch {
            GuardSwitch::On => Some(built.layer),
            #[cfg(feature = "bench-unguarded")]
            GuardSwitch::DangerousOff => None,
        };
        Ok(GuardRole {
            listener,
            layer,
            proxy,
            probes,
            identity_jwks,
            listen: config.listen.address.clone(),
            upstream: config.upstream.url.clone(),
            resource: config.resource.clone().unwrap_or_default(),
        })
    }
}

impl Role for GuardRole {
    fn name(&self) -> &'static str {
        "guard"
    }

    fn probes(&self) -> Vec<Arc<dyn Probe>> {
        self.probes.clone()
    }

    fn admin_routes(&self) -> Vec<AdminRoute> {
        let document = match &self.identity_jwks {
            Some(jwks) => Document::Served {
                content_type: "application/jwk-set+json",
                body: jwks.clone(),
            },
            None => Document::Off("identity assertions are off"),
        };
        vec![AdminRoute {
            path: "/identity/jwks.json",
            document,
        }]
    }

    fn serve(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, ()> {
        let GuardRole {
            listener,
            layer,
            proxy,
            listen,
            upstream,
            resource,
            ..
        } = *self;
        Box::pin(async move {
            tracing::info!(
                listen = %listen,
                upstream = %upstream,
                resource = %resource,
                "mcp-warden guard started"
            );
            match layer {
                Some(layer) => {
                    let service = Observe::<_, Refusal>::new(layer.layer(proxy), Accounting::GUARD);
                    listener.serve(service, shutdown.begun()).await;
                }
                None => {
                    tracing::warn!(
                        "the guard is OFF: every request is forwarded unchecked (benchmark mode)"
                    );
                    let service = Observe::<_, Refusal>::new(proxy, Accounting::GUARD);
                    listener.serve(service, shutdown.begun()).await;
                }
            }
            tracing::info!("mcp-warden guard stopped");
        })
    }
}

/// The first of a section's errors (the configuration was validated before: this is only
/// for a caller that skipped validation).
fn first(mut errors: Vec<ConfigError>) -> ConfigError {
    if errors.is_empty() {
        ConfigError::new("guard", "invalid")
    } else {
        errors.swap_remove(0)
    }
}
