//! The admin listener's service, one per process and kept apart from every role's traffic:
//! Prometheus `/metrics`, `/healthz` (the process answers) and `/readyz` (every
//! [`Probe`](super::probe::Probe) of every role ready), as Kubernetes probes expect, plus
//! the fixed documents roles publish there ([`AdminRoute`], e.g. the guard's
//! `/identity/jwks.json`).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use metrics_exporter_prometheus::PrometheusHandle;

use super::probe::{BoxFuture, Readiness};

/// A fixed document a role publishes on the admin listener.
#[derive(Debug, Clone)]
pub struct AdminRoute {
    /// The path, e.g. `/identity/jwks.json`.
    pub path: &'static str,
    /// What it answers.
    pub document: Document,
}

/// What an [`AdminRoute`] answers.
#[derive(Debug, Clone)]
pub enum Document {
    /// 200 with this body.
    Served {
        /// The `Content-Type`.
        content_type: &'static str,
        /// The body.
        body: Bytes,
    },
    /// 404 with this one-line explanation: the role knows the path but serves nothing
    /// there in this configuration (`identity assertions are off`).
    Off(&'static str),
}

/// The admin service.
#[derive(Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    metrics: Option<PrometheusHandle>,
    readiness: Readiness,
    routes: Vec<AdminRoute>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("readiness", &self.inner.readiness)
            .field(
                "routes",
                &self
                    .inner
                    .routes
                    .iter()
                    .map(|route| route.path)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// Serves `metrics` (when a recorder is installed), the probes of `readiness`, and
    /// `routes`.
    pub fn new(
        metrics: Option<PrometheusHandle>,
        readiness: Readiness,
        routes: Vec<AdminRoute>,
    ) -> Self {
        Admin {
            inner: Arc::new(Inner {
                metrics,
                readiness,
                routes,
            }),
        }
    }

    async fn answer(&self, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        }
        let inner = &self.inner;
        match request.uri().path() {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" => {
                let problems = inner.readiness.problems().await;
                if problems.is_empty() {
                    text(StatusCode::OK, "ready\n")
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("{}\n", problems.join("\n")),
                    )
                }
            }
            "/metrics" => match &inner.metrics {
                Some(handle) => {
                    inner.readiness.sample();
                    let mut response = Response::new(Full::new(Bytes::from(handle.render())));
                    response.headers_mut().insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    response
                }
                None => text(StatusCode::NOT_FOUND, "metrics disabled\n"),
            },
            path => match inner.routes.iter().find(|route| route.path == path) {
                Some(AdminRoute {
                    document: Document::Served { content_type, body },
                    ..
                }) => {
                    let mut response = Response::new(Full::new(body.clone()));
                    response
                        .headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                    response
                }
                Some(AdminRoute {
                    document: Document::Off(why),
                    ..
                }) => text(StatusCode::NOT_FOUND, &format!("{why}\n")),
                None => text(StatusCode::NOT_FOUND, "not found\n"),
            },
        }
    }
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl tower_service::Service<Request<hyper::body::Incoming>> for Admin {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<hyper::body::Incoming>) -> Self::Future {
        let admin = self.clone();
        Box::pin(async move { Ok(admin.answer(&request).await) })
    }
}
