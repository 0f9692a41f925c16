//! The refusals of DPoP proof validation, one variant per check of RFC 9449 §4.3.

use crate::jose::{JwkError, JwsError};

use super::htu::HtuError;
use super::nonce::NonceError;
use super::replay::ReplayStoreError;

/// A DPoP proof was refused.
///
/// Context fields hold values safe to log (lengths, times, the method); never the proof,
/// the token, or a nonce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// No `DPoP` field where one is needed (RFC 9449 §4.3 step 1).
    #[error("no DPoP proof")]
    Missing,
    /// More than one `DPoP` field, or one field holding several comma-joined values
    /// (RFC 9449 §4.3 step 1: "not more than one DPoP HTTP request header field").
    #[error("more than one DPoP proof")]
    MultipleProofs,
    /// The field value is not visible ASCII, so it cannot be a compact JWS.
    #[error("DPoP field is not a compact JWS")]
    NotAscii,
    /// The JWS is malformed, uses a refused algorithm, or its signature does not verify
    /// (RFC 9449 §4.3 steps 2, 5, 6).
    #[error("DPoP proof JWS: {0}")]
    Jws(#[from] JwsError),
    /// `typ` is absent (RFC 9449 §4.3 step 4).
    #[error("DPoP proof has no typ")]
    TypMissing,
    /// `typ` is not `dpop+jwt` (RFC 9449 §4.3 step 4).
    #[error("DPoP proof typ is not dpop+jwt")]
    TypMismatch,
    /// No `jwk` header (RFC 9449 §4.2; §4.3 step 6 verifies with it).
    #[error("DPoP proof has no jwk header")]
    JwkMissing,
    /// The `jwk` header is not an acceptable public key (RFC 9449 §4.3 step 7).
    #[error("DPoP proof jwk: {0}")]
    Jwk(#[from] JwkError),
    /// A header parameter or claim has the wrong JSON type. Never treated as absent.
    #[error("DPoP proof member {name:?} has the wrong type")]
    WrongType {
        /// The header parameter or claim.
        name: &'static str,
    },
    /// A required claim is absent (RFC 9449 §4.3 step 3).
    #[error("DPoP proof has no {name} claim")]
    ClaimMissing {
        /// The claim.
        name: &'static str,
    },
    /// `jti` is empty.
    #[error("DPoP proof jti is empty")]
    JtiEmpty,
    /// `jti` is longer than the cap (it is stored for replay detection).
    #[error("DPoP proof jti is {len} bytes, over the {max}-byte limit")]
    JtiTooLong {
        /// Bytes found.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// `htm` differs from the request method (RFC 9449 §4.3 step 8).
    #[error("DPoP proof htm does not match the request method {expected}")]
    HtmMismatch {
        /// The request's method.
        expected: String,
    },
    /// `htu` is not an absolute http(s) URI (RFC 9449 §4.3 step 9).
    #[error("DPoP proof htu: {0}")]
    HtuInvalid(HtuError),
    /// `htu` differs from the request URI after normalization (RFC 9449 §4.3 step 9).
    #[error("DPoP proof htu does not match the request URI")]
    HtuMismatch,
    /// `iat` is older than the acceptance window (RFC 9449 §4.3 step 11).
    #[error("DPoP proof iat {iat} is too old at {now}")]
    IatTooOld {
        /// The proof's `iat`.
        iat: u64,
        /// The validator's clock.
        now: u64,
    },
    /// `iat` is further in the future than allowed (RFC 9449 §4.3 step 11).
    #[error("DPoP proof iat {iat} is in the future at {now}")]
    IatInFuture {
        /// The proof's `iat`.
        iat: u64,
        /// The validator's clock.
        now: u64,
    },
    /// The server requires a nonce and the proof has none (RFC 9449 §4.3 step 10, §9).
    #[error("DPoP proof has no nonce and the server requires one")]
    NonceMissing,
    /// The proof's nonce is not one the server accepts now (RFC 9449 §4.3 step 10, §9).
    #[error("DPoP proof nonce: {0}")]
    NonceInvalid(NonceError),
    /// No `ath` although an access token is presented (RFC 9449 §4.3 step 12, §7.1).
    #[error("DPoP proof has no ath claim")]
    AthMissing,
    /// `ath` is not the hash of the presented access token (RFC 9449 §4.3 step 12).
    #[error("DPoP proof ath does not match the access token")]
    AthMismatch,
    /// The proof key is not the key the access token is bound to (`cnf.jkt`,
    /// RFC 9449 §4.3 step 12, §6.1).
    #[error("DPoP proof key does not match the token's cnf.jkt")]
    KeyMismatch,
    /// The (key, `jti`) pair was seen within the window (RFC 9449 §11.1).
    #[error("DPoP proof replayed")]
    Replayed,
    /// The replay store could not answer; the proof is refused (fail closed).
    #[error("replay store: {0}")]
    ReplayStore(ReplayStoreError),
}
