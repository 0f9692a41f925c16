//! One value kept fresh for many callers: fetched on first use, refreshed ahead of its
//! expiry, fetched by one caller at a time while everyone else waits for that fetch's
//! outcome (single flight), served while still unexpired when a refresh fails, and, after a
//! failure with nothing left to serve, not fetched again before an exponentially growing
//! delay — so a dependency that is down sees one request per delay, not one per caller.
//!
//! Every cache of the agent is one of these: the workload's platform token in the sources
//! that cost a request or a process (`workload`), and each access token (`exchange`). A
//! burst of callers with an empty cache makes exactly one fetch.
//!
//! Two ways to use it:
//! - [`Refreshing::get`] takes a `'static` fetch and runs it in a task of its own, so a
//!   caller that gives up (a request cancelled by its client) never cancels the fetch the
//!   other callers wait for; past the refresh point it answers at once with the held value
//!   and refreshes in the background;
//! - [`Refreshing::get_inline`] runs a borrowing fetch in the caller's task; past the
//!   refresh point the caller refreshes (others wait for it). Cancelling it drops the fetch,
//!   and the next caller starts another.
//!
//! (The issuers' key sets, `jwks::RemoteJwks`, keep their own engine: keys are served stale
//! past their lifetime within `max_stale`, and refetched on an unknown `kid` at most once per
//! interval — rules a token cache must not have.)
//!
//! Time comes from an injected [`Clock`], in milliseconds.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::OwnedMutexGuard;

use crate::clock::Clock;

/// When to refresh, and how long to leave a failing source alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Timing {
    /// The share of a value's lifetime after which it is refreshed, in (0, 1], when the
    /// fetch does not say.
    pub(crate) refresh_ahead: f64,
    /// The delay after the first failure before anyone fetches again; doubled after each
    /// further failure in a row.
    pub(crate) first_retry: Duration,
    /// The longest delay between attempts.
    pub(crate) max_retry: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            refresh_ahead: 0.8,
            first_retry: Duration::from_millis(500),
            max_retry: Duration::from_secs(30),
        }
    }
}

/// A value with its lifetime, as a fetch returns it.
#[derive(Debug, Clone)]
pub(crate) struct Fetched<T> {
    /// The value.
    pub(crate) value: T,
    /// How long it may be used, from the moment the fetch started; zero keeps nothing.
    pub(crate) lifetime: Duration,
    /// When to refresh, from the same moment; `None` is [`Timing::refresh_ahead`] of the
    /// lifetime.
    pub(crate) refresh_after: Option<Duration>,
}

impl<T> Fetched<T> {
    /// `value`, good for `lifetime`, refreshed at the default share of it.
    pub(crate) fn new(value: T, lifetime: Duration) -> Self {
        Fetched {
            value,
            lifetime,
            refresh_after: None,
        }
    }
}

/// A fetch task ended without an outcome (it panicked, or the runtime is shutting down):
/// every error type [`Refreshing::get`] returns can say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Aborted;

/// The kept-fresh value. Cheap to clone; clones share the value.
pub(crate) struct Refreshing<T, E> {
    inner: Arc<Inner<T, E>>,
}

