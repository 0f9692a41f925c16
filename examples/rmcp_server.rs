//! An rmcp Streamable HTTP MCP server behind the mcp-warden guard. rmcp serves the protocol
//! but checks no tokens itself; the guard, as a tower layer in front of it, admits only
//! DPoP-bound access tokens (RFC 9449) issued for this server (RFC 8707), and requires the
//! scope `tools:call` for every `tools/call`. Listing tools, `initialize` and the other
//! methods need a valid token but no particular scope.
//!
//! Run it with `cargo run --example rmcp_server`. Environment:
//!
//! - `MCP_WARDEN_ISSUER` (default `http://127.0.0.1:9000`): the authorization server whose
//!   tokens are accepted; its keys are found by RFC 8414 / OpenID discovery.
//! - `MCP_WARDEN_LISTEN` (default `127.0.0.1:8080`): where to listen; the MCP endpoint is
//!   `http://<listen>/mcp`, so this must be a loopback address (see `docs/guard.md` for a
//!   public `https://` deployment).
//!
//! An MCP client that meets the 401 reads `resource_metadata` from the `WWW-Authenticate`
//! challenge, fetches the Protected Resource Metadata (RFC 9728) printed at start, and gets
//! a token from the authorization server listed there.

use std::sync::Arc;

use mcp_warden::guard::{Guard, Principal, ScopePolicy};
use mcp_warden::jwks::{JwksLocation, RemoteJwks};
use mcp_warden::token::TrustedIssuer;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct SumRequest {
    a: i64,
    b: i64,
}

#[derive(Debug, Clone)]
struct Calculator {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Calculator {
    #[tool(description = "Sum two numbers")]
    fn sum(
        &self,
        Parameters(SumRequest { a, b }): Parameters<SumRequest>,
        // rmcp hands tools the HTTP request parts; the guard put the verified caller in
        // their extensions. Checks beyond scopes (per-tenant data, audit) start here.
        Extension(parts): Extension<http::request::Parts>,
    ) -> String {
        let caller = parts.extensions.get::<Principal>();
        let subject = caller.and_then(Principal::subject).unwrap_or("unknown");
        println!("sum called by {subject}");
        a.saturating_add(b).to_string()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Calculator {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = env_or("MCP_WARDEN_ISSUER", "http://127.0.0.1:9000");
    let listen = env_or("MCP_WARDEN_LISTEN", "127.0.0.1:8080");
    let resource = format!("http://{listen}/mcp");

    let mut keys = RemoteJwks::builder(JwksLocation::Discovery {
        issuer: issuer.clone(),
    });
    if is_loopback_http(&issuer) {
        // Plain-http key fetches only for an issuer on this machine (a local test issuer):
        // on a network, whoever can alter the response can mint tokens.
        keys = keys.dangerous_allow_plain_http();
    }
    let guard = Guard::builder()
        .resource(&resource)
        .authorization_server(&issuer)
        .trust_issuer(TrustedIssuer::with_key_source(
            &issuer,
            Arc::new(keys.build()?),
        ))
        // Every tool: the guard reads the JSON-RPC body (up to 1 MiB) to see the method.
        .scopes(
            ScopePolicy::builder()
                .method("tools/call", ["tools:call"])
                .build()?,
        )
        .scopes_supported(["tools:call"])
        .build()?;
    println!("metadata: {}", guard.metadata_url());

    let mut config = StreamableHttpServerConfig::default();
    // Stateless: each request stands alone, which is also how the guard judges it.
    config.legacy_session_mode = false;
    config.json_response = true;
    // rmcp accepts only loopback `Host` values by default (DNS-rebinding protection); a
    // public deployment lists its own host with `config.with_allowed_hosts(...)`.
    let mcp: StreamableHttpService<Calculator, LocalSessionManager> = StreamableHttpService::new(
        || {
            Ok(Calculator {
                tool_router: Calculator::tool_router(),
            })
        },
        Default::default(),
        config,
    );
    // The guard wraps the whole router, so it also answers the metadata paths under
    // `/.well-known/oauth-protected-resource`, which are outside `/mcp`.
    let app = axum::Router::new().nest_service("/mcp", mcp).layer(guard);

    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("MCP endpoint: {resource}");
    // Ctrl-C ends the process at once: graceful shutdown needs tokio's `signal` feature,
    // which this crate's dev-dependencies do not enable.
    // Finish in-flight requests on Ctrl-C instead of cutting them off.
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Whether `url` is `http` on a loopback host: the only place plain http is tolerated.
fn is_loopback_http(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Domain(domain)) => domain == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}
