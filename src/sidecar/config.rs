//! The sidecar's configuration (`warden.toml`): the schema, loading, and validation.
//!
//! - **Layout**: the host's sections are top-level and shared by every role (`[admin]`,
//!   `[log]`, `[shutdown]`, `[runtime]`, and the DPoP parts `[nonce]` and `[replay]`);
//!   each role has one section of its own holding its listener (`[guard]` with
//!   `[guard.listen]`, `[guard.upstream]`, `[guard.identity]`). A role runs when its
//!   section is present ([`Config::roles`], [`roles`]). The layout before roles
//!   (`[listen]`, `[upstream]`, `[identity]`, `[guard.nonce]`, `[guard.replay]`) is still
//!   read, with a warning naming the new place ([`layout`]).
//! - **Precedence**: built-in defaults < the TOML file < `MCP_WARDEN_*` environment
//!   variables, where `__` separates levels (`MCP_WARDEN_GUARD__RESOURCE`,
//!   `MCP_WARDEN_GUARD__UPSTREAM__URL`). Only variables holding a `__` are read, so the
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
//! use mcp_warden::sidecar::config::{Config, RoleKind};
//!
//! let config = Config::parse(r#"
//!     [guard]
//!     resource = "https://mcp.example.com/mcp"
//!     [[guard.issuers]]
//!     issuer = "https://as.example.com"
//!     discovery = true
//! "#)?;
//! config.validate().map_err(|errors| errors[0].clone())?;
//! assert_eq!(config.roles(), [RoleKind::Guard]);
//! assert_eq!(config.guard.listen.address, "0.0.0.0:8080");
//! # Ok::<(), mcp_warden::sidecar::config::ConfigError>(())
//! ```

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;

mod agent;
mod check;
mod guard;
mod host;
mod identity;
mod introspection;
mod issuer;
pub mod layout;
mod listen;
mod nonce;
mod replay;
pub mod roles;
mod scopes;
mod secrets;
mod upstream;

pub use agent::{AgentSection, GrantName, RouteConfig, WorkloadConfig};
pub use guard::{GuardConfig, GuardMode, IssuerConfig, IssuerKeys};
pub use host::{AdminConfig, LogConfig, LogFormat, RuntimeConfig, ShutdownConfig};
pub use identity::{IdentityConfig, IdentityHeaderNames};
pub use introspection::{IntrospectionAuth, IntrospectionConfig};
pub use issuer::{IssuerSection, SigningKeyConfig, TrustedConfig};
pub use listen::ListenConfig;
pub use nonce::NonceConfig;
pub use replay::{OnRedisError, ReplayConfig, ReplayStoreKind};
pub use roles::RoleKind;
pub use scopes::ScopesConfig;
pub use upstream::UpstreamConfig;

use roles::RoleSection;

/// The prefix of the environment variables that override the file.
pub const ENV_PREFIX: &str = "MCP_WARDEN_";
/// What separates nesting levels in an environment variable's name.
pub const ENV_SEPARATOR: &str = "__";

