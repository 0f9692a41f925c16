//! The SPIFFE Workload API source (`SpiffeSource`, feature `spiffe`) against a real gRPC
//! server on a unix socket: tonic's HTTP/2 server answering
//! `SpiffeWorkloadAPI/FetchJWTSVID` as a SPIRE agent does. It refuses a call without the
//! `workload.spiffe.io: true` metadata (`InvalidArgument`, "security header missing from
//! request"), refuses an empty audience, mints each JWT-SVID for the audience asked for with
//! `mcp_warden::jose::SigningKey`, returns only the named SPIFFE ID's SVID when one is asked
//! for, and `PermissionDenied` "no identity issued" for one the workload is not entitled to.
//!
//! Run with `cargo test --features spiffe --test workload_spiffe`; without the feature this
//! file is not built (`required-features` in Cargo.toml).

#![cfg(feature = "spiffe")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests: a panic is the failure report.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use mcp_warden::clock::Clock;
use mcp_warden::jose::{Algorithm, SigningKey, base64url_decode};
use mcp_warden::workload::{
    AutoOptions, Detected, MalformedToken, SourceError, SpiffeSource, StaticEnvironment,
    TokenSource, WorkloadSource, WorkloadToken,
};
use serde_json::{Value, json};
use tonic::server::{Grpc, UnaryService};
use tonic::{Request, Response, Status};

const NOW: u64 = 1_764_288_000;
const LIFETIME: u64 = 300;
const AUDIENCE: &str = "https://warden.example.com";
const WORKLOAD: &str = "spiffe://example.org/ns/agents/sa/researcher";
const OTHER: &str = "spiffe://example.org/ns/agents/sa/auditor";
const SECURITY_HEADER_MISSING: &str = "security header missing from request";
const FETCH_JWT_SVID: &str = "/SpiffeWorkloadAPI/FetchJWTSVID";

// ---------------------------------------------------------------------------------------
// The Workload API's messages (SPIFFE workload.proto), declared with prost's derive
// ---------------------------------------------------------------------------------------

