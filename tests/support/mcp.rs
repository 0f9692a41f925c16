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
