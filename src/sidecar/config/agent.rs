//! `[agent]`, the agent role's section: an egress proxy on loopback for agents in any
//! language. Each `[[agent.routes]]` entry maps `http://LISTEN/<name>` to one MCP server;
//! the role finds that server's authorization server from its `401`, exchanges the
//! workload's platform token (`[agent.workload]`) for a DPoP-bound token, and forwards every
//! request with the token and a fresh proof.

use std::path::PathBuf;

use serde::Deserialize;

use crate::exchange::Grant;
use crate::jose::{Algorithm, SigningKey};

use super::ConfigError;
use super::check::{Problems, path};
use super::listen::ListenConfig;
use super::secrets::KeyFile;

/// Its listener's dotted name.
pub(super) const LISTEN: &str = "agent.listen";
/// The agent's address when `agent.listen.address` is not given: loopback only, since the
/// proxy adds the workload's credentials to whatever it is sent.
pub(super) const DEFAULT_ADDRESS: &str = "127.0.0.1:8090";

/// `[agent]`. See `docs/agent.md` and `docs/configuration.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSection {
    /// The agent's listener. Default `127.0.0.1:8090`.
    pub listen: ListenConfig,
    /// Where the workload's platform token comes from.
    pub workload: WorkloadConfig,
    /// The grant: `jwt-bearer` (default; MCP SEP-1933), `token-exchange`,
    /// `federated-client-credentials`.
    pub grant: GrantName,
    /// `client_id` sent with `federated-client-credentials`.
    pub client_id: Option<String>,
    /// Only DPoP-bound tokens (default `true`): a server answering `token_type=Bearer` is
    /// refused. Set `false` for authorization servers that issue only Bearer tokens.
    pub require_dpop: bool,
    /// The DPoP key, PKCS#8 (PEM or DER); generated in memory at start when absent.
    pub dpop_key_file: Option<PathBuf>,
    /// The DPoP key's algorithm. Default `ES256`.
    pub dpop_alg: String,
    /// Accept requests from other hosts than loopback. Default `false`: anyone who can
    /// reach the proxy acts with the workload's identity.
    pub dangerous_allow_remote_clients: bool,
    /// Seconds for one exchange with a token endpoint or metadata document, and for the
    /// upstream's answer to begin. Default 30.
    pub timeout_s: u64,
    /// The MCP servers, one route each.
    pub routes: Vec<RouteConfig>,
    /// The DPoP key file's bytes, read at load time.
    #[serde(skip)]
    pub(super) dpop_key: KeyFile,
}

impl Default for AgentSection {
    fn default() -> Self {
        AgentSection {
            listen: ListenConfig {
                address: DEFAULT_ADDRESS.into(),
                ..ListenConfig::in_table(LISTEN)
            },
            workload: WorkloadConfig::default(),
            grant: GrantName::JwtBearer,
            client_id: None,
            require_dpop: true,
            dpop_key_file: None,
            dpop_alg: "ES256".into(),
            dangerous_allow_remote_clients: false,
            timeout_s: 30,
            routes: Vec::new(),
            dpop_key: KeyFile::default(),
        }
    }
}

/// `[agent.workload]`: the platform token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkloadConfig {
    /// A token file, read at every exchange (a Kubernetes projected token, AWS or Azure
    /// token files). Absent: the platform is detected from the environment.
    pub token_file: Option<PathBuf>,
    /// The audience asked for where the platform mints on request (GitHub Actions, GCP).
    /// Default: the discovered authorization server's issuer.
    pub audience: Option<String>,
    /// Let detection use the GCP metadata server at its default address.
    pub gcp_metadata: bool,
}

/// The grant names of the configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantName {
    /// RFC 7523 §2.1, MCP SEP-1933.
    #[default]
    JwtBearer,
    /// RFC 8693.
    TokenExchange,
    /// `client_credentials` with the platform token as `client_assertion`.
    FederatedClientCredentials,
}

