//! `[guard.upstream]`: the MCP server the guard forwards to.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::ConfigError;
use super::check::{self, Problems, path, seconds};

/// `[guard.upstream]` (`[upstream]` in the old layout): the MCP server the guard protects.
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
    /// The dotted name of the table this was read from (`guard.upstream`, or `upstream`
    /// in the old layout).
    #[serde(skip)]
    pub(super) table: &'static str,
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
            table: "upstream",
        }
    }
}

impl UpstreamConfig {
    /// The defaults, read from (and named as) the table `table`.
    pub(super) fn in_table(table: &'static str) -> Self {
        UpstreamConfig {
            table,
            ..UpstreamConfig::default()
        }
    }

    /// The dotted name of `field` in this table (`guard.upstream.url`).
    pub fn field(&self, field: &str) -> String {
        path(self.table, field)
    }

    /// The upstream's base URL: http or https, a host, no credentials, no query or
    /// fragment.
    pub fn url(&self) -> Result<Url, ConfigError> {
        let field = &self.field("url");
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
                    self.field("ca_file"),
                    format!("{} is not a readable file", ca.display()),
                );
            }
            if url.as_ref().is_some_and(|url| url.scheme() == "http") {
                problems.warn(
                    self.field("ca_file"),
                    "ignored: the upstream is plain http, so no certificate is checked",
                );
            }
        }
        for (name, value) in [
            ("connect_timeout_s", self.connect_timeout_s),
            ("first_byte_timeout_s", self.first_byte_timeout_s),
            ("idle_timeout_s", self.idle_timeout_s),
        ] {
            problems.positive(&self.field(name), value);
        }
    }
}