#[derive(Clone, PartialEq, prost::Message)]
struct JwtSvidRequest {
    #[prost(string, repeated, tag = "1")]
    audience: Vec<String>,
    #[prost(string, tag = "2")]
    spiffe_id: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JwtSvidResponse {
    #[prost(message, repeated, tag = "1")]
    svids: Vec<JwtSvid>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JwtSvid {
    #[prost(string, tag = "1")]
    spiffe_id: String,
    #[prost(string, tag = "2")]
    svid: String,
    #[prost(string, tag = "3")]
    hint: String,
}

// ---------------------------------------------------------------------------------------
// The agent
// ---------------------------------------------------------------------------------------

/// A clock the test moves; the agent's `iat` reads it too.
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

/// A SPIRE agent's `FetchJWTSVID`, for a workload entitled to `identities` (in order).
struct Agent {
    key: SigningKey,
    clock: Arc<TestClock>,
    identities: Vec<&'static str>,
    /// The calls that passed the metadata check: their audience and `spiffe_id`.
    calls: Mutex<Vec<(Vec<String>, String)>>,
    /// The calls refused for want of the metadata.
    refused: AtomicUsize,
    /// Every JWT-SVID minted, in order.
    minted: Mutex<Vec<String>>,
    /// A proxy in front of the agent drops the metadata.
    strip_metadata: bool,
    /// A non-conforming agent: always its first identity, whatever `spiffe_id` says.
    ignore_spiffe_id: bool,
    /// SVIDs without `kid` (optional in a JWT-SVID, and SPIRE always sets one).
    without_kid: bool,
    /// SVIDs whose payload is not a JSON object.
    malformed: bool,
    delay: Duration,
}

impl Agent {
    fn new(clock: &Arc<TestClock>) -> Self {
        Agent {
            key: SigningKey::generate(Algorithm::ES256).unwrap(),
            clock: Arc::clone(clock),
            identities: vec![WORKLOAD, OTHER],
            calls: Mutex::default(),
            refused: AtomicUsize::new(0),
            minted: Mutex::default(),
            strip_metadata: false,
            ignore_spiffe_id: false,
            without_kid: false,
            malformed: false,
            delay: Duration::ZERO,
        }
    }

    fn calls(&self) -> Vec<(Vec<String>, String)> {
        self.calls.lock().unwrap().clone()
    }

    fn minted(&self) -> Vec<String> {
        self.minted.lock().unwrap().clone()
    }

    fn mint(&self, spiffe_id: &str, audience: &[String]) -> String {
        let iat = self.clock.now();
        let header = if self.without_kid {
            json!({"typ": "JWT"})
        } else {
            json!({"typ": "JWT", "kid": "agent-key-1"})
        };
        let claims = json!({"sub": spiffe_id, "aud": audience, "iat": iat, "exp": iat + LIFETIME});
        let mut jwt = self
            .key
            .sign_compact(header.as_object().unwrap(), claims.as_object().unwrap())
            .unwrap();
        if self.malformed {
            let mut parts: Vec<&str> = jwt.split('.').collect();
            parts[1] = "WzFd"; // [1]
            jwt = parts.join(".");
        }
        self.minted.lock().unwrap().push(jwt.clone());
        jwt
    }

    async fn fetch_jwt_svid(
        &self,
        request: Request<JwtSvidRequest>,
    ) -> Result<Response<JwtSvidResponse>, Status> {
        tokio::time::sleep(self.delay).await;
        // SPIRE's interceptor, before any handler: the metadata proves the caller meant to
        // reach the Workload API (no browser or SSRF-style forwarded request sets it).
        let metadata = request.metadata().get("workload.spiffe.io");
        if metadata.is_none_or(|value| value != "true") {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(Status::invalid_argument(SECURITY_HEADER_MISSING));
        }
        let request = request.into_inner();
        self.calls
            .lock()
            .unwrap()
            .push((request.audience.clone(), request.spiffe_id.clone()));
        if request.audience.is_empty() {
            return Err(Status::invalid_argument("audience must be specified"));
        }
        let identities: Vec<&str> = if self.ignore_spiffe_id {
            self.identities.iter().take(1).copied().collect()
        } else if request.spiffe_id.is_empty() {
            self.identities.clone()
        } else {
            let asked = self
                .identities
                .iter()
                .filter(|id| **id == request.spiffe_id)
                .copied()
                .collect::<Vec<_>>();
            if asked.is_empty() {
                return Err(Status::permission_denied("no identity issued"));
            }
            asked
        };
        let svids = identities
            .into_iter()
            .map(|id| JwtSvid {
                spiffe_id: id.to_owned(),
                svid: self.mint(id, &request.audience),
                hint: String::new(),
            })
            .collect();
        Ok(Response::new(JwtSvidResponse { svids }))
    }
}

/// The service tonic's server runs: the one RPC, dispatched as tonic's generated servers do.
#[derive(Clone)]
struct WorkloadApi(Arc<Agent>);

struct FetchJwtSvid(Arc<Agent>);

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl UnaryService<JwtSvidRequest> for FetchJwtSvid {
    type Response = JwtSvidResponse;
    type Future = BoxFuture<Response<JwtSvidResponse>, Status>;

    fn call(&mut self, request: Request<JwtSvidRequest>) -> Self::Future {
        let agent = Arc::clone(&self.0);
        Box::pin(async move { agent.fetch_jwt_svid(request).await })
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for WorkloadApi {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: http::Request<tonic::body::Body>) -> Self::Future {
        let agent = Arc::clone(&self.0);
        if agent.strip_metadata {
            request.headers_mut().remove("workload.spiffe.io");
        }
        Box::pin(async move {
            if request.uri().path() != FETCH_JWT_SVID {
                return Ok(Status::unimplemented("not served here").into_http());
            }
            let mut grpc = Grpc::new(tonic_prost::ProstCodec::default());
            Ok(grpc.unary(FetchJwtSvid(agent), request).await)
        })
    }
}

/// A directory removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("mcp-warden-spiffe-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Serves `agent` on a unix socket in a fresh directory; returns the directory (kept alive
/// by the caller) and the socket.
fn serve(agent: Arc<Agent>) -> (TempDir, PathBuf) {
    let dir = TempDir::new();
    let socket = dir.path("agent.sock");
    let listener = tokio::net::UnixListener::bind(&socket).unwrap();
    let incoming = futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    });
    tokio::spawn(
        tonic::transport::Server::builder().serve_with_incoming(WorkloadApi(agent), incoming),
    );
    (dir, socket)
}

fn source(socket: &Path, clock: &Arc<TestClock>) -> SpiffeSource {
    SpiffeSource::builder()
        .endpoint(format!("unix://{}", socket.display()))
        .audience(AUDIENCE)
        .clock(Arc::clone(clock) as Arc<dyn Clock>)
        .build()
        .unwrap()
}

fn claims(token: &WorkloadToken) -> Value {
    let payload = token.expose().split('.').nth(1).unwrap();
    serde_json::from_slice(&base64url_decode(payload).unwrap()).unwrap()
}

fn assert_no_secret(error: &SourceError, secret: &str) {
    let printed = format!("{error} {error:?}");
    assert!(!printed.contains(secret), "{printed}");
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_jwt_svid_for_the_audience_comes_back_parsed() {
    let clock = TestClock::at(NOW);
    let agent = Arc::new(Agent::new(&clock));
    let (_dir, socket) = serve(Arc::clone(&agent));
    let source = source(&socket, &clock);
    let name = format!("SPIFFE Workload API {}", socket.display());
    assert_eq!(source.name(), name);
    assert_eq!(source.socket(), socket);

    let token = source.fetch().await.unwrap();
    // The first of the two SVIDs the workload is entitled to, exactly as minted.
    assert_eq!(token.expose(), agent.minted()[0]);
    assert_eq!(agent.minted().len(), 2);
    assert_eq!(claims(&token)["sub"], WORKLOAD);
    assert_eq!(claims(&token)["aud"], json!([AUDIENCE]));
    assert_eq!(token.issued_at(), Some(NOW));
    assert_eq!(token.expires_at(), Some(NOW + LIFETIME));
    assert_eq!(token.source(), name);
    // One call, with the metadata, the audience, and no SPIFFE ID.
    assert_eq!(agent.calls(), [(vec![AUDIENCE.to_owned()], String::new())]);
    assert_eq!(agent.refused.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_spiffe_id_picks_the_svid_and_an_agent_answering_another_is_not_believed() {
    let clock = TestClock::at(NOW);
    let agent = Arc::new(Agent::new(&clock));
    let (_dir, socket) = serve(Arc::clone(&agent));
    let builder = || {
        SpiffeSource::builder()
            .endpoint(format!("unix:{}", socket.display()))
            .audience(AUDIENCE)
            .clock(Arc::clone(&clock) as Arc<dyn Clock>)
    };
    let token = builder().spiffe_id(OTHER).build().unwrap().fetch().await;
    assert_eq!(claims(&token.unwrap())["sub"], OTHER);
    assert_eq!(agent.calls()[0].1, OTHER);

    // An identity the workload is not entitled to: the agent's refusal, named.
    let unknown = "spiffe://example.org/ns/agents/sa/admin";
    let error = builder().spiffe_id(unknown).build().unwrap().fetch().await;
    let error = error.unwrap_err();
    assert!(
        matches!(&error, SourceError::WorkloadApiStatus { code: "permission_denied", message, .. }
            if message == "no identity issued"),
        "{error:?}"
    );

    // An agent that answers with its default identity whatever was asked.
    let liar = Arc::new(Agent {
        ignore_spiffe_id: true,
        ..Agent::new(&clock)
    });
    let (_liar_dir, liar_socket) = serve(Arc::clone(&liar));
    let error = SpiffeSource::builder()
        .endpoint(format!("unix:{}", liar_socket.display()))
        .audience(AUDIENCE)
        .spiffe_id(OTHER)
        .build()
        .unwrap()
        .fetch()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SourceError::InvalidResponse {
            name: format!("SPIFFE Workload API {}", liar_socket.display()),
            reason: "the JWT-SVID's sub is not the SPIFFE ID asked for",
        }
    );
    assert_no_secret(&error, &liar.minted()[0]);
}

#[tokio::test]
async fn a_cached_svid_is_served_until_80_percent_of_its_lifetime() {
    let clock = TestClock::at(NOW);
    let agent = Arc::new(Agent::new(&clock));
    let (_dir, socket) = serve(Arc::clone(&agent));
    let source = source(&socket, &clock);

    // Three callers at once with nothing cached: one call.
    let (a, b, c) = tokio::join!(source.fetch(), source.fetch(), source.fetch());
    let first = a.unwrap();
    assert_eq!(b.unwrap().expose(), first.expose());
    assert_eq!(c.unwrap().expose(), first.expose());
    assert_eq!(agent.calls().len(), 1);

    // Until 80 % of 300 s: the same token, no call.
    clock.set(NOW + 239);
    assert_eq!(source.fetch().await.unwrap().expose(), first.expose());
    assert_eq!(agent.calls().len(), 1);

    // At 80 %: a new SVID, minted now.
    clock.set(NOW + 240);
    let second = source.fetch().await.unwrap();
    assert_eq!(agent.calls().len(), 2);
    assert_ne!(second.expose(), first.expose());
    assert_eq!(second.issued_at(), Some(NOW + 240));
    assert_eq!(source.fetch().await.unwrap().expose(), second.expose());
    assert_eq!(agent.calls().len(), 2);
}

#[tokio::test]
async fn a_call_without_the_security_metadata_is_refused_and_the_error_says_so() {
    let clock = TestClock::at(NOW);
    let agent = Arc::new(Agent::new(&clock));
    let (_dir, socket) = serve(Arc::clone(&agent));

    // A bare gRPC client on the same socket: refused without the metadata, served with it.
    let channel = tonic::transport::Endpoint::from_shared(format!("unix:{}", socket.display()))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let call = |metadata: bool| {
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        async move {
            grpc.ready().await.unwrap();
            let mut request = Request::new(JwtSvidRequest {
                audience: vec![AUDIENCE.to_owned()],
                spiffe_id: String::new(),
            });
            if metadata {
                request
                    .metadata_mut()
                    .insert("workload.spiffe.io", "true".parse().unwrap());
            }
            let codec = tonic_prost::ProstCodec::<JwtSvidRequest, JwtSvidResponse>::default();
            let path = http::uri::PathAndQuery::from_static(FETCH_JWT_SVID);
            grpc.unary(request, path, codec).await
        }
    };
    let refused = call(false).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(refused.message(), SECURITY_HEADER_MISSING);
    assert_eq!(agent.refused.load(Ordering::SeqCst), 1);
    assert_eq!(call(true).await.unwrap().into_inner().svids.len(), 2);

    // The source through a proxy that drops the metadata: the agent's refusal, whole.
    let stripped = Arc::new(Agent {
        strip_metadata: true,
        ..Agent::new(&clock)
    });
    let (_stripped_dir, stripped_socket) = serve(Arc::clone(&stripped));
    let error = source(&stripped_socket, &clock).fetch().await.unwrap_err();
    let name = format!("SPIFFE Workload API {}", stripped_socket.display());
    assert_eq!(
        error,
        SourceError::WorkloadApiStatus {
            name: name.clone(),
            code: "invalid_argument",
            message: SECURITY_HEADER_MISSING.to_owned(),
        }
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{name}: the Workload API answered gRPC status invalid_argument: \
             {SECURITY_HEADER_MISSING}"
        )
    );
    assert_eq!(error.source_name(), Some(name.as_str()));
    assert_eq!(stripped.refused.load(Ordering::SeqCst), 1);
    // The source itself always sends it: the unproxied agent refused only the bare call.
    source(&socket, &clock).fetch().await.unwrap();
    assert_eq!(agent.refused.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_missing_or_dead_socket_is_named_and_a_slow_agent_times_out() {
    let clock = TestClock::at(NOW);
    let dir = TempDir::new();
    let missing = dir.path("absent.sock");
    let error = source(&missing, &clock).fetch().await.unwrap_err();
    let name = format!("SPIFFE Workload API {}", missing.display());
    assert_eq!(
        error,
        SourceError::SocketUnavailable {
            name: name.clone(),
            path: missing.clone(),
            kind: io::ErrorKind::NotFound,
        }
    );
    assert_eq!(
        error.to_string(),
        format!(
            "{name}: cannot connect to socket {}: no such socket",
            missing.display()
        )
    );

    // A socket left behind by an agent that is gone: nobody listens.
    let stale = dir.path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let error = source(&stale, &clock).fetch().await.unwrap_err();
    assert!(
        matches!(&error, SourceError::SocketUnavailable { path, kind: io::ErrorKind::ConnectionRefused, .. }
            if *path == stale),
        "{error:?}"
    );

    // An agent slower than the timeout.
    let slow = Arc::new(Agent {
        delay: Duration::from_secs(10),
        ..Agent::new(&clock)
    });
    let (_slow_dir, slow_socket) = serve(slow);
    let error = SpiffeSource::builder()
        .endpoint(format!("unix:{}", slow_socket.display()))
        .audience(AUDIENCE)
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .fetch()
        .await
        .unwrap_err();
    assert_eq!(
        error,
        SourceError::Timeout {
            name: format!("SPIFFE Workload API {}", slow_socket.display()),
            after: Duration::from_millis(200),
        }
    );
}

#[tokio::test]
async fn answers_outside_the_protocol_are_refused_without_token_bytes() {
    let clock = TestClock::at(NOW);
    // A payload that is not a JSON object: the structural check every source applies.
    let agent = Arc::new(Agent {
        malformed: true,
        ..Agent::new(&clock)
    });
    let (_dir, socket) = serve(Arc::clone(&agent));
    let error = source(&socket, &clock).fetch().await.unwrap_err();
    assert_eq!(
        error,
        SourceError::Malformed {
            name: format!("SPIFFE Workload API {}", socket.display()),
            reason: MalformedToken::Payload,
        }
    );
    assert_no_secret(&error, agent.minted()[0].rsplit('.').next().unwrap());

    // No SVID at all.
    let empty = Arc::new(Agent {
        identities: Vec::new(),
        ..Agent::new(&clock)
    });
    let (_empty_dir, empty_socket) = serve(empty);
    let error = source(&empty_socket, &clock).fetch().await.unwrap_err();
    assert_eq!(
        error,
        SourceError::InvalidResponse {
            name: format!("SPIFFE Workload API {}", empty_socket.display()),
            reason: "no JWT-SVID in the answer",
        }
    );

    // A JWT-SVID without `kid` is still one (the header member is optional): accepted.
    let kidless = Arc::new(Agent {
        without_kid: true,
        ..Agent::new(&clock)
    });
    let (_kidless_dir, kidless_socket) = serve(Arc::clone(&kidless));
    let token = source(&kidless_socket, &clock).fetch().await.unwrap();
    assert_eq!(token.expose(), kidless.minted()[0]);
}

#[tokio::test]
async fn workload_source_auto_detects_the_endpoint_socket() {
    let clock = TestClock::at(NOW);
    let agent = Arc::new(Agent::new(&clock));
    let (_dir, socket) = serve(Arc::clone(&agent));
    let endpoint = format!("unix://{}", socket.display());
    // SPIFFE wins over the AWS and Azure variables and a Kubernetes token file.
    let env = StaticEnvironment::new()
        .var("SPIFFE_ENDPOINT_SOCKET", &endpoint)
        .var("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/aws/token")
        .var("AZURE_FEDERATED_TOKEN_FILE", "/var/run/azure/token")
        .file("/var/run/secrets/tokens/mcp-token");
    let options = AutoOptions::new()
        .audience(AUDIENCE)
        .clock(Arc::clone(&clock) as Arc<dyn Clock>);
    let source = WorkloadSource::auto(&env, options.clone()).unwrap();
    assert_eq!(
        source.detected(),
        &Detected::SpiffeWorkloadApi {
            endpoint: endpoint.clone()
        }
    );
    assert_eq!(
        source.detected().to_string(),
        format!("SPIFFE Workload API (SPIFFE_ENDPOINT_SOCKET={endpoint})")
    );
    assert_eq!(
        source.name(),
        format!("SPIFFE Workload API {}", socket.display())
    );
    let token = source.fetch().await.unwrap();
    assert_eq!(claims(&token)["sub"], WORKLOAD);
    assert_eq!(agent.calls(), [(vec![AUDIENCE.to_owned()], String::new())]);

    // The audience is required, as for GitHub Actions and GCP.
    let error = WorkloadSource::auto(&env, AutoOptions::new()).unwrap_err();
    assert!(
        matches!(
            &error,
            SourceError::Config {
                field: "audience",
                ..
            }
        ),
        "{error:?}"
    );

    // GitHub Actions still comes first.
    let env = env
        .var(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "https://pipelines.example/idtoken",
        )
        .var("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-token");
    let source = WorkloadSource::auto(&env, options).unwrap();
    assert_eq!(source.detected(), &Detected::GithubActions);
}

#[test]
fn configuration_errors_name_the_setting() {
    let error = SpiffeSource::builder()
        .environment(&StaticEnvironment::new())
        .audience(AUDIENCE)
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        SourceError::EnvMissing {
            name: "SPIFFE Workload API".into(),
            var: "SPIFFE_ENDPOINT_SOCKET",
        }
    );
    let env = StaticEnvironment::new().var("SPIFFE_ENDPOINT_SOCKET", "unix:/run/spire/agent.sock");
    let built = SpiffeSource::builder()
        .environment(&env)
        .audience(AUDIENCE)
        .build()
        .unwrap();
    assert_eq!(built.socket(), Path::new("/run/spire/agent.sock"));
    let config =
        |builder: mcp_warden::workload::SpiffeSourceBuilder| match builder.build().unwrap_err() {
            SourceError::Config { field, .. } => field,
            other => panic!("{other:?}"),
        };
    let with_env = || SpiffeSource::builder().environment(&env);
    assert_eq!(config(with_env()), "audience");
    assert_eq!(config(with_env().audience("")), "audience");
    assert_eq!(
        config(with_env().audience(AUDIENCE).spiffe_id("researcher")),
        "spiffe_id"
    );
    assert_eq!(
        config(with_env().audience(AUDIENCE).timeout(Duration::ZERO)),
        "timeout"
    );
    // Only unix sockets, whatever the variable says: an explicit endpoint wins over it.
    for endpoint in [
        "tcp://127.0.0.1:8081",
        "/run/spire/agent.sock",
        "unix://host/agent.sock",
    ] {
        let error = with_env()
            .endpoint(endpoint)
            .audience(AUDIENCE)
            .build()
            .unwrap_err();
        assert!(
            matches!(
                &error,
                SourceError::Config {
                    field: "endpoint",
                    ..
                }
            ),
            "{endpoint}: {error:?}"
        );
    }
}
