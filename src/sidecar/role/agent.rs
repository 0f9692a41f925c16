//! The agent role (`[agent]`): an egress proxy on loopback for agents in any language. The
//! agent sends plain requests to `http://127.0.0.1:8090/<route>`; the role forwards each to
//! the route's MCP server with `Authorization: DPoP <token>` and a fresh proof, through
//! [`DpopClientLayer`](crate::exchange::DpopClientLayer) (nonce, expired-token and step-up
//! challenges answered there) over the guard's upstream connection pool, and streams the
//! answer back (SSE included).
//!
//! A route connects on its first request: the server's `401` names its authorization
//! server (RFC 9728, RFC 8414), and the token provider takes the workload's platform token
//! from `[agent.workload]`. A failed connection is not kept: the next request tries again,
//! while the token provider's back-off keeps a refusing token endpoint from being asked once
//! per request.
//!
//! Requests from other hosts than loopback are refused (403) unless
//! `dangerous_allow_remote_clients`: whoever reaches the proxy acts with the workload's
//! identity. The client's own `Authorization`, `DPoP` and `Cookie` fields are dropped.
//! Request bodies are read whole (at most `agent.listen.max_body_bytes`), since a challenge
//! answered means sending the same bytes again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST};
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use tower_service::Service;

use crate::dpop::ProofSigner;
use crate::exchange::call::{ConnectOptions, Connected, connect};
use crate::exchange::{DpopClient, DpopClientError};
use crate::guard::PeerAddr;
use crate::workload::{AutoOptions, FileSource, ProcessEnvironment, TokenSource, WorkloadSource};

use super::super::config::{AgentSection, ConfigError, RouteConfig};
use super::super::error::SidecarError;
use super::super::host::Host;
use super::super::observe::{Accounting, Observe, RefusalReason};
use super::super::probe::{BoxFuture, Probe};
use super::super::server::Listener;
use super::super::signal::Shutdown;
use super::super::upstream::{ClientSettings, UpstreamBody, UpstreamClient};
use super::Role;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// The agent's metrics.
const ACCOUNTING: Accounting = Accounting {
    role: "agent",
    requests: "mcp_warden_agent_requests_total",
    duration: "mcp_warden_agent_request_duration_seconds",
    answered: "forwarded",
    failed: "upstream_error",
    failures_by_status: None,
};

/// Why the agent did not forward a request: the label in metrics and the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentRefusal {
    /// A client that is not on loopback.
    RemoteClient,
    /// No route of that name.
    NoRoute,
    /// The body is over the limit.
    BodyTooLarge,
    /// The route could not connect (discovery, grant, key).
    Connect,
    /// No token could be obtained.
    Token,
    /// The MCP server could not be reached.
    Upstream,
}

impl RefusalReason for AgentRefusal {
    fn reason(&self) -> &'static str {
        match self {
            AgentRefusal::RemoteClient => "remote_client",
            AgentRefusal::NoRoute => "no_route",
            AgentRefusal::BodyTooLarge => "body_too_large",
            AgentRefusal::Connect => "connect",
            AgentRefusal::Token => "token",
            AgentRefusal::Upstream => "upstream",
        }
    }
}

/// The agent role, built and bound.
pub struct AgentRole {
    listener: Listener,
    service: AgentService,
    listen: String,
}

impl std::fmt::Debug for AgentRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentRole")
            .field("listen", &self.listen)
            .finish_non_exhaustive()
    }
}

