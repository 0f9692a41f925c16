//! The DPoP parts every role shares, built once per process from the top-level sections:
//! the replay store (`[replay]`) and the server-nonce key (`[nonce]`). A role that checks
//! DPoP proofs (the guard's resource requests, the issuer's token requests) writes to the
//! same store and seals nonces under the same key, so a proof accepted by one role is a
//! replay at the other, and a nonce from either is good at both.
//!
//! Building the store is the one start-up step that may touch the network: the Redis store
//! tries Redis once (bounded by `connect_timeout_ms`) and still succeeds, not ready, when
//! Redis is merely unreachable. [`ReplayProbe`] reports its state on `/readyz` and
//! `/metrics`.

use std::sync::Arc;

use crate::dpop::{DegradingReplayStore, InMemoryReplayStore, ReplayStore, StatelessNonces};
use crate::jwks::KeySource;

#[cfg(feature = "redis")]
use super::config::OnRedisError;
use super::config::{Config, ConfigError, ReplayConfig, ReplayStoreKind};
use super::probe::{BoxFuture, Probe};

/// The parts every role shares.
#[derive(Clone)]
#[non_exhaustive]
pub struct Shared {
    /// The replay store and its typed handles.
    pub replay: Replay,
    /// The server-nonce source, when `[nonce] enabled = true`.
    pub nonces: Option<Arc<StatelessNonces>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("replay", &self.replay)
            .field("nonces", &self.nonces.is_some())
            .finish()
    }
}

impl Shared {
    /// Builds the shared parts from `config.replay` and `config.nonce`.
    ///
    /// Expects a configuration that passed validation; anything still wrong is returned as
    /// a [`ConfigError`], never a panic.
    pub async fn build(config: &Config) -> Result<Shared, ConfigError> {
        Ok(Shared {
            replay: Replay::build(&config.replay).await?,
            nonces: config.nonce.nonces()?.map(Arc::new),
        })
    }
}

/// An issuer whose keys another role of the same process holds (`serve` with the guard and
/// the issuer): a role that trusts this issuer reads the keys in process instead of fetching
/// them over HTTP.
#[derive(Clone)]
pub struct InProcessKeys {
    /// The issuer identifier (`iss`), compared exactly.
    pub issuer: String,
    /// Its keys.
    pub keys: Arc<dyn KeySource>,
}

impl std::fmt::Debug for InProcessKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The replay store proofs are written to, and the same store by its type, for readiness
/// and metrics.
#[derive(Clone)]
#[non_exhaustive]
pub struct Replay {
    /// The store every proof validator writes to.
    pub store: Arc<dyn ReplayStore>,
    /// The same store when it is the in-memory one, for its size.
    pub memory: Option<Arc<InMemoryReplayStore>>,
    /// The Redis store, for `/readyz` ([`RedisReplayStore::ping`]) and its stats.
    ///
    /// [`RedisReplayStore::ping`]: crate::dpop::RedisReplayStore::ping
    #[cfg(feature = "redis")]
    pub redis: Option<Arc<crate::dpop::RedisReplayStore>>,
    /// The memory fallback around Redis (`on_redis_error = "memory"`), for alerting on
    /// [`DegradingReplayStore::is_degraded`].
    pub degrading: Option<Arc<DegradingReplayStore>>,
}

impl std::fmt::Debug for Replay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("Replay");
        debug.field("memory", &self.memory.is_some());
        #[cfg(feature = "redis")]
        debug.field("redis", &self.redis.is_some());
        debug
            .field("degrading", &self.degrading.is_some())
            .finish_non_exhaustive()
    }
}

impl Replay {
    /// The store `config` asks for.
    pub async fn build(config: &ReplayConfig) -> Result<Replay, ConfigError> {
        match config.store {
            ReplayStoreKind::Memory => {
                let memory = Arc::new(InMemoryReplayStore::with_capacity(config.max_entries));
                Ok(Replay {
                    store: memory.clone(),
                    memory: Some(memory),
                    #[cfg(feature = "redis")]
                    redis: None,
                    degrading: None,
                })
            }
            ReplayStoreKind::Redis => redis_store(config).await,
        }
    }

