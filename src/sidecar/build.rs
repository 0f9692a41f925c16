//! The guard role's builder: from `[guard]` and the [`Shared`] parts to the library objects
//! — the [`GuardLayer`] and the handles the role keeps for readiness and metrics (the
//! issuers' [`RemoteJwks`], the introspection client).
//!
//! Nothing here fetches from the network: remote key sets load lazily on the first token
//! or when `/readyz` calls [`RemoteJwks::load`]. (The shared Redis replay store, which
//! tries Redis once, is built in [`super::shared`].)

use std::sync::Arc;

use crate::dpop::ProofValidator;
use crate::guard::{Guard, GuardLayer};
use crate::jwks::{JwksConfigError, JwksLocation, RemoteJwks};
use crate::token::{IntrospectionClient, IntrospectionRules, TrustedIssuer};

use super::config::{
    Config, ConfigError, GuardConfig, IntrospectionConfig, IssuerConfig, IssuerKeys,
};
use super::shared::{InProcessKeys, Replay, Shared};

/// The guard, built, and the handles the sidecar needs next to it.
#[non_exhaustive]
pub struct BuiltGuard {
    /// The tower layer to put in front of the proxy.
    pub layer: GuardLayer,
    /// The remotely fetched key sets, one per `jwks_uri` or `discovery` issuer:
    /// `/readyz` calls [`RemoteJwks::load`] on each, `/metrics` reads their stats.
    pub jwks: Vec<IssuerJwks>,
    /// The introspection client, for its stats.
    pub introspection: Option<IntrospectionClient>,
    /// The (shared) replay store the proof validator writes to.
    pub replay: Replay,
}

impl std::fmt::Debug for BuiltGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BuiltGuard")
            .field("layer", &self.layer)
            .field("jwks", &self.jwks)
            .field("introspection", &self.introspection)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

/// One issuer's remote key set.
#[derive(Debug, Clone)]
pub struct IssuerJwks {
    /// The issuer identifier.
    pub issuer: String,
    /// Its keys.
    pub jwks: RemoteJwks,
}

/// Builds the guard from `config.guard`, with shared parts of its own built from
/// `config.replay` and `config.nonce`: for a guard mounted alone (tests, an embedding
/// app). The sidecar shares one [`Shared`] between its roles and calls [`build_guard`].
pub async fn guard_layer(config: &Config) -> Result<BuiltGuard, ConfigError> {
    let shared = Shared::build(config).await?;
    build_guard(&config.guard, &shared, &[])
}

/// Builds the guard from `guard`, writing proofs to `shared`'s replay store and sealing
/// nonces with its key, with `guard.listen.max_body_bytes` as the most body the guard
/// reads (so that the guard and the listener agree on what is too large).
///
/// An entry of `[[guard.issuers]]` naming an issuer in `in_process` verifies with those
/// keys instead of its configured key source (which `mcp-warden guard` alone still uses).
///
/// Expects a configuration that passed [`Config::validate`]; anything still wrong is
/// returned as the first [`ConfigError`], never a panic.
pub fn build_guard(
    guard: &GuardConfig,
    shared: &Shared,
    in_process: &[InProcessKeys],
) -> Result<BuiltGuard, ConfigError> {
    let resource = guard.resource_url()?;
    let first = |errors: Vec<ConfigError>| {
        errors
            .into_iter()
            .next()
            .unwrap_or_else(|| ConfigError::new("guard", "invalid"))
    };
    let scopes = guard.scopes.policy()?;
    let scopes_supported: Vec<String> = if guard.scopes_supported.is_empty() {
        scopes.scopes().into_iter().map(str::to_owned).collect()
    } else {
        guard.scopes_supported.clone()
    };
    let authorization_servers = guard.effective_authorization_servers();

    let replay = shared.replay.clone();
    let mut proofs = ProofValidator::builder()
        .algorithms(guard.proof_algorithms().map_err(first)?)
        .max_age_s(guard.max_age_s)
        .max_future_s(guard.max_future_s)
        .replay_store(replay.store.clone());
    if let Some(nonces) = &shared.nonces {
        proofs = proofs.nonces(nonces.clone());
    }

    let mut builder = Guard::builder()
        .resource(resource.as_str())
        .mode(guard.mode.into())
        .proofs(proofs.build())
        .scopes(scopes)
        .scopes_supported(scopes_supported)
        .max_body_bytes(guard.listen.max_body_bytes)
        .token_leeway_s(guard.token_leeway_s);
    for server in &authorization_servers {
        builder = builder.authorization_server(server.clone());
    }
    for range in guard.proxies().map_err(first)? {
        builder = builder.trusted_proxy(range);
    }
    if guard.dangerous_forward_credentials {
        builder = builder.dangerous_forward_credentials();
    }
    if guard.plain_error_bodies {
        builder = builder.plain_error_bodies();
    }
    if guard.require_at_jwt {
        builder = builder.require_at_jwt();
    }
    builder = if guard.token_cache_entries == 0 || guard.token_cache_ttl_s == 0 {
        builder.no_token_cache()
    } else {
        builder.token_cache(guard.token_cache_entries, guard.token_cache_ttl_s)
    };
    if let Some(realm) = &guard.realm {
        builder = builder.realm(realm.clone());
    }
    if let Some(name) = &guard.resource_name {
        builder = builder.resource_name(name.clone());
    }
    for (name, value) in &guard.metadata {
        builder = builder.metadata_member(name.clone(), value.clone());
    }

    let mut jwks = Vec::new();
    for (index, issuer) in guard.issuers.iter().enumerate() {
        let prefix = format!("guard.issuers[{index}]");
        let local = in_process.iter().find(|keys| keys.issuer == issuer.issuer);
        let (trusted, remote) = match local {
            Some(local) => {
                tracing::info!(issuer = %issuer.issuer, "the guard verifies this issuer's tokens with its keys in process");
                let trusted =
                    TrustedIssuer::with_key_source(issuer.issuer.clone(), local.keys.clone());
                (trusted, None)
            }
            None => trusted_issuer(issuer, &prefix)?,
        };
        let trusted = trusted.algorithms(issuer.algorithm_set(&prefix).map_err(first)?);
        builder = builder.trust_issuer(trusted);
        jwks.extend(remote.map(|remote| IssuerJwks {
            issuer: issuer.issuer.clone(),
            jwks: remote,
        }));
    }
    let introspection = match &guard.introspection {
        Some(introspection) => {
            let client = introspection_client(guard, introspection, &authorization_servers)?;
            builder = builder.introspection(client.clone());
            Some(client)
        }
        None => None,
    };

    let layer = builder
        .build()
        .map_err(|error| ConfigError::new("guard", error.to_string()))?;
    Ok(BuiltGuard {
        layer,
        jwks,
        introspection,
        replay,
    })
}

