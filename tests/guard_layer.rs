//! The tower layer itself, over real HTTP: an axum router with the guard in front of an echo
//! handler, served on loopback and called with reqwest (or a raw socket where a header must
//! appear twice). Each test pins one rule of what the layer does around the verifier:
//! credential stripping, the `Principal` hand-off, nonces (RFC 9449 §8, §9), refusal
//! responses, CORS, scheme modes (RFC 9449 §7.2), scopes per MCP operation (RFC 6750 §3.1),
//! trusted proxies, configuration errors and the protected resource metadata (RFC 9728).

#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{Next, from_fn};
use axum::routing::{get, post};
use http::{HeaderMap, Method};
use mcp_warden::dpop::{ProofError, ProofValidator, StatelessNonces};
use mcp_warden::guard::{
    DpopMode, Guard, GuardBuilder, GuardConfigError, HEADER_MISMATCH_CODE, McpError, PeerAddr,
    Principal, Refusal, RequestError, ScopePolicy, ScopePolicyBuilder, TrustedProxy,
};
use serde_json::{Value, json};
use support::{AuthorizationServer, Client, ISSUER, now};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Reports what the inner service saw: credential headers, the principal (from the
/// extractor and from the extensions) and the body bytes.
async fn echo(principal: Principal, request: Request) -> axum::Json<Value> {
    let headers = request.headers();
    let mut seen = json!({
        "authorization": headers.contains_key("authorization"),
        "dpop": headers.contains_key("dpop"),
        "subject": principal.subject(),
        "scopes": principal.scopes(),
        "jkt": principal.key_thumbprint().map(|jkt| jkt.as_str()),
        "scheme": format!("{:?}", principal.scheme()),
        "extension_subject": request.extensions().get::<Principal>().and_then(Principal::subject),
    });
    let body = axum::body::to_bytes(request.into_body(), usize::MAX)
        .await
        .unwrap();
    seen["body"] = json!(String::from_utf8(body.to_vec()).unwrap());
    axum::Json(seen)
}

/// The peer address, as a server embedding the guard copies it from `ConnectInfo`.
async fn peer_addr(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> axum::response::Response {
    request.extensions_mut().insert(PeerAddr(peer));
    next.run(request).await
}

struct Harness {
    /// The resource, `http://127.0.0.1:PORT/mcp`.
    url: String,
    address: SocketAddr,
    issuer: AuthorizationServer,
    client: Client,
    http: reqwest::Client,
}

/// Serves `/mcp` (POST, GET, DELETE) behind a guard that `configure` finishes, and
/// `/unguarded` with the same handler outside it.
async fn start(configure: impl FnOnce(GuardBuilder) -> GuardBuilder) -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let url = format!("http://{address}/mcp");
    let issuer = AuthorizationServer::new();
    let builder = Guard::builder()
        .resource(url.clone())
        .authorization_server(ISSUER)
        .trust_issuer(issuer.trusted());
    let guard = configure(builder).build().unwrap();
    let app = Router::new()
        .route("/mcp", post(echo).get(echo).delete(echo))
        .layer(guard)
        .route("/unguarded", get(echo))
        .layer(from_fn(peer_addr));
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.unwrap();
    });
    Harness {
        url,
        address,
        issuer,
        client: Client::new(),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    }
}

/// [`start`] with a scope policy.
async fn scoped(policy: ScopePolicyBuilder) -> Harness {
    start(|guard| guard.scopes(policy.build().unwrap())).await
}

impl Harness {
    /// A token bound to the client's key, for this resource.
    fn token(&self, scope: &str) -> String {
        self.issuer
            .token(&self.url, Some(&self.client.jkt()), scope, now())
    }

    /// `Authorization: DPoP token` and a proof for POST on the resource with `nonce`.
    fn with_nonce(&self, token: &str, nonce: Option<&str>) -> HeaderMap {
        self.client.headers("POST", &self.url, token, nonce, now())
    }

    /// `Authorization: DPoP` and a fresh proof for `method` on the resource.
    fn dpop(&self, method: &str, scope: &str) -> HeaderMap {
        let token = self.token(scope);
        self.client.headers(method, &self.url, &token, None, now())
    }

