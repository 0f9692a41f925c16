use serde_json::json;

use super::*;
use crate::jose::{Algorithm, AlgorithmSet, JwkSet, JwsError, SigningKey};

const NOW: u64 = 1_764_288_000;
const CLUSTER: &str = "https://kubernetes.default.svc.cluster.local";
const WARDEN: &str = "https://warden.example.com";
const TOKEN_ENDPOINT: &str = "https://warden.example.com/token";

struct Fixture {
    cluster_key: SigningKey,
    spire_key: SigningKey,
    issuers: WorkloadIssuers,
}

fn key_set(keys: &[&SigningKey]) -> JwkSet {
    let document =
        json!({"keys": keys.iter().map(|key| key.public_jwk().to_json()).collect::<Vec<_>>()});
    JwkSet::from_json(document.to_string().as_bytes()).expect("a key set")
}

fn fixture() -> Fixture {
    let cluster_key = SigningKey::generate(Algorithm::RS256)
        .and_then(|key| key.with_kid("k8s-1"))
        .expect("a key");
    let spire_key = SigningKey::generate(Algorithm::ES256).expect("a key");
    let audiences = default_audiences(WARDEN, TOKEN_ENDPOINT);
    let issuers = WorkloadIssuers::new(vec![
        WorkloadIssuer::new(
            "cluster",
            Platform::Kubernetes,
            TrustedIssuer::new(CLUSTER, key_set(&[&cluster_key]))
                .algorithms(AlgorithmSet::EMPTY.with(Algorithm::RS256)),
            audiences.clone(),
        ),
        WorkloadIssuer::spiffe(
            "spire",
            "prod.example",
            TrustedIssuer::new("spiffe://prod.example", key_set(&[&spire_key])),
            audiences,
            true,
        ),
    ]);
    Fixture {
        cluster_key,
        spire_key,
        issuers,
    }
}

fn sign(key: &SigningKey, header: serde_json::Value, claims: serde_json::Value) -> String {
    let mut header = header.as_object().cloned().unwrap_or_default();
    if let Some(kid) = key.public_jwk().kid() {
        header.entry("kid").or_insert(kid.into());
    }
    key.sign_compact(&header, claims.as_object().expect("claims"))
        .expect("signed")
}

fn kubernetes_claims() -> serde_json::Value {
    json!({
        "iss": CLUSTER,
        "sub": "system:serviceaccount:payments:agent",
        "aud": [WARDEN],
        "iat": NOW - 60,
        "nbf": NOW - 60,
        "exp": NOW + 600,
        "kubernetes.io": {"namespace": "payments", "serviceaccount": {"name": "agent"}},
    })
}

fn verify(fixture: &Fixture, token: &str) -> Result<VerifiedWorkload, AssertionError> {
    crate::jwt::verify_now(&fixture.issuers, token, WorkloadIssuers::MAX_LEN, NOW)
}

fn with(mut claims: serde_json::Value, name: &str, value: serde_json::Value) -> serde_json::Value {
    if value.is_null() {
        claims.as_object_mut().map(|object| object.remove(name));
    } else {
        claims[name] = value;
    }
    claims
}

#[test]
fn a_kubernetes_token_verifies() {
    let fixture = fixture();
    let token = sign(&fixture.cluster_key, json!({}), kubernetes_claims());
    let workload = verify(&fixture, &token).expect("verified");
    assert_eq!(&*workload.source, "cluster");
    assert_eq!(workload.issuer, CLUSTER);
    assert_eq!(workload.subject, "system:serviceaccount:payments:agent");
    assert_eq!(workload.expires_at, NOW + 600);
    assert!(!workload.single_use);
    // Every accepted audience form.
    for aud in [json!("https://warden.example.com/"), json!(TOKEN_ENDPOINT)] {
        let token = sign(
            &fixture.cluster_key,
            json!({}),
            with(kubernetes_claims(), "aud", aud),
        );
        assert!(verify(&fixture, &token).is_ok());
    }
}

#[test]
fn kubernetes_tokens_are_refused_for_each_broken_rule() {
    let fixture = fixture();
    let refused = |header: serde_json::Value, claims: serde_json::Value| {
        verify(&fixture, &sign(&fixture.cluster_key, header, claims)).unwrap_err()
    };
    let base = kubernetes_claims;
    assert_eq!(
        refused(
            json!({}),
            with(base(), "aud", json!("https://other.example"))
        ),
        AssertionError::Audience
    );
    assert_eq!(
        refused(json!({}), with(base(), "aud", json!([WARDEN, 7]))),
        AssertionError::WrongType { name: "aud" }
    );
    assert_eq!(
        refused(json!({}), with(base(), "exp", json!(NOW - 31))),
        AssertionError::Expired {
            exp: NOW - 31,
            now: NOW
        }
    );
    assert!(
        verify(
            &fixture,
            &sign(
                &fixture.cluster_key,
                json!({}),
                with(base(), "exp", json!(NOW - 29))
            )
        )
        .is_ok(),
        "within the 30 s leeway"
    );
    assert_eq!(
        refused(json!({}), with(base(), "iat", json!(NOW + 120))),
        AssertionError::NotYetValid
    );
    assert_eq!(
        refused(json!({}), with(base(), "exp", json!(NOW - 60 + 3601))),
        AssertionError::LifetimeTooLong {
            lifetime: 3601,
            max: 3600
        }
    );
    assert_eq!(
        refused(json!({}), with(base(), "iat", json!(null))),
        AssertionError::ClaimMissing { name: "iat".into() }
    );
    assert_eq!(
        refused(json!({}), with(base(), "exp", json!("soon"))),
        AssertionError::WrongType { name: "exp" }
    );
    assert_eq!(
        refused(
            json!({}),
            with(base(), "iss", json!("https://evil.example"))
        ),
        AssertionError::UntrustedIssuer
    );
    assert_eq!(
        refused(json!({"typ": "dpop+jwt"}), base()),
        AssertionError::Typ
    );
    assert_eq!(
        refused(json!({"typ": "at+jwt"}), base()),
        AssertionError::Typ
    );
    assert!(
        verify(
            &fixture,
            &sign(&fixture.cluster_key, json!({"typ": "JWT"}), base())
        )
        .is_ok()
    );
    assert_eq!(
        refused(json!({"kid": "k8s-2"}), base()),
        AssertionError::Signature(SignatureError::UnknownKey)
    );
}