impl<T, E> Clone for Refreshing<T, E> {
    fn clone(&self) -> Self {
        Refreshing {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<T, E> {
    timing: Timing,
    clock: Arc<dyn Clock>,
    state: Mutex<State<T, E>>,
    /// Held for the whole of a fetch: the single-flight lock.
    flight: Arc<tokio::sync::Mutex<()>>,
}

struct State<T, E> {
    held: Option<Held<T>>,
    /// The last fetch's failure, while no fetch has succeeded since.
    failure: Option<Failure<E>>,
    /// Fetches finished: a waiter that sees this change knows a fetch ran meanwhile.
    completed: u64,
    background_queued: bool,
    fetches: u64,
}

/// Times are the clock's milliseconds.
struct Held<T> {
    value: T,
    refresh_at: u64,
    expires_at: u64,
}

struct Failure<E> {
    error: E,
    retry_at: u64,
    in_a_row: u32,
}

/// What the state says before fetching.
enum Lookup<T, E> {
    /// The held value; past its refresh point when `stale`.
    Held { value: T, stale: bool },
    /// A failure within its delay, and nothing to serve.
    Failed(E),
    /// Fetch: the completed count seen.
    Fetch(u64),
}

impl<T, E> Refreshing<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    /// Nothing held yet.
    pub(crate) fn new(timing: Timing, clock: Arc<dyn Clock>) -> Self {
        Refreshing {
            inner: Arc::new(Inner {
                timing,
                clock,
                state: Mutex::new(State {
                    held: None,
                    failure: None,
                    completed: 0,
                    background_queued: false,
                    fetches: 0,
                }),
                flight: Arc::new(tokio::sync::Mutex::new(())),
            }),
        }
    }

    /// The value, without waiting, while it has not expired.
    #[cfg(test)]
    pub(crate) fn current(&self) -> Option<T> {
        let now = self.inner.clock.now_millis();
        let state = self.inner.state();
        state
            .held
            .as_ref()
            .filter(|held| now < held.expires_at)
            .map(|held| held.value.clone())
    }

    /// How many fetches have started.
    pub(crate) fn fetches(&self) -> u64 {
        self.inner.state().fetches
    }

    /// Forgets the value (the server refused it), so the next call fetches. A failure's
    /// delay is kept: forgetting is no reason to ask a failing source sooner.
    pub(crate) fn forget(&self) {
        self.inner.state().held = None;
    }

    /// The value: the held one while it has not expired (past the refresh point, a
    /// background fetch with `fetch` replaces it), else the outcome of one fetch, run in its
    /// own task and shared with every caller waiting at the same time.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<T, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched<T>, E>> + Send + 'static,
        E: From<Aborted>,
    {
        let inner = &self.inner;
        let seen = match inner.lookup() {
            Lookup::Held { value, stale } => {
                if stale && inner.queue_background() {
                    self.spawn_background(fetch());
                }
                return Ok(value);
            }
            Lookup::Failed(error) => return Err(error),
            Lookup::Fetch(seen) => seen,
        };
        let guard = Arc::clone(&inner.flight).lock_owned().await;
        if let Some(outcome) = inner.outcome_since(seen) {
            return outcome;
        }
        let attempt = Arc::clone(inner).attempt(guard, fetch());
        // In its own task: this caller giving up must not cancel everyone's fetch.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn(attempt)
                .await
                .unwrap_or_else(|_| Err(E::from(Aborted))),
            Err(_) => attempt.await,
        }
    }

    /// The value: the held one before its refresh point, else the outcome of `fetch` run
    /// here, one caller at a time (callers that waited take its outcome). A failed refresh
    /// serves the held value while it has not expired.
    pub(crate) async fn get_inline<Fut>(&self, fetch: Fut) -> Result<T, E>
    where
        Fut: Future<Output = Result<Fetched<T>, E>>,
    {
        let inner = &self.inner;
        let seen = match inner.lookup() {
            Lookup::Held {
                value,
                stale: false,
            } => return Ok(value),
            Lookup::Failed(error) => return Err(error),
            Lookup::Held { stale: true, .. } => inner.state().completed,
            Lookup::Fetch(seen) => seen,
        };
        let guard = Arc::clone(&inner.flight).lock_owned().await;
        if let Some(outcome) = inner.outcome_since(seen) {
            return outcome;
        }
        inner.store(guard, fetch).await
    }

    fn spawn_background<Fut>(&self, fetch: Fut)
    where
        Fut: Future<Output = Result<Fetched<T>, E>> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            inner.state().background_queued = false;
            return;
        };
        runtime.spawn(async move {
            let guard = Arc::clone(&inner.flight).lock_owned().await;
            let due = {
                let mut state = inner.state();
                state.background_queued = false;
                let now = inner.clock.now_millis();
                // A foreground fetch may have replaced the value while this task waited.
                state
                    .held
                    .as_ref()
                    .is_none_or(|held| now >= held.refresh_at)
            };
            if due {
                // The outcome is stored; a failure keeps the held value until it expires.
                let _outcome = inner.store(guard, fetch).await;
            }
        });
    }
}

