//! One capped HTTP GET for a JWK Set or a metadata document, and the freshness its
//! `Cache-Control` gives (RFC 9111 §5.2, §5.1).
//!
//! Failures are typed here ([`FetchError`]) and carried unchanged in
//! [`KeySourceError`](super::KeySourceError); no variant carries response bytes, so a
//! hostile issuer cannot write into our logs.

use std::time::Duration;

use http::header::{ACCEPT, AGE, AUTHORIZATION, CACHE_CONTROL};
use http::{HeaderMap, StatusCode};
use url::Url;

use crate::outbound::{ReadError, read_capped};

use crate::jose::{JsonError, JwkSetError};

use super::config::Limits;

/// Why one fetch of an issuer's keys (discovery included) failed.
///
/// Bounded: no variant holds response bytes — a status code, a cap, a count, a parse error
/// kind, or the configured issuer, never what the issuer sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The configured bearer-token file could not be read, or holds no usable token.
    #[error("bearer token file unreadable or empty")]
    BearerTokenUnreadable,
    /// The exchange took longer than the configured timeout.
    #[error("timed out")]
    Timeout,
    /// No connection could be made.
    #[error("connection failed")]
    Connect,
    /// Any other transport failure.
    #[error("request failed")]
    Transport,
    /// The response came from another URL than the one asked (a caller-provided client
    /// followed a redirect).
    #[error("response was redirected")]
    Redirected,
    /// Anything but 200 OK.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body is over the cap.
    #[error("response body exceeds {max} bytes")]
    BodyTooLarge {
        /// The cap.
        max: usize,
    },
    /// The JWK Set document was refused.
    #[error("invalid JWK Set: {0}")]
    JwkSet(JwkSetError),
    /// A well-formed set without one key this library can use (RFC 7517 §5: unusable
    /// members are skipped, and then nothing is left).
    #[error("JWK Set has no usable signature key ({skipped} skipped)")]
    NoUsableKeys {
        /// Entries skipped as unusable.
        skipped: usize,
    },
    /// The metadata document is not a strict JSON object.
    #[error("metadata document: {0}")]
    Metadata(JsonError),
    /// The metadata names another issuer, or none (RFC 8414 §3.3: the mix-up attack). The
    /// value found is not kept: it is the issuer's text.
    #[error("metadata issuer does not equal the configured issuer {expected:?} (RFC 8414 §3.3)")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
    },
    /// The metadata has no usable `jwks_uri`.
    #[error("metadata jwks_uri {0}")]
    JwksUri(JwksUriError),
    /// Discovery failed.
    #[error("discovery: {0}")]
    Discovery(Box<FetchError>),
    /// Discovery failed recently (for this reason) and is not retried before
    /// `min_refetch_interval` has passed.
    #[error("discovery failed recently, not retried yet: {0}")]
    DiscoveryDeferred(Box<FetchError>),
    /// The task running the fetch ended without a result (runtime shutting down).
    #[error("fetch aborted")]
    Aborted,
}

/// What is wrong with the `jwks_uri` of an issuer's metadata (RFC 8414 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksUriError {
    /// Absent, or not a string.
    #[error("is missing")]
    Missing,
    /// Not a URL.
    #[error("is not a URL")]
    NotAUrl,
    /// Plain http where https is required.
    #[error("is not https")]
    PlainHttp,
    /// Carries a user name or password.
    #[error("has userinfo")]
    Userinfo,
    /// Another scheme, or no host.
    #[error("is not an https URL")]
    NotHttpsUrl,
}

impl FetchError {
    /// The failure at the root of a discovery wrapper ([`FetchError::Discovery`],
    /// [`FetchError::DiscoveryDeferred`]); `self` for any other variant.
    pub fn root(&self) -> &FetchError {
        match self {
            FetchError::Discovery(inner) | FetchError::DiscoveryDeferred(inner) => inner.root(),
            other => other,
        }
    }

    fn from_reqwest(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            FetchError::Timeout
        } else if error.is_connect() {
            FetchError::Connect
        } else {
            FetchError::Transport
        }
    }
}

/// A successful response: its headers and its whole (capped) body.
#[derive(Debug)]
pub(super) struct Fetched {
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// GETs `url`, requiring 200 and at most `limits.max_body_bytes` of body, all within
/// `limits.timeout`.
/// `Bearer <token>` from `path`, trailing newline removed, marked sensitive so that no
/// HTTP tooling prints it.
async fn bearer_header(path: &std::path::Path) -> Result<reqwest::header::HeaderValue, FetchError> {
    let text = tokio::fs::read_to_string(path)
        .await
        .map_err(|_| FetchError::BearerTokenUnreadable)?;
    let token = text.trim_end_matches(['\n', '\r']);
    if token.is_empty() {
        return Err(FetchError::BearerTokenUnreadable);
    }
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| FetchError::BearerTokenUnreadable)?;
    value.set_sensitive(true);
    Ok(value)
}

