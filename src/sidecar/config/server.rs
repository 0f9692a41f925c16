//! The sections around the guard: the listener (`[listen]`), the operations endpoint
//! (`[admin]`), the upstream MCP server (`[upstream]`), the identity headers the upstream
//! receives (`[identity]`), logs (`[log]`) and shutdown (`[shutdown]`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderName;
use serde::Deserialize;
use url::Url;

use super::ConfigError;
use super::check::{self, Problems, path, seconds};
use super::secrets::KeyFile;
use crate::jose::{Algorithm, SigningKey};

/// The smallest `max_header_bytes` hyper can enforce (its minimum read buffer).
pub(super) const MIN_HEADER_BYTES: usize = 8192;

/// `[listen]`: the proxy listener clients connect to.
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
        }
    }
}

impl ListenConfig {
    /// The address to bind.
    pub fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        check::socket_addr("listen.address", &self.address)
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
                            path("listen", name),
                            format!("{} is not a readable file", file.display()),
                        );
                    }
                }
            }
            (Some(_), None) => problems.error(
                "listen.tls_key_file",
                "tls_cert_file is set but tls_key_file is not; give both, or neither for plain HTTP",
            ),
            (None, Some(_)) => problems.error(
                "listen.tls_cert_file",
                "tls_key_file is set but tls_cert_file is not; give both, or neither for plain HTTP",
            ),
            (None, None) => {}
        }
        // hyper cannot buffer a request head in less than 8 KiB (it refuses a smaller
        // buffer), so a smaller limit could not be enforced: refuse it rather than pretend.
        if self.max_header_bytes < MIN_HEADER_BYTES {
            problems.error(
                "listen.max_header_bytes",
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
            problems.positive(&path("listen", name), value);
        }
    }
}

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

/// `[upstream]`: the MCP server the sidecar protects.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the MCP server, `http://` or `https://`; the request's path and query
    /// are appended. Default `http://127.0.0.1:3000` (the server in the same pod).
    pub url: String,
    /// Speak HTTP/2 without negotiation (h2c) to a plain-http upstream. Default false.
    pub http2_prior_knowledge: bool,
    /// Seconds allowed to connect. Default 2.
    pub connect_timeout_s: u64,
    /// Seconds allowed until the response head arrives. Default 30.
    pub first_byte_timeout_s: u64,
    /// Seconds allowed between two body chunks; a Server-Sent Events stream stays open as
    /// long as it is active. Default 300.
    pub idle_timeout_s: u64,
    /// Extra PEM root certificates for an `https` upstream (a private CA).
    pub ca_file: Option<PathBuf>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            url: "http://127.0.0.1:3000".into(),
            http2_prior_knowledge: false,
            connect_timeout_s: 2,
            first_byte_timeout_s: 30,
            idle_timeout_s: 300,
            ca_file: None,
        }
    }
}

impl UpstreamConfig {
    /// The upstream's base URL: http or https, a host, no credentials, no query or
    /// fragment.
    pub fn url(&self) -> Result<Url, ConfigError> {
        let field = "upstream.url";
        let url = check::url(field, &self.url)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(
                field,
                format!(
                    "scheme {:?} is not supported; use http:// or https://",
                    url.scheme()
                ),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::new(
                field,
                "must not have a query or fragment: each request's own path and query are appended",
            ));
        }
        Ok(url)
    }

    /// `connect_timeout_s` as a duration.
    pub fn connect_timeout(&self) -> Duration {
        seconds(self.connect_timeout_s)
    }

    /// `first_byte_timeout_s` as a duration.
    pub fn first_byte_timeout(&self) -> Duration {
        seconds(self.first_byte_timeout_s)
    }

    /// `idle_timeout_s` as a duration.
    pub fn idle_timeout(&self) -> Duration {
        seconds(self.idle_timeout_s)
    }

    pub(super) fn check(&self, problems: &mut Problems) {
        let url = problems.take(self.url());
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                problems.error(
                    "upstream.ca_file",
                    format!("{} is not a readable file", ca.display()),
                );
            }
            if url.as_ref().is_some_and(|url| url.scheme() == "http") {
                problems.warn(
                    "upstream.ca_file",
                    "ignored: the upstream is plain http, so no certificate is checked",
                );
            }
        }
        for (name, value) in [
            ("connect_timeout_s", self.connect_timeout_s),
            ("first_byte_timeout_s", self.first_byte_timeout_s),
            ("idle_timeout_s", self.idle_timeout_s),
        ] {
            problems.positive(&path("upstream", name), value);
        }
    }
}