impl AgentRole {
    /// Builds the proxy from `config` and binds its listener. Nothing is fetched yet: each
    /// route connects on its first request.
    pub async fn build(config: &AgentSection, host: &Host) -> Result<AgentRole, SidecarError> {
        let key = match config.dpop_key()? {
            Some(key) => key,
            None => crate::jose::SigningKey::generate(config.dpop_algorithm()?)
                .map_err(|error| ConfigError::new("agent.dpop_alg", error.to_string()))?,
        };
        let signer = Arc::new(ProofSigner::new(key));
        let timeout = Duration::from_secs(config.timeout_s);
        let http = crate::outbound::client(timeout, timeout, true)
            .map_err(|error| ConfigError::new("agent", error.to_string()))?;
        let routes = config
            .routes
            .iter()
            .map(|route| {
                (
                    route.name.clone(),
                    Arc::new(RouteState {
                        config: route.clone(),
                        connected: tokio::sync::Mutex::new(None),
                    }),
                )
            })
            .collect();
        let listener = Listener::open(&config.listen, host.drain_timeout()).await?;
        tracing::info!(key = signer.thumbprint().as_str(), "agent DPoP key");
        Ok(AgentRole {
            listener,
            service: AgentService {
                shared: Arc::new(Shared {
                    routes,
                    http,
                    signer,
                    config: config.clone(),
                    timeout,
                    max_body_bytes: config.listen.max_body_bytes,
                }),
            },
            listen: config.listen.address.clone(),
        })
    }
}

impl Role for AgentRole {
    fn name(&self) -> &'static str {
        "agent"
    }

    fn probes(&self) -> Vec<Arc<dyn Probe>> {
        Vec::new()
    }

    fn serve(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, ()> {
        let AgentRole {
            listener,
            service,
            listen,
        } = *self;
        Box::pin(async move {
            let routes: Vec<String> = service
                .shared
                .config
                .routes
                .iter()
                .map(|route| format!("/{} -> {}", route.name, route.url))
                .collect();
            tracing::info!(listen = %listen, routes = ?routes, "mcp-warden agent started");
            let service = Observe::<_, AgentRefusal>::new(service, ACCOUNTING);
            listener.serve(service, shutdown.begun()).await;
            tracing::info!("mcp-warden agent stopped");
        })
    }
}

struct Shared {
    routes: HashMap<String, Arc<RouteState>>,
    http: reqwest::Client,
    signer: Arc<ProofSigner>,
    config: AgentSection,
    timeout: Duration,
    max_body_bytes: usize,
}

/// One route and, once connected, its credentialed client.
struct RouteState {
    config: RouteConfig,
    /// Held across connecting, so one request connects while the others wait for it.
    connected: tokio::sync::Mutex<Option<RouteClient>>,
}

#[derive(Clone)]
enum RouteClient {
    /// The server asked for no credentials.
    Open(Pooled),
    /// Requests carry the token and a proof.
    Guarded(DpopClient<Pooled>),
}

/// How long a response body (an SSE stream the server keeps open for notifications) may
/// pause before the proxy gives up on it: the guard's default upstream idle timeout.
const BODY_IDLE: Duration = Duration::from_secs(300);

/// One route's upstream: the guard's single-origin pool of hyper connections
/// ([`UpstreamClient`]), as a tower service over `http::Request<Bytes>` so that
/// [`DpopClientLayer`](crate::exchange::DpopClientLayer) can wrap it. The answer must begin
/// within `first_byte`; then its body streams, pausing at most [`BODY_IDLE`].
#[derive(Clone)]
struct Pooled {
    client: UpstreamClient,
    first_byte: Duration,
}

impl Pooled {
    fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        let mut origin = url::Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
        // The pool prefixes its URL's path to every request's; the requests carry the whole
        // path, so the pool gets the origin alone.
        origin.set_path("/");
        origin.set_query(None);
        let client = UpstreamClient::new(&ClientSettings {
            url: &origin,
            http2_prior_knowledge: false,
            connect_timeout: timeout,
            idle_timeout: BODY_IDLE,
            extra_roots_pem: None,
        })
        .map_err(|e| e.to_string())?;
        Ok(Pooled {
            client,
            first_byte: timeout,
        })
    }
}

