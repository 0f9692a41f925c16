//! `[replay]` (`[guard.replay]` in the old layout): where accepted DPoP proofs are
//! remembered against replay (RFC 9449 §11.1) — one store for every role in the process.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;

use super::ConfigError;
use super::check::{Problems, path};
use super::secrets::{self, de_secret};

/// Where accepted proofs are remembered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStoreKind {
    /// In this process: enough for one replica. The default.
    #[default]
    Memory,
    /// In Redis, shared by every replica (`SET NX PX`).
    Redis,
}

/// What the replay store does when Redis cannot answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRedisError {
    /// Refuse the request (503): no proof is accepted unchecked. The default.
    #[default]
    FailClosed,
    /// Fall back to this replica's memory: requests keep flowing, but a proof replayed to
    /// another replica during the outage is accepted.
    Memory,
}

/// `[replay]` (`[guard.replay]` in the old layout): the replay store (RFC 9449 §11.1),
/// one for every role in the process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplayConfig {
    /// `memory` or `redis`. Default `memory`.
    pub store: ReplayStoreKind,
    /// Most proofs remembered in memory (also the fallback's size). Default 1000000.
    pub max_entries: usize,
    /// The Redis URL (`redis://` or `rediss://`) inline, discouraged when it holds a
    /// password. After loading, holds the URL read from `redis_url_file`.
    #[serde(deserialize_with = "de_secret")]
    pub redis_url: Option<Secret>,
    /// A file holding the Redis URL, read at load time.
    pub redis_url_file: Option<PathBuf>,
    /// PEM certificates trusted for a `rediss://` URL instead of the platform's roots.
    pub redis_ca_file: Option<PathBuf>,
    /// Prefix of the Redis keys. Default `mcp-warden:replay:`.
    pub key_prefix: String,
    /// Milliseconds one Redis command may take, waiting for a connection included.
    /// Default 200.
    pub timeout_ms: u64,
    /// Milliseconds one connection attempt to Redis may take. Default 1000.
    pub connect_timeout_ms: u64,
    /// `fail_closed` or `memory`. Default `fail_closed`.
    pub on_redis_error: OnRedisError,
    /// The dotted name of the table this was read from (`replay`, or `guard.replay` in
    /// the old layout).
    #[serde(skip)]
    pub(super) table: &'static str,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            store: ReplayStoreKind::Memory,
            max_entries: 1_000_000,
            redis_url: None,
            redis_url_file: None,
            redis_ca_file: None,
            key_prefix: "mcp-warden:replay:".into(),
            timeout_ms: 200,
            connect_timeout_ms: 1000,
            on_redis_error: OnRedisError::FailClosed,
            table: "replay",
        }
    }
}

impl ReplayConfig {
    /// The dotted name of `field` in this table (`replay.redis_url_file`).
    pub fn field(&self, field: &str) -> String {
        path(self.table, field)
    }

    /// `timeout_ms` as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// `connect_timeout_ms` as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }

    /// The Redis URL, checked, when `store = "redis"`.
    pub fn redis_url(&self) -> Result<&Secret, ConfigError> {
        let Some(url) = &self.redis_url else {
            return Err(ConfigError::new(
                self.field("redis_url_file"),
                "required with store = \"redis\": a file holding the Redis URL (or redis_url)",
            ));
        };
        // Parsed without echoing the text: it may hold a password.
        let field = if self.redis_url_file.is_some() {
            "redis_url_file"
        } else {
            "redis_url"
        };
        match url::Url::parse(url.expose()) {
            Ok(parsed) if matches!(parsed.scheme(), "redis" | "rediss" | "redis+unix" | "unix") => {
                Ok(url)
            }
            Ok(parsed) => Err(ConfigError::new(
                self.field(field),
                format!(
                    "scheme {:?} is not a Redis URL; use redis:// or rediss:// (TLS)",
                    parsed.scheme()
                ),
            )),
            Err(_) => Err(ConfigError::new(
                self.field(field),
                "is not a URL; write e.g. rediss://:password@redis.example.com:6380/0",
            )),
        }
    }

    pub(super) fn resolve_files(&mut self) -> Result<(), ConfigError> {
        secrets::resolve(
            self.table,
            "redis_url",
            &mut self.redis_url,
            self.redis_url_file.as_deref(),
        )
    }

    pub(super) fn check(&self, problems: &mut Problems) {
        problems.positive(&self.field("max_entries"), self.max_entries as u64);
        if self.store != ReplayStoreKind::Redis {
            return;
        }
        if !cfg!(feature = "redis") {
            problems.error(
                self.field("store"),
                "\"redis\" needs mcp-warden built with the `redis` feature; rebuild with it or use \"memory\"",
            );
        }
        problems.take(self.redis_url());
        problems.positive(&self.field("timeout_ms"), self.timeout_ms);
        problems.positive(&self.field("connect_timeout_ms"), self.connect_timeout_ms);
        let prefix = &self.key_prefix;
        if prefix.is_empty()
            || prefix.len() > 128
            || prefix.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            problems.error(
                self.field("key_prefix"),
                "must be 1 to 128 bytes without whitespace or control characters, e.g. \"mcp-warden:replay:\" (an empty prefix mixes proof keys with other data)",
            );
        }
        if self.redis_ca_file.is_some()
            && self
                .redis_url
                .as_ref()
                .is_some_and(|url| !url.expose().starts_with("rediss://"))
        {
            problems.error(
                self.field("redis_ca_file"),
                "only applies to TLS: the Redis URL must start with rediss://",
            );
        }
        if self.redis_url.is_some() && self.redis_url_file.is_none() {
            problems.warn(
                self.field("redis_url"),
                "a Redis URL inline exposes its password to anyone who can read the configuration; use redis_url_file",
            );
        }
        if self.on_redis_error == OnRedisError::Memory {
            problems.warn(
                self.field("on_redis_error"),
                "while Redis is down each replica checks replays alone: a proof can be replayed once to every other replica",
            );
        }
    }
}