#[test]
fn keys_are_the_issuers_own_and_algorithms_its_own() {
    let fixture = fixture();
    // The SPIRE key signing a token that claims the cluster's `iss`: key confusion.
    let forged = sign(&fixture.spire_key, json!({}), kubernetes_claims());
    assert_eq!(
        verify(&fixture, &forged).unwrap_err(),
        AssertionError::Signature(SignatureError::Jws(JwsError::AlgNotAllowed(
            Algorithm::ES256
        )))
    );
    let other = SigningKey::generate(Algorithm::RS256)
        .and_then(|key| key.with_kid("k8s-1"))
        .expect("a key");
    assert_eq!(
        verify(&fixture, &sign(&other, json!({}), kubernetes_claims())).unwrap_err(),
        AssertionError::Signature(SignatureError::Jws(JwsError::BadSignature))
    );
    // `alg: none` and HMAC never parse (RFC 8725 §3.1).
    let payload = crate::jose::base64url_encode(kubernetes_claims().to_string().as_bytes());
    for header in [r#"{"alg":"none"}"#, r#"{"alg":"HS256"}"#] {
        let token = format!(
            "{}.{payload}.",
            crate::jose::base64url_encode(header.as_bytes())
        );
        assert!(matches!(
            verify(&fixture, &token).unwrap_err(),
            AssertionError::Signature(SignatureError::Jws(_))
        ));
    }
}

#[test]
fn spiffe_svids_are_routed_by_trust_domain() {
    let fixture = fixture();
    let svid = json!({
        "sub": "spiffe://prod.example/ns/payments/sa/agent",
        "aud": WARDEN,
        "exp": NOW + 300,
    });
    // No `iss`, no `kid`, typ JOSE.
    let workload = verify(
        &fixture,
        &sign(&fixture.spire_key, json!({"typ": "JOSE"}), svid.clone()),
    )
    .expect("verified");
    assert_eq!(&*workload.source, "spire");
    assert_eq!(workload.issuer, "spiffe://prod.example");
    let elsewhere = with(
        svid.clone(),
        "sub",
        json!("spiffe://dev.example/ns/payments/sa/agent"),
    );
    assert_eq!(
        verify(&fixture, &sign(&fixture.spire_key, json!({}), elsewhere)).unwrap_err(),
        AssertionError::UntrustedIssuer
    );
    let not_spiffe = with(svid.clone(), "sub", json!("agent"));
    assert_eq!(
        verify(&fixture, &sign(&fixture.spire_key, json!({}), not_spiffe)).unwrap_err(),
        AssertionError::ClaimMissing { name: "iss".into() }
    );
    let dotted = with(svid, "sub", json!("spiffe://prod.example/ns/../sa/agent"));
    assert_eq!(
        verify(&fixture, &sign(&fixture.spire_key, json!({}), dotted)).unwrap_err(),
        AssertionError::ClaimMissing { name: "iss".into() },
        "not a SPIFFE ID, so no trust domain to route by"
    );
}

#[test]
fn github_tokens_need_their_tenant_claims_and_jti() {
    let key = SigningKey::generate(Algorithm::RS256).expect("a key");
    let github = "https://token.actions.githubusercontent.com";
    let issuers = WorkloadIssuers::new(vec![
        WorkloadIssuer::new(
            "github",
            Platform::GithubActions,
            TrustedIssuer::new(github, key_set(&[&key])),
            vec![WARDEN.into()],
        )
        .single_use_jti(true),
    ]);
    let claims = json!({
        "iss": github, "sub": "repo:acme/tools:ref:refs/heads/main", "aud": WARDEN,
        "iat": NOW, "exp": NOW + 300, "jti": "j-1",
        "repository": "acme/tools", "repository_owner": "acme",
    });
    let check = |claims: serde_json::Value| {
        crate::jwt::verify_now(
            &issuers,
            &sign(&key, json!({}), claims),
            WorkloadIssuers::MAX_LEN,
            NOW,
        )
    };
    let workload = check(claims.clone()).expect("verified");
    assert!(workload.single_use);
    assert_eq!(workload.jti.as_deref(), Some("j-1"));
    assert_eq!(
        check(with(claims.clone(), "repository_owner", json!(null))).unwrap_err(),
        AssertionError::ClaimMissing {
            name: "repository_owner".into()
        }
    );
    assert_eq!(
        check(with(claims, "jti", json!(null))).unwrap_err(),
        AssertionError::ClaimMissing { name: "jti".into() }
    );
}

#[test]
fn spiffe_ids_are_parsed_strictly() {
    assert_eq!(
        spiffe_trust_domain("spiffe://td.example/a/b"),
        Some("td.example")
    );
    for bad in [
        "spiffe://td.example",
        "spiffe://td.example/",
        "spiffe://TD/a",
        "spiffe://td/a//b",
        "spiffe://td/./a",
        "http://td/a",
        "spiffe:///a",
    ] {
        assert_eq!(spiffe_trust_domain(bad), None, "{bad}");
    }
}
