//! Replay protection for DPoP proofs (RFC 9449 §11.1).
//!
//! Owns which (proof key, `jti`) pairs were seen within the proof acceptance
//! window, so a second proof with the same `jti` is refused. The validator
//! chooses the window and passes it as a time-to-live; times are Unix seconds
//! from the caller's clock, never read here.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest;

use crate::digest_map::DigestMap;

/// A fixed-size digest of (jkt, jti): one client cannot burn another client's `jti`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayKey([u8; 16]);

impl ReplayKey {
    /// Separates these digests from any other SHA-256 use of the same strings.
    const DOMAIN: &'static [u8] = b"mcp-warden/dpop-replay/v1\0";

    /// SHA-256 over an unambiguous encoding of both (the `jkt` is length
    /// prefixed), truncated to 128 bits: collisions (a false `Replay`) stay
    /// negligible at any store size, at half the memory of a full digest.
    pub fn new(jkt: &str, jti: &str) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(Self::DOMAIN);
        ctx.update(&(jkt.len() as u64).to_be_bytes());
        ctx.update(jkt.as_bytes());
        ctx.update(jti.as_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&ctx.finish().as_ref()[..16]);
        Self(out)
    }

    /// The 16 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for ReplayKey {
    // Hex of the digest only: logs must never carry the jti or thumbprint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplayKey(")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// Whether the key was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Not recorded (or its record had expired); it is now recorded.
    First,
    /// Recorded and unexpired: the proof is a replay (RFC 9449 §11.1).
    Replay,
}

/// Why a replay store could not answer. Either way the proof must be refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayStoreError {
    /// The store is at capacity with unexpired entries; failing closed (evicting a live entry would re-open a replay window).
    #[error("replay store full ({capacity} entries); refusing rather than evicting a live entry")]
    Full {
        /// The store's configured total capacity.
        capacity: usize,
    },
    /// A backing service (e.g. Redis, later) could not answer.
    #[error("replay store unavailable: {reason}")]
    Unavailable {
        /// What went wrong; never contains token data.
        reason: String,
    },
}

/// The future returned by [`ReplayStore::check_and_record`].
pub type ReplayFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Seen, ReplayStoreError>> + Send + 'a>>;

/// Atomic insert-if-absent with a time-to-live. Implemented in memory here, on Redis (SET NX PX) later.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` until `now + ttl_s` unless it is already recorded and unexpired.
    ///
    /// Returns [`Seen::First`] exactly once per key per window, even under
    /// concurrent calls. An entry is live while `now < now_at_insert + ttl_s`.
    fn check_and_record(&self, key: ReplayKey, now: u64, ttl_s: u64) -> ReplayFuture<'_>;
}

/// Map key inside a shard. Hashes to bytes 0..8 of the digest, which the map uses as is
/// (see `digest_map::SlotHasher`); the shard is chosen by byte 8.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Slot([u8; 16]);

impl Hash for Slot {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        state.write_u64(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
    }
}

struct Shard {
    /// Slot -> expiry (Unix seconds, exclusive).
    map: DigestMap<Slot, u64>,
    /// Insertion order, for purging from the front. Stale entries (a key
    /// re-recorded after expiry) are skipped as their expiry no longer
    /// matches. Every map entry has a matching queue entry, so bounding the
    /// queue bounds both.
    queue: VecDeque<(Slot, u64)>,
    capacity: usize,
    last_compaction: Option<u64>,
}

impl Shard {
    fn check_and_record(&mut self, slot: Slot, now: u64, expiry: u64) -> Option<Seen> {
        self.purge_front(now);
        // §11.1: a jti already recorded within the window is a replay.
        if self.map.get(&slot).is_some_and(|&e| now < e) {
            return Some(Seen::Replay);
        }
        if self.queue.len() >= self.capacity {
            self.compact(now);
            if self.queue.len() >= self.capacity {
                return None;
            }
        }
        // Queue first: if anything here ever panicked in between, a queue
        // entry without a map entry is harmless; the reverse would linger.
        self.queue.push_back((slot, expiry));
        self.map.insert(slot, expiry);
        Some(Seen::First)
    }

    /// Amortized O(1): each queued entry is popped once. A long TTL in front
    /// may delay purging shorter ones behind it; that costs memory, never
    /// correctness, since lookups compare expiry themselves.
    fn purge_front(&mut self, now: u64) {
        while let Some(&(slot, expiry)) = self.queue.front() {
            if now < expiry {
                break;
            }
            self.queue.pop_front();
            if self.map.get(&slot) == Some(&expiry) {
                self.map.remove(&slot);
            }
        }
    }