impl Service<Request<Bytes>> for Pooled {
    type Response = Response<UpstreamBody>;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response<UpstreamBody>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let target = self.client.target(&parts.uri);
        let client = self.client.clone();
        let first_byte = self.first_byte;
        Box::pin(async move {
            parts.uri = target.ok_or("the request URI does not fit the route's origin")?;
            let body = Full::new(body).map_err(|never| match never {}).boxed();
            let sent = client.send(Request::from_parts(parts, body));
            match tokio::time::timeout(first_byte, sent).await {
                Ok(answer) => answer.map_err(Into::into),
                Err(_) => Err("the MCP server did not answer in time".into()),
            }
        })
    }
}

/// The proxy service.
#[derive(Clone)]
struct AgentService {
    shared: Arc<Shared>,
}

impl Service<Request<Incoming>> for AgentService {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            Ok(match forward(&shared, request).await {
                Ok(response) => response,
                Err((refusal, status, message)) => refused(refusal, status, &message),
            })
        })
    }
}

type Refused = (AgentRefusal, StatusCode, String);

async fn forward(shared: &Shared, request: Request<Incoming>) -> Result<Response<Body>, Refused> {
    let peer = request.extensions().get::<PeerAddr>().map(|peer| peer.0);
    if !client_allowed(peer, shared.config.dangerous_allow_remote_clients) {
        return Err((
            AgentRefusal::RemoteClient,
            StatusCode::FORBIDDEN,
            "the agent proxy serves loopback clients only".into(),
        ));
    }
    let name = request
        .uri()
        .path()
        .trim_start_matches('/')
        .trim_end_matches('/');
    let Some(route) = shared.routes.get(name).cloned() else {
        return Err((
            AgentRefusal::NoRoute,
            StatusCode::NOT_FOUND,
            format!("no route {name:?}: the routes are /{}", route_names(shared)),
        ));
    };
    let client = route_client(shared, &route).await?;
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, shared.max_body_bytes)
        .collect()
        .await
        .map_err(|_| {
            (
                AgentRefusal::BodyTooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over {} bytes", shared.max_body_bytes),
            )
        })?
        .to_bytes();
    let mut upstream = Request::builder()
        .method(parts.method)
        .uri(route.config.url.as_str())
        .body(body)
        .map_err(|_| {
            (
                AgentRefusal::Upstream,
                StatusCode::BAD_GATEWAY,
                "the route's URL is not a URI".into(),
            )
        })?;
    for (name, value) in &parts.headers {
        if !dropped(name) {
            upstream.headers_mut().append(name.clone(), value.clone());
        }
    }
    let answer = match client {
        RouteClient::Open(mut service) => service.call(upstream).await.map_err(|error| {
            (
                AgentRefusal::Upstream,
                StatusCode::BAD_GATEWAY,
                error.to_string(),
            )
        })?,
        RouteClient::Guarded(mut service) => {
            service.call(upstream).await.map_err(|error| match error {
                DpopClientError::Token(error) => {
                    // The cached connection stays: the provider's back-off decides when the
                    // token endpoint is asked again.
                    let status = if error.is_transient() {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::BAD_GATEWAY
                    };
                    (AgentRefusal::Token, status, format!("token: {error}"))
                }
                other => (
                    AgentRefusal::Upstream,
                    StatusCode::BAD_GATEWAY,
                    other.to_string(),
                ),
            })?
        }
    };
    let (mut parts, body) = answer.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    Ok(Response::from_parts(
        parts,
        body.map_err(Into::into).boxed(),
    ))
}

/// Whether a client at `peer` may use the proxy: loopback only, unless remote clients are
/// allowed. A request without a known peer (not from the listener) is refused.
fn client_allowed(peer: Option<std::net::SocketAddr>, allow_remote: bool) -> bool {
    allow_remote || peer.is_some_and(|peer| peer.ip().is_loopback())
}

