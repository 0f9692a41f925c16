//! [`RemoteJwks`]: one issuer's JWK Set (RFC 7517 §5), fetched over HTTPS, cached for as
//! long as its `Cache-Control` allows (RFC 9111 §5.2, clamped), refreshed in the background
//! before it expires, refetched when a token names an unknown `kid` — at most once per
//! interval — and served stale for a bounded time while the issuer is unreachable.
//!
//! Fetches are single-flight: one runs at a time per issuer, and callers that waited for
//! it share its outcome. A fetch runs in its own task, so a request that gives up (a client
//! disconnecting) does not cancel the fetch everyone else is waiting for.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;
use tokio::time::Instant;
use url::Url;

use crate::jose::JwkSet;

use super::config::{JwksLocation, Limits, RemoteJwksBuilder, Resolved};
use super::discovery;
use super::http::{self as fetch, FetchError};
use super::{KeySource, KeySourceError, KeysFuture, Refresh};

/// RFC 7517 §8.5.1 registers `application/jwk-set+json`; many issuers serve plain JSON.
const JWKS_ACCEPT: &str = "application/jwk-set+json, application/json";

/// One issuer's published keys, kept fresh. Cheap to clone (the clones share the cache);
/// nothing is shared between two `RemoteJwks` built separately, so one failing issuer
/// cannot affect another.
#[derive(Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

/// What a [`RemoteJwks`] has done so far (for metrics and readiness).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksStats {
    /// Fetch attempts started (discovery included in the attempt that needed it).
    pub fetches: u64,
    /// Attempts that replaced the keys.
    pub successes: u64,
    /// Attempts that failed (the previous keys were kept).
    pub failures: u64,
    /// Time since the current keys were fetched; `None` before the first success.
    pub key_age: Option<Duration>,
    /// The lifetime the current keys were given (clamped `max-age`, or the default).
    pub key_ttl: Option<Duration>,
    /// Whether the keys being served are past their lifetime (the issuer could not be
    /// reached) but still within `max_stale`.
    pub serving_stale: bool,
}

struct Inner {
    location: Resolved,
    limits: Limits,
    client: reqwest::Client,
    state: Mutex<State>,
    /// Held for the whole of a fetch: the single-flight lock.
    fetch_lock: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Default)]
struct State {
    keys: Option<Loaded>,
    /// The `jwks_uri` learned by discovery, once it succeeded.
    discovered: Option<Url>,
    /// When discovery last failed, and why.
    discovery_failure: Option<(Instant, FetchError)>,
    /// When the last fetch attempt started, successful or not.
    last_attempt: Option<Instant>,
    /// Why the last attempt failed; `None` if it succeeded.
    last_failure: Option<FetchError>,
    /// Attempts finished: a waiter that sees this change knows a fetch ran meanwhile.
    completed: u64,
    fetching: bool,
    background_queued: bool,
    fetches: u64,
    successes: u64,
    failures: u64,
}

struct Loaded {
    set: Arc<JwkSet>,
    fetched_at: Instant,
    ttl: Duration,
}

impl Loaded {
    fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.fetched_at)
    }
}

impl RemoteJwks {
    /// A builder for the keys at `location`, with safe defaults.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// use mcp_warden::jwks::{JwksLocation, RemoteJwks};
    /// use mcp_warden::token::{JwtVerifier, TrustedIssuer};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let issuer = "https://as.example.com/tenant";
    /// let keys = RemoteJwks::builder(JwksLocation::Discovery { issuer: issuer.into() })
    ///     .max_stale(Duration::from_secs(600))
    ///     .build()?;
    /// // Fail readiness until the keys are in.
    /// keys.load().await?;
    ///
    /// let verifier = JwtVerifier::builder("https://mcp.example.com/mcp")
    ///     .issuer(TrustedIssuer::with_key_source(issuer, Arc::new(keys)))
    ///     .build();
    /// # let _ = verifier;
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder(location: JwksLocation) -> RemoteJwksBuilder {
        RemoteJwksBuilder::new(location)
    }

