//! Finding an issuer's `jwks_uri` from its metadata: RFC 8414 §3 authorization-server
//! metadata at the path-inserted well-known URI (§3.1), falling back to OpenID Connect
//! Discovery 1.0 §4 (`/.well-known/openid-configuration` appended to the issuer).
//!
//! The document must name the configured issuer exactly (RFC 8414 §3.3): otherwise an
//! attacker who can serve metadata for one issuer could make us trust keys under another
//! issuer's name (the mix-up attack). The `jwks_uri` it gives must be https, like the
//! configured URLs.

use serde_json::Value;
use url::Url;

use crate::jose::parse_object;

use super::config::{JwksConfigError, Limits};
use super::http::{FetchError, JwksUriError, get_capped};

/// The RFC 8414 well-known suffix (§7.3 registration).
const OAUTH_WELL_KNOWN: &str = "/.well-known/oauth-authorization-server";
/// The OpenID Connect Discovery well-known suffix (§4).
const OIDC_WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// The RFC 8414 §3.1 metadata URL: the well-known segment goes between the host and the
/// issuer's path, whose terminating `/` is removed first.
pub(super) fn oauth_metadata_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    let path = issuer.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{OAUTH_WELL_KNOWN}{path}"));
    url
}

/// The OpenID Connect Discovery §4.1 URL: the well-known segment is appended to the
/// issuer, after removing a terminating `/`.
pub(super) fn oidc_metadata_url(issuer: &Url) -> Url {
    let mut url = issuer.clone();
    let path = issuer.path().trim_end_matches('/').to_owned();
    url.set_path(&format!("{path}{OIDC_WELL_KNOWN}"));
    url
}

/// Fetches the metadata for `issuer` (parsed as `issuer_url`) and returns its `jwks_uri`.
///
/// Falls back to OpenID Connect Discovery only when the RFC 8414 URL gives no metadata
/// document at all (a non-200 status, or a body that is not JSON, as a catch-all web page
/// would be); a document that is JSON but wrong is a refusal, never a reason to look
/// elsewhere.
pub(super) async fn discover(
    client: &reqwest::Client,
    issuer: &str,
    issuer_url: &Url,
    limits: &Limits,
) -> Result<Url, FetchError> {
    let primary = fetch_metadata(client, issuer, &oauth_metadata_url(issuer_url), limits).await;
    match primary {
        Err(FetchError::Status(_) | FetchError::Metadata(_)) => {
            fetch_metadata(client, issuer, &oidc_metadata_url(issuer_url), limits).await
        }
        other => other,
    }
}

async fn fetch_metadata(
    client: &reqwest::Client,
    issuer: &str,
    url: &Url,
    limits: &Limits,
) -> Result<Url, FetchError> {
    let fetched = get_capped(client, url, "application/json", limits).await?;
    let document = parse_object(&fetched.body).map_err(FetchError::Metadata)?;
    jwks_uri_of(&document, issuer, limits)
}

/// Checks a metadata document against the configured issuer and takes its `jwks_uri`.
pub(super) fn jwks_uri_of(
    document: &crate::jose::Object,
    issuer: &str,
    limits: &Limits,
) -> Result<Url, FetchError> {
    // RFC 8414 §3.3: "The "issuer" value returned MUST be identical to the authorization
    // server's issuer identifier value" — a plain string comparison, no normalization.
    match document.get("issuer") {
        Some(Value::String(found)) if found == issuer => {}
        _ => {
            return Err(FetchError::IssuerMismatch {
                expected: issuer.to_owned(),
            });
        }
    }
    let Some(Value::String(jwks_uri)) = document.get("jwks_uri") else {
        return Err(FetchError::JwksUri(JwksUriError::Missing));
    };
    let url = Url::parse(jwks_uri).map_err(|_| FetchError::JwksUri(JwksUriError::NotAUrl))?;
    limits.check_url(&url, "jwks_uri").map_err(|error| {
        FetchError::JwksUri(match error {
            JwksConfigError::PlainHttp { .. } => JwksUriError::PlainHttp,
            JwksConfigError::CredentialsInUrl { .. } => JwksUriError::Userinfo,
            // `check_url` also answers `UnsupportedScheme` and `InvalidUrl`; the other
            // configuration errors are about durations and issuers, not URLs.
            _ => JwksUriError::NotHttpsUrl,
        })
    })?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn rfc8414_section_3_1_path_inserted() {
        // The example of RFC 8414 §3.1.
        assert_eq!(
            oauth_metadata_url(&url("https://example.com/issuer1")).as_str(),
            "https://example.com/.well-known/oauth-authorization-server/issuer1"
        );
        assert_eq!(
            oauth_metadata_url(&url("https://as.example.com/tenant/")).as_str(),
            "https://as.example.com/.well-known/oauth-authorization-server/tenant"
        );
        assert_eq!(
            oauth_metadata_url(&url("https://as.example.com")).as_str(),
            "https://as.example.com/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn oidc_discovery_section_4_1_appended() {
        assert_eq!(
            oidc_metadata_url(&url("https://as.example.com/tenant")).as_str(),
            "https://as.example.com/tenant/.well-known/openid-configuration"
        );
        assert_eq!(
            oidc_metadata_url(&url("https://as.example.com/")).as_str(),
            "https://as.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn rfc8414_section_3_3_issuer_and_jwks_uri() {
        let limits = Limits::default();
        let issuer = "https://as.example.com/tenant";
        let check = |document: serde_json::Value| {
            jwks_uri_of(document.as_object().unwrap(), issuer, &limits)
        };
        assert_eq!(
            check(json!({"issuer": issuer, "jwks_uri": "https://as.example.com/jwks"}))
                .unwrap()
                .as_str(),
            "https://as.example.com/jwks"
        );
        let mismatch = FetchError::IssuerMismatch {
            expected: issuer.into(),
        };
        // Exact comparison: no trailing-slash or case normalization.
        for other in [
            json!("https://as.example.com/tenant/"),
            json!("HTTPS://as.example.com/tenant"),
            json!(1),
        ] {
            assert_eq!(
                check(json!({"issuer": other, "jwks_uri": "https://as.example.com/jwks"})),
                Err(mismatch.clone())
            );
        }
        assert_eq!(check(json!({"jwks_uri": "https://x/jwks"})), Err(mismatch));
        assert_eq!(
            check(json!({"issuer": issuer})),
            Err(FetchError::JwksUri(JwksUriError::Missing))
        );
        // A jwks_uri learned from metadata is held to the same rule as a configured one.
        assert_eq!(
            check(json!({"issuer": issuer, "jwks_uri": "http://as.example.com/jwks"})),
            Err(FetchError::JwksUri(JwksUriError::PlainHttp))
        );
        assert_eq!(
            check(json!({"issuer": issuer, "jwks_uri": "https://u:p@as.example.com/jwks"})),
            Err(FetchError::JwksUri(JwksUriError::Userinfo))
        );
        assert_eq!(
            check(json!({"issuer": issuer, "jwks_uri": "file:///etc/jwks"})),
            Err(FetchError::JwksUri(JwksUriError::NotHttpsUrl))
        );
    }
}
