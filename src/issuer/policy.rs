//! The trust policy: which workload may get which scopes for which MCP resource.
//!
//! Pure: [`Policy::decide`] takes a verified workload identity and what the token request
//! asks for, and returns a [`Decision`] or the [`PolicyRefusal`] that says why not. Nothing
//! is granted unless a rule grants it; no claim reaches the issued token unless a rule names
//! it. Rules are tried in order and the first that matches the workload, allows the grant
//! type and grants the requested resource decides.
//!
//! A policy is compiled once ([`Policy::compile`]) from its written form
//! ([`PolicyDocument`], TOML or JSON) and every problem is reported with the rule it is in,
//! so `check-config` can name them all.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::jose::Object;

use super::claim_path::{ClaimPath, Resolved};
use super::pattern::Pattern;

/// The grants a token request can use (RFC 7523 §2.1, RFC 8693 §2.1, RFC 6749 §4.4 with
/// a federated client assertion, RFC 7523 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantKind {
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` (MCP SEP-1933).
    JwtBearer,
    /// `urn:ietf:params:oauth:grant-type:token-exchange`.
    TokenExchange,
    /// `client_credentials` with a workload token as the client assertion.
    ClientCredentials,
}

impl GrantKind {
    /// All three.
    pub const ALL: [GrantKind; 3] = [
        GrantKind::JwtBearer,
        GrantKind::TokenExchange,
        GrantKind::ClientCredentials,
    ];

    /// The name used in configuration and audit records.
    pub fn name(self) -> &'static str {
        match self {
            GrantKind::JwtBearer => "jwt-bearer",
            GrantKind::TokenExchange => "token-exchange",
            GrantKind::ClientCredentials => "client-credentials",
        }
    }
}

/// The policy as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// The MCP resources tokens can be issued for.
    #[serde(default)]
    pub resources: Vec<ResourceDocument>,
    /// The rules, tried in order.
    #[serde(default)]
    pub rules: Vec<RuleDocument>,
}

/// One MCP resource (RFC 8707 §2: its `resource` indicator becomes the tokens' `aud`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceDocument {
    /// A short name rules refer to (also accepted as an RFC 8693 `audience`).
    pub name: String,
    /// The resource's canonical URI: absolute, no fragment (RFC 8707 §2).
    pub uri: String,
    /// Every scope the resource knows; rules grant subsets of it.
    pub scopes: Vec<String>,
}

/// One rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDocument {
    /// A name for audit records and metrics.
    pub name: String,
    /// The trusted issuer (its configured name) whose workloads this rule is about.
    pub issuer: String,
    /// The workload's `sub`: exact, or a [`Pattern`].
    #[serde(default)]
    pub subject: Option<String>,
    /// Claim conditions: a dotted path to a string, a list of strings (any of them), or a
    /// boolean. Strings may be patterns.
    #[serde(default)]
    pub claims: BTreeMap<String, ClaimCondition>,
    /// The grant types this rule answers; all three when absent.
    #[serde(default)]
    pub grant_types: Option<Vec<GrantKind>>,
    /// What the rule grants.
    pub grants: Vec<GrantDocument>,
    /// The issued token's lifetime in seconds; the issuer's default when absent.
    #[serde(default)]
    pub token_lifetime_s: Option<u64>,
    /// Claims copied from the workload's token into the issued one: issued name → path.
    #[serde(default)]
    pub copy_claims: BTreeMap<String, String>,
    /// Issue a Bearer token to a request with no DPoP proof. Off: such requests are refused
    /// with `invalid_dpop_proof`; a token without a key binding is worth stealing.
    #[serde(default)]
    pub allow_bearer: bool,
}

/// Scopes for one resource.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantDocument {
    /// The resource, by name or URI.
    pub resource: String,
    /// The scopes the rule grants (a subset of the resource's).
    pub scopes: Vec<String>,
    /// What a request without `scope` gets; every granted scope when absent.
    #[serde(default)]
    pub default_scopes: Option<Vec<String>>,
}

/// A claim condition as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ClaimCondition {
    /// A boolean claim with this value (GitHub's `runner_environment` is a string, but
    /// e.g. `email_verified` is a boolean).
    Bool(bool),
    /// A string (or pattern).
    One(String),
    /// Any of these strings (or patterns).
    AnyOf(Vec<String>),
}

/// What a trusted issuer brings to compiling the policy.
#[derive(Debug, Clone, Default)]
pub struct IssuerFacts {
    /// The issuer's configured name.
    pub name: String,
    /// For a multi-tenant issuer (GitHub Actions, a shared cloud issuer), claims that name
    /// the tenant: every rule for it must constrain one of them, or it would trust every
    /// tenant in the world.
    pub tenant_claims: Vec<String>,
}

/// Limits the policy's lifetimes must respect.
#[derive(Debug, Clone, Copy)]
pub struct PolicyLimits {
    /// A rule without `token_lifetime_s` gives this.
    pub default_token_lifetime_s: u64,
    /// No rule may give more.
    pub max_token_lifetime_s: u64,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        PolicyLimits {
            default_token_lifetime_s: 300,
            max_token_lifetime_s: 3600,
        }
    }
}

/// One problem in the policy, naming where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {problem}")]
pub struct PolicyError {
    /// `rules[2] "payments"`, `resources[0]`, …
    pub place: String,
    /// What is wrong.
    pub problem: String,
}

/// Claims an issued token always sets itself (RFC 9068 §2.2, RFC 9449 §6, RFC 8693 §4):
/// never copied from a workload's token.
const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "cnf",
    "scope",
    "client_id",
    "act",
    "may_act",
    "auth_time",
    "acr",
    "amr",
];

/// A compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    resources: Vec<Resource>,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Resource {
    name: String,
    uri: String,
}

#[derive(Debug, Clone)]
struct Rule {
    name: Arc<str>,
    issuer: String,
    subject: Option<Pattern>,
    claims: Vec<(ClaimPath, Condition)>,
    grant_types: Vec<GrantKind>,
    grants: Vec<Grant>,
    token_lifetime_s: u64,
    copy_claims: Vec<(String, ClaimPath)>,
    allow_bearer: bool,
}

#[derive(Debug, Clone)]
struct Grant {
    /// Index into `Policy::resources`.
    resource: usize,
    scopes: Vec<String>,
    default_scopes: Vec<String>,
}

#[derive(Debug, Clone)]
enum Condition {
    Bool(bool),
    AnyOf(Vec<Pattern>),
}

/// A verified workload, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Workload<'a> {
    /// The trusted issuer's configured name.
    pub issuer: &'a str,
    /// `sub`.
    pub subject: &'a str,
    /// Every claim of the workload's token.
    pub claims: &'a Object,
}

/// What a token request asks for.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The grant type.
    pub grant: GrantKind,
    /// `resource` values (RFC 8707 §2).
    pub resources: &'a [String],
    /// `audience` values (RFC 8693 §2.1): a resource's name or URI.
    pub audiences: &'a [String],
    /// `scope` (RFC 6749 §3.3), as sent.
    pub scope: Option<&'a str>,
    /// Whether the request carried a valid DPoP proof.
    pub dpop: bool,
}

/// What a request is granted.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The rule that granted it.
    pub rule: Arc<str>,
    /// The resource's URI: the token's `aud`.
    pub resource: String,
    /// The granted scopes, in the rule's order.
    pub scopes: Vec<String>,
    /// The token's lifetime in seconds.
    pub token_lifetime_s: u64,
    /// Claims to add to the token.
    pub copied_claims: Object,
}

/// Why the policy granted nothing. The precise variant goes to the audit log; the
/// client sees only the OAuth error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyRefusal {
    /// No rule matches this workload (issuer, subject and claims).
    #[error("no rule matches the workload")]
    NoRuleMatches,
    /// Rules match the workload, but none allows this grant type.
    #[error("no rule matching the workload allows grant type {0}")]
    GrantTypeNotAllowed(&'static str),
    /// More than one resource requested: a token has one audience here.
    #[error("more than one resource requested")]
    SeveralResources,
    /// The requested resource is not configured.
    #[error("unknown resource")]
    UnknownResource,
    /// No resource requested, and the workload's rules grant more than one (or none).
    #[error("no resource requested and none implied")]
    NoResource,
    /// The resource exists but no rule matching the workload grants it.
    #[error("no rule grants the workload this resource")]
    ResourceNotGranted,
    /// None of the requested scopes is granted.
    #[error("none of the requested scopes is granted")]
    NoScopeLeft,
    /// The request has no DPoP proof and the rule does not allow Bearer tokens.
    #[error("a DPoP proof is required")]
    ProofRequired,
    /// `scope` is malformed (RFC 6749 §3.3: space-separated, printable ASCII, no `"` or `\`).
    #[error("malformed scope")]
    MalformedScope,
}