/// `[[agent.routes]]`: one MCP server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RouteConfig {
    /// The route's path segment: requests to `/<name>` go to `url`.
    pub name: String,
    /// The MCP server's URL, exactly as its metadata names it. https, or http on loopback.
    pub url: String,
    /// Scopes asked for; empty asks for the server's default.
    pub scopes: Vec<String>,
    /// Use this authorization server (it must be one the server's metadata names).
    pub issuer: Option<String>,
    /// Leave `resource` out of token requests (servers that read the scope instead).
    pub omit_resource: bool,
}

impl AgentSection {
    /// The grant, as the token client takes it.
    pub fn grant(&self) -> Grant {
        match self.grant {
            GrantName::JwtBearer => Grant::JwtBearer,
            GrantName::TokenExchange => Grant::token_exchange(),
            GrantName::FederatedClientCredentials => Grant::FederatedClientCredentials {
                client_id: self.client_id.clone(),
            },
        }
    }

    /// The configured DPoP key, if any.
    pub fn dpop_key(&self) -> Result<Option<SigningKey>, ConfigError> {
        let Some(file) = &self.dpop_key_file else {
            return Ok(None);
        };
        let alg = self.dpop_algorithm()?;
        self.dpop_key
            .signing_key("agent.dpop_key_file", Some(file), alg)
            .map(Some)
    }

    /// `dpop_alg`, checked.
    pub fn dpop_algorithm(&self) -> Result<Algorithm, ConfigError> {
        Algorithm::from_name(&self.dpop_alg).ok_or_else(|| {
            ConfigError::new(
                "agent.dpop_alg",
                format!(
                    "{:?} is not an asymmetric signature algorithm",
                    self.dpop_alg
                ),
            )
        })
    }

    fn resolve_files(&mut self) -> Result<(), ConfigError> {
        if let Some(file) = &self.dpop_key_file {
            self.dpop_key = KeyFile::load("agent.dpop_key_file", file)?;
        }
        Ok(())
    }

    fn check(&self, problems: &mut Problems) {
        self.listen.check(problems);
        problems.take(self.dpop_key());
        problems.take(self.dpop_algorithm());
        problems.positive("agent.timeout_s", self.timeout_s);
        if self.routes.is_empty() {
            problems.error(
                "agent.routes",
                "no route: add a [[agent.routes]] entry with the MCP server's name and url",
            );
        }
        let mut names = Vec::new();
        for (index, route) in self.routes.iter().enumerate() {
            let prefix = format!("agent.routes[{index}]");
            let segment = !route.name.is_empty()
                && route
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            if !segment {
                problems.error(
                    path(&prefix, "name"),
                    "required: one path segment of letters, digits, '-', '_' or '.'",
                );
            } else if names.contains(&route.name.as_str()) {
                problems.error(
                    path(&prefix, "name"),
                    format!("{:?} names two routes", route.name),
                );
            }
            names.push(route.name.as_str());
            if let Err(error) = crate::exchange::metadata::https_url("url", &route.url) {
                problems.error(path(&prefix, "url"), error.to_string());
            }
        }
        if self.grant == GrantName::FederatedClientCredentials && self.client_id.is_none() {
            problems.warn(
                "agent.client_id",
                "federated-client-credentials without client_id: most servers (Entra) need it",
            );
        }
        if !self.require_dpop {
            problems.warn(
                "agent.require_dpop",
                "Bearer tokens are accepted: a copy of one works without the agent's key",
            );
        }
        if self.dangerous_allow_remote_clients {
            problems.warn(
                "agent.dangerous_allow_remote_clients",
                "anyone who can reach the proxy acts with the workload's identity",
            );
        }
    }
}

impl super::roles::RoleSection for AgentSection {
    fn resolve_files(&mut self) -> Result<(), ConfigError> {
        AgentSection::resolve_files(self)
    }

    fn check(&self, problems: &mut Problems) {
        AgentSection::check(self, problems);
    }

    fn listeners(&self) -> Vec<&ListenConfig> {
        vec![&self.listen]
    }
}
