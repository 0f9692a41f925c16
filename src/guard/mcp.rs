//! Which MCP operation a request is: the JSON-RPC 2.0 messages of a Streamable HTTP POST
//! (MCP basic/transports), and the `Mcp-Method` / `Mcp-Name` headers that must agree with
//! them (MCP 2026-07-28, SEP-2243).
//!
//! The guard authorizes on what it reads here while the MCP server executes what *it*
//! reads, so the two must not be able to disagree. JSON lets a member appear twice, and
//! parsers differ in which copy they keep; a repeated `jsonrpc`, `method`, `id`, `params`,
//! `result`, `error`, `params.name` or `params.uri` is therefore refused. Other members are
//! skipped by serde_json's iterative skipper (syntax-checked, and no depth of nesting there
//! can exhaust the stack); the members read are limited to serde_json's depth of 128. The
//! caller bounds the body size.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use http::HeaderMap;
use http::header::HeaderName;
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::error::Category;

/// The JSON-RPC code MCP 2026-07-28 assigns to `HeaderMismatch` (answered with HTTP 400),
/// for refusing a [`McpError`] from [`check_headers`].
pub const HEADER_MISMATCH_CODE: i64 = -32020;

static MCP_METHOD: HeaderName = HeaderName::from_static("mcp-method");
static MCP_NAME: HeaderName = HeaderName::from_static("mcp-name");

/// One JSON-RPC request or notification from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpOperation {
    /// The JSON-RPC `method`, such as `tools/call`.
    pub method: String,
    /// What the method addresses: `params.name` for `tools/call` and `prompts/get`,
    /// `params.uri` for `resources/read`, `resources/subscribe` and `resources/unsubscribe`;
    /// `None` for other methods or when absent.
    pub name: Option<String>,
    /// The request `id`; `None` for a notification.
    pub id: Option<Value>,
}

/// Why a body or its headers were refused. Messages never include request content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum McpError {
    /// Not valid JSON (RFC 8259), nested too deeply, or trailing data.
    #[error("body is not valid JSON")]
    NotJson,
    /// Valid JSON, but not a JSON-RPC 2.0 message or batch (JSON-RPC 2.0 §4, §5, §6).
    #[error("body is not a JSON-RPC 2.0 message")]
    NotJsonRpc,
    /// `method` is not a string (JSON-RPC 2.0 §4).
    #[error("method is not a string")]
    MethodNotString,
    /// `params.name` or `params.uri` is not a string where the method addresses one.
    #[error("params.name or params.uri is not a string")]
    NameNotString,
    /// A member the guard reads appears twice in one object.
    #[error("duplicate JSON-RPC member")]
    DuplicateMember,
    /// An empty batch array (JSON-RPC 2.0 §6).
    #[error("empty batch")]
    EmptyBatch,
    /// A header appears more than once, is not visible ASCII, or is badly encoded.
    #[error("invalid {header} header")]
    HeaderInvalid {
        /// The header's name.
        header: &'static str,
    },
    /// A header disagrees with the body.
    #[error("{header} header does not match the body")]
    HeaderMismatch {
        /// The header's name.
        header: &'static str,
    },
    /// A header was sent with a batch of several operations, which it cannot describe.
    #[error("{header} header sent with a batch")]
    HeaderWithBatch {
        /// The header's name.
        header: &'static str,
    },
}

