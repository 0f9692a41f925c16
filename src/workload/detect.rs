//! Which platform a workload runs on, decided from its environment alone: a pure function
//! over an injected [`Environment`] (variables and a file-exists check), so every branch is
//! testable and nothing touches the network.
//!
//! The order is from the most explicit signal to the least: GitHub Actions (both
//! `ACTIONS_ID_TOKEN_REQUEST_*` variables, set only when the job has `id-token: write`),
//! then, with the feature `spiffe`, the SPIFFE Workload API (`SPIFFE_ENDPOINT_SOCKET` is set:
//! someone pointed the workload at an agent on purpose, and a SPIRE-attested pod is often a
//! Kubernetes pod too, so it must win over the files below), then AWS and Azure (their webhooks set a variable on pods that are also Kubernetes pods,
//! so they must win over the projected file), then a Kubernetes projected token file that
//! exists, then the GCP metadata server — only when enabled or `GCE_METADATA_HOST` is set,
//! because probing `metadata.google.internal` from elsewhere would stall or, on a hostile
//! network, reach someone else's server.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use super::auto::AutoOptions;
use super::file::{AWS_WEB_IDENTITY_TOKEN_FILE, AZURE_FEDERATED_TOKEN_FILE};
use super::gcp::GCE_METADATA_HOST;
use super::github::{ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL};
#[cfg(feature = "spiffe")]
use super::spiffe::SPIFFE_ENDPOINT_SOCKET;

/// What detection reads: environment variables and whether a file exists.
pub trait Environment: Send + Sync {
    /// The variable's value; `None` when unset. Empty values count as unset.
    fn var(&self, name: &str) -> Option<String>;

    /// Whether `path` is an existing regular file.
    fn file_exists(&self, path: &Path) -> bool;
}

/// The process's own environment and file system.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }

    fn file_exists(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// A fixed environment (tests, or a configuration that names its variables).
///
/// ```
/// use mcp_warden::workload::{AutoOptions, Detected, StaticEnvironment, detect};
///
/// let env = StaticEnvironment::new().var("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/aws/token");
/// let found = detect(&env, &AutoOptions::new()).unwrap();
/// assert_eq!(found, Detected::AwsWebIdentity { token_file: "/var/run/aws/token".into() });
/// assert!(detect(&StaticEnvironment::new(), &AutoOptions::new()).is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct StaticEnvironment {
    vars: HashMap<String, String>,
    files: HashSet<PathBuf>,
}

impl StaticEnvironment {
    /// No variables, no files.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a variable.
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Makes `path` exist.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.insert(path.into());
        self
    }
}

impl Environment for StaticEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.vars
            .get(name)
            .filter(|value| !value.is_empty())
            .cloned()
    }

    fn file_exists(&self, path: &Path) -> bool {
        self.files.contains(path)
    }
}