pub(super) async fn get_capped(
    client: &reqwest::Client,
    url: &Url,
    accept: &'static str,
    limits: &Limits,
) -> Result<Fetched, FetchError> {
    let exchange = async {
        let mut request = client
            .get(url.clone())
            .header(ACCEPT, accept)
            // Also set per request: a caller-provided client may have no timeout.
            .timeout(limits.timeout);
        if let Some(path) = &limits.bearer_token_file {
            request = request.header(AUTHORIZATION, bearer_header(path).await?);
        }
        let mut response = request
            .send()
            .await
            .map_err(|error| FetchError::from_reqwest(&error))?;
        if response.url() != url {
            return Err(FetchError::Redirected);
        }
        if response.status() != StatusCode::OK {
            return Err(FetchError::Status(response.status().as_u16()));
        }
        let max = limits.max_body_bytes;
        let body = read_capped(&mut response, max)
            .await
            .map_err(|error| match error {
                ReadError::TooLarge => FetchError::BodyTooLarge { max },
                ReadError::Transport(error) => FetchError::from_reqwest(&error),
            })?;
        Ok(Fetched {
            headers: response.headers().clone(),
            body,
        })
    };
    // reqwest's own timeout covers the body too; this bound holds even if it did not.
    tokio::time::timeout(limits.timeout, exchange)
        .await
        .unwrap_or(Err(FetchError::Timeout))
}

/// What a response's caching headers say about how long it stays fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Freshness {
    /// No `max-age` (nor any directive forbidding reuse).
    Unspecified,
    /// Fresh for this many seconds from now (`max-age` less `Age`).
    For(u64),
    /// `no-store`, `no-cache`, or a directive we cannot read: treat as stale at once.
    Stale,
}

/// RFC 9111 §1.2.2: a delta-seconds value too large to represent is taken as 2^31.
const DELTA_SECONDS_CAP: u64 = 1 << 31;

/// Reads `Cache-Control` (RFC 9111 §5.2) and `Age` (§5.1) from `headers`.
pub(super) fn freshness(headers: &HeaderMap) -> Freshness {
    let mut max_age = None;
    let mut stale = false;
    // §5.2: several field lines are one comma-separated list.
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(text) = value.to_str() else {
            return Freshness::Stale;
        };
        let Some(directives) = directives(text) else {
            return Freshness::Stale;
        };
        for (name, argument) in directives {
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                // §5.2.2.4, §5.2.2.5: not to be reused without revalidation.
                stale = true;
            } else if name.eq_ignore_ascii_case("max-age") {
                // §4.2.1: with conflicting duplicates, the response is treated as stale.
                if max_age.is_some() {
                    stale = true;
                }
                match argument.as_deref().and_then(delta_seconds) {
                    Some(seconds) => max_age = Some(seconds),
                    None => stale = true,
                }
            }
        }
    }
    if stale {
        return Freshness::Stale;
    }
    match max_age {
        // §4.2.3: what an upstream cache already spent of the lifetime is gone.
        Some(max_age) => Freshness::For(max_age.saturating_sub(age(headers))),
        None => Freshness::Unspecified,
    }
}

/// The TTL `freshness` gives under `limits`.
pub(super) fn ttl(freshness: Freshness, limits: &Limits) -> Duration {
    match freshness {
        Freshness::Unspecified => limits.default_ttl,
        Freshness::Stale => limits.min_ttl,
        Freshness::For(seconds) => {
            // `min_ttl <= max_ttl` is checked at build, so `clamp` cannot panic.
            Duration::from_secs(seconds).clamp(limits.min_ttl, limits.max_ttl)
        }
    }
}

/// `Age` in seconds (§5.1); an unreadable value counts as zero.
fn age(headers: &HeaderMap) -> u64 {
    headers
        .get(AGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| delta_seconds(text.trim()))
        .unwrap_or(0)
}

/// `delta-seconds = 1*DIGIT` (§1.2.2), saturating at 2^31.
fn delta_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        text.parse::<u64>()
            .map_or(DELTA_SECONDS_CAP, |v| v.min(DELTA_SECONDS_CAP)),
    )
}

