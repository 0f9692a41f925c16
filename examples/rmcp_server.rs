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
//! - `MCP_WARDEN_NONCES` (default off): `1` requires server nonces in proofs (RFC 9449 §9).
//!   Every response then carries a fresh `DPoP-Nonce`, and a proof without a current nonce
//!   is refused with 401 `use_dpop_nonce`, which the client retries with the nonce. The
//!   nonces are [`StatelessNonces`](mcp_warden::dpop::StatelessNonces) under a key generated
//!   at start; replicas would share one key (`StatelessNonces::new`).
//!
//! Nothing has to be running at the issuer for the server to start: the keys are fetched
//! once at start (a failure is printed), and token checks answer 503 with `Retry-After`
//! until they can be fetched.
//!
//! An MCP client that meets the 401 reads `resource_metadata` from the `WWW-Authenticate`
//! challenge, fetches the Protected Resource Metadata (RFC 9728) printed at start, and gets
//! a token from the authorization server listed there.
//!
//! A working issuer and client, in two terminals: `cargo run --release -- demo --serve`
//! prints its issuer (which grants tokens for `http://127.0.0.1:8080/mcp`) and its workload
//! token file; then
//!
//! ```sh
//! MCP_WARDEN_ISSUER=<the demo's issuer> cargo run --example rmcp_server
//! cargo run --release -- call --workload-token-file <the demo's token file> \
//!     --tool sum --args '{"a":2,"b":3}' http://127.0.0.1:8080/mcp
//! ```

use std::sync::Arc;

use mcp_warden::dpop::{ProofValidator, StatelessNonces};
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
    let nonces = env_switch("MCP_WARDEN_NONCES")?;

    let mut keys = RemoteJwks::builder(JwksLocation::Discovery {
        issuer: issuer.clone(),
    });
    if is_loopback_http(&issuer) {
        // Plain-http key fetches only for an issuer on this machine (a local test issuer):
        // on a network, whoever can alter the response can mint tokens.
        keys = keys.dangerous_allow_plain_http();
    }
    let keys = Arc::new(keys.build()?);
    let mut proofs = ProofValidator::builder();
    if nonces {
        // A key generated for this process; each nonce lives 300 s
        // (`StatelessNonces::DEFAULT_LIFETIME_S`).
        proofs = proofs.nonces(Arc::new(StatelessNonces::generate()));
    }
    let guard = Guard::builder()
        .resource(&resource)
        .authorization_server(&issuer)
        .trust_issuer(TrustedIssuer::with_key_source(&issuer, keys.clone()))
        .proofs(proofs.build())
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
    if nonces {
        println!("server nonces: required (MCP_WARDEN_NONCES)");
    }
    // Fetch the keys now, so a wrong or unreachable issuer shows up at start rather than
    // as 503s.
    if let Err(error) = keys.load().await {
        eprintln!("issuer keys not loaded yet ({error}); requests get 503 until they are");
    }

    // Ctrl-C stops accepting connections and lets in-flight requests finish.
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

/// An on/off environment variable: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`
/// (any case); unset or empty is off, anything else an error rather than a guess.
fn env_switch(name: &str) -> Result<bool, String> {
    let value = std::env::var(name).unwrap_or_default();
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Ok(false),
        "1" | "true" | "yes" | "on" => Ok(true),
        _ => Err(format!("{name}={value:?}: expected 1 or 0")),
    }
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
