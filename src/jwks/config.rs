//! Configuration of a [`RemoteJwks`]: where the keys live, how long they are trusted, and
//! the limits on every fetch. Problems surface at [`RemoteJwksBuilder::build`] as a
//! [`JwksConfigError`] that names the field, never at the first request.

use std::time::Duration;

use url::Url;

use super::remote::RemoteJwks;

/// Where an issuer's JWK Set is published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksLocation {
    /// The JWK Set document itself (RFC 7517 §5), e.g. a configured `jwks_uri`.
    JwksUri(Url),
    /// The issuer identifier: its `jwks_uri` is learned from the authorization-server
    /// metadata (RFC 8414 §3), falling back to OpenID Connect Discovery, once.
    Discovery {
        /// The issuer identifier, compared exactly with the metadata's `issuer`
        /// (RFC 8414 §3.3) and with tokens' `iss`.
        issuer: String,
    },
}

/// Why a [`RemoteJwksBuilder`] could not build.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksConfigError {
    /// The extra CA bundle holds no PEM certificate.
    #[error("the extra CA bundle holds no PEM certificate")]
    ExtraRoots,
    /// The URL (or issuer identifier) does not parse as an absolute URL.
    #[error("{field} is not an absolute URL")]
    InvalidUrl {
        /// `jwks_uri` or `issuer`.
        field: &'static str,
    },
    /// A scheme other than `https` (or `http` with the dangerous opt-in).
    #[error("{field} has scheme {scheme:?}; only https is allowed")]
    UnsupportedScheme {
        /// `jwks_uri` or `issuer`.
        field: &'static str,
        /// The scheme found.
        scheme: String,
    },
    /// An `http://` URL without [`RemoteJwksBuilder::dangerous_allow_plain_http`]: keys
    /// fetched in the clear can be replaced by anyone on the path.
    #[error("{field} uses plain http; keys must be fetched over https")]
    PlainHttp {
        /// `jwks_uri` or `issuer`.
        field: &'static str,
    },
    /// Credentials in the URL's userinfo would end up in logs and metrics.
    #[error("{field} carries credentials in its userinfo")]
    CredentialsInUrl {
        /// `jwks_uri` or `issuer`.
        field: &'static str,
    },
    /// An issuer identifier with a query or fragment (RFC 8414 §2 forbids both).
    #[error("issuer identifier has a query or fragment (RFC 8414 §2)")]
    IssuerQueryOrFragment,
    /// A duration that must be positive is zero.
    #[error("{field} must be greater than zero")]
    ZeroDuration {
        /// The builder method.
        field: &'static str,
    },
    /// `min_ttl` is greater than `max_ttl`, or `default_ttl` lies outside them.
    #[error(
        "TTLs out of order: need min_ttl {min:?} <= default_ttl {default:?} <= max_ttl {max:?}"
    )]
    TtlOrder {
        /// `min_ttl`.
        min: Duration,
        /// `default_ttl`.
        default: Duration,
        /// `max_ttl`.
        max: Duration,
    },
    /// `refresh_ahead` is not a fraction in (0, 1].
    #[error("refresh_ahead must be in (0, 1], got {0}")]
    RefreshAhead(f64),
    /// `max_body_bytes` is zero.
    #[error("max_body_bytes must be greater than zero")]
    ZeroBodyLimit,
    /// The HTTP client could not be built (TLS provider setup).
    #[error("HTTP client could not be built: {reason}")]
    HttpClient {
        /// The client library's explanation.
        reason: String,
    },
}

/// The validated limits every fetch obeys.
#[derive(Debug, Clone)]
pub(super) struct Limits {
    pub(super) default_ttl: Duration,
    pub(super) min_ttl: Duration,
    pub(super) max_ttl: Duration,
    pub(super) refresh_ahead: f64,
    pub(super) min_refetch_interval: Duration,
    pub(super) max_stale: Duration,
    pub(super) timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) max_body_bytes: usize,
    pub(super) allow_plain_http: bool,
    /// A file holding a bearer token for the key and metadata endpoints, read on every
    /// fetch: a Kubernetes API server serves its JWKS to authenticated callers only, and
    /// the projected token that authenticates us is rotated under our feet.
    pub(super) bearer_token_file: Option<std::sync::Arc<std::path::Path>>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default_ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(24 * 60 * 60),
            refresh_ahead: 0.8,
            min_refetch_interval: Duration::from_secs(30),
            max_stale: Duration::from_secs(60 * 60),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_body_bytes: 256 * 1024,
            allow_plain_http: false,
            bearer_token_file: None,
        }
    }
}

