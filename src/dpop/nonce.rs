//! Server-provided nonces for DPoP proofs (RFC 9449 §8 and §9).
//!
//! Owns issuing the values sent in `DPoP-Nonce` headers and checking the
//! `nonce` claim of later proofs: §8 (resource server) and §9 (authorization
//! server) use the same mechanism. Times are Unix seconds from the caller.
//!
//! # Wire format of [`StatelessNonces`]
//!
//! base64url without padding (39 characters, all within §8's `NQCHAR`) of:
//!
//! | bytes  | field     | contents                                            |
//! |--------|-----------|-----------------------------------------------------|
//! | 0      | version   | `1`                                                 |
//! | 1..5   | key id    | first 4 bytes of SHA-256 of the key, so the checker |
//! |        |           | picks current or previous key without trying both   |
//! | 5..13  | issued at | Unix seconds, big-endian `u64`                      |
//! | 13..29 | tag       | HMAC-SHA256 over bytes 0..13, truncated to 16 bytes |

use std::fmt;

use aws_lc_rs::{constant_time, digest, hmac, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const TAG_LEN: usize = 16;
const SEALED_LEN: usize = 1 + KEY_ID_LEN + 8;
const RAW_LEN: usize = SEALED_LEN + TAG_LEN;
/// base64url-no-pad length of [`RAW_LEN`] bytes.
const ENCODED_LEN: usize = (RAW_LEN * 4).div_ceil(3);

/// Why a presented nonce was refused. Carries no nonce data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceError {
    /// Not something this server issued (bad length, encoding or version).
    #[error("nonce is malformed")]
    Malformed,
    /// Sealed under a key that is neither current nor previous.
    #[error("nonce was sealed under an unknown key")]
    UnknownKey,
    /// The MAC does not verify.
    #[error("nonce seal does not verify")]
    BadSeal,
    /// Older than the configured lifetime.
    #[error("nonce expired (issued at {issued_at}, now {now})")]
    Expired {
        /// When the nonce was issued (Unix seconds).
        issued_at: u64,
        /// The checking time (Unix seconds).
        now: u64,
    },
    /// Issued further ahead than [`StatelessNonces::MAX_CLOCK_SKEW_S`] allows.
    #[error("nonce issued in the future (issued at {issued_at}, now {now})")]
    FromFuture {
        /// When the nonce claims to have been issued (Unix seconds).
        issued_at: u64,
        /// The checking time (Unix seconds).
        now: u64,
    },
    /// Not the one value a fixed nonce source accepts (the test double
    /// `testing::FixedNonce`).
    #[error("nonce does not match")]
    Mismatch,
}

/// Why a nonce key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceKeyError {
    /// Shorter than [`StatelessNonces::MIN_KEY_LEN`] bytes.
    #[error("nonce key is {len} bytes; at least {min} required")]
    TooShort {
        /// Length given.
        len: usize,
        /// Minimum accepted.
        min: usize,
    },
    /// The previous key has the same key id as the current one: it is the
    /// same key, or (1 in 2^32) a different key that would be indistinguishable.
    #[error("previous nonce key has the same key id as the current key")]
    KeyIdCollision,
}

/// Issues and checks `DPoP-Nonce` values (RFC 9449 §8, §9).
pub trait NonceSource: Send + Sync + 'static {
    /// A nonce to send in a `DPoP-Nonce` header at time `now`.
    fn issue(&self, now: u64) -> String;
    /// Accepts a nonce presented in a proof at time `now`.
    fn check(&self, nonce: &str, now: u64) -> Result<(), NonceError>;
}

/// An HMAC key and its public id. Raw key bytes are not kept: the AWS-LC
/// HMAC context is cleansed on drop, and `generate`'s buffer is [`Zeroizing`].
struct SealKey {
    id: [u8; KEY_ID_LEN],
    key: hmac::Key,
}

