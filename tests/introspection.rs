//! `IntrospectionClient` against a real RFC 7662 endpoint: an axum server on loopback that
//! authenticates the client for real (Basic, body secret, `private_key_jwt` signature,
//! bearer token), counts requests, and answers from a fixed table.

// Test helpers outside `#[test]` functions set up the server; a failure there is a test failure.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use mcp_warden::jose::{Algorithm, AlgorithmSet, JsonError, SigningKey, UnverifiedJws};
use mcp_warden::secret::Secret;
use mcp_warden::token::{
    AccessToken, ClientAuth, IntrospectionClient, IntrospectionClientBuilder,
    IntrospectionConfigError, IntrospectionFailure, IntrospectionRules, TokenError, TokenVerifier,
    UnavailableCause,
};
use serde_json::{Value, json};
use url::Url;

const NOW: u64 = 1_764_288_000;
const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://as.example.com";
const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
// Characters that RFC 6749 §2.3.1 form-urlencoding changes, to prove both sides encode.
const BASIC_SECRET: &str = "s3cr3t: &+é%";

/// The authorization server's table (RFC 7662 §2.2 answers); unknown tokens are inactive.
fn answer(token: &str) -> Value {
    let active = |extra: Value| {
        let mut base = json!({"active": true, "iss": ISSUER, "aud": RESOURCE, "sub": "agent-7",
                              "scope": "tools:call tools:list", "exp": NOW + 600});
        for (name, value) in extra.as_object().into_iter().flatten() {
            base[name] = value.clone();
        }
        base
    };
    match token {
        "bound" => active(json!({"token_type": "DPoP", "cnf": {"jkt": JKT}})),
        "unbound" => active(json!({"token_type": "Bearer"})),
        "other-audience" => active(json!({"aud": "https://other.example.com/mcp"})),
        "bound-typed-bearer" => active(json!({"token_type": "Bearer", "cnf": {"jkt": JKT}})),
        "short" => active(json!({"token_type": "DPoP", "cnf": {"jkt": JKT}, "exp": NOW + 5})),
        _ => json!({"active": false}),
    }
}

struct AuthServer {
    requests: AtomicUsize,
    endpoint: String,
    client_key: Arc<SigningKey>,
}

struct TestAs {
    base: String,
    state: Arc<AuthServer>,
    client_key: Arc<SigningKey>,
}

