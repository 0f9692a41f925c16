//! The roles a configuration can hold, each in a section of its own (`[guard]`), and what
//! the loader needs from such a section (`RoleSection`): its files read at load time, its
//! checks, and its listeners (checked against each other and the admin listener).
//!
//! Adding a role's section: a variant of [`RoleKind`] naming the section, a field of that
//! type on [`super::Config`], a `RoleSection` implementation, and one arm in
//! `Config::section` and `Config::section_mut` (config.rs).

use super::ConfigError;
use super::check::Problems;
use super::listen::ListenConfig;

/// A role `mcp-warden serve` can run, by the section that configures it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoleKind {
    /// `[guard]`: the DPoP guard, a reverse proxy in front of an MCP server.
    Guard,
    /// `[issuer]`: the token service that exchanges workload identity for DPoP-bound
    /// access tokens.
    Issuer,
    /// `[agent]`: the egress proxy that adds a workload's DPoP-bound credentials to its
    /// requests to MCP servers.
    Agent,
}

impl RoleKind {
    /// Every role, in the order they start.
    pub const ALL: &'static [RoleKind] = &[RoleKind::Issuer, RoleKind::Guard, RoleKind::Agent];

    /// The name of the role's section, which is also its name in logs and probes.
    pub fn section(self) -> &'static str {
        match self {
            RoleKind::Guard => "guard",
            RoleKind::Issuer => "issuer",
            RoleKind::Agent => "agent",
        }
    }
}

impl std::fmt::Display for RoleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.section())
    }
}

/// What the loader needs from a role's section.
pub(super) trait RoleSection {
    /// Reads every `*_file` the section names (secrets, keys, key sets), once, at load
    /// time.
    fn resolve_files(&mut self) -> Result<(), ConfigError>;

    /// Records every problem of the section, its listeners included.
    fn check(&self, problems: &mut Problems);

    /// The section's listeners, which must not overlap each other or the admin listener.
    fn listeners(&self) -> Vec<&ListenConfig>;
}
