//! What a client learns before it asks for a token, and the checks that make it safe to
//! send a workload's identity there:
//!
//! - the MCP server's Protected Resource Metadata (RFC 9728 §3), whose `resource` must be
//!   identical to the URL the client called (§3.3) — otherwise a server could point the
//!   client at an authorization server meant for another resource, and collect tokens for it;
//! - the authorization server's metadata (RFC 8414 §3), whose `issuer` must be identical to
//!   the identifier the resource named (§3.3, no normalization: the mix-up defence), with a
//!   `token_endpoint`, and the grant the client will use among `grant_types_supported`.
//!
//! Only the checks are pure ([`ResourceMetadata::parse`], [`ServerMetadata::parse`]); the
//! fetches are thin wrappers over the crate's bounded outbound client.

use serde_json::Value;
use url::Url;

use crate::jose::{JsonError, Object, parse_object};

/// The most a metadata document may weigh.
pub(crate) const MAX_METADATA_BYTES: usize = 64 * 1024;

/// The RFC 8414 well-known suffix (§7.3 registration).
const OAUTH_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
/// The OpenID Connect Discovery well-known suffix (§4).
const OIDC_WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// Why metadata was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not one JSON object with unique members.
    #[error("metadata at {url} is not a JSON object: {error}")]
    Json {
        /// Where it came from.
        url: String,
        /// Why.
        error: JsonError,
    },
    /// RFC 9728 §3.3: `resource` is not the URL the client called.
    #[error(
        "protected resource metadata names resource {found:?}, not {expected:?} (RFC 9728 §3.3)"
    )]
    ResourceMismatch {
        /// The URL called.
        expected: String,
        /// What the document says (empty when absent).
        found: String,
    },
    /// RFC 8414 §3.3: `issuer` is not the identifier asked for.
    #[error(
        "authorization server metadata names issuer {found:?}, not {expected:?} (RFC 8414 §3.3)"
    )]
    IssuerMismatch {
        /// The identifier asked for.
        expected: String,
        /// What the document says (empty when absent).
        found: String,
    },
    /// A required member is absent or has the wrong type.
    #[error("metadata member {0} is missing or malformed")]
    Member(&'static str),
    /// The resource names no authorization server (RFC 9728 §2 `authorization_servers`).
    #[error("the protected resource names no authorization server")]
    NoAuthorizationServer,
    /// An endpoint URL is not https (http only on loopback, for development).
    #[error("{member} {url:?} is not an https URL")]
    NotHttps {
        /// Which member.
        member: &'static str,
        /// Its value.
        url: String,
    },
}

/// RFC 9728 §2, the members a client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetadata {
    /// `resource`, identical to the URL called.
    pub resource: String,
    /// `authorization_servers`, issuer identifiers in the server's order.
    pub authorization_servers: Vec<String>,
    /// `scopes_supported`.
    pub scopes_supported: Vec<String>,
}

impl ResourceMetadata {
    /// Parses the document fetched from `url` for the resource `called`.
    pub fn parse(body: &[u8], url: &str, called: &str) -> Result<Self, MetadataError> {
        let document = object(body, url)?;
        let resource = text(&document, "resource").unwrap_or_default();
        // RFC 9728 §3.3: "the resource value returned MUST be identical to the protected
        // resource's resource identifier value into which the well-known URI path suffix
        // was inserted".
        if resource != called {
            return Err(MetadataError::ResourceMismatch {
                expected: called.to_owned(),
                found: resource,
            });
        }
        let authorization_servers = list(&document, "authorization_servers")?;
        if authorization_servers.is_empty() {
            return Err(MetadataError::NoAuthorizationServer);
        }
        Ok(ResourceMetadata {
            resource,
            authorization_servers,
            scopes_supported: list(&document, "scopes_supported")?,
        })
    }
}

