//! The token a source hands back, and the structural checks every source applies to what
//! it read: a size cap, trimmed whitespace, a compact JWS (RFC 7515 §7.1) whose header and
//! payload are JSON objects, and `exp`/`iat` read as NumericDates (RFC 7519 §2, §4.1.4,
//! §4.1.6) — without verifying the signature (see the module docs of
//! [`workload`](super) for why that is safe).

use std::fmt;
use std::sync::Arc;

use crate::jose::{base64url_decode, numeric_date, parse_object};
use crate::secret::Secret;

use super::MAX_TOKEN_BYTES;
use super::error::{MalformedToken, SourceError};

/// A workload identity JWT, as a source produced it.
///
/// The JWT sits in a [`Secret`]: zeroized on drop, never printed. `Debug` shows the source,
/// the times and the length only, and there is no `Display`.
///
/// ```
/// use mcp_warden::workload::WorkloadToken;
///
/// // header {"alg":"ES256"}, payload {"exp":1764288600,"iat":1764288000}
/// let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjE3NjQyODg2MDAsImlhdCI6MTc2NDI4ODAwMH0.c2ln";
/// let token = WorkloadToken::parse(jwt.as_bytes(), "example")?;
/// assert_eq!(token.expires_at(), Some(1_764_288_600));
/// assert_eq!(token.issued_at(), Some(1_764_288_000));
/// assert_eq!(token.expose(), jwt);
/// assert!(!format!("{token:?}").contains("eyJ"));
/// # Ok::<(), mcp_warden::workload::SourceError>(())
/// ```
#[derive(Clone)]
pub struct WorkloadToken {
    jwt: Secret,
    expires_at: Option<u64>,
    issued_at: Option<u64>,
    source: Arc<str>,
}

impl WorkloadToken {
    /// Checks `bytes` as a token read from the source named `source`: at most
    /// [`MAX_TOKEN_BYTES`], surrounding whitespace trimmed, three base64url segments with
    /// JSON-object header and payload, `exp` and `iat` NumericDates when present. The
    /// signature is not verified.
    pub fn parse(bytes: &[u8], source: &str) -> Result<Self, SourceError> {
        let malformed = |reason| SourceError::Malformed {
            name: source.to_owned(),
            reason,
        };
        if bytes.len() > MAX_TOKEN_BYTES {
            return Err(SourceError::TooLarge {
                name: source.to_owned(),
                max: MAX_TOKEN_BYTES,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| malformed(MalformedToken::NotUtf8))?;
        let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if text.is_empty() {
            return Err(malformed(MalformedToken::Empty));
        }
        let mut segments = text.split('.');
        let (Some(header), Some(payload), Some(signature), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(malformed(MalformedToken::NotCompactJws));
        };
        // An empty signature is an unsecured JWT (RFC 7519 §6): no platform issues those.
        if [header, payload, signature]
            .iter()
            .any(|segment| segment.is_empty() || !segment.bytes().all(is_base64url))
        {
            return Err(malformed(MalformedToken::NotCompactJws));
        }
        base64url_decode(header)
            .and_then(|json| parse_object(&json).ok())
            .ok_or(malformed(MalformedToken::Header))?;
        let claims = base64url_decode(payload)
            .and_then(|json| parse_object(&json).ok())
            .ok_or(malformed(MalformedToken::Payload))?;
        let time = |claim: &'static str| match claims.get(claim) {
            None => Ok(None),
            Some(value) => numeric_date(value)
                .map(Some)
                .ok_or(malformed(MalformedToken::ClaimType(claim))),
        };
        Ok(WorkloadToken {
            expires_at: time("exp")?,
            issued_at: time("iat")?,
            jwt: Secret::new(text),
            source: Arc::from(source),
        })
    }

    /// The JWT, for the one place that sends it (the token request).
    pub fn secret(&self) -> &Secret {
        &self.jwt
    }

    /// The JWT text; shorthand for `secret().expose()`.
    pub fn expose(&self) -> &str {
        self.jwt.expose()
    }

    /// When the token expires (its `exp`, or an earlier time the platform announced), Unix
    /// seconds; `None` when it carries no `exp`.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }

    /// When the token was issued (its `iat`), Unix seconds.
    pub fn issued_at(&self) -> Option<u64> {
        self.issued_at
    }

    /// The name of the source that produced it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the token is still unexpired at `now`. A token without `exp` counts as
    /// unexpired: the authorization server decides.
    pub fn is_unexpired(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|exp| now < exp)
    }