impl Limits {
    /// Checks a URL the keys (or the metadata naming them) come from: https only unless
    /// plain http was opted into, and no userinfo.
    pub(super) fn check_url(&self, url: &Url, field: &'static str) -> Result<(), JwksConfigError> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_plain_http => {}
            "http" => return Err(JwksConfigError::PlainHttp { field }),
            other => {
                return Err(JwksConfigError::UnsupportedScheme {
                    field,
                    scheme: other.to_owned(),
                });
            }
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(JwksConfigError::CredentialsInUrl { field });
        }
        if url.host().is_none() {
            return Err(JwksConfigError::InvalidUrl { field });
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), JwksConfigError> {
        for (field, value) in [
            ("default_ttl", self.default_ttl),
            ("min_ttl", self.min_ttl),
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(JwksConfigError::ZeroDuration { field });
            }
        }
        if !(self.min_ttl <= self.default_ttl && self.default_ttl <= self.max_ttl) {
            return Err(JwksConfigError::TtlOrder {
                min: self.min_ttl,
                default: self.default_ttl,
                max: self.max_ttl,
            });
        }
        // Written so that NaN fails too.
        if !(self.refresh_ahead > 0.0 && self.refresh_ahead <= 1.0) {
            return Err(JwksConfigError::RefreshAhead(self.refresh_ahead));
        }
        if self.max_body_bytes == 0 {
            return Err(JwksConfigError::ZeroBodyLimit);
        }
        Ok(())
    }
}

/// Builds a [`RemoteJwks`]; every option starts at its safe default.
#[derive(Debug)]
#[must_use]
pub struct RemoteJwksBuilder {
    location: JwksLocation,
    limits: Limits,
    client: Option<reqwest::Client>,
    extra_roots_pem: Option<Vec<u8>>,
}

impl RemoteJwksBuilder {
    pub(super) fn new(location: JwksLocation) -> Self {
        RemoteJwksBuilder {
            location,
            limits: Limits::default(),
            client: None,
            extra_roots_pem: None,
        }
    }

    /// Also trusts the CA certificates in `pem` (a bundle), besides the platform's roots:
    /// a Kubernetes API server's certificate is signed by the cluster's own CA
    /// (`/var/run/secrets/kubernetes.io/serviceaccount/ca.crt`). Ignored with
    /// [`http_client`](Self::http_client).
    pub fn extra_roots_pem(mut self, pem: Vec<u8>) -> Self {
        self.extra_roots_pem = Some(pem);
        self
    }