/// The platform detection found, and the evidence it went by.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Detected {
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN` are set.
    GithubActions,
    /// `SPIFFE_ENDPOINT_SOCKET` names the SPIFFE Workload API (feature `spiffe`).
    #[cfg(feature = "spiffe")]
    SpiffeWorkloadApi {
        /// The variable's value (`unix:/path` or `unix:///path`).
        endpoint: String,
    },
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` names this file.
    AwsWebIdentity {
        /// The token file.
        token_file: PathBuf,
    },
    /// `AZURE_FEDERATED_TOKEN_FILE` names this file.
    AzureFederated {
        /// The token file.
        token_file: PathBuf,
    },
    /// The projected service-account token file exists.
    KubernetesProjected {
        /// The token file.
        token_file: PathBuf,
    },
    /// The GCP metadata server: enabled in the options, or `GCE_METADATA_HOST` is set.
    GcpMetadata {
        /// `GCE_METADATA_HOST`, when that is what enabled it.
        metadata_host: Option<String>,
    },
}

impl fmt::Display for Detected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detected::GithubActions => write!(
                f,
                "GitHub Actions ({ACTIONS_ID_TOKEN_REQUEST_URL} and \
                 {ACTIONS_ID_TOKEN_REQUEST_TOKEN} are set)"
            ),
            #[cfg(feature = "spiffe")]
            Detected::SpiffeWorkloadApi { endpoint } => write!(
                f,
                "SPIFFE Workload API ({SPIFFE_ENDPOINT_SOCKET}={endpoint})"
            ),
            Detected::AwsWebIdentity { token_file } => write!(
                f,
                "AWS web identity ({AWS_WEB_IDENTITY_TOKEN_FILE}={})",
                token_file.display()
            ),
            Detected::AzureFederated { token_file } => write!(
                f,
                "Azure workload identity ({AZURE_FEDERATED_TOKEN_FILE}={})",
                token_file.display()
            ),
            Detected::KubernetesProjected { token_file } => write!(
                f,
                "Kubernetes projected service-account token ({} exists)",
                token_file.display()
            ),
            Detected::GcpMetadata {
                metadata_host: Some(host),
            } => write!(f, "GCP metadata server ({GCE_METADATA_HOST}={host})"),
            Detected::GcpMetadata {
                metadata_host: None,
            } => f.write_str("GCP metadata server (enabled in the configuration)"),
        }
    }
}

/// The platform `env` shows, in the order the module docs give; `None` when none does.
pub fn detect(env: &dyn Environment, options: &AutoOptions) -> Option<Detected> {
    if env.var(ACTIONS_ID_TOKEN_REQUEST_URL).is_some()
        && env.var(ACTIONS_ID_TOKEN_REQUEST_TOKEN).is_some()
    {
        return Some(Detected::GithubActions);
    }
    #[cfg(feature = "spiffe")]
    if let Some(endpoint) = env.var(SPIFFE_ENDPOINT_SOCKET) {
        return Some(Detected::SpiffeWorkloadApi { endpoint });
    }
    if let Some(path) = env.var(AWS_WEB_IDENTITY_TOKEN_FILE) {
        return Some(Detected::AwsWebIdentity {
            token_file: path.into(),
        });
    }
    if let Some(path) = env.var(AZURE_FEDERATED_TOKEN_FILE) {
        return Some(Detected::AzureFederated {
            token_file: path.into(),
        });
    }
    let kubernetes = options.kubernetes_token_file_path();
    if env.file_exists(kubernetes) {
        return Some(Detected::KubernetesProjected {
            token_file: kubernetes.to_owned(),
        });
    }
    let metadata_host = env.var(GCE_METADATA_HOST);
    if metadata_host.is_some() || options.gcp_enabled() {
        return Some(Detected::GcpMetadata { metadata_host });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::KUBERNETES_PROJECTED_TOKEN_FILE;

    fn everything() -> StaticEnvironment {
        StaticEnvironment::new()
            .var(ACTIONS_ID_TOKEN_REQUEST_URL, "https://gh.example/token?x=1")
            .var(ACTIONS_ID_TOKEN_REQUEST_TOKEN, "request-token")
            // Ignored without the feature `spiffe`: detection is as before it.
            .var("SPIFFE_ENDPOINT_SOCKET", "unix:///run/spire/agent.sock")
            .var(AWS_WEB_IDENTITY_TOKEN_FILE, "/aws/token")
            .var(AZURE_FEDERATED_TOKEN_FILE, "/azure/token")
            .var(GCE_METADATA_HOST, "169.254.169.254")
            .file(KUBERNETES_PROJECTED_TOKEN_FILE)
    }

    #[test]
    fn detection_follows_the_documented_order() {
        let options = AutoOptions::new();
        let env = everything();
        assert_eq!(detect(&env, &options), Some(Detected::GithubActions));
        // Only one of the two GitHub variables is not GitHub Actions.
        let env = env.var(ACTIONS_ID_TOKEN_REQUEST_TOKEN, "");
        // With the feature `spiffe`, SPIFFE_ENDPOINT_SOCKET comes next.
        #[cfg(feature = "spiffe")]
        let env = {
            let spiffe = Detected::SpiffeWorkloadApi {
                endpoint: "unix:///run/spire/agent.sock".into(),
            };
            assert_eq!(detect(&env, &options), Some(spiffe));
            env.var(SPIFFE_ENDPOINT_SOCKET, "")
        };
        let aws = Detected::AwsWebIdentity {
            token_file: "/aws/token".into(),
        };
        assert_eq!(detect(&env, &options), Some(aws));
        let env = env.var(AWS_WEB_IDENTITY_TOKEN_FILE, "");
        let azure = Detected::AzureFederated {
            token_file: "/azure/token".into(),
        };
        assert_eq!(detect(&env, &options), Some(azure));
        let env = env.var(AZURE_FEDERATED_TOKEN_FILE, "");
        let kubernetes = Detected::KubernetesProjected {
            token_file: KUBERNETES_PROJECTED_TOKEN_FILE.into(),
        };
        assert_eq!(detect(&env, &options), Some(kubernetes));
        let mut env = env;
        env.files.clear();
        let gcp = Detected::GcpMetadata {
            metadata_host: Some("169.254.169.254".into()),
        };
        assert_eq!(detect(&env, &options), Some(gcp));
        let env = env.var(GCE_METADATA_HOST, "");
        assert_eq!(detect(&env, &options), None);
        let gcp = Detected::GcpMetadata {
            metadata_host: None,
        };
        assert_eq!(detect(&env, &AutoOptions::new().gcp_metadata()), Some(gcp));
    }

    #[test]
    fn the_kubernetes_path_is_configurable_and_only_existing_files_count() {
        let env = StaticEnvironment::new().file("/elsewhere/token");
        assert_eq!(detect(&env, &AutoOptions::new()), None);
        let options = AutoOptions::new().kubernetes_token_file("/elsewhere/token");
        let found = detect(&env, &options).unwrap_or_else(|| panic!("not detected"));
        assert_eq!(
            found.to_string(),
            "Kubernetes projected service-account token (/elsewhere/token exists)"
        );
    }
}
