//! Which scopes each MCP operation requires, and whether a token's granted scopes satisfy
//! them (RFC 6749 §3.3 scope tokens; RFC 6750 §3.1 `insufficient_scope`).
//!
//! A rule names a method, or a method and what it addresses (a tool, resource or prompt,
//! see [`McpOperation::name`]). The most specific matching rule wins, and the `always`
//! scopes are added to every operation: a policy can only add requirements, never waive
//! one. Scope comparison is exact unless a hierarchy separator is configured.

use std::collections::HashMap;

use super::mcp::McpOperation;

/// The per-operation scope requirements. The default policy requires nothing.
///
/// ```
/// use mcp_warden::guard::{McpOperation, ScopePolicy};
///
/// let policy = ScopePolicy::builder()
///     .always(["mcp"])
///     .method("tools/call", ["tools:call"])
///     .tool("deploy", ["tools:deploy"])
///     .build()?;
/// let deploy = McpOperation { method: "tools/call".into(), name: Some("deploy".into()), id: None };
/// let required = policy.required(Some(&deploy));
/// assert_eq!(required, ["mcp", "tools:deploy"]);
///
/// let granted = vec!["mcp".to_owned(), "tools:call".to_owned()];
/// assert_eq!(policy.check(&granted, &required), Err(vec!["mcp".to_owned(), "tools:deploy".to_owned()]));
/// # Ok::<(), mcp_warden::guard::ScopePolicyError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ScopePolicy {
    always: Vec<String>,
    methods: HashMap<String, MethodRules>,
    default: Vec<String>,
    hierarchy: Option<char>,
}

#[derive(Debug, Clone, Default)]
struct MethodRules {
    /// The rule for the method with any name.
    any: Option<Vec<String>>,
    /// Rules for (method, name).
    named: HashMap<String, Vec<String>>,
}

/// Why a scope policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScopePolicyError {
    /// A configured scope is not an RFC 6749 §3.3 scope-token (empty, or a space, `"`, `\`
    /// or non-ASCII character), so no token could ever grant it or a challenge carry it.
    #[error("scope {scope:?} is not a valid scope token")]
    InvalidScope {
        /// The configured scope.
        scope: String,
    },
    /// The hierarchy separator is not a character a scope-token may contain.
    #[error("hierarchy separator {separator:?} is not a scope-token character")]
    InvalidSeparator {
        /// The configured separator.
        separator: char,
    },
}

impl ScopePolicy {
    /// Starts an empty policy.
    pub fn builder() -> ScopePolicyBuilder {
        ScopePolicyBuilder::default()
    }

    /// Whether any rule depends on the operation, so the layer must read the body; `false`
    /// when only `always` and default scopes are configured.
    pub fn needs_body(&self) -> bool {
        !self.methods.is_empty()
    }

    /// The scopes `op` requires: every `always` scope plus those of the most specific
    /// matching rule — (method, name), then (method, any name), then the default, which also
    /// applies when there is no operation (`None`). Without duplicates, in that order.
    pub fn required(&self, op: Option<&McpOperation>) -> Vec<&str> {
        let rule = op.and_then(|op| {
            let rules = self.methods.get(&op.method)?;
            op.name
                .as_deref()
                .and_then(|name| rules.named.get(name))
                .or(rules.any.as_ref())
        });
        let mut required = Vec::new();
        for scope in self.always.iter().chain(rule.unwrap_or(&self.default)) {
            if !required.contains(&scope.as_str()) {
                required.push(scope.as_str());
            }
        }
        required
    }

    /// The scopes a body of several operations requires: the union over all of them, or
    /// [`required(None)`](Self::required) when it carries none.
    pub fn required_all(&self, ops: &[McpOperation]) -> Vec<&str> {
        if ops.is_empty() {
            return self.required(None);
        }
        let mut required = Vec::new();
        for scope in ops.iter().flat_map(|op| self.required(Some(op))) {
            if !required.contains(&scope) {
                required.push(scope);
            }
        }
        required
    }

    /// Whether `granted` satisfies every scope in `required`. On failure, lists all of
    /// `required`, not only the missing ones: RFC 6750 §3.1 has `insufficient_scope` name
    /// "the scope necessary to access the protected resource".
    pub fn check(&self, granted: &[String], required: &[&str]) -> Result<(), Vec<String>> {
        let satisfied = required
            .iter()
            .all(|needed| granted.iter().any(|g| self.satisfies(g, needed)));
        if satisfied {
            Ok(())
        } else {
            Err(required.iter().map(|&scope| scope.to_owned()).collect())
        }
    }

