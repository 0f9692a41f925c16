//! Request accounting around the guard: a request id, one metric per outcome and refusal
//! reason, latency histograms, and an audit line per refusal — with the reason and the key
//! thumbprint the client claimed, never a token or a proof.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::header::HeaderValue;
use http::{HeaderName, Request, Response};

use crate::guard::Refusal;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a service (the guard around the proxy) with accounting.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S> Observe<S> {
    /// Accounting around `inner`.
    pub fn new(inner: S) -> Self {
        Observe { inner }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for Observe<S>
where
    S: tower_service::Service<Request<ReqBody>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let id = request
            .headers()
            .get(&REQUEST_ID)
            .filter(|value| value.len() <= 128)
            .cloned()
            .unwrap_or_else(new_request_id);
        request.headers_mut().insert(REQUEST_ID, id.clone());
        // A cheap reference-counted copy; parsed only if the request is refused.
        let proof = request.headers().get("dpop").cloned();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let started = Instant::now();
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            let elapsed = started.elapsed().as_secs_f64();
            let status = response.status().as_u16();
            let request_id = id.to_str().unwrap_or("");
            match response.extensions().get::<Refusal>() {
                Some(refusal) => {
                    let reason = refusal.reason();
                    metrics::counter!("mcp_warden_requests_total", "outcome" => "refused", "reason" => reason)
                        .increment(1);
                    metrics::histogram!("mcp_warden_request_duration_seconds", "outcome" => "refused")
                        .record(elapsed);
                    let jkt = proof
                        .as_ref()
                        .and_then(|value| value.to_str().ok())
                        .and_then(crate::dpop::claimed_thumbprint)
                        .unwrap_or_default();
                    tracing::info!(
                        target: "mcp_warden::audit",
                        request_id,
                        status,
                        reason,
                        claimed_jkt = %jkt,
                        %method,
                        path,
                        "refused"
                    );
                }
                None => {
                    let outcome = if status >= 500 {
                        "upstream_error"
                    } else {
                        "forwarded"
                    };
                    metrics::counter!("mcp_warden_requests_total", "outcome" => outcome, "reason" => "")
                        .increment(1);
                    metrics::histogram!("mcp_warden_request_duration_seconds", "outcome" => outcome)
                        .record(elapsed);
                    if status >= 500 {
                        metrics::counter!("mcp_warden_upstream_errors_total", "status" => status.to_string())
                            .increment(1);
                    }
                    tracing::debug!(request_id, status, %method, path, elapsed_s = elapsed, "forwarded");
                }
            }
            response.headers_mut().insert(REQUEST_ID, id);
            Ok(response)
        })
    }
}

fn new_request_id() -> HeaderValue {
    let mut bytes = [0u8; 12];
    // A request id needs uniqueness, not secrecy; if the RNG fails the id is all zeros.
    let _ = aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut bytes);
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("0"))
}
