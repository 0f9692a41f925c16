//! A small MCP client over Streamable HTTP (MCP 2025-11-25, "Transports"): `initialize`,
//! the `initialized` notification, `tools/list` and `tools/call`, over any tower service
//! taking `http::Request<Bytes>` — in practice [`ReqwestService`](super::ReqwestService)
//! wrapped in [`DpopClientLayer`](super::DpopClientLayer), which adds the credentials. It is
//! what `mcp-warden call` uses to try a server end to end.
//!
//! Answers come as JSON or as an SSE stream of JSON-RPC messages; both are read, bounded
//! ([`MAX_ANSWER_BYTES`]), until the response to the request's `id`.

use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower_service::Service;

/// The protocol version asked for in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
/// The most bytes read of one answer.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why an MCP exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// The request could not be sent or its answer read.
    #[error("{0}")]
    Transport(BoxError),
    /// The server answered with an HTTP error (its `WWW-Authenticate`, if any, says why).
    #[error("the server answered {status}{}", .challenge.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        /// The status.
        status: u16,
        /// `WWW-Authenticate`, cut short.
        challenge: Option<String>,
    },
    /// The server answered with a JSON-RPC error.
    #[error("{method}: JSON-RPC error {code}: {message}")]
    JsonRpc {
        /// The method called.
        method: String,
        /// `error.code`.
        code: i64,
        /// `error.message`, cut short.
        message: String,
    },
    /// The answer is not what MCP says it is.
    #[error("{0}")]
    Malformed(String),
}

/// One MCP session with a server.
pub struct McpSession<S> {
    service: S,
    url: http::Uri,
    session_id: Option<HeaderValue>,
    protocol_version: Option<HeaderValue>,
    next_id: u64,
}

impl<S> std::fmt::Debug for McpSession<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSession")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl<S, B> McpSession<S>
where
    S: Service<Request<Bytes>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    /// A session with the server at `url` (not yet initialized).
    pub fn new(service: S, url: http::Uri) -> Self {
        McpSession {
            service,
            url,
            session_id: None,
            protocol_version: None,
            next_id: 1,
        }
    }

    /// `initialize`, then the `notifications/initialized` notification; the server's
    /// `InitializeResult`.
    pub async fn initialize(&mut self, client_name: &str) -> Result<Value, McpError> {
        let result = self
            .request(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": client_name, "version": env!("CARGO_PKG_VERSION")},
                }),
            )
            .await?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                McpError::Malformed("initialize result has no protocolVersion".into())
            })?;
        self.protocol_version = HeaderValue::from_str(version).ok();
        self.notify("notifications/initialized").await?;
        Ok(result)
    }

    /// `tools/list`: the tools.
    pub async fn list_tools(&mut self) -> Result<Vec<Value>, McpError> {
        let result = self.request("tools/list", json!({})).await?;
        match result.get("tools") {
            Some(Value::Array(tools)) => Ok(tools.clone()),
            _ => Err(McpError::Malformed("tools/list result has no tools".into())),
        }
    }

    /// `tools/call` of `name` with `arguments`: the `CallToolResult`.
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Result<Value, McpError> {
        self.request("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    async fn notify(&mut self, method: &str) -> Result<(), McpError> {
        let body = json!({"jsonrpc": "2.0", "method": method});
        let response = self.send(&body).await?;
        let status = response.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(status_error(&response));
        }
        Ok(())
    }

    async fn request(&mut self, method: &str, params: Value) -> Result<Value, McpError> {
        let id = self.next_id;
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self.send(&body).await?;
        if !response.status().is_success() {
            return Err(status_error(&response));
        }
        if self.session_id.is_none() {
            self.session_id = response.headers().get("mcp-session-id").cloned();
        }
        let event_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        let message = if event_stream {
            read_sse_answer(response.into_body(), id).await?
        } else {
            let bytes = read_capped(response.into_body()).await?;
            serde_json::from_slice(&bytes)
                .map_err(|_| McpError::Malformed(format!("{method}: the answer is not JSON")))?
        };
        answer(method, id, message)
    }

    async fn send(&mut self, body: &Value) -> Result<Response<B>, McpError> {
        let mut request = Request::post(self.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json, text/event-stream");
        if let Some(session) = &self.session_id {
            request = request.header("mcp-session-id", session.clone());
        }
        if let Some(version) = &self.protocol_version {
            request = request.header("mcp-protocol-version", version.clone());
        }
        let request = request
            .body(Bytes::from(body.to_string()))
            .map_err(|error| McpError::Transport(error.into()))?;
        std::future::poll_fn(|cx| self.service.poll_ready(cx))
            .await
            .map_err(|error| McpError::Transport(error.into()))?;
        self.service
            .call(request)
            .await
            .map_err(|error| McpError::Transport(error.into()))
    }
}

