//! `RemoteJwks` against real HTTP servers on 127.0.0.1: caching, rotation, the unknown-`kid`
//! debounce, `Cache-Control` (RFC 9111 §5.2), stale-if-error, limits, and discovery
//! (RFC 8414 §3). The server is an axum app whose behaviour each test switches at will.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::Frame;
use mcp_warden::jose::{Algorithm, JsonError, JwkSet, JwkSetError, SigningKey};
use mcp_warden::jwks::{
    FetchError, JwksConfigError, JwksLocation, KeySource, KeySourceError, Refresh, RemoteJwks,
    RemoteJwksBuilder,
};
use mcp_warden::token::{JwtVerifier, TokenError, TrustedIssuer, UnavailableCause};
use serde_json::json;
use url::Url;

const AUDIENCE: &str = "https://mcp.example.com/mcp";
const CHUNK: usize = 16 * 1024;
const CHUNKS: usize = 4096; // 64 MiB if read to the end

/// What the `/jwks` route does.
#[derive(Clone, Debug)]
enum Mode {
    Serve,
    Status(u16),
    Redirect,
    Hang(Duration),
    /// 300 KiB with a Content-Length.
    Huge,
    /// An endless-looking chunked body, no Content-Length.
    HugeChunked,
}

struct Shared {
    body: Mutex<String>,
    mode: Mutex<Mode>,
    cache_control: Mutex<Option<String>>,
    /// Requests to `/jwks`.
    hits: AtomicUsize,
    /// Path of every request, in order.
    paths: Mutex<Vec<String>>,
    /// Discovery documents by path; other paths are 404.
    documents: Mutex<HashMap<String, String>>,
    /// Chunks the chunked body has produced.
    chunks_sent: Arc<AtomicUsize>,
}

struct Server {
    base: String,
    shared: Arc<Shared>,
}

impl Server {
    async fn start() -> Server {
        let shared = Arc::new(Shared {
            body: Mutex::new(String::new()),
            mode: Mutex::new(Mode::Serve),
            cache_control: Mutex::new(None),
            hits: AtomicUsize::new(0),
            paths: Mutex::new(Vec::new()),
            documents: Mutex::new(HashMap::new()),
            chunks_sent: Arc::new(AtomicUsize::new(0)),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(handle).with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { base, shared }
    }

    fn serve_keys(&self, keys: &[&SigningKey]) {
        *self.shared.body.lock().unwrap() = key_set(keys);
        self.set_mode(Mode::Serve);
    }

    fn serve_body(&self, body: &str) {
        *self.shared.body.lock().unwrap() = body.to_owned();
        self.set_mode(Mode::Serve);
    }

    fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap() = mode;
    }

    fn cache_control(&self, value: Option<&str>) {
        *self.shared.cache_control.lock().unwrap() = value.map(str::to_owned);
    }

    fn document(&self, path: &str, document: serde_json::Value) {
        self.shared
            .documents
            .lock()
            .unwrap()
            .insert(path.to_owned(), document.to_string());
    }

    fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    fn requests_to(&self, path: &str) -> usize {
        let paths = self.shared.paths.lock().unwrap();
        paths.iter().filter(|p| *p == path).count()
    }

    fn jwks_url(&self) -> Url {
        Url::parse(&format!("{}/jwks", self.base)).unwrap()
    }

    /// A builder for this server's `/jwks`, plain http allowed (loopback).
    fn remote(&self) -> RemoteJwksBuilder {
        RemoteJwks::builder(JwksLocation::JwksUri(self.jwks_url())).dangerous_allow_plain_http()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    shared.paths.lock().unwrap().push(path.clone());
    if path != "/jwks" {
        let document = shared.documents.lock().unwrap().get(&path).cloned();
        return match document {
            Some(document) => {
                ([(header::CONTENT_TYPE, "application/json")], document).into_response()
            }
            None => StatusCode::NOT_FOUND.into_response(),
        };
    }
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let mode = shared.mode.lock().unwrap().clone();
    let body = shared.body.lock().unwrap().clone();
    let cache_control = shared.cache_control.lock().unwrap().clone();
    match mode {
        Mode::Serve => {
            let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
            if let Some(value) = cache_control {
                response.headers_mut().insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
            response
        }
        Mode::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Mode::Redirect => (StatusCode::FOUND, [(header::LOCATION, "/jwks-moved")]).into_response(),
        Mode::Hang(delay) => {
            tokio::time::sleep(delay).await;
            body.into_response()
        }
        Mode::Huge => {
            format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(300 * 1024)).into_response()
        }
        Mode::HugeChunked => Body::new(Chunked {
            remaining: CHUNKS,
            sent: shared.chunks_sent.clone(),
        })
        .into_response(),
    }
}

/// A body of [`CHUNKS`] spaces-filled chunks with no size hint (sent chunked).
struct Chunked {
    remaining: usize,
    sent: Arc<AtomicUsize>,
}

impl http_body::Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        self.remaining -= 1;
        self.sent.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; CHUNK])))))
    }
}