    pub(super) fn from_parts(location: Resolved, limits: Limits, client: reqwest::Client) -> Self {
        RemoteJwks {
            inner: Arc::new(Inner {
                location,
                limits,
                client,
                state: Mutex::new(State::default()),
                fetch_lock: Arc::new(tokio::sync::Mutex::new(())),
            }),
        }
    }

    /// Fetches the keys now (start-up, readiness), sharing a fetch already running.
    /// Errors if they cannot be fetched, even when stale keys are still being served.
    pub async fn load(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        let seen = self.inner.state().completed;
        let guard = Arc::clone(&self.inner.fetch_lock).lock_owned().await;
        {
            let state = self.inner.state();
            if state.completed != seen {
                drop(guard);
                return match (&state.last_failure, &state.keys) {
                    (None, Some(loaded)) => Ok(loaded.set.clone()),
                    (Some(error), _) => Err(KeySourceError::Fetch(error.clone())),
                    (None, None) => Err(KeySourceError::NotLoaded),
                };
            }
        }
        self.inner.fetch(guard).await.map_err(KeySourceError::Fetch)
    }

    /// Counters and the age of the keys being served.
    pub fn stats(&self) -> JwksStats {
        let now = Instant::now();
        let state = self.inner.state();
        let keys = state.keys.as_ref();
        JwksStats {
            fetches: state.fetches,
            successes: state.successes,
            failures: state.failures,
            key_age: keys.map(|loaded| loaded.age(now)),
            key_ttl: keys.map(|loaded| loaded.ttl),
            serving_stale: keys.is_some_and(|loaded| {
                loaded.age(now) > loaded.ttl && self.inner.usable(&state, now).is_some()
            }),
        }
    }

    async fn missing(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        let inner = &self.inner;
        let seen = {
            let state = inner.state();
            if let Some(keys) = inner.usable(&state, Instant::now()) {
                return Ok(keys);
            }
            state.completed
        };
        let guard = Arc::clone(&inner.fetch_lock).lock_owned().await;
        {
            let state = inner.state();
            let now = Instant::now();
            if state.completed != seen {
                return inner.usable_or_unavailable(&state, now);
            }
            // An unreachable issuer is asked at most once per interval by traffic, however
            // many requests arrive with no keys to check them against.
            if let Some(error) = inner.failed_recently(&state, now) {
                return Err(KeySourceError::NotRetried(error.clone()));
            }
        }
        let outcome = inner.fetch(guard).await;
        outcome.or_else(|_| inner.usable_or_unavailable(&inner.state(), Instant::now()))
    }

    async fn unknown_kid(&self) -> Result<Arc<JwkSet>, KeySourceError> {
        let inner = &self.inner;
        let interval = inner.limits.min_refetch_interval;
        let seen = {
            let state = inner.state();
            let now = Instant::now();
            // A fetch in flight may bring the key: wait for it rather than refuse now.
            if !state.fetching && within(state.last_attempt, now, interval) {
                // Trace, not debug: a storm of random kids would flood the logs.
                tracing::trace!(
                    source = inner.location.target(),
                    "token names an unknown kid; not refetching within min_refetch_interval"
                );
                return inner.usable_or_unavailable(&state, now);
            }
            state.completed
        };
        let guard = Arc::clone(&inner.fetch_lock).lock_owned().await;
        {
            let state = inner.state();
            let now = Instant::now();
            if state.completed != seen || within(state.last_attempt, now, interval) {
                return inner.usable_or_unavailable(&state, now);
            }
        }
        let outcome = inner.fetch(guard).await;
        outcome.or_else(|_| inner.usable_or_unavailable(&inner.state(), Instant::now()))
    }
}

impl KeySource for RemoteJwks {
    fn current(&self) -> Option<Arc<JwkSet>> {
        let now = Instant::now();
        let mut state = self.inner.state();
        let keys = self.inner.usable(&state, now);
        if !state.fetching
            && !state.background_queued
            && self.inner.background_due(&state, now)
            // Without a runtime (a synchronous caller) the refresh waits for the next
            // asynchronous use instead of panicking.
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            state.background_queued = true;
            // Before spawning: a runtime that is shutting down drops the task at once,
            // and dropping `queued` takes the state lock.
            drop(state);
            let queued = ClearOnDrop::new(&self.inner, |state| &mut state.background_queued);
            runtime.spawn(Arc::clone(&self.inner).background_refresh(queued));
        }
        keys
    }

    fn refresh<'a>(&'a self, reason: Refresh<'a>) -> KeysFuture<'a> {
        Box::pin(async move {
            match reason {
                Refresh::Missing => self.missing().await,
                // The kid itself does not matter: any fetch brings the whole set, and it is
                // attacker-chosen, so it is neither logged nor remembered.
                Refresh::UnknownKid(_) => self.unknown_kid().await,
            }
        })
    }
}

