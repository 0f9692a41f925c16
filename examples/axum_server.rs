//! An axum app protected by the mcp-warden guard: every request to `/mcp` needs a
//! DPoP-bound access token (RFC 9449) from the configured issuer, naming this server in
//! `aud` (RFC 8707), with the scopes the operation needs. The handler gets the verified
//! caller through the `Principal` extractor.
//!
//! Run it with `cargo run --example axum_server`. Environment:
//!
//! - `MCP_WARDEN_ISSUER` (default `http://127.0.0.1:9000`): the authorization server whose
//!   tokens are accepted; its keys are found by RFC 8414 / OpenID discovery.
//! - `MCP_WARDEN_LISTEN` (default `127.0.0.1:8080`): where to listen. The resource URL is
//!   `http://<listen>/mcp`, so it must be a loopback address here; a real deployment sets
//!   its public `https://` URL instead (see `docs/guard.md`).
//!
//! Nothing has to be running at the issuer for the server to start: the Protected Resource
//! Metadata (RFC 9728) is served at once, and token checks answer 503 with `Retry-After`
//! until the issuer's keys can be fetched.
//!
//! ```sh
//! curl -i http://127.0.0.1:8080/.well-known/oauth-protected-resource/mcp  # 200, metadata
//! curl -i -X POST http://127.0.0.1:8080/mcp                                # 401, DPoP challenge
//! ```
//!
//! A working issuer and client: `cargo run --release -- demo --serve` prints its issuer
//! (which grants `mcp tools:call` for `http://127.0.0.1:8080/mcp`) and its workload token
//! file; then
//!
//! ```sh
//! MCP_WARDEN_ISSUER=<the demo's issuer> cargo run --example axum_server
//! cargo run --release -- call --workload-token-file <the demo's token file> \
//!     --scope "mcp tools:call" --tool whoami http://127.0.0.1:8080/mcp
//! ```
//!
//! The handler answers just enough MCP for that client (`initialize`, `tools/list`, and one
//! tool, `whoami`, which returns what the guard verified).

use std::sync::Arc;

use axum::routing::post;
use axum::{Json, Router};
use mcp_warden::guard::{Guard, Principal, ScopePolicy};
use mcp_warden::jwks::{JwksLocation, RemoteJwks};
use mcp_warden::token::TrustedIssuer;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = env_or("MCP_WARDEN_ISSUER", "http://127.0.0.1:9000");
    let listen = env_or("MCP_WARDEN_LISTEN", "127.0.0.1:8080");
    // The resource identifier: tokens must carry exactly this string in `aud`, and proofs
    // are checked against its origin (not the Host header, which a client controls).
    let resource = format!("http://{listen}/mcp");

    // The issuer's keys: discovered from its metadata, cached, refreshed on rotation.
    let mut keys = RemoteJwks::builder(JwksLocation::Discovery {
        issuer: issuer.clone(),
    });
    if is_loopback_http(&issuer) {
        // Keys fetched over plain http can be swapped by anyone on the path. Allowed only
        // for an issuer on this machine (a local test issuer); any other http URL is
        // refused when the key source is built.
        keys = keys.dangerous_allow_plain_http();
    }
    let keys = Arc::new(keys.build()?);

    // `mcp` on every request, and `tools:call` to call any tool.
    let scopes = ScopePolicy::builder()
        .always(["mcp"])
        .method("tools/call", ["tools:call"])
        .build()?;
    let guard = Guard::builder()
        .resource(&resource)
        .authorization_server(&issuer)
        .trust_issuer(TrustedIssuer::with_key_source(&issuer, keys.clone()))
        // The guard does not derive `scopes_supported` from the policy: publish it here.
        .scopes_supported(scopes.scopes())
        .scopes(scopes)
        .build()?;

    let app = Router::new().route("/mcp", post(mcp)).layer(guard.clone());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("protecting {resource}");
    println!("metadata:  {}", guard.metadata_url());
    // Fetch the keys now, so a wrong issuer URL shows up at start rather than as 503s.
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

/// The protected handler. By the time it runs the guard has checked the token, the proof
/// and the scopes, and removed `Authorization` and `DPoP` from the request (MCP forbids
/// passing the client's token on). `Principal` is what it verified; a route not behind the
/// guard gets 500 from this extractor, never an unauthenticated call.
async fn mcp(principal: Principal, Json(request): Json<Value>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let method = request.get("method").and_then(Value::as_str).unwrap_or("");
    // A notification gets no answer (MCP Streamable HTTP: 202 Accepted).
    if method.starts_with("notifications/") {
        return axum::http::StatusCode::ACCEPTED.into_response();
    }
    let verified = json!({
        "subject": principal.subject(),
        "client_id": principal.client_id(),
        "scopes": principal.scopes(),
        "key_thumbprint": principal.key_thumbprint().map(|jkt| jkt.as_str()),
    });
    let result = match method {
        "initialize" => json!({
            "protocolVersion": request.pointer("/params/protocolVersion").cloned()
                .unwrap_or_else(|| json!("2025-11-25")),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "axum_server example", "version": env!("CARGO_PKG_VERSION")},
        }),
        "tools/list" => json!({"tools": [{
            "name": "whoami",
            "description": "What the guard verified about the caller",
            "inputSchema": {"type": "object"},
        }]}),
        "tools/call" => json!({"content": [{"type": "text", "text": verified.to_string()}]}),
        _ => verified,
    };
    Json(json!({
        "jsonrpc": "2.0",
        "id": request.get("id").cloned().unwrap_or(Value::Null),
        "result": result,
    }))
    .into_response()
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
