//! Why the sidecar could not start.

use super::config::{ConfigError, RoleKind};
use super::server::ListenerError;

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SidecarError {
    /// The configuration is not usable.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// A listener (a role's or the admin one): its address, TLS files or bind.
    #[error(transparent)]
    Listener(#[from] ListenerError),
    /// The guard's upstream client.
    #[error(transparent)]
    Upstream(#[from] super::proxy::UpstreamError),
    /// Nothing to run: the configuration holds no role section.
    #[error(
        "no role to run: the configuration has none of the role sections ({})",
        sections()
    )]
    NoRole,
    /// A role was asked for twice.
    #[error("the {0} role is listed twice")]
    RoleTwice(RoleKind),
}

fn sections() -> String {
    RoleKind::ALL
        .iter()
        .map(|role| format!("[{role}]"))
        .collect::<Vec<_>>()
        .join(", ")
}
