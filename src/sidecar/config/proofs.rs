//! `[guard.nonce]`, `[guard.replay]` and `[guard.scopes]`: server nonces (RFC 9449 §9),
//! the replay store (RFC 9449 §11.1), and the scopes each MCP operation requires.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::dpop::StatelessNonces;
use crate::guard::ScopePolicy;
use crate::secret::Secret;

use super::ConfigError;
use super::check::{Problems, path};
use super::secrets::{self, base64_key, de_secret};

/// `[guard.nonce]`: stateless server nonces, sealed under a key every replica shares, so
/// that a proof must be fresh from the server's point of view, not only the client's.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NonceConfig {
    /// Require nonces. Default false.
    pub enabled: bool,
    /// The sealing key, base64 of at least 32 bytes, inline (discouraged). After loading,
    /// holds the key read from `key_file`.
    #[serde(deserialize_with = "de_secret")]
    pub key: Option<Secret>,
    /// A file holding the key as base64 (`openssl rand -base64 32`), read at load time.
    pub key_file: Option<PathBuf>,
    /// The previous key, still accepted during a rotation, inline (discouraged).
    #[serde(deserialize_with = "de_secret")]
    pub previous_key: Option<Secret>,
    /// A file holding the previous key as base64.
    pub previous_key_file: Option<PathBuf>,
    /// Seconds a nonce stays valid. Default 300.
    pub lifetime_s: u64,
}

impl Default for NonceConfig {
    fn default() -> Self {
        NonceConfig {
            enabled: false,
            key: None,
            key_file: None,
            previous_key: None,
            previous_key_file: None,
            lifetime_s: StatelessNonces::DEFAULT_LIFETIME_S,
        }
    }
}

const NONCE: &str = "guard.nonce";

impl NonceConfig {
    /// The nonce source, or `None` when nonces are off.
    pub fn nonces(&self) -> Result<Option<StatelessNonces>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let Some(key) = &self.key else {
            return Err(ConfigError::new(
                path(NONCE, "key_file"),
                "required when nonces are enabled: a file with a base64 key of at least 32 bytes shared by every replica (`openssl rand -base64 32`)",
            ));
        };
        let sealed = |name: &str, key: &Secret| {
            let bytes = base64_key(&path(NONCE, name), key)?;
            if bytes.len() < StatelessNonces::MIN_KEY_LEN {
                return Err(ConfigError::new(
                    path(NONCE, name),
                    format!(
                        "the key is {} bytes; it must be at least {} (`openssl rand -base64 32`)",
                        bytes.len(),
                        StatelessNonces::MIN_KEY_LEN
                    ),
                ));
            }
            Ok(bytes)
        };
        let current = sealed("key", key)?;
        let nonces = StatelessNonces::new(&current)
            .map_err(|error| ConfigError::new(path(NONCE, "key"), error.to_string()))?
            .with_lifetime_s(self.lifetime_s);
        match &self.previous_key {
            None => Ok(Some(nonces)),
            Some(previous) => {
                let previous = sealed("previous_key", previous)?;
                nonces.with_previous_key(&previous).map(Some).map_err(|_| {
                    ConfigError::new(
                        path(NONCE, "previous_key"),
                        "is the same key as `key`; during a rotation it must be the old key",
                    )
                })
            }
        }
    }

    pub(super) fn resolve_files(&mut self) -> Result<(), ConfigError> {
        secrets::resolve(NONCE, "key", &mut self.key, self.key_file.as_deref())?;
        secrets::resolve(
            NONCE,
            "previous_key",
            &mut self.previous_key,
            self.previous_key_file.as_deref(),
        )
    }

    pub(super) fn check(&self, problems: &mut Problems) {
        problems.take(self.nonces());
        if self.enabled {
            problems.positive(&path(NONCE, "lifetime_s"), self.lifetime_s);
        } else if self.key.is_some() {
            problems.warn(
                path(NONCE, "enabled"),
                "a nonce key is configured but nonces are off; set enabled = true to require them",
            );
        }
        for (name, inline, file) in [
            ("key", &self.key, &self.key_file),
            ("previous_key", &self.previous_key, &self.previous_key_file),
        ] {
            if inline.is_some() && file.is_none() {
                problems.warn(
                    path(NONCE, name),
                    format!("a key inline is visible to anyone who can read the configuration or the environment; use {name}_file"),
                );
            }
        }
    }
}

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

/// What the guard does when Redis cannot answer.
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

/// `[guard.replay]`: the replay store (RFC 9449 §11.1).
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
        }
    }
}

const REPLAY: &str = "guard.replay";

