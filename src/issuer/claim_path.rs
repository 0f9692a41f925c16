//! Dotted paths into a JWT's claims, for trust rules: `kubernetes.io.namespace`,
//! `kubernetes.io.serviceaccount.name`, `repository`, `sub`.
//!
//! A member name may itself hold dots (Kubernetes nests its claims under `kubernetes.io`),
//! so a path is resolved against the claims' actual names: at each level every split of the
//! remaining path at a dot is tried. A path that resolves two ways (a token carrying both
//! `a.b` and `a: {b}`) is ambiguous and matches nothing: an attacker who controls one of the
//! two members must not be able to choose which one the rule reads.

use serde_json::Value;

use crate::jose::Object;

/// A claim's path, checked when the policy is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(String);

/// Why a claim path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimPathError {
    /// Empty, or with an empty segment (`a..b`, `.a`, `a.`).
    #[error("the claim path has an empty segment")]
    EmptySegment,
    /// Longer than [`ClaimPath::MAX_LEN`] bytes.
    #[error("the claim path is longer than {} bytes", ClaimPath::MAX_LEN)]
    TooLong,
}

/// What a path found in the claims.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resolved<'c> {
    /// No member at that path.
    Absent,
    /// Exactly one value.
    Value(&'c Value),
    /// Two or more different members at that path: treated as no match.
    Ambiguous,
}

impl ClaimPath {
    /// The longest path accepted.
    pub const MAX_LEN: usize = 256;

    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, ClaimPathError> {
        if text.len() > Self::MAX_LEN {
            return Err(ClaimPathError::TooLong);
        }
        if text.split('.').any(str::is_empty) {
            return Err(ClaimPathError::EmptySegment);
        }
        Ok(ClaimPath(text.to_owned()))
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Finds the value at this path in `claims`.
    ///
    /// ```
    /// use mcp_warden::issuer::{ClaimPath, Resolved};
    ///
    /// let claims = serde_json::json!({"kubernetes.io": {"namespace": "payments"}});
    /// let path = ClaimPath::parse("kubernetes.io.namespace").unwrap();
    /// assert_eq!(path.resolve(claims.as_object().unwrap()), Resolved::Value(&"payments".into()));
    /// ```
    pub fn resolve<'c>(&self, claims: &'c Object) -> Resolved<'c> {
        let mut found = None;
        // At most one level per dot, and each level tries each dot once: bounded by the
        // path length squared, whatever the claims hold.
        let ambiguous = collect(claims, &self.0, &mut found);
        match (ambiguous, found) {
            (true, _) => Resolved::Ambiguous,
            (false, Some(value)) => Resolved::Value(value),
            (false, None) => Resolved::Absent,
        }
    }
}

/// Walks every way `path` splits into member names; returns whether two were found.
fn collect<'c>(object: &'c Object, path: &str, found: &mut Option<&'c Value>) -> bool {
    if let Some(value) = object.get(path) {
        if found.is_some() {
            return true;
        }
        *found = Some(value);
    }
    for (at, _) in path.match_indices('.') {
        let (head, tail) = (&path[..at], &path[at + 1..]);
        if let Some(Value::Object(inner)) = object.get(head)
            && collect(inner, tail, found)
        {
            return true;
        }
    }
    false
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(value: serde_json::Value) -> Object {
        match value {
            Value::Object(object) => object,
            _ => Object::new(),
        }
    }

    fn path(text: &str) -> ClaimPath {
        ClaimPath::parse(text).expect("a valid path")
    }

    #[test]
    fn dotted_member_names_and_nesting_resolve() {
        let token = claims(serde_json::json!({
            "sub": "system:serviceaccount:payments:agent",
            "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "agent", "uid": "u"}},
        }));
        assert_eq!(
            path("kubernetes.io.serviceaccount.name").resolve(&token),
            Resolved::Value(&Value::from("agent"))
        );
        assert_eq!(
            path("sub").resolve(&token),
            Resolved::Value(&Value::from("system:serviceaccount:payments:agent"))
        );
        assert_eq!(
            path("kubernetes.io.pod.name").resolve(&token),
            Resolved::Absent
        );
        assert_eq!(path("sub.x").resolve(&token), Resolved::Absent);
    }

    #[test]
    fn two_readings_are_ambiguous() {
        let token = claims(serde_json::json!({
            "a.b": "flat",
            "a": {"b": "nested"},
        }));
        assert_eq!(path("a.b").resolve(&token), Resolved::Ambiguous);
    }

    #[test]
    fn bad_paths_are_refused() {
        for bad in ["", ".a", "a.", "a..b"] {
            assert_eq!(
                ClaimPath::parse(bad),
                Err(ClaimPathError::EmptySegment),
                "{bad}"
            );
        }
        assert_eq!(
            ClaimPath::parse(&"a".repeat(300)),
            Err(ClaimPathError::TooLong)
        );
    }
}