    async fn send(&self, method: Method, headers: HeaderMap, body: &str) -> reqwest::Response {
        self.http
            .request(method, &self.url)
            .headers(headers)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, headers: HeaderMap, body: &str) -> reqwest::Response {
        self.send(Method::POST, headers, body).await
    }

    /// POSTs `body` with a DPoP-bound token granting `scope`.
    async fn post_as(&self, scope: &str, body: &str) -> reqwest::Response {
        self.post(self.dpop("POST", scope), body).await
    }
}

/// Writes `head` (request line and fields, without the final empty line) on a fresh
/// connection; returns the response head.
async fn raw(address: SocketAddr, head: &str) -> String {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let request = format!("{head}connection: close\r\ncontent-length: 0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    response.split("\r\n\r\n").next().unwrap().to_owned()
}

fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// The value of `name="…"` in one challenge (values here hold no escaped quotes).
fn param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let end = challenge[start..].find('"')?;
    Some(challenge[start..start + end].to_owned())
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    Some(response.headers().get(name)?.to_str().unwrap())
}

/// A refusal carries the time it was made and must not be cached (RFC 9111 §5.2.2.5).
fn assert_dated_and_uncached(response: &reqwest::Response) {
    let date = httpdate::parse_http_date(header(response, "date").expect("Date")).unwrap();
    let age = std::time::SystemTime::now().duration_since(date).unwrap();
    assert!(age.as_secs() < 10, "{age:?}");
    assert_eq!(header(response, "cache-control"), Some("no-store"));
}

/// The parameter `name` of the first challenge, or "" without one.
fn www(response: &reqwest::Response, name: &str) -> String {
    let first = challenges(response).into_iter().next().unwrap_or_default();
    param(&first, name).unwrap_or_default()
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = format!("Bearer {token}").parse().unwrap();
    headers.insert("authorization", value);
    headers
}

fn call(id: Value, tool: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool}})
        .to_string()
}

const LIST: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

// MCP forbids token passthrough: the upstream must not see the client's credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_stripped_before_the_inner_service_unless_dangerously_forwarded() {
    for (forward, present) in [(false, false), (true, true)] {
        let harness = start(|guard| match forward {
            true => guard.dangerous_forward_credentials(),
            false => guard,
        })
        .await;
        let response = harness.post_as("mcp", LIST).await;
        assert_eq!(response.status(), 200);
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["authorization"], present, "{seen}");
        assert_eq!(seen["dpop"], present, "{seen}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_principal_reaches_handlers_through_the_extractor_and_the_extensions() {
    let harness = start(|guard| guard).await;
    let response = harness.post_as("mcp tools:call", LIST).await;
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["subject"], "agent-7");
    assert_eq!(seen["scopes"], json!(["mcp", "tools:call"]));
    assert_eq!(seen["jkt"], harness.client.jkt().as_str());
    assert_eq!(seen["scheme"], "Dpop");
    assert_eq!(seen["extension_subject"], "agent-7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_principal_extractor_without_the_guard_is_a_500() {
    let harness = start(|guard| guard).await;
    let url = format!("http://{}/unguarded", harness.address);
    let response = harness.http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(
        response.text().await.unwrap(),
        mcp_warden::guard::MissingPrincipal.body_text()
    );
}

