//! Tokens from the Kubernetes TokenRequest API (`authentication.k8s.io/v1`, the
//! `serviceaccounts/token` subresource), for pods that have no projected token volume:
//!
//! ```text
//! POST {api}/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token
//! {"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest",
//!  "spec":{"audiences":[aud],"expirationSeconds":N}}
//! ```
//!
//! answered with `status.token` and `status.expirationTimestamp` (RFC 3339). The call is
//! authenticated with the pod's own service-account token (re-read on every call: the
//! kubelet rotates it) and the API server is trusted through the cluster CA file, both from
//! the standard in-cluster mount `/var/run/secrets/kubernetes.io/serviceaccount/`. The
//! pod's service account needs RBAC `create` on `serviceaccounts/token` for the target
//! account.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::clock::{Clock, SystemClock};

use super::cache::TokenCache;
use super::cached::{self, cached_source, name_only_debug, setters};
use super::detect::Environment;
use super::error::SourceError;
use super::file::read_bounded;
use super::http::{self, DEFAULT_TIMEOUT};
use super::rfc3339;
use super::token::WorkloadToken;

/// The in-cluster service-account mount.
const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The API server inside every cluster, when `KUBERNETES_SERVICE_HOST` is not known.
const DEFAULT_API_SERVER: &str = "https://kubernetes.default.svc";

/// The shortest lifetime the API server accepts (`expirationSeconds` ≥ 600).
const MIN_EXPIRATION_SECONDS: u32 = 600;

/// Tokens minted by the Kubernetes TokenRequest API, cached until 80 % of their lifetime.
pub struct KubernetesTokenRequest {
    name: Arc<str>,
    client: reqwest::Client,
    url: Url,
    body: Vec<u8>,
    token_file: PathBuf,
    timeout: Duration,
    cache: TokenCache,
}

impl KubernetesTokenRequest {
    /// A builder; the service account and the audience are required.
    pub fn builder() -> KubernetesTokenRequestBuilder {
        KubernetesTokenRequestBuilder {
            api_server: None,
            namespace: None,
            service_account: None,
            audience: None,
            expiration_seconds: 3600,
            token_file: PathBuf::from(SERVICE_ACCOUNT_DIR).join("token"),
            ca_file: PathBuf::from(SERVICE_ACCOUNT_DIR).join("ca.crt"),
            allow_plain_http: false,
            timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(SystemClock),
        }
    }

    async fn fetch_uncached(&self) -> Result<WorkloadToken, SourceError> {
        let own = read_bounded(&self.name, &self.token_file).await?;
        let own = std::str::from_utf8(&own)
            .map(str::trim)
            .ok()
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                SourceError::config(&self.name, "token_file", "holds no service-account token")
            })?;
        let request = self
            .client
            .post(self.url.clone())
            .header(
                reqwest::header::AUTHORIZATION,
                http::bearer(&self.name, own)?,
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(self.body.clone());
        #[derive(serde::Deserialize)]
        struct Answer {
            status: Status,
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Status {
            token: String,
            expiration_timestamp: String,
        }
        let answer: Answer = http::exchange_json(
            &self.name,
            request,
            self.timeout,
            "no status.token and status.expirationTimestamp strings",
        )
        .await?;
        let expires_at = rfc3339::parse(&answer.status.expiration_timestamp).ok_or_else(|| {
            SourceError::InvalidResponse {
                name: self.name.to_string(),
                reason: "status.expirationTimestamp is not an RFC 3339 date-time",
            }
        })?;
        Ok(
            WorkloadToken::parse(answer.status.token.as_bytes(), &self.name)?
                .expiring_no_later_than(expires_at),
        )
    }
}

cached_source!(KubernetesTokenRequest);

/// Configuration of a [`KubernetesTokenRequest`] source.
///
/// ```no_run
/// use mcp_warden::workload::{KubernetesTokenRequest, ProcessEnvironment};
///
/// // Inside a pod: API server from KUBERNETES_SERVICE_HOST/PORT, namespace from the
/// // service-account mount, token and CA from there too.
/// let source = KubernetesTokenRequest::builder()
///     .environment(&ProcessEnvironment)
///     .service_account("mcp-agent")
///     .audience("https://as.example.com")
///     .build()?;
/// # Ok::<(), mcp_warden::workload::SourceError>(())
/// ```
#[must_use]
pub struct KubernetesTokenRequestBuilder {
    api_server: Option<String>,
    namespace: Option<String>,
    service_account: Option<String>,
    audience: Option<String>,
    expiration_seconds: u32,
    token_file: PathBuf,
    ca_file: PathBuf,
    allow_plain_http: bool,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl KubernetesTokenRequestBuilder {
    /// The API server's base URL; `https://kubernetes.default.svc` unless set or found by
    /// [`environment`](Self::environment).
    pub fn api_server(mut self, url: impl Into<String>) -> Self {
        self.api_server = Some(url.into());
        self
    }

    /// Takes the API server from `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`
    /// (what the kubelet sets in every container), unless [`api_server`](Self::api_server)
    /// is set.
    pub fn environment(mut self, env: &dyn Environment) -> Self {
        if self.api_server.is_none()
            && let Some(host) = env.var("KUBERNETES_SERVICE_HOST")
        {
            let port = env
                .var("KUBERNETES_SERVICE_PORT")
                .unwrap_or_else(|| "443".into());
            // An IPv6 host needs brackets in a URL.
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            self.api_server = Some(format!("https://{host}:{port}"));
        }
        self
    }

    /// The namespace of the service account; read from the in-cluster mount's `namespace`
    /// file unless set.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The service account to mint a token for. Required.
    pub fn service_account(mut self, name: impl Into<String>) -> Self {
        self.service_account = Some(name.into());
        self
    }

    /// The token's audience (`spec.audiences`): the authorization server. Required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The requested lifetime (`spec.expirationSeconds`): 3600 unless set, at least 600.
    /// The API server may shorten it; `status.expirationTimestamp` is what counts.
    pub fn expiration_seconds(mut self, seconds: u32) -> Self {
        self.expiration_seconds = seconds;
        self
    }

    /// The pod's own service-account token, sent as the bearer; read on every request.
    pub fn token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = path.into();
        self
    }

