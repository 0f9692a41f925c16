//! Compact JWS (RFC 7515 §7.1) parsing and verification.
//!
//! Every structural check runs before any cryptography, in order of cost: the length cap
//! before decoding anything, the segment count, strict base64url, strict JSON objects, then
//! the `alg` allowlist, `crit` and `b64`. Only then is a signature checked, with a key whose
//! family is pinned to the algorithm.

use serde_json::Value;

use super::alg::{Algorithm, AlgorithmSet};
use super::b64;
use super::error::{JwsError, JwsPart};
use super::json::{self, Object};
use super::jwk::PublicJwk;

/// A compact JWS whose structure passed every check but whose signature has not been
/// verified. Nothing in it may be trusted yet.
#[derive(Debug)]
pub struct UnverifiedJws<'a> {
    signing_input: &'a str,
    alg: Algorithm,
    header: Object,
    payload: Object,
    signature: Vec<u8>,
}

/// A JWS whose signature verified. Only [`UnverifiedJws::verify`] and
/// [`UnverifiedJws::verify_any`] build one.
#[derive(Debug)]
pub struct VerifiedJws {
    alg: Algorithm,
    header: Object,
    payload: Object,
}

impl<'a> UnverifiedJws<'a> {
    /// Parses `compact`, refusing anything longer than `max_len` bytes or signed with an
    /// algorithm outside `allowed`.
    ///
    /// ```
    /// use mcp_warden::jose::{Algorithm, AlgorithmSet, JwsError, UnverifiedJws};
    ///
    /// let allowed = AlgorithmSet::EMPTY.with(Algorithm::ES256);
    /// // {"alg":"none"} . {} . (empty)
    /// let unsecured = "eyJhbGciOiJub25lIn0.e30.";
    /// assert_eq!(UnverifiedJws::parse(unsecured, 8192, allowed).unwrap_err(), JwsError::AlgNone);
    /// ```
    pub fn parse(
        compact: &'a str,
        max_len: usize,
        allowed: AlgorithmSet,
    ) -> Result<Self, JwsError> {
        // RFC 8725 §3.11 / RFC 9449 §11.7-style resource bound: before any decoding.
        if compact.len() > max_len {
            return Err(JwsError::TooLarge {
                len: compact.len(),
                max: max_len,
            });
        }
        // RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
        let mut segments = compact.splitn(4, '.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(JwsError::SegmentCount);
        };
        let header_bytes =
            b64::decode(header_b64).map_err(|_| JwsError::Base64(JwsPart::Header))?;
        let header = json::parse_object(&header_bytes).map_err(|reason| JwsError::Json {
            part: JwsPart::Header,
            reason,
        })?;
        let alg = header_alg(&header, allowed)?;
        check_crit_and_b64(&header)?;

        let payload_bytes =
            b64::decode(payload_b64).map_err(|_| JwsError::Base64(JwsPart::Payload))?;
        let payload = json::parse_object(&payload_bytes).map_err(|reason| JwsError::Json {
            part: JwsPart::Payload,
            reason,
        })?;
        let signature =
            b64::decode(signature_b64).map_err(|_| JwsError::Base64(JwsPart::Signature))?;
        let signing_input = &compact[..header_b64.len() + 1 + payload_b64.len()];
        Ok(UnverifiedJws {
            signing_input,
            alg,
            header,
            payload,
            signature,
        })
    }

    /// The header's algorithm (already checked against the allowlist).
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The protected header, unverified.
    pub fn header(&self) -> &Object {
        &self.header
    }

    /// The payload, unverified.
    pub fn payload(&self) -> &Object {
        &self.payload
    }

    /// Checks the signature with `key`.
    pub fn verify(self, key: &PublicJwk) -> Result<VerifiedJws, JwsError> {
        self.verify_any(std::iter::once(key))
            .map(|(verified, _)| verified)
    }

    /// Checks the signature with each key in turn and returns the first that verifies.
    ///
    /// With no candidate the result is [`JwsError::BadSignature`]; with candidates that
    /// all fail, the error of the last one (a key of the wrong family reports
    /// [`JwsError::KeyMismatch`]).
    pub fn verify_any<'k>(
        self,
        keys: impl IntoIterator<Item = &'k PublicJwk>,
    ) -> Result<(VerifiedJws, &'k PublicJwk), JwsError> {
        let mut last = JwsError::BadSignature;
        for key in keys {
            match key.verify(self.alg, self.signing_input.as_bytes(), &self.signature) {
                Ok(()) => {
                    let verified = VerifiedJws {
                        alg: self.alg,
                        header: self.header,
                        payload: self.payload,
                    };
                    return Ok((verified, key));
                }
                Err(error) => last = error,
            }
        }
        Err(last)
    }
}

impl VerifiedJws {
    /// The algorithm that verified.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The protected header.
    pub fn header(&self) -> &Object {
        &self.header
    }

    /// The payload.
    pub fn payload(&self) -> &Object {
        &self.payload
    }

    /// Header and payload, by value.
    pub fn into_parts(self) -> (Object, Object) {
        (self.header, self.payload)
    }
}

/// RFC 7515 §4.1.1, with the allowlist applied before the algorithm is used for anything.
fn header_alg(header: &Object, allowed: AlgorithmSet) -> Result<Algorithm, JwsError> {
    let name = match header.get("alg") {
        None => return Err(JwsError::MissingAlg),
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return Err(JwsError::HeaderType { name: "alg" }),
    };
    let Some(alg) = Algorithm::from_name(name) else {
        return Err(match name {
            // RFC 7518 §3.6; compared case-insensitively because some libraries did.
            n if n.eq_ignore_ascii_case("none") => JwsError::AlgNone,
            "HS256" | "HS384" | "HS512" => JwsError::SymmetricAlg,
            _ => JwsError::UnsupportedAlg,
        });
    };
    if !allowed.contains(alg) {
        return Err(JwsError::AlgNotAllowed(alg));
    }
    Ok(alg)
}

/// RFC 7515 §4.1.11: an extension listed in `crit` must be understood, and none is; RFC 7797
/// §3: `b64: false` changes the signing input, which is refused.
fn check_crit_and_b64(header: &Object) -> Result<(), JwsError> {
    match header.get("crit") {
        None => {}
        Some(Value::Array(_)) => return Err(JwsError::CritUnsupported),
        Some(_) => return Err(JwsError::HeaderType { name: "crit" }),
    }
    match header.get("b64") {
        None | Some(Value::Bool(true)) => Ok(()),
        Some(Value::Bool(false)) => Err(JwsError::UnencodedPayload),
        Some(_) => Err(JwsError::HeaderType { name: "b64" }),
    }
}
