//! The DPoP proof validator: every check of RFC 9449 §4.3 (steps 2–12; step 1, one `DPoP`
//! field, is [`single_proof`](super::single_proof), which picks the proof the validator
//! gets), the resource-server rules of §7.1, server nonces (§9) and replay detection
//! (§11.1). Each enforcing line is marked `RFC 9449 §4.3 step N`.
//!
//! Checks run cheapest first, with the signature — the only expensive step — last, and the
//! replay store is written only after everything else passed, so a forged or stale proof
//! can neither cost a signature check it could have been refused without nor burn a `jti`.

use std::sync::Arc;

use serde_json::Value;

use crate::jose::{
    Algorithm, AlgorithmSet, JwkCache, Object, PresentedToken, Thumbprint, UnverifiedJws, typ_is,
};

use super::error::ProofError;
use super::htu::NormalizedUri;
use super::nonce::NonceSource;
use super::replay::{InMemoryReplayStore, ReplayKey, ReplayStore, Seen};

/// Validates DPoP proofs presented to a protected resource.
///
/// ```
/// use mcp_warden::dpop::{NormalizedUri, ProofContext, ProofError, ProofSigner, ProofValidator};
/// use mcp_warden::jose::{Algorithm, PresentedToken};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let now = 1_764_288_000;
/// let signer = ProofSigner::generate(Algorithm::ES256)?;
/// let uri = NormalizedUri::parse("https://mcp.example.com/mcp")?;
/// let token = "an-access-token";
/// let proof = signer.proof("POST", uri.as_str(), Some(token), None, now)?;
///
/// let validator = ProofValidator::builder().build();
/// let context = ProofContext {
///     method: "POST",
///     uri: &uri,
///     access_token: Some(PresentedToken::new(token)),
///     bound_jkt: Some(signer.thumbprint().as_str()),
/// };
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// let verified = runtime.block_on(validator.validate(&proof, &context, now))?;
/// assert_eq!(verified.jkt(), signer.thumbprint());
/// // The same proof again is a replay (RFC 9449 §11.1).
/// let again = runtime.block_on(validator.validate(&proof, &context, now));
/// assert_eq!(again.unwrap_err(), ProofError::Replayed);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ProofValidator {
    algorithms: AlgorithmSet,
    max_age_s: u64,
    max_future_s: u64,
    max_proof_len: usize,
    max_jti_len: usize,
    replay: Arc<dyn ReplayStore>,
    nonces: Option<Arc<dyn NonceSource>>,
    keys: Arc<JwkCache>,
}

/// What the request says, against which the proof is checked.
#[derive(Debug, Clone, Copy)]
pub struct ProofContext<'a> {
    /// The HTTP method, compared case-sensitively with `htm` (RFC 9110 §9.1).
    pub method: &'a str,
    /// The request URI, normalized (see [`NormalizedUri`]).
    pub uri: &'a NormalizedUri,
    /// The access token presented with the proof; its hash must be the proof's `ath`.
    pub access_token: Option<PresentedToken<'a>>,
    /// The token's `cnf.jkt`; the proof key's thumbprint must equal it.
    pub bound_jkt: Option<&'a str>,
}

/// A proof that passed every check and was recorded in the replay store. Only the
/// validator builds one.
#[derive(Debug, Clone)]
pub struct VerifiedProof {
    jkt: Thumbprint,
    jti: String,
    iat: u64,
    alg: Algorithm,
}

impl VerifiedProof {
    /// The RFC 7638 thumbprint of the proof key.
    pub fn jkt(&self) -> &Thumbprint {
        &self.jkt
    }

    /// The proof's `jti`.
    pub fn jti(&self) -> &str {
        &self.jti
    }

    /// The proof's `iat`.
    pub fn iat(&self) -> u64 {
        self.iat
    }

    /// The proof's signature algorithm.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }
}

/// Builds a [`ProofValidator`]; every default is the safe one.
#[derive(Clone)]
pub struct ProofValidatorBuilder {
    validator: ProofValidator,
}

impl ProofValidator {
    /// Default proof acceptance window into the past, in seconds (SEP-1932: ±300 s).
    pub const DEFAULT_MAX_AGE_S: u64 = 300;
    /// Default tolerance for `iat` in the future, in seconds.
    pub const DEFAULT_MAX_FUTURE_S: u64 = 300;
    /// Default cap on the proof's length, checked before decoding.
    pub const DEFAULT_MAX_PROOF_LEN: usize = 8 * 1024;
    /// Default cap on `jti` (RFC 9449 §4.2 asks for ≥ 96 bits of randomness; 256 bytes is
    /// ample for any encoding of that).
    pub const DEFAULT_MAX_JTI_LEN: usize = 256;

