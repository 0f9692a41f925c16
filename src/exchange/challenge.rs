//! Reading a server's `WWW-Authenticate` challenges (RFC 9110 §11.6.1): the scheme, and the
//! auth-params a client acts on — `error` (RFC 6750 §3.1, RFC 9449 §7.1), `scope` for a
//! step-up (RFC 6750 §3.1), `resource_metadata` (RFC 9728 §5.1) and `algs` (RFC 9449 §7.1).
//!
//! The header comes from a server the client may not trust yet, so parsing is bounded (field
//! length, number of challenges and parameters) and never fails loudly: what cannot be read
//! is left out, and the client then has nothing to act on.

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

/// The longest field read; a longer one is ignored whole.
const MAX_FIELD_BYTES: usize = 8 * 1024;
/// At most this many challenges, and parameters per challenge, are kept.
const MAX_ITEMS: usize = 16;

/// One challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme as sent (`DPoP`, `Bearer`); compare case-insensitively (RFC 9110 §11.1).
    pub scheme: String,
    /// The parameters, names lowercased (RFC 9110 §11.2), values unquoted.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter's value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Whether the scheme is `scheme`, case-insensitively.
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// `error`.
    pub fn error(&self) -> Option<&str> {
        self.param("error")
    }
}

/// Every challenge in `headers`' `WWW-Authenticate` fields, in order.
pub fn challenges(headers: &HeaderMap) -> Vec<Challenge> {
    let mut found = Vec::new();
    for value in headers.get_all(WWW_AUTHENTICATE) {
        let Ok(text) = value.to_str() else { continue };
        if text.len() > MAX_FIELD_BYTES {
            continue;
        }
        parse_field(text, &mut found);
        if found.len() >= MAX_ITEMS {
            found.truncate(MAX_ITEMS);
            break;
        }
    }
    found
}

/// The first value of parameter `name` in any challenge, preferring a `DPoP` one.
pub fn find_param<'a>(challenges: &'a [Challenge], name: &str) -> Option<&'a str> {
    challenges
        .iter()
        .filter(|c| c.is("DPoP"))
        .chain(challenges.iter().filter(|c| !c.is("DPoP")))
        .find_map(|c| c.param(name))
}

/// `challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`, comma-separated: a token
/// not followed by `=` after a comma starts the next challenge.
fn parse_field(text: &str, found: &mut Vec<Challenge>) {
    let mut rest = text;
    let mut current: Option<Challenge> = None;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            break;
        }
        let (token, after) = split_token(rest);
        if token.is_empty() {
            // Not a token where one must be: stop reading this field.
            break;
        }
        let after_ws = after.trim_start_matches([' ', '\t']);
        if let Some(value_text) = after_ws.strip_prefix('=') {
            let value_text = value_text.trim_start_matches([' ', '\t']);
            let Some((value, remaining)) = read_value(value_text) else {
                break;
            };
            if let Some(challenge) = current.as_mut()
                && challenge.params.len() < MAX_ITEMS
            {
                challenge.params.push((token.to_ascii_lowercase(), value));
            }
            rest = remaining;
        } else {
            if let Some(done) = current.take() {
                found.push(done);
            }
            current = Some(Challenge {
                scheme: token.to_owned(),
                params: Vec::new(),
            });
            rest = after;
        }
    }
    found.extend(current);
}

/// RFC 9110 §5.6.2 `token`.
fn split_token(text: &str) -> (&str, &str) {
    let end = text.find(|c: char| !is_tchar(c)).unwrap_or(text.len());
    text.split_at(end)
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A token or a quoted-string (RFC 9110 §5.6.4, with `\` escapes), and the rest.
fn read_value(text: &str) -> Option<(String, &str)> {
    let Some(quoted) = text.strip_prefix('"') else {
        let (token, rest) = split_token(text);
        return (!token.is_empty()).then(|| (token.to_owned(), rest));
    };
    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '"' => return Some((value, &quoted[index + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn parse(fields: &[&str]) -> Vec<Challenge> {
        let mut headers = HeaderMap::new();
        for field in fields {
            headers.append(
                WWW_AUTHENTICATE,
                HeaderValue::from_str(field).expect("valid"),
            );
        }
        challenges(&headers)
    }

    #[test]
    fn rfc9449_section_7_1_and_rfc9728_section_5_1() {
        let found = parse(&[
            r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof", algs="ES256 PS256""#,
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
        ]);
        assert_eq!(found.len(), 2);
        assert!(found[0].is("dpop"));
        assert_eq!(found[0].error(), Some("use_dpop_nonce"));
        assert_eq!(found[0].param("algs"), Some("ES256 PS256"));
        assert_eq!(
            find_param(&found, "resource_metadata"),
            Some("https://mcp.example.com/.well-known/oauth-protected-resource/mcp")
        );
    }

    #[test]
    fn two_challenges_in_one_field_and_escapes() {
        let found = parse(&[
            r#"Bearer realm="a\"b", scope="tools:call tools:list", DPoP algs=ES256, error=insufficient_scope"#,
        ]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].param("realm"), Some("a\"b"));
        assert_eq!(found[0].param("scope"), Some("tools:call tools:list"));
        assert_eq!(found[1].scheme, "DPoP");
        assert_eq!(found[1].error(), Some("insufficient_scope"));
        // DPoP's parameters are preferred.
        assert_eq!(find_param(&found, "error"), Some("insufficient_scope"));
    }

    #[test]
    fn malformed_fields_yield_what_was_read_and_never_panic() {
        assert!(parse(&[""]).is_empty());
        assert_eq!(parse(&[r#"DPoP error="unterminated"#])[0].params, []);
        // BWS is allowed around `=` (RFC 9110 §11.2): a parameter with no scheme before it.
        assert!(parse(&["DPoP =x"]).is_empty());
        let long = format!("DPoP error=\"{}\"", "a".repeat(MAX_FIELD_BYTES));
        assert!(parse(&[&long]).is_empty());
        let many = (0..100)
            .map(|i| format!("S{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        assert_eq!(parse(&[&many]).len(), MAX_ITEMS);
    }
}
