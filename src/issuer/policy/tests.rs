use serde_json::json;

use super::*;

const MCP: &str = "https://mcp.example.com/mcp";
const BILLING: &str = "https://billing.example.com/mcp";

fn document(rules: serde_json::Value) -> PolicyDocument {
    let text = json!({
        "resources": [
            {"name": "tools", "uri": MCP, "scopes": ["tools:list", "tools:call", "admin"]},
            {"name": "billing", "uri": BILLING, "scopes": ["invoices:read"]},
        ],
        "rules": rules,
    });
    serde_json::from_value(text).expect("a policy document")
}

fn issuers() -> Vec<IssuerFacts> {
    vec![
        IssuerFacts {
            name: "cluster".into(),
            tenant_claims: Vec::new(),
        },
        IssuerFacts {
            name: "github".into(),
            tenant_claims: vec!["repository_owner".into(), "repository".into()],
        },
    ]
}

fn compile(rules: serde_json::Value) -> Policy {
    Policy::compile(&document(rules), &issuers(), PolicyLimits::default()).expect("a valid policy")
}

fn errors(rules: serde_json::Value) -> Vec<String> {
    match Policy::compile(&document(rules), &issuers(), PolicyLimits::default()) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

fn kubernetes(namespace: &str, account: &str) -> Object {
    let claims = json!({
        "iss": "https://kubernetes.default.svc",
        "sub": format!("system:serviceaccount:{namespace}:{account}"),
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": account}},
    });
    claims.as_object().cloned().unwrap_or_default()
}

fn payments_rules() -> serde_json::Value {
    json!([{
        "name": "payments-agents",
        "issuer": "cluster",
        "claims": {
            "kubernetes.io.namespace": "payments",
            "kubernetes.io.serviceaccount.name": ["agent", "batch-*"],
        },
        "grants": [{"resource": "tools", "scopes": ["tools:list", "tools:call"], "default_scopes": ["tools:list"]}],
        "copy_claims": {"namespace": "kubernetes.io.namespace"},
        "token_lifetime_s": 120,
    }])
}

fn request<'a>(resources: &'a [String], scope: Option<&'a str>) -> Request<'a> {
    Request {
        grant: GrantKind::JwtBearer,
        resources,
        audiences: &[],
        scope,
        dpop: true,
    }
}

fn decide(
    policy: &Policy,
    claims: &Object,
    request: &Request<'_>,
) -> Result<Decision, PolicyRefusal> {
    let subject = claims["sub"].as_str().unwrap_or_default();
    policy.decide(
        &Workload {
            issuer: "cluster",
            subject,
            claims,
        },
        request,
    )
}

#[test]
fn a_matching_workload_gets_the_requested_scopes_it_is_granted() {
    let policy = compile(payments_rules());
    let resource = [MCP.to_owned()];
    let decision = decide(
        &policy,
        &kubernetes("payments", "batch-7"),
        &request(&resource, Some("tools:call admin unknown")),
    )
    .expect("granted");
    assert_eq!(&*decision.rule, "payments-agents");
    assert_eq!(decision.resource, MCP);
    assert_eq!(
        decision.scopes,
        ["tools:call"],
        "intersected, RFC 6749 §3.3"
    );
    assert_eq!(decision.token_lifetime_s, 120);
    assert_eq!(decision.copied_claims["namespace"], "payments");
    assert_eq!(decision.copied_claims.len(), 1, "nothing else is copied");
}

#[test]
fn no_scope_gives_the_default_set_and_no_resource_the_only_one_granted() {
    let policy = compile(payments_rules());
    let decision = decide(
        &policy,
        &kubernetes("payments", "agent"),
        &request(&[], None),
    )
    .expect("granted");
    assert_eq!(decision.resource, MCP);
    assert_eq!(decision.scopes, ["tools:list"]);
}

#[test]
fn other_workloads_are_refused_with_the_precise_reason() {
    let policy = compile(payments_rules());
    let mcp = [MCP.to_owned()];
    let refused =
        |claims: &Object, request: &Request<'_>| decide(&policy, claims, request).unwrap_err();
    assert_eq!(
        refused(&kubernetes("default", "agent"), &request(&mcp, None)),
        PolicyRefusal::NoRuleMatches
    );
    assert_eq!(
        refused(&kubernetes("payments", "web"), &request(&mcp, None)),
        PolicyRefusal::NoRuleMatches
    );
    let billing = [BILLING.to_owned()];
    assert_eq!(
        refused(&kubernetes("payments", "agent"), &request(&billing, None)),
        PolicyRefusal::ResourceNotGranted
    );
    let unknown = ["https://other.example/mcp".to_owned()];
    assert_eq!(
        refused(&kubernetes("payments", "agent"), &request(&unknown, None)),
        PolicyRefusal::UnknownResource
    );
    let both = [MCP.to_owned(), BILLING.to_owned()];
    assert_eq!(
        refused(&kubernetes("payments", "agent"), &request(&both, None)),
        PolicyRefusal::SeveralResources
    );
    assert_eq!(
        refused(
            &kubernetes("payments", "agent"),
            &request(&mcp, Some("admin"))
        ),
        PolicyRefusal::NoScopeLeft
    );
    assert_eq!(
        refused(
            &kubernetes("payments", "agent"),
            &request(&mcp, Some("bad\"scope"))
        ),
        PolicyRefusal::MalformedScope
    );
    let bearer = Request {
        dpop: false,
        ..request(&mcp, None)
    };
    assert_eq!(
        refused(&kubernetes("payments", "agent"), &bearer),
        PolicyRefusal::ProofRequired
    );
    let exchange = Request {
        grant: GrantKind::TokenExchange,
        ..request(&mcp, None)
    };
    assert!(decide(&policy, &kubernetes("payments", "agent"), &exchange).is_ok());
}

#[test]
fn audience_names_a_resource_and_must_agree_with_resource() {
    let policy = compile(payments_rules());
    let tools = ["tools".to_owned()];
    let by_name = Request {
        audiences: &tools,
        ..request(&[], None)
    };
    let decision = decide(&policy, &kubernetes("payments", "agent"), &by_name).expect("granted");
    assert_eq!(decision.resource, MCP);
    let billing = [BILLING.to_owned()];
    let disagree = Request {
        audiences: &tools,
        ..request(&billing, None)
    };
    assert_eq!(
        decide(&policy, &kubernetes("payments", "agent"), &disagree).unwrap_err(),
        PolicyRefusal::SeveralResources
    );
}

#[test]
fn grant_types_bearer_and_rule_order_are_honoured() {
    let policy = compile(json!([
        {"name": "exchange-only", "issuer": "cluster", "subject": "system:serviceaccount:ci:*",
         "grant_types": ["token-exchange"], "allow_bearer": true,
         "grants": [{"resource": "billing", "scopes": ["invoices:read"]}]},
        {"name": "ci-tools", "issuer": "cluster", "subject": "system:serviceaccount:ci:*",
         "grants": [{"resource": "tools", "scopes": ["tools:list"]}]},
    ]));
    let ci = kubernetes("ci", "runner");
    let billing = [BILLING.to_owned()];
    assert_eq!(
        decide(&policy, &ci, &request(&billing, None)).unwrap_err(),
        PolicyRefusal::ResourceNotGranted,
        "the rule granting billing does not answer jwt-bearer"
    );
    let exchange = Request {
        grant: GrantKind::TokenExchange,
        dpop: false,
        ..request(&billing, None)
    };
    let decision = decide(&policy, &ci, &exchange).expect("bearer allowed by the rule");
    assert_eq!(&*decision.rule, "exchange-only");
    // Two rules, two resources: nothing is implied.
    let exchange_any = Request {
        grant: GrantKind::TokenExchange,
        ..request(&[], None)
    };
    assert_eq!(
        decide(&policy, &ci, &exchange_any).unwrap_err(),
        PolicyRefusal::NoResource
    );
    let client = Request {
        grant: GrantKind::ClientCredentials,
        ..request(&billing, None)
    };
    assert_eq!(
        decide(&policy, &ci, &client).unwrap_err(),
        PolicyRefusal::ResourceNotGranted
    );
}

#[test]
fn claim_conditions_are_strict_about_types_and_lists() {
    let policy = compile(json!([{
        "name": "verified", "issuer": "cluster",
        "claims": {"email_verified": true, "groups": ["mcp-*"]},
        "grants": [{"resource": "tools", "scopes": ["tools:list"]}],
    }]));
    let with = |verified: serde_json::Value, groups: serde_json::Value| {
        let claims = json!({"sub": "u", "email_verified": verified, "groups": groups});
        claims.as_object().cloned().unwrap_or_default()
    };
    let mcp = [MCP.to_owned()];
    assert!(
        decide(
            &policy,
            &with(json!(true), json!(["x", "mcp-users"])),
            &request(&mcp, None)
        )
        .is_ok()
    );
    assert!(
        decide(
            &policy,
            &with(json!("true"), json!(["mcp-users"])),
            &request(&mcp, None)
        )
        .is_err()
    );
    assert!(
        decide(
            &policy,
            &with(json!(true), json!(["users"])),
            &request(&mcp, None)
        )
        .is_err()
    );
    assert!(
        decide(
            &policy,
            &with(json!(true), json!("mcp-users")),
            &request(&mcp, None)
        )
        .is_ok()
    );
}

#[test]
fn every_bad_rule_is_named() {
    let found = errors(json!([
        {"name": "a", "issuer": "nowhere", "subject": "x",
         "grants": [{"resource": "tools", "scopes": ["tools:list"]}]},
        {"name": "a", "issuer": "cluster",
         "grants": [{"resource": "tools", "scopes": ["tools:list"]}]},
        {"name": "b", "issuer": "cluster", "subject": "a***",
         "grants": [{"resource": "nope", "scopes": ["x"]},
                    {"resource": "tools", "scopes": ["root"], "default_scopes": ["admin"]}],
         "token_lifetime_s": 999999,
         "copy_claims": {"sub": "sub", "ns": "a..b"}},
        {"name": "gh", "issuer": "github", "claims": {"ref": "refs/heads/main"},
         "grants": [{"resource": "tools", "scopes": ["tools:list"]}]},
        {"name": "gh-exact", "issuer": "github", "subject": "repo:acme/tools:ref:refs/heads/main",
         "grants": [{"resource": "tools", "scopes": ["tools:list"]}]},
        {"name": "gh-owner", "issuer": "github", "subject": "repo:acme/*:ref:refs/heads/main",
         "claims": {"repository_owner": "acme"},
         "grants": [{"resource": "tools", "scopes": ["tools:list"]}]},
    ]));
    let expect = [
        "rules[0] \"a\": issuer \"nowhere\" is not a trusted issuer",
        "rules[1] \"a\": another rule has the same name",
        "rules[1] \"a\": no subject and no claims",
        "rules[2] \"b\": subject: the pattern has three or more",
        "rules[2] \"b\": grants: unknown resource \"nope\"",
        "rules[2] \"b\": grants: scope \"root\" is not a scope of resource \"tools\"",
        "rules[2] \"b\": grants: default scope \"admin\" is not granted",
        "rules[2] \"b\": token_lifetime_s must be in 1..=3600",
        "rules[2] \"b\": copy_claims: \"sub\" is a claim the issuer sets itself",
        "rules[2] \"b\": copy_claims \"ns\": the claim path has an empty segment",
        "rules[3] \"gh\": issuer \"github\" serves many tenants",
    ];
    for expected in expect {
        assert!(
            found.iter().any(|error| error.starts_with(expected)),
            "missing {expected:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expect.len(), "{found:#?}");
}

#[test]
fn bad_resources_and_an_empty_policy_are_refused() {
    let document: PolicyDocument = serde_json::from_value(json!({
        "resources": [
            {"name": "x", "uri": "https://a.example/mcp#frag", "scopes": ["s"]},
            {"name": "x", "uri": "relative/path", "scopes": []},
        ],
    }))
    .expect("a document");
    let found: Vec<String> = Policy::compile(&document, &issuers(), PolicyLimits::default())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(found.iter().any(|e| e.contains("fragment")), "{found:?}");
    assert!(
        found.iter().any(|e| e.contains("not an absolute URI")),
        "{found:?}"
    );
    assert!(found.iter().any(|e| e.contains("same name")), "{found:?}");
    assert!(found.iter().any(|e| e.contains("no scopes")), "{found:?}");
    assert!(
        found.iter().any(|e| e.starts_with("rules: no rules")),
        "{found:?}"
    );
}

#[test]
fn unknown_fields_are_refused_when_reading() {
    let result: Result<PolicyDocument, _> = serde_json::from_value(json!({
        "rules": [{"name": "a", "issuer": "cluster", "subjet": "typo", "grants": []}],
    }));
    assert!(result.is_err());
}
