//! The workload token sources (`mcp_warden::workload`) against the real thing on loopback:
//! HTTP servers speaking each platform's documented protocol (GCP metadata server, GitHub
//! Actions OIDC, Kubernetes TokenRequest, over plain http and over TLS with a private cluster
//! CA), files rewritten between fetches, real child processes, and the cache driven by a
//! clock the test moves. Each server refuses what the real one would refuse, so a source that
//! dropped a header, a parameter or the bearer fails its test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mcp_warden::clock::Clock;
use mcp_warden::jose::{Algorithm, SigningKey};
use mcp_warden::secret::Secret;
use mcp_warden::workload::{
    AutoOptions, CommandSource, Detected, FileSource, GcpMetadata, GithubActions,
    KubernetesTokenRequest, MAX_TOKEN_BYTES, MalformedToken, SourceError, StaticEnvironment,
    TokenSource, WorkloadSource,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------

const NOW: u64 = 1_764_288_000;
const AUDIENCE: &str = "https://as.example.com/token?tenant=a&b=c d";

/// A real ES256-signed JWT with `claims` (the sources never verify it; the issuer will).
fn jwt(claims: Value) -> String {
    let key = SigningKey::generate(Algorithm::ES256).unwrap();
    key.sign_compact(
        json!({"typ": "JWT"}).as_object().unwrap(),
        claims.as_object().unwrap(),
    )
    .unwrap()
}

/// A token issued at `iat` living `lifetime` seconds.
fn token_at(iat: u64, lifetime: u64, sub: &str) -> String {
    jwt(json!({"iss": "https://platform.example", "sub": sub, "iat": iat, "exp": iat + lifetime}))
}

/// A clock the test moves.
struct TestClock(AtomicU64);

impl TestClock {
    fn at(now: u64) -> Arc<Self> {
        Arc::new(TestClock(AtomicU64::new(now)))
    }

    fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn query(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

/// A directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!(
            "mcp-warden-workload-{tag}-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn assert_no_secret(error: &SourceError, secret: &str) {
    let printed = format!("{error} {error:?}");
    assert!(!printed.contains(secret), "{printed}");
}

// ---------------------------------------------------------------------------------------
// GCP metadata server
// ---------------------------------------------------------------------------------------

/// The metadata server's identity endpoint as Google documents it: `Metadata-Flavor:
/// Google` required (403 otherwise, as the real server answers), `audience` and
/// `format=full`, the JWT as the body, `Metadata-Flavor: Google` on the answer. Counts
/// requests; each answer is `answer()`, after `delay`.
#[derive(Clone)]
struct Metadata {
    requests: Arc<AtomicUsize>,
    answer: Arc<dyn Fn() -> Response + Send + Sync>,
    delay: Duration,
}

impl Metadata {
    fn new(answer: impl Fn() -> Response + Send + Sync + 'static) -> Self {
        Metadata {
            requests: Arc::new(AtomicUsize::new(0)),
            answer: Arc::new(answer),
            delay: Duration::ZERO,
        }
    }

    fn token(token: String) -> Self {
        Self::new(move || ([("metadata-flavor", "Google")], token.clone()).into_response())
    }

    fn count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    async fn start(&self) -> String {
        let this = self.clone();
        let path = "/computeMetadata/v1/instance/service-accounts/default/identity";
        serve(Router::new().route(
            path,
            get(move |headers: HeaderMap, uri: Uri| async move {
                this.requests.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(this.delay).await;
                if headers.get("metadata-flavor") != Some(&HeaderValue::from_static("Google")) {
                    return (
                        StatusCode::FORBIDDEN,
                        "Missing Metadata-Flavor:Google header",
                    )
                        .into_response();
                }
                let params = query(&uri);
                let expected = [("audience", AUDIENCE), ("format", "full")]
                    .map(|(k, v)| (k.to_owned(), v.to_owned()));
                if params != expected {
                    return (StatusCode::BAD_REQUEST, "non-empty audience required")
                        .into_response();
                }
                (this.answer)()
            }),
        ))
        .await
    }
}

fn gcp(base: &str, clock: Arc<TestClock>) -> GcpMetadata {
    GcpMetadata::builder()
        .base_url(base)
        .audience(AUDIENCE)
        .clock(clock)
        .build()
        .unwrap()
}

#[tokio::test]
async fn gcp_metadata_sends_the_flavor_header_audience_and_format_and_reads_the_body() {
    let minted = token_at(NOW, 3600, "gce-instance");
    let server = Metadata::token(minted.clone());
    let base = server.start().await;
    // The server really refuses a request without the header: the source's success below
    // proves it sent it.
    let url = format!(
        "{base}/computeMetadata/v1/instance/service-accounts/default/identity?audience={}&format=full",
        url::form_urlencoded::byte_serialize(AUDIENCE.as_bytes()).collect::<String>()
    );
    let bare = reqwest::get(&url).await.unwrap();
    assert_eq!(bare.status(), 403);

    let source = gcp(&base, TestClock::at(NOW));
    let token = source.fetch().await.unwrap();
    assert_eq!(token.expose(), minted);
    assert_eq!(
        (token.issued_at(), token.expires_at()),
        (Some(NOW), Some(NOW + 3600))
    );
    assert_eq!(token.source(), format!("GCP metadata server {base}/"));
    assert!(!format!("{token:?}").contains(&minted));
    assert_eq!(server.count(), 2);
}

#[tokio::test]
async fn gce_metadata_host_moves_the_metadata_server() {
    let minted = token_at(NOW, 3600, "gke-pod");
    let server = Metadata::token(minted.clone());
    let base = server.start().await;
    let host = base.trim_start_matches("http://");
    let env = StaticEnvironment::new().var("GCE_METADATA_HOST", host);
    let source = GcpMetadata::builder()
        .environment(&env)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    assert_eq!(source.fetch().await.unwrap().expose(), minted);
    // Detection follows the same variable, without any request being made to detect.
    let auto = WorkloadSource::auto(&env, AutoOptions::new().audience(AUDIENCE)).unwrap();
    assert_eq!(
        auto.detected(),
        &Detected::GcpMetadata {
            metadata_host: Some(host.to_owned())
        }
    );
    assert_eq!(server.count(), 1);
    assert_eq!(auto.fetch().await.unwrap().expose(), minted);
}

#[tokio::test]
async fn gcp_metadata_failures_name_the_source_and_what_went_wrong() {
    let clock = TestClock::at(NOW);
    let status = Metadata::new(|| StatusCode::NOT_FOUND.into_response())
        .start()
        .await;
    let error = gcp(&status, clock.clone()).fetch().await.unwrap_err();
    assert_eq!(
        error,
        SourceError::Status {
            name: format!("GCP metadata server {status}/"),
            status: 404
        }
    );
    assert!(error.to_string().contains("HTTP status 404"), "{error}");

    // An answer without Metadata-Flavor: Google is not the metadata server.
    let minted = token_at(NOW, 3600, "x");
    let impostor = {
        let minted = minted.clone();
        Metadata::new(move || minted.clone().into_response())
            .start()
            .await
    };
    let error = gcp(&impostor, clock.clone()).fetch().await.unwrap_err();
    assert!(
        matches!(error, SourceError::InvalidResponse { .. }),
        "{error:?}"
    );
    assert_no_secret(&error, &minted);

    let garbage =
        Metadata::new(|| ([("metadata-flavor", "Google")], "<html>hi</html>").into_response());
    let error = gcp(&garbage.start().await, clock.clone())
        .fetch()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::Malformed {
                reason: MalformedToken::NotCompactJws,
                ..
            }
        ),
        "{error:?}"
    );

    let huge = Metadata::new(|| {
        (
            [("metadata-flavor", "Google")],
            "a".repeat(MAX_TOKEN_BYTES + 1),
        )
            .into_response()
    });
    let error = gcp(&huge.start().await, clock.clone())
        .fetch()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::TooLarge {
                max: MAX_TOKEN_BYTES,
                ..
            }
        ),
        "{error:?}"
    );

    // Nothing listens on this port any more.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let error = gcp(&closed, clock).fetch().await.unwrap_err();
    assert!(matches!(error, SourceError::Connect { .. }), "{error:?}");

    let error = GcpMetadata::builder().build().unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::Config {
                field: "audience",
                ..
            }
        ),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Caching and single flight (on the GCP source; the cache is shared by every network source)
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_cached_token_is_served_until_80_percent_of_its_lifetime() {
    let clock = TestClock::at(NOW);
    // Issued 200 s before the fetch, living 1000 s: refresh at iat + 800 = NOW + 600.
    let server = Metadata::token(token_at(NOW - 200, 1000, "a"));
    let source = gcp(&server.start().await, clock.clone());
    for _ in 0..3 {
        source.fetch().await.unwrap();
    }
    assert_eq!(server.count(), 1);
    clock.set(NOW + 599);
    source.fetch().await.unwrap();
    assert_eq!(
        server.count(),
        1,
        "refreshed before 80 % of the lifetime from iat"
    );
    clock.set(NOW + 600);
    source.fetch().await.unwrap();
    assert_eq!(server.count(), 2, "not refreshed at 80 % of the lifetime");

    // Without `iat`, the lifetime runs from the fetch: 80 % of 1000 s from NOW + 600.
    let server = Metadata::token(jwt(json!({"sub": "b", "exp": NOW + 1600})));
    let clock = TestClock::at(NOW + 600);
    let source = gcp(&server.start().await, clock.clone());
    source.fetch().await.unwrap();
    clock.set(NOW + 1399);
    source.fetch().await.unwrap();
    assert_eq!(server.count(), 1);
    clock.set(NOW + 1400);
    source.fetch().await.unwrap();
    assert_eq!(server.count(), 2);

    // Without `exp` nothing says how long it lives: never cached.
    let server = Metadata::token(jwt(json!({"sub": "c", "iat": NOW})));
    let source = gcp(&server.start().await, TestClock::at(NOW));
    source.fetch().await.unwrap();
    source.fetch().await.unwrap();
    assert_eq!(server.count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_fetches_make_one_request() {
    let minted = token_at(NOW, 3600, "single-flight");
    let mut server = Metadata::token(minted.clone());
    server.delay = Duration::from_millis(300);
    let source = Arc::new(gcp(&server.start().await, TestClock::at(NOW)));
    let fetches: Vec<_> = (0..50)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.fetch().await })
        })
        .collect();
    for fetch in fetches {
        assert_eq!(fetch.await.unwrap().unwrap().expose(), minted);
    }
    assert_eq!(server.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_share_a_failed_refresh_and_an_unexpired_token_outlives_failures() {
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let minted = token_at(NOW, 1000, "fallback");
    let mut server = {
        let (failing, minted) = (failing.clone(), minted.clone());
        Metadata::new(move || {
            if failing.load(Ordering::SeqCst) {
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            } else {
                ([("metadata-flavor", "Google")], minted.clone()).into_response()
            }
        })
    };
    server.delay = Duration::from_millis(300);
    let clock = TestClock::at(NOW);
    let source = Arc::new(gcp(&server.start().await, clock.clone()));

    // Twenty callers during one failing fetch: one request, twenty errors.
    let fetches: Vec<_> = (0..20)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.fetch().await })
        })
        .collect();
    for fetch in fetches {
        let error = fetch.await.unwrap().unwrap_err();
        assert!(
            matches!(error, SourceError::Status { status: 503, .. }),
            "{error:?}"
        );
    }
    assert_eq!(server.count(), 1);

    // Within the retry delay (0.5 s after a first failure) the failure is the answer, and
    // the platform is not asked again.
    failing.store(false, Ordering::SeqCst);
    let error = source.fetch().await.unwrap_err();
    assert!(
        matches!(error, SourceError::Status { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(server.count(), 1);

    // A later caller, past the delay, tries again.
    clock.set(NOW + 1);
    assert_eq!(source.fetch().await.unwrap().expose(), minted);
    assert_eq!(server.count(), 2);

    // Past 80 %, the platform fails: the unexpired token is still served...
    failing.store(true, Ordering::SeqCst);
    clock.set(NOW + 900);
    assert_eq!(source.fetch().await.unwrap().expose(), minted);
    assert_eq!(server.count(), 3);
    // ...and not once it has expired.
    clock.set(NOW + 1000);
    let error = source.fetch().await.unwrap_err();
    assert!(
        matches!(error, SourceError::Status { status: 503, .. }),
        "{error:?}"
    );
    assert_eq!(server.count(), 4);
}

// ---------------------------------------------------------------------------------------
// GitHub Actions OIDC
// ---------------------------------------------------------------------------------------

/// The runner's token endpoint: `Authorization: Bearer <request token>` (401 otherwise),
/// `api-version` kept, `audience` added; answers `{"value": jwt}`. Records each query.
async fn github_endpoint(
    minted: String,
) -> (String, Arc<std::sync::Mutex<Vec<Vec<(String, String)>>>>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    let app = Router::new().route(
        "/_apis/idtoken",
        get(move |headers: HeaderMap, uri: Uri| async move {
            recorded.lock().unwrap().push(query(&uri));
            if headers.get("authorization")
                != Some(&HeaderValue::from_static("Bearer runner-request-token"))
            {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            axum::Json(json!({"count": 1, "value": minted})).into_response()
        }),
    );
    (serve(app).await, seen)
}

fn github(url: &str, token: &str) -> Result<GithubActions, SourceError> {
    let env = StaticEnvironment::new()
        .var("ACTIONS_ID_TOKEN_REQUEST_URL", url)
        .var("ACTIONS_ID_TOKEN_REQUEST_TOKEN", token);
    GithubActions::builder()
        .environment(&env)
        .audience(AUDIENCE)
        .dangerous_allow_plain_http()
        .clock(TestClock::at(NOW))
        .build()
}

#[tokio::test]
async fn github_oidc_appends_the_audience_to_the_request_url_and_sends_the_bearer() {
    let minted = token_at(NOW, 300, "repo:octo/agent:ref:refs/heads/main");
    let (base, seen) = github_endpoint(minted.clone()).await;

    // The runner's URL already has a query: the audience is appended with `&`.
    let source = github(
        &format!("{base}/_apis/idtoken?api-version=2.0"),
        "runner-request-token",
    )
    .unwrap();
    let token = source.fetch().await.unwrap();
    assert_eq!(token.expose(), minted);
    assert_eq!(token.expires_at(), Some(NOW + 300));
    // And without one, with `?`.
    let source = github(&format!("{base}/_apis/idtoken"), "runner-request-token").unwrap();
    source.fetch().await.unwrap();
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            vec![pair("api-version", "2.0"), pair("audience", AUDIENCE)],
            vec![pair("audience", AUDIENCE)],
        ]
    );

    // A wrong request token is the endpoint's 401, named, the token not in the error.
    let source = github(&format!("{base}/_apis/idtoken"), "stolen-or-stale").unwrap();
    let error = source.fetch().await.unwrap_err();
    let host = base
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap();
    assert_eq!(
        error,
        SourceError::Status {
            name: format!("GitHub Actions OIDC {host}"),
            status: 401
        }
    );
    assert_no_secret(&error, "stolen-or-stale");
}

#[tokio::test]
async fn github_oidc_configuration_errors_name_the_variable_or_setting() {
    let error = GithubActions::builder()
        .audience(AUDIENCE)
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        SourceError::EnvMissing {
            name: "GitHub Actions OIDC".into(),
            var: "ACTIONS_ID_TOKEN_REQUEST_URL"
        }
    );
    assert!(
        error
            .to_string()
            .contains("ACTIONS_ID_TOKEN_REQUEST_URL is not set")
    );
    let error = GithubActions::builder()
        .request_url("https://pipelines.example/idtoken")
        .audience(AUDIENCE)
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        SourceError::EnvMissing {
            var: "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            ..
        }
    ));
    // Plain http only with the dangerous opt-in: it would send the request token in clear.
    let error = GithubActions::builder()
        .request_url("http://pipelines.example/idtoken")
        .request_token(Secret::new("t"))
        .audience(AUDIENCE)
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        SourceError::Config {
            field: "request_url",
            reason: "is not https",
            ..
        }
    ));
    let error = GithubActions::builder()
        .request_url("https://pipelines.example/idtoken")
        .request_token(Secret::new("t"))
        .build()
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(
        error,
        SourceError::Config {
            field: "audience",
            ..
        }
    ));
    // Auto-detection needs the audience for GitHub too.
    let env = StaticEnvironment::new()
        .var(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "https://pipelines.example/idtoken",
        )
        .var("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t");
    let error = WorkloadSource::auto(&env, AutoOptions::new()).unwrap_err();
    assert!(matches!(
        error,
        SourceError::Config {
            field: "audience",
            ..
        }
    ));
    let auto = WorkloadSource::auto(&env, AutoOptions::new().audience(AUDIENCE)).unwrap();
    assert_eq!(auto.detected(), &Detected::GithubActions);
}

