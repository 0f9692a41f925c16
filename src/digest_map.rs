//! Hash maps keyed by digests (crate-private): the DPoP replay store (keys are truncated
//! SHA-256 of (jkt, `jti`)) and the verified-token cache (keys are SHA-256 of the token)
//! both index tables by bytes that are already uniformly distributed, so they skip
//! re-hashing them.
//!
//! Below `dpop` and `token`, so neither has to import the other for it.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A [`HashMap`] whose keys hash through [`SlotHasher`].
pub(crate) type DigestMap<K, V> = HashMap<K, V, BuildHasherDefault<SlotHasher>>;

/// Identity hasher for keys that are digests.
///
/// The key is already a (possibly truncated) SHA-256 output: its bytes are uniform and an
/// attacker cannot steer them without a preimage, so re-hashing (SipHash's flood
/// resistance) buys nothing. A key's `Hash` impl writes bytes 0..8 with one `write_u64`,
/// and callers that shard pick the shard from another byte (8) so that shard choice does
/// not correlate with bucket choice within a shard.
#[derive(Default)]
pub(crate) struct SlotHasher(u64);

impl Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
    // Unused while the keys' `hash` calls `write_u64`; kept a real (if weak) hash.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::hash::Hasher;

    use super::SlotHasher;

    #[test]
    fn a_u64_write_is_the_hash_and_bytes_still_mix() {
        let mut hasher = SlotHasher::default();
        hasher.write_u64(0x0123_4567_89ab_cdef);
        assert_eq!(hasher.finish(), 0x0123_4567_89ab_cdef);
        let mut a = SlotHasher::default();
        a.write(b"ab");
        let mut b = SlotHasher::default();
        b.write(b"ba");
        assert_ne!(a.finish(), b.finish());
    }
}
