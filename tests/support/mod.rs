//! Shared pieces of the integration tests: an authorization server's key and tokens, and
//! a DPoP client.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)] // Each test binary uses a different subset; `pub` for them.

pub mod mcp;

use http::{HeaderMap, HeaderValue};
use mcp_warden::dpop::ProofSigner;
use mcp_warden::jose::{Algorithm, JwkSet, SigningKey};
use mcp_warden::token::TrustedIssuer;
use serde_json::{Value, json};

pub const ISSUER: &str = "https://as.example.com";

/// The authorization server: one ES256 key, `kid` "as-1".
pub struct AuthorizationServer {
    pub key: SigningKey,
}

impl AuthorizationServer {
    pub fn new() -> Self {
        AuthorizationServer {
            key: SigningKey::generate(Algorithm::ES256)
                .unwrap()
                .with_kid("as-1")
                .unwrap(),
        }
    }

    pub fn jwks(&self) -> JwkSet {
        JwkSet::from_json(
            json!({"keys": [self.key.public_jwk().to_json()]})
                .to_string()
                .as_bytes(),
        )
        .unwrap()
    }

    pub fn trusted(&self) -> TrustedIssuer {
        TrustedIssuer::new(ISSUER, self.jwks())
    }

    /// A DPoP-bound access token for `audience` (`cnf.jkt` = the client's key) with `scope`.
    pub fn token(&self, audience: &str, jkt: Option<&str>, scope: &str, now: u64) -> String {
        let mut claims = json!({
            "iss": ISSUER, "aud": audience, "sub": "agent-7", "client_id": "agent",
            "scope": scope, "iat": now, "exp": now + 600, "jti": format!("t-{now}-{scope}")
        });
        if let Some(jkt) = jkt {
            claims["cnf"] = json!({"jkt": jkt});
        }
        self.sign(claims)
    }

    pub fn sign(&self, claims: Value) -> String {
        self.key
            .sign_compact(
                json!({"typ": "at+jwt", "kid": "as-1"}).as_object().unwrap(),
                claims.as_object().unwrap(),
            )
            .unwrap()
    }
}

/// A DPoP client: its key, and headers for one request.
pub struct Client {
    pub signer: ProofSigner,
}

impl Client {
    pub fn new() -> Self {
        Client {
            signer: ProofSigner::generate(Algorithm::ES256).unwrap(),
        }
    }

    pub fn jkt(&self) -> String {
        self.signer.thumbprint().as_str().to_owned()
    }

    pub fn headers(
        &self,
        method: &str,
        url: &str,
        token: &str,
        nonce: Option<&str>,
        now: u64,
    ) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_str(&format!("DPoP {token}")).unwrap(),
        );
        let proof = self
            .signer
            .proof(method, url, Some(token), nonce, now)
            .unwrap();
        headers.insert("dpop", HeaderValue::from_str(&proof).unwrap());
        headers
    }
}

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A JWT's claims, decoded without verification (tests read what a token says).
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&mcp_warden::jose::base64url_decode(payload).unwrap()).unwrap()
}