    /// Full sweep, used only when the shard looks full, in case mixed TTLs
    /// left expired entries behind a live one. At most once per distinct
    /// `now`, so a flood against a genuinely full shard costs O(1) per call.
    fn compact(&mut self, now: u64) {
        if self.last_compaction == Some(now) {
            return;
        }
        self.last_compaction = Some(now);
        self.map.retain(|_, e| now < *e);
        let map = &self.map;
        self.queue
            .retain(|(s, e)| now < *e && map.get(s) == Some(e));
    }
}

/// Bounded in-memory [`ReplayStore`] for a single replica.
///
/// Sharded (16 mutexes for large capacities, one for small ones) so requests
/// rarely contend; no lock is held across an `.await`. A shard full of live
/// entries returns [`ReplayStoreError::Full`] rather than evict, which would
/// re-open a replay window. Capacity is split evenly across shards, so with
/// 16 shards `Full` can come about 1% before `len()` reaches `capacity()`.
/// An entry recorded at `t` with `ttl_s` is live while `now < t + ttl_s`.
///
/// Memory: 49 bytes of payload per entry (24-byte map slot, 1 control byte,
/// 24-byte queue entry); power-of-two table growth puts the allocation at
/// 49 to 100 bytes. Measured: a full default store (1,000,000 entries) takes
/// 77.6 MB and stays there under steady churn (tables run about half full,
/// so deletions do not pile up tombstones that would force a resize).
///
/// ```
/// use mcp_warden::dpop::{InMemoryReplayStore, ReplayKey, ReplayStore, Seen};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = InMemoryReplayStore::new();
/// let key = ReplayKey::new("jkt-thumbprint", "jti-1");
/// assert_eq!(store.check_and_record(key, 1_000, 60).await, Ok(Seen::First));
/// assert_eq!(store.check_and_record(key, 1_030, 60).await, Ok(Seen::Replay));
/// assert_eq!(store.check_and_record(key, 1_060, 60).await, Ok(Seen::First));
/// # }
/// ```
pub struct InMemoryReplayStore {
    shards: Box<[Mutex<Shard>]>,
    capacity: usize,
}

impl InMemoryReplayStore {
    /// Default maximum number of entries.
    pub const DEFAULT_CAPACITY: usize = 1_000_000;
    const SHARDS: usize = 16;
    /// Below this many entries per shard, a single shard is used so the
    /// capacity bound is exact (small stores, tests).
    const MIN_SHARD_CAPACITY: usize = 4096;

    /// A store holding up to [`Self::DEFAULT_CAPACITY`] entries.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A store holding up to `max_entries` entries. Memory is allocated as
    /// entries arrive, not up front.
    pub fn with_capacity(max_entries: usize) -> Self {
        let n = if max_entries >= Self::SHARDS * Self::MIN_SHARD_CAPACITY {
            Self::SHARDS
        } else {
            1
        };
        let (base, extra) = (max_entries / n, max_entries % n);
        let shards = (0..n)
            .map(|i| {
                Mutex::new(Shard {
                    map: DigestMap::default(),
                    queue: VecDeque::new(),
                    capacity: base + usize::from(i < extra),
                    last_compaction: None,
                })
            })
            .collect();
        Self {
            shards,
            capacity: max_entries,
        }
    }

    /// Recorded entries: live ones plus expired ones not yet purged.
    pub fn len(&self) -> usize {
        (0..self.shards.len()).map(|i| self.lock(i).map.len()).sum()
    }

    /// Whether [`Self::len`] is zero.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured maximum number of entries.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Recovering from poison is safe: an update is a queue push then a map
    /// insert, and either half alone is tolerated. Propagating it would turn
    /// one panic into a permanent outage for every key in the shard.
    fn lock(&self, i: usize) -> std::sync::MutexGuard<'_, Shard> {
        self.shards[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, key: ReplayKey, now: u64, ttl_s: u64) -> Result<Seen, ReplayStoreError> {
        // Shard count is 1 or 16, so the mask is exact.
        let shard = usize::from(key.0[8]) & (self.shards.len() - 1);
        self.lock(shard)
            .check_and_record(Slot(key.0), now, now.saturating_add(ttl_s))
            .ok_or(ReplayStoreError::Full {
                capacity: self.capacity,
            })
    }
}

impl Default for InMemoryReplayStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for InMemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cap = self.capacity;
        write!(f, "InMemoryReplayStore {{ capacity: {cap}, .. }}")
    }
}

