//! RFC 7662 token introspection over HTTPS: [`IntrospectionClient`] asks the authorization
//! server whether an opaque access token is active, checks the answer with
//! [`IntrospectionRules`], and remembers positive answers for a short while.
//!
//! - RFC 7662 §2.1: a `POST` of `token` (with `token_type_hint=access_token`) as
//!   `application/x-www-form-urlencoded`. The endpoint "MUST require some form of
//!   authorization", so a client without [`ClientAuth`] does not build.
//! - RFC 7662 §2.2: the answer is one JSON object, parsed strictly (duplicate members are
//!   refused) and judged by [`IntrospectionRules::check`] alone.
//! - RFC 6749 §2.3.1: client secrets in HTTP Basic (each part form-urlencoded first) or in
//!   the request body, and RFC 7523 §2.2 `private_key_jwt` client assertions: the shared
//!   [`crate::oauth`] client authentication ([`PreparedClientAuth`]), checked once at build.
//!
//! Whatever goes wrong on the way (network, timeout, status, size, syntax) fails closed as
//! [`TokenError::Unavailable`] with an [`IntrospectionFailure`], which never holds the token
//! or the response body. The token is never logged or kept: the cache is keyed by its SHA-256.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use url::Url;

use crate::jose::{Object, parse_object};
use crate::oauth::{ClientAuth, ClientAuthError, PreparedClientAuth};
use crate::outbound::ReadError;

use super::claims::AccessToken;
use super::error::{IntrospectionFailure, TokenError, UnavailableCause};
use super::introspection::IntrospectionRules;
use super::{TokenFuture, TokenVerifier};

/// Longest token sent to the endpoint, so that a client cannot make us post megabytes;
/// the same cap as [`JwtVerifier::DEFAULT_MAX_LEN`](super::JwtVerifier::DEFAULT_MAX_LEN).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// An [`IntrospectionClient`] could not be built; names the offending setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntrospectionConfigError {
    /// No [`ClientAuth`]: RFC 7662 §2.1 requires the endpoint to demand authorization, so
    /// an unauthenticated client would only ever be refused (or talk to a misconfigured
    /// server that answers anyone).
    #[error("introspection needs client authentication (RFC 7662 §2.1)")]
    MissingClientAuth,
    /// An `http://` endpoint without
    /// [`dangerous_allow_plain_http`](IntrospectionClientBuilder::dangerous_allow_plain_http).
    #[error("introspection endpoint must be https")]
    PlainHttpEndpoint,
    /// The endpoint is neither `https` nor `http`.
    #[error("introspection endpoint scheme {scheme:?} is not supported")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// A duration or size that must be positive is zero.
    #[error("introspection setting {field} must be positive")]
    ZeroValue {
        /// The builder method.
        field: &'static str,
    },
    /// A credential cannot be sent (empty client id, or a bearer token that is not a valid
    /// header value).
    #[error("introspection credential {field} is not usable")]
    InvalidCredential {
        /// Which credential.
        field: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("introspection HTTP client: {reason}")]
    HttpClient {
        /// The underlying error.
        reason: String,
    },
}

/// Counters of an [`IntrospectionClient`], for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct IntrospectionStats {
    /// Introspection requests sent (whatever their outcome).
    pub requests: u64,
    /// Verifications answered from the cache.
    pub cache_hits: u64,
    /// Responses refused by the rules (inactive, wrong audience, expired…); never cached.
    pub refused: u64,
    /// Entries in the cache now.
    pub cache_size: usize,
}

/// Verifies opaque access tokens by RFC 7662 introspection; a [`TokenVerifier`] for
/// [`AccessTokenVerifier::opaque`](super::AccessTokenVerifier::opaque).
///
/// Cloning is cheap and shares the cache and the HTTP connection pool.
#[derive(Clone)]
pub struct IntrospectionClient {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    /// The `Authorization` header precomputed for [`ClientAuth::SecretBasic`] and
    /// [`ClientAuth::BearerToken`], the assertion minter for [`ClientAuth::PrivateKeyJwt`].
    auth: PreparedClientAuth,
    http: reqwest::Client,
    cache: Mutex<Cache>,
    requests: AtomicU64,
    cache_hits: AtomicU64,
    refused: AtomicU64,
}

/// Builds an [`IntrospectionClient`]; every default is the safe one.
#[derive(Debug, Clone)]
pub struct IntrospectionClientBuilder {
    settings: Settings,
    auth: Option<ClientAuth>,
    http: Option<reqwest::Client>,
}

