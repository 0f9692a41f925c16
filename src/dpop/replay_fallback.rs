//! Degrading to a per-replica replay store while the shared one is down (RFC 9449 §11.1).
//!
//! Owns the opt-in trade of availability for replay protection. The default is to fail
//! closed: a shared store that cannot answer refuses the proof (503). This wrapper answers
//! from memory instead, so proofs keep being accepted during a Redis outage.
//!
//! **Security trade-off.** While degraded, each replica only knows the proofs it saw
//! itself: a proof replayed to *another* replica is not detected. An attacker who captured a
//! proof (and its token) can use it once per replica until the window closes. Choose this
//! only where that is acceptable, and alert on [`DegradingReplayStore::is_degraded`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::replay::{
    InMemoryReplayStore, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError, Seen,
};

/// A shared [`ReplayStore`] that falls back to memory when the shared one is unavailable.
///
/// Every check is also recorded in memory (write-through), so while degraded a replica
/// still catches replays of proofs it accepted before the outage, and after recovery it
/// still catches replays of proofs it accepted during the outage (which the shared store
/// never saw). A `Replay` from either store wins. Only
/// [`ReplayStoreError::Unavailable`] triggers the fallback; any other error (such as a full
/// store) is passed on. A warning is logged when degrading and a notice on recovery, not per
/// request.
///
/// ```
/// use std::sync::Arc;
/// use mcp_warden::dpop::{
///     DegradingReplayStore, InMemoryReplayStore, ProofValidator, ReplayKey, ReplayStore, Seen,
/// };
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// // In production the primary is the Redis store shared by all replicas.
/// let primary = Arc::new(InMemoryReplayStore::new());
/// let store = Arc::new(DegradingReplayStore::new(primary));
/// let key = ReplayKey::new("jkt", "jti");
/// assert_eq!(store.check_and_record(key, 1_000, 60).await, Ok(Seen::First));
/// assert_eq!(store.check_and_record(key, 1_001, 60).await, Ok(Seen::Replay));
/// assert!(!store.is_degraded());
/// let validator = ProofValidator::builder().replay_store(store).build();
/// # let _ = validator;
/// # }
/// ```
pub struct DegradingReplayStore {
    primary: Arc<dyn ReplayStore>,
    fallback: InMemoryReplayStore,
    degraded: AtomicBool,
    fallbacks: AtomicU64,
}

impl DegradingReplayStore {
    /// Wraps `primary` with a default-sized [`InMemoryReplayStore`] as the fallback.
    pub fn new(primary: Arc<dyn ReplayStore>) -> Self {
        Self::with_fallback(primary, InMemoryReplayStore::new())
    }

    /// Wraps `primary` with the given fallback store.
    pub fn with_fallback(primary: Arc<dyn ReplayStore>, fallback: InMemoryReplayStore) -> Self {
        Self {
            primary,
            fallback,
            degraded: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// Whether the last answer came from memory because the primary was unavailable.
    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    /// How many checks were answered from memory since the store was built.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    async fn record(&self, key: ReplayKey, now: u64, ttl_s: u64) -> Result<Seen, ReplayStoreError> {
        // Memory first: it answers at once, and a replica-local replay needs no network.
        let local = self.fallback.check_and_record(key, now, ttl_s).await;
        match self.primary.check_and_record(key, now, ttl_s).await {
            Ok(shared) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        "replay store: primary answers again; replay checks shared across replicas"
                    );
                }
                // A local `Full` is ignored here: the primary is authoritative.
                Ok(if local == Ok(Seen::Replay) {
                    Seen::Replay
                } else {
                    shared
                })
            }
            Err(ReplayStoreError::Unavailable { reason }) => {
                self.fallbacks.fetch_add(1, Ordering::Relaxed);
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %reason,
                        "replay store: primary unavailable; answering from this replica's memory — replays to other replicas go undetected until it recovers"
                    );
                }
                local
            }
            Err(other) => Err(other),
        }
    }
}

impl std::fmt::Debug for DegradingReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DegradingReplayStore")
            .field("fallback", &self.fallback)
            .field("degraded", &self.is_degraded())
            .field("fallbacks", &self.fallbacks())
            .finish_non_exhaustive()
    }
}

impl ReplayStore for DegradingReplayStore {
    fn check_and_record(&self, key: ReplayKey, now: u64, ttl_s: u64) -> ReplayFuture<'_> {
        Box::pin(self.record(key, now, ttl_s))
    }
}

#[cfg(test)]
mod tests {
    use super::Seen::{First, Replay};
    use super::*;

    /// A primary that can be switched off, backed by memory while on.
    struct Switch {
        up: AtomicBool,
        store: InMemoryReplayStore,
    }

    impl ReplayStore for Switch {
        fn check_and_record(&self, key: ReplayKey, now: u64, ttl_s: u64) -> ReplayFuture<'_> {
            if self.up.load(Ordering::Relaxed) {
                self.store.check_and_record(key, now, ttl_s)
            } else {
                Box::pin(std::future::ready(Err(ReplayStoreError::Unavailable {
                    reason: "down".into(),
                })))
            }
        }
    }

    #[tokio::test]
    async fn degrades_and_recovers_with_write_through() {
        let primary = Arc::new(Switch {
            up: AtomicBool::new(true),
            store: InMemoryReplayStore::new(),
        });
        let store = DegradingReplayStore::new(primary.clone());
        let key = |i: u32| ReplayKey::new("jkt", &i.to_string());
        assert_eq!(store.check_and_record(key(1), 100, 60).await, Ok(First));
        assert!(!store.is_degraded());

        primary.up.store(false, Ordering::Relaxed);
        // Accepted before the outage: still a replay on this replica.
        assert_eq!(store.check_and_record(key(1), 101, 60).await, Ok(Replay));
        assert_eq!(store.check_and_record(key(2), 101, 60).await, Ok(First));
        assert_eq!(store.check_and_record(key(2), 102, 60).await, Ok(Replay));
        assert!(store.is_degraded());
        assert_eq!(store.fallbacks(), 3);

        primary.up.store(true, Ordering::Relaxed);
        // Accepted during the outage, unknown to the primary: still a replay here.
        assert_eq!(store.check_and_record(key(2), 103, 60).await, Ok(Replay));
        assert!(!store.is_degraded());
        assert_eq!(store.check_and_record(key(3), 103, 60).await, Ok(First));
        assert_eq!(store.fallbacks(), 3);
    }

    #[tokio::test]
    async fn other_errors_pass_through_and_local_full_is_ignored() {
        let primary = Arc::new(InMemoryReplayStore::with_capacity(1));
        let store =
            DegradingReplayStore::with_fallback(primary, InMemoryReplayStore::with_capacity(0));
        let first = store
            .check_and_record(ReplayKey::new("a", "1"), 100, 60)
            .await;
        assert_eq!(first, Ok(First));
        let full = store
            .check_and_record(ReplayKey::new("a", "2"), 100, 60)
            .await;
        assert_eq!(full, Err(ReplayStoreError::Full { capacity: 1 }));
        assert_eq!(store.fallbacks(), 0);
    }
}
