//! The HTTP exchange the network sources share: the crate's outbound client (no redirects,
//! https only unless a source allows plain http), one request within a timeout, a success
//! status, and a capped body (or a JSON answer read from it) — each failure a
//! [`SourceError`] naming the source, none carrying the server's bytes.

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::outbound::{self, ReadError, read_capped};

use super::error::SourceError;

/// Timeout of a whole exchange unless a builder sets another.
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection timeout of every source.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest JSON answer read (GitHub's `{"value": …}`, a TokenRequest): a token plus
/// its wrapping.
const MAX_JSON_BYTES: usize = super::MAX_TOKEN_BYTES + 16 * 1024;

/// The outbound client for a source: `roots` trusted besides the platform's.
pub(super) fn client(
    name: &str,
    timeout: Duration,
    allow_plain_http: bool,
    roots: Vec<reqwest::Certificate>,
) -> Result<reqwest::Client, SourceError> {
    outbound::client_with_roots(
        timeout,
        CONNECT_TIMEOUT.min(timeout),
        allow_plain_http,
        roots,
    )
    .map_err(|_| SourceError::config(name, "HTTP client", "could not be built"))
}

/// Sends `request`, requiring a 2xx answer and at most `max` bytes of body, all within
/// `timeout`; returns the answer's header fields and body.
pub(super) async fn exchange(
    name: &str,
    request: reqwest::RequestBuilder,
    timeout: Duration,
    max: usize,
) -> Result<(HeaderMap, Vec<u8>), SourceError> {
    let transport = |error: &reqwest::Error| {
        let name = name.to_owned();
        if error.is_timeout() {
            SourceError::Timeout {
                name,
                after: timeout,
            }
        } else if error.is_connect() {
            SourceError::Connect { name }
        } else {
            SourceError::Transport { name }
        }
    };
    let exchange = async {
        let mut response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| transport(&error))?;
        // 3xx included: the client follows no redirect, and a platform endpoint that moved
        // must be reconfigured, not chased.
        if !response.status().is_success() {
            return Err(SourceError::Status {
                name: name.to_owned(),
                status: response.status().as_u16(),
            });
        }
        let body = read_capped(&mut response, max)
            .await
            .map_err(|error| match error {
                ReadError::TooLarge => SourceError::TooLarge {
                    name: name.to_owned(),
                    max,
                },
                ReadError::Transport(error) => transport(&error),
            })?;
        Ok((std::mem::take(response.headers_mut()), body))
    };
    // reqwest's own timeout covers the body too; this bound holds even if it did not.
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(SourceError::Timeout {
                name: name.to_owned(),
                after: timeout,
            })
        })
}

/// Sends `request` as [`exchange`] does, with at most [`MAX_JSON_BYTES`] of body, and reads
/// the body as a `T`; a body that is not one is [`SourceError::InvalidResponse`] with
/// `reason`.
pub(super) async fn exchange_json<T: serde::de::DeserializeOwned>(
    name: &str,
    request: reqwest::RequestBuilder,
    timeout: Duration,
    reason: &'static str,
) -> Result<T, SourceError> {
    let (_, body) = exchange(name, request, timeout, MAX_JSON_BYTES).await?;
    serde_json::from_slice(&body).map_err(|_| SourceError::InvalidResponse {
        name: name.to_owned(),
        reason,
    })
}

/// `Bearer <token>` as a header value marked sensitive, so no HTTP tooling prints it.
pub(super) fn bearer(name: &str, token: &str) -> Result<reqwest::header::HeaderValue, SourceError> {
    let mut value =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            SourceError::config(
                name,
                "bearer token",
                "holds characters not allowed in a header",
            )
        })?;
    value.set_sensitive(true);
    Ok(value)
}

/// `text` as an endpoint URL for `field`: https (or http when `allow_plain_http`), a host,
/// no userinfo (credentials go in header fields, never in URLs that end up in logs), no
/// fragment.
pub(super) fn endpoint(
    name: &str,
    field: &'static str,
    text: &str,
    allow_plain_http: bool,
) -> Result<url::Url, SourceError> {
    let url =
        url::Url::parse(text).map_err(|_| SourceError::config(name, field, "is not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_plain_http => {}
        "http" => return Err(SourceError::config(name, field, "is not https")),
        _ => return Err(SourceError::config(name, field, "is not an http(s) URL")),
    }
    if url.host().is_none() {
        return Err(SourceError::config(name, field, "has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SourceError::config(name, field, "has userinfo"));
    }
    if url.fragment().is_some() {
        return Err(SourceError::config(name, field, "has a fragment"));
    }
    Ok(url)
}
