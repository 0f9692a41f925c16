//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document (§2), where it is served
//! (§3.1), and the URL challenges point to (§5.1).
//!
//! Placement follows RFC 9728 §3.1 literally: the well-known string goes between the host and
//! the path and query of the resource identifier, and only the slash right after the host is
//! dropped when a path or query follows. A trailing slash of the path is part of the
//! identifier and stays (`https://h/a/b/` → `/.well-known/oauth-protected-resource/a/b/`),
//! because §3.3 has the client compare `resource` with the identifier it inserted into. A
//! query stays after the inserted path in [`metadata_url`] (§1.2 discourages queries in
//! identifiers but admits them); [`well_known_paths`] returns paths only, for routing.

use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, Serializer};
use url::Url;

use super::verifier::DpopMode;
use crate::jose::AlgorithmSet;

/// The well-known URI suffix registered by RFC 9728 §6.3.
const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Members this crate writes itself; configured extras may not set them.
const RESERVED: [&str; 8] = [
    "resource",
    "authorization_servers",
    "scopes_supported",
    "bearer_methods_supported",
    "dpop_signing_alg_values_supported",
    "dpop_bound_access_tokens_required",
    "resource_name",
    "resource_documentation",
];

/// A protected resource metadata document (RFC 9728 §2).
///
/// Serialized in a fixed member order. Empty lists and absent options are omitted (§3.2:
/// "parameters with zero values MUST be omitted"), and an `extra` member with a reserved
/// name is never written, so a configured extra cannot override a member above even when
/// the fields are set directly instead of through the builder.
#[derive(Debug, Clone)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier (§2 `resource`, REQUIRED), exactly as configured, since it
    /// must also equal the token audience (RFC 8707).
    pub resource: String,
    /// Issuer identifiers of the authorization servers (§2 `authorization_servers`).
    pub authorization_servers: Vec<String>,
    /// Scopes used in requests to this resource (§2 `scopes_supported`).
    pub scopes_supported: Vec<String>,
    /// How bearer tokens may be sent (§2): only `header`; the guard never reads tokens from
    /// the body or query (RFC 6750 §2.2, §2.3).
    pub bearer_methods_supported: Vec<String>,
    /// Proof algorithms accepted (RFC 9449 §5.1 `dpop_signing_alg_values_supported`).
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// Whether only DPoP-bound tokens are accepted (§2); true in [`DpopMode::Required`].
    pub dpop_bound_access_tokens_required: bool,
    /// A human-readable name (§2 `resource_name`).
    pub resource_name: Option<String>,
    /// A URL of developer documentation (§2 `resource_documentation`).
    pub resource_documentation: Option<String>,
    /// Further configured members (for example `resource_policy_uri`).
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Serialize for ProtectedResourceMetadata {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("resource", &self.resource)?;
        let lists = [
            ("authorization_servers", &self.authorization_servers),
            ("scopes_supported", &self.scopes_supported),
            ("bearer_methods_supported", &self.bearer_methods_supported),
            (
                "dpop_signing_alg_values_supported",
                &self.dpop_signing_alg_values_supported,
            ),
        ];
        for (name, list) in lists {
            if !list.is_empty() {
                map.serialize_entry(name, list)?;
            }
        }
        map.serialize_entry(
            "dpop_bound_access_tokens_required",
            &self.dpop_bound_access_tokens_required,
        )?;
        for (name, value) in [
            ("resource_name", &self.resource_name),
            ("resource_documentation", &self.resource_documentation),
        ] {
            if let Some(value) = value {
                map.serialize_entry(name, value)?;
            }
        }
        for (name, value) in &self.extra {
            if !RESERVED.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

impl ProtectedResourceMetadata {
    /// Starts a document for the resource identifier `resource` (validated by
    /// [`build`](ProtectedResourceMetadataBuilder::build)).
    ///
    /// ```
    /// use mcp_warden::guard::{DpopMode, ProtectedResourceMetadata};
    /// use mcp_warden::jose::{Algorithm, AlgorithmSet};
    ///
    /// let metadata = ProtectedResourceMetadata::builder("https://mcp.example.com/mcp")
    ///     .authorization_server("https://as.example.com")
    ///     .dpop(DpopMode::Required, AlgorithmSet::EMPTY.with(Algorithm::ES256))
    ///     .build()?;
    /// assert_eq!(
    ///     &metadata.to_json()[..],
    ///     br#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://as.example.com"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256"],"dpop_bound_access_tokens_required":true}"#
    /// );
    /// # Ok::<(), mcp_warden::guard::MetadataError>(())
    /// ```
    pub fn builder(resource: impl Into<String>) -> ProtectedResourceMetadataBuilder {
        ProtectedResourceMetadataBuilder {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            mode: DpopMode::Required,
            algs: AlgorithmSet::ALL,
            resource_name: None,
            resource_documentation: None,
            extra: serde_json::Map::new(),
        }
    }

    /// The document as JSON, for a `200 OK` with `application/json` (§3.2).
    pub fn to_json(&self) -> Bytes {
        // Cannot fail: every key is a string. The fallback is still a valid document head.
        serde_json::to_vec(self)
            .map(Bytes::from)
            .unwrap_or_else(|_| Bytes::from_static(b"{}"))
    }
}

/// Why a metadata configuration was refused. Names the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// `resource` is not an absolute URL.
    #[error("resource: not an absolute URL")]
    ResourceNotUrl,
    /// `resource` has a fragment (RFC 9728 §2: "has no fragment component").
    #[error("resource: must not have a fragment")]
    ResourceHasFragment,
    /// `resource` is not `https` (RFC 9728 §2), nor `http` on a loopback host.
    #[error("resource: must use https (http only on loopback)")]
    ResourceNotHttps,
    /// An authorization server is not an issuer identifier: an absolute `https` URL (or
    /// `http` on loopback) with no query or fragment (RFC 8414 §2).
    #[error("authorization_servers[{index}]: not an issuer identifier")]
    InvalidAuthorizationServer {
        /// Position in the configured list.
        index: usize,
    },
    /// An extra member would override one this crate writes.
    #[error("extra member {name:?} is reserved")]
    ReservedExtra {
        /// The configured member name.
        name: String,
    },
}

/// Builds a [`ProtectedResourceMetadata`]; see [`ProtectedResourceMetadata::builder`].
#[derive(Debug, Clone)]
pub struct ProtectedResourceMetadataBuilder {
    resource: String,
    authorization_servers: Vec<String>,
    scopes_supported: Vec<String>,
    mode: DpopMode,
    algs: AlgorithmSet,
    resource_name: Option<String>,
    resource_documentation: Option<String>,
    extra: serde_json::Map<String, serde_json::Value>,
}

impl ProtectedResourceMetadataBuilder {
    /// Adds an authorization server's issuer identifier.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// Sets `scopes_supported`.
    pub fn scopes_supported<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        scopes: I,
    ) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The scheme policy and the proof algorithms (pass the proof validator's
    /// `algorithms()`). Defaults: [`DpopMode::Required`], [`AlgorithmSet::ALL`].
    /// In [`DpopMode::BearerOnly`] no algorithms are advertised.
    pub fn dpop(mut self, mode: DpopMode, algs: AlgorithmSet) -> Self {
        self.mode = mode;
        self.algs = algs;
        self
    }

    /// Sets `resource_name`.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// Sets `resource_documentation`.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.resource_documentation = Some(url.into());
        self
    }

    /// Adds a member not covered above; a reserved name fails [`build`](Self::build).
    pub fn extra(mut self, name: impl Into<String>, value: serde_json::Value) -> Self {
        self.extra.insert(name.into(), value);
        self
    }

    /// Checks the configuration and builds the document.
    pub fn build(self) -> Result<ProtectedResourceMetadata, MetadataError> {
        let resource = Url::parse(&self.resource).map_err(|_| MetadataError::ResourceNotUrl)?;
        if resource.fragment().is_some() {
            return Err(MetadataError::ResourceHasFragment);
        }
        if !secure_or_loopback(&resource) {
            return Err(MetadataError::ResourceNotHttps);
        }
        for (index, issuer) in self.authorization_servers.iter().enumerate() {
            let valid = Url::parse(issuer).is_ok_and(|url| {
                secure_or_loopback(&url) && url.query().is_none() && url.fragment().is_none()
            });
            if !valid {
                return Err(MetadataError::InvalidAuthorizationServer { index });
            }
        }
        if let Some(name) = self
            .extra
            .keys()
            .find(|name| RESERVED.contains(&name.as_str()))
        {
            return Err(MetadataError::ReservedExtra { name: name.clone() });
        }
        let dpop = self.mode != DpopMode::BearerOnly;
        Ok(ProtectedResourceMetadata {
            resource: self.resource,
            authorization_servers: self.authorization_servers,
            scopes_supported: self.scopes_supported,
            bearer_methods_supported: vec!["header".to_owned()],
            dpop_signing_alg_values_supported: if dpop {
                self.algs.iter().map(|alg| alg.name().to_owned()).collect()
            } else {
                Vec::new()
            },
            dpop_bound_access_tokens_required: self.mode == DpopMode::Required,
            resource_name: self.resource_name,
            resource_documentation: self.resource_documentation,
            extra: self.extra,
        })
    }
}

