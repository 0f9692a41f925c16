//! An rmcp MCP client (rmcp's Streamable HTTP client transport) calling a tool on a guarded
//! server as a workload: every HTTP request the transport makes goes through
//! `DpopClientLayer`, which attaches the DPoP-bound token and a fresh proof and answers the
//! server's nonce and step-up challenges.
//!
//! ```sh
//! # a guarded server and an issuer: see docs/agent.md; then
//! MCP_WARDEN_WORKLOAD_TOKEN_FILE=/var/run/secrets/tokens/mcp-token \
//!     cargo run --example rmcp_client -- https://mcp.example.com/mcp sum '{"a":2,"b":3}'
//! ```
//!
//! rmcp's transport asks an `rmcp::transport::streamable_http_client::StreamableHttpClient`
//! to send each message; `DpopHttp` is one, over the tower service
//! `DpopClientLayer::layer(ReqwestService)`, so the credentials never pass through rmcp.

#![allow(clippy::expect_used)] // An example: a failure ends it with the message.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use mcp_warden::exchange::call::{ConnectOptions, Connected, connect};
use mcp_warden::exchange::{DpopClient, DpopClientError, Grant, ReqwestService};
use mcp_warden::workload::{
    AutoOptions, FileSource, ProcessEnvironment, TokenSource, WorkloadSource,
};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, StreamableHttpClient, StreamableHttpClientTransportConfig,
    StreamableHttpError, StreamableHttpPostResponse,
};
use tower_service::Service;

const SESSION_ID: &str = "mcp-session-id";
const LAST_EVENT_ID: &str = "last-event-id";

/// rmcp's HTTP client, over the DPoP client layer.
#[derive(Clone)]
struct DpopHttp(DpopClient<ReqwestService>);

type Error = StreamableHttpError<DpopClientError>;
type SseStream = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<sse_stream::Sse, sse_stream::Error>> + Send>,
>;

impl DpopHttp {
    async fn send(&self, request: Request<Bytes>) -> Result<http::Response<reqwest::Body>, Error> {
        let mut service = self.0.clone();
        std::future::poll_fn(|cx| service.poll_ready(cx))
            .await
            .map_err(StreamableHttpError::Client)?;
        let response = service
            .call(request)
            .await
            .map_err(StreamableHttpError::Client)?;
        if response.status() == StatusCode::UNAUTHORIZED {
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            return Err(StreamableHttpError::AuthRequired(AuthRequiredError::new(
                challenge,
            )));
        }
        Ok(response)
    }
}

fn request(
    method: http::Method,
    uri: &str,
    accept: &'static str,
    session_id: Option<&str>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
    body: Bytes,
) -> Result<Request<Bytes>, Error> {
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(ACCEPT, accept);
    if let Some(session_id) = session_id {
        builder = builder.header(SESSION_ID, session_id);
    }
    for (name, value) in custom_headers {
        builder = builder.header(name, value);
    }
    builder
        .body(body)
        .map_err(|error| StreamableHttpError::UnexpectedServerResponse(error.to_string().into()))
}

fn sse(body: reqwest::Body) -> SseStream {
    Box::pin(sse_stream::SseStream::new(body))
}

fn is(response: &http::Response<reqwest::Body>, media_type: &str) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with(media_type))
}

impl StreamableHttpClient for DpopHttp {
    type Error = DpopClientError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, Error> {
        let body = Bytes::from(serde_json::to_vec(&message)?);
        let mut request = request(
            http::Method::POST,
            &uri,
            "application/json, text/event-stream",
            session_id.as_deref(),
            custom_headers,
            body,
        )?;
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let response = self.send(request).await?;
        if response.status() == StatusCode::ACCEPTED {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if !response.status().is_success() {
            return Err(StreamableHttpError::UnexpectedServerResponse(
                format!("the server answered {}", response.status()).into(),
            ));
        }
        let session = response
            .headers()
            .get(SESSION_ID)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        if is(&response, "text/event-stream") {
            return Ok(StreamableHttpPostResponse::Sse(
                sse(response.into_body()),
                session,
            ));
        }
        if is(&response, "application/json") {
            let bytes = response
                .into_body()
                .collect()
                .await
                .map_err(|error| {
                    StreamableHttpError::UnexpectedServerResponse(error.to_string().into())
                })?
                .to_bytes();
            let message: ServerJsonRpcMessage = serde_json::from_slice(&bytes)?;
            return Ok(StreamableHttpPostResponse::Json(message, session));
        }
        Err(StreamableHttpError::UnexpectedContentType(
            response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        ))
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), Error> {
        let request = request(
            http::Method::DELETE,
            &uri,
            "application/json",
            Some(&session_id),
            custom_headers,
            Bytes::new(),
        )?;
        // 405: the server keeps sessions until they expire; nothing to do.
        self.send(request).await.map(|_| ())
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<SseStream, Error> {
        if let Some(id) = last_event_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            custom_headers.insert(HeaderName::from_static(LAST_EVENT_ID), id);
        }
        let request = request(
            http::Method::GET,
            &uri,
            "text/event-stream",
            session_id.as_deref(),
            custom_headers,
            Bytes::new(),
        )?;
        let response = self.send(request).await?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if !response.status().is_success() || !is(&response, "text/event-stream") {
            return Err(StreamableHttpError::UnexpectedServerResponse(
                format!(
                    "the server answered {} to the event stream",
                    response.status()
                )
                .into(),
            ));
        }
        Ok(sse(response.into_body()))
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or("usage: rmcp_client URL [TOOL [ARGS_JSON]]")?;
    let tool = args.next();
    let arguments: serde_json::Value =
        serde_json::from_str(&args.next().unwrap_or_else(|| "{}".into()))?;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let options = ConnectOptions {
        url: url.clone(),
        grant: Grant::JwtBearer,
        source: Some(Box::new(|issuer: &str| {
            let source: Arc<dyn TokenSource> =
                match std::env::var_os("MCP_WARDEN_WORKLOAD_TOKEN_FILE") {
                    Some(path) => Arc::new(FileSource::new(path)),
                    None => Arc::new(WorkloadSource::auto(
                        &ProcessEnvironment,
                        AutoOptions::new().audience(issuer),
                    )?),
                };
            Ok(source)
        })),
        scopes: Vec::new(),
        omit_resource: false,
        issuer: None,
        require_dpop: true,
        signer: None,
        timeout: Duration::from_secs(30),
    };
    let layer = match connect(&http, options, &mut |step| eprintln!("{step:?}")).await? {
        Connected::Guarded { layer, .. } => layer,
        _ => return Err("the server asks for no credentials".into()),
    };
    let client = DpopHttp(tower_layer::Layer::layer(&layer, ReqwestService::new(http)));
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    let session = ().serve(transport).await?;
    let tools = session.list_all_tools().await?;
    let names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    println!("tools: {}", names.join(", "));
    if let Some(tool) = tool {
        let mut params = CallToolRequestParams::new(tool);
        if let serde_json::Value::Object(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        let result = session.call_tool(params).await?;
        println!("{}", serde_json::to_string(&result.content)?);
    }
    session.cancel().await?;
    Ok(())
}
