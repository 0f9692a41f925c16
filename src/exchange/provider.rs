//! Access tokens on demand: the workload's token read from its source, exchanged at the
//! token endpoint, and kept until shortly before it expires — one cache entry per audience
//! (resource and scopes), since a token for one resource must never be sent to another.
//!
//! A token is kept until `min(expires_in, the workload token's exp) − margin`: an
//! authorization server may not cut the token's life to the workload token's, and a token
//! outliving the identity it came from would outlive a revoked workload too. It is refreshed
//! in the background at 80 % of that; a burst of callers with nothing cached makes one token
//! request; a failing token endpoint is asked again only after a doubling delay.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::refresh::{Fetched, Refreshing, Timing};
use crate::secret::Secret;
use crate::workload::TokenSource;

use super::client::{AccessToken, ExchangeError, TokenClient};
use super::grant::{Audience, Grant};

/// Cached tokens live at most this long when the server gives no `expires_in` (RFC 6749
/// §5.1 lets it omit the member; a client must then assume a short life).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// The most audiences cached at once; an agent calls a handful of servers.
const MAX_AUDIENCES: usize = 256;

/// Tokens for a workload, from one token endpoint, with one grant.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

struct Inner {
    client: TokenClient,
    grant: Grant,
    source: Option<Arc<dyn TokenSource>>,
    actor: Option<Secret>,
    margin: Duration,
    timing: Timing,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<Audience, Refreshing<AccessToken, ExchangeError>>>,
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenProvider")
            .field("client", &self.inner.client)
            .field("grant", &self.inner.grant.name())
            .field(
                "source",
                &self.inner.source.as_ref().map(|s| s.name().to_owned()),
            )
            .finish_non_exhaustive()
    }
}

/// Builds a [`TokenProvider`].
pub struct TokenProviderBuilder {
    client: TokenClient,
    grant: Grant,
    source: Option<Arc<dyn TokenSource>>,
    actor: Option<Secret>,
    margin: Duration,
    timing: Timing,
    clock: Arc<dyn Clock>,
}

impl TokenProvider {
    /// Tokens from `client` by `grant`.
    pub fn builder(client: TokenClient, grant: Grant) -> TokenProviderBuilder {
        TokenProviderBuilder {
            client,
            grant,
            source: None,
            actor: None,
            margin: Duration::from_secs(30),
            timing: Timing::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// A token for `audience`: the cached one while it is good, else one token request
    /// shared with every concurrent caller.
    pub async fn token(&self, audience: &Audience) -> Result<AccessToken, ExchangeError> {
        let cell = self.cell(audience);
        let inner = Arc::clone(&self.inner);
        let audience = audience.clone();
        cell.get(move || async move { inner.fetch(&audience).await })
            .await
    }

    /// Drops the cached token for `audience` (the server refused it), so the next call asks
    /// for a new one.
    pub fn forget(&self, audience: &Audience) {
        if let Some(cell) = self.cache().get(audience) {
            cell.forget();
        }
    }

    /// Token requests made so far, over every audience.
    pub fn requests(&self) -> u64 {
        self.cache().values().map(Refreshing::fetches).sum()
    }

    fn cell(&self, audience: &Audience) -> Refreshing<AccessToken, ExchangeError> {
        let mut cache = self.cache();
        if let Some(cell) = cache.get(audience) {
            return cell.clone();
        }
        if cache.len() >= MAX_AUDIENCES {
            cache.clear();
        }
        let cell = Refreshing::new(self.inner.timing, Arc::clone(&self.inner.clock));
        cache.insert(audience.clone(), cell.clone());
        cell
    }

    fn cache(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Audience, Refreshing<AccessToken, ExchangeError>>> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    async fn fetch(&self, audience: &Audience) -> Result<Fetched<AccessToken>, ExchangeError> {
        let workload = match &self.source {
            Some(source) => Some(
                source
                    .fetch()
                    .await
                    .map_err(|error| ExchangeError::Workload(error.to_string()))?,
            ),
            None if self.grant.needs_workload_token() => {
                return Err(ExchangeError::Workload(format!(
                    "the {} grant needs a workload token source",
                    self.grant.name()
                )));
            }
            None => None,
        };
        let now = self.clock.now();
        let token = self
            .client
            .request(
                &self.grant,
                workload.as_ref().map(|w| w.secret()),
                self.actor.as_ref(),
                audience,
                now,
            )
            .await?;
        let mut lifetime = token.expires_in.unwrap_or(DEFAULT_LIFETIME);
        if let Some(exp) = workload.as_ref().and_then(|w| w.expires_at()) {
            lifetime = lifetime.min(Duration::from_secs(exp.saturating_sub(now)));
        }
        let lifetime = lifetime.saturating_sub(self.margin.min(lifetime / 2));
        Ok(Fetched::new(token, lifetime))
    }
}

impl TokenProviderBuilder {
    /// Where the workload token comes from (every grant but plain `client_credentials`).
    pub fn source(mut self, source: Arc<dyn TokenSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// An actor token sent with token exchange (RFC 8693 §2.1 `actor_token`).
    pub fn actor_token(mut self, token: Secret) -> Self {
        self.actor = Some(token);
        self
    }

    /// How long before expiry a token is no longer handed out (default 30 s, at most half
    /// the token's lifetime).
    pub fn margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The delay after a failed token request before the next (default 0.5 s, doubling
    /// up to `max`, default 30 s).
    pub fn retry(mut self, first: Duration, max: Duration) -> Self {
        self.timing.first_retry = first;
        self.timing.max_retry = max.max(first);
        self
    }

    /// The clock `iat`s and the workload token's expiry are read against.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The provider.
    pub fn build(self) -> TokenProvider {
        TokenProvider {
            inner: Arc::new(Inner {
                client: self.client,
                grant: self.grant,
                source: self.source,
                actor: self.actor,
                margin: self.margin,
                timing: self.timing,
                clock: self.clock,
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }
}