/// `https`, or `http` on a loopback host (for local development and the demo).
pub(crate) fn secure_or_loopback(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => match url.host() {
            Some(url::Host::Domain(domain)) => domain == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        _ => false,
    }
}

/// The path of `resource` after the host, with the slash right after the host dropped when
/// nothing else follows it (RFC 9728 §3.1); `""` for a resource at the root.
fn inserted_path(resource: &Url) -> String {
    match resource.path() {
        "" | "/" => String::new(),
        path if path.starts_with('/') => path.to_owned(),
        // Not reachable for http(s) URLs, whose path always starts with `/`.
        path => format!("/{path}"),
    }
}

/// The paths at which the metadata for `resource` is served: the RFC 9728 §3.1
/// path-inserted form first, then the root form
/// `/.well-known/oauth-protected-resource`, which MCP clients fall back to; one entry when
/// they are the same. The query, if any, is not part of a path (see [`metadata_url`]).
///
/// ```
/// use mcp_warden::guard::well_known_paths;
///
/// let resource = url::Url::parse("https://mcp.example.com/mcp").unwrap();
/// assert_eq!(
///     well_known_paths(&resource),
///     ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]
/// );
/// ```
pub fn well_known_paths(resource: &Url) -> Vec<String> {
    let inserted = format!("{WELL_KNOWN}{}", inserted_path(resource));
    if inserted == WELL_KNOWN {
        vec![inserted]
    } else {
        vec![inserted, WELL_KNOWN.to_owned()]
    }
}

