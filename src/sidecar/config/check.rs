//! The checks the schema shares: a collector that keeps every problem, and parsers for the
//! kinds of value several sections hold (socket addresses, URLs, header names, algorithm
//! lists). Each parser returns the typed value, so validation and building share one rule.

use std::net::SocketAddr;
use std::time::Duration;

use http::HeaderName;
use url::Url;

use crate::jose::{Algorithm, AlgorithmSet};

use super::{ConfigError, ConfigWarning};

/// Every problem found so far; validation never stops at the first.
#[derive(Debug, Default)]
pub(super) struct Problems {
    pub(super) errors: Vec<ConfigError>,
    pub(super) warnings: Vec<ConfigWarning>,
}

impl Problems {
    /// Records an error on `field`.
    pub(super) fn error(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(ConfigError::new(field, problem));
    }

    /// Records a warning on `field`.
    pub(super) fn warn(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.warnings.push(ConfigWarning::new(field, problem));
    }

    /// Keeps the value of `result`, recording its error.
    pub(super) fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|error| self.errors.push(error)).ok()
    }

    /// Keeps the value of `result`, recording its errors.
    pub(super) fn take_all<T>(&mut self, result: Result<T, Vec<ConfigError>>) -> Option<T> {
        result.map_err(|errors| self.errors.extend(errors)).ok()
    }

    /// An error for a duration or size of zero, which would refuse or time out everything.
    pub(super) fn positive(&mut self, field: &str, value: u64) {
        if value == 0 {
            self.error(field, "must be greater than zero");
        }
    }
}

/// `field` joined to `prefix` with a dot.
pub(super) fn path(prefix: &str, field: &str) -> String {
    format!("{prefix}.{field}")
}

/// Seconds from the configuration as a duration.
pub(super) fn seconds(value: u64) -> Duration {
    Duration::from_secs(value)
}

/// A listener address: `IP:port` (a host name would need a resolver at start-up, and
/// `[::]:8080` is how IPv6 is written).
pub(super) fn socket_addr(field: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.trim().parse().map_err(|_| {
        ConfigError::new(
            field,
            format!(
                "{text:?} is not an IP address with a port; write e.g. \"0.0.0.0:8080\" or \"[::]:8080\""
            ),
        )
    })
}

/// An absolute URL with a host and no userinfo (credentials in a URL end up in logs).
pub(super) fn url(field: &str, text: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(text.trim()).map_err(|error| {
        ConfigError::new(field, format!("{text:?} is not an absolute URL ({error})"))
    })?;
    if url.host().is_none() {
        return Err(ConfigError::new(field, "the URL has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            field,
            "must not carry credentials in the URL; use the dedicated secret setting",
        ));
    }
    Ok(url)
}

/// Whether `url` points at this machine: `localhost`, 127.0.0.0/8 or `::1`. The same rule
/// as the guard's own check of the resource.
pub(super) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A URL fetched with credentials or trusted content: https, or plain http only with the
/// named dangerous opt-in.
pub(super) fn https_url(
    field: &str,
    text: &str,
    allow_plain_http: bool,
    opt_in: &str,
) -> Result<Url, ConfigError> {
    let url = url(field, text)?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_plain_http => Ok(url),
        "http" => Err(ConfigError::new(
            field,
            format!(
                "{text:?} uses plain http, which anyone on the path can read and alter; use https (or set {opt_in} = true for a loopback test)"
            ),
        )),
        other => Err(ConfigError::new(
            field,
            format!("scheme {other:?} is not supported; use https"),
        )),
    }
}

/// Header fields an identity header must not be: hop-by-hop fields (RFC 9110 §7.6.1) are
/// dropped by any proxy on the way, and the credential and framing fields would be
/// overwritten or corrupt the request.
const RESERVED_HEADERS: [&str; 14] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "authorization",
    "dpop",
    "host",
    "content-length",
    "content-type",
];

/// A header name for the upstream: a valid field name (RFC 9110 §5.1) that is not
/// reserved. `""` turns the header off.
pub(super) fn header_name(field: &str, text: &str) -> Result<Option<HeaderName>, ConfigError> {
    if text.is_empty() {
        return Ok(None);
    }
    let name = HeaderName::from_bytes(text.as_bytes()).map_err(|_| {
        ConfigError::new(
            field,
            format!(
                "{text:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
            ),
        )
    })?;
    if RESERVED_HEADERS.contains(&name.as_str()) {
        return Err(ConfigError::new(
            field,
            format!(
                "{text:?} is a hop-by-hop, credential or framing header; pick a name such as \"x-mcp-subject\""
            ),
        ));
    }
    Ok(Some(name))
}

/// A list of JWS algorithm names; empty means every supported algorithm. `none` and the
/// HMAC family do not exist in [`Algorithm`], so they can never be allowed.
pub(super) fn algorithms(field: &str, names: &[String]) -> Result<AlgorithmSet, Vec<ConfigError>> {
    if names.is_empty() {
        return Ok(AlgorithmSet::ALL);
    }
    let mut set = AlgorithmSet::EMPTY;
    let mut errors = Vec::new();
    for (index, name) in names.iter().enumerate() {
        match Algorithm::from_name(name) {
            Some(alg) => set = set.with(alg),
            None => {
                let why = if name.eq_ignore_ascii_case("none")
                    || name.to_ascii_uppercase().starts_with("HS")
                {
                    "is never accepted: only asymmetric signatures prove who signed"
                } else {
                    "is not supported"
                };
                let supported: Vec<&str> = Algorithm::ALL.iter().map(|alg| alg.name()).collect();
                errors.push(ConfigError::new(
                    format!("{field}[{index}]"),
                    format!("{name:?} {why}; use one of {}", supported.join(", ")),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(set)
    } else {
        Err(errors)
    }
}