    /// How long keys are trusted when the response has no `Cache-Control` freshness
    /// (RFC 9111 §5.2). Default 300 s; must lie within [`min_ttl`](Self::min_ttl) and
    /// [`max_ttl`](Self::max_ttl).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.limits.default_ttl = ttl;
        self
    }

    /// The least time keys are trusted, whatever `Cache-Control` says: a `max-age=0`,
    /// `no-cache` or `no-store` issuer would otherwise be fetched on every request.
    /// Default 30 s; must be positive.
    pub fn min_ttl(mut self, ttl: Duration) -> Self {
        self.limits.min_ttl = ttl;
        self
    }

    /// The most time keys are trusted, whatever `Cache-Control` says, so that a revoked
    /// key is dropped within a day even behind a very long `max-age`. Default 24 h.
    pub fn max_ttl(mut self, ttl: Duration) -> Self {
        self.limits.max_ttl = ttl;
        self
    }

    /// The fraction of the TTL after which the next use starts a background refresh, so
    /// that requests never wait on a routine refresh. Default 0.8; must be in (0, 1].
    pub fn refresh_ahead(mut self, fraction: f64) -> Self {
        self.limits.refresh_ahead = fraction;
        self
    }

    /// The least time between fetches that requests can cause: a token naming an unknown
    /// `kid` fetches only if the last attempt started at least this long ago (so random
    /// `kid`s get at most one fetch per interval), and after a failed attempt no request
    /// fetches again before it has passed. Default 30 s.
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.limits.min_refetch_interval = interval;
        self
    }

    /// How long past their TTL the last good keys keep being served while the issuer
    /// cannot be reached; after that no keys are served and tokens are refused (fail
    /// closed). Default 1 h; zero disables serving stale keys.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.limits.max_stale = max_stale;
        self
    }

    /// The total time one HTTP exchange may take, body included. Default 5 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// The time allowed to connect (TCP and TLS). Default 2 s. Applies only to the client
    /// this builder makes, not to one given with [`http_client`](Self::http_client).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.limits.connect_timeout = timeout;
        self
    }

    /// The largest JWK Set or metadata document accepted, enforced while the body streams
    /// in, so that no more than this is ever buffered. Default 256 KiB.
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.limits.max_body_bytes = max;
        self
    }

    /// Uses `client` instead of a client built here. Build it with
    /// `redirect::Policy::none()`: a response that was redirected is refused anyway, and
    /// URL schemes are still checked, but its connect timeout and TLS settings are yours.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Sends `Authorization: Bearer <the file's contents>` with every fetch, the file read
    /// anew each time (fetches are rare; the token may have been rotated). For a
    /// Kubernetes API server's `/openid/v1/jwks`, with the pod's service-account token.
    pub fn bearer_token_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.limits.bearer_token_file = Some(std::sync::Arc::from(path.into().into_boxed_path()));
        self
    }

    /// Allows `http://` URLs for the JWK Set, the issuer, and a discovered `jwks_uri`.
    ///
    /// **Dangerous**: keys fetched in the clear can be swapped by anyone on the path, who
    /// can then mint any token. Only for tests against a server on loopback.
    pub fn dangerous_allow_plain_http(mut self) -> Self {
        self.limits.allow_plain_http = true;
        self
    }

    /// Checks the configuration and builds the key source. No network I/O happens here;
    /// call [`RemoteJwks::load`] to fetch the keys at start-up.
    pub fn build(self) -> Result<RemoteJwks, JwksConfigError> {
        let limits = self.limits;
        limits.validate()?;
        let location = match self.location {
            JwksLocation::JwksUri(url) => {
                limits.check_url(&url, "jwks_uri")?;
                Resolved::JwksUri(url)
            }
            JwksLocation::Discovery { issuer } => {
                let url = Url::parse(&issuer)
                    .map_err(|_| JwksConfigError::InvalidUrl { field: "issuer" })?;
                limits.check_url(&url, "issuer")?;
                // RFC 8414 §2: "a URL that uses the "https" scheme and has no query or
                // fragment components".
                if url.query().is_some() || url.fragment().is_some() {
                    return Err(JwksConfigError::IssuerQueryOrFragment);
                }
                Resolved::Discovery { issuer, url }
            }
        };
        let roots = match &self.extra_roots_pem {
            Some(pem) => reqwest::Certificate::from_pem_bundle(pem)
                .ok()
                .filter(|roots| !roots.is_empty())
                .ok_or(JwksConfigError::ExtraRoots)?,
            None => Vec::new(),
        };
        let client = match self.client {
            Some(client) => client,
            None => crate::outbound::client_with_roots(
                limits.timeout,
                limits.connect_timeout,
                limits.allow_plain_http,
                roots,
            )
            .map_err(|error| JwksConfigError::HttpClient {
                reason: error.to_string(),
            })?,
        };
        Ok(RemoteJwks::from_parts(location, limits, client))
    }
}

/// A validated location.
#[derive(Debug, Clone)]
pub(super) enum Resolved {
    /// A configured `jwks_uri`.
    JwksUri(Url),
    /// An issuer whose `jwks_uri` is discovered; `issuer` is kept as given for the exact
    /// comparison of RFC 8414 §3.3.
    Discovery { issuer: String, url: Url },
}