    /// Caps the expiry at `at` (a platform's own announcement of the expiry, such as the
    /// TokenRequest's `status.expirationTimestamp`): the earlier of the two wins.
    pub(crate) fn expiring_no_later_than(mut self, at: u64) -> Self {
        self.expires_at = Some(self.expires_at.map_or(at, |exp| exp.min(at)));
        self
    }
}

impl fmt::Debug for WorkloadToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadToken")
            .field("source", &self.source)
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field("len", &self.jwt.expose().len())
            .finish_non_exhaustive()
    }
}

fn is_base64url(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::jose::base64url_encode;

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.c2ln",
            base64url_encode(br#"{"alg":"ES256"}"#),
            base64url_encode(payload.as_bytes())
        )
    }

    fn reason(text: &str) -> MalformedToken {
        match WorkloadToken::parse(text.as_bytes(), "t").unwrap_err() {
            SourceError::Malformed { reason, .. } => reason,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn whitespace_is_trimmed_and_times_are_read() {
        let text = jwt(r#"{"exp":200,"iat":100.5}"#);
        let token = WorkloadToken::parse(format!("\n {text}\r\n").as_bytes(), "t").unwrap();
        assert_eq!(token.expose(), text);
        assert_eq!(
            (token.expires_at(), token.issued_at()),
            (Some(200), Some(100))
        );
        assert!(token.is_unexpired(199) && !token.is_unexpired(200));
        assert_eq!(
            token.clone().expiring_no_later_than(150).expires_at(),
            Some(150)
        );
        assert_eq!(token.expiring_no_later_than(300).expires_at(), Some(200));
    }

    #[test]
    fn structural_refusals_name_the_check() {
        assert_eq!(reason("  \n"), MalformedToken::Empty);
        assert_eq!(reason("a.b"), MalformedToken::NotCompactJws);
        assert_eq!(reason("a.b.c.d"), MalformedToken::NotCompactJws);
        assert_eq!(
            reason(&format!("{}.", jwt("{}"))),
            MalformedToken::NotCompactJws
        );
        assert_eq!(reason("eyJ.e+J.sig"), MalformedToken::NotCompactJws);
        let unsigned = jwt("{}").trim_end_matches("c2ln").to_owned();
        assert_eq!(reason(&unsigned), MalformedToken::NotCompactJws);
        assert_eq!(reason("bm9wZQ.e30.c2ln"), MalformedToken::Header);
        assert_eq!(reason(&jwt("[1]")), MalformedToken::Payload);
        assert_eq!(
            reason(&jwt(r#"{"exp":"soon"}"#)),
            MalformedToken::ClaimType("exp")
        );
        assert_eq!(
            reason(&jwt(r#"{"iat":-1}"#)),
            MalformedToken::ClaimType("iat")
        );
        let not_utf8 = WorkloadToken::parse(&[0xff, 0xfe], "t").unwrap_err();
        assert!(matches!(
            not_utf8,
            SourceError::Malformed {
                reason: MalformedToken::NotUtf8,
                ..
            }
        ));
    }

    #[test]
    fn oversized_tokens_are_refused_and_errors_hold_no_token_bytes() {
        let big = vec![b'a'; MAX_TOKEN_BYTES + 1];
        let error = WorkloadToken::parse(&big, "t").unwrap_err();
        assert_eq!(
            error,
            SourceError::TooLarge {
                name: "t".into(),
                max: MAX_TOKEN_BYTES
            }
        );
        let secretish = jwt(r#"{"exp":"secret-claim-value"}"#);
        let error = WorkloadToken::parse(secretish.as_bytes(), "t").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("c2ln"));
    }
}