    /// The cluster CA bundle (PEM) the API server's certificate must chain to; read once,
    /// at build.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = path.into();
        self
    }

    setters! {
        /// DANGEROUS — tests only: allows a plain-http API server, which would send the pod's
        /// service-account token and the minted token in the clear. No CA file is read then.
        dangerous_allow_plain_http;
        /// Timeout of one request (10 s unless set).
        timeout;
        /// The clock the cache reads (the system clock unless set).
        clock;
    }

    /// Checks the configuration, reads the namespace (when not set) and the CA file (for
    /// https), and builds the source.
    pub fn build(self) -> Result<KubernetesTokenRequest, SourceError> {
        const KIND: &str = "Kubernetes TokenRequest";
        let service_account = self
            .service_account
            .ok_or_else(|| SourceError::config(KIND, "service_account", "is required"))?;
        let namespace = match self.namespace {
            Some(namespace) => namespace,
            None => {
                let path = PathBuf::from(SERVICE_ACCOUNT_DIR).join("namespace");
                std::fs::read_to_string(&path)
                    .map_err(|error| SourceError::file(KIND, &path, &error))?
                    .trim()
                    .to_owned()
            }
        };
        for (field, value) in [
            ("namespace", &namespace),
            ("service_account", &service_account),
        ] {
            if !is_dns_subdomain(value) {
                return Err(SourceError::config(
                    KIND,
                    field,
                    "is not a Kubernetes object name",
                ));
            }
        }
        let name: Arc<str> = Arc::from(format!("{KIND} {namespace}/{service_account}"));
        let audience = cached::audience(&name, self.audience)?;
        if self.expiration_seconds < MIN_EXPIRATION_SECONDS {
            return Err(SourceError::config(
                &name,
                "expiration_seconds",
                "is below 600",
            ));
        }
        let base = self.api_server.as_deref().unwrap_or(DEFAULT_API_SERVER);
        let mut url = http::endpoint(&name, "api_server", base, self.allow_plain_http)?;
        url.set_query(None);
        url.path_segments_mut()
            .map_err(|_| SourceError::config(&name, "api_server", "cannot hold a path"))?
            .pop_if_empty()
            .extend(["api", "v1", "namespaces", &namespace])
            .extend(["serviceaccounts", &service_account, "token"]);
        let roots = if url.scheme() == "https" {
            let pem = std::fs::read(&self.ca_file)
                .map_err(|error| SourceError::file(&name, &self.ca_file, &error))?;
            reqwest::Certificate::from_pem_bundle(&pem)
                .ok()
                .filter(|roots| !roots.is_empty())
                .ok_or_else(|| SourceError::config(&name, "ca_file", "holds no PEM certificate"))?
        } else {
            Vec::new()
        };
        let body = serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"audiences": [audience], "expirationSeconds": self.expiration_seconds},
        });
        Ok(KubernetesTokenRequest {
            client: http::client(&name, self.timeout, self.allow_plain_http, roots)?,
            name,
            url,
            body: body.to_string().into_bytes(),
            token_file: self.token_file,
            timeout: self.timeout,
            cache: TokenCache::new(self.clock),
        })
    }
}

/// A DNS-1123 subdomain, the rule for namespace and service-account names: at most 253
/// lowercase alphanumerics, `-` and `.`, starting and ending alphanumeric.
fn is_dns_subdomain(name: &str) -> bool {
    let alphanumeric = |byte: &u8| byte.is_ascii_lowercase() || byte.is_ascii_digit();
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|byte| alphanumeric(&byte) || byte == b'-' || byte == b'.')
        && name.as_bytes().first().is_some_and(alphanumeric)
        && name.as_bytes().last().is_some_and(alphanumeric)
}

name_only_debug!(KubernetesTokenRequest);