// RFC 9449 §9: a resource that wants a nonce answers 401 use_dpop_nonce with `DPoP-Nonce`;
// §8.2: it may send a fresh one on any response, including the success.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proof_without_the_server_nonce_is_refused_then_accepted_with_it() {
    let nonces = Arc::new(StatelessNonces::generate());
    let harness =
        start(|guard| guard.proofs(ProofValidator::builder().nonces(nonces).build())).await;
    let token = harness.token("mcp");

    let headers = harness.with_nonce(&token, None);
    let refused = harness.post(headers, LIST).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(www(&refused, "error"), "use_dpop_nonce");
    let nonce = header(&refused, "dpop-nonce").unwrap().to_owned();

    let headers = harness.with_nonce(&token, Some(&nonce));
    let accepted = harness.post(headers, LIST).await;
    assert_eq!(accepted.status(), 200);
    let fresh = header(&accepted, "dpop-nonce").unwrap().to_owned();

    // The nonce handed out with the success is one the server accepts.
    let headers = harness.with_nonce(&token, Some(&fresh));
    assert_eq!(harness.post(headers, LIST).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_uncached_json_rpc_errors_echoing_the_request_id() {
    let harness = scoped(ScopePolicy::builder().tool("deploy", ["tools:deploy"])).await;

    // No credentials: the body was never read, so the id is null (JSON-RPC 2.0 §5).
    let deploy = call(json!(4), "deploy");
    let response = harness.post(HeaderMap::new(), &deploy).await;
    assert_eq!(response.status(), 401);
    assert_dated_and_uncached(&response);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32001,
               "message": "authentication required", "data": {"status": 401}}})
    );

    // Insufficient scope: the body was read for the policy, so its id comes back.
    let headers = harness.dpop("POST", "mcp");
    let response = harness.post(headers, &call(json!("req-9"), "deploy")).await;
    assert_eq!(response.status(), 403);
    assert_dated_and_uncached(&response);
    let body: Value = response.json().await.unwrap();
    let error = json!({"code": -32001, "message": "the access token lacks a scope this operation requires",
                       "data": {"status": 403, "error": "insufficient_scope"}});
    assert_eq!(
        body,
        json!({"jsonrpc": "2.0", "id": "req-9", "error": error})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_error_bodies_refuse_with_an_empty_body() {
    let harness = start(GuardBuilder::plain_error_bodies).await;
    let response = harness.post(HeaderMap::new(), LIST).await;
    assert_eq!(response.status(), 401);
    assert_dated_and_uncached(&response);
    assert!(header(&response, "content-type").is_none());
    assert!(!challenges(&response).is_empty());
    assert!(response.bytes().await.unwrap().is_empty());
}

// Fetch §3.2.5: a browser shows scripts only the response headers the server exposes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_requests_see_the_challenge_and_nonce_headers() {
    let harness = start(|guard| guard).await;
    let exposed = |response: &reqwest::Response| {
        header(response, "access-control-expose-headers").map(|value| value.to_lowercase())
    };
    let with_origin = |mut headers: HeaderMap| {
        headers.insert("origin", "https://app.example".parse().unwrap());
        headers
    };

    let refused = harness.post(with_origin(HeaderMap::new()), LIST).await;
    assert_eq!(refused.status(), 401);
    let accepted = harness
        .post(with_origin(harness.dpop("POST", "mcp")), LIST)
        .await;
    assert_eq!(accepted.status(), 200);
    for response in [&refused, &accepted] {
        let exposed = exposed(response).expect("Access-Control-Expose-Headers");
        assert!(exposed.contains("www-authenticate"), "{exposed}");
        assert!(exposed.contains("dpop-nonce"), "{exposed}");
    }

    let refused = harness.post(HeaderMap::new(), LIST).await;
    let accepted = harness.post_as("mcp", LIST).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(accepted.status(), 200);
    assert_eq!(exposed(&refused), None);
    assert_eq!(exposed(&accepted), None);
}

