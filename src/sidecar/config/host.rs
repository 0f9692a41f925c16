//! The host's sections, shared by every role: the operations endpoint (`[admin]`), logs
//! (`[log]`), the async runtime (`[runtime]`) and shutdown (`[shutdown]`).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::check::{self, Problems, seconds};

/// `[admin]`: `/metrics`, `/healthz` and `/readyz`, on their own port so that they are
/// never exposed through the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// `IP:port` of the operations endpoint. Default `0.0.0.0:9090` (reachable by the
    /// kubelet and Prometheus; keep it off the public network).
    pub address: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            address: "0.0.0.0:9090".into(),
        }
    }
}

impl AdminConfig {
    /// The address to bind.
    pub fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        check::socket_addr("admin.address", &self.address)
    }
}

/// The log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line, for log collectors. The default.
    #[default]
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

/// `[log]`: structured logs. Tokens and proofs are never logged, whatever the level.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `json` or `text`. Default `json`.
    pub format: LogFormat,
    /// A `tracing` filter: a level (`info`) or directives (`info,mcp_warden=debug`).
    /// Default `info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Json,
            level: "info".into(),
        }
    }
}

impl LogConfig {
    pub(super) fn check(&self, problems: &mut Problems) {
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.level) {
            problems.error(
                "log.level",
                format!(
                    "{:?} is not a log filter ({error}); use a level (error, warn, info, debug, trace) or directives such as \"info,mcp_warden=debug\"",
                    self.level
                ),
            );
        }
    }
}

/// `[runtime]`: the async runtime's threads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Worker threads. 0 (the default) means one per CPU the process may use, which
    /// follows a cgroup CPU quota (a Kubernetes CPU limit) rounded up. Set it when the
    /// limit is fractional or when the sidecar should leave cores to the MCP server in the
    /// same pod.
    pub worker_threads: usize,
}

impl RuntimeConfig {
    /// The most worker threads accepted; more is a typo rather than a plan.
    pub const MAX_WORKER_THREADS: usize = 1024;

    /// The worker-thread count to build the runtime with, `None` for the default.
    pub fn worker_threads(&self) -> Option<usize> {
        (self.worker_threads > 0).then_some(self.worker_threads)
    }

    pub(super) fn check(&self, problems: &mut super::check::Problems) {
        if self.worker_threads > Self::MAX_WORKER_THREADS {
            problems.error(
                "runtime.worker_threads",
                format!(
                    "{} is more than {}; use 0 for one per CPU",
                    self.worker_threads,
                    Self::MAX_WORKER_THREADS
                ),
            );
        }
    }
}

/// `[shutdown]`: what happens on SIGTERM.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    /// Seconds in-flight requests (and open streams) may run on after SIGTERM before they
    /// are cut. Default 30, the Kubernetes default grace period.
    pub drain_timeout_s: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_timeout_s: 30,
        }
    }
}

impl ShutdownConfig {
    /// `drain_timeout_s` as a duration.
    pub fn drain_timeout(&self) -> Duration {
        seconds(self.drain_timeout_s)
    }
}