// ---------------------------------------------------------------------------------------
// Kubernetes TokenRequest
// ---------------------------------------------------------------------------------------

const TOKEN_REQUEST_PATH: &str = "/api/v1/namespaces/agents/serviceaccounts/mcp-agent/token";

/// The API server's `serviceaccounts/token` subresource: the bearer must be the pod's
/// current service-account token (401 otherwise), the body the documented TokenRequest
/// (400 otherwise); answers 201 with `status.token` and `status.expirationTimestamp`.
/// Records the bearers it accepted.
fn token_request_app(
    pod_token: Arc<std::sync::Mutex<String>>,
    minted: String,
    expiration: &'static str,
) -> (Router, Arc<std::sync::Mutex<Vec<String>>>) {
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = accepted.clone();
    let app = Router::new().route(
        TOKEN_REQUEST_PATH,
        post(move |headers: HeaderMap, body: Bytes| async move {
            let expected = format!("Bearer {}", pod_token.lock().unwrap());
            let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
            if bearer != Some(expected.as_str()) {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            let body: Value = serde_json::from_slice(&body).unwrap_or_default();
            let documented = json!({
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"audiences": [AUDIENCE], "expirationSeconds": 3600},
            });
            if body != documented
                || headers.get("content-type")
                    != Some(&HeaderValue::from_static("application/json"))
            {
                return StatusCode::BAD_REQUEST.into_response();
            }
            record.lock().unwrap().push(expected);
            let answer = json!({
                "kind": "TokenRequest",
                "apiVersion": "authentication.k8s.io/v1",
                "spec": body["spec"].clone(),
                "status": {"token": minted, "expirationTimestamp": expiration},
            });
            (StatusCode::CREATED, axum::Json(answer)).into_response()
        }),
    );
    (app, accepted)
}