/// Parses a POST body into the operations it carries: one JSON-RPC request or notification,
/// or (revisions before 2025-06-18) a batch array of them. A client's response (`result` or
/// `error` and no `method`) yields no operation.
///
/// ```
/// use mcp_warden::guard::operations;
///
/// let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather","arguments":{}}}"#;
/// let ops = operations(body)?;
/// assert_eq!(ops[0].method, "tools/call");
/// assert_eq!(ops[0].name.as_deref(), Some("weather"));
/// # Ok::<(), mcp_warden::guard::McpError>(())
/// ```
pub fn operations(body: &[u8]) -> Result<Vec<McpOperation>, McpError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let body = Body::deserialize(&mut deserializer)
        .and_then(|body| deserializer.end().map(|()| body))
        .map_err(|error| match error.classify() {
            // Every member type above accepts any JSON, so the one data error left is a
            // repeated member.
            Category::Data => McpError::DuplicateMember,
            Category::Io | Category::Syntax | Category::Eof => McpError::NotJson,
        })?;
    match body {
        Shape::Object(message) => Ok(operation(message)?.into_iter().collect()),
        Shape::Array(messages) if messages.is_empty() => Err(McpError::EmptyBatch),
        Shape::Array(messages) => messages
            .into_iter()
            .filter_map(|message| match message {
                Shape::Object(message) => operation(message).transpose(),
                Shape::Array(_) | Shape::Other => Some(Err(McpError::NotJsonRpc)),
            })
            .collect(),
        Shape::Other => Err(McpError::NotJsonRpc),
    }
}

/// Checks the `Mcp-Method` and `Mcp-Name` request headers (MCP 2026-07-28) against the
/// body's operations: each header that is present must equal the body's `method` and
/// name, `Mcp-Name` after undoing its `=?base64?…?=` encoding. A header with a batch of
/// several operations is refused, as is one with no operation at all; a one-element batch
/// is its single message, so there is nothing for header and body to disagree about.
///
/// An absent header is not a disagreement: clients of earlier revisions send none, and
/// requiring them by protocol version is the MCP server's concern.
///
/// ```
/// use http::{HeaderMap, HeaderValue};
/// use mcp_warden::guard::{check_headers, operations, McpError};
///
/// let ops = operations(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"weather"}}"#)?;
/// let mut headers = HeaderMap::new();
/// headers.insert("mcp-method", HeaderValue::from_static("tools/call"));
/// headers.insert("mcp-name", HeaderValue::from_static("admin"));
/// assert_eq!(check_headers(&headers, &ops), Err(McpError::HeaderMismatch { header: "Mcp-Name" }));
/// # Ok::<(), McpError>(())
/// ```
pub fn check_headers(headers: &HeaderMap, operations: &[McpOperation]) -> Result<(), McpError> {
    let method = single(headers, &MCP_METHOD, "Mcp-Method")?;
    let name = single(headers, &MCP_NAME, "Mcp-Name")?;
    let header = match (method, name) {
        (None, None) => return Ok(()),
        (Some(_), _) => "Mcp-Method",
        (None, Some(_)) => "Mcp-Name",
    };
    let operation = match operations {
        [operation] => operation,
        [] => return Err(McpError::HeaderMismatch { header }),
        _ => return Err(McpError::HeaderWithBatch { header }),
    };
    if method.is_some_and(|method| method != operation.method) {
        return Err(McpError::HeaderMismatch {
            header: "Mcp-Method",
        });
    }
    if let Some(name) = name
        && operation.name.as_deref() != Some(&*decode_name(name)?)
    {
        return Err(McpError::HeaderMismatch { header: "Mcp-Name" });
    }
    Ok(())
}

/// The one value of `name`, if present; more than one field, or a value that is not visible
/// ASCII, is refused.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    header: &'static str,
) -> Result<Option<&'a str>, McpError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(McpError::HeaderInvalid { header });
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| McpError::HeaderInvalid { header })
}

/// Undoes the value encoding of MCP 2026-07-28: a value that is not plain ASCII travels as
/// `=?base64?<standard base64 of the UTF-8>?=`, and anything wearing those markers is
/// encoded (clients encode a literal lookalike too), so decoding is unambiguous.
fn decode_name(value: &str) -> Result<Cow<'_, str>, McpError> {
    const BASE64: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let invalid = McpError::HeaderInvalid { header: "Mcp-Name" };
    let Some(encoded) = value
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    else {
        return Ok(Cow::Borrowed(value));
    };
    let bytes = BASE64.decode(encoded).map_err(|_| invalid)?;
    String::from_utf8(bytes)
        .map(Cow::Owned)
        .map_err(|_| invalid)
}

