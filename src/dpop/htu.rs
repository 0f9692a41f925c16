//! Comparison of a DPoP proof's `htu` claim with the URI of the request that
//! carried it.
//!
//! RFC 9449 §4.3 step 9 requires the `htu` claim to match "the HTTP URI value
//! for the HTTP request in which the JWT was received, ignoring any query and
//! fragment parts", after RFC 3986 §6.2.2 syntax-based and §6.2.3
//! scheme-based normalization. This module owns that normalization: both sides
//! are turned into a [`NormalizedUri`], and the comparison is then plain
//! string equality.

use std::fmt;

use url::{Position, Url};

/// Longest URI accepted, in bytes, before any parsing.
pub const MAX_URI_LEN: usize = 4096;

/// An absolute `http` or `https` URI in normalized form, with its query and
/// fragment removed.
///
/// Two URIs that RFC 9449 §4.3 considers the same `htu` normalize to equal
/// values, so `==` is the comparison the specification asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalizedUri(String);

impl NormalizedUri {
    /// Parses and normalizes `input`, an `htu` claim or a request URI.
    ///
    /// ```rust
    /// use mcp_warden::dpop::NormalizedUri;
    ///
    /// let htu = NormalizedUri::parse("HTTPS://Server.Example.com:443/%7euser/token?x=1#f")?;
    /// let request = NormalizedUri::parse("https://server.example.com/~user/token")?;
    /// assert_eq!(htu, request);
    /// assert_eq!(htu.as_str(), "https://server.example.com/~user/token");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// Returns an [`HtuError`] when `input` is too long, is not an absolute
    /// URI, uses a scheme other than `http`/`https`, carries userinfo, or has
    /// no host.
    pub fn parse(input: &str) -> Result<Self, HtuError> {
        // Bound the work done on attacker-supplied data before parsing.
        if input.len() > MAX_URI_LEN {
            return Err(HtuError::TooLong {
                len: input.len(),
                max: MAX_URI_LEN,
            });
        }
        // RFC 3986 §2 leaves no room for whitespace or control characters; the
        // WHATWG parser would silently strip them, making visibly different
        // strings compare equal.
        if input.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(HtuError::Malformed);
        }

        // RFC 3986 §6.2.2.1 (case of scheme and host), §6.2.3 (default port,
        // empty path as "/") and §6.2.2.3 (dot segments, including their
        // `%2e` spellings) are all done by the WHATWG parser.
        let url = Url::parse(input).map_err(|e| match e {
            url::ParseError::EmptyHost => HtuError::MissingHost,
            _ => HtuError::Malformed,
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(HtuError::UnsupportedScheme);
        }
        // RFC 9110 §4.2.4: userinfo is deprecated in http(s) URIs, and would
        // let one resource be spelled in unboundedly many ways.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HtuError::UserinfoPresent);
        }
        // The parser already refuses an empty host for http(s); kept so that
        // a change in the url crate cannot yield a host-less value.
        if url.host().is_none() {
            return Err(HtuError::MissingHost);
        }

        let path_start = url[..Position::BeforePath].len();
        let path_end = url[..Position::AfterPath].len();
        let mut serialized = String::from(url);
        // RFC 9449 §4.3 step 9: query and fragment are ignored, and both
        // follow the path in the serialization.
        serialized.truncate(path_end);

        let path = &serialized[path_start..];
        if !path.contains('%') {
            return Ok(Self(serialized));
        }
        // RFC 3986 §6.2.2.1-2 on the path. Decoding `%2E` cannot create a new
        // dot segment: the parser already resolved every segment spelled `.`,
        // `%2e`, `..`, `.%2e`, `%2e.` or `%2e%2e` in any case, so a decoded
        // segment made only of dots has at least three of them.
        let mut out = String::with_capacity(serialized.len());
        out.push_str(&serialized[..path_start]);
        push_normalized_path(&mut out, path)?;
        Ok(Self(out))
    }

    /// The normalized URI as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NormalizedUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a URI was refused. The messages never repeat the URI, which may be