#[tokio::test]
async fn kubernetes_token_request_posts_the_documented_request_with_the_pods_own_token() {
    let dir = TempDir::new("k8s");
    let sa_token = dir.write("token", "pod-token-1\n");
    let pod_token = Arc::new(std::sync::Mutex::new("pod-token-1".to_owned()));
    // The JWT says NOW + 7200, the API server says 2025-11-28T01:00:00Z = NOW + 3600: the
    // earlier one counts.
    let minted = token_at(NOW, 7200, "system:serviceaccount:agents:mcp-agent");
    let (app, accepted) =
        token_request_app(pod_token.clone(), minted.clone(), "2025-11-28T01:00:00Z");
    let base = serve(app).await;
    let clock = TestClock::at(NOW);
    let source = KubernetesTokenRequest::builder()
        .api_server(&base)
        .namespace("agents")
        .service_account("mcp-agent")
        .audience(AUDIENCE)
        .token_file(&sa_token)
        .dangerous_allow_plain_http()
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(source.name(), "Kubernetes TokenRequest agents/mcp-agent");
    let token = source.fetch().await.unwrap();
    assert_eq!(token.expose(), minted);
    assert_eq!(token.expires_at(), Some(NOW + 3600));

    // The kubelet rotates the pod's token: the next request carries the new one.
    std::fs::write(&sa_token, "pod-token-2").unwrap();
    *pod_token.lock().unwrap() = "pod-token-2".to_owned();
    clock.set(NOW + 2880); // 80 % of 3600 s
    source.fetch().await.unwrap();
    assert_eq!(
        *accepted.lock().unwrap(),
        ["Bearer pod-token-1", "Bearer pod-token-2"]
    );

    // A stale pod token is the API server's 401; a missing one names its file.
    *pod_token.lock().unwrap() = "pod-token-3".to_owned();
    clock.set(NOW + 5760);
    let error = source.fetch().await.unwrap_err();
    assert!(
        matches!(error, SourceError::Status { status: 401, .. }),
        "{error:?}"
    );
    assert_no_secret(&error, "pod-token-2");
    std::fs::remove_file(&sa_token).unwrap();
    clock.set(NOW + 5761); // past the retry delay after the 401
    let error = source.fetch().await.unwrap_err();
    assert_eq!(
        error,
        SourceError::FileNotFound {
            name: "Kubernetes TokenRequest agents/mcp-agent".into(),
            path: sa_token.clone()
        }
    );
}