    /// Every distinct scope the policy mentions, for `scopes_supported` (RFC 9728 §2).
    pub fn scopes(&self) -> Vec<&str> {
        let rules = self.methods.values().flat_map(|rules| {
            rules
                .any
                .iter()
                .flatten()
                .chain(rules.named.values().flatten())
        });
        let mut scopes: Vec<&str> = self
            .always
            .iter()
            .chain(rules)
            .chain(&self.default)
            .map(String::as_str)
            .collect();
        scopes.sort_unstable();
        scopes.dedup();
        scopes
    }

    /// `granted` satisfies `required` if equal, or, with a separator `s`, if `required`
    /// continues `granted` at an `s`: "tools" satisfies "tools:call" but not "toolsx" and
    /// not the reverse.
    fn satisfies(&self, granted: &str, required: &str) -> bool {
        if granted == required {
            return true;
        }
        let Some(separator) = self.hierarchy else {
            return false;
        };
        !granted.is_empty()
            && required
                .strip_prefix(granted)
                .is_some_and(|rest| rest.starts_with(separator))
    }
}

/// Builds a [`ScopePolicy`]. Repeating a rule adds to its scopes.
#[derive(Debug, Clone, Default)]
pub struct ScopePolicyBuilder {
    policy: ScopePolicy,
}

impl ScopePolicyBuilder {
    /// Scopes every request requires, whatever the operation.
    pub fn always<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        extend(&mut self.policy.always, scopes);
        self
    }

    /// Scopes for `method` with any name (for example `tools/list`, or `tools/call` for
    /// every tool).
    pub fn method<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        method: impl Into<String>,
        scopes: I,
    ) -> Self {
        let rules = self.policy.methods.entry(method.into()).or_default();
        extend(rules.any.get_or_insert_with(Vec::new), scopes);
        self
    }

    /// Scopes for calling the tool `name` (`tools/call`); `"*"` means every tool.
    pub fn tool<I: IntoIterator<Item = S>, S: Into<String>>(self, name: &str, scopes: I) -> Self {
        self.named("tools/call", name, scopes)
    }

    /// Scopes for the resource `uri`: `resources/read`, and also `resources/subscribe` and
    /// `resources/unsubscribe`, since updates about a resource are about its content too.
    /// `"*"` means every resource.
    pub fn resource<I: IntoIterator<Item = S>, S: Into<String>>(
        self,
        uri: &str,
        scopes: I,
    ) -> Self {
        let scopes: Vec<String> = scopes.into_iter().map(Into::into).collect();
        [
            "resources/read",
            "resources/subscribe",
            "resources/unsubscribe",
        ]
        .into_iter()
        .fold(self, |builder, method| {
            builder.named(method, uri, scopes.clone())
        })
    }

    /// Scopes for getting the prompt `name` (`prompts/get`); `"*"` means every prompt.
    pub fn prompt<I: IntoIterator<Item = S>, S: Into<String>>(self, name: &str, scopes: I) -> Self {
        self.named("prompts/get", name, scopes)
    }

    /// Scopes for operations no rule matches, and for requests without an operation.
    pub fn default_scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, scopes: I) -> Self {
        extend(&mut self.policy.default, scopes);
        self
    }

    /// Lets a granted scope satisfy the required scopes below it: with `':'`, a granted
    /// `tools` satisfies `tools:call` and `tools:call:weather`. Off by default.
    pub fn hierarchy(mut self, separator: char) -> Self {
        self.policy.hierarchy = Some(separator);
        self
    }

    /// Checks every scope and builds the policy.
    pub fn build(self) -> Result<ScopePolicy, ScopePolicyError> {
        let policy = self.policy;
        if let Some(separator) = policy.hierarchy
            && !is_scope_char(separator)
        {
            return Err(ScopePolicyError::InvalidSeparator { separator });
        }
        if let Some(scope) = policy
            .scopes()
            .into_iter()
            .find(|scope| scope.is_empty() || !scope.chars().all(is_scope_char))
        {
            return Err(ScopePolicyError::InvalidScope {
                scope: scope.to_owned(),
            });
        }
        Ok(policy)
    }

    fn named<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        method: &str,
        name: &str,
        scopes: I,
    ) -> Self {
        if name == "*" {
            return self.method(method, scopes);
        }
        let rules = self.policy.methods.entry(method.to_owned()).or_default();
        extend(rules.named.entry(name.to_owned()).or_default(), scopes);
        self
    }
}

