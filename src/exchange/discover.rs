//! Finding where to get a token for an MCP server, as the MCP authorization spec has a
//! client do it: the server's `401` names its Protected Resource Metadata
//! (`resource_metadata`, RFC 9728 §5.1; else the well-known URL of §3.1), which names the
//! authorization servers; the chosen one's RFC 8414 metadata gives the token endpoint.
//!
//! Every document is checked against the identifier it was fetched for
//! ([`super::metadata`]) before anything is sent anywhere: a workload token goes only to a
//! token endpoint the resource named and whose metadata names itself.

use url::Url;

use crate::outbound::{self, ReadError};

use super::challenge::{Challenge, find_param};
use super::metadata::{
    MAX_METADATA_BYTES, MetadataError, ResourceMetadata, ServerMetadata, https_url,
    server_metadata_urls,
};

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The resource's metadata.
    pub resource: ResourceMetadata,
    /// The chosen authorization server's metadata.
    pub server: ServerMetadata,
}

/// Why discovery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoveryError {
    /// A document could not be fetched.
    #[error("{url}: {reason}")]
    Fetch {
        /// Its URL.
        url: String,
        /// Why (status, connect, timeout, size).
        reason: String,
    },
    /// A document was refused.
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// The configured authorization server is not one the resource names.
    #[error("the resource does not name the configured authorization server {0:?}")]
    IssuerNotListed(String),
}

/// Discovers the token endpoint for `resource` (the MCP server's URL, exactly as called),
/// from the `challenges` of its `401` when there are any. `pinned` picks the authorization
/// server (it must be among those the resource names); otherwise the first is used.
pub async fn discover(
    http: &reqwest::Client,
    resource: &str,
    challenges: &[Challenge],
    pinned: Option<&str>,
) -> Result<Discovered, DiscoveryError> {
    let resource_url = https_url("resource", resource)?;
    let metadata_url = match find_param(challenges, "resource_metadata") {
        Some(url) => https_url("resource_metadata", url)?,
        None => Url::parse(&crate::guard::metadata_url(&resource_url)).map_err(|_| {
            MetadataError::NotHttps {
                member: "resource",
                url: resource.to_owned(),
            }
        })?,
    };
    let (status, body) = get(http, &metadata_url).await?;
    if status != 200 {
        return Err(DiscoveryError::Fetch {
            url: metadata_url.to_string(),
            reason: format!("answered {status}"),
        });
    }
    let resource_metadata = ResourceMetadata::parse(&body, metadata_url.as_str(), resource)?;
    let issuer = match pinned {
        Some(pinned) => resource_metadata
            .authorization_servers
            .iter()
            .find(|listed| listed.as_str() == pinned)
            .ok_or_else(|| DiscoveryError::IssuerNotListed(pinned.to_owned()))?,
        None => &resource_metadata.authorization_servers[0],
    }
    .clone();
    let server = server_metadata(http, &issuer).await?;
    Ok(Discovered {
        resource: resource_metadata,
        server,
    })
}

/// The authorization server `issuer`'s metadata: RFC 8414 §3.1 first, then OpenID
/// Connect Discovery when the first URL has no JSON document at all (a document that is
/// JSON but wrong is a refusal, never a reason to look elsewhere).
pub async fn server_metadata(
    http: &reqwest::Client,
    issuer: &str,
) -> Result<ServerMetadata, DiscoveryError> {
    let issuer_url = https_url("issuer", issuer)?;
    let [oauth, oidc] = server_metadata_urls(&issuer_url);
    let mut last = None;
    for url in [oauth, oidc] {
        let (status, body) = get(http, &url).await?;
        if status != 200 {
            last = Some(DiscoveryError::Fetch {
                url: url.to_string(),
                reason: format!("answered {status}"),
            });
            continue;
        }
        match ServerMetadata::parse(&body, url.as_str(), issuer) {
            Err(MetadataError::Json { .. }) => {
                last = Some(DiscoveryError::Fetch {
                    url: url.to_string(),
                    reason: "not a JSON document".into(),
                });
            }
            other => return Ok(other?),
        }
    }
    Err(last.unwrap_or(DiscoveryError::Fetch {
        url: issuer.to_owned(),
        reason: "no metadata".into(),
    }))
}

async fn get(http: &reqwest::Client, url: &Url) -> Result<(u16, Vec<u8>), DiscoveryError> {
    let failed = |reason: String| DiscoveryError::Fetch {
        url: url.to_string(),
        reason,
    };
    let mut response = http
        .get(url.clone())
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| failed(describe(&error)))?;
    let status = response.status().as_u16();
    let body = outbound::read_capped(&mut response, MAX_METADATA_BYTES)
        .await
        .map_err(|error| match error {
            ReadError::TooLarge => failed(format!("over {MAX_METADATA_BYTES} bytes")),
            ReadError::Transport(error) => failed(describe(&error)),
        })?;
    Ok((status, body))
}

/// What failed in an HTTP exchange, in words that hold no URL, query or response bytes.
pub fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "cannot connect".into()
    } else if error.is_redirect() {
        "answered with a redirect (not followed)".into()
    } else {
        "the request failed".into()
    }
}