impl std::fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("source", &self.inner.location.target())
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

impl Resolved {
    fn target(&self) -> &str {
        match self {
            Resolved::JwksUri(url) => url.as_str(),
            Resolved::Discovery { issuer, .. } => issuer,
        }
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held, and every update leaves the state
        // consistent, so a poisoned lock still holds usable data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The keys, unless they are past their lifetime plus `max_stale`.
    fn usable(&self, state: &State, now: Instant) -> Option<Arc<JwkSet>> {
        let loaded = state.keys.as_ref()?;
        let limit = loaded.ttl.saturating_add(self.limits.max_stale);
        (loaded.age(now) <= limit).then(|| loaded.set.clone())
    }

    fn usable_or_unavailable(
        &self,
        state: &State,
        now: Instant,
    ) -> Result<Arc<JwkSet>, KeySourceError> {
        self.usable(state, now)
            .ok_or_else(|| match (&state.last_failure, &state.keys) {
                (Some(error), _) => KeySourceError::Fetch(error.clone()),
                (None, Some(_)) => KeySourceError::Expired,
                (None, None) => KeySourceError::NotLoaded,
            })
    }

    /// Why the last attempt failed, if it did and started within `min_refetch_interval`.
    fn failed_recently<'s>(&self, state: &'s State, now: Instant) -> Option<&'s FetchError> {
        let error = state.last_failure.as_ref()?;
        within(state.last_attempt, now, self.limits.min_refetch_interval).then_some(error)
    }

    /// Whether the keys are past the refresh-ahead point and a background fetch may run.
    fn background_due(&self, state: &State, now: Instant) -> bool {
        let Some(loaded) = &state.keys else {
            return false;
        };
        // `refresh_ahead` is in (0, 1] (checked at build), so this cannot overflow.
        loaded.age(now) >= loaded.ttl.mul_f64(self.limits.refresh_ahead)
            && self.failed_recently(state, now).is_none()
    }

    async fn background_refresh(self: Arc<Self>, mut queued: ClearOnDrop) {
        let guard = Arc::clone(&self.fetch_lock).lock_owned().await;
        {
            let mut state = self.state();
            queued.disarm();
            state.background_queued = false;
            // A fetch may have refreshed the keys, or failed, while this task waited.
            if !self.background_due(&state, Instant::now()) {
                return;
            }
        }
        // The outcome is recorded in the state and logged by `attempt`.
        let _outcome = self.attempt(guard).await;
    }

    /// Runs one attempt in its own task, so that the caller giving up does not cancel it.
    async fn fetch(
        self: &Arc<Self>,
        guard: OwnedMutexGuard<()>,
    ) -> Result<Arc<JwkSet>, FetchError> {
        let attempt = Arc::clone(self).attempt(guard);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn(attempt)
                .await
                .unwrap_or(Err(FetchError::Aborted)),
            Err(_) => attempt.await,
        }
    }

    /// One fetch attempt; `_single_flight` proves that no other attempt runs.
    async fn attempt(
        self: Arc<Self>,
        _single_flight: OwnedMutexGuard<()>,
    ) -> Result<Arc<JwkSet>, FetchError> {
        let started = Instant::now();
        let discovered = {
            let mut state = self.state();
            state.last_attempt = Some(started);
            state.fetches += 1;
            state.fetching = true;
            state.discovered.clone()
        };
        let mut fetching = ClearOnDrop::new(&self, |state| &mut state.fetching);
        let result = self.download(started, discovered).await;

        // The flag is cleared together with the outcome being stored, so no caller can
        // see "not fetching" and still find the old keys.
        let mut state = self.state();
        fetching.disarm();
        state.fetching = false;
        state.completed += 1;
        match result {
            Ok((set, ttl)) => {
                let set = Arc::new(set);
                tracing::debug!(
                    source = self.location.target(),
                    keys = set.keys().len(),
                    skipped = set.skipped(),
                    ttl_s = ttl.as_secs(),
                    "JWK Set fetched"
                );
                state.keys = Some(Loaded {
                    set: set.clone(),
                    // From the start of the request: the conservative age (RFC 9111 §4.2.3).
                    fetched_at: started,
                    ttl,
                });
                state.last_failure = None;
                state.successes += 1;
                Ok(set)
            }
            Err(error) => {
                tracing::warn!(
                    source = self.location.target(),
                    reason = %error,
                    keeping_previous_keys = state.keys.is_some(),
                    "JWK Set fetch failed"
                );
                state.last_failure = Some(error.clone());
                state.failures += 1;
                Err(error)
            }
        }
    }

    /// Resolves the `jwks_uri` if needed, then fetches and parses the set.
    async fn download(
        &self,
        started: Instant,
        discovered: Option<Url>,
    ) -> Result<(JwkSet, Duration), FetchError> {
        let uri = match (&self.location, discovered) {
            (Resolved::JwksUri(uri), _) => uri.clone(),
            (Resolved::Discovery { .. }, Some(uri)) => uri,
            (Resolved::Discovery { issuer, url }, None) => {
                self.discover(issuer, url, started).await?
            }
        };
        let fetched = fetch::get_capped(&self.client, &uri, JWKS_ACCEPT, &self.limits).await?;
        let set = JwkSet::from_json(&fetched.body).map_err(FetchError::JwkSet)?;
        // A set whose every key was skipped would refuse every token: keep the old keys.
        if set.is_empty() {
            return Err(FetchError::NoUsableKeys {
                skipped: set.skipped(),
            });
        }
        let ttl = fetch::ttl(fetch::freshness(&fetched.headers), &self.limits);
        Ok((set, ttl))
    }

    /// Discovery runs until it succeeds once; a failure is retried only after
    /// `min_refetch_interval`, even by [`RemoteJwks::load`].
    async fn discover(&self, issuer: &str, url: &Url, now: Instant) -> Result<Url, FetchError> {
        if let Some((at, error)) = &self.state().discovery_failure
            && within(Some(*at), now, self.limits.min_refetch_interval)
        {
            return Err(FetchError::DiscoveryDeferred(Box::new(error.clone())));
        }
        let result = discovery::discover(&self.client, issuer, url, &self.limits).await;
        let mut state = self.state();
        match &result {
            Ok(jwks_uri) => {
                tracing::debug!(
                    issuer,
                    jwks_uri = jwks_uri.as_str(),
                    "issuer metadata discovered"
                );
                state.discovered = Some(jwks_uri.clone());
                state.discovery_failure = None;
            }
            Err(error) => state.discovery_failure = Some((now, error.clone())),
        }
        result.map_err(|error| match error {
            FetchError::DiscoveryDeferred(_) => error,
            other => FetchError::Discovery(Box::new(other)),
        })
    }
}

/// Clears a flag of the state if the future holding it ends early — by a panic, or by
/// being dropped unpolled (a runtime shutting down) — so that a flag can never stay set
/// and stop all refreshes. Disarmed on the normal path, which clears the flag itself.
struct ClearOnDrop {
    inner: Arc<Inner>,
    flag: fn(&mut State) -> &mut bool,
    armed: bool,
}

impl ClearOnDrop {
    fn new(inner: &Arc<Inner>, flag: fn(&mut State) -> &mut bool) -> Self {
        ClearOnDrop {
            inner: Arc::clone(inner),
            flag,
            armed: true,
        }
    }

    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        // Armed only when dropped outside the normal path, where the state lock is not
        // held (it is never held across an await).
        if self.armed {
            *(self.flag)(&mut self.inner.state()) = false;
        }
    }
}

/// Whether `at` lies less than `interval` before `now`.
fn within(at: Option<Instant>, now: Instant, interval: Duration) -> bool {
    at.is_some_and(|at| now.saturating_duration_since(at) < interval)
}
