//! The sidecar's configuration (`warden.toml`): the schema, loading, and validation.
//!
//! - **Precedence**: built-in defaults < the TOML file < `MCP_WARDEN_*` environment
//!   variables, where `__` separates levels (`MCP_WARDEN_GUARD__RESOURCE`,
//!   `MCP_WARDEN_UPSTREAM__URL`). Only variables holding a `__` are read, so the
//!   examples' `MCP_WARDEN_ISSUER`/`MCP_WARDEN_LISTEN` never collide with the sidecar's.
//! - **Secrets** (client secrets, nonce keys, the Redis URL, private keys) each have a
//!   `*_file` form, read once at load time with one trailing newline removed; a secret
//!   given inline works, but [`Config::warnings`] flags it.
//! - **Typos are errors**: every table denies unknown fields.
//! - **Validation** ([`Config::validate`]) reports every problem at once, each naming its
//!   field by dotted path (`guard.issuers[0].jwks_uri`) and saying what would be right.
//!
//! `docs/configuration.md` documents every option; `examples/warden.toml` shows each with
//! its default.
//!
//! ```
//! use mcp_warden::sidecar::config::Config;
//!
//! let config = Config::parse(r#"
//!     [guard]
//!     resource = "https://mcp.example.com/mcp"
//!     [[guard.issuers]]
//!     issuer = "https://as.example.com"
//!     discovery = true
//! "#)?;
//! config.validate().map_err(|errors| errors[0].clone())?;
//! assert_eq!(config.listen.address, "0.0.0.0:8080");
//! # Ok::<(), mcp_warden::sidecar::config::ConfigError>(())
//! ```

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;

mod check;
mod guard;
mod introspection;
mod proofs;
mod secrets;
mod server;

pub use guard::{GuardConfig, GuardMode, IssuerConfig, IssuerKeys};
pub use introspection::{IntrospectionAuth, IntrospectionConfig};
pub use proofs::{NonceConfig, OnRedisError, ReplayConfig, ReplayStoreKind, ScopesConfig};
pub use server::{
    AdminConfig, IdentityConfig, IdentityHeaderNames, ListenConfig, LogConfig, LogFormat,
    RuntimeConfig, ShutdownConfig, UpstreamConfig,
};

/// The prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "MCP_WARDEN_";
/// What separates nesting levels in an environment variable's name.
pub const ENV_SEPARATOR: &str = "__";

/// The whole sidecar configuration. Every section has safe defaults; only
/// `guard.resource` and a way to verify tokens (`guard.issuers` or
/// `guard.introspection`) must be given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The proxy listener.
    pub listen: ListenConfig,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub admin: AdminConfig,
    /// The MCP server behind the sidecar.
    pub upstream: UpstreamConfig,
    /// What the guard checks.
    pub guard: GuardConfig,
    /// What the upstream learns about the caller.
    pub identity: IdentityConfig,
    /// Logs.
    pub log: LogConfig,
    /// Shutdown.
    pub shutdown: ShutdownConfig,
    /// The async runtime.
    pub runtime: RuntimeConfig,
}

/// A configuration problem: the field, by dotted path, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigError {
    /// The dotted path of the field (`guard.issuers[0].jwks_uri`), or of its table.
    pub field: String,
    /// What is wrong, and what would be right. Never holds a secret.
    pub problem: String,
}

impl ConfigError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Something that works but deserves a second look: an inline secret, a `dangerous_*`
/// option, a fallback that weakens replay protection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ConfigWarning {
    /// The dotted path of the field.
    pub field: String,
    /// Why it deserves a look.
    pub problem: String,
}