#[derive(Debug, Clone)]
struct Settings {
    endpoint: Url,
    rules: IntrospectionRules,
    timeout: Duration,
    connect_timeout: Duration,
    max_response_bytes: usize,
    cache_max_entries: usize,
    cache_max_ttl_s: u64,
    allow_plain_http: bool,
}

impl IntrospectionClient {
    /// A builder for a client of the introspection `endpoint`, judging answers by `rules`.
    /// [`client_auth`](IntrospectionClientBuilder::client_auth) is required.
    ///
    /// ```
    /// use mcp_warden::secret::Secret;
    /// use mcp_warden::token::{
    ///     AccessTokenVerifier, ClientAuth, IntrospectionClient, IntrospectionConfigError,
    ///     IntrospectionRules, TokenVerifier,
    /// };
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let rules = IntrospectionRules::new(
    ///     "https://mcp.example.com/mcp",
    ///     vec!["https://as.example.com".into()],
    /// );
    /// let auth = ClientAuth::SecretBasic {
    ///     client_id: "mcp-server".into(),
    ///     secret: Secret::new("s3cr3t"),
    /// };
    /// let client = IntrospectionClient::builder("https://as.example.com/introspect".parse()?, rules.clone())
    ///     .client_auth(auth.clone())
    ///     .cache_max_ttl_s(60)
    ///     .build()?;
    /// // Opaque tokens go to introspection (JWTs would go to a JwtVerifier).
    /// let tokens = AccessTokenVerifier::new().opaque(client.clone());
    /// // Each request's token: `verify` POSTs it (RFC 7662 §2.1) unless cached. Not
    /// // awaited here, so nothing is sent.
    /// let _pending = tokens.verify("opaque-token", 1_764_288_000);
    /// assert_eq!(client.stats().requests, 0);
    /// assert!(!format!("{client:?}").contains("s3cr3t"));
    ///
    /// // Safe defaults: plain HTTP and missing client authentication are refused up front.
    /// let plain = IntrospectionClient::builder("http://as.example.com/introspect".parse()?, rules.clone())
    ///     .client_auth(auth)
    ///     .build();
    /// assert_eq!(plain.unwrap_err(), IntrospectionConfigError::PlainHttpEndpoint);
    /// let anonymous = IntrospectionClient::builder("https://as.example.com/introspect".parse()?, rules).build();
    /// assert_eq!(anonymous.unwrap_err(), IntrospectionConfigError::MissingClientAuth);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(endpoint: Url, rules: IntrospectionRules) -> IntrospectionClientBuilder {
        let settings = Settings {
            endpoint,
            rules,
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            max_response_bytes: 64 * 1024,
            cache_max_entries: 10_000,
            cache_max_ttl_s: 300,
            allow_plain_http: false,
        };
        IntrospectionClientBuilder {
            settings,
            auth: None,
            http: None,
        }
    }

    /// Requests sent, cache hits, refusals, and the cache's current size.
    pub fn stats(&self) -> IntrospectionStats {
        let inner = &self.inner;
        IntrospectionStats {
            requests: inner.requests.load(Ordering::Relaxed),
            cache_hits: inner.cache_hits.load(Ordering::Relaxed),
            refused: inner.refused.load(Ordering::Relaxed),
            cache_size: inner.cache().entries.len(),
        }
    }
}