/// `[identity]`: what the upstream learns about the verified caller. The sidecar removes
/// any copy of these headers the client sent, so they can only come from the guard.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Send the identity headers at all. Default true.
    pub headers: bool,
    /// The token's `sub`; `""` turns this header off. Default `x-mcp-subject`.
    pub subject_header: String,
    /// The OAuth client id; `""` turns it off. Default `x-mcp-client-id`.
    pub client_id_header: String,
    /// The granted scopes, space-separated; `""` turns it off. Default `x-mcp-scopes`.
    pub scopes_header: String,
    /// The RFC 7638 thumbprint of the caller's DPoP key; `""` turns it off. Default
    /// `x-mcp-key-thumbprint`.
    pub key_thumbprint_header: String,
    /// Send a short-lived signed JWT describing the caller instead of the plain headers, so
    /// that the upstream verifies the identity rather than trusting the network path.
    /// Default false.
    pub assertion: bool,
    /// The header carrying the assertion. Default `x-mcp-identity`.
    pub assertion_header: String,
    /// PKCS#8 private key (PEM or DER) that signs assertions; required with
    /// `assertion = true`. Its public JWK Set is served on the admin listener at
    /// `/identity/jwks.json`.
    pub assertion_key_file: Option<PathBuf>,
    /// The algorithm of `assertion_key_file`. Default `ES256`.
    pub assertion_alg: String,
    /// The `kid` of the assertion key. Default: its RFC 7638 thumbprint.
    pub assertion_kid: Option<String>,
    /// Seconds an assertion is valid. Default 60.
    pub assertion_ttl_s: u64,
    /// The bytes of `assertion_key_file`, read at load time.
    #[serde(skip)]
    assertion_key: KeyFile,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            headers: true,
            subject_header: "x-mcp-subject".into(),
            client_id_header: "x-mcp-client-id".into(),
            scopes_header: "x-mcp-scopes".into(),
            key_thumbprint_header: "x-mcp-key-thumbprint".into(),
            assertion: false,
            assertion_header: "x-mcp-identity".into(),
            assertion_key_file: None,
            assertion_alg: "ES256".into(),
            assertion_kid: None,
            assertion_ttl_s: 60,
            assertion_key: KeyFile::default(),
        }
    }
}

/// The identity header names in force; `None` where a header is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityHeaderNames {
    /// For the token's `sub`.
    pub subject: Option<HeaderName>,
    /// For the OAuth client id.
    pub client_id: Option<HeaderName>,
    /// For the granted scopes.
    pub scopes: Option<HeaderName>,
    /// For the DPoP key thumbprint.
    pub key_thumbprint: Option<HeaderName>,
}

impl IdentityConfig {
    pub(super) fn resolve_files(&mut self) -> Result<(), ConfigError> {
        if let Some(file) = &self.assertion_key_file {
            self.assertion_key = KeyFile::load("identity.assertion_key_file", file)?;
        }
        Ok(())
    }

    /// The assertion signer: `None` unless `assertion = true`.
    pub fn assertion_signer(&self) -> Result<Option<(HeaderName, SigningKey)>, Vec<ConfigError>> {
        if !self.assertion {
            return Ok(None);
        }
        let mut problems = Problems::default();
        let header = problems
            .take(check::header_name(
                "identity.assertion_header",
                &self.assertion_header,
            ))
            .flatten();
        if header.is_none() && problems.errors.is_empty() {
            problems.error(
                "identity.assertion_header",
                "required with assertion = true",
            );
        }
        problems.positive("identity.assertion_ttl_s", self.assertion_ttl_s);
        let alg = match Algorithm::from_name(&self.assertion_alg) {
            Some(alg) => Some(alg),
            None => {
                problems.error(
                    "identity.assertion_alg",
                    "not a supported asymmetric algorithm (ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA)",
                );
                None
            }
        };
        let key = match (&self.assertion_key_file, alg) {
            (None, _) => {
                problems.error(
                    "identity.assertion_key_file",
                    "required with assertion = true: a PKCS#8 private key file (PEM or DER)",
                );
                None
            }
            (Some(file), Some(alg)) => problems.take(
                self.assertion_key
                    .signing_key("identity.assertion_key_file", Some(file), alg)
                    .and_then(|key| {
                        let kid = self
                            .assertion_kid
                            .clone()
                            .unwrap_or_else(|| key.public_jwk().thumbprint().as_str().to_owned());
                        key.with_kid(kid).map_err(|error| {
                            ConfigError::new("identity.assertion_kid", error.to_string())
                        })
                    }),
            ),
            (Some(_), None) => None,
        };
        match (header, key) {
            (Some(header), Some(key)) if problems.errors.is_empty() => Ok(Some((header, key))),
            _ => Err(problems.errors),
        }
    }

    /// Every identity header name configured, whether or not it is sent: inbound copies of
    /// all of them are removed, so that turning the plain headers off (or replacing them
    /// with the assertion) never lets a client's forged copy through.
    pub fn configured_names(&self) -> Vec<HeaderName> {
        [
            &self.subject_header,
            &self.client_id_header,
            &self.scopes_header,
            &self.key_thumbprint_header,
            &self.assertion_header,
        ]
        .into_iter()
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect()
    }

    /// The header names, all `None` when `headers = false` or the assertion replaces them.
    pub fn header_names(&self) -> Result<IdentityHeaderNames, Vec<ConfigError>> {
        if !self.headers || self.assertion {
            return Ok(IdentityHeaderNames::default());
        }
        let mut problems = Problems::default();
        let mut name = |field: &str, text: &str| {
            problems
                .take(check::header_name(&path("identity", field), text))
                .flatten()
        };
        let names = IdentityHeaderNames {
            subject: name("subject_header", &self.subject_header),
            client_id: name("client_id_header", &self.client_id_header),
            scopes: name("scopes_header", &self.scopes_header),
            key_thumbprint: name("key_thumbprint_header", &self.key_thumbprint_header),
        };
        let all = [
            ("subject_header", &names.subject),
            ("client_id_header", &names.client_id),
            ("scopes_header", &names.scopes),
            ("key_thumbprint_header", &names.key_thumbprint),
        ];
        for (index, (field, header)) in all.iter().enumerate() {
            let Some(header) = header else { continue };
            if let Some((other, _)) = all[..index]
                .iter()
                .find(|(_, earlier)| earlier.as_ref() == Some(header))
            {
                problems.error(
                    path("identity", field),
                    format!("{header} is already used by identity.{other}; each header needs its own name"),
                );
            }
        }
        if problems.errors.is_empty() {
            Ok(names)
        } else {
            Err(problems.errors)
        }
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
