//! The connection to the upstream MCP server: hyper's pooled client over plain TCP or
//! rustls (aws-lc-rs), with the sidecar's connect, first-byte and idle timeouts.
//!
//! The proxy used to forward through reqwest. reqwest is built for calling APIs: per
//! request it parses the URL twice, runs a redirect policy and a retry layer, and wraps the
//! body twice — about 49k instructions of a proxied request's 120k (docs/performance.md).
//! A proxy needs none of that: the upstream is one fixed origin, redirects are passed to
//! the client rather than followed, and the request URI is assembled from parts already
//! parsed. reqwest stays for the JWKS, discovery and introspection calls, where it fits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::Sleep;
use tokio_rustls::rustls;

/// A request body on its way to the upstream.
pub type OutboundBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Why the upstream client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamClientError {
    /// The URL is not `http://` or `https://` with a host.
    #[error("upstream url must be http:// or https:// with a host: {0}")]
    Url(String),
    /// `ca_file` holds no usable PEM certificate.
    #[error("ca_file: {0}")]
    Roots(String),
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// The pooled client for one upstream origin. Cheap to clone.
#[derive(Clone)]
pub struct UpstreamClient {
    client: Client<HttpsConnector<HttpConnector>, OutboundBody>,
    scheme: Scheme,
    authority: Authority,
    /// The upstream URL's path without its trailing `/`, prefixed to every request path;
    /// empty for an upstream at the root, the common case, which then costs nothing.
    base_path: String,
    idle_timeout: Duration,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field(
                "origin",
                &format_args!("{}://{}", self.scheme, self.authority),
            )
            .field("base_path", &self.base_path)
            .finish_non_exhaustive()
    }
}

/// What [`UpstreamClient::new`] needs.
#[derive(Debug, Clone)]
pub struct ClientSettings<'a> {
    /// The upstream's base URL.
    pub url: &'a url::Url,
    /// Speak HTTP/2 without negotiation (h2c, or h2 over TLS without ALPN fallback).
    pub http2_prior_knowledge: bool,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed between two frames of a response body.
    pub idle_timeout: Duration,
    /// Extra PEM roots trusted for an https upstream, besides the platform's.
    pub extra_roots_pem: Option<&'a [u8]>,
}

impl UpstreamClient {
    /// A client for `settings.url`'s origin.
    pub fn new(settings: &ClientSettings<'_>) -> Result<Self, UpstreamClientError> {
        let url = settings.url;
        let scheme = match url.scheme() {
            "http" => Scheme::HTTP,
            "https" => Scheme::HTTPS,
            other => return Err(UpstreamClientError::Url(format!("scheme {other}"))),
        };
        let host = url
            .host_str()
            .ok_or_else(|| UpstreamClientError::Url(url.to_string()))?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let authority = Authority::try_from(authority)
            .map_err(|e| UpstreamClientError::Url(format!("{url}: {e}")))?;

        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(settings.connect_timeout));
        let tls = tls_config(scheme == Scheme::HTTPS, settings.extra_roots_pem)?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);

        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE)
            .http2_only(settings.http2_prior_knowledge);
        Ok(UpstreamClient {
            client: builder.build(connector),
            scheme,
            authority,
            base_path: url.path().trim_end_matches('/').to_owned(),
            idle_timeout: settings.idle_timeout,
        })
    }

    /// The upstream URI for a request's path and query: the upstream's origin, its base
    /// path, then the request's path and query unchanged; `None` if the result is not a
    /// valid URI.
    pub fn target(&self, request: &Uri) -> Option<Uri> {
        let path_and_query = match request.path_and_query() {
            Some(path_and_query) if self.base_path.is_empty() => path_and_query.clone(),
            Some(path_and_query) => {
                PathAndQuery::try_from(format!("{}{}", self.base_path, path_and_query)).ok()?
            }
            None if self.base_path.is_empty() => PathAndQuery::from_static("/"),
            None => PathAndQuery::try_from(format!("{}/", self.base_path)).ok()?,
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).ok()
    }

    /// Sends `request` (its URI already from [`UpstreamClient::target`]); the response body
    /// fails with [`IdleTimeout`] when the upstream pauses longer than the idle timeout.
    pub fn send(
        &self,
        request: Request<OutboundBody>,
    ) -> impl Future<Output = Result<Response<UpstreamBody>, hyper_util::client::legacy::Error>>
    + Send
    + 'static {
        let idle_timeout = self.idle_timeout;
        let sent = self.client.request(request);
        async move {
            let response = sent.await?;
            Ok(response.map(|body| UpstreamBody::new(body, idle_timeout)))
        }
    }
}

/// rustls for an https upstream: the platform's roots plus `ca_file`'s. A plain-http
/// upstream gets a configuration that trusts nothing, so no root store is ever loaded for it
/// (the connector is the same type either way, and never starts TLS for `http://`).
fn tls_config(
    https: bool,
    extra_roots_pem: Option<&[u8]>,
) -> Result<rustls::ClientConfig, UpstreamClientError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    if !https {
        return Ok(builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth());
    }
    let extra = match extra_roots_pem {
        None => Vec::new(),
        Some(pem) => {
            let roots = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| UpstreamClientError::Roots(e.to_string()))?;
            if roots.is_empty() {
                return Err(UpstreamClientError::Roots(
                    "no CERTIFICATE block found".into(),
                ));
            }
            roots
        }
    };
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)?;
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The upstream paused longer than `idle_timeout` between two frames of a response body.
#[derive(Debug, thiserror::Error)]
#[error("upstream response body idle for longer than the idle timeout")]
pub struct IdleTimeout;

/// Why a response body from the upstream ended early.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamBodyError {
    /// The connection failed or the upstream sent a malformed body.
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
    /// See [`IdleTimeout`].
    #[error(transparent)]
    Idle(#[from] IdleTimeout),
}

/// A response body from the upstream, streamed frame by frame, that fails when the
/// upstream goes quiet for longer than the idle timeout. An SSE stream stays open as long
/// as events or keep-alive comments keep coming.
pub struct UpstreamBody {
    inner: Incoming,
    idle_timeout: Duration,
    /// Created on the first wait and re-armed after each frame, so a body that is ready
    /// at once (the common JSON answer) never allocates a timer.
    timer: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl UpstreamBody {
    fn new(inner: Incoming, idle_timeout: Duration) -> Self {
        UpstreamBody {
            inner,
            idle_timeout,
            timer: None,
            armed: false,
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = UpstreamBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame.map(|frame| frame.map_err(UpstreamBodyError::from)));
        }
        let idle_timeout = this.idle_timeout;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle_timeout)));
        if !this.armed {
            timer
                .as_mut()
                .reset(tokio::time::Instant::now() + idle_timeout);
            this.armed = true;
        }
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(IdleTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