impl fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("endpoint", &self.inner.settings.endpoint.as_str())
            .field("auth", self.inner.auth.auth())
            .field("rules", &self.inner.settings.rules)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl IntrospectionClientBuilder {
    /// How to authenticate to the endpoint. Required (RFC 7662 §2.1).
    pub fn client_auth(mut self, auth: ClientAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Bound on one whole introspection (connect, send, read the answer); default 5 s.
    /// Applies to a caller-provided client too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// Bound on establishing the connection; default 2 s. Applies only to the client this
    /// builder creates.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// Largest response body read, enforced while streaming; default 64 KiB. A real
    /// introspection answer is a few hundred bytes.
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.settings.max_response_bytes = bytes;
        self
    }

    /// Most cached positive answers; default 10 000. When full, the entries closest to
    /// expiry (then the oldest) are evicted, which only costs a request. 0 disables caching.
    pub fn cache_max_entries(mut self, entries: usize) -> Self {
        self.settings.cache_max_entries = entries;
        self
    }

    /// Longest a positive answer is reused, in seconds; default 300. An entry never
    /// outlives the token's `exp` either. This bounds how long a revoked token keeps
    /// working here; 0 disables caching.
    pub fn cache_max_ttl_s(mut self, seconds: u64) -> Self {
        self.settings.cache_max_ttl_s = seconds;
        self
    }

    /// Accepts an `http://` endpoint. Only for loopback tests: the token and the client
    /// credentials would cross the network in clear text.
    pub fn dangerous_allow_plain_http(mut self) -> Self {
        self.settings.allow_plain_http = true;
        self
    }

    /// Uses `client` instead of building one. Its redirect policy, HTTPS-only setting and
    /// connect timeout are the caller's; [`timeout`](Self::timeout) and the response cap
    /// still apply. The default client follows no redirects (so credentials are never
    /// re-sent elsewhere), is HTTPS-only, and sends `User-Agent: mcp-warden/<version>`.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<IntrospectionClient, IntrospectionConfigError> {
        let settings = self.settings;
        match settings.endpoint.scheme() {
            "https" => {}
            "http" if settings.allow_plain_http => {}
            "http" => return Err(IntrospectionConfigError::PlainHttpEndpoint),
            other => {
                let scheme = other.to_owned();
                return Err(IntrospectionConfigError::UnsupportedScheme { scheme });
            }
        }
        for (field, zero) in [
            ("timeout", settings.timeout.is_zero()),
            ("connect_timeout", settings.connect_timeout.is_zero()),
            ("max_response_bytes", settings.max_response_bytes == 0),
        ] {
            if zero {
                return Err(IntrospectionConfigError::ZeroValue { field });
            }
        }
        let auth = self
            .auth
            .ok_or(IntrospectionConfigError::MissingClientAuth)?;
        let auth = PreparedClientAuth::new(auth).map_err(config_error)?;
        let http = match self.http {
            Some(client) => client,
            None => crate::outbound::client(
                settings.timeout,
                settings.connect_timeout,
                settings.allow_plain_http,
            )
            .map_err(|e| IntrospectionConfigError::HttpClient {
                reason: e.to_string(),
            })?,
        };
        let cache = Mutex::new(Cache {
            max_entries: settings.cache_max_entries,
            max_ttl_s: settings.cache_max_ttl_s,
            entries: HashMap::new(),
            by_expiry: BTreeMap::new(),
            next_seq: 0,
        });
        let inner = Inner {
            settings,
            auth,
            http,
            cache,
            requests: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        };
        Ok(IntrospectionClient {
            inner: Arc::new(inner),
        })
    }
}

impl TokenVerifier for IntrospectionClient {
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> TokenFuture<'a> {
        Box::pin(self.inner.verify(token, now))
    }
}

impl Inner {
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // Every cache operation leaves both maps consistent before anything that could
        // panic, so a poisoned lock still guards a usable cache.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn verify(&self, token: &str, now: u64) -> Result<AccessToken, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLarge {
                len: token.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        let key = cache_key(token);
        if let Some(hit) = self.cache().get(&key, now) {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        // Two concurrent verifications of the same uncached token both introspect: that
        // costs one extra request and is otherwise harmless (both answers are checked and
        // the later insert replaces the earlier). Single-flight per token is a later
        // optimisation.
        self.requests.fetch_add(1, Ordering::Relaxed);
        let response =
            match tokio::time::timeout(self.settings.timeout, self.introspect(token, now)).await {
                Ok(response) => response?,
                Err(_) => {
                    tracing::warn!(endpoint = %self.settings.endpoint, "introspection timed out");
                    return Err(unavailable(IntrospectionFailure::Timeout));
                }
            };
        match self.settings.rules.check(response, now) {
            Ok(verified) => {
                self.cache().insert(key, &verified, now);
                Ok(verified)
            }
            // Refusals are not cached: junk tokens would otherwise fill the cache and
            // evict the real ones. They are counted instead.
            Err(refusal) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(refusal)
            }
        }
    }

    /// One RFC 7662 §2.1 request, returning the §2.2 response object unchecked.
    async fn introspect(&self, token: &str, now: u64) -> Result<Object, TokenError> {
        let mut form = vec![
            ("token", Cow::Borrowed(token)),
            ("token_type_hint", Cow::Borrowed("access_token")),
        ];
        let mut request = self
            .http
            .post(self.settings.endpoint.clone())
            .header(ACCEPT, "application/json");
        if let Some(value) = self.auth.authorization() {
            request = request.header(AUTHORIZATION, value.clone());
        }
        // RFC 6749 §2.3.1 `client_secret_post` fields, or an RFC 7523 §2.2 client assertion
        // minted for this request (its `aud` the endpoint unless configured, RFC 7523 §3).
        let fields = self
            .auth
            .form_fields(self.settings.endpoint.as_str(), now)
            .map_err(|e| unavailable(IntrospectionFailure::ClientAssertion(e)))?;
        form.extend(fields);
        let mut response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        // A caller-provided client may follow redirects; an answer from anywhere but the
        // configured endpoint is not the authorization server's word.
        if response.url() != &self.settings.endpoint {
            tracing::warn!(endpoint = %self.settings.endpoint, "introspection was redirected");
            return Err(unavailable(IntrospectionFailure::Redirected));
        }
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            // Our own credentials were refused: a configuration problem, not the token's.
            tracing::warn!(endpoint = %self.settings.endpoint, %status,
                "introspection endpoint refused the client credentials");
            return Err(unavailable(IntrospectionFailure::CredentialsRefused(
                status.as_u16(),
            )));
        }
        if status != StatusCode::OK {
            tracing::warn!(endpoint = %self.settings.endpoint, %status, "introspection failed");
            return Err(unavailable(IntrospectionFailure::Status(status.as_u16())));
        }
        let body = self.read_capped(&mut response).await?;
        // RFC 7662 §2.2: a JSON object; duplicate members would let two parsers disagree
        // about `active`, so they are refused.
        parse_object(&body).map_err(|e| unavailable(IntrospectionFailure::Parse(e)))
    }

    /// The body, refused as soon as it passes the cap (declared or streamed).
    async fn read_capped(&self, response: &mut reqwest::Response) -> Result<Vec<u8>, TokenError> {
        let max = self.settings.max_response_bytes;
        crate::outbound::read_capped(response, max)
            .await
            .map_err(|error| match error {
                ReadError::TooLarge => unavailable(IntrospectionFailure::TooLarge { max }),
                ReadError::Transport(error) => self.transport_error(&error),
            })
    }

    fn transport_error(&self, error: &reqwest::Error) -> TokenError {
        // The error text may name the endpoint but never holds the body we sent.
        tracing::warn!(endpoint = %self.settings.endpoint, %error, "introspection request failed");
        unavailable(if error.is_timeout() {
            IntrospectionFailure::Timeout
        } else if error.is_connect() {
            IntrospectionFailure::Connect
        } else {
            IntrospectionFailure::Transport
        })
    }
}