// RFC 9449 §7.2: Bearer for unbound tokens, never for a bound one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_mode_accepts_unbound_bearer_and_refuses_bound_bearer() {
    let harness = start(|guard| guard.mode(DpopMode::Mixed)).await;
    let unbound = harness.issuer.token(&harness.url, None, "mcp", now());
    let response = harness.post(bearer(&unbound), LIST).await;
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["scheme"], "Bearer");
    assert_eq!(seen["jkt"], Value::Null);
    assert_eq!(seen["authorization"], false, "stripped in every mode");

    let response = harness.post(bearer(&harness.token("mcp")), LIST).await;
    assert_eq!(response.status(), 401);
    for challenge in challenges(&response) {
        assert_eq!(param(&challenge, "error").as_deref(), Some("invalid_token"));
    }

    // DPoP still works in Mixed mode.
    let response = harness.post_as("mcp", LIST).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_mode_challenges_with_both_schemes_without_credentials() {
    let harness = start(|guard| guard.mode(DpopMode::Mixed)).await;
    let response = harness.post(HeaderMap::new(), LIST).await;
    assert_eq!(response.status(), 401);
    let www = challenges(&response);
    assert_eq!(www.len(), 2, "{www:?}");
    assert!(www[0].starts_with("DPoP "), "{www:?}");
    assert!(www[1].starts_with("Bearer "), "{www:?}");
    // RFC 6750 §3.1: no error code when no credentials were sent.
    assert!(www.iter().all(|challenge| !challenge.contains("error=")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_only_mode_refuses_the_dpop_scheme() {
    let harness = start(|guard| guard.mode(DpopMode::BearerOnly)).await;
    let response = harness.post_as("mcp", LIST).await;
    assert_eq!(response.status(), 401);
    let www = challenges(&response);
    assert_eq!(www.len(), 1, "{www:?}");
    assert!(www[0].starts_with("Bearer "), "{www:?}");

    let unbound = harness.issuer.token(&harness.url, None, "mcp", now());
    assert_eq!(harness.post(bearer(&unbound), LIST).await.status(), 200);
}

// RFC 9449 §7.2 gives no safe way to choose between two schemes sent at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_authorization_schemes_at_once_are_a_bad_request() {
    let harness = start(|guard| guard.mode(DpopMode::Mixed)).await;
    let token = harness.token("mcp");
    let proof = harness
        .client
        .signer
        .proof("POST", &harness.url, Some(&token), None, now())
        .unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: {}\r\nauthorization: DPoP {token}\r\nauthorization: Bearer {token}\r\ndpop: {proof}\r\n",
        harness.address
    );
    let head = raw(harness.address, &head).await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(head.contains("error=\"invalid_request\""), "{head}");
}

// RFC 9449 §4.3 step 1: "not more than one DPoP HTTP request header field" is a check of the
// proof, so two proofs are an invalid proof (§7.1: 401 invalid_dpop_proof), unlike two
// `Authorization` fields (above, RFC 6750 §3.1: 400). Both proofs are valid on their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_dpop_proofs_are_an_invalid_proof_not_a_bad_request() {
    let harness = start(|guard| guard).await;
    let token = harness.token("mcp");
    let proof = || {
        harness
            .client
            .signer
            .proof("POST", &harness.url, Some(&token), None, now())
            .unwrap()
    };
    let host = harness.address;
    let (first, second) = (proof(), proof());
    let two_fields = format!(
        "POST /mcp HTTP/1.1\r\nhost: {host}\r\nauthorization: DPoP {token}\r\ndpop: {first}\r\ndpop: {second}\r\n"
    );
    let (first, second) = (proof(), proof());
    let comma_joined = format!(
        "POST /mcp HTTP/1.1\r\nhost: {host}\r\nauthorization: DPoP {token}\r\ndpop: {first}, {second}\r\n"
    );
    for head in [two_fields, comma_joined] {
        let response = raw(harness.address, &head).await;
        assert!(response.starts_with("HTTP/1.1 401 "), "{response}");
        let challenge = response
            .lines()
            .find(|line| {
                line.to_ascii_lowercase()
                    .starts_with("www-authenticate: dpop")
            })
            .unwrap_or_else(|| panic!("no DPoP challenge in {response}"));
        assert_eq!(
            param(challenge, "error").as_deref(),
            Some("invalid_dpop_proof")
        );
    }
    // A single proof with the same token is accepted: what is refused is the count.
    let alone = harness
        .client
        .headers("POST", &harness.url, &token, None, now());
    assert_eq!(harness.post(alone, "{}").await.status(), 200);
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_rules_apply_per_method_and_tool_on_top_of_always() {
    let harness = scoped(
        ScopePolicy::builder()
            .always(["mcp"])
            .method("tools/list", ["tools:read"])
            .tool("deploy", ["tools:deploy"]),
    )
    .await;
    let deploy = call(json!(2), "deploy");
    let weather = call(json!(3), "weather");
    for (scope, body, status) in [
        ("mcp tools:read", LIST, 200),
        ("tools:read", LIST, 403),
        ("mcp", LIST, 403),
        ("mcp tools:deploy", deploy.as_str(), 200),
        ("mcp tools:read", deploy.as_str(), 403),
        // No rule for this tool: only `always` applies.
        ("mcp", weather.as_str(), 200),
        ("other", weather.as_str(), 403),
    ] {
        let response = harness.post_as(scope, body).await;
        assert_eq!(response.status(), status, "{scope} / {body}");
    }
}

// RFC 6750 §3.1: `scope` names the scope necessary to access the resource, all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insufficient_scope_names_every_required_scope() {
    let harness = scoped(
        ScopePolicy::builder()
            .always(["mcp"])
            .tool("deploy", ["tools:deploy", "admin"]),
    )
    .await;
    let response = harness
        .post_as("mcp admin", &call(json!(1), "deploy"))
        .await;
    assert_eq!(response.status(), 403);
    assert_eq!(www(&response, "error"), "insufficient_scope");
    assert_eq!(www(&response, "scope"), "mcp tools:deploy admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hierarchy_lets_a_granted_scope_cover_narrower_ones() {
    let harness = scoped(
        ScopePolicy::builder()
            .hierarchy(':')
            .method("tools/call", ["tools:call"]),
    )
    .await;
    let body = call(json!(1), "weather");
    for (scope, status) in [("tools", 200), ("tools:call", 200), ("tool", 403)] {
        let response = harness.post_as(scope, &body).await;
        assert_eq!(response.status(), status, "{scope}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_read_for_scopes_reaches_the_handler_unchanged() {
    let harness = scoped(ScopePolicy::builder().method("tools/call", ["tools:call"])).await;
    // Odd spacing, escapes, unknown members and non-ASCII: nothing may be re-serialized.
    let body = "{ \"jsonrpc\" : \"2.0\",\"id\":  \"é-1\",\n\t\"method\":\"tools/call\",\
                \"params\":{\"name\":\"weather\",\"arguments\":{\"city\":\"K\\u00f6ln\"}},\
                \"x\":[1, 2.50, {}]   }";
    let response = harness.post_as("tools:call", body).await;
    assert_eq!(response.status(), 200);
    let seen: Value = response.json().await.unwrap();
    assert_eq!(seen["body"], body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_bytes_is_413() {
    let policy = ScopePolicy::builder().method("tools/list", ["mcp"]);
    let harness = start(|guard| guard.scopes(policy.build().unwrap()).max_body_bytes(64)).await;
    // Exactly at the limit is read; one byte more is refused.
    let at_limit = format!("{LIST:<64}");
    assert_eq!(at_limit.len(), 64);
    let response = harness.post_as("mcp", &at_limit).await;
    assert_eq!(response.status(), 200);
    let over = format!("{LIST:<65}");
    let response = harness.post_as("mcp", &over).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["data"]["error"], "invalid_request", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_json_body_is_400_invalid_request() {
    let harness = scoped(ScopePolicy::builder().method("tools/list", ["mcp"])).await;
    for body in [r#"{"jsonrpc":"2.0","id":1,"method":"#, "[]", r#"{"id":1}"#] {
        let response = harness.post_as("mcp", body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(www(&response, "error"), "invalid_request");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["id"], Value::Null, "{error}");
    }
}

// MCP 2026-07-28 (SEP-2243): `Mcp-Method` must agree with the body the guard authorizes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_method_header_disagreeing_with_the_body_is_400() {
    let harness = scoped(ScopePolicy::builder().tool("deploy", ["tools:deploy"])).await;
    let mut headers = harness.dpop("POST", "tools:deploy");
    headers.insert("mcp-method", "tools/list".parse().unwrap());
    let response = harness.post(headers, &call(json!(5), "deploy")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(www(&response, "error"), "invalid_request");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], 5, "{body}");

    // The agreeing header passes.
    let mut headers = harness.dpop("POST", "tools:deploy");
    headers.insert("mcp-method", "tools/call".parse().unwrap());
    headers.insert("mcp-name", "deploy".parse().unwrap());
    let response = harness.post(headers, &call(json!(6), "deploy")).await;
    assert_eq!(response.status(), 200);
}

/// MCP 2026-07-28 (SEP-2243) answers a header mismatch with JSON-RPC code -32020, and the
/// check holds whether or not the scope policy needs the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_header_mismatch_carries_the_mcp_header_mismatch_code() {
    for policy in [
        ScopePolicy::builder().tool("deploy", ["tools:deploy"]),
        ScopePolicy::builder(),
    ] {
        let harness = scoped(policy).await;
        let mut headers = harness.dpop("POST", "tools:deploy");
        headers.insert("mcp-name", "weather".parse().unwrap());
        let response = harness.post(headers, &call(json!(5), "deploy")).await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], HEADER_MISMATCH_CODE, "{body}");
    }
}

// Streamable HTTP before 2025-06-18 opens an SSE stream with GET and ends a session with
// DELETE: no JSON-RPC body, so only the operation-independent scopes apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_and_delete_are_checked_without_a_body_and_need_only_always_scopes() {
    let harness = scoped(
        ScopePolicy::builder()
            .always(["mcp"])
            .method("tools/list", ["tools:read"]),
    )
    .await;
    for method in [Method::GET, Method::DELETE] {
        let headers = harness.dpop(method.as_str(), "mcp");
        // A body that is not JSON-RPC: the guard does not parse it, it passes through.
        let response = harness.send(method.clone(), headers, "not json").await;
        assert_eq!(response.status(), 200, "{method}");
        let seen: Value = response.json().await.unwrap();
        assert_eq!(seen["body"], "not json", "{method}");

        let headers = harness.dpop(method.as_str(), "tools:read");
        let response = harness.send(method.clone(), headers, "").await;
        assert_eq!(response.status(), 403, "{method}");
        assert_eq!(www(&response, "scope"), "mcp", "{method}");

        let response = harness.send(method.clone(), HeaderMap::new(), "").await;
        assert_eq!(response.status(), 401, "{method}");
    }
    // The same `mcp`-only token on a POST meets the method rule.
    let response = harness.post_as("mcp", LIST).await;
    assert_eq!(response.status(), 403);
}

