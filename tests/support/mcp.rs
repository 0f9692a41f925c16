//! A real rmcp Streamable HTTP server with one tool, `sum`, for tests that need an MCP
//! server behind the guard or the sidecar.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct SumRequest {
    a: i32,
    b: i32,
}

#[derive(Debug, Clone)]
pub struct SumServer {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl SumServer {
    #[tool(description = "Sum two numbers")]
    fn sum(&self, Parameters(SumRequest { a, b }): Parameters<SumRequest>) -> String {
        (a + b).to_string()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for SumServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The server as a tower service, stateless, answering plain JSON, accepting the loopback
/// `Host` values the tests use.
pub fn sum_service() -> StreamableHttpService<SumServer, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default();
    config.legacy_session_mode = false;
    config.json_response = true;
    config.allowed_hosts = vec!["127.0.0.1".into(), "localhost".into()];
    StreamableHttpService::new(
        || {
            Ok(SumServer {
                tool_router: SumServer::tool_router(),
            })
        },
        Default::default(),
        config,
    )
}

/// The 4xx answers a guarded server gave: status and `WWW-Authenticate`, in order.
pub type Refusals = std::sync::Arc<std::sync::Mutex<Vec<(u16, String)>>>;

/// Serves the sum server at `/mcp` on `listener`, behind `guard`, recording every 4xx
/// answer (status and challenge) so a test can count the challenges a client met.
pub fn serve_guarded(
    listener: tokio::net::TcpListener,
    guard: mcp_warden::guard::GuardLayer,
) -> Refusals {
    let refusals = Refusals::default();
    let seen = refusals.clone();
    let app = axum::Router::new()
        .nest_service("/mcp", sum_service())
        .layer(guard)
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| {
                let seen = seen.clone();
                async move {
                    let response = next.run(request).await;
                    if response.status().is_client_error() {
                        let challenge = response
                            .headers()
                            .get("www-authenticate")
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        seen.lock()
                            .unwrap()
                            .push((response.status().as_u16(), challenge));
                    }
                    response
                }
            },
        ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    refusals
}

/// `tools/call` sum(2, 3) sent raw to `url` with `Authorization: DPoP token` and `proof`, as
/// an MCP client would after initializing.
pub async fn call_sum(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    proof: &str,
) -> reqwest::Response {
    http.post(url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-06-18")
        .json(
            &serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                  "params": {"name": "sum", "arguments": {"a": 2, "b": 3}}}),
        )
        .send()
        .await
        .unwrap()
}
