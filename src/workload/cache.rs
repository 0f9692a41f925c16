//! The cache in front of the sources that cost a request or a process: one token, kept until
//! [`REFRESH_AT_PERCENT`] of its lifetime has passed, refreshed single-flight.
//!
//! Lifetime runs from `iat` (or, without one, from the fetch) to `exp`. A token without
//! `exp` is not kept: nothing says how long it lives. The clock is injected, so tests move
//! time instead of sleeping.
//!
//! Single flight: the refresh runs under a `tokio::sync::Mutex`, so callers arriving while
//! it runs wait for it, and then take its outcome — its token, or its error — rather than
//! starting another fetch each (a dead metadata server is asked once, not once per waiter).
//! A failed refresh falls back to the cached token while that is still unexpired: the
//! platform being briefly down between 80 % and 100 % of the lifetime costs nothing.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

use crate::clock::Clock;

use super::REFRESH_AT_PERCENT;
use super::error::SourceError;
use super::token::WorkloadToken;

/// One cached token and its refresh bookkeeping.
pub(super) struct TokenCache {
    clock: Arc<dyn Clock>,
    /// Bumped when a fetch ends; read before queueing on the lock, so a caller can tell
    /// that a fetch finished while it waited.
    generation: AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The token to serve, and when to refresh it.
    cached: Option<(WorkloadToken, u64)>,
    /// The last fetch's outcome, shared with the callers that waited for it.
    last: Option<Result<WorkloadToken, SourceError>>,
}

impl TokenCache {
    pub(super) fn new(clock: Arc<dyn Clock>) -> Self {
        TokenCache {
            clock,
            generation: AtomicU64::new(0),
            state: Mutex::new(State::default()),
        }
    }

    /// The cached token while fresh; otherwise the outcome of `fetch` (run at most once at
    /// a time across all callers).
    pub(super) async fn get<F>(&self, fetch: F) -> Result<WorkloadToken, SourceError>
    where
        F: Future<Output = Result<WorkloadToken, SourceError>>,
    {
        let seen = self.generation.load(Ordering::Acquire);
        let mut state = self.state.lock().await;
        let now = self.clock.now();
        if let Some((token, refresh_at)) = &state.cached
            && now < *refresh_at
        {
            return Ok(token.clone());
        }
        if self.generation.load(Ordering::Acquire) != seen
            && let Some(outcome) = state.last.clone()
        {
            // A fetch ended while this caller waited: its outcome is this caller's too.
            return outcome.or_else(|error| state.fallback(error, now));
        }
        let outcome = fetch.await;
        // `now` again: the fetch may have taken its whole timeout.
        let now = self.clock.now();
        state.last = Some(outcome.clone());
        self.generation.fetch_add(1, Ordering::AcqRel);
        match outcome {
            Ok(token) => {
                state.cached = refresh_at(&token, now).map(|at| (token.clone(), at));
                Ok(token)
            }
            Err(error) => state.fallback(error, now),
        }
    }
}

impl State {
    /// After a failed refresh: the cached token while it is unexpired, else the error.
    fn fallback(&self, error: SourceError, now: u64) -> Result<WorkloadToken, SourceError> {
        match &self.cached {
            Some((token, _)) if token.expires_at().is_some_and(|exp| now < exp) => {
                tracing::warn!(source = token.source(), %error, "token refresh failed; serving the unexpired cached token");
                Ok(token.clone())
            }
            _ => Err(error),
        }
    }
}

/// When to refresh `token` fetched at `now`: [`REFRESH_AT_PERCENT`] of the way from `iat`
/// (or `now`) to `exp`; `None` when it has no `exp`, so it is not cached.
fn refresh_at(token: &WorkloadToken, now: u64) -> Option<u64> {
    let exp = token.expires_at()?;
    // An expired token (`now` past `exp`, no `iat`) gets a lifetime of zero: not kept.
    let start = token
        .issued_at()
        .filter(|iat| *iat <= exp)
        .unwrap_or(now)
        .min(exp);
    let lifetime = u128::from(exp - start);
    let elapsed = lifetime * u128::from(REFRESH_AT_PERCENT) / 100;
    // `elapsed` ≤ `exp - start`, so it fits in a u64 and the sum does not pass `exp`.
    Some(start + u64::try_from(elapsed).unwrap_or(exp - start))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::jose::base64url_encode;

    fn token(claims: &str) -> WorkloadToken {
        let jwt = format!(
            "{}.{}.c2ln",
            base64url_encode(br#"{"alg":"ES256"}"#),
            base64url_encode(claims.as_bytes())
        );
        WorkloadToken::parse(jwt.as_bytes(), "t").unwrap()
    }

    #[test]
    fn refresh_is_at_80_percent_from_iat_or_from_the_fetch() {
        assert_eq!(
            refresh_at(&token(r#"{"iat":1000,"exp":2000}"#), 1500),
            Some(1800)
        );
        assert_eq!(refresh_at(&token(r#"{"exp":2000}"#), 1000), Some(1800));
        // An `iat` after `exp` is ignored (fetch time instead).
        assert_eq!(
            refresh_at(&token(r#"{"iat":3000,"exp":2000}"#), 1000),
            Some(1800)
        );
        assert_eq!(refresh_at(&token(r#"{"iat":1000}"#), 1000), None);
        assert_eq!(refresh_at(&token(r#"{"exp":2000}"#), 2500), Some(2000));
        assert_eq!(
            refresh_at(&token(r#"{"iat":0,"exp":18446744073709551615}"#), 0),
            Some(14757395258967641292)
        );
    }
}
