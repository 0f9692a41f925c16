//! The listener stack every role's listener and the admin listener share: accepts
//! connections (plain or TLS), serves HTTP/1.1 and HTTP/2 with hyper, bounds connections,
//! header sizes and header read time, and drains in-flight requests on shutdown.
//! [`Listener::open`] turns a role's `[ROLE.listen]` table into a bound listener.
//!
//! Slow or hostile clients are bounded at every stage: the TLS handshake has a deadline,
//! headers must arrive within `header_read_timeout` (slowloris), oversized headers get 431
//! from hyper, and at most `max_connections` are served at once — the rest wait in the
//! kernel's accept queue rather than exhausting memory.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::guard::PeerAddr;

use super::config::{ConfigError, ListenConfig};
use super::tls::{ReloadingTls, TlsError};

/// Why a listener could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerError {
    /// Its address does not parse.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Its TLS certificate or key.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// It could not be bound (the message names the field and the address).
    #[error("{0}")]
    Bind(#[from] std::io::Error),
}

/// A bound listener with its TLS (reloaded in the background) and limits, ready to serve
/// a role's service.
#[derive(Debug)]
pub struct Listener {
    tcp: TcpListener,
    tls: Option<ReloadingTls>,
    settings: ListenerSettings,
}

impl Listener {
    /// Binds `config.address`, loads its TLS pair (and starts watching the files), and
    /// takes its limits; `drain_timeout` is the host's (`[shutdown]`). Call it inside the
    /// runtime.
    pub async fn open(
        config: &ListenConfig,
        drain_timeout: Duration,
    ) -> Result<Self, ListenerError> {
        let tls = match config.tls() {
            Some((cert, key)) => {
                let tls = ReloadingTls::load(config.table(), cert, key)?;
                tls.spawn_reloader(config.tls_reload_interval());
                Some(tls)
            }
            None => None,
        };
        let tcp = bind(&config.field("address"), config.socket_addr()?).await?;
        Ok(Listener {
            tcp,
            tls,
            settings: ListenerSettings {
                max_connections: config.max_connections,
                max_header_bytes: config.max_header_bytes,
                header_read_timeout: config.header_read_timeout(),
                tls_handshake_timeout: config.tls_handshake_timeout(),
                drain_timeout,
            },
        })
    }

    /// Whether connections are TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Serves `service` until `shutdown`, then drains (see [`serve`]).
    pub async fn serve<S, B>(self, service: S, shutdown: impl Future<Output = ()>)
    where
        S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        serve(self.tcp, service, self.tls, self.settings, shutdown).await;
    }
}

/// Limits of the listener.
#[derive(Debug, Clone)]
pub struct ListenerSettings {
    /// Connections served at once.
    pub max_connections: usize,
    /// Largest request head; beyond it hyper answers 431.
    pub max_header_bytes: usize,
    /// Time allowed for a request head to arrive.
    pub header_read_timeout: Duration,
    /// Time allowed for a TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// How long in-flight requests may run on after shutdown starts.
    pub drain_timeout: Duration,
}

impl Default for ListenerSettings {
    fn default() -> Self {
        ListenerSettings {
            max_connections: 1024,
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// hyper requires at least this read buffer for HTTP/1.
const HYPER_MIN_BUF: usize = 8192;

/// Serves `service` on `listener` until `shutdown` completes, then stops accepting and
/// waits up to `drain_timeout` for open requests (streams included) to finish.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    tls: Option<ReloadingTls>,
    settings: ListenerSettings,
    shutdown: impl Future<Output = ()>,
) where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_header_bytes.max(HYPER_MIN_BUF));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(settings.max_connections.max(1)));
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let hyper_service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(PeerAddr(peer));
            let mut service = service.clone();
            async move { tower_service::Service::call(&mut service, request).await }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let acceptor = tls.as_ref().map(ReloadingTls::acceptor);
        let handshake_timeout = settings.tls_handshake_timeout;
        tokio::spawn(async move {
            let result = match acceptor {
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
                    watcher.watch(connection.into_owned()).await
                }
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        handshake_timeout,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let connection = builder.serve_connection(TokioIo::new(stream), hyper_service);
                    watcher.watch(connection.into_owned()).await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, error = %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("listener closed; draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("drained"),
        () = tokio::time::sleep(settings.drain_timeout) => {
            tracing::warn!(timeout_s = settings.drain_timeout.as_secs(), "drain timeout; closing remaining connections");
        }
    }
}

/// Binds `address`, with a clear error naming it.
pub async fn bind(field: &str, address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("{field} {address}: {e}")))
}