const PUBLIC: &str = "https://public.example/prefix/mcp";

/// A POST signed for [`PUBLIC`], sent to the loopback socket with the headers a
/// TLS-terminating proxy at `public.example/prefix` would add.
async fn post_through_proxy(harness: &Harness) -> reqwest::Response {
    let token = harness.token("mcp");
    let mut headers = harness.client.headers("POST", PUBLIC, &token, None, now());
    headers.insert("x-forwarded-proto", "https".parse().unwrap());
    headers.insert("x-forwarded-host", "public.example".parse().unwrap());
    headers.insert("x-forwarded-prefix", "/prefix".parse().unwrap());
    harness.post(headers, LIST).await
}

// RFC 9449 §4.3 step 9: `htu` is matched against the URI the client addressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_from_a_trusted_proxy_give_the_public_uri() {
    let trusted = TrustedProxy::parse("127.0.0.1").unwrap();
    let harness = start(|guard| guard.trusted_proxy(trusted)).await;
    let response = post_through_proxy(&harness).await;
    assert_eq!(response.status(), 200, "{:?}", challenges(&response));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let harness = start(|guard| guard).await;
    let response = post_through_proxy(&harness).await;
    assert_eq!(response.status(), 401);
    assert_eq!(www(&response, "error"), "invalid_dpop_proof");

    // Ignored, not refused: a proof for the configured URI passes despite the headers.
    let mut headers = harness.dpop("POST", "mcp");
    headers.insert("x-forwarded-host", "public.example".parse().unwrap());
    headers.insert("x-forwarded-prefix", "/prefix".parse().unwrap());
    assert_eq!(harness.post(headers, LIST).await.status(), 200);
}