impl PolicyRefusal {
    /// A short, stable name for metrics labels and audit records.
    pub fn reason(&self) -> &'static str {
        match self {
            PolicyRefusal::NoRuleMatches => "policy_no_rule",
            PolicyRefusal::GrantTypeNotAllowed(_) => "policy_grant_type",
            PolicyRefusal::SeveralResources => "policy_several_resources",
            PolicyRefusal::UnknownResource => "policy_unknown_resource",
            PolicyRefusal::NoResource => "policy_no_resource",
            PolicyRefusal::ResourceNotGranted => "policy_resource_not_granted",
            PolicyRefusal::NoScopeLeft => "policy_no_scope",
            PolicyRefusal::ProofRequired => "policy_proof_required",
            PolicyRefusal::MalformedScope => "policy_malformed_scope",
        }
    }
}

impl Policy {
    /// Compiles `document`, reporting every problem at once.
    pub fn compile(
        document: &PolicyDocument,
        issuers: &[IssuerFacts],
        limits: PolicyLimits,
    ) -> Result<Self, Vec<PolicyError>> {
        let mut errors = Vec::new();
        let resources = compile_resources(&document.resources, &mut errors);
        let mut names = HashSet::new();
        let mut rules = Vec::new();
        for (index, rule) in document.rules.iter().enumerate() {
            let place = format!("rules[{index}] {:?}", rule.name);
            let mut problem = |problem: String| {
                errors.push(PolicyError {
                    place: place.clone(),
                    problem,
                })
            };
            if rule.name.is_empty() {
                problem("name is empty".into());
            } else if !names.insert(rule.name.as_str()) {
                problem("another rule has the same name".into());
            }
            if let Some(compiled) =
                compile_rule(rule, &document.resources, issuers, limits, &mut problem)
            {
                rules.push(compiled);
            }
        }
        if document.rules.is_empty() {
            errors.push(PolicyError {
                place: "rules".into(),
                problem: "no rules: the issuer would refuse every request".into(),
            });
        }
        if errors.is_empty() {
            Ok(Policy { resources, rules })
        } else {
            Err(errors)
        }
    }

