//! The GCP metadata server's identity token (Google Cloud docs, "Verifying the identity of
//! instances" and "About the VM metadata server"): `GET
//! {base}/computeMetadata/v1/instance/service-accounts/{account}/identity?audience=AUD&format=full`
//! with `Metadata-Flavor: Google`; the body is the JWT. GKE Workload Identity serves the
//! same endpoint to pods.
//!
//! The metadata server speaks plain http by design (a link-local address no one else can
//! answer on a real VM), so this source allows http. It requires `Metadata-Flavor: Google` on
//! the answer too, as Google's client libraries do: a proxy or captive portal answering for
//! `metadata.google.internal` is refused rather than believed. The base URL is overridable,
//! and `GCE_METADATA_HOST` (host and port, as Google's libraries read it) moves it as well.

use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::clock::{Clock, SystemClock};

use super::MAX_TOKEN_BYTES;
use super::cache::TokenCache;
use super::cached::{self, cached_source, name_only_debug, setters};
use super::detect::Environment;
use super::error::SourceError;
use super::http::{self, DEFAULT_TIMEOUT};
use super::token::WorkloadToken;

/// The environment variable that moves the metadata server (`host[:port]`, no scheme).
pub const GCE_METADATA_HOST: &str = "GCE_METADATA_HOST";

/// The metadata server's header field and value, on the request and on the answer.
const FLAVOR: (&str, &str) = ("metadata-flavor", "Google");

/// Identity tokens from the GCP metadata server, cached until 80 % of their lifetime.
///
/// ```
/// use mcp_warden::workload::{GcpMetadata, TokenSource};
///
/// let source = GcpMetadata::builder().audience("https://as.example.com").build()?;
/// assert_eq!(source.name(), "GCP metadata server http://metadata.google.internal/");
/// # Ok::<(), mcp_warden::workload::SourceError>(())
/// ```
pub struct GcpMetadata {
    name: Arc<str>,
    client: reqwest::Client,
    url: Url,
    timeout: Duration,
    cache: TokenCache,
}

impl GcpMetadata {
    /// The metadata server's address on every GCP VM.
    pub const DEFAULT_BASE_URL: &'static str = "http://metadata.google.internal";

    /// A builder; [`GcpMetadataBuilder::audience`] is required.
    pub fn builder() -> GcpMetadataBuilder {
        GcpMetadataBuilder {
            audience: None,
            base_url: None,
            metadata_host: None,
            service_account: "default".to_owned(),
            timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }

    async fn fetch_uncached(&self) -> Result<WorkloadToken, SourceError> {
        let request = self.client.get(self.url.clone()).header(FLAVOR.0, FLAVOR.1);
        let (headers, body) =
            http::exchange(&self.name, request, self.timeout, MAX_TOKEN_BYTES).await?;
        if headers.get(FLAVOR.0).is_none_or(|value| value != FLAVOR.1) {
            return Err(SourceError::InvalidResponse {
                name: self.name.to_string(),
                reason: "no Metadata-Flavor: Google on the answer (not a metadata server)",
            });
        }
        WorkloadToken::parse(&body, &self.name)
    }
}

cached_source!(GcpMetadata);

/// Configuration of a [`GcpMetadata`] source.
#[must_use]
pub struct GcpMetadataBuilder {
    audience: Option<String>,
    base_url: Option<String>,
    metadata_host: Option<String>,
    service_account: String,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl GcpMetadataBuilder {
    /// The token's `aud`: the authorization server that will receive it. Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The metadata server's base URL (http or https), instead of
    /// [`GcpMetadata::DEFAULT_BASE_URL`] or `GCE_METADATA_HOST`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Reads `GCE_METADATA_HOST` from `env`: when set, the server is `http://{value}`
    /// (unless [`base_url`](Self::base_url) is set, which wins).
    pub fn environment(mut self, env: &dyn Environment) -> Self {
        self.metadata_host = env.var(GCE_METADATA_HOST);
        self
    }

    /// The service account (email) whose identity is asked for; `default` unless set.
    pub fn service_account(mut self, account: impl Into<String>) -> Self {
        self.service_account = account.into();
        self
    }

    setters! {
        /// Timeout of one request (10 s unless set).
        timeout;
        /// The clock the cache reads (the system clock unless set).
        clock;
    }

    /// Checks the configuration and builds the source.
    pub fn build(self) -> Result<GcpMetadata, SourceError> {
        let base = match (&self.base_url, &self.metadata_host) {
            (Some(url), _) => url.clone(),
            (None, Some(host)) => format!("http://{host}"),
            (None, None) => GcpMetadata::DEFAULT_BASE_URL.to_owned(),
        };
        let mut url = http::endpoint("GCP metadata server", "base_url", &base, true)?;
        let name: Arc<str> = Arc::from(format!("GCP metadata server {url}"));
        let audience = cached::audience(&name, self.audience)?;
        if self.service_account.is_empty() || self.service_account.contains('/') {
            return Err(SourceError::config(
                &name,
                "service_account",
                "is not an account name",
            ));
        }
        url.set_query(None);
        url.path_segments_mut()
            .map_err(|_| SourceError::config(&name, "base_url", "cannot hold a path"))?
            .pop_if_empty()
            .extend([
                "computeMetadata",
                "v1",
                "instance",
                "service-accounts",
                &self.service_account,
                "identity",
            ]);
        url.query_pairs_mut()
            .append_pair("audience", &audience)
            .append_pair("format", "full");
        Ok(GcpMetadata {
            client: http::client(&name, self.timeout, true, Vec::new())?,
            name,
            url,
            timeout: self.timeout,
            cache: TokenCache::new(self.clock),
        })
    }
}

name_only_debug!(GcpMetadata);
