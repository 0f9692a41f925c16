//! Request accounting around a role's service: a request id, one metric per outcome and
//! refusal reason, latency histograms, and an audit line per refusal — with the reason and
//! the key thumbprint the client claimed, never a token or a proof.
//!
//! What is recorded is generic: a role puts its refusal type in a refused response's
//! extensions (the guard its [`Refusal`]), implements [`RefusalReason`] for it, and names
//! its metrics and outcomes in an [`Accounting`] ([`Accounting::GUARD`] for the guard).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::header::HeaderValue;
use http::{HeaderName, Request, Response};

use metrics::{Counter, Histogram};

use crate::guard::Refusal;

/// A role's refusal, as found in a refused response's extensions: its label for metrics
/// and the audit line.
pub trait RefusalReason: Send + Sync + 'static {
    /// A short, stable label from a fixed set (never request data): a metric label value.
    fn reason(&self) -> &'static str;
}

impl RefusalReason for Refusal {
    fn reason(&self) -> &'static str {
        Refusal::reason(self)
    }
}

/// What a role's accounting is called: its metric names and outcome labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accounting {
    /// The role, on every access and audit line (`guard`).
    pub role: &'static str,
    /// The request counter, labelled `outcome` and `reason`.
    pub requests: &'static str,
    /// The latency histogram, labelled `outcome`. A name ending in `_duration_seconds`
    /// gets the host's latency buckets.
    pub duration: &'static str,
    /// The outcome of a request neither refused nor failed (`forwarded`).
    pub answered: &'static str,
    /// The outcome of a request that was not refused but got a 5xx (`upstream_error`).
    pub failed: &'static str,
    /// A counter of those failures by status, when the role keeps one.
    pub failures_by_status: Option<&'static str>,
}

impl Accounting {
    /// The guard's metrics, as `docs/guard.md` and the dashboards know them.
    pub const GUARD: Accounting = Accounting {
        role: "guard",
        requests: "mcp_warden_requests_total",
        duration: "mcp_warden_request_duration_seconds",
        answered: "forwarded",
        failed: "upstream_error",
        failures_by_status: Some("mcp_warden_upstream_errors_total"),
    };
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const DPOP: HeaderName = HeaderName::from_static("dpop");

/// Wraps a role's service (the guard around the proxy) with accounting; `R` is the
/// refusal type the service puts in refused responses' extensions.
#[derive(Debug)]
pub struct Observe<S, R = Refusal> {
    inner: S,
    handles: Arc<Handles>,
    refusal: std::marker::PhantomData<fn() -> R>,
}

impl<S: Clone, R> Clone for Observe<S, R> {
    fn clone(&self) -> Self {
        Observe {
            inner: self.inner.clone(),
            handles: self.handles.clone(),
            refusal: std::marker::PhantomData,
        }
    }
}

/// The metrics every answered request touches, registered once: looking a labelled metric
/// up by name hashes its key on every request.
#[derive(Debug)]
struct Handles {
    names: Accounting,
    answered: Counter,
    answered_seconds: Histogram,
    failed: Counter,
    failed_seconds: Histogram,
    refused_seconds: Histogram,
}

impl<S, R: RefusalReason> Observe<S, R> {
    /// Accounting around `inner`, under `names`. Build it after the metrics recorder is
    /// installed: the metrics are registered here, and with no recorder they go nowhere.
    pub fn new(inner: S, names: Accounting) -> Self {
        let handles = Handles {
            names,
            answered: metrics::counter!(names.requests, "outcome" => names.answered, "reason" => ""),
            answered_seconds: metrics::histogram!(names.duration, "outcome" => names.answered),
            failed: metrics::counter!(names.requests, "outcome" => names.failed, "reason" => ""),
            failed_seconds: metrics::histogram!(names.duration, "outcome" => names.failed),
            refused_seconds: metrics::histogram!(names.duration, "outcome" => "refused"),
        };
        Observe {
            inner,
            handles: Arc::new(handles),
            refusal: std::marker::PhantomData,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R, ReqBody, ResBody> tower_service::Service<Request<ReqBody>> for Observe<S, R>
where
    R: RefusalReason,
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
        let handles = self.handles.clone();
        // One lookup: keep the caller's id (if short enough to log) or set a new one; either
        // way the request carries exactly one.
        let id = match request.headers_mut().entry(REQUEST_ID) {
            http::header::Entry::Occupied(mut entry) => {
                let id = Some(entry.get())
                    .filter(|value| value.len() <= 128)
                    .cloned()
                    .unwrap_or_else(new_request_id);
                entry.insert(id.clone());
                id
            }
            http::header::Entry::Vacant(entry) => entry.insert(new_request_id()).clone(),
        };
        // A cheap reference-counted copy; parsed only if the request is refused.
        let proof = request.headers().get(DPOP).cloned();
        let method = request.method().clone();
        // A reference-counted copy; the path is only read for log lines.
        let uri = request.uri().clone();
        let started = Instant::now();
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            let elapsed = started.elapsed().as_secs_f64();
            let status = response.status().as_u16();
            let request_id = id.to_str().unwrap_or("");
            let names = &handles.names;
            match response.extensions().get::<R>() {
                Some(refusal) => {
                    let reason = refusal.reason();
                    metrics::counter!(names.requests, "outcome" => "refused", "reason" => reason)
                        .increment(1);
                    handles.refused_seconds.record(elapsed);
                    let jkt = proof
                        .as_ref()
                        .and_then(|value| value.to_str().ok())
                        .and_then(crate::dpop::claimed_thumbprint)
                        .unwrap_or_default();
                    tracing::info!(
                        target: "mcp_warden::audit",
                        role = names.role,
                        request_id,
                        status,
                        reason,
                        claimed_jkt = %jkt,
                        %method,
                        path = uri.path(),
                        "refused"
                    );
                }
                None => {
                    let outcome = if status >= 500 {
                        handles.failed.increment(1);
                        handles.failed_seconds.record(elapsed);
                        if let Some(by_status) = names.failures_by_status {
                            metrics::counter!(by_status, "status" => status.to_string())
                                .increment(1);
                        }
                        names.failed
                    } else {
                        handles.answered.increment(1);
                        handles.answered_seconds.record(elapsed);
                        names.answered
                    };
                    tracing::debug!(role = names.role, request_id, status, outcome, %method, path = uri.path(), elapsed_s = elapsed, "answered");
                }
            }
            response.headers_mut().insert(REQUEST_ID, id);
            Ok(response)
        })
    }
}