    /// A builder with the defaults: every supported asymmetric algorithm, ±300 s, 8 KiB
    /// proofs, replay tracking in memory, no nonce.
    pub fn builder() -> ProofValidatorBuilder {
        ProofValidatorBuilder {
            validator: ProofValidator {
                algorithms: AlgorithmSet::ALL,
                max_age_s: Self::DEFAULT_MAX_AGE_S,
                max_future_s: Self::DEFAULT_MAX_FUTURE_S,
                max_proof_len: Self::DEFAULT_MAX_PROOF_LEN,
                max_jti_len: Self::DEFAULT_MAX_JTI_LEN,
                replay: Arc::new(InMemoryReplayStore::new()),
                nonces: None,
                keys: Arc::new(JwkCache::default()),
            },
        }
    }

    /// The allowed proof algorithms (for `algs` in challenges and metadata).
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// The nonce source, if nonces are required.
    pub fn nonces(&self) -> Option<&Arc<dyn NonceSource>> {
        self.nonces.as_ref()
    }

    /// Runs every check of RFC 9449 §4.3 on `proof` and records it against replay.
    pub async fn validate(
        &self,
        proof: &str,
        context: &ProofContext<'_>,
        now: u64,
    ) -> Result<VerifiedProof, ProofError> {
        let verified = self.check(proof, context, now)?;
        // RFC 9449 §11.1: remember (jkt, jti) for as long as a proof with this iat could
        // still be accepted — through the second iat + max_age, inclusive (the store keeps
        // an entry while now < recorded + ttl). Saturating: a huge configured window must
        // never wrap into a short one.
        let ttl = verified
            .iat
            .saturating_add(self.max_age_s)
            .saturating_add(1)
            .saturating_sub(now)
            .max(1);
        let key = ReplayKey::new(verified.jkt.as_str(), &verified.jti);
        match self.replay.check_and_record(key, now, ttl).await {
            Ok(Seen::First) => Ok(verified),
            Ok(Seen::Replay) => Err(ProofError::Replayed),
            Err(error) => Err(ProofError::ReplayStore(error)),
        }
    }

    /// Every check except replay: pure, no I/O.
    fn check(
        &self,
        proof: &str,
        context: &ProofContext<'_>,
        now: u64,
    ) -> Result<VerifiedProof, ProofError> {
        // RFC 9449 §4.3 step 2: a single well-formed JWT (size cap, three segments, strict
        // base64url and JSON, crit/b64), and RFC 9449 §4.3 step 5: an allowed asymmetric
        // `alg`, never `none` or a MAC — both checked inside `UnverifiedJws::parse`.
        let jws = UnverifiedJws::parse(proof, self.max_proof_len, self.algorithms)?;
        let header = jws.header();
        // RFC 9449 §4.3 step 4: typ. RFC 7515 §4.1.9: media types compare case-insensitively
        // and "application/" may be omitted, so both spellings are the same type.
        match header.get("typ") {
            None => return Err(ProofError::TypMissing),
            Some(Value::String(typ)) if is_dpop_typ(typ) => {}
            Some(Value::String(_)) => return Err(ProofError::TypMismatch),
            Some(_) => return Err(ProofError::WrongType { name: "typ" }),
        }
        // RFC 9449 §4.3 step 7 (and §4.2): a public key in `jwk`, never private material.
        let jwk = match header.get("jwk") {
            None => return Err(ProofError::JwkMissing),
            Some(Value::Object(jwk)) => self.keys.get_or_parse(jwk)?,
            Some(_) => return Err(ProofError::WrongType { name: "jwk" }),
        };

        let claims = jws.payload();
        // RFC 9449 §4.3 step 3: the claims §4.2 requires, strictly typed.
        let jti = required_str(claims, "jti")?;
        let htm = required_str(claims, "htm")?;
        let htu = required_str(claims, "htu")?;
        let iat = numeric_date(claims, "iat")?;
        let ath = optional_str(claims, "ath")?;
        let nonce = optional_str(claims, "nonce")?;
        // RFC 9449 §4.2, §11.1: `jti` identifies the proof for replay detection, so it is
        // neither empty nor longer than the store's cap.
        if jti.is_empty() {
            return Err(ProofError::JtiEmpty);
        }
        if jti.len() > self.max_jti_len {
            return Err(ProofError::JtiTooLong {
                len: jti.len(),
                max: self.max_jti_len,
            });
        }
        // RFC 9449 §4.3 step 8: the method, case-sensitively (RFC 9110 §9.1).
        if htm != context.method {
            return Err(ProofError::HtmMismatch {
                expected: context.method.to_owned(),
            });
        }
        // RFC 9449 §4.3 step 9: the URI, normalized on both sides, query and fragment
        // ignored.
        let htu = NormalizedUri::parse(htu).map_err(ProofError::HtuInvalid)?;
        if &htu != context.uri {
            return Err(ProofError::HtuMismatch);
        }
        // RFC 9449 §4.3 step 11: iat within the window (§11.1), past and future bounded
        // separately.
        if iat.saturating_add(self.max_age_s) < now {
            return Err(ProofError::IatTooOld { iat, now });
        }
        if iat > now.saturating_add(self.max_future_s) {
            return Err(ProofError::IatInFuture { iat, now });
        }
        // RFC 9449 §4.3 step 10, §9: the server nonce, when the server requires one.
        if let Some(nonces) = &self.nonces {
            let nonce = nonce.ok_or(ProofError::NonceMissing)?;
            nonces.check(nonce, now).map_err(ProofError::NonceInvalid)?;
        }
        // RFC 9449 §4.3 step 12: bound to the presented token (`ath`, §4.2) ...
        if let Some(token) = context.access_token {
            let ath = ath.ok_or(ProofError::AthMissing)?;
            if !ath_matches(ath, &token) {
                return Err(ProofError::AthMismatch);
            }
        }
        // RFC 9449 §4.3 step 12, §6.1: ... and to the key the token is bound to (`cnf.jkt`).
        if let Some(bound) = context.bound_jkt
            && !jwk.thumbprint().matches(bound)
        {
            return Err(ProofError::KeyMismatch);
        }
        // RFC 9449 §4.3 step 6: the signature, with the `jwk` of the header; last because it
        // is the expensive one.
        let alg = jws.alg();
        let jti = jti.to_owned();
        jws.verify(&jwk)?;
        Ok(VerifiedProof {
            jkt: jwk.thumbprint().clone(),
            jti,
            iat,
            alg,
        })
    }
}

