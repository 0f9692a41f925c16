//! An access token as presented, hashed once: the verified-token cache keys on its
//! SHA-256, and a DPoP proof's `ath` (RFC 9449 §4.2) is that same digest in base64url.

/// An access token as presented, with its SHA-256 computed once.
///
/// A DPoP-bound request needs that digest twice: as the verified-token cache's key and, in
/// base64url, as the proof's `ath` (RFC 9449 §4.2). Hashing a typical token is about 2 % of
/// a warm request, so the guard hashes it once and hands this to both. The digest can only
/// come from [`PresentedToken::new`], so it always belongs to the text beside it.
#[derive(Clone, Copy)]
pub struct PresentedToken<'a> {
    text: &'a str,
    sha256: [u8; 32],
}

impl<'a> PresentedToken<'a> {
    /// Hashes `text`.
    pub fn new(text: &'a str) -> Self {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()).as_ref(),
        );
        PresentedToken { text, sha256 }
    }

    /// The token as presented.
    pub fn as_str(&self) -> &'a str {
        self.text
    }

    /// SHA-256 of the token's ASCII bytes.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.sha256
    }
}

/// Never the token itself: `Debug` output ends up in logs.
impl std::fmt::Debug for PresentedToken<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedToken")
            .field("len", &self.text.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::PresentedToken;

    #[test]
    fn a_presented_token_carries_its_sha256_and_never_prints_itself() {
        let token = PresentedToken::new("eyJ.secret-token-value.sig");
        let expected =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"eyJ.secret-token-value.sig");
        assert_eq!(token.sha256().as_slice(), expected.as_ref());
        assert_eq!(token.as_str(), "eyJ.secret-token-value.sig");
        let printed = format!("{token:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