fn key(kid: &str) -> SigningKey {
    SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid(kid)
        .unwrap()
}

fn key_set(keys: &[&SigningKey]) -> String {
    let keys: Vec<_> = keys.iter().map(|key| key.public_jwk().to_json()).collect();
    json!({ "keys": keys }).to_string()
}

fn kids(set: &JwkSet) -> Vec<&str> {
    set.keys().iter().filter_map(|key| key.kid()).collect()
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(key: &SigningKey, issuer: &str) -> String {
    let kid = key.public_jwk().kid().unwrap();
    key.sign_compact(
        json!({"kid": kid, "typ": "at+jwt"}).as_object().unwrap(),
        json!({"iss": issuer, "aud": AUDIENCE, "sub": "agent-7", "exp": now_s() + 600})
            .as_object()
            .unwrap(),
    )
    .unwrap()
}

fn verifier(issuer: &str, keys: &RemoteJwks) -> JwtVerifier {
    JwtVerifier::builder(AUDIENCE)
        .issuer(TrustedIssuer::with_key_source(
            issuer,
            Arc::new(keys.clone()),
        ))
        .build()
}

/// The error of a key load that must fail.
fn refused(result: Result<Arc<JwkSet>, KeySourceError>) -> KeySourceError {
    match result {
        Err(error) => error,
        Ok(keys) => panic!("expected a refusal, got {} keys", keys.keys().len()),
    }
}

#[tokio::test]
async fn first_use_loads_then_serves_from_cache() {
    let server = Server::start().await;
    server.serve_keys(&[&key("k1")]);
    let keys = server.remote().build().unwrap();

    // Nothing is fetched before first use.
    assert!(keys.current().is_none());
    assert_eq!(server.hits(), 0);

    let loaded = keys.refresh(Refresh::Missing).await.unwrap();
    assert_eq!(kids(&loaded), ["k1"]);
    assert_eq!(server.hits(), 1);

    for _ in 0..100 {
        assert_eq!(kids(&keys.current().unwrap()), ["k1"]);
    }
    // Another Missing (say, a racing request) is answered from the cache.
    keys.refresh(Refresh::Missing).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.hits(), 1);
    let stats = keys.stats();
    assert_eq!((stats.fetches, stats.successes, stats.failures), (1, 1, 0));
    assert_eq!(stats.key_ttl, Some(Duration::from_secs(300)));
    assert!(!stats.serving_stale);
}

#[tokio::test]
async fn rotation_unknown_kid_fetches_once_after_the_interval() {
    let server = Server::start().await;
    let (k1, k2) = (key("k1"), key("k2"));
    server.serve_keys(&[&k1]);
    let keys = server
        .remote()
        .min_refetch_interval(Duration::from_millis(150))
        .build()
        .unwrap();
    keys.load().await.unwrap();
    server.serve_keys(&[&k1, &k2]);

    // Right after a fetch, an unknown kid does not fetch again: the current set comes back.
    let set = keys.refresh(Refresh::UnknownKid("k2")).await.unwrap();
    assert_eq!(kids(&set), ["k1"]);
    assert_eq!(server.hits(), 1);

    tokio::time::sleep(Duration::from_millis(200)).await;
    let set = keys.refresh(Refresh::UnknownKid("k2")).await.unwrap();
    assert_eq!(kids(&set), ["k1", "k2"]);
    assert_eq!(server.hits(), 2);
    assert_eq!(kids(&keys.current().unwrap()), ["k1", "k2"]);
}