/// One trusted issuer, and its remote key set if the keys are fetched.
fn trusted_issuer(
    issuer: &IssuerConfig,
    prefix: &str,
) -> Result<(TrustedIssuer, Option<RemoteJwks>), ConfigError> {
    let location = match issuer.keys(prefix)? {
        IssuerKeys::Static(keys) => {
            return Ok((TrustedIssuer::new(issuer.issuer.clone(), keys), None));
        }
        IssuerKeys::JwksUri(url) => JwksLocation::JwksUri(url),
        IssuerKeys::Discovery => JwksLocation::Discovery {
            issuer: issuer.issuer.clone(),
        },
    };
    let mut remote = RemoteJwks::builder(location)
        .max_stale(std::time::Duration::from_secs(issuer.max_stale_s))
        .min_refetch_interval(std::time::Duration::from_secs(
            issuer.min_refetch_interval_s,
        ))
        .timeout(std::time::Duration::from_secs(issuer.timeout_s));
    if issuer.dangerous_allow_plain_http {
        remote = remote.dangerous_allow_plain_http();
    }
    let remote = remote.build().map_err(|error| {
        let field = match &error {
            JwksConfigError::InvalidUrl { field }
            | JwksConfigError::UnsupportedScheme { field, .. }
            | JwksConfigError::PlainHttp { field }
            | JwksConfigError::CredentialsInUrl { field } => format!("{prefix}.{field}"),
            JwksConfigError::IssuerQueryOrFragment => format!("{prefix}.issuer"),
            _ => prefix.to_owned(),
        };
        ConfigError::new(field, error.to_string())
    })?;
    let trusted = TrustedIssuer::with_key_source(issuer.issuer.clone(), Arc::new(remote.clone()));
    Ok((trusted, Some(remote)))
}

/// The RFC 7662 client. Answers' `iss` must be one of `introspection.issuers`, or else
/// one of the authorization servers the guard publishes.
fn introspection_client(
    guard: &GuardConfig,
    config: &IntrospectionConfig,
    authorization_servers: &[String],
) -> Result<IntrospectionClient, ConfigError> {
    // Checked already; repeated so that a caller that skipped validation gets an error.
    let resource = guard.resource_url()?;
    let issuers = if config.issuers.is_empty() {
        authorization_servers.to_vec()
    } else {
        config.issuers.clone()
    };
    let rules = IntrospectionRules::new(resource.as_str(), issuers).leeway_s(guard.token_leeway_s);
    let auth = config.client_auth().map_err(|errors| {
        errors
            .into_iter()
            .next()
            .unwrap_or_else(|| ConfigError::new("guard.introspection.auth", "invalid"))
    })?;
    let mut builder = IntrospectionClient::builder(config.endpoint_url()?, rules)
        .client_auth(auth)
        .timeout(config.timeout())
        .cache_max_ttl_s(config.cache_max_ttl_s)
        .cache_max_entries(config.cache_max_entries);
    if config.dangerous_allow_plain_http {
        builder = builder.dangerous_allow_plain_http();
    }
    builder
        .build()
        .map_err(|error| ConfigError::new("guard.introspection", error.to_string()))
}
