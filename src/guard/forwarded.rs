//! The URI a client addressed, which the proof's `htu` must match (RFC 9449 §4.3 step 9).
//!
//! Behind a reverse proxy the request line says `/mcp` on some internal host; the client
//! signed `https://mcp.example.com/mcp`. The resource's public origin is therefore
//! configured, and `X-Forwarded-Proto` / `X-Forwarded-Host` / `X-Forwarded-Prefix` are
//! believed only from peers listed as trusted proxies — from anyone else they would let a
//! client choose the URI its own proof is checked against.

use std::net::{IpAddr, SocketAddr};

use http::request::Parts;
use http::uri::Authority;

/// The address of the connection's peer, inserted into request extensions by the server
/// (the sidecar does; an axum app can copy it from `ConnectInfo`). Without it no proxy is
/// trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// An address range (`10.0.0.0/8`, `::1/128`, or a single address) whose `X-Forwarded-*`
/// fields are believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

/// A trusted-proxy range that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an IP address or CIDR range")]
pub struct InvalidProxyRange;

impl TrustedProxy {
    /// Parses `addr` or `addr/prefix`.
    ///
    /// ```
    /// use mcp_warden::guard::TrustedProxy;
    ///
    /// let range = TrustedProxy::parse("10.0.0.0/8").unwrap();
    /// assert!(range.contains("10.1.2.3".parse().unwrap()));
    /// assert!(!range.contains("11.0.0.1".parse().unwrap()));
    /// ```
    pub fn parse(text: &str) -> Result<Self, InvalidProxyRange> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.trim().parse().map_err(|_| InvalidProxyRange)?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(prefix) => prefix.trim().parse::<u8>().map_err(|_| InvalidProxyRange)?,
        };
        if prefix > max {
            return Err(InvalidProxyRange);
        }
        Ok(TrustedProxy { network, prefix })
    }

    /// Whether `address` is in the range (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                masked(u32::from(network).into(), 32, self.prefix)
                    == masked(u32::from(address).into(), 32, self.prefix)
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                masked(network.into(), 128, self.prefix) == masked(address.into(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, width: u32, prefix: u8) -> u128 {
    let host_bits = width - u32::from(prefix);
    if host_bits >= 128 {
        0
    } else {
        bits >> host_bits
    }
}

/// Computes the absolute URI of a request: the configured public origin (or, from a trusted
/// proxy, the forwarded one) and the request's path and query.
#[derive(Debug, Clone)]
pub(crate) struct PublicUri {
    scheme: String,
    authority: String,
    trusted: Vec<TrustedProxy>,
}

impl PublicUri {
    pub(crate) fn new(resource: &url::Url, trusted: Vec<TrustedProxy>) -> Self {
        let authority = match resource.port() {
            Some(port) => format!("{}:{port}", resource.host_str().unwrap_or_default()),
            None => resource.host_str().unwrap_or_default().to_owned(),
        };
        PublicUri {
            scheme: resource.scheme().to_owned(),
            authority,
            trusted,
        }
    }

    pub(crate) fn of(&self, parts: &Parts) -> String {
        let path = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let forwarded = self.trusts(parts).then(|| forwarded(parts)).flatten();
        match forwarded {
            Some(Forwarded {
                scheme,
                authority,
                prefix,
            }) => format!(
                "{}://{}{}{path}",
                scheme.unwrap_or(&self.scheme),
                authority.unwrap_or(&self.authority),
                prefix.unwrap_or("")
            ),
            None => format!("{}://{}{path}", self.scheme, self.authority),
        }
    }

    fn trusts(&self, parts: &Parts) -> bool {
        !self.trusted.is_empty()
            && parts
                .extensions
                .get::<PeerAddr>()
                .is_some_and(|peer| self.trusted.iter().any(|range| range.contains(peer.0.ip())))
    }
}

struct Forwarded<'a> {
    scheme: Option<&'a str>,
    authority: Option<&'a str>,
    prefix: Option<&'a str>,
}

/// The leftmost value of each field: the one the first proxy, facing the client, set.
/// Values that are not a scheme, an authority or a path prefix are ignored.
fn forwarded(parts: &Parts) -> Option<Forwarded<'_>> {
    let first = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    };
    let scheme = first("x-forwarded-proto").filter(|s| *s == "https" || *s == "http");
    let authority =
        first("x-forwarded-host").filter(|a| a.parse::<Authority>().is_ok() && !a.contains('@'));
    let prefix = first("x-forwarded-prefix")
        .filter(|p| p.starts_with('/') && !p.ends_with('/') && !p.contains(['?', '#', ' ', '\\']));
    (scheme.is_some() || authority.is_some() || prefix.is_some()).then_some(Forwarded {
        scheme,
        authority,
        prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)], peer: Option<&str>) -> Parts {
        let mut builder = http::Request::builder().uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let (mut parts, ()) = builder.body(()).unwrap().into_parts();
        if let Some(peer) = peer {
            parts.extensions.insert(PeerAddr(peer.parse().unwrap()));
        }
        parts
    }

    fn public(trusted: &[&str]) -> PublicUri {
        let resource = url::Url::parse("https://mcp.example.com/mcp").unwrap();
        PublicUri::new(
            &resource,
            trusted
                .iter()
                .map(|t| TrustedProxy::parse(t).unwrap())
                .collect(),
        )
    }

    const FORWARDED: [(&str, &str); 3] = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-prefix", "/tenant"),
    ];

    #[test]
    fn the_configured_origin_and_the_request_path() {
        let uri = public(&[]).of(&parts("/mcp?x=1", &[], None));
        assert_eq!(uri, "https://mcp.example.com/mcp?x=1");
    }

    #[test]
    fn forwarded_fields_only_from_trusted_peers() {
        let public = public(&["10.0.0.0/8"]);
        let untrusted = parts("/mcp", &FORWARDED, Some("192.0.2.1:4000"));
        assert_eq!(public.of(&untrusted), "https://mcp.example.com/mcp");
        let no_peer = parts("/mcp", &FORWARDED, None);
        assert_eq!(public.of(&no_peer), "https://mcp.example.com/mcp");
        let trusted = parts("/mcp", &FORWARDED, Some("10.2.3.4:4000"));
        assert_eq!(public.of(&trusted), "https://evil.example/tenant/mcp");
    }

    #[test]
    fn malformed_forwarded_values_are_ignored() {
        let public = public(&["127.0.0.1"]);
        let bad = parts(
            "/mcp",
            &[
                ("x-forwarded-proto", "javascript"),
                ("x-forwarded-host", "user@evil.example"),
                ("x-forwarded-prefix", "no-slash"),
            ],
            Some("127.0.0.1:1"),
        );
        assert_eq!(public.of(&bad), "https://mcp.example.com/mcp");
    }

    #[test]
    fn ranges() {
        let v6 = TrustedProxy::parse("::1").unwrap();
        assert!(v6.contains("::1".parse().unwrap()));
        assert!(!v6.contains("::2".parse().unwrap()));
        let mapped = TrustedProxy::parse("127.0.0.0/8").unwrap();
        assert!(mapped.contains("::ffff:127.0.0.9".parse().unwrap()));
        let all = TrustedProxy::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("203.0.113.7".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "::/129", "host", "10.0.0.0/x"] {
            assert_eq!(TrustedProxy::parse(bad), Err(InvalidProxyRange), "{bad}");
        }
    }
}
