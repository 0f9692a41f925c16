//! The connection to the upstream MCP server: a pool of hyper connections to its one
//! origin, over plain TCP or rustls (aws-lc-rs), with the sidecar's connect, first-byte and
//! idle timeouts.
//!
//! The proxy first forwarded through reqwest, then through hyper-util's general-purpose
//! pooled client. Both are built for many origins: per request the general pool hashes a
//! pool key, locks a shared map, and spawns a task that waits for the connection to become
//! ready again before it is returned — a task per exchange on top of the two connection
//! tasks. An upstream of a sidecar is one fixed origin, so the pool here is a stack of idle
//! HTTP/1.1 senders (most recently used first, so a few connections stay hot) and at most
//! one shared HTTP/2 sender; a sender goes back on the stack when the response body ends,
//! with no task, and is awaited ready when it is taken. A body that never ends (an SSE
//! stream) holds its connection until the stream or the client goes away; a body cut short
//! takes its connection down with it, since the connection is mid-response.
//! `docs/performance.md` has what each step saved.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::{TlsConnector, rustls};

/// A request body on its way to the upstream.
pub type OutboundBody = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// How long an idle pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Idle HTTP/1.1 connections kept at most; more are closed when they come back. The
/// listener's `max_connections` (1024 by default) bounds how many are ever open at once.
const MAX_IDLE: usize = 1024;

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