/// The absolute URL sent as `resource_metadata` (RFC 9728 §5.1): the path-inserted form of
/// §3.1, keeping the query and dropping any fragment (an identifier has none, §2).
///
/// ```
/// use mcp_warden::guard::metadata_url;
///
/// let resource = url::Url::parse("https://mcp.example.com/mcp").unwrap();
/// assert_eq!(
///     metadata_url(&resource),
///     "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
/// );
/// ```
pub fn metadata_url(resource: &Url) -> String {
    let mut url = format!(
        "{}{WELL_KNOWN}{}",
        &resource[..url::Position::BeforePath],
        inserted_path(resource)
    );
    if let Some(query) = resource.query() {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::Algorithm;
    use serde_json::json;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    // RFC 9728 §3.1, and its example `resource1`.
    #[test]
    fn path_inserted_forms() {
        let root = "/.well-known/oauth-protected-resource";
        for (resource, paths, absolute) in [
            (
                "https://mcp.example.com/mcp",
                vec!["/.well-known/oauth-protected-resource/mcp", root],
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "https://mcp.example.com/",
                vec![root],
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://mcp.example.com",
                vec![root],
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "https://h/a/b/",
                vec!["/.well-known/oauth-protected-resource/a/b/", root],
                "https://h/.well-known/oauth-protected-resource/a/b/",
            ),
            (
                "https://resource.example.com:8443/resource1?tenant=7#frag",
                vec!["/.well-known/oauth-protected-resource/resource1", root],
                "https://resource.example.com:8443/.well-known/oauth-protected-resource/resource1?tenant=7",
            ),
            (
                "https://h/?tenant=7",
                vec![root],
                "https://h/.well-known/oauth-protected-resource?tenant=7",
            ),
        ] {
            assert_eq!(well_known_paths(&url(resource)), paths, "{resource}");
            assert_eq!(metadata_url(&url(resource)), absolute, "{resource}");
        }
    }

    #[test]
    fn json_with_every_member() {
        let metadata = ProtectedResourceMetadata::builder("https://mcp.example.com/mcp")
            .authorization_server("https://as.example.com")
            .scopes_supported(["mcp", "tools:call"])
            .dpop(
                DpopMode::Mixed,
                AlgorithmSet::EMPTY
                    .with(Algorithm::ES256)
                    .with(Algorithm::EdDSA),
            )
            .resource_name("Weather MCP")
            .resource_documentation("https://mcp.example.com/docs")
            .extra(
                "resource_policy_uri",
                json!("https://mcp.example.com/policy"),
            )
            .build()
            .unwrap();
        assert_eq!(
            std::str::from_utf8(&metadata.to_json()).unwrap(),
            r#"{"resource":"https://mcp.example.com/mcp","authorization_servers":["https://as.example.com"],"scopes_supported":["mcp","tools:call"],"bearer_methods_supported":["header"],"dpop_signing_alg_values_supported":["ES256","EdDSA"],"dpop_bound_access_tokens_required":false,"resource_name":"Weather MCP","resource_documentation":"https://mcp.example.com/docs","resource_policy_uri":"https://mcp.example.com/policy"}"#
        );
    }

    #[test]
    fn json_without_optional_members() {
        let metadata = ProtectedResourceMetadata::builder("http://127.0.0.1:8080/mcp")
            .dpop(DpopMode::BearerOnly, AlgorithmSet::ALL)
            .build()
            .unwrap();
        assert_eq!(
            &metadata.to_json()[..],
            br#"{"resource":"http://127.0.0.1:8080/mcp","bearer_methods_supported":["header"],"dpop_bound_access_tokens_required":false}"#
        );
    }

    #[test]
    fn extra_members_cannot_override() {
        let refused = ProtectedResourceMetadata::builder("https://h/mcp")
            .extra("resource", json!("https://evil.example"))
            .build();
        assert_eq!(
            refused.unwrap_err(),
            MetadataError::ReservedExtra {
                name: "resource".into()
            }
        );
        // Set directly, a reserved extra is still never written.
        let mut metadata = ProtectedResourceMetadata::builder("https://h/mcp")
            .build()
            .unwrap();
        metadata
            .extra
            .insert("resource".into(), json!("https://evil.example"));
        metadata.extra.insert("resource_name".into(), json!("evil"));
        let parsed: serde_json::Value = serde_json::from_slice(&metadata.to_json()).unwrap();
        assert_eq!(parsed["resource"], "https://h/mcp");
        assert!(parsed.get("resource_name").is_none());
    }

    #[test]
    fn invalid_configuration_names_the_field() {
        let build = |resource: &str| ProtectedResourceMetadata::builder(resource).build();
        assert_eq!(build("/mcp").unwrap_err(), MetadataError::ResourceNotUrl);
        assert_eq!(
            build("https://h/mcp#x").unwrap_err(),
            MetadataError::ResourceHasFragment
        );
        assert_eq!(
            build("http://mcp.example.com/").unwrap_err(),
            MetadataError::ResourceNotHttps
        );
        assert!(build("http://localhost:3000/mcp").is_ok());
        let issuer = ProtectedResourceMetadata::builder("https://h/mcp")
            .authorization_server("https://as.example.com")
            .authorization_server("https://as.example.com/?tenant=1")
            .build();
        assert_eq!(
            issuer.unwrap_err(),
            MetadataError::InvalidAuthorizationServer { index: 1 }
        );
    }
}
