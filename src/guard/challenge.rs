//! Rendering a [`Challenge`] for the wire: the `WWW-Authenticate` fields of RFC 6750 §3 and
//! RFC 9449 §7.1 (with `algs`) and §9 (`use_dpop_nonce`), the `resource_metadata` parameter
//! of RFC 9728 §5.1, and a JSON-RPC 2.0 error body for MCP clients.
//!
//! What a refusal *means* is decided once, in [`Refusal::challenge`](super::Refusal::challenge);
//! this module only renders that decision together with the resource's configuration.

use bytes::Bytes;
use http::HeaderValue;
use serde::Serialize;

use super::refusal::{Challenge, ErrorCode};
use super::verifier::DpopMode;
use crate::jose::AlgorithmSet;

/// The JSON-RPC error code of an authentication or authorization refusal in
/// [`json_rpc_error_body`], in the implementation-defined server range (-32000 to -32099).
///
/// Drafts of MCP SEP-2243 gave -32001 to `HeaderMismatch`; the 2026-07-28 revision moved that
/// to -32020, so a client on a draft-era SDK may read this code as a header mismatch. The HTTP
/// status and `WWW-Authenticate` stay authoritative either way.
pub const AUTH_ERROR_CODE: i64 = -32001;

/// The resource's configuration that goes into every challenge.
#[derive(Debug, Clone, Copy)]
pub struct ChallengeContext<'a> {
    /// Which schemes are offered: [`DpopMode::Required`] only DPoP, [`DpopMode::Mixed`] DPoP
    /// and Bearer, [`DpopMode::BearerOnly`] only Bearer (RFC 9449 §7.2).
    pub mode: DpopMode,
    /// The proof algorithms accepted, sent as the DPoP `algs` parameter (RFC 9449 §7.1).
    pub algs: AlgorithmSet,
    /// The protected resource metadata URL (RFC 9728 §5.1 `resource_metadata`).
    pub resource_metadata: Option<&'a str>,
    /// The space-separated scopes the operation needs (RFC 6750 §3 `scope`); for
    /// `insufficient_scope`, every one of them.
    pub scope: Option<&'a str>,
    /// The protection space (RFC 9110 §11.5 `realm`).
    pub realm: Option<&'a str>,
}

/// The `WWW-Authenticate` field values for a challenge: one per scheme offered, DPoP first.
///
/// Rules, each from the spec it cites:
/// - without credentials (`challenge.error` is `None`) there is no `error` or
///   `error_description` (RFC 6750 §3.1), but `realm`, `scope`, `resource_metadata` and
///   `algs` still tell the client how to authenticate;
/// - `invalid_dpop_proof` and `use_dpop_nonce` are about the DPoP scheme (RFC 9449 §7.1,
///   §9), so only the DPoP challenge carries them; other codes go in every challenge,
///   because the renderer does not know which scheme the client tried;
/// - only 400, 401 and 403 are challenges (RFC 6750 §3.1); any other status (503 when a
///   dependency is down) gets no field, since a bare challenge would read as "authenticate".
///
/// Each value is a quoted-string (RFC 9110 §5.6.4) with `"` and `\` escaped. A parameter
/// whose value holds anything but printable ASCII is left out rather than sent broken.
///
/// ```
/// use mcp_warden::guard::{ChallengeContext, DpopMode, RequestError, Refusal, www_authenticate};
/// use mcp_warden::jose::{Algorithm, AlgorithmSet};
///
/// let challenge = Refusal::from(RequestError::NoCredentials).challenge();
/// let context = ChallengeContext {
///     mode: DpopMode::Required,
///     algs: AlgorithmSet::EMPTY.with(Algorithm::ES256),
///     resource_metadata: Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp"),
///     scope: None,
///     realm: None,
/// };
/// let fields = www_authenticate(&challenge, &context);
/// assert_eq!(
///     fields[0],
///     r#"DPoP resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", algs="ES256""#
/// );
/// ```
pub fn www_authenticate(challenge: &Challenge, context: &ChallengeContext<'_>) -> Vec<HeaderValue> {
    if !matches!(challenge.status, 400 | 401 | 403) {
        return Vec::new();
    }
    let (dpop, bearer) = match context.mode {
        DpopMode::Required => (true, false),
        DpopMode::Mixed => (true, true),
        DpopMode::BearerOnly => (false, true),
    };
    let dpop_only_error = matches!(
        challenge.error,
        Some(ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce)
    );
    let algs = context
        .algs
        .iter()
        .map(|alg| alg.name())
        .collect::<Vec<_>>()
        .join(" ");
    let mut fields = Vec::with_capacity(2);
    if dpop {
        let algs = (!algs.is_empty()).then_some(algs.as_str());
        fields.extend(render("DPoP", challenge, context, true, algs));
    }
    if bearer {
        fields.extend(render("Bearer", challenge, context, !dpop_only_error, None));
    }
    fields
}

