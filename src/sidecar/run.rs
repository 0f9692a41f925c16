//! Which roles to run, and how each is built: the registry from a [`RoleKind`] to its
//! [`Role`]. `mcp-warden serve` runs every
//! role whose section is present, `mcp-warden guard` only the guard.

use super::config::{Config, RoleKind};
use super::error::SidecarError;
use super::host::Host;
use super::role::Role;
use super::role::agent::AgentRole;
use super::role::guard::{GuardRole, GuardSwitch};
use super::role::issuer::IssuerRole;
use super::shared::InProcessKeys;

/// Runs `roles` (each once, in [`RoleKind::ALL`] order) until SIGTERM or SIGINT, then
/// drains. `config` should have passed [`Config::validate_for`] for `roles`.
pub async fn run(config: Config, roles: &[RoleKind]) -> Result<(), SidecarError> {
    run_with(config, roles, GuardSwitch::On).await
}

/// Runs every role whose section is present (`mcp-warden serve`); none is
/// [`SidecarError::NoRole`].
pub async fn run_present(config: Config) -> Result<(), SidecarError> {
    let roles = config.roles().to_vec();
    run(config, &roles).await
}

/// Runs the issuer alone (`mcp-warden issuer`).
pub async fn run_issuer(config: Config) -> Result<(), SidecarError> {
    run(config, &[RoleKind::Issuer]).await
}

/// Runs the agent alone (`mcp-warden agent`).
pub async fn run_agent(config: Config) -> Result<(), SidecarError> {
    run(config, &[RoleKind::Agent]).await
}

/// Runs the guard alone (`mcp-warden guard`), whether or not `[guard]` is present.
pub async fn run_guard(config: Config) -> Result<(), SidecarError> {
    run(config, &[RoleKind::Guard]).await
}

/// Runs the guard alone with nothing checked: a plain reverse proxy, only to measure the
/// proxy's own cost (`docs/performance.md`, row b). Never for real traffic.
#[cfg(feature = "bench-unguarded")]
pub async fn run_unguarded(config: Config) -> Result<(), SidecarError> {
    run_with(config, &[RoleKind::Guard], GuardSwitch::DangerousOff).await
}

async fn run_with(
    config: Config,
    roles: &[RoleKind],
    switch: GuardSwitch,
) -> Result<(), SidecarError> {
    if roles.is_empty() {
        return Err(SidecarError::NoRole);
    }
    for (index, role) in roles.iter().enumerate() {
        if roles[..index].contains(role) {
            return Err(SidecarError::RoleTwice(*role));
        }
    }
    let host = Host::start(&config).await?;
    // The issuer is built first so that a guard trusting it reads its keys in process.
    let mut issuer = if roles.contains(&RoleKind::Issuer) {
        Some(IssuerRole::build(&config.issuer, &host).await?)
    } else {
        None
    };
    let in_process: Vec<InProcessKeys> = issuer.iter().map(IssuerRole::in_process_keys).collect();
    let mut built: Vec<Box<dyn Role>> = Vec::new();
    for kind in RoleKind::ALL.iter().filter(|kind| roles.contains(kind)) {
        match kind {
            RoleKind::Guard => built.push(Box::new(
                GuardRole::build(&config.guard, &host, switch, &in_process).await?,
            )),
            RoleKind::Issuer => {
                if let Some(issuer) = issuer.take() {
                    built.push(Box::new(issuer));
                }
            }
            RoleKind::Agent => built.push(Box::new(AgentRole::build(&config.agent, &host).await?)),
        }
    }
    host.run(built).await
}