impl TestAs {
    async fn start() -> TestAs {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let client_key = Arc::new(SigningKey::generate(Algorithm::ES256).unwrap());
        let state = Arc::new(AuthServer {
            requests: AtomicUsize::new(0),
            endpoint: format!("{base}/introspect"),
            client_key: client_key.clone(),
        });
        let app = Router::new()
            .route("/introspect", post(introspect))
            .route("/slow", post(slow))
            .route("/oversized", post(oversized))
            .route("/endless", post(endless))
            .route(
                "/duplicate",
                post(|| async { r#"{"active":true,"active":false}"# }),
            )
            .route("/not-json", post(|| async { "<html>active</html>" }))
            .route(
                "/error",
                post(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route("/redirect", post(redirect))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        TestAs {
            base,
            state,
            client_key,
        }
    }

    fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    fn client(&self, path: &str, auth: ClientAuth) -> IntrospectionClientBuilder {
        let endpoint = Url::parse(&format!("{}{path}", self.base)).unwrap();
        IntrospectionClient::builder(endpoint, rules())
            .client_auth(auth)
            .dangerous_allow_plain_http()
    }

    fn basic(&self) -> IntrospectionClient {
        self.client("/introspect", basic(BASIC_SECRET))
            .build()
            .unwrap()
    }
}

fn rules() -> IntrospectionRules {
    IntrospectionRules::new(RESOURCE, vec![ISSUER.into()])
}

fn basic(secret: &str) -> ClientAuth {
    ClientAuth::SecretBasic {
        client_id: "rs basic".into(),
        secret: Secret::new(secret),
    }
}

/// RFC 6749 §2.3.1 / Appendix B: form-urldecode one credential part.
fn form_decode(part: &str) -> String {
    url::form_urlencoded::parse(format!("v={part}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// Client authentication, checked the way an authorization server would.
fn authenticated(state: &AuthServer, headers: &HeaderMap, form: &[(String, String)]) -> bool {
    let param = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        if let Some(encoded) = value.strip_prefix("Basic ") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap_or_default();
            let decoded = String::from_utf8(decoded).unwrap_or_default();
            let Some((id, secret)) = decoded.split_once(':') else {
                return false;
            };
            return form_decode(id) == "rs basic" && form_decode(secret) == BASIC_SECRET;
        }
        return value == "Bearer rs-bearer-token";
    }
    if let (Some(id), Some(secret)) = (param("client_id"), param("client_secret")) {
        return id == "rs-post" && secret == "post-secret";
    }
    // RFC 7523 §2.2 and §3.
    if param("client_assertion_type")
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return false;
    }
    let allowed = AlgorithmSet::EMPTY.with(Algorithm::ES256);
    let Some(verified) = param("client_assertion")
        .and_then(|jwt| UnverifiedJws::parse(jwt, 8192, allowed).ok())
        .and_then(|jws| jws.verify(state.client_key.public_jwk()).ok())
    else {
        return false;
    };
    let claims = verified.payload();
    claims["iss"] == "rs-jwt"
        && claims["sub"] == "rs-jwt"
        && claims["aud"] == state.endpoint.as_str()
        && claims["iat"] == NOW
        && claims["exp"] == NOW + 60
        && claims["jti"].as_str().is_some_and(|jti| jti.len() >= 16)
}

async fn introspect(
    State(state): State<Arc<AuthServer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    // RFC 7662 §2.1: a form POST carrying the token and the hint, asking for JSON.
    let well_formed = headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes()
            .starts_with(b"application/x-www-form-urlencoded")
    }) && headers
        .get(header::ACCEPT)
        .is_some_and(|v| v == "application/json")
        && form
            .iter()
            .any(|(k, v)| k == "token_type_hint" && v == "access_token")
        && headers
            .get(header::USER_AGENT)
            .is_some_and(|v| v.as_bytes().starts_with(b"mcp-warden/"));
    if !well_formed {
        return StatusCode::BAD_REQUEST.into_response();
    }
    if !authenticated(&state, &headers, &form) {
        return (StatusCode::UNAUTHORIZED, r#"{"error":"invalid_client"}"#).into_response();
    }
    let token = form
        .iter()
        .find(|(k, _)| k == "token")
        .map_or("", |(_, v)| v.as_str());
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer(token).to_string(),
    )
        .into_response()
}

async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(3)).await;
    r#"{"active":false}"#
}

/// A valid answer padded with whitespace to 100 KiB, with a Content-Length.
async fn oversized() -> String {
    let mut body = answer("bound").to_string();
    body.push_str(&" ".repeat(100 * 1024));
    body
}

/// The same, streamed in 1 KiB chunks with no Content-Length: the cap must hold while
/// reading, not only on the declared length.
async fn endless() -> Body {
    struct Padded(usize);
    impl http_body::Body for Padded {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
            let chunk = match self.0 {
                0 => return Poll::Ready(None),
                1024 => Bytes::from(answer("bound").to_string()),
                _ => Bytes::from_static(&[b' '; 1024]),
            };
            self.0 -= 1;
            Poll::Ready(Some(Ok(http_body::Frame::data(chunk))))
        }
    }
    Body::new(Padded(1024))
}

async fn redirect(State(state): State<Arc<AuthServer>>) -> Response {
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, state.endpoint.clone())],
    )
        .into_response()
}

