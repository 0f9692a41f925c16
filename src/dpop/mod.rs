//! DPoP (RFC 9449): proof validation for resource servers, `htu` normalization, server
//! nonces, replay detection, and proof signing for clients.

mod error;
mod htu;
mod nonce;
mod replay;
mod replay_fallback;
#[cfg(feature = "redis")]
mod replay_redis;
mod signer;
mod validator;

pub use error::ProofError;
pub use htu::{HtuError, MAX_URI_LEN, NormalizedUri};
pub use nonce::{NonceError, NonceKeyError, NonceSource, StatelessNonces};
pub use replay::{
    InMemoryReplayStore, ReplayFuture, ReplayKey, ReplayStore, ReplayStoreError, Seen,
};
pub use replay_fallback::DegradingReplayStore;
#[cfg(feature = "redis")]
pub use replay_redis::{
    RedisReplayError, RedisReplayStats, RedisReplayStore, RedisReplayStoreBuilder,
};
pub use signer::{ProofClaims, ProofSigner, access_token_hash};
pub use validator::{ProofContext, ProofValidator, ProofValidatorBuilder, VerifiedProof};

/// Picks the one proof of a request from all its `DPoP` field values (RFC 9449 §4.3 step 1).
///
/// Every value is read, not just the first, and a value holding a comma is refused: a
/// compact JWS never contains one, so it can only be two proofs joined by a proxy
/// (RFC 9110 §5.3).
///
/// ```
/// use mcp_warden::dpop::{ProofError, single_proof};
///
/// assert_eq!(single_proof([b"a.b.c".as_slice()]), Ok(Some("a.b.c")));
/// assert_eq!(single_proof([b"a.b.c".as_slice(), b"d.e.f"]), Err(ProofError::MultipleProofs));
/// assert_eq!(single_proof([b"a.b.c, d.e.f".as_slice()]), Err(ProofError::MultipleProofs));
/// assert_eq!(single_proof(std::iter::empty::<&[u8]>()), Ok(None));
/// ```
pub fn single_proof<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Option<&'a str>, ProofError> {
    let mut values = values.into_iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    // RFC 9449 §4.3 step 1: not more than one DPoP field, nor two proofs joined into one.
    if values.next().is_some() || first.contains(&b',') {
        return Err(ProofError::MultipleProofs);
    }
    // RFC 9110 §5.5 allows surrounding whitespace in a field value.
    let text = std::str::from_utf8(first)
        .map_err(|_| ProofError::NotAscii)?
        .trim_matches([' ', '\t']);
    // No early exit, so the check compiles to SIMD (it runs on every request).
    if !text.bytes().fold(true, |ok, b| ok & b.is_ascii_graphic()) {
        return Err(ProofError::NotAscii);
    }
    Ok(Some(text))
}

/// The RFC 7638 thumbprint of the `jwk` in a proof's header, WITHOUT verifying anything:
/// for audit logs of refused requests only ("the client claimed this key"). `None` when
/// the header cannot be read.
pub fn claimed_thumbprint(proof: &str) -> Option<String> {
    let header = proof.get(..proof.find('.')?)?;
    if header.len() > ProofValidator::DEFAULT_MAX_PROOF_LEN {
        return None;
    }
    let header = crate::jose::base64url_decode(header)?;
    let header = crate::jose::parse_object(&header).ok()?;
    let jwk = header.get("jwk")?.as_object()?;
    let jwk = crate::jose::PublicJwk::from_object(jwk).ok()?;
    Some(jwk.thumbprint().as_str().to_owned())
}