impl SealKey {
    fn new(key: &[u8]) -> Result<Self, NonceKeyError> {
        let min = StatelessNonces::MIN_KEY_LEN;
        if key.len() < min {
            return Err(NonceKeyError::TooShort {
                len: key.len(),
                min,
            });
        }
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest::digest(&digest::SHA256, key).as_ref()[..KEY_ID_LEN]);
        let key = hmac::Key::new(hmac::HMAC_SHA256, key);
        Ok(Self { id, key })
    }

    fn tag(&self, sealed: &[u8; SEALED_LEN]) -> [u8; TAG_LEN] {
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&hmac::sign(&self.key, sealed).as_ref()[..TAG_LEN]);
        tag
    }
}

impl fmt::Debug for SealKey {
    // The id is public (it is in every nonce); it helps diagnose rotation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted] (id {:08x})", u32::from_be_bytes(self.id))
    }
}

/// Stateless nonces: a timestamp sealed with HMAC-SHA256 under a shared key, so any replica holding the key checks any nonce without shared state.
///
/// A nonce is accepted while `issued_at <= now + MAX_CLOCK_SKEW_S` and
/// `now - issued_at < lifetime`. Nonces are not single-use: §8 leaves their
/// validity to the server, and proof replay is caught by `jti` (§11.1).
///
/// ```
/// use mcp_warden::dpop::{NonceSource, StatelessNonces};
/// // In production: at least 32 random bytes, shared by every replica.
/// let nonces = StatelessNonces::new(&[7u8; 32])?.with_lifetime_s(120);
/// let nonce = nonces.issue(1_700_000_000);
/// assert!(nonces.check(&nonce, 1_700_000_030).is_ok());
/// assert!(nonces.check(&nonce, 1_700_000_120).is_err());
/// # Ok::<(), mcp_warden::dpop::NonceKeyError>(())
/// ```
#[derive(Debug)]
pub struct StatelessNonces {
    current: SealKey,
    previous: Option<SealKey>,
    lifetime_s: u64,
}

impl StatelessNonces {
    /// Default nonce lifetime in seconds.
    pub const DEFAULT_LIFETIME_S: u64 = 300;
    /// Minimum key length in bytes (the HMAC-SHA256 output size).
    pub const MIN_KEY_LEN: usize = 32;
    /// Seconds a nonce may claim to be from the future: one replica issues,
    /// another checks, and their clocks differ slightly.
    pub const MAX_CLOCK_SKEW_S: u64 = 5;

    /// Nonces sealed under `key`, which every replica must share.
    pub fn new(key: &[u8]) -> Result<Self, NonceKeyError> {
        Ok(Self {
            current: SealKey::new(key)?,
            previous: None,
            lifetime_s: Self::DEFAULT_LIFETIME_S,
        })
    }

    /// Also accepts nonces sealed under `key`, for rotation: nonces issued
    /// before the switch stay valid until they expire. New nonces are always
    /// sealed under the current key. Across replicas, rotate in two deploys:
    /// first add the new key as previous everywhere, then swap the two.
    pub fn with_previous_key(mut self, key: &[u8]) -> Result<Self, NonceKeyError> {
        let previous = SealKey::new(key)?;
        if previous.id == self.current.id {
            return Err(NonceKeyError::KeyIdCollision);
        }
        self.previous = Some(previous);
        Ok(self)
    }

    /// Sets how long a nonce stays valid. Clamped to at least one second, as
    /// zero would refuse every nonce, including one just issued.
    pub fn with_lifetime_s(mut self, seconds: u64) -> Self {
        self.lifetime_s = seconds.max(1);
        self
    }

    /// A fresh random 32-byte key. Only suitable for a single replica: other
    /// replicas cannot check its nonces.
    #[allow(clippy::expect_used)]
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; Self::MIN_KEY_LEN]);
        // AWS-LC's RAND_bytes aborts rather than return failure, so this
        // cannot fail in practice; a server without randomness must not run.
        rand::fill(key.as_mut()).expect("system randomness unavailable");
        // The key is exactly MIN_KEY_LEN bytes, the only refusal `new` has.
        Self::new(key.as_ref()).expect("generated key has the minimum length")
    }

    fn key_for(&self, id: &[u8]) -> Option<&SealKey> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|k| k.id == id)
    }
}

