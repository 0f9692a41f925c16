//! The issuer over HTTP, as a tower `Service`: `POST` to the token endpoint, RFC 8414
//! metadata at `/.well-known/oauth-authorization-server[/path]`, and the JWKS — mountable
//! in any hyper or axum server, and what the sidecar's issuer role serves.
//!
//! Every answer carries `Cache-Control: no-store` where it holds a token or an error
//! (RFC 6749 §5.1, §5.2). Each decision is one audit line (target `mcp_warden::audit`)
//! with the workload, rule, scopes, resource and key thumbprint — never the assertion or
//! the token — and rides in the response extensions ([`IssuerOutcome`]) for metrics.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, PRAGMA};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};

use crate::clock::{Clock, SystemClock};
use crate::oauth::{ErrorCode, ErrorResponse};

use super::endpoint::{IssuanceRecord, Refused, TokenCall, TokenEndpoint};
use super::refusal::IssuerRefusal;
use super::request::RequestError;

/// What the issuer decided for one request, in the response's extensions.
#[derive(Debug, Clone)]
pub enum IssuerOutcome {
    /// A token was issued.
    Issued(Arc<IssuanceRecord>),
    /// The request was refused.
    Refused(Arc<Refused>),
}

/// The issuer's HTTP routes over one [`TokenEndpoint`].
///
/// ```
/// # use mcp_warden::issuer::*;
/// # use mcp_warden::jose::Algorithm;
/// # fn endpoint() -> TokenEndpoint {
/// #     let document: PolicyDocument = serde_json::from_value(serde_json::json!({
/// #         "resources": [{"name": "tools", "uri": "https://mcp.example.com/mcp", "scopes": ["tools:call"]}],
/// #         "rules": [{"name": "r", "issuer": "k8s", "subject": "system:serviceaccount:a:b",
/// #                    "grants": [{"resource": "tools", "scopes": ["tools:call"]}]}],
/// #     })).unwrap();
/// #     let facts = [IssuerFacts { name: "k8s".into(), tenant_claims: vec![] }];
/// #     let policy = Policy::compile(&document, &facts, PolicyLimits::default()).unwrap();
/// #     TokenEndpoint::builder("https://warden.example.com", WorkloadIssuers::default(), policy,
/// #         KeyRing::ephemeral(Algorithm::ES256).unwrap()).build().unwrap()
/// # }
/// let service = IssuerService::new(endpoint());
/// assert_eq!(service.metadata_path(), "/.well-known/oauth-authorization-server");
/// // Mount it: `axum::Router::new().fallback_service(service)`, or serve it with hyper.
/// ```
#[derive(Clone)]
pub struct IssuerService {
    endpoint: TokenEndpoint,
    clock: Arc<dyn Clock>,
    paths: Arc<Paths>,
}

struct Paths {
    token: String,
    jwks: String,
    metadata: String,
    metadata_body: Bytes,
}

impl IssuerService {
    /// Serves `endpoint` with the system clock.
    pub fn new(endpoint: TokenEndpoint) -> Self {
        Self::with_clock(endpoint, Arc::new(SystemClock))
    }

    /// Serves `endpoint` with `clock` (tests pin it).
    pub fn with_clock(endpoint: TokenEndpoint, clock: Arc<dyn Clock>) -> Self {
        let path_of = |url: &str| {
            url::Url::parse(url)
                .map(|url| url.path().to_owned())
                .unwrap_or_else(|_| "/".into())
        };
        // RFC 8414 §3.1: the well-known segment goes between the host and the issuer's
        // path, which is appended without its trailing slash.
        let issuer_path = path_of(endpoint.issuer());
        let issuer_path = issuer_path.trim_end_matches('/');
        let paths = Paths {
            token: path_of(endpoint.token_endpoint()),
            jwks: path_of(endpoint.jwks_uri()),
            metadata: format!("/.well-known/oauth-authorization-server{issuer_path}"),
            metadata_body: Bytes::from(endpoint.metadata().to_string()),
        };
        IssuerService {
            endpoint,
            clock,
            paths: Arc::new(paths),
        }
    }

