//! A role's listener (`[guard.listen]`, and each later role's own): address, TLS files,
//! connection, header and body limits, timeouts. One schema for every role; each copy knows
//! the dotted name of the table it was read from, so that its problems name that table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::check::{self, Problems, path, seconds};

/// The smallest `max_header_bytes` hyper can enforce (its minimum read buffer).
pub(super) const MIN_HEADER_BYTES: usize = 8192;

/// A role's listener (`[guard.listen]`; `[listen]` in the old layout): where clients
/// connect, and the limits every connection is held to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// `IP:port` to listen on. Default `0.0.0.0:8080` (every interface, as a container
    /// needs).
    pub address: String,
    /// PEM certificate chain for TLS; with `tls_key_file`, or neither for plain HTTP
    /// (TLS terminated in front of the sidecar). Re-read when it changes.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for TLS; with `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Seconds between checks of the certificate files for a change. Default 10.
    pub tls_reload_interval_s: u64,
    /// Connections served at once; more wait in the kernel's accept queue. Default 1024.
    pub max_connections: usize,
    /// Largest request head in bytes; larger gets 431. At least 8192. Default 16384.
    pub max_header_bytes: usize,
    /// Largest request body in bytes; larger gets 413. Also the most the guard reads to
    /// find the MCP operation. Default 4194304 (4 MiB).
    pub max_body_bytes: usize,
    /// Seconds allowed for a request head to arrive (slow-loris bound). The same timer
    /// closes an idle keep-alive connection waiting for its next request. Default 10.
    pub header_read_timeout_s: u64,
    /// Seconds allowed for a TLS handshake. Default 10.
    pub tls_handshake_timeout_s: u64,
    /// The dotted name of the table this was read from (`guard.listen`, or `listen` in
    /// the old layout): every problem names its field under it.
    #[serde(skip)]
    pub(super) table: &'static str,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            address: "0.0.0.0:8080".into(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_reload_interval_s: 10,
            max_connections: 1024,
            max_header_bytes: 16 * 1024,
            max_body_bytes: 4 * 1024 * 1024,
            header_read_timeout_s: 10,
            tls_handshake_timeout_s: 10,
            table: "listen",
        }
    }
}

impl ListenConfig {
    /// The defaults, read from (and named as) the table `table`.
    pub(super) fn in_table(table: &'static str) -> Self {
        ListenConfig {
            table,
            ..ListenConfig::default()
        }
    }

    /// The dotted name of the table this listener was read from (`guard.listen`, or
    /// `listen` in the old layout), for messages about it.
    pub fn table(&self) -> &'static str {
        self.table
    }

    /// The dotted name of `field` in this listener's table (`guard.listen.address`).
    pub fn field(&self, field: &str) -> String {
        path(self.table, field)
    }

    /// The address to bind.
    pub fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        check::socket_addr(&self.field("address"), &self.address)
    }

    /// The certificate and key files, when TLS is on.
    pub fn tls(&self) -> Option<(&Path, &Path)> {
        Some((
            self.tls_cert_file.as_deref()?,
            self.tls_key_file.as_deref()?,
        ))
    }

    /// `header_read_timeout_s` as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        seconds(self.header_read_timeout_s)
    }

    /// `tls_reload_interval_s` as a duration.
    pub fn tls_reload_interval(&self) -> Duration {
        seconds(self.tls_reload_interval_s)
    }

    /// `tls_handshake_timeout_s` as a duration.
    pub fn tls_handshake_timeout(&self) -> Duration {
        seconds(self.tls_handshake_timeout_s)
    }

    pub(super) fn check(&self, problems: &mut Problems) {
        problems.take(self.socket_addr());
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => {
                for (name, file) in [("tls_cert_file", cert), ("tls_key_file", key)] {
                    if !file.is_file() {
                        problems.error(
                            self.field(name),
                            format!("{} is not a readable file", file.display()),
                        );
                    }
                }
            }
            (Some(_), None) => problems.error(
                self.field("tls_key_file"),
                "tls_cert_file is set but tls_key_file is not; give both, or neither for plain HTTP",
            ),
            (None, Some(_)) => problems.error(
                self.field("tls_cert_file"),
                "tls_key_file is set but tls_cert_file is not; give both, or neither for plain HTTP",
            ),
            (None, None) => {}
        }
        // hyper cannot buffer a request head in less than 8 KiB (it refuses a smaller
        // buffer), so a smaller limit could not be enforced: refuse it rather than pretend.
        if self.max_header_bytes < MIN_HEADER_BYTES {
            problems.error(
                self.field("max_header_bytes"),
                format!(
                    "{} is below the smallest enforceable limit, {MIN_HEADER_BYTES}",
                    self.max_header_bytes
                ),
            );
        }
        for (name, value) in [
            ("max_connections", self.max_connections as u64),
            ("max_header_bytes", self.max_header_bytes as u64),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("header_read_timeout_s", self.header_read_timeout_s),
            ("tls_reload_interval_s", self.tls_reload_interval_s),
            ("tls_handshake_timeout_s", self.tls_handshake_timeout_s),
        ] {
            problems.positive(&self.field(name), value);
        }
    }
}
