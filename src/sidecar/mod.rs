//! The sidecar (`mcp-warden guard`): the guard as a reverse proxy in front of an MCP server
//! written in any language — configuration, listener and TLS, forwarding, metrics, probes,
//! logs and graceful shutdown.

pub mod admin;
pub mod build;
pub mod config;
pub mod observe;
pub mod proxy;
pub mod run;
pub mod server;
pub mod tls;
pub mod upstream;

pub use run::{GuardSwitch, SidecarError, init_logging, run_guard, run_sidecar};