/// One challenge: `scheme [auth-param *( ", " auth-param )]` (RFC 9110 §11.3).
fn render(
    scheme: &'static str,
    challenge: &Challenge,
    context: &ChallengeContext<'_>,
    with_error: bool,
    algs: Option<&str>,
) -> Option<HeaderValue> {
    let error = challenge.error.filter(|_| with_error);
    let params = [
        ("realm", context.realm),
        ("error", error.map(ErrorCode::as_str)),
        ("error_description", error.map(|_| challenge.description)),
        ("scope", context.scope),
        ("resource_metadata", context.resource_metadata),
        ("algs", algs),
    ];
    let mut field = String::from(scheme);
    let mut first = true;
    for (name, value) in params {
        let Some(quoted) = value.and_then(quoted_string) else {
            continue;
        };
        field.push_str(if first { " " } else { ", " });
        first = false;
        field.push_str(name);
        field.push('=');
        field.push_str(&quoted);
    }
    // Cannot fail: the scheme and names are fixed tokens and every value was checked to be
    // printable ASCII; `.ok()` keeps even a broken invariant from panicking.
    HeaderValue::from_str(&field).ok()
}

/// `value` as a quoted-string (RFC 9110 §5.6.4), or `None` if it holds a byte outside
/// printable ASCII: CTLs cannot be quoted, and RFC 6750 §3 limits `error_description` and
/// `scope` to printable ASCII. RFC 6750 §3 also excludes `"` and `\` from those values;
/// escaping them instead keeps a field parseable whatever the configuration says.
fn quoted_string(value: &str) -> Option<String> {
    if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return None;
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    Some(quoted)
}

#[derive(Serialize)]
struct Envelope<'a> {
    jsonrpc: &'static str,
    id: Option<&'a serde_json::Value>,
    error: ErrorObject,
}

#[derive(Serialize)]
struct ErrorObject {
    code: i64,
    message: &'static str,
    data: ErrorData,
}

#[derive(Serialize)]
struct ErrorData {
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

/// A JSON-RPC 2.0 error response for MCP clients, for the body of a refusal:
/// `{"jsonrpc":"2.0","id":<id or null>,"error":{"code":-32001,"message":<description>,
/// "data":{"status":<status>,"error":<code>}}}`.
///
/// `id` is the request's id when the body was read (JSON-RPC 2.0 §5: `null` when it could
/// not be determined). `data.error` is left out when the challenge has no error code. The
/// message is the fixed description of the refusal table, never request content.
///
/// ```
/// use mcp_warden::guard::{json_rpc_error_body, RequestError, Refusal};
///
/// let challenge = Refusal::from(RequestError::NoCredentials).challenge();
/// let body = json_rpc_error_body(&challenge, Some(&serde_json::json!(7)));
/// assert_eq!(
///     &body[..],
///     br#"{"jsonrpc":"2.0","id":7,"error":{"code":-32001,"message":"authentication required","data":{"status":401}}}"#
/// );
/// ```
pub fn json_rpc_error_body(challenge: &Challenge, id: Option<&serde_json::Value>) -> Bytes {
    let envelope = Envelope {
        jsonrpc: "2.0",
        id,
        error: ErrorObject {
            code: challenge.json_rpc_code,
            message: challenge.description,
            data: ErrorData {
                status: challenge.status,
                error: challenge.error.map(ErrorCode::as_str),
            },
        },
    };
    // Serializing these types cannot fail (string keys only); the fallback keeps the
    // response well-formed JSON-RPC even so.
    serde_json::to_vec(&envelope)
        .map(Bytes::from)
        .unwrap_or_else(|_| {
            Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"unauthorized"}}"#,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::Algorithm;

    const META: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

    fn context(mode: DpopMode) -> ChallengeContext<'static> {
        ChallengeContext {
            mode,
            algs: AlgorithmSet::EMPTY
                .with(Algorithm::ES256)
                .with(Algorithm::EdDSA),
            resource_metadata: Some(META),
            scope: None,
            realm: None,
        }
    }

    fn code(status: u16, error: Option<ErrorCode>, description: &'static str) -> Challenge {
        Challenge {
            status,
            error,
            description,
            json_rpc_code: AUTH_ERROR_CODE,
        }
    }

    fn rendered(challenge: &Challenge, context: &ChallengeContext<'_>) -> Vec<String> {
        www_authenticate(challenge, context)
            .iter()
            .map(|value| value.to_str().unwrap().to_owned())
            .collect()
    }

    const NONE: Challenge = Challenge {
        status: 401,
        error: None,
        description: "authentication required",
        json_rpc_code: AUTH_ERROR_CODE,
    };