    /// The resources' URIs, for metadata and audit.
    pub fn resource_uris(&self) -> impl Iterator<Item = &str> {
        self.resources.iter().map(|resource| resource.uri.as_str())
    }

    /// Decides a request for `workload`.
    pub fn decide(
        &self,
        workload: &Workload<'_>,
        request: &Request<'_>,
    ) -> Result<Decision, PolicyRefusal> {
        let requested = parse_scope(request.scope)?;
        let target = self.target(request)?;
        let mut matched_workload = false;
        let mut matched_grant_type = false;
        let mut implied: Option<usize> = None;
        let mut implied_unique = true;
        for rule in self.rules.iter().filter(|rule| rule.matches(workload)) {
            matched_workload = true;
            if !rule.grant_types.contains(&request.grant) {
                continue;
            }
            matched_grant_type = true;
            let grant = match target {
                Some(resource) => rule.grants.iter().find(|grant| grant.resource == resource),
                None => {
                    for grant in &rule.grants {
                        match implied {
                            None => implied = Some(grant.resource),
                            Some(seen) if seen != grant.resource => implied_unique = false,
                            Some(_) => {}
                        }
                    }
                    continue;
                }
            };
            if let Some(grant) = grant {
                return rule.decide(grant, &self.resources, &requested, workload, request);
            }
        }
        if !matched_workload {
            return Err(PolicyRefusal::NoRuleMatches);
        }
        if !matched_grant_type {
            return Err(PolicyRefusal::GrantTypeNotAllowed(request.grant.name()));
        }
        match (target, implied, implied_unique) {
            // The one resource the workload's rules grant: decide again with it named.
            (None, Some(resource), true) => {
                let uri = [self.resources[resource].uri.clone()];
                let named = Request {
                    resources: &uri,
                    audiences: &[],
                    ..*request
                };
                self.decide(workload, &named)
            }
            (None, _, _) => Err(PolicyRefusal::NoResource),
            (Some(_), _, _) => Err(PolicyRefusal::ResourceNotGranted),
        }
    }