#[tokio::test]
async fn kubernetes_token_request_refuses_answers_and_settings_outside_the_api() {
    let dir = TempDir::new("k8s-bad");
    let sa_token = dir.write("token", "pod-token");
    let pod_token = Arc::new(std::sync::Mutex::new("pod-token".to_owned()));
    let minted = token_at(NOW, 3600, "x");
    let (app, _) = token_request_app(pod_token, minted.clone(), "tomorrow");
    let base = serve(app).await;
    let builder = || {
        KubernetesTokenRequest::builder()
            .api_server(&base)
            .namespace("agents")
            .service_account("mcp-agent")
            .audience(AUDIENCE)
            .token_file(&sa_token)
    };
    let source = builder().dangerous_allow_plain_http().build().unwrap();
    let error = source.fetch().await.unwrap_err();
    assert!(
        matches!(error, SourceError::InvalidResponse { .. }),
        "{error:?}"
    );
    assert_no_secret(&error, &minted);

    // https by default, and then the cluster CA file must exist.
    let error = builder().build().unwrap_err();
    assert!(matches!(
        error,
        SourceError::Config {
            field: "api_server",
            reason: "is not https",
            ..
        }
    ));
    let missing_ca = dir.0.join("ca.crt");
    let error = builder()
        .api_server("https://kubernetes.default.svc")
        .ca_file(&missing_ca)
        .build()
        .unwrap_err();
    assert!(
        matches!(&error, SourceError::FileNotFound { path, .. } if *path == missing_ca),
        "{error:?}"
    );
    let error = builder()
        .expiration_seconds(599)
        .dangerous_allow_plain_http()
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        SourceError::Config {
            field: "expiration_seconds",
            ..
        }
    ));
    let error = builder()
        .namespace("Not_A_Name")
        .dangerous_allow_plain_http()
        .build()
        .unwrap_err();
    assert!(matches!(
        error,
        SourceError::Config {
            field: "namespace",
            ..
        }
    ));
}