    /// The metadata document's path.
    pub fn metadata_path(&self) -> &str {
        &self.paths.metadata
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &TokenEndpoint {
        &self.endpoint
    }

    async fn handle<B>(self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = request.uri().path();
        let method = request.method().clone();
        if path == self.paths.token {
            if method != Method::POST {
                return not_allowed("POST");
            }
            return self.token(request).await;
        }
        let get = method == Method::GET || method == Method::HEAD;
        if path == self.paths.metadata {
            if !get {
                return not_allowed("GET, HEAD");
            }
            return document(
                "application/json",
                self.paths.metadata_body.clone(),
                "public, max-age=300",
            );
        }
        if path == self.paths.jwks {
            if !get {
                return not_allowed("GET, HEAD");
            }
            let body = self.endpoint.jwks(self.clock.now()).to_string();
            // Short enough that a new key is picked up soon; resource servers also
            // refetch on an unknown `kid`.
            return document(
                "application/jwk-set+json",
                Bytes::from(body),
                "public, max-age=300",
            );
        }
        status_only(StatusCode::NOT_FOUND)
    }

    async fn token<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes> + Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let now = self.clock.now();
        let max = self.endpoint.limits().max_body_bytes;
        let (parts, body) = request.into_parts();
        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.parse::<u64>().ok());
        let too_large = RequestError::BodyTooLarge { max };
        if declared.is_some_and(|length| length > max as u64) {
            return self.refused(Refused::from_request(too_large), now);
        }
        let body = match Limited::new(body, max).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => {
                return self.refused(Refused::from_request(too_large), now);
            }
            Err(_) => return self.refused(Refused::from_request(RequestError::Malformed), now),
        };
        let call = TokenCall {
            headers: &parts.headers,
            body: &body,
        };
        match self.endpoint.exchange(&call, now).await {
            Ok(issuance) => {
                let record = issuance.record;
                tracing::info!(
                    target: "mcp_warden::audit",
                    outcome = "issued",
                    grant = record.grant.name(),
                    source = record.source,
                    workload_issuer = record.workload_issuer,
                    subject = record.subject,
                    rule = record.rule,
                    resource = record.resource,
                    scopes = record.scopes.join(" "),
                    jkt = record.key_thumbprint.as_deref().unwrap_or(""),
                    token_id = record.token_id,
                    actor = record.actor.as_deref().unwrap_or(""),
                    expires_in = record.expires_in,
                    "token issued"
                );
                let mut response =
                    json_response(StatusCode::OK, Bytes::from(issuance.response.to_json()));
                if let Some(nonce) = self.endpoint.nonce(now) {
                    // RFC 9449 §8.2: a fresh nonce may come with any answer.
                    insert(&mut response, "dpop-nonce", &nonce);
                }
                response
                    .extensions_mut()
                    .insert(IssuerOutcome::Issued(Arc::new(record)));
                response
            }
            Err(refused) => self.refused(refused, now),
        }
    }

    fn refused(&self, refused: Refused, now: u64) -> Response<Full<Bytes>> {
        let answer = refused.refusal.answer();
        let (source, workload_issuer, subject) = refused.workload.clone().unwrap_or_default();
        tracing::info!(
            target: "mcp_warden::audit",
            outcome = "refused",
            status = answer.status,
            error = answer.error.as_str(),
            reason = refused.refusal.reason(),
            detail = %refused.refusal,
            grant = refused.grant.map(|grant| grant.name()).unwrap_or(""),
            source,
            workload_issuer,
            subject,
            jkt = refused.key_thumbprint.as_deref().unwrap_or(""),
            "token refused"
        );
        let body = ErrorResponse::new(answer.error.clone())
            .with_description(answer.description)
            .to_json();
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = json_response(status, Bytes::from(body));
        // RFC 9449 §8: the nonce to retry with. Sent on every refusal when nonces are on,
        // so a client learns it from its first attempt whatever went wrong.
        if let Some(nonce) = self.endpoint.nonce(now) {
            insert(&mut response, "dpop-nonce", &nonce);
        }
        if let IssuerRefusal::AuthorizationHeader { scheme } = refused.refusal {
            // RFC 6749 §5.2: a challenge for the scheme the client used.
            insert(
                &mut response,
                "www-authenticate",
                &format!("{scheme} error=\"{}\"", ErrorCode::InvalidClient.as_str()),
            );
        }
        response
            .extensions_mut()
            .insert(IssuerOutcome::Refused(Arc::new(refused)));
        response
    }
}

impl Refused {
    fn from_request(error: RequestError) -> Self {
        Refused {
            refusal: IssuerRefusal::Request(error),
            grant: None,
            workload: None,
            key_thumbprint: None,
        }
    }
}

impl<B> tower_service::Service<Request<B>> for IssuerService
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let service = self.clone();
        Box::pin(async move { Ok(service.handle(request).await) })
    }
}

fn json_response(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // RFC 6749 §5.1, §5.2.
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn document(content_type: &'static str, body: Bytes, cache: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = status_only(StatusCode::METHOD_NOT_ALLOWED);
    response
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    response
}

fn status_only(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn insert(response: &mut Response<Full<Bytes>>, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}
