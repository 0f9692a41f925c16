//! `[guard.scopes]`: the scopes each MCP operation requires.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::guard::ScopePolicy;

use super::ConfigError;
use super::check::path;

/// `[guard.scopes]`: which scopes each MCP operation requires. The most specific rule
/// wins and `always` is added to all; a granted scope must match exactly, or sit above the
/// required one when `hierarchy` is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScopesConfig {
    /// Scopes every request requires.
    pub always: Vec<String>,
    /// One character that makes scopes hierarchical (`":"`: `tools` grants
    /// `tools:call`). Default none (exact match).
    pub hierarchy: Option<String>,
    /// Scopes per JSON-RPC method, e.g. `"tools/list" = ["tools:read"]`.
    pub methods: BTreeMap<String, Vec<String>>,
    /// Scopes per tool (`tools/call` with that name); `"*"` is every tool.
    pub tools: BTreeMap<String, Vec<String>>,
    /// Scopes per resource URI (`resources/read`, `subscribe`, `unsubscribe`).
    pub resources: BTreeMap<String, Vec<String>>,
    /// Scopes per prompt (`prompts/get` with that name).
    pub prompts: BTreeMap<String, Vec<String>>,
    /// Scopes for operations no rule matches, and requests without one.
    pub default: Vec<String>,
}

const SCOPES: &str = "guard.scopes";

impl ScopesConfig {
    /// The scope policy. Each list is checked on its own first, so that an invalid scope
    /// is reported with the field that holds it.
    pub fn policy(&self) -> Result<ScopePolicy, ConfigError> {
        let lists = std::iter::once((path(SCOPES, "always"), &self.always))
            .chain(std::iter::once((path(SCOPES, "default"), &self.default)))
            .chain(
                [
                    ("methods", &self.methods),
                    ("tools", &self.tools),
                    ("resources", &self.resources),
                    ("prompts", &self.prompts),
                ]
                .into_iter()
                .flat_map(|(table, rules)| {
                    rules
                        .iter()
                        .map(move |(name, scopes)| (format!("{SCOPES}.{table}.\"{name}\""), scopes))
                }),
            );
        for (field, scopes) in lists {
            if let Err(error) = ScopePolicy::builder()
                .always(scopes.iter().cloned())
                .build()
            {
                return Err(ConfigError::new(
                    field,
                    format!(
                        "{error}: scopes are non-empty printable ASCII without spaces, quotes or backslashes"
                    ),
                ));
            }
        }
        let mut builder = ScopePolicy::builder()
            .always(self.always.iter().cloned())
            .default_scopes(self.default.iter().cloned());
        if let Some(separator) = &self.hierarchy {
            let mut chars = separator.chars();
            match (chars.next(), chars.next()) {
                (Some(separator), None) => builder = builder.hierarchy(separator),
                _ => {
                    return Err(ConfigError::new(
                        path(SCOPES, "hierarchy"),
                        format!("{separator:?} must be exactly one character, e.g. \":\""),
                    ));
                }
            }
        }
        for (method, scopes) in &self.methods {
            builder = builder.method(method.clone(), scopes.iter().cloned());
        }
        for (tool, scopes) in &self.tools {
            builder = builder.tool(tool, scopes.iter().cloned());
        }
        for (uri, scopes) in &self.resources {
            builder = builder.resource(uri, scopes.iter().cloned());
        }
        for (prompt, scopes) in &self.prompts {
            builder = builder.prompt(prompt, scopes.iter().cloned());
        }
        builder.build().map_err(|error| {
            let field = match error {
                crate::guard::ScopePolicyError::InvalidSeparator { .. } => {
                    path(SCOPES, "hierarchy")
                }
                _ => SCOPES.to_owned(),
            };
            ConfigError::new(field, error.to_string())
        })
    }
}