/// Why a request did not get a response head from the upstream.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The TCP connection (and TLS handshake) did not complete within `connect_timeout`.
    #[error("connecting to the upstream timed out")]
    ConnectTimeout,
    /// The TCP connection failed (refused, unreachable, name not resolved).
    #[error("connecting to the upstream: {0}")]
    Connect(#[source] std::io::Error),
    /// The TLS handshake failed (an untrusted certificate, among others).
    #[error("TLS handshake with the upstream: {0}")]
    Tls(#[source] std::io::Error),
    /// The HTTP/1.1 or HTTP/2 connection could not be set up.
    #[error("HTTP handshake with the upstream: {0}")]
    Handshake(#[source] hyper::Error),
    /// The request could not be sent or the response head not read; the request body's
    /// own error (such as the size limit) is among the causes.
    #[error("exchange with the upstream: {0}")]
    Exchange(#[source] hyper::Error),
}

/// The pooled client for one upstream origin. Cheap to clone.
#[derive(Clone)]
pub struct UpstreamClient {
    inner: Arc<ClientInner>,
}

struct ClientInner {
    scheme: Scheme,
    authority: Authority,
    /// `Host` of every HTTP/1.1 request (the proxy removes the client's).
    host_header: HeaderValue,
    /// Where to connect: the URL's host without IPv6 brackets, and its port.
    connect_host: String,
    port: u16,
    /// TLS for an https upstream, with the name its certificate must carry.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    http2_prior_knowledge: bool,
    /// The upstream URL's path without its trailing `/`, prefixed to every request path;
    /// empty for an upstream at the root, the common case, which then costs nothing.
    base_path: String,
    connect_timeout: Duration,
    idle_timeout: Duration,
    pool: Pool,
}

impl std::fmt::Debug for UpstreamClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamClient")
            .field(
                "origin",
                &format_args!("{}://{}", self.inner.scheme, self.inner.authority),
            )
            .field("base_path", &self.inner.base_path)
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
    /// Time allowed to connect (TCP and TLS).
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
        let port = url
            .port_or_known_default()
            .ok_or_else(|| UpstreamClientError::Url(url.to_string()))?;
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let authority = Authority::try_from(authority)
            .map_err(|e| UpstreamClientError::Url(format!("{url}: {e}")))?;
        let host_header = HeaderValue::from_str(authority.as_str())
            .map_err(|e| UpstreamClientError::Url(format!("{url}: {e}")))?;
        let connect_host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls = if scheme == Scheme::HTTPS {
            let mut config = tls_config(settings.extra_roots_pem)?;
            // RFC 7301 ALPN: h2 where the upstream offers it; h2 only with prior knowledge.
            config.alpn_protocols = if settings.http2_prior_knowledge {
                vec![b"h2".to_vec()]
            } else {
                vec![b"h2".to_vec(), b"http/1.1".to_vec()]
            };
            let name = ServerName::try_from(connect_host.clone())
                .map_err(|e| UpstreamClientError::Url(format!("{url}: {e}")))?;
            Some((TlsConnector::from(Arc::new(config)), name))
        } else {
            None
        };
        Ok(UpstreamClient {
            inner: Arc::new(ClientInner {
                scheme,
                authority,
                host_header,
                connect_host,
                port,
                tls,
                http2_prior_knowledge: settings.http2_prior_knowledge,
                base_path: url.path().trim_end_matches('/').to_owned(),
                connect_timeout: settings.connect_timeout,
                idle_timeout: settings.idle_timeout,
                pool: Pool::default(),
            }),
        })
    }

    /// The upstream URI for a request's path and query: the upstream's origin, its base
    /// path, then the request's path and query unchanged; `None` if the result is not a
    /// valid URI.
    pub fn target(&self, request: &Uri) -> Option<Uri> {
        let inner = &self.inner;
        let path_and_query = match request.path_and_query() {
            Some(path_and_query) if inner.base_path.is_empty() => path_and_query.clone(),
            Some(path_and_query) => {
                PathAndQuery::try_from(format!("{}{}", inner.base_path, path_and_query)).ok()?
            }
            None if inner.base_path.is_empty() => PathAndQuery::from_static("/"),
            None => PathAndQuery::try_from(format!("{}/", inner.base_path)).ok()?,
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(inner.scheme.clone());
        parts.authority = Some(inner.authority.clone());
        parts.path_and_query = Some(path_and_query);
        Uri::from_parts(parts).ok()
    }

    /// Sends `request` (its URI already from [`UpstreamClient::target`]); the response body
    /// fails with [`IdleTimeout`] when the upstream pauses longer than the idle timeout.
    pub fn send(
        &self,
        request: Request<OutboundBody>,
    ) -> impl Future<Output = Result<Response<UpstreamBody>, SendError>> + Send + 'static {
        let inner = self.inner.clone();
        async move { ClientInner::send(inner, request).await }
    }
}

/// A sender taken from the pool or freshly connected.
enum Sender {
    Http1 {
        sender: http1::SendRequest<OutboundBody>,
        /// Taken from the pool: the upstream may have closed it meanwhile, so a request it
        /// gives back unsent is retried once on a new connection.
        reused: bool,
    },
    Http2(http2::SendRequest<OutboundBody>),
}

impl ClientInner {
    async fn send(
        this: Arc<ClientInner>,
        mut request: Request<OutboundBody>,
    ) -> Result<Response<UpstreamBody>, SendError> {
        let mut retried = false;
        loop {
            let sender = match this.pool.take().await {
                Some(sender) => sender,
                // Boxed: the connect future holds a TLS session and the handshakes (several
                // KiB), and every request's future would otherwise carry and move that
                // space, though only a connection's first request connects.
                None => Box::pin(this.connect()).await?,
            };
            match sender {
                Sender::Http2(mut sender) => {
                    // HTTP/2 carries the target in :scheme, :authority and :path
                    // (RFC 9113 §8.3.1); the URI is already absolute.
                    return match sender.send_request(request).await {
                        Ok(response) => Ok(this.body(response, None)),
                        Err(error) => Err(SendError::Exchange(error)),
                    };
                }
                Sender::Http1 { mut sender, reused } => {
                    let origin_form = request
                        .uri()
                        .path_and_query()
                        .cloned()
                        .unwrap_or_else(|| PathAndQuery::from_static("/"));
                    *request.uri_mut() = Uri::from(origin_form);
                    request.headers_mut().insert(HOST, this.host_header.clone());
                    match sender.try_send_request(request).await {
                        Ok(response) => {
                            let release = if response.body().is_end_stream() {
                                this.pool.put(sender);
                                None
                            } else {
                                Some(Release {
                                    client: this.clone(),
                                    sender,
                                })
                            };
                            return Ok(this.body(response, release));
                        }
                        Err(mut error) => match error.take_message() {
                            // Never written: the pooled connection was closed under us.
                            Some(unsent) if reused && !retried => {
                                retried = true;
                                request = unsent;
                                tracing::debug!(
                                    "pooled upstream connection closed; retrying on a new one"
                                );
                            }
                            _ => return Err(SendError::Exchange(error.into_error())),
                        },
                    }
                }
            }
        }
    }

    fn body(
        &self,
        response: Response<Incoming>,
        release: Option<Release>,
    ) -> Response<UpstreamBody> {
        let idle_timeout = self.idle_timeout;
        response.map(|body| UpstreamBody::new(body, idle_timeout, release))
    }

    /// A new connection: TCP, TLS when https, then HTTP/2 (prior knowledge or ALPN `h2`)
    /// or HTTP/1.1; its task is spawned. `connect_timeout` bounds TCP and TLS together.
    async fn connect(&self) -> Result<Sender, SendError> {
        let connecting = async {
            let tcp = TcpStream::connect((self.connect_host.as_str(), self.port))
                .await
                .map_err(SendError::Connect)?;
            let _ = tcp.set_nodelay(true);
            match &self.tls {
                None => Ok(Stream::Plain(tcp)),
                Some((connector, name)) => connector
                    .connect(name.clone(), tcp)
                    .await
                    .map(|tls| Stream::Tls(Box::new(tls)))
                    .map_err(SendError::Tls),
            }
        };
        let stream = tokio::time::timeout(self.connect_timeout, connecting)
            .await
            .map_err(|_| SendError::ConnectTimeout)??;
        let http2 = match &stream {
            Stream::Plain(_) => self.http2_prior_knowledge,
            Stream::Tls(tls) => {
                self.http2_prior_knowledge || tls.get_ref().1.alpn_protocol() == Some(b"h2")
            }
        };
        match stream {
            Stream::Plain(tcp) => self.handshake(TokioIo::new(tcp), http2).await,
            Stream::Tls(tls) => self.handshake(TokioIo::new(*tls), http2).await,
        }
    }

    async fn handshake<T>(&self, io: TokioIo<T>, http2: bool) -> Result<Sender, SendError>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        if http2 {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(SendError::Handshake)?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "upstream HTTP/2 connection ended with an error");
                }
            });
            self.pool.share_http2(sender.clone());
            return Ok(Sender::Http2(sender));
        }
        let (sender, connection) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(SendError::Handshake)?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection ended with an error");
            }
        });
        Ok(Sender::Http1 {
            sender,
            reused: false,
        })
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// The upstream's connections: idle HTTP/1.1 senders, most recently returned last, and
/// the HTTP/2 sender all requests share while its connection lives. The lock is held only
/// to push or pop.
#[derive(Default)]
struct Pool {
    idle: Mutex<Vec<IdleSender>>,
    http2: Mutex<Option<http2::SendRequest<OutboundBody>>>,
}