impl ProofValidatorBuilder {
    /// The algorithms proofs may use (RFC 9449 §5.1 `dpop_signing_alg_values_supported`).
    pub fn algorithms(mut self, algorithms: AlgorithmSet) -> Self {
        self.validator.algorithms = algorithms;
        self
    }

    /// How old `iat` may be, in seconds.
    pub fn max_age_s(mut self, seconds: u64) -> Self {
        self.validator.max_age_s = seconds;
        self
    }

    /// How far in the future `iat` may be, in seconds (clock skew of clients).
    pub fn max_future_s(mut self, seconds: u64) -> Self {
        self.validator.max_future_s = seconds;
        self
    }

    /// The cap on a proof's length in bytes.
    pub fn max_proof_len(mut self, bytes: usize) -> Self {
        self.validator.max_proof_len = bytes;
        self
    }

    /// The cap on `jti` in bytes.
    pub fn max_jti_len(mut self, bytes: usize) -> Self {
        self.validator.max_jti_len = bytes;
        self
    }

    /// Where accepted proofs are remembered (RFC 9449 §11.1).
    pub fn replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.validator.replay = store;
        self
    }

    /// Require server nonces (RFC 9449 §9) from this source.
    pub fn nonces(mut self, nonces: Arc<dyn NonceSource>) -> Self {
        self.validator.nonces = Some(nonces);
        self
    }

    /// The validator.
    pub fn build(self) -> ProofValidator {
        self.validator
    }
}

/// RFC 9449 §4.3 step 4 with RFC 7515 §4.1.9's media-type comparison.
fn is_dpop_typ(typ: &str) -> bool {
    typ_is(typ, "dpop+jwt")
}

/// RFC 9449 §4.2: `ath` is base64url(SHA-256(ASCII(access token))). The expected value is
/// computed and compared in constant time against the received text.
fn ath_matches(ath: &str, token: &PresentedToken<'_>) -> bool {
    let expected = crate::jose::base64url_encode(token.sha256());
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), ath.as_bytes()).is_ok()
}

fn required_str<'a>(claims: &'a Object, name: &'static str) -> Result<&'a str, ProofError> {
    optional_str(claims, name)?.ok_or(ProofError::ClaimMissing { name })
}

fn optional_str<'a>(claims: &'a Object, name: &'static str) -> Result<Option<&'a str>, ProofError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value)),
        Some(_) => Err(ProofError::WrongType { name }),
    }
}

/// RFC 7519 §2 NumericDate ([`crate::jose::numeric_date`]); a value that is not one is a type
/// error, never "absent".
fn numeric_date(claims: &Object, name: &'static str) -> Result<u64, ProofError> {
    match claims.get(name) {
        None => Err(ProofError::ClaimMissing { name }),
        Some(value) => crate::jose::numeric_date(value).ok_or(ProofError::WrongType { name }),
    }
}

#[cfg(test)]
mod tests;