#[tokio::test]
async fn rotation_end_to_end_through_verify_async() {
    let server = Server::start().await;
    let (k1, k2) = (key("k1"), key("k2"));
    let issuer = "https://as.example.com";
    server.serve_keys(&[&k1]);
    let keys = server
        .remote()
        .min_refetch_interval(Duration::from_millis(150))
        .build()
        .unwrap();
    let verifier = verifier(issuer, &keys);

    // First use loads through refresh(Missing).
    let verified = verifier
        .verify_async(&token(&k1, issuer), now_s())
        .await
        .unwrap();
    assert_eq!(verified.subject(), Some("agent-7"));
    assert_eq!(server.hits(), 1);

    // The issuer rotates to k2 only.
    server.serve_keys(&[&k2]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    verifier
        .verify_async(&token(&k2, issuer), now_s())
        .await
        .unwrap();
    assert_eq!(server.hits(), 2);

    // k1 is gone, and asking again within the interval does not fetch.
    let refused = verifier.verify_async(&token(&k1, issuer), now_s()).await;
    assert_eq!(refused.unwrap_err(), TokenError::UnknownKey);
    assert_eq!(server.hits(), 2);
}

async fn storm(keys: &RemoteJwks, tag: &str) {
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let keys = keys.clone();
            let kid = format!("{tag}-concurrent-{i}-{}", now_s());
            tokio::spawn(async move { keys.refresh(Refresh::UnknownKid(&kid)).await })
        })
        .collect();
    for task in tasks {
        let set = task.await.unwrap().unwrap();
        assert_eq!(kids(&set), ["k1"]);
    }
}