impl ReplayStore for InMemoryReplayStore {
    fn check_and_record(&self, key: ReplayKey, now: u64, ttl_s: u64) -> ReplayFuture<'_> {
        Box::pin(std::future::ready(self.record(key, now, ttl_s)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Seen::{First, Replay};
    use super::*;
    use std::sync::Arc;

    fn key(i: u64) -> ReplayKey {
        ReplayKey::new("jkt", &i.to_string())
    }

    /// Synchronous shorthand; the trait's future is exercised separately.
    fn rec(s: &InMemoryReplayStore, i: u64, now: u64, ttl: u64) -> Result<Seen, ReplayStoreError> {
        s.record(key(i), now, ttl)
    }

    #[tokio::test]
    async fn first_then_replay_per_jkt() {
        let s = InMemoryReplayStore::new();
        let (a, b) = (ReplayKey::new("jkt-a", "j"), ReplayKey::new("jkt-b", "j"));
        assert_eq!(s.check_and_record(a, 100, 60).await, Ok(First));
        assert_eq!(s.check_and_record(a, 101, 60).await, Ok(Replay));
        // Same jti under another key is independent.
        assert_eq!(s.check_and_record(b, 101, 60).await, Ok(First));
    }

    #[test]
    fn replay_key_is_unambiguous_and_debug_is_hex() {
        assert_ne!(ReplayKey::new("ab", "c"), ReplayKey::new("a", "bc"));
        assert_ne!(ReplayKey::new("", "abc"), ReplayKey::new("abc", ""));
        assert_eq!(ReplayKey::new("a", "b"), ReplayKey::new("a", "b"));
        let shown = format!("{:?}", ReplayKey::new("secret-jkt", "secret-jti"));
        assert!(!shown.contains("secret"));
        assert_eq!(shown.len(), "ReplayKey()".len() + 32);
    }

    #[test]
    fn expiry_boundary_and_mixed_ttls() {
        let s = InMemoryReplayStore::new();
        assert_eq!(rec(&s, 1, 100, 60), Ok(First));
        assert_eq!(rec(&s, 1, 159, 60), Ok(Replay));
        // Live while now < 160: at 160 the record has expired.
        assert_eq!(rec(&s, 1, 160, 60), Ok(First));
        assert_eq!(rec(&s, 1, 219, 60), Ok(Replay));
        assert_eq!(rec(&s, 3, 219, 1000), Ok(First));
        assert_eq!(rec(&s, 2, 219, 10), Ok(First));
        // Key 2 has expired though it sits behind key 1 in the queue.
        assert_eq!(rec(&s, 2, 229, 10), Ok(First));
        assert_eq!(rec(&s, 2, 230, 10), Ok(Replay));
    }

    #[test]
    fn full_fails_closed_then_recovers() {
        let s = InMemoryReplayStore::with_capacity(3);
        for i in 0..3 {
            assert_eq!(rec(&s, i, 100, 60), Ok(First));
        }
        assert_eq!(
            rec(&s, 9, 120, 60),
            Err(ReplayStoreError::Full { capacity: 3 })
        );
        // Still a replay, not Full: a live entry is never evicted.
        assert_eq!(rec(&s, 0, 120, 60), Ok(Replay));
        assert_eq!(rec(&s, 9, 160, 60), Ok(First));
        assert_eq!(s.len(), 1);
        // Entries expired behind a longer TTL are freed by the sweep.
        assert_eq!(rec(&s, 10, 160, 10), Ok(First));
        assert_eq!(rec(&s, 11, 160, 10), Ok(First));
        assert_eq!(rec(&s, 12, 170, 10), Ok(First));
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn len_accounting_over_200k() {
        let s = InMemoryReplayStore::with_capacity(250_000);
        assert!(s.is_empty());
        assert_eq!(s.capacity(), 250_000);
        for i in (0..200_000).chain([0, 1]) {
            rec(&s, i, 100, 60).unwrap();
        }
        assert_eq!(s.len(), 200_000);
        // A few inserts per shard after expiry purge everything older.
        for i in 200_000..200_400 {
            assert_eq!(rec(&s, i, 160, 60), Ok(First));
        }
        assert_eq!(s.len(), 400);
        assert_eq!(InMemoryReplayStore::default().capacity(), 1_000_000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_same_key_exactly_one_first() {
        let s = Arc::new(InMemoryReplayStore::new());
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let s = Arc::clone(&s);
                tokio::spawn(async move { s.check_and_record(key(42), 100, 60).await })
            })
            .collect();
        let mut firsts = 0;
        for t in tasks {
            firsts += usize::from(t.await.unwrap() == Ok(First));
        }
        assert_eq!(firsts, 1);
    }

    #[test]
    fn poisoned_shard_recovers() {
        let s = Arc::new(InMemoryReplayStore::with_capacity(10));
        let s2 = Arc::clone(&s);
        let _ = std::thread::spawn(move || {
            let _guard = s2.lock(0);
            panic!("poison the shard");
        })
        .join();
        assert_eq!(rec(&s, 1, 100, 60), Ok(First));
    }
}