/// Over TLS, as in a cluster: the API server's certificate chains to a private cluster CA,
/// trusted only through `ca_file`.
#[cfg(feature = "sidecar")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_token_request_over_tls_trusts_the_cluster_ca_file_only() {
    let dir = TempDir::new("k8s-tls");
    let sa_token = dir.write("token", "pod-token");
    let minted = token_at(NOW, 3600, "tls");
    let pod_token = Arc::new(std::sync::Mutex::new("pod-token".to_owned()));
    let (app, accepted) = token_request_app(pod_token, minted.clone(), "2025-11-28T01:00:00Z");
    let (ca_pem, address) = tls::serve(app).await;
    let ca_file = dir.write("ca.crt", ca_pem);
    let other_ca = dir.write("other-ca.crt", tls::private_ca().0);
    let source = |ca: &Path| {
        KubernetesTokenRequest::builder()
            .api_server(format!("https://localhost:{}", address.port()))
            .namespace("agents")
            .service_account("mcp-agent")
            .audience(AUDIENCE)
            .token_file(&sa_token)
            .ca_file(ca)
            .build()
            .unwrap()
    };
    assert_eq!(source(&ca_file).fetch().await.unwrap().expose(), minted);
    let error = source(&other_ca).fetch().await.unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::Connect { .. } | SourceError::Transport { .. }
        ),
        "{error:?}"
    );
    assert_eq!(accepted.lock().unwrap().len(), 1);
}

