//! Remembering verified access tokens, so that a client reusing its token for minutes pays
//! for one signature verification per request (its proof's) instead of two.
//!
//! A hit is keyed by the SHA-256 of the whole token string, so only the exact token that
//! verified is served from the cache; every hit re-checks `exp` and `nbf` at the request's
//! `now`, and no entry outlives `min(exp, inserted + max_ttl)`. What a cached answer cannot
//! see is a change on the issuer's side within that time (a key withdrawn from the JWKS):
//! `max_ttl_s` bounds that window. Only successes are cached — failures are not, so junk
//! tokens cannot fill it — and the cache is bounded in entries (oldest evicted first).

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use crate::digest_map::DigestMap;

use super::claims::AccessToken;
use super::{PresentedToken, TokenFuture, TokenVerifier};

const SHARDS: usize = 16;

/// A [`TokenVerifier`] that answers repeated tokens from memory.
///
/// ```
/// use mcp_warden::token::{CachingVerifier, JwtVerifier};
///
/// let verifier = CachingVerifier::new(JwtVerifier::builder("https://mcp.example.com/mcp").build())
///     .max_entries(50_000)
///     .max_ttl_s(300);
/// # let _ = verifier;
/// ```
pub struct CachingVerifier {
    inner: Arc<dyn TokenVerifier>,
    shards: Arc<[Mutex<Shard>]>,
    max_entries: usize,
    max_ttl_s: u64,
    leeway_s: u64,
}

impl std::fmt::Debug for CachingVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingVerifier")
            .field("entries", &self.len())
            .field("max_entries", &self.max_entries)
            .field("max_ttl_s", &self.max_ttl_s)
            .finish_non_exhaustive()
    }
}

/// The SHA-256 of a token: the only form in which a token is kept.
#[derive(Clone, Copy, PartialEq, Eq)]
struct TokenDigest([u8; 32]);

impl Hash for TokenDigest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // A SHA-256 output is uniform: 8 of its bytes make a fine table hash.
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        state.write_u64(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
    }
}

#[derive(Default)]
struct Shard {
    map: DigestMap<TokenDigest, (AccessToken, u64)>,
    order: VecDeque<TokenDigest>,
}

impl CachingVerifier {
    /// Default bound on cached tokens.
    pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
    /// Default longest time a verification is reused, in seconds.
    pub const DEFAULT_MAX_TTL_S: u64 = 300;

    /// Caches the successes of `inner`.
    pub fn new(inner: impl TokenVerifier) -> Self {
        Self::from_arc(Arc::new(inner))
    }

    /// [`CachingVerifier::new`] with a shared verifier.
    pub fn from_arc(inner: Arc<dyn TokenVerifier>) -> Self {
        CachingVerifier {
            inner,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            max_ttl_s: Self::DEFAULT_MAX_TTL_S,
            leeway_s: 0,
        }
    }

    /// The most tokens kept (spread over shards; the oldest go first).
    pub fn max_entries(mut self, entries: usize) -> Self {
        self.max_entries = entries;
        self
    }

    /// The longest a verification is reused, in seconds, whatever the token's `exp`.
    pub fn max_ttl_s(mut self, seconds: u64) -> Self {
        self.max_ttl_s = seconds;
        self
    }

    /// The leeway the inner verifier applies to `exp`/`nbf`, so hits judge the same way.
    pub fn leeway_s(mut self, seconds: u64) -> Self {
        self.leeway_s = seconds;
        self
    }

    /// Tokens cached now (including not yet purged expired ones).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).map.len()).sum()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, key: &TokenDigest) -> &Mutex<Shard> {
        // Byte 8 picks the shard so it does not correlate with the bucket (bytes 0..8).
        &self.shards[usize::from(key.0[8]) % self.shards.len()]
    }

    fn lookup(&self, key: &TokenDigest, now: u64) -> Option<AccessToken> {
        let shard = lock(self.shard(key));
        let (token, until) = shard.map.get(key)?;
        (now < *until && token.is_current(now, self.leeway_s).is_ok()).then(|| token.clone())
    }

    fn remember(&self, key: TokenDigest, token: &AccessToken, now: u64) {
        let until = token
            .expires_at()
            .saturating_add(self.leeway_s)
            .min(now.saturating_add(self.max_ttl_s));
        let per_shard = (self.max_entries / SHARDS).max(1);
        let mut shard = lock(self.shard(&key));
        if shard.map.insert(key, (token.clone(), until)).is_none() {
            shard.order.push_back(key);
        }
        while shard.map.len() > per_shard {
            let Some(oldest) = shard.order.pop_front() else {
                break;
            };
            shard.map.remove(&oldest);
        }
        // Keep the order queue from growing with keys already evicted or replaced.
        if shard.order.len() > 2 * per_shard {
            let Shard { map, order } = &mut *shard;
            order.retain(|key| map.contains_key(key));
        }
    }
}

/// A panic while holding a shard cannot leave it inconsistent in a way that matters
/// (worst case an entry is missing and the token is verified again).
fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl TokenVerifier for CachingVerifier {
    fn verify<'a>(&'a self, token: &'a str, now: u64) -> TokenFuture<'a> {
        self.verify_presented(PresentedToken::new(token), now)
    }

    fn verify_presented<'a>(&'a self, token: PresentedToken<'a>, now: u64) -> TokenFuture<'a> {
        let key = TokenDigest(*token.sha256());
        if let Some(hit) = self.lookup(&key, now) {
            return Box::pin(std::future::ready(Ok(hit)));
        }
        Box::pin(async move {
            let verified = self.inner.verify_presented(token, now).await?;
            self.remember(key, &verified, now);
            Ok(verified)
        })
    }
}

#[cfg(test)]
mod tests;
