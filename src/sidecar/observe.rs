//! Request accounting around the guard: a request id, one metric per outcome and refusal
//! reason, latency histograms, and an audit line per refusal — with the reason and the key
//! thumbprint the client claimed, never a token or a proof.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use http::header::HeaderValue;
use http::{HeaderName, Request, Response};

use metrics::{Counter, Histogram};

use crate::guard::Refusal;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const DPOP: HeaderName = HeaderName::from_static("dpop");

/// Wraps a service (the guard around the proxy) with accounting.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    handles: Arc<Handles>,
}

/// The metrics every answered request touches, registered once: looking a labelled metric
/// up by name hashes its key on every request.
#[derive(Debug)]
struct Handles {
    forwarded: Counter,
    forwarded_seconds: Histogram,
    upstream_error: Counter,
    upstream_error_seconds: Histogram,
    refused_seconds: Histogram,
}

impl<S> Observe<S> {
    /// Accounting around `inner`. Build it after the metrics recorder is installed: the
    /// metrics are registered here, and with no recorder they go nowhere.
    pub fn new(inner: S) -> Self {
        let handles = Handles {
            forwarded: metrics::counter!(REQUESTS, "outcome" => "forwarded", "reason" => ""),
            forwarded_seconds: metrics::histogram!(DURATION, "outcome" => "forwarded"),
            upstream_error: metrics::counter!(REQUESTS, "outcome" => "upstream_error", "reason" => ""),
            upstream_error_seconds: metrics::histogram!(DURATION, "outcome" => "upstream_error"),
            refused_seconds: metrics::histogram!(DURATION, "outcome" => "refused"),
        };
        Observe {
            inner,
            handles: Arc::new(handles),
        }
    }
}

const REQUESTS: &str = "mcp_warden_requests_total";
const DURATION: &str = "mcp_warden_request_duration_seconds";

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
            match response.extensions().get::<Refusal>() {
                Some(refusal) => {
                    let reason = refusal.reason();
                    metrics::counter!(REQUESTS, "outcome" => "refused", "reason" => reason)
                        .increment(1);
                    handles.refused_seconds.record(elapsed);
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
                        path = uri.path(),
                        "refused"
                    );
                }
                None => {
                    if status >= 500 {
                        handles.upstream_error.increment(1);
                        handles.upstream_error_seconds.record(elapsed);
                        metrics::counter!("mcp_warden_upstream_errors_total", "status" => status.to_string())
                            .increment(1);
                    } else {
                        handles.forwarded.increment(1);
                        handles.forwarded_seconds.record(elapsed);
                    }
                    tracing::debug!(request_id, status, %method, path = uri.path(), elapsed_s = elapsed, "forwarded");
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
