#![cfg(feature = "sidecar")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

//! The forwarding half of the sidecar binary (`mcp-warden serve`, the guard role) against
//! real upstreams on loopback: an https upstream signed by a private CA (trusted through
//! `ca_file`, refused without it), an HTTP/2-only upstream reached with
//! `http2_prior_knowledge`, the idle timeout between two body frames (it cuts a stalled
//! body, and re-arms after every frame of a live one), redirects passed to the client
//! rather than followed, hop-by-hop response fields dropped, and the connection pool (one
//! connection for sequential requests, none reused mid-response, closed ones replaced).
//!
//! Every request carries a valid DPoP-bound token and proof, so what is tested is the
//! proxy, not the guard. Every wait is bounded.

mod support;

#[path = "support/sidecar.rs"]
mod sidecar;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::response::IntoResponse;
use axum::routing::{any, get};
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};
use sidecar::{Caller, Sidecar, SidecarConfig, TempDir, Upstream, http, jwks};
use support::AuthorizationServer;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

impl Caller {
    /// A guarded `GET path` through `sidecar`.
    async fn get(&self, sidecar: &Sidecar, path: &str) -> reqwest::Response {
        http()
            .get(sidecar.url(path))
            .headers(self.headers("GET", path, None))
            .send()
            .await
            .unwrap()
    }
}

/// What an echo upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    version: Version,
    path_and_query: String,
    subject: Option<String>,
}

/// Records every request in `seen` and answers with what it saw, as JSON.
fn echo_app(seen: Arc<Mutex<Vec<Seen>>>) -> Router {
    Router::new().fallback(any(
        move |version: Version, uri: Uri, headers: HeaderMap| async move {
            let entry = Seen {
                version,
                path_and_query: uri
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_default(),
                subject: headers
                    .get("x-mcp-subject")
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned),
            };
            seen.lock().unwrap().push(entry.clone());
            axum::Json(json!({
                "version": format!("{:?}", entry.version),
                "path": entry.path_and_query,
                "subject": entry.subject,
            }))
        },
    ))
}

/// How a [`RawServer`] speaks on each connection.
#[derive(Clone, Copy)]
enum Protocol {
    /// HTTP/1.1 only.
    Http1,
    /// HTTP/2 only: an HTTP/1.1 request is a protocol error (the connection preface is
    /// missing), so only a client that starts with HTTP/2 gets an answer.
    Http2,
}

/// An axum app served by hyper directly on a loopback port, over TLS or plain TCP, with
/// one protocol: what `axum::serve` cannot do (TLS, HTTP/2 only). Counts the accepted TCP
/// connections and keeps the TLS handshake errors. Runs on the test's runtime, so it ends
/// with the test.
struct RawServer {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    handshake_errors: Arc<Mutex<Vec<String>>>,
    accept_loop: JoinHandle<()>,
}

impl RawServer {
    async fn start(app: Router, tls: Option<TlsAcceptor>, protocol: Protocol) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let handshake_errors = Arc::new(Mutex::new(Vec::new()));
        let (count, errors) = (accepted.clone(), handshake_errors.clone());
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let (app, tls, errors) = (app.clone(), tls.clone(), errors.clone());
                tokio::spawn(async move {
                    match tls {
                        None => serve_connection(TokioIo::new(tcp), app, protocol).await,
                        Some(acceptor) => match acceptor.accept(tcp).await {
                            Ok(stream) => {
                                serve_connection(TokioIo::new(stream), app, protocol).await;
                            }
                            Err(error) => errors.lock().unwrap().push(error.to_string()),
                        },
                    }
                });
            }
        });
        RawServer {
            address,
            accepted,
            handshake_errors,
            accept_loop,
        }
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn serve_connection<I>(io: I, app: Router, protocol: Protocol)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| app.clone().oneshot(request));
    // A connection error (such as an HTTP/1.1 request to the HTTP/2-only server) only ends
    // this connection; the client sees it as such.
    let _ = match protocol {
        Protocol::Http1 => {
            hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await
        }
        Protocol::Http2 => {
            hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .serve_connection(io, service)
                .await
        }
    };
}

