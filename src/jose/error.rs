//! The refusals of the JOSE layer, one variant per broken rule.

use super::alg::{Algorithm, Curve};
use super::json::JsonError;

/// Which part of a compact JWS a format error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsPart {
    /// The protected header.
    Header,
    /// The payload.
    Payload,
    /// The signature.
    Signature,
}

impl std::fmt::Display for JwsPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JwsPart::Header => "header",
            JwsPart::Payload => "payload",
            JwsPart::Signature => "signature",
        })
    }
}

/// A compact JWS was refused (RFC 7515).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// Longer than the configured cap; checked before any decoding.
    #[error("JWS is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The configured cap.
        max: usize,
    },
    /// Not exactly three `.`-separated segments (RFC 7515 §7.1); JSON serialization is not
    /// accepted.
    #[error("JWS does not have exactly three segments")]
    SegmentCount,
    /// A segment is not canonical unpadded base64url (RFC 7515 §2).
    #[error("JWS {0} is not canonical base64url")]
    Base64(JwsPart),
    /// The header or payload is not a strict JSON object.
    #[error("JWS {part}: {reason}")]
    Json {
        /// Which segment.
        part: JwsPart,
        /// What is wrong with it.
        reason: JsonError,
    },
    /// A header parameter or claim has the wrong JSON type; never treated as absent.
    #[error("JWS header parameter {name:?} has the wrong type")]
    HeaderType {
        /// The parameter name.
        name: &'static str,
    },
    /// No `alg` header parameter (RFC 7515 §4.1.1).
    #[error("JWS header has no alg")]
    MissingAlg,
    /// `alg: none` (RFC 7518 §3.6): an unsecured JWS is never accepted.
    #[error("alg none is refused")]
    AlgNone,
    /// An HMAC algorithm: a shared secret cannot prove possession of a client key.
    #[error("symmetric (HMAC) algorithms are refused")]
    SymmetricAlg,
    /// An `alg` this library does not implement.
    #[error("unsupported alg")]
    UnsupportedAlg,
    /// A supported algorithm that the configuration does not allow here.
    #[error("alg {0} is not allowed here")]
    AlgNotAllowed(Algorithm),
    /// `crit` names an extension; none is understood, so the JWS must be rejected
    /// (RFC 7515 §4.1.11).
    #[error("crit header lists extensions this implementation does not understand")]
    CritUnsupported,
    /// `b64: false` (RFC 7797): unencoded payloads are not accepted.
    #[error("unencoded payload (b64: false) is refused")]
    UnencodedPayload,
    /// The signature has the wrong length for the algorithm; for ECDSA this refuses
    /// DER encodings, only the fixed-length r‖s form of RFC 7518 §3.4 is valid.
    #[error("signature length {len} is wrong for {alg} (expected {expected})")]
    SignatureLength {
        /// The algorithm of the header.
        alg: Algorithm,
        /// Bytes found.
        len: usize,
        /// Bytes required.
        expected: usize,
    },
    /// The key cannot be used with the header's algorithm (alg↔key pinning).
    #[error("key does not match alg {alg}")]
    KeyMismatch {
        /// The algorithm of the header.
        alg: Algorithm,
    },
    /// The signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
}

/// A JWK was refused (RFC 7517, RFC 7518 §6, RFC 8037 §2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwkError {
    /// Not a strict JSON object.
    #[error("JWK: {0}")]
    Json(JsonError),
    /// A member has the wrong JSON type.
    #[error("JWK member {name:?} has the wrong type")]
    MemberType {
        /// The member name.
        name: &'static str,
    },
    /// A required member is absent.
    #[error("JWK member {name:?} is missing")]
    MissingMember {
        /// The member name.
        name: &'static str,
    },
    /// A private-key member is present (RFC 7518 §6.2.2, §6.3.2; RFC 8037 §2): a public
    /// key position must never carry private material.
    #[error("JWK contains the private member {name:?}")]
    PrivateMember {
        /// The member name.
        name: &'static str,
    },
    /// `kty: oct`: symmetric keys are refused.
    #[error("symmetric (oct) keys are refused")]
    SymmetricKey,
    /// A `kty` other than EC, RSA or OKP.
    #[error("unsupported kty")]
    UnsupportedKeyType,
    /// A curve other than P-256, P-384, P-521 (EC) or Ed25519 (OKP).
    #[error("unsupported curve")]
    UnsupportedCurve,
    /// A key member is not canonical base64url (or, for RSA, has leading zero octets,
    /// RFC 7518 §2 "Base64urlUInt").
    #[error("JWK member {name:?} is not a canonical base64url value")]
    Encoding {
        /// The member name.
        name: &'static str,
    },
    /// A coordinate is not the full size of the curve (RFC 7518 §6.2.1.2–3, RFC 8037 §2).
    #[error("JWK coordinate {name:?} of {curve:?} is {len} bytes, expected {expected}")]
    CoordinateLength {
        /// The member name.
        name: &'static str,
        /// The curve.
        curve: Option<Curve>,
        /// Bytes found.
        len: usize,
        /// Bytes required.
        expected: usize,
    },
    /// The point is not on the curve, or is otherwise rejected by the provider.
    #[error("JWK is not a valid public key")]
    InvalidKey,
    /// RSA modulus outside 2048–8192 bits.
    #[error("RSA modulus of {bits} bits is outside 2048..=8192")]
    RsaModulusSize {
        /// Bits found.
        bits: usize,
    },
    /// RSA public exponent even, below 3, or longer than 64 bits.
    #[error("RSA public exponent is invalid")]
    RsaExponent,
    /// `use` is present and is not `sig` (RFC 7517 §4.2).
    #[error("JWK use is not sig")]
    UseNotSig,
    /// `key_ops` is present and lacks `verify`, or repeats a value (RFC 7517 §4.3).
    #[error("JWK key_ops does not allow verify")]
    KeyOpsNotVerify,
    /// `alg` is present and names an algorithm this key cannot be used with
    /// (RFC 7517 §4.4), or an unsupported one.
    #[error("JWK alg does not fit the key")]
    AlgMismatch,
}

/// Signing failed or a signing key could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The key material was rejected by the provider.
    #[error("signing key rejected: {0}")]
    KeyRejected(&'static str),
    /// The provider failed to produce a signature or key.
    #[error("the crypto provider failed")]
    Provider,
    /// A header or payload to sign could not be serialized.
    #[error("could not serialize JSON")]
    Serialize,
}