    /// The store's probe: ready unless Redis, with no fallback, does not answer; gauges for
    /// the store's size, its Redis counters and the degraded state.
    pub fn probe(&self) -> ReplayProbe {
        ReplayProbe(self.clone())
    }
}

#[cfg(feature = "redis")]
async fn redis_store(config: &ReplayConfig) -> Result<Replay, ConfigError> {
    use crate::dpop::{RedisReplayError, RedisReplayStore};

    let url = config.redis_url()?;
    let mut builder = RedisReplayStore::builder(url.expose())
        .key_prefix(config.key_prefix.clone())
        .timeout(config.timeout())
        .connect_timeout(config.connect_timeout());
    if let Some(path) = &config.redis_ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            ConfigError::new(
                config.field("redis_ca_file"),
                format!("{}: {e}", path.display()),
            )
        })?;
        builder = builder.tls_roots_pem(pem);
    }
    let redis = builder.connect().await.map_err(|error| {
        let url_field = if config.redis_url_file.is_some() {
            "redis_url_file"
        } else {
            "redis_url"
        };
        let field = match &error {
            RedisReplayError::InvalidKeyPrefix { .. } => "key_prefix",
            RedisReplayError::ZeroTimeout {
                field: "connect_timeout",
            } => "connect_timeout_ms",
            RedisReplayError::ZeroTimeout { .. } => "timeout_ms",
            _ => url_field,
        };
        // The store's errors never hold the URL's password.
        ConfigError::new(config.field(field), error.to_string())
    })?;
    let redis = Arc::new(redis);
    match config.on_redis_error {
        OnRedisError::FailClosed => Ok(Replay {
            store: redis.clone(),
            memory: None,
            redis: Some(redis),
            degrading: None,
        }),
        OnRedisError::Memory => {
            let fallback = InMemoryReplayStore::with_capacity(config.max_entries);
            let degrading = Arc::new(DegradingReplayStore::with_fallback(redis.clone(), fallback));
            Ok(Replay {
                store: degrading.clone(),
                memory: None,
                redis: Some(redis),
                degrading: Some(degrading),
            })
        }
    }
}

#[cfg(not(feature = "redis"))]
async fn redis_store(config: &ReplayConfig) -> Result<Replay, ConfigError> {
    Err(ConfigError::new(
        config.field("store"),
        "\"redis\" needs mcp-warden built with the `redis` feature; rebuild with it or use \"memory\"",
    ))
}

/// The replay store on `/readyz` and `/metrics` (see [`Replay::probe`]).
#[derive(Debug, Clone)]
pub struct ReplayProbe(Replay);

impl Probe for ReplayProbe {
    fn name(&self) -> &str {
        "replay store"
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            #[cfg(feature = "redis")]
            if let Some(redis) = &self.0.redis
                // With the memory fallback on, Redis being down does not stop traffic, so
                // it does not make the sidecar unready either.
                && self.0.degrading.is_none()
            {
                return match tokio::time::timeout(std::time::Duration::from_secs(1), redis.ping())
                    .await
                {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(error)) => Err(format!("replay store: {error}")),
                    Err(_) => Err("replay store: no answer within 1 s".into()),
                };
            }
            Ok(())
        })
    }

    fn sample(&self) {
        let replay = &self.0;
        if let Some(store) = &replay.memory {
            metrics::gauge!("mcp_warden_replay_store_entries").set(store.len() as f64);
            // Alert before it fills: a full store refuses new proofs (503).
            metrics::gauge!("mcp_warden_replay_store_capacity").set(store.capacity() as f64);
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = &replay.redis {
            let stats = redis.stats();
            metrics::gauge!("mcp_warden_replay_store_checks").set(stats.checks as f64);
            metrics::gauge!("mcp_warden_replay_store_replays").set(stats.replays as f64);
            metrics::gauge!("mcp_warden_replay_store_errors").set(stats.errors as f64);
        }
        if let Some(degrading) = &replay.degrading {
            // 1 while answers come from the memory fallback: replays across replicas are
            // not detected then, which deserves an alert.
            metrics::gauge!("mcp_warden_replay_store_degraded").set(if degrading.is_degraded() {
                1.0
            } else {
                0.0
            });
            metrics::gauge!("mcp_warden_replay_store_fallbacks").set(degrading.fallbacks() as f64);
        }
    }
}