impl<T, E> Inner<T, E>
where
    T: Clone + Send + Sync + 'static,
    E: Clone + Send + Sync + 'static,
{
    fn state(&self) -> MutexGuard<'_, State<T, E>> {
        // Nothing panics while the lock is held and every update leaves the state
        // consistent, so a poisoned lock still holds usable data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lookup(&self) -> Lookup<T, E> {
        let now = self.clock.now_millis();
        let state = self.state();
        let waiting = state.failure.as_ref().filter(|f| now < f.retry_at);
        if let Some(held) = state.held.as_ref().filter(|held| now < held.expires_at) {
            return Lookup::Held {
                value: held.value.clone(),
                // Within a failure's delay the held value is served without a refresh.
                stale: now >= held.refresh_at && waiting.is_none(),
            };
        }
        match waiting {
            Some(failure) => Lookup::Failed(failure.error.clone()),
            None => Lookup::Fetch(state.completed),
        }
    }

    /// Marks a background refresh as queued, unless one already is.
    fn queue_background(&self) -> bool {
        let mut state = self.state();
        let idle = !state.background_queued;
        state.background_queued = true;
        idle
    }

    /// After waiting for the flight lock: the outcome of a fetch that finished meanwhile.
    fn outcome_since(&self, seen: u64) -> Option<Result<T, E>> {
        let now = self.clock.now_millis();
        let state = self.state();
        if state.completed == seen {
            return None;
        }
        if let Some(held) = state.held.as_ref().filter(|held| now < held.expires_at) {
            return Some(Ok(held.value.clone()));
        }
        state
            .failure
            .as_ref()
            .map(|failure| Err(failure.error.clone()))
    }

    /// [`Inner::store`] as a `'static` future, for a task of its own.
    async fn attempt<Fut>(
        self: Arc<Self>,
        single_flight: OwnedMutexGuard<()>,
        fetch: Fut,
    ) -> Result<T, E>
    where
        Fut: Future<Output = Result<Fetched<T>, E>> + Send + 'static,
    {
        self.store(single_flight, fetch).await
    }

    /// Runs `fetch` and stores its outcome; a failure falls back to the held value while it
    /// has not expired.
    async fn store<Fut>(&self, _single_flight: OwnedMutexGuard<()>, fetch: Fut) -> Result<T, E>
    where
        Fut: Future<Output = Result<Fetched<T>, E>>,
    {
        let started = self.clock.now_millis();
        self.state().fetches += 1;
        let outcome = fetch.await;
        let now = self.clock.now_millis();
        let mut state = self.state();
        state.completed += 1;
        match outcome {
            Ok(fetched) => {
                let refresh_after = fetched
                    .refresh_after
                    .unwrap_or_else(|| fetched.lifetime.mul_f64(self.timing.refresh_ahead))
                    .min(fetched.lifetime);
                state.held = Some(Held {
                    value: fetched.value.clone(),
                    refresh_at: started.saturating_add(millis(refresh_after)),
                    expires_at: started.saturating_add(millis(fetched.lifetime)),
                });
                state.failure = None;
                Ok(fetched.value)
            }
            Err(error) => {
                let in_a_row = state
                    .failure
                    .as_ref()
                    .map_or(1, |f| f.in_a_row.saturating_add(1));
                let delay = self
                    .timing
                    .first_retry
                    .saturating_mul(1u32 << (in_a_row - 1).min(16))
                    .min(self.timing.max_retry);
                state.failure = Some(Failure {
                    error: error.clone(),
                    retry_at: now.saturating_add(millis(delay)),
                    in_a_row,
                });
                match state.held.as_ref().filter(|held| now < held.expires_at) {
                    Some(held) => Ok(held.value.clone()),
                    None => Err(error),
                }
            }
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// Wall time that moves with tokio's (paused) clock.
    struct TokioClock(tokio::time::Instant);

    impl Clock for TokioClock {
        fn now(&self) -> u64 {
            self.now_millis() / 1000
        }

        fn now_millis(&self) -> u64 {
            1_000_000 + millis(self.0.elapsed())
        }
    }

    fn cell(timing: Timing) -> Refreshing<u64, TestError> {
        Refreshing::new(timing, Arc::new(TokioClock(tokio::time::Instant::now())))
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum TestError {
        Down(u64),
        Aborted,
    }

    impl From<Aborted> for TestError {
        fn from(_: Aborted) -> Self {
            TestError::Aborted
        }
    }

    /// A source that counts its fetches, answers after `delay`, and fails while `down`.
    #[derive(Clone, Default)]
    struct Source {
        calls: Arc<AtomicU64>,
        down: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Source {
        fn fetch(
            &self,
            lifetime: Duration,
        ) -> impl Future<Output = Result<Fetched<u64>, TestError>> + Send + 'static {
            let calls = Arc::clone(&self.calls);
            let down = self.down.load(Ordering::SeqCst);
            async move {
                let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
                if down {
                    Err(TestError::Down(call))
                } else {
                    Ok(Fetched::new(call, lifetime))
                }
            }
        }

        fn calls(&self) -> u64 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    const LIFE: Duration = Duration::from_secs(100);

    #[tokio::test(start_paused = true)]
    async fn a_burst_on_an_empty_cache_makes_one_fetch() {
        let cell = cell(Timing::default());
        let source = Source::default();
        let callers: Vec<_> = (0..1_000)
            .map(|_| {
                let (cell, source) = (cell.clone(), source.clone());
                tokio::spawn(async move { cell.get(|| source.fetch(LIFE)).await })
            })
            .collect();
        for caller in callers {
            assert_eq!(caller.await.expect("no panic"), Ok(1));
        }
        assert_eq!(source.calls(), 1);
        assert_eq!(cell.fetches(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_in_the_background_past_the_refresh_point_and_fetches_after_expiry() {
        let cell = cell(Timing::default());
        let source = Source::default();
        assert_eq!(cell.get(|| source.fetch(LIFE)).await, Ok(1));

        tokio::time::advance(Duration::from_secs(79)).await;
        assert_eq!(cell.get(|| source.fetch(LIFE)).await, Ok(1));
        assert_eq!(source.calls(), 1, "before 80 % nothing is fetched");

        tokio::time::advance(Duration::from_secs(2)).await;
        // Past 80 %: the held value at once, and one background fetch.
        assert_eq!(cell.get(|| source.fetch(LIFE)).await, Ok(1));
        assert_eq!(cell.get(|| source.fetch(LIFE)).await, Ok(1));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(source.calls(), 2);
        assert_eq!(cell.current(), Some(2));

        // Past expiry with no refresh: callers wait for a fetch.
        tokio::time::advance(LIFE + Duration::from_secs(1)).await;
        assert_eq!(cell.current(), None);
        assert_eq!(cell.get(|| source.fetch(LIFE)).await, Ok(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_source_is_left_alone_for_a_doubling_delay() {
        let timing = Timing {
            refresh_ahead: 0.8,
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(4),
        };
        let cell = cell(timing);
        let source = Source::default();
        source.down.store(true, Ordering::SeqCst);
        assert_eq!(
            cell.get(|| source.fetch(LIFE)).await,
            Err(TestError::Down(1))
        );
        // Within the delay: the same failure, no fetch.
        for _ in 0..100 {
            assert_eq!(
                cell.get(|| source.fetch(LIFE)).await,
                Err(TestError::Down(1))
            );
        }
        assert_eq!(source.calls(), 1);

        // 1 s, then 2 s, then 4 s, then 4 s (the cap) between attempts.
        let mut expected = 1;
        for delay_s in [1, 2, 4, 4] {
            tokio::time::advance(Duration::from_millis(delay_s * 1_000 - 10)).await;
            let _ = cell.get(|| source.fetch(LIFE)).await;
            assert_eq!(source.calls(), expected, "not before {delay_s} s");
            tokio::time::advance(Duration::from_millis(10)).await;
            expected += 1;
            assert_eq!(
                cell.get(|| source.fetch(LIFE)).await,
                Err(TestError::Down(expected))
            );
        }

        // Back up: the next attempt succeeds and the delay is gone.
        source.down.store(false, Ordering::SeqCst);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(cell.get(|| source.fetch(LIFE)).await, Ok(expected + 1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_gives_up_does_not_cancel_the_fetch() {
        let cell = cell(Timing::default());
        let source = Source::default();
        let impatient = {
            let (cell, source) = (cell.clone(), source.clone());
            tokio::spawn(async move { cell.get(|| source.fetch(LIFE)).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        impatient.abort();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(cell.current(), Some(1));
        assert_eq!(cell.get(|| source.fetch(LIFE)).await, Ok(1));
        assert_eq!(source.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_forgotten_value_is_fetched_again() {
        let cell = cell(Timing::default());
        let source = Source::default();
        assert_eq!(cell.get(|| source.fetch(LIFE)).await, Ok(1));
        cell.forget();
        assert_eq!(cell.current(), None);
        assert_eq!(cell.get(|| source.fetch(LIFE)).await, Ok(2));
    }

    #[tokio::test(start_paused = true)]
    async fn inline_refreshes_in_the_callers_task_and_serves_the_held_value_when_it_fails() {
        let cell = cell(Timing {
            refresh_ahead: 0.8,
            first_retry: Duration::from_secs(5),
            max_retry: Duration::from_secs(5),
        });
        let source = Source::default();
        assert_eq!(cell.get_inline(source.fetch(LIFE)).await, Ok(1));
        tokio::time::advance(Duration::from_secs(80)).await;
        // At the refresh point the caller fetches and gets the new value.
        assert_eq!(cell.get_inline(source.fetch(LIFE)).await, Ok(2));

        tokio::time::advance(Duration::from_secs(81)).await;
        source.down.store(true, Ordering::SeqCst);
        // The refresh fails: the held value, unexpired, is served...
        assert_eq!(cell.get_inline(source.fetch(LIFE)).await, Ok(2));
        // ...and within the delay nobody fetches again.
        for _ in 0..10 {
            assert_eq!(cell.get_inline(source.fetch(LIFE)).await, Ok(2));
        }
        assert_eq!(source.calls(), 3);
        // Once the held value expired, the failure is the answer.
        tokio::time::advance(Duration::from_secs(20)).await;
        assert_eq!(
            cell.get_inline(source.fetch(LIFE)).await,
            Err(TestError::Down(4))
        );
        assert_eq!(
            cell.get_inline(source.fetch(LIFE)).await,
            Err(TestError::Down(4))
        );
        assert_eq!(source.calls(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_lifetime_keeps_nothing() {
        let cell = cell(Timing::default());
        let source = Source::default();
        assert_eq!(cell.get_inline(source.fetch(Duration::ZERO)).await, Ok(1));
        assert_eq!(cell.get_inline(source.fetch(Duration::ZERO)).await, Ok(2));
    }
}