#[cfg(feature = "sidecar")]
mod tls {
    //! An axum app served over TLS by hyper, with a certificate from a fresh private CA.

    use std::net::SocketAddr;
    use std::sync::Arc;

    use axum::Router;
    use hyper_util::rt::TokioIo;
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use tokio_rustls::TlsAcceptor;
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tower::ServiceExt;

    /// A CA: its PEM and its issuer.
    pub(super) fn private_ca() -> (String, Issuer<'static, KeyPair>) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "test cluster CA");
        let key = KeyPair::generate().unwrap();
        let ca = params.self_signed(&key).unwrap();
        (ca.pem(), Issuer::new(params, key))
    }

    /// Serves `app` on 127.0.0.1 over TLS for `localhost`: the CA's PEM and the address.
    pub(super) async fn serve(app: Router) -> (String, SocketAddr) {
        let (ca_pem, issuer) = private_ca();
        let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = params.signed_by(&key, &issuer).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, app) = (acceptor.clone(), app.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service =
                        hyper::service::service_fn(move |request| app.clone().oneshot(request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        (ca_pem, address)
    }
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_token_file_is_read_again_on_every_fetch() {
    let dir = TempDir::new("file");
    let a = token_at(NOW, 3600, "a");
    let b = token_at(NOW + 2880, 3600, "b");
    let path = dir.write("mcp-token", format!("{a}\n"));
    let source = FileSource::kubernetes_at(&path);
    assert_eq!(
        source.name(),
        format!("Kubernetes projected token {}", path.display())
    );
    let token = source.fetch().await.unwrap();
    assert_eq!(
        (token.expose(), token.expires_at()),
        (a.as_str(), Some(NOW + 3600))
    );
    // The kubelet writes the rotated token (atomically, via a symlink swap; a rewrite
    // is the same to a reader).
    std::fs::write(&path, format!("  {b}\r\n")).unwrap();
    let token = source.fetch().await.unwrap();
    assert_eq!(
        (token.expose(), token.expires_at()),
        (b.as_str(), Some(NOW + 6480))
    );
}

#[tokio::test]
async fn token_file_errors_name_the_file_and_never_the_token() {
    let dir = TempDir::new("file-bad");
    let missing = dir.0.join("absent");
    let error = FileSource::new(&missing).fetch().await.unwrap_err();
    assert_eq!(
        error,
        SourceError::FileNotFound {
            name: format!("file {}", missing.display()),
            path: missing.clone()
        }
    );
    assert!(error.to_string().contains(&missing.display().to_string()));

    let big = dir.write("big", "a".repeat(MAX_TOKEN_BYTES + 1));
    let error = FileSource::new(&big).fetch().await.unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::TooLarge {
                max: MAX_TOKEN_BYTES,
                ..
            }
        ),
        "{error:?}"
    );
    // Exactly at the cap is read (and then judged on its shape).
    let at_cap = dir.write("cap", "a".repeat(MAX_TOKEN_BYTES));
    let error = FileSource::new(&at_cap).fetch().await.unwrap_err();
    assert!(matches!(error, SourceError::Malformed { .. }), "{error:?}");

    let secretish = "secret-bearer-value-not-a-jwt";
    let garbage = dir.write("garbage", secretish);
    let error = FileSource::new(&garbage).fetch().await.unwrap_err();
    assert!(matches!(
        error,
        SourceError::Malformed {
            reason: MalformedToken::NotCompactJws,
            ..
        }
    ));
    assert_no_secret(&error, secretish);
    let empty = dir.write("empty", "\n");
    let error = FileSource::new(&empty).fetch().await.unwrap_err();
    assert!(matches!(
        error,
        SourceError::Malformed {
            reason: MalformedToken::Empty,
            ..
        }
    ));
    let error = FileSource::new(&dir.0).fetch().await.unwrap_err();
    assert!(
        matches!(error, SourceError::FileUnreadable { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn aws_and_azure_presets_read_the_file_their_variable_names() {
    let dir = TempDir::new("cloud");
    let aws_token = token_at(NOW, 86_400, "arn:aws:iam::1:role/agent");
    let azure_token = token_at(NOW, 3600, "azure-oid");
    let aws = dir.write("aws", &aws_token);
    let azure = dir.write("azure", &azure_token);
    let env = StaticEnvironment::new()
        .var("AWS_WEB_IDENTITY_TOKEN_FILE", aws.to_str().unwrap())
        .var("AZURE_FEDERATED_TOKEN_FILE", azure.to_str().unwrap());
    let source = FileSource::aws_web_identity(&env).unwrap();
    assert_eq!(source.fetch().await.unwrap().expose(), aws_token);
    assert_eq!(
        source.name(),
        format!("AWS web identity token {}", aws.display())
    );
    let source = FileSource::azure_federated(&env).unwrap();
    assert_eq!(source.fetch().await.unwrap().expose(), azure_token);

    let error = FileSource::azure_federated(&StaticEnvironment::new()).unwrap_err();
    assert_eq!(
        error,
        SourceError::EnvMissing {
            name: "Azure federated token".into(),
            var: "AZURE_FEDERATED_TOKEN_FILE"
        }
    );
    let error = FileSource::aws_web_identity(&StaticEnvironment::new()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("AWS_WEB_IDENTITY_TOKEN_FILE is not set"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn a_commands_standard_output_is_the_token_and_is_cached() {
    let minted = token_at(NOW, 1000, "cli");
    let dir = TempDir::new("cmd");
    let runs = dir.0.join("runs");
    // Counts its runs in a file, then prints the token.
    let script = format!("echo run >> '{}'; echo '{minted}'", runs.display());
    let clock = TestClock::at(NOW);
    let source = CommandSource::builder("/bin/sh")
        .args(["-c", &script])
        .clock(clock.clone())
        .build();
    assert_eq!(source.name(), "command /bin/sh");
    assert_eq!(source.fetch().await.unwrap().expose(), minted);
    assert_eq!(source.fetch().await.unwrap().expose(), minted);
    let count = || std::fs::read_to_string(&runs).unwrap().lines().count();
    assert_eq!(count(), 1);
    clock.set(NOW + 800);
    source.fetch().await.unwrap();
    assert_eq!(count(), 2);

    // No shell in between: the argument reaches /bin/echo as one argv entry.
    let echo = CommandSource::builder("/bin/echo").arg(&minted).build();
    assert_eq!(echo.fetch().await.unwrap().expose(), minted);
}

#[tokio::test]
async fn a_failing_command_is_named_and_its_output_kept_out() {
    let error = CommandSource::builder("/bin/sh")
        .args([
            "-c",
            "echo secret-on-stdout; echo secret-on-stderr >&2; exit 3",
        ])
        .discard_stderr()
        .build()
        .fetch()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SourceError::CommandFailed {
            name: "command /bin/sh".into(),
            code: Some(3)
        }
    );
    assert_eq!(
        error.to_string(),
        "command /bin/sh: exited unsuccessfully (exit status 3)"
    );
    assert_no_secret(&error, "secret-on");

    let error = CommandSource::builder("/nonexistent/get-token")
        .build()
        .fetch()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SourceError::CommandSpawn {
            name: "command /nonexistent/get-token".into(),
            kind: std::io::ErrorKind::NotFound
        }
    );

    let error = CommandSource::builder("/bin/sh")
        .args(["-c", "head -c 20000 /dev/zero | tr '\\0' a"])
        .build()
        .fetch()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            SourceError::TooLarge {
                max: MAX_TOKEN_BYTES,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed() {
    let dir = TempDir::new("cmd-timeout");
    let pid_file = dir.0.join("pid");
    let script = format!("echo $$ > '{}'; exec sleep 30", pid_file.display());
    let started = Instant::now();
    let error = CommandSource::builder("/bin/sh")
        .args(["-c", &script])
        .timeout(Duration::from_millis(300))
        .build()
        .fetch()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SourceError::Timeout {
            name: "command /bin/sh".into(),
            after: Duration::from_millis(300)
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // `exec` made the shell the sleep: that process must be gone (or a zombie being reaped).
    let pid = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .to_owned();
    let stat = Path::new("/proc").join(&pid).join("stat");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::read_to_string(&stat) {
            Err(_) => break,
            Ok(text) if text.split_whitespace().nth(2) == Some("Z") => break,
            Ok(_) if Instant::now() > deadline => panic!("process {pid} still running"),
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Automatic detection
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn auto_builds_the_detected_platforms_source_and_names_what_it_found() {
    let dir = TempDir::new("auto");
    let minted = token_at(NOW, 3600, "projected");
    let projected = dir.write("mcp-token", &minted);
    let env = StaticEnvironment::new().file(&projected);
    let options = AutoOptions::new().kubernetes_token_file(&projected);
    let source = WorkloadSource::auto(&env, options.clone()).unwrap();
    assert_eq!(
        source.detected(),
        &Detected::KubernetesProjected {
            token_file: projected.clone()
        }
    );
    assert_eq!(
        source.detected().to_string(),
        format!(
            "Kubernetes projected service-account token ({} exists)",
            projected.display()
        )
    );
    assert_eq!(source.fetch().await.unwrap().expose(), minted);

    // AWS wins over the projected file (EKS pods are Kubernetes pods too).
    let aws_token = token_at(NOW, 3600, "aws");
    let aws = dir.write("aws", &aws_token);
    let env = env.var("AWS_WEB_IDENTITY_TOKEN_FILE", aws.to_str().unwrap());
    let source = WorkloadSource::auto(&env, options).unwrap();
    assert_eq!(
        source.detected(),
        &Detected::AwsWebIdentity {
            token_file: aws.clone()
        }
    );
    assert_eq!(source.fetch().await.unwrap().expose(), aws_token);

    // Nothing set, nothing at the default path, GCP not enabled: an error naming the path.
    let error = WorkloadSource::auto(&StaticEnvironment::new(), AutoOptions::new()).unwrap_err();
    assert_eq!(
        error,
        SourceError::NothingDetected {
            kubernetes_token_file: "/var/run/secrets/tokens/mcp-token".into()
        }
    );
    assert!(
        error
            .to_string()
            .contains("/var/run/secrets/tokens/mcp-token does not exist")
    );
}
