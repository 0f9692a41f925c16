//! `[nonce]` (`[guard.nonce]` in the old layout): stateless server nonces (RFC 9449 §9),
//! one key shared by every role that checks DPoP proofs and by every replica.

use std::path::PathBuf;

use serde::Deserialize;

use crate::dpop::StatelessNonces;
use crate::secret::Secret;

use super::ConfigError;
use super::check::{Problems, path};
use super::secrets::{self, base64_key, de_secret};

/// `[nonce]` (`[guard.nonce]` in the old layout): stateless server nonces, sealed under a
/// key every replica and every role shares, so that a proof must be fresh from the
/// server's point of view, not only the client's.
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
    /// The dotted name of the table this was read from (`nonce`, or `guard.nonce` in the
    /// old layout).
    #[serde(skip)]
    pub(super) table: &'static str,
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
            table: "nonce",
        }
    }
}

impl NonceConfig {
    /// The dotted name of `field` in this table (`nonce.key_file`).
    pub fn field(&self, field: &str) -> String {
        path(self.table, field)
    }

    /// The nonce source, or `None` when nonces are off.
    pub fn nonces(&self) -> Result<Option<StatelessNonces>, ConfigError> {
        if !self.enabled {
            return Ok(None);
        }
        let Some(key) = &self.key else {
            return Err(ConfigError::new(
                self.field("key_file"),
                "required when nonces are enabled: a file with a base64 key of at least 32 bytes shared by every replica (`openssl rand -base64 32`)",
            ));
        };
        let sealed = |name: &str, key: &Secret| {
            let bytes = base64_key(&self.field(name), key)?;
            if bytes.len() < StatelessNonces::MIN_KEY_LEN {
                return Err(ConfigError::new(
                    self.field(name),
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
            .map_err(|error| ConfigError::new(self.field("key"), error.to_string()))?
            .with_lifetime_s(self.lifetime_s);
        match &self.previous_key {
            None => Ok(Some(nonces)),
            Some(previous) => {
                let previous = sealed("previous_key", previous)?;
                nonces.with_previous_key(&previous).map(Some).map_err(|_| {
                    ConfigError::new(
                        self.field("previous_key"),
                        "is the same key as `key`; during a rotation it must be the old key",
                    )
                })
            }
        }
    }

    pub(super) fn resolve_files(&mut self) -> Result<(), ConfigError> {
        secrets::resolve(self.table, "key", &mut self.key, self.key_file.as_deref())?;
        secrets::resolve(
            self.table,
            "previous_key",
            &mut self.previous_key,
            self.previous_key_file.as_deref(),
        )
    }

    pub(super) fn check(&self, problems: &mut Problems) {
        problems.take(self.nonces());
        if self.enabled {
            problems.positive(&self.field("lifetime_s"), self.lifetime_s);
        } else if self.key.is_some() {
            problems.warn(
                self.field("enabled"),
                "a nonce key is configured but nonces are off; set enabled = true to require them",
            );
        }
        for (name, inline, file) in [
            ("key", &self.key, &self.key_file),
            ("previous_key", &self.previous_key, &self.previous_key_file),
        ] {
            if inline.is_some() && file.is_none() {
                problems.warn(
                    self.field(name),
                    format!("a key inline is visible to anyone who can read the configuration or the environment; use {name}_file"),
                );
            }
        }
    }
}