fn unavailable(failure: IntrospectionFailure) -> TokenError {
    TokenError::Unavailable(UnavailableCause::Introspection(failure))
}

/// SHA-256 of the token: the cache never holds the token itself.
fn cache_key(token: &str) -> CacheKey {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut key = [0; 32];
    // A SHA-256 digest is always 32 bytes, so the lengths match.
    key.copy_from_slice(digest.as_ref());
    key
}

/// A credential [`PreparedClientAuth`] refused, named as this builder's error.
fn config_error(error: ClientAuthError) -> IntrospectionConfigError {
    match error {
        ClientAuthError::InvalidCredential { field } => {
            IntrospectionConfigError::InvalidCredential { field }
        }
    }
}

type CacheKey = [u8; 32];

/// Positive answers, bounded in count and lifetime.
struct Cache {
    max_entries: usize,
    max_ttl_s: u64,
    entries: HashMap<CacheKey, Entry>,
    /// (valid until, insertion order) → key: eviction order, expired entries first.
    by_expiry: BTreeMap<(u64, u64), CacheKey>,
    next_seq: u64,
}

struct Entry {
    token: AccessToken,
    until: u64,
    seq: u64,
}

impl Cache {
    /// The cached token if still valid at `now`. Past its end the entry is dropped, and
    /// the caller asks the authorization server again: the cache holds no negative
    /// verdicts, so the endpoint's answer (checked by the rules at `now`) decides.
    fn get(&mut self, key: &CacheKey, now: u64) -> Option<AccessToken> {
        let entry = self.entries.get(key)?;
        if now < entry.until {
            return Some(entry.token.clone());
        }
        self.remove(key);
        None
    }

    /// Keeps `token` until `min(exp, now + max_ttl_s)`: never past `exp`, so a cached
    /// token cannot outlive its lifetime, and never longer than the TTL, which bounds how
    /// long a revocation goes unseen.
    fn insert(&mut self, key: CacheKey, token: &AccessToken, now: u64) {
        let until = token.expires_at().min(now.saturating_add(self.max_ttl_s));
        if self.max_entries == 0 || until <= now {
            return;
        }
        self.remove(&key);
        // Expired entries sort first (their `until` is ≤ now), then the closest to expiry,
        // then the oldest: evicting any of them only costs a request later.
        while self.entries.len() >= self.max_entries {
            let Some((_, victim)) = self.by_expiry.pop_first() else {
                break;
            };
            self.entries.remove(&victim);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_expiry.insert((until, seq), key);
        let token = token.clone();
        self.entries.insert(key, Entry { token, until, seq });
    }

    fn remove(&mut self, key: &CacheKey) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_expiry.remove(&(entry.until, entry.seq));
        }
    }
}
