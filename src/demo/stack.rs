//! The demo's parts, each on its own loopback listener in this process, with ephemeral keys
//! and temporary files only:
//!
//! - a stand-in Kubernetes API server (OIDC discovery and JWKS) whose key signs the
//!   workload's projected service-account token, written to a file and rotated as the kubelet
//!   would;
//! - mcp-warden's issuer, trusting that cluster by discovery, with a policy that grants
//!   `system:serviceaccount:agents:researcher` `tools:call` on the demo server and nothing
//!   else;
//! - the demo MCP server (rmcp, two tools) behind the guard, which trusts the issuer by
//!   discovery, requires server nonces, and asks `tools:call` for `sum` and `tools:admin` for
//!   `reset_database`.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_layer::Layer;

use crate::clock::{Clock, SystemClock};
use crate::dpop::{ProofValidator, StatelessNonces};
use crate::guard::{Guard, ScopePolicy};
use crate::issuer::{
    IssuerFacts, IssuerService, KeyRing, Platform, Policy, PolicyDocument, PolicyLimits,
    TokenEndpoint, WorkloadIssuer, WorkloadIssuers, default_audiences,
};
use crate::jose::{Algorithm, SigningKey};
use crate::jwks::{JwksLocation, RemoteJwks};
use crate::jwt::TrustedIssuer;
use crate::sidecar::server::{ListenerSettings, serve};
use crate::sidecar::signal::Shutdown;

/// Where `cargo run --example rmcp_server` (and `axum_server`) serve by default.
pub(crate) const EXAMPLES_RESOURCE: &str = "http://127.0.0.1:8080/mcp";

/// The workload the demo's policy knows.
pub(crate) const NAMESPACE: &str = "agents";
/// Its service account.
pub(crate) const ACCOUNT: &str = "researcher";

/// Why the stack could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StackError {
    #[error("cannot listen on loopback: {0}")]
    Bind(std::io::Error),
    #[error("cannot write the token file {0}: {1}")]
    TokenFile(PathBuf, std::io::Error),
    #[error("{0}")]
    Setup(String),
}

/// A running stack; dropped, it stops its listeners and removes its files.
pub(crate) struct Stack {
    /// The stand-in cluster's issuer identifier.
    pub(crate) cluster: String,
    /// mcp-warden's issuer identifier.
    pub(crate) issuer: String,
    /// The guarded MCP endpoint.
    pub(crate) mcp: String,
    /// The workload's projected token file.
    pub(crate) token_file: PathBuf,
    cluster_key: SigningKey,
    dir: PathBuf,
    stop: watch::Sender<bool>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What may be broken on purpose, to show that the demo notices (a hidden CLI option).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokenRole {
    /// The issuer's listener never starts: no token can be had.
    Issuer,
    /// The guard lets `reset_database` through with `tools:call`.
    Guard,
}

/// The stand-in cluster's two documents.
#[derive(Clone)]
struct Documents {
    discovery: Bytes,
    jwks: Bytes,
}

impl<B> tower_service::Service<Request<B>> for Documents {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Response<Full<Bytes>>, Infallible>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let body = match request.uri().path() {
            "/.well-known/openid-configuration" => Some(self.discovery.clone()),
            "/openid/v1/jwks" => Some(self.jwks.clone()),
            _ => None,
        };
        let response = match body {
            Some(body) => Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(body)),
            None => Response::builder()
                .status(404)
                .body(Full::new(Bytes::new())),
        };
        std::future::ready(Ok(response.unwrap_or_default()))
    }
}

async fn bind() -> Result<(TcpListener, String), StackError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(StackError::Bind)?;
    let address = listener.local_addr().map_err(StackError::Bind)?;
    Ok((listener, format!("http://{address}")))
}

fn settings() -> ListenerSettings {
    ListenerSettings {
        drain_timeout: Duration::from_secs(1),
        ..ListenerSettings::default()
    }
}