fn extend<I: IntoIterator<Item = S>, S: Into<String>>(list: &mut Vec<String>, scopes: I) {
    for scope in scopes {
        let scope = scope.into();
        if !list.contains(&scope) {
            list.push(scope);
        }
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, name: Option<&str>) -> McpOperation {
        McpOperation {
            method: method.into(),
            name: name.map(Into::into),
            id: None,
        }
    }

    fn granted(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|&s| s.to_owned()).collect()
    }

    fn policy() -> ScopePolicy {
        ScopePolicy::builder()
            .method("tools/list", ["tools:read"])
            .method("tools/call", ["tools:call"])
            .tool("weather", ["tools:weather"])
            .resource("file:///secret", ["files:secret"])
            .prompt("review", ["prompts:review"])
            .default_scopes(["mcp:other"])
            .build()
            .unwrap()
    }

    #[test]
    fn exact_method_and_tool_rules() {
        let policy = policy();
        assert!(policy.needs_body());
        assert_eq!(
            policy.required(Some(&op("tools/list", None))),
            ["tools:read"]
        );
        // A tool rule overrides the method rule; other tools fall back to the method rule.
        assert_eq!(
            policy.required(Some(&op("tools/call", Some("weather")))),
            ["tools:weather"]
        );
        assert_eq!(
            policy.required(Some(&op("tools/call", Some("other")))),
            ["tools:call"]
        );
        assert_eq!(
            policy.required(Some(&op("tools/call", None))),
            ["tools:call"]
        );
        for method in ["resources/read", "resources/subscribe"] {
            let op = op(method, Some("file:///secret"));
            assert_eq!(policy.required(Some(&op)), ["files:secret"]);
        }
        assert_eq!(
            policy.required(Some(&op("prompts/get", Some("review")))),
            ["prompts:review"]
        );
        // No rule: the default, also without an operation.
        assert_eq!(
            policy.required(Some(&op("resources/read", Some("file:///x")))),
            ["mcp:other"]
        );
        assert_eq!(
            policy.required(Some(&op("initialize", None))),
            ["mcp:other"]
        );
        assert_eq!(policy.required(None), ["mcp:other"]);
    }

    #[test]
    fn always_adds_to_every_rule() {
        let policy = ScopePolicy::builder()
            .always(["mcp"])
            .tool("weather", ["tools:weather", "mcp"])
            .build()
            .unwrap();
        assert_eq!(
            policy.required(Some(&op("tools/call", Some("weather")))),
            ["mcp", "tools:weather"]
        );
        assert_eq!(policy.required(Some(&op("tools/list", None))), ["mcp"]);
        assert_eq!(policy.required(None), ["mcp"]);
        let batch = [op("tools/call", Some("weather")), op("tools/list", None)];
        assert_eq!(policy.required_all(&batch), ["mcp", "tools:weather"]);
    }

    #[test]
    fn hierarchy_off_by_default() {
        let flat = ScopePolicy::default();
        assert_eq!(
            flat.check(&granted(&["tools:call"]), &["tools:call"]),
            Ok(())
        );
        assert!(flat.check(&granted(&["tools"]), &["tools:call"]).is_err());
    }

    #[test]
    fn hierarchy_on() {
        let policy = ScopePolicy::builder().hierarchy(':').build().unwrap();
        let tools = granted(&["tools"]);
        assert_eq!(policy.check(&tools, &["tools:call"]), Ok(()));
        assert_eq!(policy.check(&tools, &["tools:call:weather"]), Ok(()));
        assert_eq!(policy.check(&tools, &["tools"]), Ok(()));
        // The prefix must end at a separator, and a narrower grant never covers a wider need.
        assert!(policy.check(&granted(&["tool"]), &["tools:x"]).is_err());
        assert!(policy.check(&granted(&["tools:call"]), &["tools"]).is_err());
        assert!(policy.check(&granted(&[""]), &[":x"]).is_err());
    }

    #[test]
    fn empty_policy_requires_nothing() {
        let policy = ScopePolicy::builder().build().unwrap();
        assert!(!policy.needs_body());
        assert!(
            policy
                .required(Some(&op("tools/call", Some("x"))))
                .is_empty()
        );
        assert_eq!(policy.check(&[], &[]), Ok(()));
        let defaults_only = ScopePolicy::builder()
            .always(["mcp"])
            .default_scopes(["d"])
            .build()
            .unwrap();
        assert!(!defaults_only.needs_body());
    }

    // RFC 6750 §3.1: the error names every scope the operation needs.
    #[test]
    fn insufficient_lists_all_required() {
        let policy = ScopePolicy::default();
        assert_eq!(
            policy.check(&granted(&["mcp", "a"]), &["mcp", "a", "b"]),
            Err(granted(&["mcp", "a", "b"]))
        );
    }

    #[test]
    fn invalid_configuration() {
        let invalid = |scope: &str| {
            let error = ScopePolicy::builder()
                .tool("t", [scope])
                .build()
                .unwrap_err();
            assert_eq!(
                error,
                ScopePolicyError::InvalidScope {
                    scope: scope.into()
                }
            );
        };
        invalid("two words");
        invalid("");
        invalid("quote\"");
        invalid("caf\u{e9}");
        assert_eq!(
            ScopePolicy::builder().hierarchy(' ').build().unwrap_err(),
            ScopePolicyError::InvalidSeparator { separator: ' ' }
        );
        assert_eq!(policy().scopes().len(), 6);
    }
}