async fn sequential(keys: &RemoteJwks, tag: &str) {
    for i in 0..200 {
        let kid = format!("{tag}-sequential-{i}");
        let set = keys.refresh(Refresh::UnknownKid(&kid)).await.unwrap();
        assert_eq!(kids(&set), ["k1"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_storm_from_cold_is_one_fetch() {
    let server = Server::start().await;
    server.serve_keys(&[&key("k1")]);
    let keys = server.remote().build().unwrap();

    storm(&keys, "cold").await;
    assert_eq!(server.hits(), 1);
    sequential(&keys, "cold").await;
    assert_eq!(server.hits(), 1);
    assert_eq!(keys.stats().fetches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_storm_after_the_interval_is_one_more_fetch() {
    let server = Server::start().await;
    server.serve_keys(&[&key("k1")]);
    let keys = server
        .remote()
        .min_refetch_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    keys.load().await.unwrap();
    sequential(&keys, "warm").await;
    assert_eq!(server.hits(), 1);

    tokio::time::sleep(Duration::from_millis(350)).await;
    storm(&keys, "warm").await;
    assert_eq!(server.hits(), 2);
    sequential(&keys, "again").await;
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn cache_control_max_age_starts_a_background_refresh() {
    let server = Server::start().await;
    server.serve_keys(&[&key("k1")]);
    server.cache_control(Some("public, max-age=1"));
    let keys = server
        .remote()
        .min_ttl(Duration::from_millis(100))
        .build()
        .unwrap();
    keys.load().await.unwrap();
    assert_eq!(keys.stats().key_ttl, Some(Duration::from_secs(1)));

    // Before 80 % of the TTL: no refresh.
    tokio::time::sleep(Duration::from_millis(400)).await;
    keys.current().unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.hits(), 1);

    // Past 80 %: the call returns at once with the current keys and refreshes behind.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let started = Instant::now();
    for _ in 0..50 {
        keys.current().unwrap();
    }
    assert!(started.elapsed() < Duration::from_millis(50));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.hits(), 2, "one background refresh for 50 calls");
    let stats = keys.stats();
    assert_eq!(stats.successes, 2);
    assert!(stats.key_age.unwrap() < Duration::from_millis(500));
}

#[tokio::test]
async fn cache_control_is_clamped() {
    let server = Server::start().await;
    server.serve_keys(&[&key("k1")]);
    let cases = [
        (None, Duration::from_secs(300)),
        (Some("max-age=120"), Duration::from_secs(120)),
        (Some("max-age=86400000"), Duration::from_secs(3600)),
        (Some("max-age=5"), Duration::from_secs(30)),
        (Some("max-age=0"), Duration::from_secs(30)),
        (Some("no-store"), Duration::from_secs(30)),
        (Some("max-age=600, no-cache"), Duration::from_secs(30)),
    ];
    for (cache_control, expected) in cases {
        server.cache_control(cache_control);
        let keys = server
            .remote()
            .max_ttl(Duration::from_secs(3600))
            .build()
            .unwrap();
        keys.load().await.unwrap();
        assert_eq!(keys.stats().key_ttl, Some(expected), "{cache_control:?}");
    }
}

#[tokio::test]
async fn issuer_down_serves_stale_keys_until_max_stale() {
    let server = Server::start().await;
    let k1 = key("k1");
    let issuer = "https://as.example.com";
    server.serve_keys(&[&k1]);
    let keys = server
        .remote()
        .min_ttl(Duration::from_millis(100))
        .default_ttl(Duration::from_millis(600))
        .max_stale(Duration::from_millis(600))
        .min_refetch_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let verifier = verifier(issuer, &keys);
    let start = Instant::now();
    keys.load().await.unwrap();
    server.set_mode(Mode::Status(500));

    // Past the TTL: the refresh fails, the last good keys are still served.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(keys.current().is_some());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = keys.stats();
    assert!(stats.serving_stale);
    assert!(stats.failures >= 1);
    assert!(server.hits() >= 2);
    verifier
        .verify_async(&token(&k1, issuer), now_s())
        .await
        .unwrap();

    // Past TTL + max_stale: nothing is served and tokens are refused (fail closed).
    tokio::time::sleep(
        (start + Duration::from_millis(1400)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert!(keys.current().is_none());
    let answer = verifier
        .verify_async(&token(&k1, issuer), now_s())
        .await
        .unwrap_err();
    // Whether this request fetched again or found the failure too recent to retry, the
    // cause is the issuer's 500.
    assert!(
        matches!(
            &answer,
            TokenError::Unavailable(UnavailableCause::Keys(error))
                if error.fetch_error() == Some(&FetchError::Status(500))
        ),
        "{answer:?}"
    );
    assert_eq!(
        refused(keys.load().await),
        KeySourceError::Fetch(FetchError::Status(500))
    );

    // The issuer comes back: the next request after the interval loads again.
    server.serve_keys(&[&k1]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    verifier
        .verify_async(&token(&k1, issuer), now_s())
        .await
        .unwrap();
    assert!(!keys.stats().serving_stale);
}

#[tokio::test]
async fn slow_issuer_times_out() {
    let server = Server::start().await;
    server.serve_keys(&[&key("k1")]);
    server.set_mode(Mode::Hang(Duration::from_secs(3)));
    let keys = server
        .remote()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();

    let started = Instant::now();
    let error = refused(keys.load().await);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error, KeySourceError::Fetch(FetchError::Timeout));
    assert!(keys.current().is_none());
}

#[tokio::test]
async fn one_issuer_hanging_does_not_slow_another() {
    let (slow, fast) = (Server::start().await, Server::start().await);
    slow.set_mode(Mode::Hang(Duration::from_secs(3)));
    fast.serve_keys(&[&key("k1")]);
    let slow_keys = slow
        .remote()
        .timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    let fast_keys = fast.remote().build().unwrap();

    let pending = tokio::spawn(async move { slow_keys.load().await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    fast_keys.load().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(400));
    assert!(pending.await.unwrap().is_err());
}

#[tokio::test]
async fn bad_responses_are_refused_and_the_old_keys_kept() {
    let server = Server::start().await;
    let k1 = key("k1");
    // Each case breaks the issuer either by a mode or by a body it serves.
    let oct_only = r#"{"keys":[{"kty":"oct","kid":"k1","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}"#;
    let too_large = FetchError::BodyTooLarge { max: 262_144 };
    let cases = [
        ("body over the cap", Ok(Mode::Huge), too_large.clone()),
        (
            "chunked body over the cap",
            Ok(Mode::HugeChunked),
            too_large,
        ),
        ("500", Ok(Mode::Status(500)), FetchError::Status(500)),
        ("404", Ok(Mode::Status(404)), FetchError::Status(404)),
        (
            "redirect not followed",
            Ok(Mode::Redirect),
            FetchError::Status(302),
        ),
        (
            "invalid JSON",
            Err("{\"keys\": ["),
            FetchError::JwkSet(JwkSetError::Json(JsonError::Syntax)),
        ),
        (
            "duplicate members",
            Err("{\"keys\": [], \"keys\": []}"),
            FetchError::JwkSet(JwkSetError::Json(JsonError::DuplicateMember)),
        ),
        (
            "only an oct key",
            Err(oct_only),
            FetchError::NoUsableKeys { skipped: 1 },
        ),
    ];
    for (name, breaks, expected) in cases {
        server.serve_keys(&[&k1]);
        let keys = server.remote().build().unwrap();
        keys.load().await.unwrap();
        match breaks {
            Ok(mode) => server.set_mode(mode),
            Err(body) => server.serve_body(body),
        }
        assert_eq!(
            refused(keys.load().await),
            KeySourceError::Fetch(expected),
            "{name}"
        );
        assert_eq!(
            kids(&keys.current().unwrap()),
            ["k1"],
            "{name}: old keys kept"
        );
        assert_eq!(keys.stats().failures, 1, "{name}");
    }
    // The chunked body was not read to its end: reading stopped at the cap.
    assert!(server.shared.chunks_sent.load(Ordering::SeqCst) < CHUNKS / 2);

    // With nothing loaded, a refused document leaves no keys at all.
    server.serve_body(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQ"}]}"#);
    let keys = server.remote().build().unwrap();
    assert_eq!(
        refused(keys.refresh(Refresh::Missing).await),
        KeySourceError::Fetch(FetchError::NoUsableKeys { skipped: 1 })
    );
    assert!(keys.current().is_none());
}

#[test]
fn insecure_or_inconsistent_configuration_is_refused_at_build() {
    let jwks = |url: &str| RemoteJwks::builder(JwksLocation::JwksUri(Url::parse(url).unwrap()));
    let discovery = |issuer: &str| {
        RemoteJwks::builder(JwksLocation::Discovery {
            issuer: issuer.into(),
        })
    };
    let secs = Duration::from_secs;
    let cases: Vec<(RemoteJwksBuilder, JwksConfigError)> = vec![
        (
            jwks("http://127.0.0.1:1/jwks"),
            JwksConfigError::PlainHttp { field: "jwks_uri" },
        ),
        (
            discovery("http://127.0.0.1:1"),
            JwksConfigError::PlainHttp { field: "issuer" },
        ),
        (
            jwks("ftp://as.example.com/jwks"),
            JwksConfigError::UnsupportedScheme {
                field: "jwks_uri",
                scheme: "ftp".into(),
            },
        ),
        (
            jwks("https://user:pw@as.example.com/jwks"),
            JwksConfigError::CredentialsInUrl { field: "jwks_uri" },
        ),
        (
            discovery("as.example.com"),
            JwksConfigError::InvalidUrl { field: "issuer" },
        ),
        (
            discovery("https://as.example.com/?tenant=1"),
            JwksConfigError::IssuerQueryOrFragment,
        ),
        (
            discovery("https://as.example.com/#x"),
            JwksConfigError::IssuerQueryOrFragment,
        ),
        (
            jwks("https://as.example.com/jwks").min_ttl(secs(600)),
            JwksConfigError::TtlOrder {
                min: secs(600),
                default: secs(300),
                max: secs(86400),
            },
        ),
        (
            jwks("https://as.example.com/jwks").max_ttl(secs(60)),
            JwksConfigError::TtlOrder {
                min: secs(30),
                default: secs(300),
                max: secs(60),
            },
        ),
        (
            jwks("https://as.example.com/jwks").refresh_ahead(0.0),
            JwksConfigError::RefreshAhead(0.0),
        ),
        (
            jwks("https://as.example.com/jwks").refresh_ahead(1.5),
            JwksConfigError::RefreshAhead(1.5),
        ),
        (
            jwks("https://as.example.com/jwks").timeout(Duration::ZERO),
            JwksConfigError::ZeroDuration { field: "timeout" },
        ),
        (
            jwks("https://as.example.com/jwks").max_body_bytes(0),
            JwksConfigError::ZeroBodyLimit,
        ),
    ];
    for (builder, expected) in cases {
        assert_eq!(builder.build().unwrap_err(), expected);
    }
    // The same URLs pass with https, or with the dangerous opt-in for http.
    jwks("https://as.example.com/jwks").build().unwrap();
    discovery("https://as.example.com").build().unwrap();
    jwks("http://127.0.0.1:1/jwks")
        .dangerous_allow_plain_http()
        .build()
        .unwrap();
}

#[tokio::test]
async fn discovery_rfc8414_path_inserted() {
    let server = Server::start().await;
    let k1 = key("k1");
    server.serve_keys(&[&k1]);
    let issuer = format!("{}/tenant", server.base);
    server.document(
        "/.well-known/oauth-authorization-server/tenant",
        json!({"issuer": issuer, "jwks_uri": server.jwks_url().as_str()}),
    );
    let keys = RemoteJwks::builder(JwksLocation::Discovery {
        issuer: issuer.clone(),
    })
    .dangerous_allow_plain_http()
    .build()
    .unwrap();
    assert_eq!(kids(&keys.load().await.unwrap()), ["k1"]);
    keys.load().await.unwrap();
    // Discovery ran once; the second load went straight to the cached jwks_uri.
    assert_eq!(
        server.requests_to("/.well-known/oauth-authorization-server/tenant"),
        1
    );
    assert_eq!(
        server.requests_to("/tenant/.well-known/openid-configuration"),
        0
    );
    assert_eq!(server.hits(), 2);

    let verifier = verifier(&issuer, &keys);
    verifier
        .verify_async(&token(&k1, &issuer), now_s())
        .await
        .unwrap();
}

#[tokio::test]
async fn discovery_issuer_mismatch_is_refused_without_fallback() {
    let server = Server::start().await;
    server.serve_keys(&[&key("k1")]);
    let issuer = format!("{}/tenant", server.base);
    // The 8414 document names another issuer (the mix-up attack); a valid OIDC document
    // must not rescue it.
    server.document(
        "/.well-known/oauth-authorization-server/tenant",
        json!({"issuer": server.base, "jwks_uri": server.jwks_url().as_str()}),
    );
    server.document(
        "/tenant/.well-known/openid-configuration",
        json!({"issuer": issuer, "jwks_uri": server.jwks_url().as_str()}),
    );
    let keys = RemoteJwks::builder(JwksLocation::Discovery {
        issuer: issuer.clone(),
    })
    .dangerous_allow_plain_http()
    .build()
    .unwrap();
    // RFC 8414 §3.3: the document names another issuer.
    let mismatch = FetchError::IssuerMismatch {
        expected: issuer.clone(),
    };
    assert_eq!(
        refused(keys.load().await),
        KeySourceError::Fetch(FetchError::Discovery(Box::new(mismatch.clone())))
    );
    assert_eq!(
        server.requests_to("/tenant/.well-known/openid-configuration"),
        0
    );
    assert_eq!(server.hits(), 0);

    // Retried only after min_refetch_interval, however often it is asked.
    assert_eq!(
        refused(keys.refresh(Refresh::Missing).await),
        KeySourceError::NotRetried(FetchError::Discovery(Box::new(mismatch.clone())))
    );
    let again = refused(keys.load().await);
    assert_eq!(
        again,
        KeySourceError::Fetch(FetchError::DiscoveryDeferred(Box::new(mismatch.clone())))
    );
    assert_eq!(again.fetch_error().map(FetchError::root), Some(&mismatch));
    // The messages stay readable: the rule, and that it is not retried yet.
    let text = again.to_string();
    assert!(
        text.contains("RFC 8414 §3.3") && text.contains("not retried yet"),
        "{text}"
    );
    assert_eq!(
        server.requests_to("/.well-known/oauth-authorization-server/tenant"),
        1
    );
}

#[tokio::test]
async fn discovery_falls_back_to_openid_configuration() {
    let server = Server::start().await;
    server.serve_keys(&[&key("k1")]);
    let issuer = format!("{}/tenant", server.base);
    server.document(
        "/tenant/.well-known/openid-configuration",
        json!({"issuer": issuer, "jwks_uri": server.jwks_url().as_str()}),
    );
    let keys = RemoteJwks::builder(JwksLocation::Discovery { issuer })
        .dangerous_allow_plain_http()
        .build()
        .unwrap();
    assert_eq!(kids(&keys.load().await.unwrap()), ["k1"]);
    let paths = server.shared.paths.lock().unwrap().clone();
    assert_eq!(
        paths,
        [
            "/.well-known/oauth-authorization-server/tenant",
            "/tenant/.well-known/openid-configuration",
            "/jwks"
        ]
    );
}