/// RFC 8414 §2, the members a token client uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerMetadata {
    /// `issuer`, identical to the identifier asked for.
    pub issuer: String,
    /// `token_endpoint`.
    pub token_endpoint: Url,
    /// `grant_types_supported`; RFC 8414 §2 makes the default
    /// `["authorization_code", "implicit"]` when absent.
    pub grant_types_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported` (default `client_secret_basic`).
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `dpop_signing_alg_values_supported` (RFC 9449 §5.1); empty when absent.
    pub dpop_signing_alg_values_supported: Vec<String>,
}

impl ServerMetadata {
    /// Parses the document fetched from `url` for the issuer `issuer`.
    pub fn parse(body: &[u8], url: &str, issuer: &str) -> Result<Self, MetadataError> {
        let document = object(body, url)?;
        let found = text(&document, "issuer").unwrap_or_default();
        // RFC 8414 §3.3: "The "issuer" value returned MUST be identical to the
        // authorization server's issuer identifier value into which the well-known URI
        // string was inserted" — a plain comparison, no normalization.
        if found != issuer {
            return Err(MetadataError::IssuerMismatch {
                expected: issuer.to_owned(),
                found,
            });
        }
        let endpoint =
            text(&document, "token_endpoint").ok_or(MetadataError::Member("token_endpoint"))?;
        let token_endpoint = https_url("token_endpoint", &endpoint)?;
        let mut grant_types_supported = list(&document, "grant_types_supported")?;
        if !document.contains_key("grant_types_supported") {
            grant_types_supported = vec!["authorization_code".into(), "implicit".into()];
        }
        let mut token_endpoint_auth_methods_supported =
            list(&document, "token_endpoint_auth_methods_supported")?;
        if !document.contains_key("token_endpoint_auth_methods_supported") {
            token_endpoint_auth_methods_supported = vec!["client_secret_basic".into()];
        }
        Ok(ServerMetadata {
            issuer: found,
            token_endpoint,
            grant_types_supported,
            token_endpoint_auth_methods_supported,
            dpop_signing_alg_values_supported: list(
                &document,
                "dpop_signing_alg_values_supported",
            )?,
        })
    }

    /// Whether the server says it supports `grant_type`.
    pub fn supports_grant(&self, grant_type: &str) -> bool {
        self.grant_types_supported.iter().any(|g| g == grant_type)
    }
}

/// The RFC 8414 §3.1 metadata URL (the well-known segment between host and path), then the
/// OpenID Connect Discovery §4.1 one (appended), in the order a client tries them.
pub fn server_metadata_urls(issuer: &Url) -> [Url; 2] {
    let path = issuer.path().trim_end_matches('/').to_owned();
    let mut oauth = issuer.clone();
    oauth.set_path(&format!("{OAUTH_WELL_KNOWN}{path}"));
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}{OIDC_WELL_KNOWN}"));
    [oauth, oidc]
}

/// `text` as an https URL, or http on a loopback host (development, tests, the demo).
pub(crate) fn https_url(member: &'static str, text: &str) -> Result<Url, MetadataError> {
    let refused = || MetadataError::NotHttps {
        member,
        url: text.to_owned(),
    };
    let url = Url::parse(text).map_err(|_| refused())?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    let allowed = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    if !allowed || !url.username().is_empty() || url.password().is_some() {
        return Err(refused());
    }
    Ok(url)
}

fn object(body: &[u8], url: &str) -> Result<Object, MetadataError> {
    parse_object(body).map_err(|error| MetadataError::Json {
        url: url.to_owned(),
        error,
    })
}

fn text(document: &Object, name: &str) -> Option<String> {
    match document.get(name) {
        Some(Value::String(text)) => Some(text.clone()),
        _ => None,
    }
}

/// A list of strings; absent is empty, anything else malformed.
fn list(document: &Object, name: &'static str) -> Result<Vec<String>, MetadataError> {
    match document.get(name) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or(MetadataError::Member(name))
            })
            .collect(),
        Some(_) => Err(MetadataError::Member(name)),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CALLED: &str = "https://mcp.example.com/mcp";

    fn resource(document: Value) -> Result<ResourceMetadata, MetadataError> {
        ResourceMetadata::parse(document.to_string().as_bytes(), "u", CALLED)
    }

    fn server(document: Value) -> Result<ServerMetadata, MetadataError> {
        ServerMetadata::parse(
            document.to_string().as_bytes(),
            "u",
            "https://as.example.com",
        )
    }

    #[test]
    fn rfc9728_section_3_3_resource_must_be_identical() {
        let ok = resource(
            json!({"resource": CALLED, "authorization_servers": ["https://as.example.com"]}),
        )
        .expect("valid");
        assert_eq!(ok.authorization_servers, ["https://as.example.com"]);
        for other in [
            "https://mcp.example.com/mcp/",
            "https://MCP.example.com/mcp",
            "https://mcp.example.com/other",
        ] {
            assert!(matches!(
                resource(
                    json!({"resource": other, "authorization_servers": ["https://as.example.com"]})
                ),
                Err(MetadataError::ResourceMismatch { .. })
            ));
        }
        assert_eq!(
            resource(json!({"resource": CALLED})),
            Err(MetadataError::NoAuthorizationServer)
        );
        assert_eq!(
            resource(json!({"resource": CALLED, "authorization_servers": "https://as"})),
            Err(MetadataError::Member("authorization_servers"))
        );
    }

    #[test]
    fn rfc8414_section_3_3_issuer_must_be_identical() {
        let ok = server(json!({
            "issuer": "https://as.example.com",
            "token_endpoint": "https://as.example.com/token",
            "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
            "dpop_signing_alg_values_supported": ["ES256"],
        }))
        .expect("valid");
        assert!(ok.supports_grant("urn:ietf:params:oauth:grant-type:jwt-bearer"));
        assert!(!ok.supports_grant("client_credentials"));
        assert!(matches!(
            server(
                json!({"issuer": "https://as.example.com/", "token_endpoint": "https://as.example.com/token"})
            ),
            Err(MetadataError::IssuerMismatch { .. })
        ));
        assert_eq!(
            server(json!({"issuer": "https://as.example.com"})),
            Err(MetadataError::Member("token_endpoint"))
        );
        assert!(matches!(
            server(
                json!({"issuer": "https://as.example.com", "token_endpoint": "http://as.example.com/token"})
            ),
            Err(MetadataError::NotHttps { .. })
        ));
        // RFC 8414 §2 defaults.
        let defaults = server(json!({"issuer": "https://as.example.com", "token_endpoint": "http://127.0.0.1:9/token"}))
            .expect("loopback http is allowed");
        assert_eq!(
            defaults.grant_types_supported,
            ["authorization_code", "implicit"]
        );
        assert_eq!(
            defaults.token_endpoint_auth_methods_supported,
            ["client_secret_basic"]
        );
    }

    #[test]
    fn rfc8414_section_3_1_and_oidc_urls() {
        let [oauth, oidc] =
            server_metadata_urls(&Url::parse("https://example.com/issuer1").expect("url"));
        assert_eq!(
            oauth.as_str(),
            "https://example.com/.well-known/oauth-authorization-server/issuer1"
        );
        assert_eq!(
            oidc.as_str(),
            "https://example.com/issuer1/.well-known/openid-configuration"
        );
    }
}
