//! Minting the access tokens the issuer hands out: RFC 9068 JWTs (`typ: at+jwt`), bound to
//! the caller's DPoP key by `cnf.jkt` (RFC 9449 §6.1), with the actor of a token exchange
//! in `act` (RFC 8693 §4.1).

use serde_json::Value;

use crate::jose::{JwtMinter, Lifetime, Object, SignError, Thumbprint};

use super::keys::KeyRing;
use super::policy::Decision;

/// The actor of a token exchange: who acts for the subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The actor token's `iss`.
    pub issuer: String,
    /// The actor token's `sub`.
    pub subject: String,
}

/// Everything one token says, decided before signing.
#[derive(Debug, Clone)]
pub struct TokenClaims<'a> {
    /// Our issuer identifier (`iss`).
    pub issuer: &'a str,
    /// The workload (`sub`, and `client_id`: the workload is the client, RFC 9068 §2.2).
    pub subject: &'a str,
    /// What the policy granted.
    pub decision: &'a Decision,
    /// The proof key the token is bound to; `None` for a Bearer token.
    pub bound_to: Option<&'a Thumbprint>,
    /// RFC 8693 `act`.
    pub actor: Option<&'a Actor>,
    /// When it is issued.
    pub issued_at: u64,
    /// Seconds it lives: the rule's lifetime, cut to what the workload's own token has left.
    pub lifetime_s: u64,
}

/// A signed access token and what the answer says about it.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// `expires_in`.
    pub expires_in: u64,
    /// The token's `jti`, for the audit record.
    pub jti: String,
}

/// Signs `claims` with the ring's active key.
pub fn mint(ring: &KeyRing, claims: &TokenClaims<'_>) -> Result<IssuedToken, SignError> {
    let minter = JwtMinter::new(ring.active().clone(), "at+jwt");
    let jti = crate::jose::random_jti()?;
    let mut payload = Object::new();
    // Copied claims first, so no registered claim below can be overwritten (the policy
    // also refuses to copy them).
    for (name, value) in &claims.decision.copied_claims {
        payload.insert(name.clone(), value.clone());
    }
    payload.insert("iss".into(), Value::from(claims.issuer));
    payload.insert("sub".into(), Value::from(claims.subject));
    payload.insert("client_id".into(), Value::from(claims.subject));
    // RFC 8707 §2: the one resource asked for becomes the audience.
    payload.insert("aud".into(), Value::from(claims.decision.resource.as_str()));
    payload.insert(
        "scope".into(),
        Value::from(claims.decision.scopes.join(" ")),
    );
    payload.insert("jti".into(), Value::from(jti.as_str()));
    if let Some(jkt) = claims.bound_to {
        payload.insert("cnf".into(), serde_json::json!({ "jkt": jkt.as_str() }));
    }
    if let Some(actor) = claims.actor {
        payload.insert(
            "act".into(),
            serde_json::json!({ "iss": actor.issuer, "sub": actor.subject }),
        );
    }
    let token = minter.mint(
        payload,
        Lifetime::expiring(claims.issued_at, claims.lifetime_s),
    )?;
    Ok(IssuedToken {
        token,
        expires_in: claims.lifetime_s,
        jti,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::jose::{Algorithm, AlgorithmSet, UnverifiedJws};

    #[test]
    fn tokens_carry_rfc_9068_claims_binding_and_actor() {
        let ring = KeyRing::ephemeral(Algorithm::ES256).expect("a ring");
        let decision = Decision {
            rule: Arc::from("r"),
            resource: "https://mcp.example.com/mcp".into(),
            scopes: vec!["tools:list".into(), "tools:call".into()],
            token_lifetime_s: 300,
            copied_claims: serde_json::json!({"namespace": "payments"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        };
        let key = crate::dpop::ProofSigner::generate(Algorithm::ES256).expect("a key");
        let actor = Actor {
            issuer: "https://ci.example".into(),
            subject: "runner".into(),
        };
        let issued = mint(
            &ring,
            &TokenClaims {
                issuer: "https://warden.example.com",
                subject: "system:serviceaccount:payments:agent",
                decision: &decision,
                bound_to: Some(key.thumbprint()),
                actor: Some(&actor),
                issued_at: 1000,
                lifetime_s: 120,
            },
        )
        .expect("minted");
        assert_eq!(issued.expires_in, 120);
        let jws = UnverifiedJws::parse(&issued.token, 16 * 1024, AlgorithmSet::ALL).expect("a JWS");
        assert_eq!(jws.header()["typ"], "at+jwt");
        assert_eq!(
            jws.header()["kid"],
            ring.active().public_jwk().kid().unwrap_or_default()
        );
        let claims = jws.payload();
        assert_eq!(claims["aud"], "https://mcp.example.com/mcp");
        assert_eq!(claims["scope"], "tools:list tools:call");
        assert_eq!(claims["client_id"], "system:serviceaccount:payments:agent");
        assert_eq!(claims["cnf"]["jkt"], key.thumbprint().as_str());
        assert_eq!(claims["act"]["sub"], "runner");
        assert_eq!(claims["exp"], 1120);
        assert_eq!(claims["jti"], issued.jti.as_str());
        assert_eq!(claims["namespace"], "payments");
        let verified = jws.verify(ring.active().public_jwk());
        assert!(verified.is_ok());
    }
}