    // RFC 6750 §3.1: no error code when the request had no credentials.
    #[test]
    fn no_credentials_in_each_mode() {
        let ctx = ChallengeContext {
            realm: Some("mcp"),
            scope: Some("mcp"),
            ..context(DpopMode::Required)
        };
        let dpop = format!(
            r#"DPoP realm="mcp", scope="mcp", resource_metadata="{META}", algs="ES256 EdDSA""#
        );
        let bearer = format!(r#"Bearer realm="mcp", scope="mcp", resource_metadata="{META}""#);
        assert_eq!(rendered(&NONE, &ctx), std::slice::from_ref(&dpop));
        let mixed = ChallengeContext {
            mode: DpopMode::Mixed,
            ..ctx
        };
        assert_eq!(rendered(&NONE, &mixed), [dpop, bearer.clone()]);
        let bearer_only = ChallengeContext {
            mode: DpopMode::BearerOnly,
            ..ctx
        };
        assert_eq!(rendered(&NONE, &bearer_only), [bearer]);
    }

    #[test]
    fn bare_scheme_without_any_parameter() {
        let ctx = ChallengeContext {
            mode: DpopMode::Mixed,
            algs: AlgorithmSet::EMPTY,
            resource_metadata: None,
            scope: None,
            realm: None,
        };
        assert_eq!(rendered(&NONE, &ctx), ["DPoP", "Bearer"]);
    }

    // RFC 9449 §7.1.
    #[test]
    fn invalid_dpop_proof_with_algs_and_resource_metadata() {
        let challenge = code(401, Some(ErrorCode::InvalidDpopProof), "invalid DPoP proof");
        assert_eq!(
            rendered(&challenge, &context(DpopMode::Required)),
            [format!(
                r#"DPoP error="invalid_dpop_proof", error_description="invalid DPoP proof", resource_metadata="{META}", algs="ES256 EdDSA""#
            )]
        );
    }

    // RFC 9449 §9: the nonce error belongs to the DPoP challenge only.
    #[test]
    fn use_dpop_nonce_only_in_the_dpop_challenge() {
        let challenge = code(
            401,
            Some(ErrorCode::UseDpopNonce),
            "resource server requires nonce in DPoP proof",
        );
        let ctx = ChallengeContext {
            resource_metadata: None,
            ..context(DpopMode::Mixed)
        };
        assert_eq!(
            rendered(&challenge, &ctx),
            [
                r#"DPoP error="use_dpop_nonce", error_description="resource server requires nonce in DPoP proof", algs="ES256 EdDSA""#,
                "Bearer",
            ]
        );
    }

    // RFC 6750 §3.1: insufficient_scope names the scope the resource needs.
    #[test]
    fn insufficient_scope_with_scope() {
        let challenge = code(
            403,
            Some(ErrorCode::InsufficientScope),
            "insufficient scope",
        );
        let ctx = ChallengeContext {
            scope: Some("mcp tools:weather"),
            algs: AlgorithmSet::EMPTY,
            ..context(DpopMode::Required)
        };
        assert_eq!(
            rendered(&challenge, &ctx),
            [format!(
                r#"DPoP error="insufficient_scope", error_description="insufficient scope", scope="mcp tools:weather", resource_metadata="{META}""#
            )]
        );
    }

    #[test]
    fn mixed_mode_gives_two_values_with_the_error_in_both() {
        let challenge = code(401, Some(ErrorCode::InvalidToken), "access token expired");
        let ctx = ChallengeContext {
            realm: Some("mcp"),
            resource_metadata: None,
            ..context(DpopMode::Mixed)
        };
        assert_eq!(
            rendered(&challenge, &ctx),
            [
                r#"DPoP realm="mcp", error="invalid_token", error_description="access token expired", algs="ES256 EdDSA""#,
                r#"Bearer realm="mcp", error="invalid_token", error_description="access token expired""#,
            ]
        );
    }

    // RFC 9110 §5.6.4: `"` and `\` are escaped as quoted-pairs.
    #[test]
    fn description_with_a_quote_is_escaped() {
        let challenge = code(
            401,
            Some(ErrorCode::InvalidToken),
            r#"the "aud" is \ wrong"#,
        );
        let ctx = ChallengeContext {
            mode: DpopMode::BearerOnly,
            resource_metadata: None,
            ..context(DpopMode::BearerOnly)
        };
        assert_eq!(
            rendered(&challenge, &ctx),
            [r#"Bearer error="invalid_token", error_description="the \"aud\" is \\ wrong""#]
        );
    }

    #[test]
    fn a_value_that_cannot_be_a_header_value_is_dropped() {
        let ctx = ChallengeContext {
            realm: Some("line\r\nInjected: yes"),
            scope: Some("caf\u{e9}"),
            resource_metadata: Some("https://h/\x00"),
            ..context(DpopMode::BearerOnly)
        };
        assert_eq!(rendered(&NONE, &ctx), ["Bearer"]);
    }

    #[test]
    fn no_challenge_for_unavailable() {
        let challenge = code(503, None, "replay protection temporarily unavailable");
        assert!(rendered(&challenge, &context(DpopMode::Mixed)).is_empty());
    }

    #[test]
    fn json_rpc_body() {
        let challenge = code(
            401,
            Some(ErrorCode::InvalidDpopProof),
            "DPoP proof replayed",
        );
        let body = json_rpc_error_body(&challenge, Some(&serde_json::json!("req-1")));
        assert_eq!(
            &body[..],
            br#"{"jsonrpc":"2.0","id":"req-1","error":{"code":-32001,"message":"DPoP proof replayed","data":{"status":401,"error":"invalid_dpop_proof"}}}"#
        );
        let body = json_rpc_error_body(&NONE, None);
        assert_eq!(
            &body[..],
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32001,"message":"authentication required","data":{"status":401}}}"#
        );
    }
}
