//! Strict unpadded base64url (RFC 7515 §2, RFC 4648 §5).
//!
//! "Base64url Encoding ... with all trailing '=' characters omitted" and no other
//! characters: padding, whitespace, the standard alphabet and non-zero trailing bits are all
//! refused, so every byte string has exactly one accepted encoding. That uniqueness is what
//! makes RFC 7638 thumbprints over the original member strings sound.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The input was not canonical unpadded base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidBase64;

/// Decodes canonical unpadded base64url.
pub(crate) fn decode(input: &str) -> Result<Vec<u8>, InvalidBase64> {
    // URL_SAFE_NO_PAD refuses padding, foreign characters and non-zero trailing bits.
    URL_SAFE_NO_PAD.decode(input).map_err(|_| InvalidBase64)
}

/// Encodes as unpadded base64url.
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_canonical_forms() {
        assert_eq!(decode("AQ").unwrap(), vec![1]);
        for bad in ["AQ==", "AR", "A+", "A/", "AQ\n", " AQ", "A"] {
            assert_eq!(decode(bad), Err(InvalidBase64), "{bad:?}");
        }
    }
}