/// A private CA and a server certificate it signed for `localhost` and `127.0.0.1`.
struct Pki {
    ca_pem: String,
    acceptor: TlsAcceptor,
}

fn private_pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mcp-warden test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let ca_issuer = Issuer::new(ca_params, ca_key);

    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca_issuer).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        acceptor: TlsAcceptor::from(Arc::new(config)),
    }
}

/// Reads `body` chunk by chunk until it ends or fails, within `bound`: the bytes
/// received, the error it ended with (if any), and when it ended.
async fn drain<S>(mut body: S, bound: Duration) -> (String, Option<String>, Instant)
where
    S: futures_util::Stream<Item = reqwest::Result<Bytes>> + Unpin,
{
    let mut received = String::new();
    let outcome = tokio::time::timeout(bound, async {
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(chunk) => received.push_str(std::str::from_utf8(&chunk).unwrap()),
                Err(error) => return Some(format!("{error:?}")),
            }
        }
        None
    })
    .await;
    let Ok(error) = outcome else {
        panic!("the body neither ended nor failed within {bound:?}; received {received:?}");
    };
    (received, error, Instant::now())
}

// ---------------------------------------------------------------------------------------
// 1. An https upstream signed by a private CA
// ---------------------------------------------------------------------------------------

/// An echo upstream over HTTP/1.1 on TLS, its certificate issued by a fresh private CA.
async fn tls_echo_upstream() -> (Pki, Arc<Mutex<Vec<Seen>>>, RawServer) {
    let pki = private_pki();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let upstream = RawServer::start(
        echo_app(seen.clone()),
        Some(pki.acceptor.clone()),
        Protocol::Http1,
    )
    .await;
    (pki, seen, upstream)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_signed_by_a_private_ca_is_trusted_through_ca_file() {
    let issuer = AuthorizationServer::new();
    let (pki, seen, upstream) = tls_echo_upstream().await;
    let dir = TempDir::new("upstream-ca");
    let ca_file = dir.write("ca.pem", &pki.ca_pem);
    let sidecar = SidecarConfig::new(
        &format!("https://127.0.0.1:{}", upstream.address.port()),
        jwks(&issuer),
    )
    .upstream(&format!("ca_file = {:?}", ca_file.display().to_string()))
    .start()
    .await;
    let caller = Caller::new(&issuer);

    let response = caller.get(&sidecar, "/mcp/over-tls?x=1").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["path"], "/mcp/over-tls?x=1", "{body}");
    assert_eq!(body["subject"], "agent-7", "{body}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        upstream.handshake_errors.lock().unwrap().is_empty(),
        "{:?}",
        upstream.handshake_errors.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_upstream_signed_by_an_unknown_ca_is_a_502_and_is_never_reached() {
    let issuer = AuthorizationServer::new();
    let (_pki, seen, upstream) = tls_echo_upstream().await;
    // No `ca_file`: only the platform's roots, which do not include the test CA.
    let sidecar = SidecarConfig::new(
        &format!("https://127.0.0.1:{}", upstream.address.port()),
        jwks(&issuer),
    )
    .start()
    .await;
    let caller = Caller::new(&issuer);

    let response = caller.get(&sidecar, "/mcp/over-tls").await;
    assert_eq!(response.status(), 502);
    assert!(
        seen.lock().unwrap().is_empty(),
        "the handler was reached: {:?}",
        seen.lock().unwrap()
    );
    // The sidecar did connect (so the 502 is not a refused connection) and then broke off
    // the handshake because it does not know the issuer: the server holds the client's
    // `unknown_ca` alert (RFC 8446 §6.2), not a finished handshake.
    assert!(upstream.accepted.load(Ordering::SeqCst) >= 1);
    let deadline = Instant::now() + Duration::from_secs(3);
    let errors = loop {
        let errors = upstream.handshake_errors.lock().unwrap().clone();
        if !errors.is_empty() || Instant::now() > deadline {
            break errors;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        errors.iter().any(|error| error.contains("UnknownCA")),
        "expected the client's unknown_ca alert at the server, got {errors:?}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. h2c
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_reaches_an_http2_only_upstream_over_plain_tcp() {
    let issuer = AuthorizationServer::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let upstream = RawServer::start(echo_app(seen.clone()), None, Protocol::Http2).await;
    let sidecar = SidecarConfig::new(&format!("http://{}", upstream.address), jwks(&issuer))
        .upstream("http2_prior_knowledge = true")
        .start()
        .await;
    let caller = Caller::new(&issuer);

    let response = caller.get(&sidecar, "/mcp/h2c").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["version"], "HTTP/2.0", "{body}");
    assert_eq!(body["path"], "/mcp/h2c", "{body}");
    assert_eq!(body["subject"], "agent-7", "{body}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].version, Version::HTTP_2);
}

// ---------------------------------------------------------------------------------------
// 3. The idle timeout between two body frames
// ---------------------------------------------------------------------------------------

/// `/stall`: 200, one chunk, then nothing for 10 s, then `late`. `/steady`: nine chunks
/// 300 ms apart (2.4 s in all, well past the 1 s idle timeout, no gap near it).
fn streaming_app() -> Router {
    Router::new()
        .route(
            "/stall",
            get(|| async {
                let chunks = futures_util::stream::unfold(0, |n| async move {
                    match n {
                        0 => Some((Ok::<_, Infallible>(Bytes::from("first\n")), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_secs(10)).await;
                            Some((Ok(Bytes::from("late\n")), 2))
                        }
                        _ => None,
                    }
                });
                Body::from_stream(chunks)
            }),
        )
        .route(
            "/steady",
            get(|| async {
                let chunks = futures_util::stream::unfold(0, |n| async move {
                    if n == STEADY_CHUNKS {
                        return None;
                    }
                    if n > 0 {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    Some((
                        Ok::<_, Infallible>(Bytes::from(format!("chunk-{n}\n"))),
                        n + 1,
                    ))
                });
                Body::from_stream(chunks)
            }),
        )
}

const STEADY_CHUNKS: usize = 9;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_longer_than_the_idle_timeout_is_cut_with_an_error() {
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(streaming_app());
    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .upstream("idle_timeout_s = 1")
        .start()
        .await;
    let caller = Caller::new(&issuer);

    let response = caller.get(&sidecar, "/stall").await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .expect("the first chunk arrives before the stall")
        .expect("a first chunk")
        .expect("the first chunk is not an error");
    let first_at = Instant::now();
    assert_eq!(first.as_ref(), b"first\n");

    // The rest: nothing more, then an error (a chunked body broken off, so the client can
    // tell it is incomplete) about 1 s after the first chunk, long before the stall ends.
    let (rest, error, ended) = drain(stream, Duration::from_secs(6)).await;
    let elapsed = ended - first_at;
    assert_eq!(rest, "", "nothing may follow the first chunk");
    assert!(
        error.is_some(),
        "the body ended cleanly after {elapsed:?}: a client cannot tell it was cut short"
    );
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed <= Duration::from_secs(4),
        "cut {elapsed:?} after the first chunk; expected about the 1 s idle timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_keeps_producing_outlives_the_idle_timeout() {
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(streaming_app());
    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .upstream("idle_timeout_s = 1")
        .start()
        .await;
    let caller = Caller::new(&issuer);

    let started = Instant::now();
    let response = caller.get(&sidecar, "/steady").await;
    assert_eq!(response.status(), 200);
    let (received, error, ended) = drain(response.bytes_stream(), Duration::from_secs(8)).await;
    let expected: String = (0..STEADY_CHUNKS).map(|n| format!("chunk-{n}\n")).collect();
    assert_eq!(error, None, "received before the error: {received:?}");
    assert_eq!(received, expected);
    // The whole body took longer than the idle timeout: the timer was re-armed per frame,
    // not set once for the body.
    let took = ended - started;
    assert!(took >= Duration::from_secs(2), "{took:?}");
}

// ---------------------------------------------------------------------------------------
// 4. Redirects and hop-by-hop response fields
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_reaches_the_client_and_is_not_followed() {
    let issuer = AuthorizationServer::new();
    let elsewhere_hits = Arc::new(AtomicUsize::new(0));
    let hits = elsewhere_hits.clone();
    let elsewhere = Upstream::start(Router::new().fallback(any(move || {
        hits.fetch_add(1, Ordering::SeqCst);
        async { "followed" }
    })));
    let location = format!("{}/landing", elsewhere.url());
    let redirect_hits = Arc::new(AtomicUsize::new(0));
    let (hits, target) = (redirect_hits.clone(), location.clone());
    let upstream = Upstream::start(Router::new().route(
        "/moved",
        any(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(http::header::LOCATION, target)],
                    "moved",
                )
            }
        }),
    ));
    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .start()
        .await;
    let caller = Caller::new(&issuer);

    // A client that does not follow redirects either, so the 307 is what the sidecar sent.
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = client
        .post(sidecar.url("/moved"))
        .headers(caller.headers("POST", "/moved", None))
        .body("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(response.headers()["location"], location.as_str());
    assert_eq!(response.text().await.unwrap(), "moved");
    assert_eq!(redirect_hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        elsewhere_hits.load(Ordering::SeqCst),
        0,
        "the sidecar followed the redirect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_response_fields_are_not_passed_to_the_client() {
    const HOP_BY_HOP: [&str; 5] = [
        "connection",
        "x-custom",
        "keep-alive",
        "upgrade",
        "proxy-connection",
    ];
    let issuer = AuthorizationServer::new();
    let upstream = Upstream::start(Router::new().route(
        "/hops",
        get(|| async {
            (
                [
                    ("connection", "x-custom"),
                    ("x-custom", "1"),
                    ("keep-alive", "timeout=5"),
                    ("upgrade", "websocket"),
                    ("proxy-connection", "keep-alive"),
                    ("x-ordinary", "kept"),
                ],
                "hops",
            )
                .into_response()
        }),
    ));
    // Straight from the upstream, every field is on the wire: if the sidecar passed them
    // on, the client would see them.
    let direct = http()
        .get(format!("{}/hops", upstream.url()))
        .send()
        .await
        .unwrap();
    for name in HOP_BY_HOP {
        assert!(
            direct.headers().contains_key(name),
            "the upstream does not send {name}: {:?}",
            direct.headers()
        );
    }

    let sidecar = SidecarConfig::new(&upstream.url(), jwks(&issuer))
        .start()
        .await;
    let caller = Caller::new(&issuer);
    let response = caller.get(&sidecar, "/hops").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    for name in HOP_BY_HOP {
        assert!(
            !headers.contains_key(name),
            "{name} reached the client: {headers:?}"
        );
    }
    assert_eq!(headers["x-ordinary"], "kept");
    assert_eq!(response.text().await.unwrap(), "hops");
}

// ---------------------------------------------------------------------------------------
// 5. The connection pool
// ---------------------------------------------------------------------------------------

/// `/json`: a small JSON body; `/empty`: 204 without a body; `/stall`, `/steady`: see
/// [`streaming_app`].
fn pool_app() -> Router {
    streaming_app()
        .route("/json", get(|| async { axum::Json(json!({"ok": true})) }))
        .route("/empty", get(|| async { StatusCode::NO_CONTENT }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_share_one_upstream_connection() {
    let issuer = AuthorizationServer::new();
    let upstream = RawServer::start(pool_app(), None, Protocol::Http1).await;
    let sidecar = SidecarConfig::new(&format!("http://{}", upstream.address), jwks(&issuer))
        .start()
        .await;
    let caller = Caller::new(&issuer);

    // A connection goes back to the pool when its response body ends, with a body or
    // without one (204), so one connection serves every request in turn.
    for n in 0..20 {
        let path = if n % 2 == 0 { "/json" } else { "/empty" };
        let response = caller.get(&sidecar, path).await;
        let status = response.status();
        let body = response.text().await.unwrap();
        match path {
            "/json" => assert_eq!((status.as_u16(), body.as_str()), (200, r#"{"ok":true}"#)),
            _ => assert_eq!((status.as_u16(), body.as_str()), (204, "")),
        }
    }
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_the_client_abandons_takes_its_connection_with_it() {
    let issuer = AuthorizationServer::new();
    let upstream = RawServer::start(pool_app(), None, Protocol::Http1).await;
    let sidecar = SidecarConfig::new(&format!("http://{}", upstream.address), jwks(&issuer))
        .start()
        .await;
    let caller = Caller::new(&issuer);

    let response = caller.get(&sidecar, "/stall").await;
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(3), stream.next())
        .await
        .expect("the first chunk arrives before the stall")
        .unwrap()
        .unwrap();
    assert_eq!(first.as_ref(), b"first\n");
    drop(stream);

    // The stalled connection is mid-response: handing it out again would queue the next
    // request behind a body that never ends. The next request gets a connection of its own
    // and an answer at once.
    let response = tokio::time::timeout(Duration::from_secs(3), caller.get(&sidecar, "/json"))
        .await
        .expect("the next request is not stuck behind the abandoned body");
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), r#"{"ok":true}"#);
    assert_eq!(upstream.accepted.load(Ordering::SeqCst), 2);
}

/// A raw HTTP/1.1 upstream that answers the first request on each connection with a
/// keep-alive response (no `Connection: close`) and then closes the socket: what an
/// upstream whose keep-alive timeout has just passed does. Counts its connections.
async fn closing_upstream() -> (SocketAddr, Arc<AtomicUsize>, JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let accept_loop = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let response =
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
                let _ = tcp.write_all(response.as_bytes()).await;
                // Dropped here: closed without a word.
            });
        }
    });
    (address, accepted, accept_loop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_upstream_closed_is_replaced_not_a_502() {
    let issuer = AuthorizationServer::new();
    let (address, accepted, accept_loop) = closing_upstream().await;
    let sidecar = SidecarConfig::new(&format!("http://{address}"), jwks(&issuer))
        .start()
        .await;
    let caller = Caller::new(&issuer);

    for _ in 0..10 {
        let response = caller.get(&sidecar, "/mcp").await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "ok");
        // Long enough for the close to reach the pooled connection's task, so that what is
        // tested is the pool discarding a closed connection, not the race with the close.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 10);
    accept_loop.abort();
}

// ---------------------------------------------------------------------------------------
// 6. Issuers' keys behind a private CA (a Kubernetes API server)
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_signed_by_a_cluster_ca_is_fetched_with_extra_roots_only() {
    use mcp_warden::jwks::{JwksLocation, RemoteJwks};
    let issuer = AuthorizationServer::new();
    let document = json!({"keys": [issuer.key.public_jwk().to_json()]}).to_string();
    let app = Router::new().route(
        "/openid/v1/jwks",
        get(move || {
            let document = document.clone();
            async move { ([("content-type", "application/json")], document) }
        }),
    );
    let pki = private_pki();
    let server = RawServer::start(app, Some(pki.acceptor.clone()), Protocol::Http1).await;
    let url: url::Url = format!("https://localhost:{}/openid/v1/jwks", server.address.port())
        .parse()
        .unwrap();
    let with_ca = RemoteJwks::builder(JwksLocation::JwksUri(url.clone()))
        .extra_roots_pem(pki.ca_pem.clone().into_bytes())
        .build()
        .unwrap();
    assert_eq!(with_ca.load().await.unwrap().keys().len(), 1);
    // The platform's roots alone do not know the cluster's CA.
    let without = RemoteJwks::builder(JwksLocation::JwksUri(url))
        .build()
        .unwrap();
    let refused = without.load().await.unwrap_err();
    assert!(
        matches!(
            refused.fetch_error(),
            Some(mcp_warden::jwks::FetchError::Connect | mcp_warden::jwks::FetchError::Transport)
        ),
        "the TLS handshake failed: {refused}"
    );
    // A bundle with no certificate is a configuration error, not an empty trust set.
    let garbage = RemoteJwks::builder(JwksLocation::JwksUri(
        "https://localhost/jwks".parse().unwrap(),
    ))
    .extra_roots_pem(b"not a pem".to_vec())
    .build();
    assert!(matches!(
        garbage,
        Err(mcp_warden::jwks::JwksConfigError::ExtraRoots)
    ));
}