impl ReplayConfig {
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
                path(REPLAY, "redis_url_file"),
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
                path(REPLAY, field),
                format!(
                    "scheme {:?} is not a Redis URL; use redis:// or rediss:// (TLS)",
                    parsed.scheme()
                ),
            )),
            Err(_) => Err(ConfigError::new(
                path(REPLAY, field),
                "is not a URL; write e.g. rediss://:password@redis.example.com:6380/0",
            )),
        }
    }

    pub(super) fn resolve_files(&mut self) -> Result<(), ConfigError> {
        secrets::resolve(
            REPLAY,
            "redis_url",
            &mut self.redis_url,
            self.redis_url_file.as_deref(),
        )
    }

    pub(super) fn check(&self, problems: &mut Problems) {
        problems.positive(&path(REPLAY, "max_entries"), self.max_entries as u64);
        if self.store != ReplayStoreKind::Redis {
            return;
        }
        if !cfg!(feature = "redis") {
            problems.error(
                path(REPLAY, "store"),
                "\"redis\" needs mcp-warden built with the `redis` feature; rebuild with it or use \"memory\"",
            );
        }
        problems.take(self.redis_url());
        problems.positive(&path(REPLAY, "timeout_ms"), self.timeout_ms);
        problems.positive(&path(REPLAY, "connect_timeout_ms"), self.connect_timeout_ms);
        let prefix = &self.key_prefix;
        if prefix.is_empty()
            || prefix.len() > 128
            || prefix.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            problems.error(
                path(REPLAY, "key_prefix"),
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
                path(REPLAY, "redis_ca_file"),
                "only applies to TLS: the Redis URL must start with rediss://",
            );
        }
        if self.redis_url.is_some() && self.redis_url_file.is_none() {
            problems.warn(
                path(REPLAY, "redis_url"),
                "a Redis URL inline exposes its password to anyone who can read the configuration; use redis_url_file",
            );
        }
        if self.on_redis_error == OnRedisError::Memory {
            problems.warn(
                path(REPLAY, "on_redis_error"),
                "while Redis is down each replica checks replays alone: a proof can be replayed once to every other replica",
            );
        }
    }
}

/// `[guard.scopes]`: which scopes each MCP operation requires. The most specific rule
/// wins and `always` is added to all; a granted scope must match exactly, or sit above the
/// required one when `hierarchy` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScopesConfig {
    /// Scopes every request requires.
    pub always: Vec<String>,
    /// One character that makes scopes hierarchical (`":"`: `tools` grants
    /// `tools:call`). Default none (exact match).
    pub hierarchy: Option<String>,
    /// Scopes per JSON-RPC method, e.g. `"tools/list" = ["tools:read"]`.
    pub methods: BTreeMap<String, Vec<String>>,
    /// Scopes per tool (`tools/call` with that name); `"*"` is every tool.
    pub tools: BTreeMap<String, Vec<String>>,
    /// Scopes per resource URI (`resources/read`, `subscribe`, `unsubscribe`).
    pub resources: BTreeMap<String, Vec<String>>,
    /// Scopes per prompt (`prompts/get` with that name).
    pub prompts: BTreeMap<String, Vec<String>>,
    /// Scopes for operations no rule matches, and requests without one.
    pub default: Vec<String>,
}

const SCOPES: &str = "guard.scopes";

impl ScopesConfig {
    /// The scope policy. Each list is checked on its own first, so that an invalid scope
    /// is reported with the field that holds it.
    pub fn policy(&self) -> Result<ScopePolicy, ConfigError> {
        let lists = std::iter::once((path(SCOPES, "always"), &self.always))
            .chain(std::iter::once((path(SCOPES, "default"), &self.default)))
            .chain(
                [
                    ("methods", &self.methods),
                    ("tools", &self.tools),
                    ("resources", &self.resources),
                    ("prompts", &self.prompts),
                ]
                .into_iter()
                .flat_map(|(table, rules)| {
                    rules
                        .iter()
                        .map(move |(name, scopes)| (format!("{SCOPES}.{table}.\"{name}\""), scopes))
                }),
            );
        for (field, scopes) in lists {
            if let Err(error) = ScopePolicy::builder()
                .always(scopes.iter().cloned())
                .build()
            {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "{error}: scopes are non-empty printable ASCII without spaces, quotes or backslashes"
                    ),
                ));
            }
        }
        let mut builder = ScopePolicy::builder()
            .always(self.always.iter().cloned())
            .default_scopes(self.default.iter().cloned());
        if let Some(separator) = &self.hierarchy {
            let mut chars = separator.chars();
            match (chars.next(), chars.next()) {
                (Some(separator), None) => builder = builder.hierarchy(separator),
                _ => {
                    return Err(ConfigError::new(
                        path(SCOPES, "hierarchy"),
                        format!("{separator:?} must be exactly one character, e.g. \":\""),
                    ));
                }
            }
        }
        for (method, scopes) in &self.methods {
            builder = builder.method(method.clone(), scopes.iter().cloned());
        }
        for (tool, scopes) in &self.tools {
            builder = builder.tool(tool, scopes.iter().cloned());
        }
        for (uri, scopes) in &self.resources {
            builder = builder.resource(uri, scopes.iter().cloned());
        }
        for (prompt, scopes) in &self.prompts {
            builder = builder.prompt(prompt, scopes.iter().cloned());
        }
        builder.build().map_err(|error| {
            let field = match error {
                crate::guard::ScopePolicyError::InvalidSeparator { .. } => {
                    path(SCOPES, "hierarchy")
                }
                _ => SCOPES.to_owned(),
            };
            ConfigError::new(field, error.to_string())
        })
    }
}