/// A new request id: 32 lowercase hex digits (128 bits, the shape of a W3C trace id).
///
/// An id needs uniqueness, not secrecy, and a draw from the CSPRNG per request cost a
/// tenth of a proxied request. Each thread draws a random 64-bit prefix and mixing key
/// once; the second half is a per-thread counter through a bijective mixer, so ids never
/// repeat within a thread and do not reveal how many requests came before.
fn new_request_id() -> HeaderValue {
    thread_local! {
        static IDS: std::cell::Cell<IdState> = std::cell::Cell::new(IdState::seeded());
    }
    let state = IDS.get();
    IDS.set(IdState {
        counter: state.counter.wrapping_add(1),
        ..state
    });
    let mut text = [0u8; 32];
    let halves = [state.prefix, mix64(state.counter ^ state.key)];
    for (half, out) in halves.iter().zip(text.chunks_exact_mut(16)) {
        for (byte, pair) in half.to_be_bytes().iter().zip(out.chunks_exact_mut(2)) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0x0f)];
        }
    }
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("0"))
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[derive(Debug, Clone, Copy)]
struct IdState {
    prefix: u64,
    key: u64,
    counter: u64,
}

impl IdState {
    fn seeded() -> Self {
        let mut seed = [0u8; 16];
        if aws_lc_rs::rand::SecureRandom::fill(&aws_lc_rs::rand::SystemRandom::new(), &mut seed)
            .is_err()
        {
            // std's per-thread hash keys come from the OS too; threads still differ.
            use std::hash::BuildHasher;
            let state = std::collections::hash_map::RandomState::new();
            seed[..8].copy_from_slice(&state.hash_one(1u8).to_le_bytes());
            seed[8..].copy_from_slice(&state.hash_one(2u8).to_le_bytes());
        }
        let [prefix, key] = [&seed[..8], &seed[8..]]
            .map(|half| u64::from_le_bytes(half.try_into().unwrap_or_default()));
        IdState {
            prefix,
            key,
            counter: 0,
        }
    }
}

/// SplitMix64's finalizer: a bijection on `u64` that spreads every input bit.
fn mix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_32_hex_digits_and_do_not_repeat() {
        let ids: std::collections::HashSet<_> = (0..10_000)
            .map(|_| {
                let id = new_request_id();
                let text = id.to_str().unwrap().to_owned();
                assert_eq!(text.len(), 32);
                assert!(text.bytes().all(|b| HEX.contains(&b)), "{text}");
                text
            })
            .collect();
        assert_eq!(ids.len(), 10_000);
        let elsewhere = std::thread::spawn(|| new_request_id().to_str().unwrap().to_owned())
            .join()
            .unwrap();
        assert!(!ids.contains(&elsewhere));
        let prefixes: std::collections::HashSet<_> = ids.iter().map(|id| &id[..16]).collect();
        assert_eq!(prefixes.len(), 1, "one prefix per thread");
        assert_ne!(
            &elsewhere[..16],
            ids.iter().next().unwrap()[..16].to_owned()
        );
    }

    #[test]
    fn the_mixer_is_a_bijection_on_a_sample() {
        let outputs: std::collections::HashSet<_> = (0..100_000u64).map(mix64).collect();
        assert_eq!(outputs.len(), 100_000);
        assert_ne!(mix64(1), 1);
    }
}
