//! The cache in front of the sources that cost a request or a process: one token, kept until
//! [`REFRESH_AT_PERCENT`] of its lifetime has passed, refreshed single-flight.
//!
//! Lifetime runs from `iat` (or, without one, from the fetch) to `exp`. A token without
//! `exp` is not kept: nothing says how long it lives. The clock is injected, so tests move
//! time instead of sleeping.
//!
//! Single flight: callers arriving while a refresh runs wait for it, and then take its
//! outcome — its token, or its error — rather than starting another fetch each (a dead
//! metadata server is asked once, not once per waiter); after a failure the source is left
//! alone for a doubling delay (0.5 s up to 30 s). A failed refresh falls back to the cached
//! token while that is still unexpired: the platform being briefly down between 80 % and
//! 100 % of the lifetime costs nothing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::refresh::{Fetched, Refreshing, Timing};

use super::REFRESH_AT_PERCENT;
use super::error::SourceError;
use super::token::WorkloadToken;

/// One cached token: the crate's one refreshing cache ([`crate::refresh`]), with the
/// lifetime and refresh point read from the token.
pub(super) struct TokenCache {
    clock: Arc<dyn Clock>,
    cell: Refreshing<WorkloadToken, SourceError>,
}

impl TokenCache {
    pub(super) fn new(clock: Arc<dyn Clock>) -> Self {
        TokenCache {
            cell: Refreshing::new(Timing::default(), Arc::clone(&clock)),
            clock,
        }
    }

    /// The cached token while fresh; otherwise the outcome of `fetch` (run at most once at
    /// a time across all callers). A failed refresh serves the cached token while it is
    /// unexpired, and a source that failed is asked again only after a delay.
    pub(super) async fn get<F>(&self, fetch: F) -> Result<WorkloadToken, SourceError>
    where
        F: Future<Output = Result<WorkloadToken, SourceError>>,
    {
        let clock = &self.clock;
        self.cell
            .get_inline(async move {
                let token = fetch.await?;
                // `now` after the fetch: it may have taken its whole timeout.
                let now = clock.now();
                let (refresh_at, expires_at) = match (refresh_at(&token, now), token.expires_at()) {
                    (Some(refresh_at), Some(exp)) => (refresh_at, exp),
                    _ => (now, now),
                };
                let from_now = |at: u64| Duration::from_secs(at.saturating_sub(now));
                Ok(Fetched {
                    value: token,
                    lifetime: from_now(expires_at),
                    refresh_after: Some(from_now(refresh_at)),
                })
            })
            .await
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
