//! The admin listener, kept apart from the proxied traffic: Prometheus `/metrics`,
//! `/healthz` (the process answers) and `/readyz` (keys loaded, Redis reachable), as
//! Kubernetes probes expect.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::dpop::{InMemoryReplayStore, ReplayStoreError};
use crate::jwks::{KeySource, RemoteJwks};

/// A readiness probe of the replay store (Redis `PING`).
pub type ReplayProbe = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), ReplayStoreError>> + Send>> + Send + Sync,
>;

/// What `/readyz` checks and `/metrics` reports besides the counters.
#[derive(Clone, Default)]
pub struct Readiness {
    /// Each issuer's remote keys: ready once loaded.
    pub jwks: Vec<(String, RemoteJwks)>,
    /// The shared replay store, when there is one.
    pub replay: Option<ReplayProbe>,
    /// The in-memory replay store, for its size gauge.
    pub memory_replay: Option<Arc<InMemoryReplayStore>>,
    /// The Redis replay store, for its counters.
    #[cfg(feature = "redis")]
    pub redis_replay: Option<Arc<crate::dpop::RedisReplayStore>>,
    /// The memory fallback around Redis, for the degraded-state gauge to alert on.
    pub degrading_replay: Option<Arc<crate::dpop::DegradingReplayStore>>,
    /// The JWK Set of the identity-assertion key, served at `/identity/jwks.json` for the
    /// upstream to verify assertions with.
    pub identity_jwks: Option<Bytes>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field(
                "issuers",
                &self
                    .jwks
                    .iter()
                    .map(|(issuer, _)| issuer)
                    .collect::<Vec<_>>(),
            )
            .field("replay_probe", &self.replay.is_some())
            .finish_non_exhaustive()
    }
}

impl Readiness {
    /// Every problem standing between the sidecar and traffic; empty when ready.
    pub async fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (issuer, keys) in &self.jwks {
            if keys.current().is_none() {
                // Try once, bounded: a probe must answer quickly.
                let loaded = tokio::time::timeout(Duration::from_secs(2), keys.load()).await;
                if !matches!(loaded, Ok(Ok(_))) {
                    problems.push(format!("keys of issuer {issuer} not loaded"));
                }
            }
        }
        if let Some(probe) = &self.replay {
            match tokio::time::timeout(Duration::from_secs(1), probe()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => problems.push(format!("replay store: {error}")),
                Err(_) => problems.push("replay store: no answer within 1 s".into()),
            }
        }
        problems
    }

    fn update_gauges(&self) {
        for (issuer, keys) in &self.jwks {
            let stats = keys.stats();
            if let Some(age) = stats.key_age {
                metrics::gauge!("mcp_warden_jwks_key_age_seconds", "issuer" => issuer.clone())
                    .set(age.as_secs_f64());
            }
            metrics::gauge!("mcp_warden_jwks_fetches", "issuer" => issuer.clone())
                .set(stats.fetches as f64);
            metrics::gauge!("mcp_warden_jwks_fetch_failures", "issuer" => issuer.clone())
                .set(stats.failures as f64);
        }
        if let Some(store) = &self.memory_replay {
            metrics::gauge!("mcp_warden_replay_store_entries").set(store.len() as f64);
            // Alert before it fills: a full store refuses new proofs (503).
            metrics::gauge!("mcp_warden_replay_store_capacity").set(store.capacity() as f64);
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis_replay {
            let stats = redis.stats();
            metrics::gauge!("mcp_warden_replay_store_checks").set(stats.checks as f64);
            metrics::gauge!("mcp_warden_replay_store_replays").set(stats.replays as f64);
            metrics::gauge!("mcp_warden_replay_store_errors").set(stats.errors as f64);
        }
        if let Some(degrading) = &self.degrading_replay {
            // 1 while answers come from the memory fallback: replays across replicas are
            // not detected then, which deserves an alert.
            metrics::gauge!("mcp_warden_replay_store_degraded").set(if degrading.is_degraded() {
                1.0
            } else {
                0.0
            });
            metrics::gauge!("mcp_warden_replay_store_fallbacks").set(degrading.fallbacks() as f64);
        }
    }
}

/// The admin service.
#[derive(Clone)]
pub struct Admin {
    metrics: Option<PrometheusHandle>,
    readiness: Readiness,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("readiness", &self.readiness)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// Serves `metrics` (when a recorder is installed) and the probes of `readiness`.
    pub fn new(metrics: Option<PrometheusHandle>, readiness: Readiness) -> Self {
        Admin { metrics, readiness }
    }

    async fn answer(&self, request: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        }
        match request.uri().path() {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" => {
                let problems = self.readiness.problems().await;
                if problems.is_empty() {
                    text(StatusCode::OK, "ready\n")
                } else {
                    text(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("{}\n", problems.join("\n")),
                    )
                }
            }
            "/identity/jwks.json" => match &self.readiness.identity_jwks {
                Some(jwks) => {
                    let mut response = Response::new(Full::new(jwks.clone()));
                    response.headers_mut().insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static("application/jwk-set+json"),
                    );
                    response
                }
                None => text(StatusCode::NOT_FOUND, "identity assertions are off\n"),
            },
            "/metrics" => match &self.metrics {
                Some(handle) => {
                    self.readiness.update_gauges();
                    let mut response = Response::new(Full::new(Bytes::from(handle.render())));
                    response.headers_mut().insert(
                        CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; version=0.0.4"),
                    );
                    response
                }
                None => text(StatusCode::NOT_FOUND, "metrics disabled\n"),
            },
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
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

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<Request<hyper::body::Incoming>> for Admin {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<hyper::body::Incoming>) -> Self::Future {
        let admin = self.clone();
        Box::pin(async move { Ok(admin.answer(&request).await) })
    }
}
