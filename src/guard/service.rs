//! [`GuardService`]: checks each request, answers refusals, and hands verified requests to
//! the inner service with the [`Principal`] in their extensions.
//!
//! The inner service never fails because of the guard: a refusal is a response, and the
//! [`Refusal`] rides in that response's extensions for logging and metrics.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full, Limited};

use super::challenge::{ChallengeContext, json_rpc_error_body, www_authenticate};
use super::layer::GuardConfig;
use super::mcp::{McpOperation, check_headers, operations};
use super::refusal::{Refusal, RequestError};
use super::verifier::RequestParts;

/// The request body the inner service sees: the original stream, or the bytes the guard
/// read to decide scopes (handed on unchanged).
pub type GuardRequestBody<B> = Either<B, Full<Bytes>>;

/// The response body: the inner service's, or the guard's own (refusals, metadata).
pub type GuardResponseBody<B> = Either<B, Full<Bytes>>;

/// The guard around an inner service; built by [`GuardLayer`](super::GuardLayer).
#[derive(Clone)]
pub struct GuardService<S> {
    inner: S,
    config: Arc<GuardConfig>,
}

impl<S> GuardService<S> {
    pub(crate) fn new(inner: S, config: Arc<GuardConfig>) -> Self {
        GuardService { inner, config }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for GuardService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for GuardService<S>
where
    S: tower_service::Service<Request<GuardRequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Send + 'static,
{
    type Response = Response<GuardResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone is the one that was not polled ready; keep the ready one for this call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let config = self.config.clone();
        Box::pin(guard(config, inner, request))
    }
}

async fn guard<S, ReqBody, ResBody>(
    config: Arc<GuardConfig>,
    mut inner: S,
    request: Request<ReqBody>,
) -> Result<Response<GuardResponseBody<ResBody>>, S::Error>
where
    S: tower_service::Service<Request<GuardRequestBody<ReqBody>>, Response = Response<ResBody>>,
    ReqBody: Body<Data = Bytes>,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut parts, body) = request.into_parts();
    let cors = parts.headers.contains_key(header::ORIGIN);

    // RFC 9728 §3: the metadata is public.
    if (parts.method == Method::GET || parts.method == Method::HEAD)
        && config
            .metadata_paths
            .iter()
            .any(|path| path == parts.uri.path())
    {
        return Ok(metadata_response(&config, cors));
    }

    let now = config.clock.now();
    let uri = config.public_uri.of(&parts);
    let verdict = config
        .verifier
        .verify(
            &RequestParts {
                method: parts.method.as_str(),
                uri: &uri,
                headers: &parts.headers,
            },
            now,
        )
        .await;
    let principal = match verdict {
        Ok(principal) => principal,
        Err(refusal) => return Ok(refuse(&config, refusal, None, &parts, now, cors)),
    };

    // The body is read only when the scope policy depends on the MCP operation, or when the
    // client names the operation in `Mcp-Method`/`Mcp-Name`, which must then agree with
    // the body (MCP 2026-07-28).
    let names_operation =
        parts.headers.contains_key("mcp-method") || parts.headers.contains_key("mcp-name");
    let reads_body =
        parts.method == Method::POST && (config.scopes.needs_body() || names_operation);
    let (body, operations) = if reads_body {
        let bytes = match Limited::new(body, config.max_body_bytes).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                let refusal = if error.is::<http_body_util::LengthLimitError>() {
                    RequestError::BodyTooLarge {
                        max: config.max_body_bytes,
                    }
                } else {
                    RequestError::BodyUnreadable
                };
                return Ok(refuse(&config, refusal.into(), None, &parts, now, cors));
            }
        };
        // The `McpError` rides in the refusal unchanged: one reason label per variant,
        // while the wire answer depends only on body versus header (`Refusal::challenge`).
        let operations = match operations(&bytes) {
            Ok(operations) => operations,
            Err(error) => {
                let refusal = RequestError::Mcp(error).into();
                return Ok(refuse(&config, refusal, None, &parts, now, cors));
            }
        };
        if let Err(error) = check_headers(&parts.headers, &operations) {
            let refusal = RequestError::Mcp(error).into();
            let id = first_id(&operations);
            return Ok(refuse(&config, refusal, id, &parts, now, cors));
        }
        (Either::Right(Full::new(bytes)), operations)
    } else {
        (Either::Left(body), Vec::new())
    };
    let required = required_scopes(&config, &operations);
    if let Err(required) = config.scopes.check(principal.scopes(), &required) {
        let refusal = Refusal::InsufficientScope { required };
        let id = first_id(&operations);
        return Ok(refuse(&config, refusal, id, &parts, now, cors));
    }

    // MCP forbids token passthrough: the upstream never sees the client's credentials.
    if !config.forward_credentials {
        parts.headers.remove(header::AUTHORIZATION);
        parts.headers.remove("dpop");
    }
    tracing::debug!(
        subject = principal.subject().unwrap_or(""),
        jkt = principal.key_thumbprint().map(|t| t.as_str()).unwrap_or(""),
        "request authorized"
    );
    parts.extensions.insert(principal);
    let response = inner.call(Request::from_parts(parts, body)).await?;
    let (mut response_parts, response_body) = response.into_parts();
    // RFC 9449 §8.2: a resource may supply a fresh nonce on any response.
    if let Some(nonces) = &config.nonces
        && let Ok(value) = HeaderValue::from_str(&nonces.issue(now))
    {
        response_parts.headers.insert("dpop-nonce", value);
    }
    if cors {
        expose_headers(&mut response_parts.headers);
    }
    Ok(Response::from_parts(
        response_parts,
        Either::Left(response_body),
    ))
}