struct IdleSender {
    sender: http1::SendRequest<OutboundBody>,
    since: Instant,
}

impl Pool {
    /// A live sender, or `None` when a new connection is needed. Closed senders are dropped
    /// on the way; a returned one is awaited ready (its connection finishes the previous
    /// exchange on its own task first). The caller's first-byte timeout bounds the wait.
    async fn take(&self) -> Option<Sender> {
        if let Some(sender) = self.shared_http2() {
            return Some(Sender::Http2(sender));
        }
        loop {
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop()?;
            let mut sender = idle.sender;
            if idle.since.elapsed() > POOL_IDLE || sender.is_closed() {
                continue;
            }
            if sender.ready().await.is_ok() {
                return Some(Sender::Http1 {
                    sender,
                    reused: true,
                });
            }
        }
    }

    /// Returns a sender whose exchange is complete. Connections idle for longer than
    /// [`POOL_IDLE`], and any beyond [`MAX_IDLE`], are closed (the oldest first).
    fn put(&self, sender: http1::SendRequest<OutboundBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let stale = idle
            .iter()
            .take_while(|idle| now.duration_since(idle.since) > POOL_IDLE)
            .count();
        let excess = (idle.len() - stale + 1).saturating_sub(MAX_IDLE);
        idle.drain(..stale + excess);
        idle.push(IdleSender { sender, since: now });
    }

    fn shared_http2(&self) -> Option<http2::SendRequest<OutboundBody>> {
        let mut shared = self.http2.lock().unwrap_or_else(PoisonError::into_inner);
        match shared.as_ref() {
            Some(sender) if !sender.is_closed() => Some(sender.clone()),
            Some(_) => {
                *shared = None;
                None
            }
            None => None,
        }
    }

    fn share_http2(&self, sender: http2::SendRequest<OutboundBody>) {
        *self.http2.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
    }
}

/// An HTTP/1.1 sender travelling with its response body, back to the pool when the body
/// ends; dropped with the body otherwise (which closes the connection).
struct Release {
    client: Arc<ClientInner>,
    sender: http1::SendRequest<OutboundBody>,
}

impl Release {
    fn complete(self) {
        self.client.pool.put(self.sender);
    }
}

/// rustls for an https upstream: the platform's roots plus `ca_file`'s.
fn tls_config(extra_roots_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, UpstreamClientError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
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
    /// The pooled HTTP/1.1 connection this body arrives on, returned when it ends.
    release: Option<Release>,
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody")
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl UpstreamBody {
    fn new(inner: Incoming, idle_timeout: Duration, release: Option<Release>) -> Self {
        UpstreamBody {
            inner,
            idle_timeout,
            timer: None,
            armed: false,
            release,
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
            // The exchange is over at the last frame: hyper's server may stop polling once
            // the body's length is written, so the end is also read off `is_end_stream`.
            let ended = match &frame {
                None => true,
                Some(Ok(_)) => this.inner.is_end_stream(),
                // A failed body leaves its connection mid-response: never reused.
                Some(Err(_)) => {
                    this.release = None;
                    false
                }
            };
            if ended && let Some(release) = this.release.take() {
                release.complete();
            }
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
            Poll::Ready(()) => {
                this.release = None;
                Poll::Ready(Some(Err(IdleTimeout.into())))
            }
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
