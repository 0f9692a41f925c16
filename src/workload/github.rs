//! GitHub Actions OIDC tokens (GitHub docs, "About security hardening with OpenID Connect"
//! and the `@actions/core` `getIDToken` protocol): `GET $ACTIONS_ID_TOKEN_REQUEST_URL` with
//! `audience=AUD` added to its query and `Authorization: Bearer
//! $ACTIONS_ID_TOKEN_REQUEST_TOKEN`; the answer is `{"value": "<jwt>"}`.
//!
//! The runner sets both variables only for jobs granted `permissions: id-token: write`.
//! The request URL already carries a query (`api-version=…`), so the audience is appended
//! as a query pair, percent-encoded, with `&` or `?` as the URL needs. The audience is
//! required here although GitHub has a default: a token restricted to the one authorization
//! server that exchanges it cannot be replayed at another service trusting GitHub.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::clock::{Clock, SystemClock};
use crate::secret::Secret;

use super::cache::TokenCache;
use super::cached::{self, cached_source, name_only_debug, setters};
use super::detect::Environment;
use super::error::SourceError;
use super::http::{self, DEFAULT_TIMEOUT};
use super::token::WorkloadToken;

/// The environment variable holding the runner's token request URL.
pub const ACTIONS_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";

/// The environment variable holding the bearer token for that request.
pub const ACTIONS_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

const NAME: &str = "GitHub Actions OIDC";

/// GitHub Actions OIDC tokens, cached until 80 % of their lifetime.
///
/// ```
/// use mcp_warden::workload::{GithubActions, StaticEnvironment, TokenSource};
///
/// let env = StaticEnvironment::new()
///     .var("ACTIONS_ID_TOKEN_REQUEST_URL", "https://pipelines.example/idtoken?api-version=2.0")
///     .var("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-token");
/// let source = GithubActions::builder().environment(&env).audience("https://as.example.com").build()?;
/// assert_eq!(source.name(), "GitHub Actions OIDC pipelines.example");
/// # Ok::<(), mcp_warden::workload::SourceError>(())
/// ```
pub struct GithubActions {
    name: Arc<str>,
    client: reqwest::Client,
    url: Url,
    request_token: Secret,
    timeout: Duration,
    cache: TokenCache,
}

impl GithubActions {
    /// A builder: the request URL and token (or [`GithubActionsBuilder::environment`]) and
    /// the audience are required.
    pub fn builder() -> GithubActionsBuilder {
        GithubActionsBuilder {
            request_url: None,
            request_token: None,
            audience: None,
            allow_plain_http: false,
            timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }

    async fn fetch_uncached(&self) -> Result<WorkloadToken, SourceError> {
        let request = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                reqwest::header::AUTHORIZATION,
                http::bearer(&self.name, self.request_token.expose())?,
            );
        #[derive(serde::Deserialize)]
        struct Answer {
            value: String,
        }
        let answer: Answer = http::exchange_json(
            &self.name,
            request,
            self.timeout,
            "not a JSON object with a string member \"value\"",
        )
        .await?;
        WorkloadToken::parse(answer.value.as_bytes(), &self.name)
    }
}

cached_source!(GithubActions);

/// Configuration of a [`GithubActions`] source.
#[must_use]
pub struct GithubActionsBuilder {
    request_url: Option<String>,
    request_token: Option<Secret>,
    audience: Option<String>,
    allow_plain_http: bool,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl GithubActionsBuilder {
    /// Takes the request URL and token from `ACTIONS_ID_TOKEN_REQUEST_URL` and
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN` in `env`, where set.
    pub fn environment(mut self, env: &dyn Environment) -> Self {
        if let Some(url) = env.var(ACTIONS_ID_TOKEN_REQUEST_URL) {
            self.request_url = Some(url);
        }
        if let Some(token) = env.var(ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
            self.request_token = Some(Secret::new(token));
        }
        self
    }

    /// The token request URL (`ACTIONS_ID_TOKEN_REQUEST_URL`).
    pub fn request_url(mut self, url: impl Into<String>) -> Self {
        self.request_url = Some(url.into());
        self
    }

    /// The bearer token for the request (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub fn request_token(mut self, token: Secret) -> Self {
        self.request_token = Some(token);
        self
    }

    /// The token's `aud`: the authorization server that will receive it. Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    setters! {
        /// DANGEROUS — tests only: allows a plain-http request URL, which would send the
        /// runner's request token in the clear. GitHub's endpoint is always https.
        dangerous_allow_plain_http;
        /// Timeout of one request (10 s unless set).
        timeout;
        /// The clock the cache reads (the system clock unless set).
        clock;
    }

    /// Checks the configuration and builds the source.
    pub fn build(self) -> Result<GithubActions, SourceError> {
        let missing = |var| SourceError::EnvMissing {
            name: NAME.to_owned(),
            var,
        };
        let url = self
            .request_url
            .filter(|url| !url.is_empty())
            .ok_or_else(|| missing(ACTIONS_ID_TOKEN_REQUEST_URL))?;
        let request_token = self
            .request_token
            .filter(|token| !token.expose().is_empty())
            .ok_or_else(|| missing(ACTIONS_ID_TOKEN_REQUEST_TOKEN))?;
        let mut url = http::endpoint(NAME, "request_url", &url, self.allow_plain_http)?;
        let name: Arc<str> = Arc::from(format!("{NAME} {}", url.host_str().unwrap_or_default()));
        let audience = cached::audience(&name, self.audience)?;
        url.query_pairs_mut().append_pair("audience", &audience);
        Ok(GithubActions {
            client: http::client(&name, self.timeout, self.allow_plain_http, Vec::new())?,
            name,
            url,
            request_token,
            timeout: self.timeout,
            cache: TokenCache::new(self.clock),
        })
    }
}

name_only_debug!(GithubActions);