fn required_scopes<'a>(config: &'a GuardConfig, operations: &'a [McpOperation]) -> Vec<&'a str> {
    if operations.is_empty() {
        config.scopes.required(None)
    } else {
        config.scopes.required_all(operations)
    }
}

fn first_id(operations: &[McpOperation]) -> Option<&serde_json::Value> {
    operations
        .iter()
        .find_map(|operation| operation.id.as_ref())
}

fn metadata_response<B>(config: &GuardConfig, cors: bool) -> Response<GuardResponseBody<B>> {
    let mut response = Response::new(Either::Right(Full::new(config.metadata_json.clone())));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    if cors {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    response
}

/// Builds the refusal response: status, challenges, nonce, and the error body.
fn refuse<B>(
    config: &GuardConfig,
    refusal: Refusal,
    id: Option<&serde_json::Value>,
    parts: &http::request::Parts,
    now: u64,
    cors: bool,
) -> Response<GuardResponseBody<B>> {
    let challenge = refusal.challenge();
    let scope = match &refusal {
        Refusal::InsufficientScope { required } => Some(required.join(" ")),
        _ => None,
    };
    // Debug: an embedding server's own access log (or the sidecar's audit line) records
    // refusals; this line adds the internal detail for troubleshooting.
    tracing::debug!(
        status = challenge.status,
        error = challenge.error.map(|code| code.as_str()).unwrap_or(""),
        reason = refusal.reason(),
        detail = %refusal,
        method = %parts.method,
        path = parts.uri.path(),
        "request refused"
    );
    let body = if config.json_rpc_errors {
        json_rpc_error_body(&challenge, id)
    } else {
        Bytes::new()
    };
    let mut response = Response::new(Either::Right(Full::new(body)));
    *response.status_mut() =
        StatusCode::from_u16(challenge.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let headers = response.headers_mut();
    let context = ChallengeContext {
        mode: config.mode,
        algs: config.algs,
        resource_metadata: Some(&config.metadata_url),
        scope: scope.as_deref(),
        realm: config.realm.as_deref(),
    };
    for value in www_authenticate(&challenge, &context) {
        headers.append(header::WWW_AUTHENTICATE, value);
    }
    if let Some(nonces) = &config.nonces
        && let Ok(value) = HeaderValue::from_str(&nonces.issue(now))
    {
        headers.insert("dpop-nonce", value);
    }
    let date = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(now));
    if let Ok(value) = HeaderValue::from_str(&date) {
        headers.insert(header::DATE, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if config.json_rpc_errors {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    if challenge.status == 503 {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    if cors {
        expose_headers(headers);
    }
    response.extensions_mut().insert(refusal);
    response
}

/// Browsers hide response headers from scripts unless exposed (Fetch §3.2.5); a
/// browser-based MCP client must read both.
fn expose_headers(headers: &mut http::HeaderMap) {
    headers.append(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("WWW-Authenticate, DPoP-Nonce"),
    );
}