#[test]
fn configuration_errors_name_the_field() {
    let issuer = AuthorizationServer::new();
    let local = || Guard::builder().resource("http://127.0.0.1:8080/mcp");
    let trusting = |builder: GuardBuilder| builder.trust_issuer(issuer.trusted());
    for (builder, variant, field) in [
        (trusting(Guard::builder()), "MissingResource", "resource:"),
        (
            trusting(Guard::builder().resource("http://example.com/mcp")),
            "InvalidResource(",
            "resource:",
        ),
        (local(), "NoTokenVerifier", "trust_issuer"),
        (
            trusting(local().metadata_member("resource", json!("https://evil.example"))),
            r#"Metadata(ReservedExtra { name: "resource" })"#,
            r#""resource""#,
        ),
        (
            trusting(local().authorization_server("http://as.example.com")),
            "Metadata(InvalidAuthorizationServer { index: 0 })",
            "authorization_servers[0]",
        ),
    ] {
        let error: GuardConfigError = builder.build().unwrap_err();
        assert!(format!("{error:?}").starts_with(variant), "{error:?}");
        assert!(error.to_string().contains(field), "{error}");
    }
    assert!(trusting(local()).build().is_ok());
}

/// One request to `app` in process, with `headers` and `body`.
async fn oneshot(app: &Router, headers: HeaderMap, body: &str) -> axum::response::Response {
    let mut request = http::Request::post("/mcp")
        .body(axum::body::Body::from(body.to_owned()))
        .unwrap();
    *request.headers_mut() = headers;
    app.clone().oneshot(request).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_rides_in_the_response_extensions_and_never_reaches_the_inner_service() {
    let resource = "https://mcp.example.com/mcp";
    let issuer = AuthorizationServer::new();
    let client = Client::new();
    let policy = ScopePolicy::builder().tool("deploy", ["tools:deploy"]);
    let guard = Guard::builder()
        .resource(resource)
        .trust_issuer(issuer.trusted())
        .scopes(policy.build().unwrap())
        .max_body_bytes(256)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let handler = move || async move {
        counter.fetch_add(1, Ordering::SeqCst);
        "reached"
    };
    let app = Router::new().route("/mcp", post(handler)).layer(guard);
    let headers = |scope: &str, url: &str| {
        let token = issuer.token(resource, Some(&client.jkt()), scope, now());
        client.headers("POST", url, &token, None, now())
    };
    let deploy = call(json!(1), "deploy");

    let refusals = [
        (HeaderMap::new(), deploy.clone(), 401),
        (
            headers("tools:deploy", "https://other.example/mcp"),
            deploy.clone(),
            401,
        ),
        (headers("mcp", resource), deploy.clone(), 403),
        (headers("tools:deploy", resource), " ".repeat(257), 413),
    ];
    let mut stored = Vec::new();
    for (headers, body, status) in refusals {
        let response = oneshot(&app, headers, &body).await;
        assert_eq!(response.status(), status);
        stored.push(response.extensions().get::<Refusal>().cloned().unwrap());
    }
    assert_eq!(
        stored,
        [
            Refusal::Request(RequestError::NoCredentials),
            Refusal::Proof(ProofError::HtuMismatch),
            Refusal::InsufficientScope {
                required: vec!["tools:deploy".into()]
            },
            Refusal::Request(RequestError::BodyTooLarge { max: 256 }),
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let response = oneshot(&app, headers("tools:deploy", resource), &deploy).await;
    assert_eq!(response.status(), 200);
    assert!(response.extensions().get::<Refusal>().is_none());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// Each way an MCP body or its `Mcp-Method`/`Mcp-Name` headers can be refused keeps its
/// `McpError` in the refusal, so logs and metrics tell them apart (one `reason` each),
/// while the client gets the one answer of its kind: 400 `invalid_request`, with JSON-RPC
/// code -32020 for the headers (MCP 2026-07-28) and -32001 for the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_refusals_keep_their_variant_behind_one_answer_per_kind() {
    let resource = "https://mcp.example.com/mcp";
    let issuer = AuthorizationServer::new();
    let client = Client::new();
    let guard = Guard::builder()
        .resource(resource)
        .trust_issuer(issuer.trusted())
        .scopes(
            ScopePolicy::builder()
                .tool("deploy", ["mcp"])
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let app = Router::new()
        .route("/mcp", post(|| async { "reached" }))
        .layer(guard);
    let headers = |extra: &[(&'static str, &'static str)]| {
        let token = issuer.token(resource, Some(&client.jkt()), "mcp", now());
        let mut headers = client.headers("POST", resource, &token, None, now());
        for (name, value) in extra {
            headers.append(*name, value.parse().unwrap());
        }
        headers
    };
    let deploy = call(json!(1), "deploy");
    let batch = format!(
        "[{},{}]",
        call(json!(1), "deploy"),
        call(json!(2), "deploy")
    );
    let (method, name) = ("Mcp-Method", "Mcp-Name");
    let cases = [
        (
            headers(&[]),
            r#"{"jsonrpc":"2.0","id":1,"method":"#.to_owned(),
            McpError::NotJson,
        ),
        (
            headers(&[]),
            r#"{"id":1,"method":"tools/list"}"#.to_owned(),
            McpError::NotJsonRpc,
        ),
        (
            headers(&[]),
            r#"{"jsonrpc":"2.0","id":1,"method":7}"#.to_owned(),
            McpError::MethodNotString,
        ),
        (
            headers(&[]),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}"#.to_owned(),
            McpError::NameNotString,
        ),
        (
            headers(&[]),
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}"#.to_owned(),
            McpError::DuplicateMember,
        ),
        (headers(&[]), "[]".to_owned(), McpError::EmptyBatch),
        (
            headers(&[("mcp-method", "tools/call"), ("mcp-method", "tools/call")]),
            deploy.clone(),
            McpError::HeaderInvalid { header: method },
        ),
        (
            headers(&[("mcp-method", "tools/list")]),
            deploy.clone(),
            McpError::HeaderMismatch { header: method },
        ),
        (
            headers(&[("mcp-name", "deploy")]),
            batch,
            McpError::HeaderWithBatch { header: name },
        ),
    ];
    let mut reasons = std::collections::HashSet::new();
    for (headers, body, expected) in cases {
        let response = oneshot(&app, headers, &body).await;
        assert_eq!(response.status(), 400, "{expected:?}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.contains(r#"error="invalid_request""#),
            "{expected:?}: {challenge}"
        );
        let refusal = response.extensions().get::<Refusal>().cloned().unwrap();
        assert_eq!(refusal, Refusal::Request(RequestError::Mcp(expected)));
        assert!(reasons.insert(refusal.reason()), "{}", refusal.reason());
        let header_error = matches!(
            expected,
            McpError::HeaderInvalid { .. }
                | McpError::HeaderMismatch { .. }
                | McpError::HeaderWithBatch { .. }
        );
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let error: Value = serde_json::from_slice(&bytes).unwrap();
        let code = if header_error {
            HEADER_MISMATCH_CODE
        } else {
            -32001
        };
        assert_eq!(error["error"]["code"], code, "{expected:?}: {error}");
        assert_eq!(error["error"]["data"]["error"], "invalid_request");
    }
    assert_eq!(reasons.len(), 9);
}

// RFC 9728 §3: the metadata is public; §5.1: the challenge points at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_is_public_and_the_challenge_names_its_url() {
    let harness = start(|guard| {
        guard
            .scopes_supported(["mcp", "tools:call"])
            .resource_name("Echo MCP")
            .metadata_member("resource_policy_uri", json!("https://example.com/policy"))
    })
    .await;

    let refused = harness.post(HeaderMap::new(), LIST).await;
    assert_eq!(refused.status(), 401);
    let url = param(&challenges(&refused)[0], "resource_metadata").unwrap();
    let expected = format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        harness.address
    );
    assert_eq!(url, expected);

    let response = harness.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), Some("application/json"));
    let metadata: Value = response.json().await.unwrap();
    assert_eq!(metadata["resource"], harness.url.as_str(), "{metadata}");
    assert_eq!(metadata["authorization_servers"], json!([ISSUER]));
    assert_eq!(metadata["scopes_supported"], json!(["mcp", "tools:call"]));
    assert_eq!(metadata["resource_name"], "Echo MCP");
    assert_eq!(
        metadata["resource_policy_uri"],
        "https://example.com/policy"
    );
    assert_eq!(metadata["dpop_bound_access_tokens_required"], true);
}