impl NonceSource for StatelessNonces {
    fn issue(&self, now: u64) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[0] = VERSION;
        raw[1..1 + KEY_ID_LEN].copy_from_slice(&self.current.id);
        raw[1 + KEY_ID_LEN..SEALED_LEN].copy_from_slice(&now.to_be_bytes());
        let mut sealed = [0u8; SEALED_LEN];
        sealed.copy_from_slice(&raw[..SEALED_LEN]);
        raw[SEALED_LEN..].copy_from_slice(&self.current.tag(&sealed));
        // base64url is a subset of §8's NQCHAR (%x21 / %x23-5B / %x5D-7E).
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn check(&self, nonce: &str, now: u64) -> Result<(), NonceError> {
        // Length first: junk of any size is refused before decoding.
        if nonce.len() != ENCODED_LEN {
            return Err(NonceError::Malformed);
        }
        // Strict base64url: the engine rejects padding and non-canonical
        // trailing bits, so each nonce has exactly one accepted spelling.
        // Room for the decoder's length estimate (30); exactly 29 must come out.
        let mut raw = [0u8; RAW_LEN + 3];
        match URL_SAFE_NO_PAD.decode_slice(nonce, &mut raw) {
            Ok(RAW_LEN) => {}
            _ => return Err(NonceError::Malformed),
        }
        if raw[0] != VERSION {
            return Err(NonceError::Malformed);
        }
        // §8, §9: accept only nonces this server (or a replica) provided.
        let key = self
            .key_for(&raw[1..1 + KEY_ID_LEN])
            .ok_or(NonceError::UnknownKey)?;
        let mut sealed = [0u8; SEALED_LEN];
        sealed.copy_from_slice(&raw[..SEALED_LEN]);
        // Constant time so response timing reveals nothing about the tag.
        constant_time::verify_slices_are_equal(&key.tag(&sealed), &raw[SEALED_LEN..RAW_LEN])
            .map_err(|_| NonceError::BadSeal)?;
        let [_, _, _, _, _, issued_at @ ..] = sealed;
        let issued_at = u64::from_be_bytes(issued_at);
        // §8: the server decides how long its nonces are valid.
        if issued_at > now.saturating_add(Self::MAX_CLOCK_SKEW_S) {
            return Err(NonceError::FromFuture { issued_at, now });
        }
        if now.saturating_sub(issued_at) >= self.lifetime_s {
            return Err(NonceError::Expired { issued_at, now });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::NonceError::*;
    use super::*;

    const T: u64 = 1_700_000_000;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    fn src(key: u8) -> StatelessNonces {
        StatelessNonces::new(&[key; 32]).unwrap()
    }

    fn flip_byte(nonce: &str, byte: usize) -> String {
        let mut raw = URL_SAFE_NO_PAD.decode(nonce).unwrap();
        raw[byte] ^= 1;
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn set_char(nonce: &str, at: usize, c: u8) -> String {
        let mut b = nonce.as_bytes().to_vec();
        b[at] = c;
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn round_trip() {
        let s = src(1);
        let n = s.issue(T);
        assert_eq!((n.len(), ENCODED_LEN), (39, 39));
        assert!(n.bytes().all(|c| ALPHABET.contains(&c)));
        assert_eq!(s.check(&n, T), Ok(()));
    }

    #[test]
    fn expiry_boundary() {
        let s = src(1).with_lifetime_s(60);
        let n = s.issue(T);
        assert_eq!(s.check(&n, T + 59), Ok(()));
        let expired = Expired {
            issued_at: T,
            now: T + 60,
        };
        assert_eq!(s.check(&n, T + 60), Err(expired));
        let d = src(1);
        assert_eq!(d.check(&n, T + 299), Ok(()));
        assert!(
            d.check(&n, T + StatelessNonces::DEFAULT_LIFETIME_S)
                .is_err()
        );
    }

    #[test]
    fn from_future() {
        let s = src(1);
        let skew = StatelessNonces::MAX_CLOCK_SKEW_S;
        assert_eq!(s.check(&s.issue(T + skew), T), Ok(()));
        let future = FromFuture {
            issued_at: T + skew + 1,
            now: T,
        };
        assert_eq!(s.check(&s.issue(T + skew + 1), T), Err(future));
    }

    #[test]
    fn tampered_fields() {
        let (s, n) = (src(1), src(1).issue(T));
        assert_eq!(s.check(&flip_byte(&n, RAW_LEN - 1), T), Err(BadSeal));
        assert_eq!(s.check(&flip_byte(&n, SEALED_LEN - 1), T), Err(BadSeal));
        assert_eq!(s.check(&flip_byte(&n, 1), T), Err(UnknownKey));
        assert_eq!(s.check(&flip_byte(&n, 0), T), Err(Malformed));
    }

    #[test]
    fn wrong_length() {
        let (s, n) = (src(1), src(1).issue(T));
        for bad in [&n[..38], &format!("{n}A"), "", &"A".repeat(1 << 20)] {
            assert_eq!(s.check(bad, T), Err(Malformed));
        }
    }

    #[test]
    fn not_base64url() {
        let (s, n) = (src(1), src(1).issue(T));
        for c in *b"+/=. " {
            assert_eq!(s.check(&set_char(&n, 10, c), T), Err(Malformed));
        }
        // The last character carries 2 unused bits: setting one spells the
        // same bytes differently, and only the canonical spelling is accepted.
        let last = ALPHABET
            .iter()
            .position(|&c| c == n.as_bytes()[38])
            .unwrap();
        assert_eq!(
            s.check(&set_char(&n, 38, ALPHABET[last | 1]), T),
            Err(Malformed)
        );
        // Right byte length, but not ASCII.
        assert_eq!(s.check(&format!("{}é", &n[..37]), T), Err(Malformed));
    }

    #[test]
    fn rotation() {
        let (old, new, other) = ([1u8; 32], [2u8; 32], [3u8; 32]);
        let rotated = StatelessNonces::new(&new)
            .unwrap()
            .with_previous_key(&old)
            .unwrap();
        assert_eq!(rotated.check(&src(1).issue(T), T + 1), Ok(()));
        assert_eq!(rotated.check(&rotated.issue(T), T + 1), Ok(()));
        assert_eq!(rotated.check(&src(3).issue(T), T), Err(UnknownKey));
        // New nonces use the new key, which the old configuration does not know.
        assert_eq!(src(1).check(&rotated.issue(T), T), Err(UnknownKey));
        let same = StatelessNonces::new(&other)
            .unwrap()
            .with_previous_key(&other);
        assert_eq!(same.err(), Some(NonceKeyError::KeyIdCollision));
    }

    #[test]
    fn replicas_with_same_key_agree() {
        let (a, b) = (src(9), src(9));
        assert_eq!(b.check(&a.issue(T), T + 2), Ok(()));
        assert_eq!(a.check(&b.issue(T), T + 2), Ok(()));
        let (g, h) = (StatelessNonces::generate(), StatelessNonces::generate());
        assert_eq!(g.check(&g.issue(T), T), Ok(()));
        assert_eq!(h.check(&g.issue(T), T), Err(UnknownKey));
    }

    #[test]
    fn key_too_short() {
        let short = Some(NonceKeyError::TooShort { len: 31, min: 32 });
        assert_eq!(StatelessNonces::new(&[0u8; 31]).err(), short);
        assert!(src(1).with_previous_key(&[0u8; 8]).is_err());
    }

    #[test]
    fn debug_redacts_key() {
        let shown = format!("{:?}", src(0xAB));
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains("171"), "{shown}");
    }
}