/// attacker data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HtuError {
    /// The URI is longer than [`MAX_URI_LEN`].
    #[error("URI is {len} bytes, over the {max}-byte limit")]
    TooLong {
        /// Length of the refused input, in bytes.
        len: usize,
        /// The limit it exceeded.
        max: usize,
    },
    /// The URI is not an absolute URI, or contains whitespace or control
    /// characters.
    #[error("URI is malformed or not absolute")]
    Malformed,
    /// The scheme is neither `http` nor `https`.
    #[error("URI scheme is not http or https")]
    UnsupportedScheme,
    /// The URI carries userinfo (`user:pass@`), deprecated by RFC 9110 §4.2.4.
    #[error("URI contains userinfo")]
    UserinfoPresent,
    /// The URI has no host.
    #[error("URI has no host")]
    MissingHost,
    /// The path holds a `%` not followed by two hex digits (RFC 3986 §2.1).
    #[error("URI path holds a malformed percent-encoding")]
    InvalidPercentEncoding,
}

/// Appends `path` to `out`, upper-casing the hex digits of every `%XX` escape
/// (RFC 3986 §6.2.2.1) and decoding those of unreserved characters
/// (RFC 3986 §6.2.2.2, §2.3).
///
/// A `%` not followed by two hex digits is refused (RFC 3986 §2.1 allows none). Keeping
/// it made normalization unstable, which fuzzing found: in `%%66`, decoding `%66` to `f`
/// turns the stray `%` into a new escape `%f6` on the next pass, so two spellings of one
/// URI could normalize differently.
fn push_normalized_path(out: &mut String, path: &str) -> Result<(), HtuError> {
    let mut rest = path;
    while let Some(pct) = rest.find('%') {
        out.push_str(&rest[..pct]);
        if let [b'%', hi, lo, ..] = rest.as_bytes()[pct..]
            && let (Some(h), Some(l)) = (hex_value(hi), hex_value(lo))
        {
            let byte = (h << 4) | l;
            if is_unreserved(byte) {
                out.push(char::from(byte));
            } else {
                out.push('%');
                out.push(char::from(hi.to_ascii_uppercase()));
                out.push(char::from(lo.to_ascii_uppercase()));
            }
            // The two bytes after `%` are ASCII hex digits, so this is a char
            // boundary.
            rest = &rest[pct + 3..];
            continue;
        }
        return Err(HtuError::InvalidPercentEncoding);
    }
    out.push_str(rest);
    Ok(())
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// RFC 3986 §2.3 unreserved characters.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(input: &str) -> String {
        match NormalizedUri::parse(input) {
            Ok(n) => n.0,
            Err(e) => panic!("{input:?} refused: {e:?}"),
        }
    }

    #[test]
    fn normalizes_per_rfc3986_and_rfc9449() {
        let cases = [
            // RFC 3986 §6.2.2.1: scheme and host are case-insensitive.
            (
                "HTTPS://Resource.Example.ORG/x",
                "https://resource.example.org/x",
            ),
            // RFC 3986 §6.2.3: default ports and empty path.
            (
                "https://server.example.com:443/token",
                "https://server.example.com/token",
            ),
            ("http://example.com:80/a", "http://example.com/a"),
            ("https://example.com:8443/a", "https://example.com:8443/a"),
            ("https://example.com", "https://example.com/"),
            ("https://example.com:443", "https://example.com/"),
            // RFC 3986 §6.2.2.3: dot segments, also spelled with `%2e`.
            ("https://example.com/a/./b/../c", "https://example.com/a/c"),
            ("https://example.com/a/%2e%2E/c", "https://example.com/c"),
            ("https://example.com/a/.%2e/c/%2E", "https://example.com/c/"),
            // RFC 3986 §6.2.2.1-2: percent-encoding.
            ("https://example.com/%7e", "https://example.com/~"),
            ("https://example.com/%7E", "https://example.com/~"),
            ("https://example.com/%41%2d%5F", "https://example.com/A-_"),
            (
                "https://example.com/a%2eb/%2E%2E%2E",
                "https://example.com/a.b/...",
            ),
            ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
            ("https://example.com/%c3%bc", "https://example.com/%C3%BC"),
            ("https://example.com/%252e", "https://example.com/%252e"),
            ("https://example.com/a//b", "https://example.com/a//b"),
            // RFC 3986 §6.2.2, example adapted to http.
            ("HTTP://a/./b/../b/%63/%7bfoo%7d", "http://a/b/c/%7Bfoo%7D"),
            // RFC 9449 §4.3 step 9: query and fragment are ignored.
            ("https://example.com/x?q=1#frag", "https://example.com/x"),
            ("https://example.com?q", "https://example.com/"),
            ("https://example.com/x#", "https://example.com/x"),
            (
                "https://[2001:DB8:0::1]:8443/x",
                "https://[2001:db8::1]:8443/x",
            ),
            ("https://Bücher.example/", "https://xn--bcher-kva.example/"),
        ];
        for (input, expected) in cases {
            assert_eq!(norm(input), expected, "input {input:?}");
            assert_eq!(norm(expected), expected, "expected {expected:?}");
        }
    }

    #[test]
    fn distinct_uris_stay_distinct() {
        let cases = [
            ("https://example.com/A", "https://example.com/a"),
            ("https://example.com/a", "https://example.com/a/"),
            ("http://example.com/a", "https://example.com/a"),
            ("https://example.com:8443/a", "https://example.com/a"),
            ("https://example.com:8443/a", "https://example.com:8444/a"),
            ("https://example.com/a%2Fb", "https://example.com/a/b"),
            ("https://example.com/a//b", "https://example.com/a/b"),
        ];
        for (a, b) in cases {
            assert_ne!(norm(a), norm(b), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn refuses_bad_uris_without_echoing_them() {
        let prefix = "https://secret.example/";
        let at_limit = format!("{prefix}{}", "a".repeat(MAX_URI_LEN - prefix.len()));
        assert_eq!(norm(&at_limit), at_limit);
        let too_long = format!("{at_limit}a");
        let cases = [
            (
                too_long.as_str(),
                HtuError::TooLong {
                    len: 4097,
                    max: 4096,
                },
            ),
            ("/secret/relative", HtuError::Malformed),
            ("secret", HtuError::Malformed),
            ("https://secret.example/a b", HtuError::Malformed),
            ("https://secret.example/a\tb", HtuError::Malformed),
            ("https://secret.example/\0", HtuError::Malformed),
            ("https://secret.example:65536/", HtuError::Malformed),
            ("ftp://secret.example/", HtuError::UnsupportedScheme),
            ("wss://secret.example/", HtuError::UnsupportedScheme),
            ("urn:secret:x", HtuError::UnsupportedScheme),
            (
                "https://user:secret@secret.example/",
                HtuError::UserinfoPresent,
            ),
            ("https://secret@secret.example/", HtuError::UserinfoPresent),
            ("https://:secret@secret.example/", HtuError::UserinfoPresent),
            ("https://", HtuError::MissingHost),
            // RFC 3986 §2.1: `%` starts an escape of two hex digits, nothing else.
            (
                "https://secret.example/%zz",
                HtuError::InvalidPercentEncoding,
            ),
            (
                "https://secret.example/a%4",
                HtuError::InvalidPercentEncoding,
            ),
            (
                "https://secret.example/a%",
                HtuError::InvalidPercentEncoding,
            ),
            // Found by fuzz/htu: kept, the stray `%` and a decoded `%66` made `%f6`.
            (
                "https://secret.example/%%66",
                HtuError::InvalidPercentEncoding,
            ),
            ("https://:443/secret", HtuError::MissingHost),
        ];
        for (input, expected) in cases {
            let err = NormalizedUri::parse(input).err();
            assert_eq!(err.as_ref(), Some(&expected), "input {input:?}");
            assert!(!expected.to_string().contains("secret"), "{expected}");
        }
    }

    fn assert_stable(input: &str) -> Result<(), TestCaseError> {
        if let Ok(n) = NormalizedUri::parse(input) {
            prop_assert_eq!(NormalizedUri::parse(n.as_str()), Ok(n.clone()));
            prop_assert_eq!(n.to_string(), n.as_str());
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn any_string_never_panics_and_is_stable(input in ".*") {
            assert_stable(&input)?;
        }

        #[test]
        fn urlish_string_never_panics_and_is_stable(
            input in "(https?|HTTP|ftp)://[a-zA-Z0-9.%:@\\[\\]-]{0,20}(/[a-zA-Z0-9.%~_-]{0,10}){0,5}(\\?[a-z=&]{0,10})?(#.{0,5})?"
        ) {
            assert_stable(&input)?;
        }
    }
}