    /// The resource named by `resource` and `audience`, which must agree.
    fn target(&self, request: &Request<'_>) -> Result<Option<usize>, PolicyRefusal> {
        let mut target = None;
        let by_uri = request.resources.iter().map(|uri| {
            self.resources
                .iter()
                .position(|resource| &resource.uri == uri)
        });
        let by_audience = request.audiences.iter().map(|audience| {
            self.resources
                .iter()
                .position(|resource| &resource.name == audience || &resource.uri == audience)
        });
        for found in by_uri.chain(by_audience) {
            let found = found.ok_or(PolicyRefusal::UnknownResource)?;
            match target {
                None => target = Some(found),
                Some(seen) if seen != found => return Err(PolicyRefusal::SeveralResources),
                Some(_) => {}
            }
        }
        Ok(target)
    }
}

impl Rule {
    fn matches(&self, workload: &Workload<'_>) -> bool {
        self.issuer == workload.issuer
            && self
                .subject
                .as_ref()
                .is_none_or(|subject| subject.matches(workload.subject))
            && self
                .claims
                .iter()
                .all(|(path, condition)| match path.resolve(workload.claims) {
                    Resolved::Value(value) => condition.holds(value),
                    Resolved::Absent | Resolved::Ambiguous => false,
                })
    }

    fn decide(
        &self,
        grant: &Grant,
        resources: &[Resource],
        requested: &[&str],
        workload: &Workload<'_>,
        request: &Request<'_>,
    ) -> Result<Decision, PolicyRefusal> {
        if !request.dpop && !self.allow_bearer {
            return Err(PolicyRefusal::ProofRequired);
        }
        // RFC 6749 §3.3: the server may grant less than asked and says so in `scope`.
        let scopes: Vec<String> = if requested.is_empty() {
            grant.default_scopes.clone()
        } else {
            grant
                .scopes
                .iter()
                .filter(|scope| requested.contains(&scope.as_str()))
                .cloned()
                .collect()
        };
        if scopes.is_empty() {
            return Err(PolicyRefusal::NoScopeLeft);
        }
        let mut copied_claims = Object::new();
        for (name, path) in &self.copy_claims {
            if let Resolved::Value(value) = path.resolve(workload.claims) {
                copied_claims.insert(name.clone(), value.clone());
            }
        }
        Ok(Decision {
            rule: Arc::clone(&self.name),
            resource: resources[grant.resource].uri.clone(),
            scopes,
            token_lifetime_s: self.token_lifetime_s,
            copied_claims,
        })
    }
}

