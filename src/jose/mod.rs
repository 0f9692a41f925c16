//! JOSE on aws-lc-rs: algorithms (RFC 7518), public JWKs and thumbprints (RFC 7517, RFC 7638,
//! RFC 8037), compact JWS (RFC 7515) with strict JSON, signing keys and the one JWT minter,
//! RFC 7519 NumericDates, and the presented access token with its digest (shared by the DPoP
//! `ath` check and the token verifiers).
//!
//! Why not jsonwebtoken: it keeps the last of duplicate JSON members, silently drops a
//! private `d` from a JWK, does not check `crit`, has no ES512, and re-parses the key on every
//! verification. Each of those is a refusal or a cost on the DPoP path, so this module talks
//! to aws-lc-rs directly and keeps the provider key parsed once per JWK.

mod alg;
mod b64;
mod error;
mod json;
mod jwk;
mod jwk_cache;
mod jwk_set;
mod jws;
mod mint;
mod presented;
mod sign;

pub use alg::{Algorithm, AlgorithmSet, Curve, KeyFamily, UnsupportedAlgorithm};
pub use error::{JwkError, JwsError, JwsPart, SignError};
pub use json::{JsonError, MAX_DEPTH, Object, parse_object};
pub use jwk::{PublicJwk, Thumbprint};
pub use jwk_cache::JwkCache;
pub use jwk_set::{JwkSet, JwkSetError, MAX_KEYS, MAX_KIDLESS_CANDIDATES};
pub use jws::{UnverifiedJws, VerifiedJws};
pub use mint::{JwtMinter, Lifetime, random_jti};
pub use presented::PresentedToken;
pub use sign::SigningKey;

/// Encodes bytes as unpadded base64url (RFC 7515 §2).
pub fn base64url_encode(bytes: &[u8]) -> String {
    b64::encode(bytes)
}

/// Decodes canonical unpadded base64url (RFC 7515 §2); `None` if it is not canonical.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    b64::decode(text).ok()
}

/// Whether a `typ` header names the media type `expected` (given without `application/`):
/// RFC 7515 §4.1.9 has media types compare case-insensitively and lets `application/` be
/// omitted.
///
/// ```
/// use mcp_warden::jose::typ_is;
///
/// assert!(typ_is("dpop+jwt", "dpop+jwt"));
/// assert!(typ_is("application/DPoP+JWT", "dpop+jwt"));
/// assert!(!typ_is("jwt", "dpop+jwt"));
/// // A multi-byte character across the prefix boundary is just a mismatch.
/// assert!(!typ_is("applicationñdpop+jwt", "dpop+jwt"));
/// ```
pub fn typ_is(typ: &str, expected: &str) -> bool {
    const PREFIX: &[u8] = b"application/";
    let bytes = typ.as_bytes();
    // Byte-wise, so that no multi-byte character can split a slice.
    let bare = if bytes.len() > PREFIX.len() && bytes[..PREFIX.len()].eq_ignore_ascii_case(PREFIX) {
        &bytes[PREFIX.len()..]
    } else {
        bytes
    };
    bare.eq_ignore_ascii_case(expected.as_bytes())
}

/// Reads an RFC 7519 §2 NumericDate: a JSON number of seconds since the epoch; fractions
/// are allowed and truncated. Negative, non-finite and non-numeric values give `None`,
/// which callers treat as a type error, never as "absent".
///
/// ```
/// use mcp_warden::jose::numeric_date;
/// use serde_json::json;
///
/// assert_eq!(numeric_date(&json!(1_764_288_000)), Some(1_764_288_000));
/// assert_eq!(numeric_date(&json!(1.9)), Some(1));
/// assert_eq!(numeric_date(&json!(-1)), None);
/// assert_eq!(numeric_date(&json!("1764288000")), None);
/// ```
pub fn numeric_date(value: &serde_json::Value) -> Option<u64> {
    let serde_json::Value::Number(number) = value else {
        return None;
    };
    if let Some(seconds) = number.as_u64() {
        return Some(seconds);
    }
    match number.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 && seconds < u64::MAX as f64 => {
            Some(seconds as u64)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::numeric_date;

    #[test]
    fn numeric_date_accepts_only_non_negative_finite_numbers() {
        let cases = [
            (json!(0), Some(0)),
            (json!(1_764_288_000), Some(1_764_288_000)),
            (json!(u64::MAX), Some(u64::MAX)),
            (json!(1.9), Some(1)),
            (json!(-0.0), Some(0)),
            (json!(-1), None),
            (json!(-0.1), None),
            (json!(1e20), None),
            (json!("1"), None),
            (json!(null), None),
            (json!([1]), None),
        ];
        for (value, expected) in cases {
            assert_eq!(numeric_date(&value), expected, "{value}");
        }
    }
}