/// The route's client, connecting it first if it is not yet.
async fn route_client(shared: &Shared, route: &RouteState) -> Result<RouteClient, Refused> {
    let mut connected = route.connected.lock().await;
    if let Some(client) = connected.as_ref() {
        return Ok(client.clone());
    }
    let options = ConnectOptions {
        url: route.config.url.clone(),
        grant: shared.config.grant(),
        source: Some(source_factory(shared)),
        scopes: route.config.scopes.clone(),
        omit_resource: route.config.omit_resource,
        issuer: route.config.issuer.clone(),
        require_dpop: shared.config.require_dpop,
        signer: Some(Arc::clone(&shared.signer)),
        timeout: shared.timeout,
    };
    let name = route.config.name.as_str();
    let outcome = connect(&shared.http, options, &mut |step| {
        tracing::info!(route = name, step = ?step, "agent route connecting");
    })
    .await
    .map_err(|error| {
        tracing::warn!(route = name, %error, "agent route could not connect");
        (
            AgentRefusal::Connect,
            StatusCode::BAD_GATEWAY,
            format!("route {name}: {error}"),
        )
    })?;
    let service = Pooled::new(&route.config.url, shared.timeout).map_err(|error| {
        (
            AgentRefusal::Connect,
            StatusCode::BAD_GATEWAY,
            format!("route {name}: {error}"),
        )
    })?;
    let client = match outcome {
        Connected::Open => RouteClient::Open(service),
        Connected::Guarded { layer, .. } => {
            RouteClient::Guarded(tower_layer::Layer::layer(&layer, service))
        }
    };
    *connected = Some(client.clone());
    Ok(client)
}

/// The workload token source, built for the discovered issuer.
fn source_factory(shared: &Shared) -> crate::exchange::call::SourceFactory {
    let workload = shared.config.workload.clone();
    Box::new(move |issuer: &str| {
        let source: Arc<dyn TokenSource> = match workload.token_file {
            Some(path) => Arc::new(FileSource::new(path)),
            None => {
                let mut options = AutoOptions::new()
                    .audience(workload.audience.unwrap_or_else(|| issuer.to_owned()));
                if workload.gcp_metadata {
                    options = options.gcp_metadata();
                }
                Arc::new(WorkloadSource::auto(&ProcessEnvironment, options)?)
            }
        };
        Ok(source)
    })
}

fn route_names(shared: &Shared) -> String {
    let mut names: Vec<&str> = shared.routes.keys().map(String::as_str).collect();
    names.sort_unstable();
    names.join(", /")
}

/// Hop-by-hop fields (RFC 9110 §7.6.1), never forwarded either way.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// What the agent does not pass on from its client: hop-by-hop fields, the framing and
/// `Host` (set for the upstream), and credentials — the agent adds its own, and a client's
/// cookie or token has no business reaching the server under the workload's identity.
fn dropped(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(&name.as_str())
        || *name == HOST
        || *name == AUTHORIZATION
        || *name == COOKIE
        || name.as_str() == "dpop"
        || name.as_str() == "content-length"
        || name.as_str() == "transfer-encoding"
}

fn refused(refusal: AgentRefusal, status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({"error": refusal.reason(), "error_description": message});
    let mut response = Response::new(
        Full::new(Bytes::from(body.to_string()))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response.extensions_mut().insert(refusal);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_clients_unless_remote_ones_are_allowed() {
        let at = |text: &str| Some(text.parse::<std::net::SocketAddr>().expect("address"));
        assert!(client_allowed(at("127.0.0.1:5000"), false));
        assert!(client_allowed(at("[::1]:5000"), false));
        assert!(!client_allowed(at("10.0.0.7:5000"), false));
        assert!(!client_allowed(at("[2001:db8::1]:5000"), false));
        assert!(!client_allowed(None, false));
        assert!(client_allowed(at("10.0.0.7:5000"), true));
    }

    #[test]
    fn the_clients_credentials_and_hop_by_hop_fields_are_not_forwarded() {
        for name in [
            "authorization",
            "dpop",
            "cookie",
            "host",
            "connection",
            "te",
            "content-length",
        ] {
            assert!(dropped(&HeaderName::from_static(name)), "{name}");
        }
        for name in [
            "accept",
            "content-type",
            "mcp-session-id",
            "mcp-protocol-version",
        ] {
            assert!(!dropped(&HeaderName::from_static(name)), "{name}");
        }
    }
}