/// Splits `cache-directive *( OWS "," OWS cache-directive )` with
/// `cache-directive = token [ "=" ( token / quoted-string ) ]` (§5.2); `None` if the
/// text does not follow it. Arguments come back unquoted: §5.2 asks recipients to accept
/// the quoted form too.
fn directives(text: &str) -> Option<Vec<(&str, Option<String>)>> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t']);
        if rest.is_empty() {
            return Some(out);
        }
        if let Some(after) = rest.strip_prefix(',') {
            // Empty list elements are allowed (RFC 9110 §5.6.1.2).
            rest = after;
            continue;
        }
        let name_len = rest.bytes().take_while(|b| is_tchar(*b)).count();
        if name_len == 0 {
            return None;
        }
        let (name, after) = rest.split_at(name_len);
        rest = after.trim_start_matches([' ', '\t']);
        let mut argument = None;
        if let Some(after) = rest.strip_prefix('=') {
            rest = after.trim_start_matches([' ', '\t']);
            if let Some(quoted) = rest.strip_prefix('"') {
                let (value, after) = quoted_string(quoted)?;
                argument = Some(value);
                rest = after;
            } else {
                let len = rest.bytes().take_while(|b| is_tchar(*b)).count();
                if len == 0 {
                    return None;
                }
                argument = Some(rest[..len].to_owned());
                rest = &rest[len..];
            }
        }
        out.push((name, argument));
        rest = rest.trim_start_matches([' ', '\t']);
        match rest.strip_prefix(',') {
            Some(after) => rest = after,
            None if rest.is_empty() => return Some(out),
            None => return None,
        }
    }
}

/// The inside of a quoted-string (RFC 9110 §5.6.4) up to its closing quote, unescaped, and
/// what follows it.
fn quoted_string(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[index + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

/// `tchar` (RFC 9110 §5.6.2).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use http::HeaderValue;

    use super::*;

    fn fresh(values: &[&str], age: Option<&str>) -> Freshness {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        }
        if let Some(age) = age {
            headers.insert(AGE, HeaderValue::from_str(age).unwrap());
        }
        freshness(&headers)
    }

    #[test]
    fn rfc9111_section_5_2_2_1_max_age() {
        assert_eq!(fresh(&[], None), Freshness::Unspecified);
        assert_eq!(fresh(&["public"], None), Freshness::Unspecified);
        assert_eq!(fresh(&["max-age=600"], None), Freshness::For(600));
        assert_eq!(fresh(&["public, MAX-AGE=60"], None), Freshness::For(60));
        assert_eq!(fresh(&["max-age=\"60\""], None), Freshness::For(60));
        assert_eq!(fresh(&["public", "max-age=60"], None), Freshness::For(60));
        assert_eq!(
            fresh(&["max-age=60, , must-revalidate"], None),
            Freshness::For(60)
        );
        assert_eq!(
            fresh(&["private=\"a, b\", max-age=60"], None),
            Freshness::For(60)
        );
        // §1.2.2: overflow is taken as 2^31.
        assert_eq!(
            fresh(&["max-age=99999999999999999999999"], None),
            Freshness::For(1 << 31)
        );
        // §4.2.3: Age counts against the lifetime.
        assert_eq!(fresh(&["max-age=60"], Some("50")), Freshness::For(10));
        assert_eq!(fresh(&["max-age=60"], Some("500")), Freshness::For(0));
        assert_eq!(fresh(&["max-age=60"], Some("soon")), Freshness::For(60));
    }

    #[test]
    fn unreadable_or_uncacheable_is_stale() {
        for values in [
            &["no-store"][..],
            &["max-age=60, no-cache"],
            &["max-age=60", "max-age=70"],
            &["max-age=-1"],
            &["max-age=1.5"],
            &["max-age="],
            &["max-age"],
            &["max-age=60 junk"],
            &["private=\"unterminated"],
        ] {
            assert_eq!(fresh(values, None), Freshness::Stale, "{values:?}");
        }
    }

    #[test]
    fn ttl_is_clamped() {
        let limits = Limits::default();
        assert_eq!(ttl(Freshness::Unspecified, &limits), limits.default_ttl);
        assert_eq!(ttl(Freshness::Stale, &limits), limits.min_ttl);
        assert_eq!(ttl(Freshness::For(0), &limits), limits.min_ttl);
        assert_eq!(ttl(Freshness::For(600), &limits), Duration::from_secs(600));
        assert_eq!(ttl(Freshness::For(1 << 31), &limits), limits.max_ttl);
    }
}
