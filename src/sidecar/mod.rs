//! The sidecar (`mcp-warden serve|guard`): one process hosting roles, each on a listener
//! of its own — today the guard, a reverse proxy that checks DPoP-bound tokens in front of
//! an MCP server written in any language.
//!
//! **The host** (shared by every role; roles import it, never each other):
//! - [`config`]: the one loader (TOML + `MCP_WARDEN_*`), shared sections, one section per
//!   role, secrets and key files read at load time;
//! - [`host`]: start-up and run: the metrics recorder ([`metrics`]), the [`shared`] DPoP
//!   parts (replay store, nonce key), signals and drain ([`signal`]), the admin listener
//!   ([`admin`]) whose `/readyz` runs every role's [`probe`]s;
//! - [`server`] and [`tls`]: the listener stack (TLS with reload, connection, header and
//!   body limits, header timeouts, drain) each role's listener is opened with;
//! - [`observe`]: request ids, metrics and audit lines around a role's service, generic
//!   over the role's refusal type;
//! - [`logging`]: the log subscriber.
//!
//! **The roles** ([`role`], started by [`run`](mod@run)): [`role::guard`], with its builder
//! ([`build`]) and forwarding ([`proxy`], [`upstream`]). [`role`] explains how to add one.

pub mod admin;
pub mod build;
pub mod config;
pub mod error;
pub mod host;
pub mod logging;
pub mod metrics;
pub mod observe;
pub mod probe;
pub mod proxy;
pub mod role;
pub mod run;
pub mod server;
pub mod shared;
pub mod signal;
pub mod tls;
pub mod upstream;

pub use error::SidecarError;
pub use logging::init_logging;
pub use role::guard::GuardSwitch;
#[cfg(feature = "bench-unguarded")]
pub use run::run_unguarded;
pub use run::{run, run_agent, run_guard, run_issuer, run_present};
