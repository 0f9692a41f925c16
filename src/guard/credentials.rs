//! The `Authorization` field: which scheme, which token (RFC 9110 §11.6.2, RFC 6750 §2.1,
//! RFC 9449 §7.1).

use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::refusal::RequestError;

/// The authentication scheme of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: DPoP <token>` (RFC 9449 §7.1).
    Dpop,
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1).
    Bearer,
}

/// The scheme and token of a request's one `Authorization` field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Credentials<'a> {
    pub(crate) scheme: Scheme,
    pub(crate) token: &'a str,
}

/// Reads the credentials. `Ok(None)` when the request has none this resource understands.
pub(crate) fn credentials(
    headers: &HeaderMap,
    max_token_len: usize,
) -> Result<Option<Credentials<'_>>, RequestError> {
    let mut fields = headers.get_all(AUTHORIZATION).iter();
    let Some(first) = fields.next() else {
        return Ok(None);
    };
    if fields.next().is_some() {
        // Two fields: either the same scheme twice or both schemes at once (RFC 9449 §7.2
        // leaves no way to pick one safely). A malformed request either way.
        return Err(RequestError::MultipleAuthorization);
    }
    let value = first
        .to_str()
        .map_err(|_| RequestError::MalformedAuthorization)?;
    // RFC 9110 §11.4: credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ].
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    // RFC 9110 §11.1: the scheme is case-insensitive.
    let scheme = if scheme.eq_ignore_ascii_case("DPoP") {
        Scheme::Dpop
    } else if scheme.eq_ignore_ascii_case("Bearer") {
        Scheme::Bearer
    } else {
        return Ok(None);
    };
    let token = rest.trim_start_matches(' ');
    if token.is_empty() || !is_token68(token) {
        return Err(RequestError::MalformedAuthorization);
    }
    if token.len() > max_token_len {
        return Err(RequestError::TokenTooLarge {
            len: token.len(),
            max: max_token_len,
        });
    }
    Ok(Some(Credentials { scheme, token }))
}

/// RFC 9110 §11.2: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
/// A comma or space means several credentials or auth-params, never one token.
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    // A fold without early exit compiles to SIMD: the token is checked on every request,
    // and a refused one costs no more for being scanned to the end.
    !body.is_empty()
        && body.bytes().fold(true, |ok, b| {
            ok & (b.is_ascii_alphanumeric()
                | (b == b'-')
                | (b == b'.')
                | (b == b'_')
                | (b == b'~')
                | (b == b'+')
                | (b == b'/'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn parse(values: &[&str]) -> Result<Option<(Scheme, String)>, RequestError> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        credentials(&headers, 64).map(|c| c.map(|c| (c.scheme, c.token.to_owned())))
    }

    #[test]
    fn schemes_are_case_insensitive() {
        assert_eq!(
            parse(&["DPoP abc"]).unwrap(),
            Some((Scheme::Dpop, "abc".into()))
        );
        assert_eq!(
            parse(&["dpop abc"]).unwrap(),
            Some((Scheme::Dpop, "abc".into()))
        );
        assert_eq!(
            parse(&["bearer a.b.c=="]).unwrap(),
            Some((Scheme::Bearer, "a.b.c==".into()))
        );
        assert_eq!(
            parse(&["DPoP   abc"]).unwrap(),
            Some((Scheme::Dpop, "abc".into()))
        );
    }

    #[test]
    fn unknown_schemes_are_no_credentials() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["Basic dXNlcjpwYXNz"]).unwrap(), None);
        assert_eq!(parse(&["DPoPx abc"]).unwrap(), None);
    }

    #[test]
    fn malformed_and_repeated_fields_are_refused() {
        assert_eq!(parse(&["DPoP"]), Err(RequestError::MalformedAuthorization));
        assert_eq!(
            parse(&["DPoP a b"]),
            Err(RequestError::MalformedAuthorization)
        );
        assert_eq!(
            parse(&["DPoP a,b"]),
            Err(RequestError::MalformedAuthorization)
        );
        assert_eq!(
            parse(&["DPoP =="]),
            Err(RequestError::MalformedAuthorization)
        );
        assert_eq!(
            parse(&["DPoP a", "Bearer a"]),
            Err(RequestError::MultipleAuthorization)
        );
        assert_eq!(
            parse(&[&format!("DPoP {}", "a".repeat(65))]),
            Err(RequestError::TokenTooLarge { len: 65, max: 64 })
        );
    }
}