/// Why introspection gave no usable answer; panics on any other outcome.
fn unavailable(result: Result<AccessToken, TokenError>) -> IntrospectionFailure {
    match result {
        Err(TokenError::Unavailable(UnavailableCause::Introspection(failure))) => failure,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn active_bound_token_is_accepted_with_its_binding() {
    let server = TestAs::start().await;
    let token = server.basic().verify("bound", NOW).await.unwrap();
    assert_eq!(token.bound_jkt(), Some(JKT));
    assert_eq!(token.subject(), Some("agent-7"));
    assert_eq!(token.issuer(), ISSUER);
    assert_eq!(token.scopes(), ["tools:call", "tools:list"]);
    assert_eq!(token.expires_at(), NOW + 600);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn active_unbound_token_is_accepted_and_the_guard_decides_by_scheme() {
    let server = TestAs::start().await;
    let token = server.basic().verify("unbound", NOW).await.unwrap();
    assert_eq!(token.bound_jkt(), None);
}

#[tokio::test]
async fn refusals_by_the_rules() {
    let server = TestAs::start().await;
    let client = server.basic();
    let cases = [
        ("inactive", TokenError::Inactive),
        ("never-issued", TokenError::Inactive),
        ("other-audience", TokenError::AudienceMismatch),
        // RFC 9449 §6.2: a key-bound token must be introspected as a DPoP token.
        ("bound-typed-bearer", TokenError::TokenTypeNotDpop),
    ];
    for (token, expected) in cases {
        assert_eq!(
            client.verify(token, NOW).await.unwrap_err(),
            expected,
            "{token}"
        );
    }
    assert_eq!(client.stats().refused, 4);
}

#[tokio::test]
async fn negative_results_are_not_cached() {
    let server = TestAs::start().await;
    let client = server.basic();
    for _ in 0..2 {
        assert_eq!(
            client.verify("inactive", NOW).await.unwrap_err(),
            TokenError::Inactive
        );
    }
    assert_eq!(server.requests(), 2);
    let stats = client.stats();
    assert_eq!((stats.requests, stats.refused, stats.cache_size), (2, 2, 0));
}

#[tokio::test]
async fn wrong_client_secret_is_unavailable_not_a_token_refusal() {
    let server = TestAs::start().await;
    let client = server
        .client("/introspect", basic("wrong"))
        .build()
        .unwrap();
    let failure = unavailable(client.verify("bound", NOW).await);
    assert_eq!(failure, IntrospectionFailure::CredentialsRefused(401));
    // Neither the token nor the server's error body reaches the message.
    let text = failure.to_string();
    assert!(
        text.contains("client credentials") && text.contains("401"),
        "{text}"
    );
    assert!(
        !text.contains("bound") && !text.contains("invalid_client"),
        "{text}"
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn repeated_verifications_are_answered_from_the_cache() {
    let server = TestAs::start().await;
    let client = server.basic();
    for _ in 0..10 {
        assert_eq!(
            client.verify("bound", NOW).await.unwrap().bound_jkt(),
            Some(JKT)
        );
    }
    assert_eq!(server.requests(), 1);
    let stats = client.stats();
    assert_eq!(
        (stats.requests, stats.cache_hits, stats.cache_size),
        (1, 9, 1)
    );
}

/// The entry for a token expiring at NOW+5 ends at NOW+5. At NOW+6 the cache drops it and
/// asks again (it holds no negative verdicts); the endpoint's answer, checked at NOW+6,
/// is refused as Expired by the rules. So: re-introspected, and refused.
#[tokio::test]
async fn a_cached_token_never_outlives_its_exp() {
    let server = TestAs::start().await;
    let client = server.basic();
    client.verify("short", NOW).await.unwrap();
    client.verify("short", NOW + 4).await.unwrap();
    assert_eq!(server.requests(), 1, "still cached before exp");
    let refusal = client.verify("short", NOW + 6).await.unwrap_err();
    assert_eq!(
        refusal,
        TokenError::Expired {
            exp: NOW + 5,
            now: NOW + 6
        }
    );
    assert_eq!(server.requests(), 2, "re-introspected once the entry ended");
    assert_eq!(client.stats().cache_size, 0);
}

#[tokio::test]
async fn the_cache_ttl_bounds_reuse_of_a_long_lived_token() {
    let server = TestAs::start().await;
    let client = server
        .client("/introspect", basic(BASIC_SECRET))
        .cache_max_ttl_s(10)
        .build()
        .unwrap();
    client.verify("bound", NOW).await.unwrap();
    client.verify("bound", NOW + 9).await.unwrap();
    assert_eq!(server.requests(), 1);
    // Revocation is seen within the TTL: the token lives to NOW+600, the entry to NOW+10.
    client.verify("bound", NOW + 10).await.unwrap();
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_full_cache_evicts_the_entry_closest_to_expiry() {
    let server = TestAs::start().await;
    let client = server
        .client("/introspect", basic(BASIC_SECRET))
        .cache_max_entries(2)
        .build()
        .unwrap();
    // Entries end at NOW+300 (TTL), NOW+300, then NOW+5 arrives with the cache full:
    // "bound" (earliest end, oldest) goes.
    for token in ["bound", "unbound", "short"] {
        client.verify(token, NOW).await.unwrap();
    }
    assert_eq!(client.stats().cache_size, 2);
    client.verify("unbound", NOW).await.unwrap();
    client.verify("short", NOW).await.unwrap();
    assert_eq!(server.requests(), 3, "the two kept entries are hits");
    client.verify("bound", NOW).await.unwrap();
    assert_eq!(server.requests(), 4, "the evicted one is asked again");
    assert_eq!(client.stats().cache_size, 2);
}

#[tokio::test]
async fn server_down_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let endpoint = Url::parse(&format!("http://127.0.0.1:{port}/introspect")).unwrap();
    let client = IntrospectionClient::builder(endpoint, rules())
        .client_auth(basic(BASIC_SECRET))
        .dangerous_allow_plain_http()
        .build()
        .unwrap();
    assert_eq!(
        unavailable(client.verify("bound", NOW).await),
        IntrospectionFailure::Connect
    );
}

#[tokio::test]
async fn a_slow_server_times_out_quickly() {
    let server = TestAs::start().await;
    let client = server
        .client("/slow", basic(BASIC_SECRET))
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let started = Instant::now();
    let failure = unavailable(client.verify("bound", NOW).await);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(failure, IntrospectionFailure::Timeout);
}

#[tokio::test]
async fn oversized_responses_are_refused_declared_or_streamed() {
    let server = TestAs::start().await;
    for path in ["/oversized", "/endless"] {
        let client = server.client(path, basic(BASIC_SECRET)).build().unwrap();
        let failure = unavailable(client.verify("bound", NOW).await);
        assert_eq!(
            failure,
            IntrospectionFailure::TooLarge { max: 65_536 },
            "{path}"
        );
        let text = failure.to_string();
        assert!(!text.contains("active"), "the body is not echoed: {text}");
    }
    // With a larger cap the same answers are fine: the cap, not the content, refused them.
    let roomy = server
        .client("/endless", basic(BASIC_SECRET))
        .max_response_bytes(2 << 20);
    assert!(roomy.build().unwrap().verify("bound", NOW).await.is_ok());
}

#[tokio::test]
async fn malformed_answers_fail_closed() {
    let server = TestAs::start().await;
    for (path, expected) in [
        (
            "/duplicate",
            IntrospectionFailure::Parse(JsonError::DuplicateMember),
        ),
        (
            "/not-json",
            IntrospectionFailure::Parse(JsonError::NotObject),
        ),
        ("/error", IntrospectionFailure::Status(500)),
        // Redirects are not followed: credentials are never re-sent elsewhere.
        ("/redirect", IntrospectionFailure::Status(307)),
    ] {
        let client = server.client(path, basic(BASIC_SECRET)).build().unwrap();
        let failure = unavailable(client.verify("bound", NOW).await);
        assert_eq!(failure, expected, "{path}");
    }
    assert_eq!(server.requests(), 0);
}

/// A caller-provided client keeps its own redirect policy; an answer that did not come
/// from the configured endpoint is still refused.
#[tokio::test]
async fn a_redirected_answer_is_refused_even_when_the_client_follows_it() {
    let server = TestAs::start().await;
    let follows = reqwest::Client::builder()
        .user_agent("mcp-warden/test")
        .build()
        .unwrap();
    let client = server.client("/redirect", basic(BASIC_SECRET));
    let client = client.http_client(follows).build().unwrap();
    assert_eq!(
        unavailable(client.verify("bound", NOW).await),
        IntrospectionFailure::Redirected
    );
    assert_eq!(
        server.requests(),
        1,
        "the redirect was followed, its answer ignored"
    );
}

/// Each method is accepted with the right credentials and refused (401, so Unavailable)
/// with wrong ones: the server really checks them.
#[tokio::test]
async fn each_client_authentication_method_is_checked_by_the_server() {
    let server = TestAs::start().await;
    let post = |secret: &str| ClientAuth::SecretPost {
        client_id: "rs-post".into(),
        secret: Secret::new(secret),
    };
    let jwt = |key: Arc<SigningKey>, audience: Option<&str>| ClientAuth::PrivateKeyJwt {
        client_id: "rs-jwt".into(),
        key,
        audience: audience.map(str::to_owned),
    };
    let stranger = Arc::new(SigningKey::generate(Algorithm::ES256).unwrap());
    let bearer = |token: &str| ClientAuth::BearerToken(Secret::new(token));
    let cases = [
        ("secret_post", post("post-secret"), true),
        ("secret_post, wrong secret", post("guess"), false),
        (
            "private_key_jwt",
            jwt(server.client_key.clone(), None),
            true,
        ),
        ("private_key_jwt, unknown key", jwt(stranger, None), false),
        // The configured audience replaces the endpoint URL in `aud`; this server
        // wants the endpoint, so the issuer identifier is refused.
        (
            "private_key_jwt, other aud",
            jwt(server.client_key.clone(), Some(ISSUER)),
            false,
        ),
        ("bearer", bearer("rs-bearer-token"), true),
        ("bearer, wrong token", bearer("rs-other-token"), false),
    ];
    for (name, auth, accepted) in cases {
        let client = server.client("/introspect", auth).build().unwrap();
        let result = client.verify("bound", NOW).await;
        if accepted {
            assert_eq!(result.unwrap().bound_jkt(), Some(JKT), "{name}");
        } else {
            assert_eq!(
                unavailable(result),
                IntrospectionFailure::CredentialsRefused(401),
                "{name}"
            );
        }
    }
}

#[test]
fn configuration_errors_are_refused_at_build_time() {
    let endpoint = |url: &str| Url::parse(url).unwrap();
    let build = |url: &str| {
        IntrospectionClient::builder(endpoint(url), rules())
            .client_auth(basic(BASIC_SECRET))
            .build()
            .map(|_| ())
    };
    assert_eq!(
        build("http://127.0.0.1:1/introspect"),
        Err(IntrospectionConfigError::PlainHttpEndpoint)
    );
    assert_eq!(
        build("ftp://as.example.com/"),
        Err(IntrospectionConfigError::UnsupportedScheme {
            scheme: "ftp".into()
        })
    );
    assert_eq!(build("https://as.example.com/introspect"), Ok(()));
    let anonymous =
        IntrospectionClient::builder(endpoint("https://as.example.com/i"), rules()).build();
    assert_eq!(
        anonymous.unwrap_err(),
        IntrospectionConfigError::MissingClientAuth
    );
    let zero = IntrospectionClient::builder(endpoint("https://as.example.com/i"), rules())
        .client_auth(basic(BASIC_SECRET))
        .timeout(Duration::ZERO)
        .build();
    assert_eq!(
        zero.unwrap_err(),
        IntrospectionConfigError::ZeroValue { field: "timeout" }
    );
    let bad_bearer = IntrospectionClient::builder(endpoint("https://as.example.com/i"), rules())
        .client_auth(ClientAuth::BearerToken(Secret::new("line\nbreak")))
        .build();
    assert!(matches!(
        bad_bearer,
        Err(IntrospectionConfigError::InvalidCredential { .. })
    ));
}

#[test]
fn debug_never_shows_credentials() {
    let client =
        IntrospectionClient::builder(Url::parse("https://as.example.com/i").unwrap(), rules())
            .client_auth(basic(BASIC_SECRET))
            .build()
            .unwrap();
    let text = format!("{client:?}");
    assert!(text.contains("as.example.com"), "{text}");
    assert!(
        !text.contains("s3cr3t") && text.contains("[redacted]"),
        "{text}"
    );
    // Nor the prepared header: base64 of "rs+basic:…".
    assert!(!text.contains("cnMrYmFzaWM6"), "{text}");
}