impl Stack {
    /// Starts every part; `broken` breaks one on purpose.
    pub(crate) async fn start(broken: Option<BrokenRole>) -> Result<Stack, StackError> {
        let (stop, shutdown) = Shutdown::manual();
        let dir = std::env::temp_dir().join(format!(
            "mcp-warden-demo-{}-{}",
            std::process::id(),
            SystemClock.now_millis()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| StackError::TokenFile(dir.clone(), e))?;

        // 1. The stand-in Kubernetes API server.
        let cluster_key = SigningKey::generate(Algorithm::ES256)
            .and_then(|key| key.with_kid("cluster-1"))
            .map_err(|e| StackError::Setup(e.to_string()))?;
        let (cluster_listener, cluster) = bind().await?;
        let jwks = Bytes::from(json!({"keys": [cluster_key.public_jwk().to_json()]}).to_string());
        let discovery = Bytes::from(
            json!({"issuer": cluster, "jwks_uri": format!("{cluster}/openid/v1/jwks")}).to_string(),
        );
        let documents = Documents { discovery, jwks };
        tokio::spawn(serve(
            cluster_listener,
            documents,
            None,
            settings(),
            shutdown.clone().begun(),
        ));

        // 2. The issuer, trusting the cluster by discovery (plain http: loopback only).
        let (issuer_listener, issuer) = bind().await?;
        let (mcp_listener, mcp_base) = bind().await?;
        let mcp = format!("{mcp_base}/mcp");
        let token_endpoint = format!("{issuer}/token");
        let cluster_keys = RemoteJwks::builder(JwksLocation::Discovery {
            issuer: cluster.clone(),
        })
        .dangerous_allow_plain_http()
        .build()
        .map_err(|e| StackError::Setup(e.to_string()))?;
        let workloads = WorkloadIssuers::new(vec![WorkloadIssuer::new(
            "cluster",
            Platform::Kubernetes,
            TrustedIssuer::with_key_source(cluster.clone(), Arc::new(cluster_keys)),
            default_audiences(&issuer, &token_endpoint),
        )]);
        let document: PolicyDocument = serde_json::from_value(json!({
            "resources": [
                {"name": "demo", "uri": mcp, "scopes": ["tools:call", "tools:admin"]},
                // The repository's example servers at their default address, so that
                // `demo --serve` is their issuer too (examples/rmcp_server.rs).
                {"name": "examples", "uri": EXAMPLES_RESOURCE, "scopes": ["mcp", "tools:call"]},
            ],
            "rules": [{
                "name": "researcher",
                "issuer": "cluster",
                "claims": {
                    "kubernetes.io.namespace": NAMESPACE,
                    "kubernetes.io.serviceaccount.name": ACCOUNT,
                },
                "grants": [
                    {"resource": "demo", "scopes": ["tools:call"]},
                    {"resource": "examples", "scopes": ["mcp", "tools:call"]},
                ],
                "token_lifetime_s": 300,
            }],
        }))
        .map_err(|e| StackError::Setup(e.to_string()))?;
        let facts = [IssuerFacts {
            name: "cluster".into(),
            tenant_claims: Vec::new(),
        }];
        let policy = Policy::compile(&document, &facts, PolicyLimits::default())
            .map_err(|errors| StackError::Setup(format!("{errors:?}")))?;
        let endpoint = TokenEndpoint::builder(
            issuer.clone(),
            workloads,
            policy,
            KeyRing::ephemeral(Algorithm::ES256).map_err(|e| StackError::Setup(e.to_string()))?,
        )
        .proofs(
            ProofValidator::builder()
                .nonces(Arc::new(StatelessNonces::generate()))
                .build(),
        )
        .build()
        .map_err(|e| StackError::Setup(e.to_string()))?;
        if broken == Some(BrokenRole::Issuer) {
            // Bound but never served: connections are accepted by the kernel and then
            // dropped with the listener, so every token request fails.
            drop(issuer_listener);
        } else {
            tokio::spawn(serve(
                issuer_listener,
                IssuerService::new(endpoint),
                None,
                settings(),
                shutdown.clone().begun(),
            ));
        }

        // 3. The MCP server behind the guard (nonces on, scopes per tool).
        let issuer_keys = RemoteJwks::builder(JwksLocation::Discovery {
            issuer: issuer.clone(),
        })
        .dangerous_allow_plain_http()
        .build()
        .map_err(|e| StackError::Setup(e.to_string()))?;
        let admin_scope = if broken == Some(BrokenRole::Guard) {
            "tools:call"
        } else {
            "tools:admin"
        };
        let scopes = ScopePolicy::builder()
            .tool("sum", ["tools:call"])
            .tool("reset_database", [admin_scope])
            .build()
            .map_err(|e| StackError::Setup(e.to_string()))?;
        let guard = Guard::builder()
            .resource(mcp.clone())
            .authorization_server(issuer.clone())
            .trust_issuer(TrustedIssuer::with_key_source(
                issuer.clone(),
                Arc::new(issuer_keys),
            ))
            .proofs(
                ProofValidator::builder()
                    .nonces(Arc::new(StatelessNonces::generate()))
                    .build(),
            )
            .scopes(scopes)
            .build()
            .map_err(|e| StackError::Setup(e.to_string()))?;
        tokio::spawn(serve(
            mcp_listener,
            guard.layer(super::server::service()),
            None,
            settings(),
            shutdown.clone().begun(),
        ));

        let stack = Stack {
            cluster,
            issuer,
            mcp,
            token_file: dir.join("mcp-token"),
            cluster_key,
            dir,
            stop,
        };
        stack.write_token(NAMESPACE, ACCOUNT)?;
        Ok(stack)
    }

    /// The kubelet's job: a fresh projected token for `namespace`/`account`, audience the
    /// issuer, valid ten minutes, swapped in atomically.
    pub(crate) fn write_token(&self, namespace: &str, account: &str) -> Result<(), StackError> {
        let token = self.cluster_token(&self.cluster, namespace, account)?;
        let staged = self.dir.join("mcp-token.new");
        std::fs::write(&staged, token).map_err(|e| StackError::TokenFile(staged.clone(), e))?;
        std::fs::rename(&staged, &self.token_file)
            .map_err(|e| StackError::TokenFile(self.token_file.clone(), e))
    }

    /// A projected-token-shaped JWT naming `iss`, signed with the cluster's key.
    pub(crate) fn cluster_token(
        &self,
        iss: &str,
        namespace: &str,
        account: &str,
    ) -> Result<String, StackError> {
        mint(&self.cluster_key, iss, &self.issuer, namespace, account)
    }
}

/// A Kubernetes projected service-account token.
pub(crate) fn mint(
    key: &SigningKey,
    iss: &str,
    audience: &str,
    namespace: &str,
    account: &str,
) -> Result<String, StackError> {
    let now = SystemClock.now();
    let header = json!({"kid": key.public_jwk().kid().unwrap_or_default()});
    let claims = json!({
        "iss": iss,
        "sub": format!("system:serviceaccount:{namespace}:{account}"),
        "aud": [audience],
        "iat": now, "nbf": now, "exp": now + 600,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account}},
    });
    match (header.as_object(), claims.as_object()) {
        (Some(header), Some(claims)) => key
            .sign_compact(header, claims)
            .map_err(|e| StackError::Setup(e.to_string())),
        _ => Err(StackError::Setup("claims are not an object".into())),
    }
}
