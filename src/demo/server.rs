//! The demo's MCP server: an rmcp Streamable HTTP server with two tools, `sum` (anyone with
//! `tools:call`) and `reset_database` (only `tools:admin`, which the demo's policy never
//! grants), for the guard to stand in front of.

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, schemars, tool, tool_handler, tool_router};

/// `sum`'s arguments.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct SumArguments {
    a: i64,
    b: i64,
}

/// The two tools.
#[derive(Debug, Clone)]
pub(crate) struct DemoServer {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl DemoServer {
    #[tool(description = "Add two numbers")]
    fn sum(&self, Parameters(SumArguments { a, b }): Parameters<SumArguments>) -> String {
        a.saturating_add(b).to_string()
    }

    #[tool(description = "Erase every record (needs tools:admin)")]
    fn reset_database(&self) -> String {
        // Only reachable with `tools:admin`, which the demo never grants; if it ever ran,
        // the demo reports the step as failed.
        "database reset".to_owned()
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DemoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The server as a tower service: stateless, plain JSON answers, loopback hosts only.
pub(crate) fn service() -> StreamableHttpService<DemoServer, LocalSessionManager> {
    let mut config = StreamableHttpServerConfig::default();
    config.legacy_session_mode = false;
    config.json_response = true;
    config.allowed_hosts = vec!["127.0.0.1".into(), "localhost".into()];
    StreamableHttpService::new(
        || {
            Ok(DemoServer {
                tool_router: DemoServer::tool_router(),
            })
        },
        Default::default(),
        config,
    )
}