/// The operation of one message, or `None` for a response.
fn operation(message: RawMessage) -> Result<Option<McpOperation>, McpError> {
    // JSON-RPC 2.0 §4: "MUST be exactly "2.0"".
    if message.jsonrpc.as_ref().and_then(Value::as_str) != Some("2.0") {
        return Err(McpError::NotJsonRpc);
    }
    // JSON-RPC 2.0 §4: an id is a string, a number or null.
    if message
        .id
        .as_ref()
        .is_some_and(|id| !(id.is_string() || id.is_number() || id.is_null()))
    {
        return Err(McpError::NotJsonRpc);
    }
    let response = message.result.is_some() || message.error.is_some();
    let method = match (message.method, response) {
        // JSON-RPC 2.0 §5: a response has `result` or `error`, and always an `id`.
        (None, true) if message.id.is_some() => return Ok(None),
        (None, _) | (Some(_), true) => return Err(McpError::NotJsonRpc),
        (Some(Value::String(method)), false) => method,
        (Some(_), false) => return Err(McpError::MethodNotString),
    };
    let params = match message.params {
        None | Some(Shape::Array(_)) => Params::default(),
        Some(Shape::Object(params)) => params,
        // JSON-RPC 2.0 §4.2: params, when present, is an object or an array.
        Some(Shape::Other) => return Err(McpError::NotJsonRpc),
    };
    let addressed = match method.as_str() {
        "tools/call" | "prompts/get" => params.name,
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => params.uri,
        _ => None,
    };
    let name = match addressed {
        None => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err(McpError::NameNotString),
    };
    Ok(Some(McpOperation {
        method,
        name,
        id: message.id,
    }))
}

// The members the guard reads. serde's derive refuses a repeated field ("duplicate field"),
// which is what refuses duplicates here; unknown members are skipped unread. `present`
// keeps an explicit `null` apart from an absent member (`"id": null` is not a notification).

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default, deserialize_with = "present")]
    jsonrpc: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    method: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    // `"params": null` reads as absent, as the MCP SDKs read it: refusing what the server
    // accepts would only break clients, and without a name the method-level rule applies.
    #[serde(default)]
    params: Option<Shape<Params, IgnoredAny>>,
    #[serde(default, deserialize_with = "present")]
    result: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    error: Option<IgnoredAny>,
}

#[derive(Deserialize, Default)]
struct Params {
    #[serde(default, deserialize_with = "present")]
    name: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    uri: Option<Value>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    value: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(value).map(Some)
}

/// A JSON value by shape: an object read as `T`, an array of `E`, or anything else skipped.
/// (Deriving `T` from an array would read struct fields by position, so arrays are kept
/// apart here.)
enum Shape<T, E> {
    Object(T),
    Array(Vec<E>),
    Other,
}

/// A body: one message or a batch whose elements should be messages.
type Body = Shape<RawMessage, Shape<RawMessage, IgnoredAny>>;

impl<'de, T: Deserialize<'de>, E: Deserialize<'de>> Deserialize<'de> for Shape<T, E> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor(PhantomData))
    }
}

struct ShapeVisitor<T, E>(PhantomData<(T, E)>);