impl Condition {
    fn holds(&self, value: &Value) -> bool {
        match (self, value) {
            (Condition::Bool(expected), Value::Bool(found)) => expected == found,
            (Condition::AnyOf(patterns), Value::String(found)) => {
                patterns.iter().any(|pattern| pattern.matches(found))
            }
            // A list claim (groups, `aud`) holds if one of its strings does.
            (Condition::AnyOf(patterns), Value::Array(items)) => items.iter().any(|item| {
                item.as_str()
                    .is_some_and(|found| patterns.iter().any(|pattern| pattern.matches(found)))
            }),
            _ => false,
        }
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, separated by spaces.
fn parse_scope(scope: Option<&str>) -> Result<Vec<&str>, PolicyRefusal> {
    let Some(scope) = scope else {
        return Ok(Vec::new());
    };
    let tokens: Vec<&str> = scope.split(' ').filter(|token| !token.is_empty()).collect();
    let valid = |token: &&str| {
        token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    };
    if tokens.iter().all(valid) && tokens.len() <= 64 {
        Ok(tokens)
    } else {
        Err(PolicyRefusal::MalformedScope)
    }
}

fn compile_resources(
    documents: &[ResourceDocument],
    errors: &mut Vec<PolicyError>,
) -> Vec<Resource> {
    let mut names = HashSet::new();
    let mut uris = HashSet::new();
    let mut resources = Vec::new();
    for (index, resource) in documents.iter().enumerate() {
        let place = format!("resources[{index}] {:?}", resource.name);
        let mut problem = |problem: &str| {
            errors.push(PolicyError {
                place: place.clone(),
                problem: problem.into(),
            })
        };
        if resource.name.is_empty() {
            problem("name is empty");
        } else if !names.insert(resource.name.as_str()) {
            problem("another resource has the same name");
        }
        // RFC 8707 §2: an absolute URI without a fragment.
        match Url::parse(&resource.uri) {
            Ok(url) if url.fragment().is_some() => problem("uri has a fragment (RFC 8707 §2)"),
            Ok(url) if url.cannot_be_a_base() => problem("uri is not a resource URI"),
            Ok(_) => {}
            Err(_) => problem("uri is not an absolute URI (RFC 8707 §2)"),
        }
        if !uris.insert(resource.uri.as_str()) {
            problem("another resource has the same uri");
        }
        if resource.scopes.is_empty() {
            problem("no scopes");
        }
        if parse_scope(Some(&resource.scopes.join(" "))).is_err()
            || resource
                .scopes
                .iter()
                .any(|scope| scope.contains(' ') || scope.is_empty())
        {
            problem("a scope is not an RFC 6749 §3.3 scope token");
        }
        resources.push(Resource {
            name: resource.name.clone(),
            uri: resource.uri.clone(),
        });
    }
    resources
}

fn compile_rule(
    rule: &RuleDocument,
    resources: &[ResourceDocument],
    issuers: &[IssuerFacts],
    limits: PolicyLimits,
    problem: &mut impl FnMut(String),
) -> Option<Rule> {
    let mut ok = true;
    let mut fail = |text: String| {
        ok = false;
        problem(text);
    };
    match issuers.iter().find(|issuer| issuer.name == rule.issuer) {
        None => fail(format!("issuer {:?} is not a trusted issuer", rule.issuer)),
        Some(issuer) if !issuer.tenant_claims.is_empty() => {
            let exact_subject = rule
                .subject
                .as_deref()
                .and_then(|subject| Pattern::parse(subject).ok())
                .is_some_and(|pattern| pattern.is_exact());
            let constrained = exact_subject
                || rule
                    .claims
                    .keys()
                    .any(|path| issuer.tenant_claims.iter().any(|claim| claim == path));
            if !constrained {
                fail(format!(
                    "issuer {:?} serves many tenants: the rule must name an exact subject or constrain one of the claims {}",
                    rule.issuer,
                    issuer.tenant_claims.join(", ")
                ));
            }
        }
        Some(_) => {}
    }
    let subject = match rule.subject.as_deref().map(Pattern::parse) {
        None => None,
        Some(Ok(pattern)) => Some(pattern),
        Some(Err(error)) => {
            fail(format!("subject: {error}"));
            None
        }
    };
    if rule.subject.is_none() && rule.claims.is_empty() {
        fail("no subject and no claims: the rule would match every workload of its issuer".into());
    }
    let mut claims = Vec::new();
    for (path, condition) in &rule.claims {
        let path = match ClaimPath::parse(path) {
            Ok(path) => path,
            Err(error) => {
                fail(format!("claims {path:?}: {error}"));
                continue;
            }
        };
        let condition = match condition {
            ClaimCondition::Bool(value) => Condition::Bool(*value),
            ClaimCondition::One(text) => match Pattern::parse(text) {
                Ok(pattern) => Condition::AnyOf(vec![pattern]),
                Err(error) => {
                    fail(format!("claims {path}: {error}"));
                    continue;
                }
            },
            ClaimCondition::AnyOf(texts) if texts.is_empty() => {
                fail(format!("claims {path}: an empty list matches nothing"));
                continue;
            }
            ClaimCondition::AnyOf(texts) => {
                match texts.iter().map(|text| Pattern::parse(text)).collect() {
                    Ok(patterns) => Condition::AnyOf(patterns),
                    Err(error) => {
                        fail(format!("claims {path}: {error}"));
                        continue;
                    }
                }
            }
        };
        claims.push((path, condition));
    }
    let grant_types = match &rule.grant_types {
        Some(kinds) if kinds.is_empty() => {
            fail("grant_types is empty".into());
            Vec::new()
        }
        Some(kinds) => kinds.clone(),
        None => GrantKind::ALL.to_vec(),
    };
    if rule.grants.is_empty() {
        fail("grants nothing".into());
    }
    let mut grants = Vec::new();
    for grant in &rule.grants {
        let Some(index) = resources
            .iter()
            .position(|resource| resource.name == grant.resource || resource.uri == grant.resource)
        else {
            fail(format!("grants: unknown resource {:?}", grant.resource));
            continue;
        };
        let known = &resources[index].scopes;
        if grants.iter().any(|seen: &Grant| seen.resource == index) {
            fail(format!(
                "grants: resource {:?} appears twice",
                grant.resource
            ));
        }
        if grant.scopes.is_empty() {
            fail(format!("grants: no scopes for {:?}", grant.resource));
        }
        for scope in &grant.scopes {
            if !known.contains(scope) {
                fail(format!(
                    "grants: scope {scope:?} is not a scope of resource {:?}",
                    grant.resource
                ));
            }
        }
        let default_scopes = grant
            .default_scopes
            .clone()
            .unwrap_or_else(|| grant.scopes.clone());
        for scope in &default_scopes {
            if !grant.scopes.contains(scope) {
                fail(format!(
                    "grants: default scope {scope:?} is not granted for {:?}",
                    grant.resource
                ));
            }
        }
        if default_scopes.is_empty() {
            fail(format!(
                "grants: empty default_scopes for {:?}",
                grant.resource
            ));
        }
        grants.push(Grant {
            resource: index,
            scopes: grant.scopes.clone(),
            default_scopes,
        });
    }
    let token_lifetime_s = rule
        .token_lifetime_s
        .unwrap_or(limits.default_token_lifetime_s);
    if token_lifetime_s == 0 || token_lifetime_s > limits.max_token_lifetime_s {
        fail(format!(
            "token_lifetime_s must be in 1..={}",
            limits.max_token_lifetime_s
        ));
    }
    let mut copy_claims = Vec::new();
    for (name, path) in &rule.copy_claims {
        if RESERVED_CLAIMS.contains(&name.as_str()) || name.is_empty() {
            fail(format!(
                "copy_claims: {name:?} is a claim the issuer sets itself"
            ));
            continue;
        }
        match ClaimPath::parse(path) {
            Ok(path) => copy_claims.push((name.clone(), path)),
            Err(error) => fail(format!("copy_claims {name:?}: {error}")),
        }
    }
    ok.then(|| Rule {
        name: Arc::from(rule.name.as_str()),
        issuer: rule.issuer.clone(),
        subject,
        claims,
        grant_types,
        grants,
        token_lifetime_s,
        copy_claims,
        allow_bearer: rule.allow_bearer,
    })
}

#[cfg(test)]
mod tests;