/// The whole sidecar configuration. Every section has safe defaults; a role runs when
/// its section is present, and the guard's needs `guard.resource` and a way to verify
/// tokens (`guard.issuers` or `guard.introspection`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The old place of `[guard.listen]`, moved there at load time ([`layout`]).
    #[serde(rename = "listen")]
    legacy_listen: Option<ListenConfig>,
    /// `/metrics`, `/healthz`, `/readyz`.
    pub admin: AdminConfig,
    /// The old place of `[guard.upstream]`.
    #[serde(rename = "upstream")]
    legacy_upstream: Option<UpstreamConfig>,
    /// The guard role: runs when `[guard]` is present.
    pub guard: GuardConfig,
    /// The issuer role: runs when `[issuer]` is present.
    pub issuer: IssuerSection,
    /// The agent role: runs when `[agent]` is present.
    pub agent: AgentSection,
    /// The old place of `[guard.identity]`.
    #[serde(rename = "identity")]
    legacy_identity: Option<IdentityConfig>,
    /// Logs.
    pub log: LogConfig,
    /// Shutdown.
    pub shutdown: ShutdownConfig,
    /// The async runtime.
    pub runtime: RuntimeConfig,
    /// Server nonces (RFC 9449 §9), one key for every role that checks DPoP proofs.
    pub nonce: NonceConfig,
    /// Where DPoP proofs are remembered against replay (RFC 9449 §11.1): one store for
    /// every role.
    pub replay: ReplayConfig,
    /// Which role sections are present, and the sections read from their old place.
    #[serde(skip)]
    layout: layout::Layout,
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
        let layout = layout::Layout::of(&figment)?;
        let mut config: Config = figment.extract().map_err(from_figment)?;
        layout::settle(&mut config, layout);
        // A listener table given without an address gets the listener defaults, which are
        // the guard's; the issuer's own default port applies instead.
        config.issuer.listen.table = issuer::LISTEN;
        if !figment.contains("issuer.listen.address") {
            config.issuer.listen.address = issuer::DEFAULT_ADDRESS.into();
        }
        config.agent.listen.table = agent::LISTEN;
        if !figment.contains("agent.listen.address") {
            config.agent.listen.address = agent::DEFAULT_ADDRESS.into();
        }
        for role in RoleKind::ALL {
            config.section_mut(*role).resolve_files()?;
        }
        config.nonce.resolve_files()?;
        config.replay.resolve_files()?;
        Ok(config)
    }

    /// The roles whose section is present, in start order: what `mcp-warden serve` runs.
    pub fn roles(&self) -> &[RoleKind] {
        &self.layout.roles
    }

    /// Checks the shared sections and every role section present, returning every problem
    /// found (never only the first). A configuration without any role section is an
    /// error: there would be nothing to run.
    pub fn validate(&self) -> Result<(), Vec<ConfigError>> {
        let mut errors = Vec::new();
        if self.roles().is_empty() {
            errors.push(no_role());
        }
        errors.extend(self.review(self.roles()).errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Checks the shared sections and the sections of `roles`, present or not (an absent
    /// section is its defaults): what `mcp-warden guard` runs.
    pub fn validate_for(&self, roles: &[RoleKind]) -> Result<(), Vec<ConfigError>> {
        let errors = self.review(roles).errors;
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// What works but deserves a second look (sections at their old place, inline
    /// secrets, `dangerous_*` options, Bearer modes, `on_redis_error = "memory"`), for the
    /// shared sections and every role section present: `mcp-warden check-config` prints
    /// these.
    pub fn warnings(&self) -> Vec<ConfigWarning> {
        self.review(self.roles()).warnings
    }

    /// [`Config::warnings`] for the shared sections and the sections of `roles`.
    pub fn warnings_for(&self, roles: &[RoleKind]) -> Vec<ConfigWarning> {
        self.review(roles).warnings
    }

    /// A role's section.
    fn section(&self, role: RoleKind) -> &dyn RoleSection {
        match role {
            RoleKind::Guard => &self.guard,
            RoleKind::Issuer => &self.issuer,
            RoleKind::Agent => &self.agent,
        }
    }

    /// A role's section, to read its files.
    fn section_mut(&mut self, role: RoleKind) -> &mut dyn RoleSection {
        match role {
            RoleKind::Guard => &mut self.guard,
            RoleKind::Issuer => &mut self.issuer,
            RoleKind::Agent => &mut self.agent,
        }
    }

    fn review(&self, roles: &[RoleKind]) -> check::Problems {
        let mut problems = check::Problems::default();
        self.layout.warn(&mut problems);
        for role in roles {
            self.section(*role).check(&mut problems);
        }
        self.check_listeners(roles, &mut problems);
        self.nonce.check(&mut problems);
        self.replay.check(&mut problems);
        self.log.check(&mut problems);
        problems.positive("shutdown.drain_timeout_s", self.shutdown.drain_timeout_s);
        self.runtime.check(&mut problems);
        problems
    }

    /// The admin listener and every role listener need ports of their own: two sockets on
    /// one port (or one on every interface) cannot both be bound.
    fn check_listeners(&self, roles: &[RoleKind], problems: &mut check::Problems) {
        const ADMIN: &str = "admin.address";
        let mut taken: Vec<(String, std::net::SocketAddr)> = Vec::new();
        if let Some(admin) = problems.take(self.admin.socket_addr()) {
            taken.push((ADMIN.to_owned(), admin));
        }
        for role in roles {
            for listen in self.section(*role).listeners() {
                // A bad address is the listener's own problem, reported by its check.
                let Ok(address) = listen.socket_addr() else {
                    continue;
                };
                let field = listen.field("address");
                if let Some((other_field, other)) =
                    taken.iter().find(|(_, other)| overlap(*other, address))
                {
                    if other_field == ADMIN {
                        problems.error(
                            ADMIN,
                            format!(
                                "{other} overlaps {field} {address}; give the admin endpoint its own port"
                            ),
                        );
                    } else {
                        problems.error(
                            &field,
                            format!(
                                "{address} overlaps {other_field} {other}; give each listener its own port"
                            ),
                        );
                    }
                }
                taken.push((field, address));
            }
        }
    }
}

/// Whether two listeners would compete for one port.
fn overlap(a: std::net::SocketAddr, b: std::net::SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

/// The error of a configuration that holds no role section.
fn no_role() -> ConfigError {
    let sections: Vec<String> = RoleKind::ALL
        .iter()
        .map(|role| format!("[{}]", role.section()))
        .collect();
    ConfigError::new(
        "(config)",
        format!(
            "no role to run: the configuration has no role section ({}); add one (docs/configuration.md)",
            sections.join(", ")
        ),
    )
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