impl ConfigWarning {
    /// A warning about `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ConfigWarning {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl Config {
    /// Loads the defaults, then the TOML file at `path` (if any), then the `MCP_WARDEN_*`
    /// environment, and reads every `*_file` the result names. Does not validate: call
    /// [`Config::validate`] next.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            // The file may come from `--config`, `MCP_WARDEN_CONFIG` or `check-config FILE`:
            // the error names the file, not the option.
            let text = std::fs::read_to_string(path).map_err(|error| {
                ConfigError::new(
                    path.display().to_string(),
                    format!("cannot read the configuration file: {error}"),
                )
            })?;
            figment = figment.merge(Named {
                inner: Toml::string(&text),
                name: path.display().to_string(),
            });
        }
        Self::extract(figment.merge(environment()))
    }

    /// Parses `toml` alone — no environment — and reads every `*_file` it names: for
    /// tests and tools that check a file as written.
    pub fn parse(toml: &str) -> Result<Config, ConfigError> {
        Self::extract(Figment::from(Named {
            inner: Toml::string(toml),
            name: "TOML".into(),
        }))
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        let mut config: Config = figment.extract().map_err(from_figment)?;
        config.guard.resolve_files()?;
        config.identity.resolve_files()?;
        Ok(config)
    }

    /// Checks everything, returning every problem found (never only the first).
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let errors = self.review().errors;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// What works but deserves a second look (inline secrets, `dangerous_*` options,
    /// Bearer modes, `on_redis_error = "memory"`): `mcp-warden check-config` prints these.
    pub fn warnings(&self) -> Vec<ConfigWarning> {
        self.review().warnings
    }

    fn review(&self) -> check::Problems {
        let mut problems = check::Problems::default();
        self.listen.check(&mut problems);
        let admin = problems.take(self.admin.socket_addr());
        if let (Some(admin), Ok(listen)) = (admin, self.listen.socket_addr())
            && admin.port() == listen.port()
            && (admin.ip() == listen.ip()
                || admin.ip().is_unspecified()
                || listen.ip().is_unspecified())
        {
            problems.error(
                "admin.address",
                format!(
                    "{admin} overlaps listen.address {listen}; give the admin endpoint its own port"
                ),
            );
        }
        self.upstream.check(&mut problems);
        self.guard.check(&mut problems);
        problems.take_all(self.identity.header_names());
        problems.take_all(self.identity.assertion_signer());
        self.log.check(&mut problems);
        problems.positive("shutdown.drain_timeout_s", self.shutdown.drain_timeout_s);
        self.runtime.check(&mut problems);
        problems
    }
}

/// The environment provider: `MCP_WARDEN_A__B=v` sets `a.b`. Variables without `__` are
/// skipped: every top-level key is a table, so they cannot be configuration, and the
/// examples use `MCP_WARDEN_ISSUER` and `MCP_WARDEN_LISTEN` for their own purposes.
fn environment() -> Env {
    Env::prefixed(ENV_PREFIX)
        .filter(|key| key.as_str().contains(ENV_SEPARATOR))
        .split(ENV_SEPARATOR)
}

/// A provider under a name of our choosing, so that errors say which file they are in.
struct Named<P> {
    inner: P,
    name: String,
}

impl<P: Provider> Provider for Named<P> {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.name.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        self.inner.data()
    }
}

/// A deserialization error as a [`ConfigError`] on the dotted path figment reports, with
/// where the value came from (the file, or the environment variable).
fn from_figment(error: figment::Error) -> ConfigError {
    let field = if error.path.is_empty() {
        "(config)".to_owned()
    } else {
        error.path.join(".")
    };
    let source = error
        .metadata
        .as_ref()
        .map(|metadata| {
            if metadata.name.contains("environment") {
                format!(
                    " (from environment variable {ENV_PREFIX}{})",
                    error.path.join(ENV_SEPARATOR).to_uppercase()
                )
            } else {
                format!(" (in {})", metadata.name)
            }
        })
        .unwrap_or_default();
    ConfigError::new(field, format!("{}{source}", describe(&error.kind)))
}

/// figment's wording, except for unknown fields and keywords, where it nests backticks
/// (``expected `one of `a`, `b``` ``): those read as serde's do, `expected one of `a`, `b``.
fn describe(kind: &figment::error::Kind) -> String {
    use figment::error::Kind;
    match kind {
        Kind::UnknownField(found, expected) => {
            format!("unknown field `{found}`, {}", expecting(expected))
        }
        Kind::UnknownVariant(found, expected) => {
            format!("unknown value `{found}`, {}", expecting(expected))
        }
        other => other.to_string(),
    }
}

/// `expected `a``, `expected `a` or `b``, `expected one of `a`, `b`, `c``.
fn expecting(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.as_slice() {
        [] => "and this table takes no fields".to_owned(),
        [one] => format!("expected {one}"),
        [one, two] => format!("expected {one} or {two}"),
        all => format!("expected one of {}", all.join(", ")),
    }
}