impl<'de, T: Deserialize<'de>, E: Deserialize<'de>> Visitor<'de> for ShapeVisitor<T, E> {
    type Value = Shape<T, E>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Shape::Object)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Shape::Array(items))
    }
    fn visit_bool<X: de::Error>(self, _: bool) -> Result<Self::Value, X> {
        Ok(Shape::Other)
    }
    fn visit_i64<X: de::Error>(self, _: i64) -> Result<Self::Value, X> {
        Ok(Shape::Other)
    }
    fn visit_u64<X: de::Error>(self, _: u64) -> Result<Self::Value, X> {
        Ok(Shape::Other)
    }
    fn visit_f64<X: de::Error>(self, _: f64) -> Result<Self::Value, X> {
        Ok(Shape::Other)
    }
    fn visit_str<X: de::Error>(self, _: &str) -> Result<Self::Value, X> {
        Ok(Shape::Other)
    }
    fn visit_unit<X: de::Error>(self) -> Result<Self::Value, X> {
        Ok(Shape::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn op(method: &str, name: Option<&str>, id: Option<Value>) -> McpOperation {
        McpOperation {
            method: method.into(),
            name: name.map(Into::into),
            id,
        }
    }

    fn one(body: &str) -> McpOperation {
        let mut ops = operations(body.as_bytes()).unwrap();
        assert_eq!(ops.len(), 1, "{body}");
        ops.remove(0)
    }

    #[test]
    fn real_message_shapes() {
        let initialize = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"agent","version":"1.0"}}}"#;
        assert_eq!(one(initialize), op("initialize", None, Some(json!(0))));
        let list = r#"{"jsonrpc":"2.0","id":"a1","method":"tools/list","params":{"cursor":"x"}}"#;
        assert_eq!(one(list), op("tools/list", None, Some(json!("a1"))));
        let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"weather","arguments":{"city":"Oslo","nested":[{"name":7}]},"_meta":{"progressToken":1}}}"#;
        assert_eq!(one(call), op("tools/call", Some("weather"), Some(json!(2))));
        let read = r#"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///etc/hosts","name":"ignored"}}"#;
        assert_eq!(
            one(read),
            op("resources/read", Some("file:///etc/hosts"), Some(json!(3)))
        );
        let prompt = r#"{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"review","arguments":{"code":"x"}}}"#;
        assert_eq!(
            one(prompt),
            op("prompts/get", Some("review"), Some(json!(4)))
        );
        let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        assert_eq!(
            one(initialized),
            op("notifications/initialized", None, None)
        );
        // An escaped member name is the same member.
        let escaped = r#"{"jsonrpc":"2.0","id":5,"m\u0065thod":"tools/call","params":{"n\u0061me":"weather"}}"#;
        assert_eq!(
            one(escaped),
            op("tools/call", Some("weather"), Some(json!(5)))
        );
    }

    #[test]
    fn batch_and_client_responses() {
        let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},
                        {"jsonrpc":"2.0","id":9,"result":{}},
                        {"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}]"#;
        assert_eq!(
            operations(batch.as_bytes()).unwrap(),
            [
                op("tools/call", Some("a"), Some(json!(1))),
                op("notifications/cancelled", None, None)
            ]
        );
        let response = br#"{"jsonrpc":"2.0","id":"s-1","result":{"roots":[]}}"#;
        assert_eq!(operations(response).unwrap(), []);
        let error = br#"{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"no"}}"#;
        assert_eq!(operations(error).unwrap(), []);
    }

    #[test]
    fn malformed_bodies() {
        use McpError::*;
        let request = |rest: &str| format!(r#"{{"jsonrpc":"2.0","id":1,{rest}"#);
        for (body, expected) in [
            (r#"{"jsonrpc":"2.0","method":"#.to_owned(), NotJson),
            (request(r#""method":"x"} {}"#), NotJson),
            (String::new(), NotJson),
            (r#""tools/call""#.to_owned(), NotJsonRpc),
            ("[]".to_owned(), EmptyBatch),
            ("[1]".to_owned(), NotJsonRpc),
            (r#"{"method":"tools/list","id":1}"#.to_owned(), NotJsonRpc),
            (
                r#"{"jsonrpc":"1.0","method":"x","id":1}"#.to_owned(),
                NotJsonRpc,
            ),
            (r#"{"jsonrpc":"2.0","id":1}"#.to_owned(), NotJsonRpc),
            (request(r#""id":2}"#), DuplicateMember),
            (r#"{"jsonrpc":"2.0","result":{}}"#.to_owned(), NotJsonRpc),
            (request(r#""method":"x","result":{}}"#), NotJsonRpc),
            (
                r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#.to_owned(),
                NotJsonRpc,
            ),
            (request(r#""method":"x","params":"p"}"#), NotJsonRpc),
            (request(r#""method":42}"#), MethodNotString),
            (request(r#""method":null}"#), MethodNotString),
            (
                request(r#""method":"tools/call","params":{"name":["a"]}}"#),
                NameNotString,
            ),
            (
                request(r#""method":"resources/read","params":{"uri":1}}"#),
                NameNotString,
            ),
            (
                request(r#""method":"a","method":"tools/call"}"#),
                DuplicateMember,
            ),
            (
                request(r#""method":"tools/call","params":{"name":"a","name":"b"}}"#),
                DuplicateMember,
            ),
        ] {
            assert_eq!(operations(body.as_bytes()), Err(expected), "{body}");
        }
        // Deep nesting where nothing is read is skipped without recursion.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(operations(deep.as_bytes()), Err(NotJsonRpc));
        let arguments = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"t","arguments":{}1{}}}}}"#,
            r#"{"a":["#.repeat(50_000),
            "]}".repeat(50_000)
        );
        assert_eq!(
            operations(arguments.as_bytes()).unwrap()[0].name.as_deref(),
            Some("t")
        );
    }

    fn headers(method: Option<&str>, name: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(method) = method {
            headers.insert("mcp-method", HeaderValue::from_str(method).unwrap());
        }
        if let Some(name) = name {
            headers.insert("mcp-name", HeaderValue::from_str(name).unwrap());
        }
        headers
    }

    #[test]
    fn headers_agree_or_are_absent() {
        let call = [op("tools/call", Some("wëather"), Some(json!(1)))];
        assert_eq!(check_headers(&headers(None, None), &call), Ok(()));
        assert_eq!(
            check_headers(&headers(Some("tools/call"), None), &call),
            Ok(())
        );
        // "wëather" in the base64 form of MCP 2026-07-28.
        let encoded = headers(Some("tools/call"), Some("=?base64?d8OrYXRoZXI=?="));
        assert_eq!(check_headers(&encoded, &call), Ok(()));
        let list = [op("tools/list", None, Some(json!(2)))];
        assert_eq!(
            check_headers(&headers(Some("tools/list"), None), &list),
            Ok(())
        );
    }

    #[test]
    fn headers_disagree() {
        let call = [op("tools/call", Some("weather"), Some(json!(1)))];
        let mismatch = |header| Err(McpError::HeaderMismatch { header });
        assert_eq!(
            check_headers(&headers(Some("tools/list"), None), &call),
            mismatch("Mcp-Method")
        );
        assert_eq!(
            check_headers(&headers(Some("Tools/Call"), None), &call),
            mismatch("Mcp-Method")
        );
        assert_eq!(
            check_headers(&headers(None, Some("admin")), &call),
            mismatch("Mcp-Name")
        );
        let list = [op("tools/list", None, Some(json!(2)))];
        assert_eq!(
            check_headers(&headers(None, Some("weather")), &list),
            mismatch("Mcp-Name")
        );
        assert_eq!(
            check_headers(&headers(Some("tools/call"), None), &[]),
            mismatch("Mcp-Method")
        );
        let batch = [call[0].clone(), list[0].clone()];
        assert_eq!(
            check_headers(&headers(Some("tools/call"), None), &batch),
            Err(McpError::HeaderWithBatch {
                header: "Mcp-Method"
            })
        );
        let invalid = Err(McpError::HeaderInvalid { header: "Mcp-Name" });
        assert_eq!(
            check_headers(&headers(None, Some("=?base64?!!?=")), &call),
            invalid
        );
        let mut twice = headers(Some("tools/call"), None);
        twice.append("mcp-method", HeaderValue::from_static("tools/call"));
        assert_eq!(
            check_headers(&twice, &call),
            Err(McpError::HeaderInvalid {
                header: "Mcp-Method"
            })
        );
    }
}
