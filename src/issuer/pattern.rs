//! Patterns for subjects and claim values in trust rules: exact text, or a glob where `*`
//! stands for one name (no `/` or `:`) and `**` for any text.
//!
//! Why two wildcards: workload identifiers are paths. `spiffe://td/ns/payments/sa/*` must
//! not also admit `spiffe://td/ns/payments/sa/x/../other`, and
//! `system:serviceaccount:payments:*` must not admit a name with another `:` in it; an
//! operator who wants "anything below" writes `**` and says so.

use std::fmt;

/// One pattern, checked when the policy is loaded.
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// `*`: one or more characters, none of them `/` or `:`.
    Segment,
    /// `**`: any text, possibly empty.
    Any,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// Empty patterns would only ever match empty values, which no rule means.
    #[error("the pattern is empty")]
    Empty,
    /// `***` or more: a typo, not a meaning.
    #[error("the pattern has three or more `*` in a row")]
    TooManyStars,
    /// Longer than [`Pattern::MAX_LEN`].
    #[error("the pattern is longer than {} bytes", Pattern::MAX_LEN)]
    TooLong,
}

impl Pattern {
    /// The longest pattern accepted: matching is linear in the pattern times the value, so
    /// both are bounded.
    pub const MAX_LEN: usize = 1024;

    /// Parses `text`.
    ///
    /// ```
    /// use mcp_warden::issuer::Pattern;
    ///
    /// let one = Pattern::parse("system:serviceaccount:payments:*")?;
    /// assert!(one.matches("system:serviceaccount:payments:agent"));
    /// assert!(!one.matches("system:serviceaccount:payments:a:b"));
    /// let below = Pattern::parse("spiffe://prod.example/ns/payments/**")?;
    /// assert!(below.matches("spiffe://prod.example/ns/payments/sa/agent"));
    /// # Ok::<(), mcp_warden::issuer::PatternError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.len() > Self::MAX_LEN {
            return Err(PatternError::TooLong);
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '*' {
                literal.push(c);
                continue;
            }
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            if chars.peek() == Some(&'*') {
                chars.next();
                if chars.peek() == Some(&'*') {
                    return Err(PatternError::TooManyStars);
                }
                parts.push(Part::Any);
            } else {
                parts.push(Part::Segment);
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Pattern {
            text: text.to_owned(),
            parts,
        })
    }

    /// Whether the pattern has no wildcard.
    pub fn is_exact(&self) -> bool {
        matches!(self.parts.as_slice(), [Part::Literal(_)])
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `value` matches the whole pattern.
    pub fn matches(&self, value: &str) -> bool {
        if value.len() > Self::MAX_VALUE_LEN {
            return false;
        }
        match_parts(&self.parts, value)
    }

    /// Values longer than this never match: claims are attacker-supplied text.
    const MAX_VALUE_LEN: usize = 4096;
}

/// Runs the pattern over `value` as a set of reachable positions, one part at a time, so
/// the cost is linear in the pattern times the value whatever the wildcards: backtracking
/// over several `**` would be exponential in an attacker's claim.
fn match_parts(parts: &[Part], value: &str) -> bool {
    let len = value.len();
    let mut reach = vec![false; len + 1];
    reach[0] = true;
    for part in parts {
        let mut next = vec![false; len + 1];
        match part {
            Part::Literal(literal) => {
                for start in (0..=len).filter(|at| reach[*at]) {
                    if value[start..].starts_with(literal.as_str()) {
                        next[start + literal.len()] = true;
                    }
                }
            }
            Part::Segment => {
                // `open`: some reachable start lies before here with no separator since.
                let mut open = false;
                for (at, c) in value.char_indices() {
                    open |= reach[at];
                    if c == '/' || c == ':' {
                        open = false;
                    } else if open {
                        next[at + c.len_utf8()] = true;
                    }
                }
            }
            Part::Any => {
                if let Some(first) = reach.iter().position(|reached| *reached) {
                    for end in (first..=len).filter(|end| value.is_char_boundary(*end)) {
                        next[end] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[len]
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> Pattern {
        Pattern::parse(text).expect("a valid pattern")
    }

    #[test]
    fn exact_patterns_match_only_themselves() {
        let exact = pattern("repo:acme/tools:ref:refs/heads/main");
        assert!(exact.is_exact());
        assert!(exact.matches("repo:acme/tools:ref:refs/heads/main"));
        assert!(!exact.matches("repo:acme/tools:ref:refs/heads/main2"));
        assert!(!exact.matches("repo:acme/tools:ref:refs/heads/mai"));
    }

    #[test]
    fn one_star_is_one_name() {
        let sa = pattern("system:serviceaccount:*:agent");
        assert!(sa.matches("system:serviceaccount:payments:agent"));
        assert!(!sa.matches("system:serviceaccount::agent"), "never empty");
        assert!(!sa.matches("system:serviceaccount:a:b:agent"));
        let path = pattern("spiffe://td/ns/*/sa/agent");
        assert!(path.matches("spiffe://td/ns/payments/sa/agent"));
        assert!(!path.matches("spiffe://td/ns/pay/ments/sa/agent"));
        let suffix = pattern("batch-*");
        assert!(suffix.matches("batch-7"));
        assert!(!suffix.matches("batch-"));
    }

    #[test]
    fn two_stars_are_anything() {
        let below = pattern("repo:acme/**");
        assert!(below.matches("repo:acme/tools:ref:refs/heads/main"));
        assert!(below.matches("repo:acme/"));
        assert!(!below.matches("repo:acme"));
        assert!(pattern("**").matches(""));
        assert!(pattern("a**b**c").matches("a-b:/-c"));
        assert!(
            pattern("é*ü").matches("éxü"),
            "multi-byte characters are whole"
        );
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
        assert_eq!(Pattern::parse("a***"), Err(PatternError::TooManyStars));
        assert_eq!(
            Pattern::parse(&"a".repeat(Pattern::MAX_LEN + 1)),
            Err(PatternError::TooLong)
        );
        assert!(
            !pattern("**").matches(&"x".repeat(5000)),
            "long values never match"
        );
    }

    #[test]
    fn many_wildcards_stay_linear() {
        // Exponential under backtracking; here a few million steps at most.
        let stars = pattern(&"**a".repeat(300));
        assert!(!stars.matches(&"a".repeat(299)));
        assert!(stars.matches(&"a".repeat(4000)));
    }
}