fn status_error<B>(response: &Response<B>) -> McpError {
    let challenge = response
        .headers()
        .get(http::header::WWW_AUTHENTICATE)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.chars().take(300).collect());
    McpError::Status {
        status: response.status().as_u16(),
        challenge,
    }
}

/// The result of the JSON-RPC response `message` to request `id`.
fn answer(method: &str, id: u64, message: Value) -> Result<Value, McpError> {
    if message.get("id").and_then(Value::as_u64) != Some(id) {
        return Err(McpError::Malformed(format!(
            "{method}: the answer is not the response to request {id}"
        )));
    }
    if let Some(error) = message.get("error") {
        return Err(McpError::JsonRpc {
            method: method.to_owned(),
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
        });
    }
    message
        .get("result")
        .cloned()
        .ok_or_else(|| McpError::Malformed(format!("{method}: a response with no result")))
}

async fn read_capped<B>(body: B) -> Result<Bytes, McpError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut bytes = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| McpError::Transport(error.into()))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_ANSWER_BYTES {
                return Err(McpError::Malformed(format!(
                    "the answer is over {MAX_ANSWER_BYTES} bytes"
                )));
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes.freeze())
}

/// Reads SSE events (WHATWG HTML "Server-sent events": `data:` lines joined by `\n`, an
/// empty line ends an event) until a JSON-RPC response with `id`; requests and
/// notifications the server sends meanwhile are skipped.
async fn read_sse_answer<B>(body: B, id: u64) -> Result<Value, McpError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut body = std::pin::pin!(body);
    let mut buffer = BytesMut::new();
    let mut read = 0usize;
    let mut data = String::new();
    loop {
        while let Some(end) = buffer.iter().position(|&b| b == b'\n') {
            let line = buffer.split_to(end + 1);
            let line = std::str::from_utf8(&line)
                .map_err(|_| McpError::Malformed("an SSE line is not UTF-8".into()))?
                .trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !data.is_empty() {
                    let event = std::mem::take(&mut data);
                    if let Ok(message) = serde_json::from_str::<Value>(&event)
                        && message.get("id").and_then(Value::as_u64) == Some(id)
                        && (message.get("result").is_some() || message.get("error").is_some())
                    {
                        return Ok(message);
                    }
                }
            } else if let Some(value) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(value.strip_prefix(' ').unwrap_or(value));
            }
        }
        let Some(frame) = body.frame().await else {
            return Err(McpError::Malformed(
                "the event stream ended before the response".into(),
            ));
        };
        let frame = frame.map_err(|error| McpError::Transport(error.into()))?;
        if let Ok(chunk) = frame.into_data() {
            read += chunk.len();
            if read > MAX_ANSWER_BYTES {
                return Err(McpError::Malformed(format!(
                    "the event stream is over {MAX_ANSWER_BYTES} bytes before the response"
                )));
            }
            buffer.extend_from_slice(&chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::Full;

    use super::*;

    #[tokio::test]
    async fn an_sse_stream_is_read_to_the_response_with_the_id() {
        let stream = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n\
                      : a comment\nevent: message\r\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":7,\"result\":{\"ok\":true}}\r\n\r\n";
        let message = read_sse_answer(Full::new(Bytes::from(stream)), 7)
            .await
            .expect("found");
        assert_eq!(
            answer("m", 7, message).expect("result"),
            json!({"ok": true})
        );
        let error = read_sse_answer(Full::new(Bytes::from("data: {}\n\n")), 7).await;
        assert!(matches!(error, Err(McpError::Malformed(_))));
    }

    #[test]
    fn json_rpc_errors_and_wrong_ids_are_refused() {
        let error = answer(
            "tools/call",
            2,
            json!({"jsonrpc": "2.0", "id": 2, "error": {"code": -32602, "message": "bad"}}),
        );
        assert!(matches!(error, Err(McpError::JsonRpc { code: -32602, .. })));
        assert!(matches!(
            answer("m", 2, json!({"jsonrpc": "2.0", "id": 3, "result": {}})),
            Err(McpError::Malformed(_))
        ));
    }
}
