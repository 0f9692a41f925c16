//! DPoP proof signing for clients (RFC 9449 §4.2): the agent signs one proof per request,
//! through the crate's one JWT minter ([`JwtMinter`]), which sets `iat` and the random `jti`.

use std::sync::Arc;

use aws_lc_rs::digest;
use serde_json::Value;

use crate::jose::{
    Algorithm, JwtMinter, Lifetime, Object, SignError, SigningKey, Thumbprint, base64url_encode,
};

/// Signs DPoP proofs with one key.
///
/// ```
/// use mcp_warden::dpop::ProofSigner;
/// use mcp_warden::jose::Algorithm;
///
/// let signer = ProofSigner::generate(Algorithm::ES256)?;
/// let proof = signer.proof("POST", "https://mcp.example.com/mcp", Some("token"), None, 1_764_288_000)?;
/// assert_eq!(proof.split('.').count(), 3);
/// # Ok::<(), mcp_warden::jose::SignError>(())
/// ```
#[derive(Debug)]
pub struct ProofSigner {
    /// The protected header (`typ: dpop+jwt`, the public `jwk`) is the same for every
    /// proof: built once, with the minter.
    minter: JwtMinter,
}

/// The claims of one proof, for callers that need to set each one (tests, vectors).
#[derive(Debug, Clone, Default)]
pub struct ProofClaims {
    /// `htm`.
    pub method: String,
    /// `htu`.
    pub uri: String,
    /// `iat`.
    pub iat: u64,
    /// `jti`; a random 128-bit value when `None`.
    pub jti: Option<String>,
    /// The access token whose hash becomes `ath`.
    pub access_token: Option<String>,
    /// `nonce`.
    pub nonce: Option<String>,
}

impl ProofSigner {
    /// A signer for an existing key.
    pub fn new(key: SigningKey) -> Self {
        // RFC 9449 §4.2: `typ: dpop+jwt` and the public key itself in `jwk`.
        ProofSigner {
            minter: JwtMinter::with_embedded_key(Arc::new(key), "dpop+jwt"),
        }
    }

    /// A signer with a freshly generated key.
    pub fn generate(alg: Algorithm) -> Result<Self, SignError> {
        SigningKey::generate(alg).map(Self::new)
    }

    /// The key's RFC 7638 thumbprint: what the authorization server puts in `cnf.jkt`.
    pub fn thumbprint(&self) -> &Thumbprint {
        self.minter.key().public_jwk().thumbprint()
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        self.minter.key()
    }

    /// A proof for one request, with a random `jti`.
    pub fn proof(
        &self,
        method: &str,
        uri: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        iat: u64,
    ) -> Result<String, SignError> {
        let ath = access_token.map(access_token_hash);
        self.proof_with_ath(method, uri, ath.as_deref(), nonce, iat)
    }

    /// A proof for one request whose `ath` was computed once for its access token
    /// ([`access_token_hash`]): a client sends one token with many proofs, and hashing it
    /// for each is a tenth of a proof's cost.
    pub fn proof_with_ath(
        &self,
        method: &str,
        uri: &str,
        ath: Option<&str>,
        nonce: Option<&str>,
        iat: u64,
    ) -> Result<String, SignError> {
        // RFC 9449 §4.2: `jti` (random, from the minter), `htm`, `htu`, `iat`; `ath` with an
        // access token, `nonce` when the server gave one; no `exp` (§4.3 step 11).
        let mut payload = Object::new();
        payload.insert("htm".into(), Value::String(method.into()));
        payload.insert("htu".into(), Value::String(uri.into()));
        if let Some(ath) = ath {
            payload.insert("ath".into(), Value::String(ath.into()));
        }
        if let Some(nonce) = nonce {
            payload.insert("nonce".into(), Value::String(nonce.into()));
        }
        self.minter.mint(payload, Lifetime::unbounded(iat))
    }

    /// A proof with every claim given.
    pub fn sign(&self, claims: &ProofClaims) -> Result<String, SignError> {
        let mut payload = Object::new();
        // RFC 9449 §4.2: `jti`, `htm`, `htu`, `iat`; `ath` with an access token, `nonce`
        // when the server gave one. The minter adds a random `jti` when none is given, and
        // `iat`; a proof carries no `exp` (its lifetime is the verifier's window, §4.3
        // step 11).
        if let Some(jti) = &claims.jti {
            payload.insert("jti".into(), Value::String(jti.clone()));
        }
        payload.insert("htm".into(), Value::String(claims.method.clone()));
        payload.insert("htu".into(), Value::String(claims.uri.clone()));
        if let Some(token) = &claims.access_token {
            payload.insert("ath".into(), Value::String(access_token_hash(token)));
        }
        if let Some(nonce) = &claims.nonce {
            payload.insert("nonce".into(), Value::String(nonce.clone()));
        }
        self.minter.mint(payload, Lifetime::unbounded(claims.iat))
    }
}

/// `ath` for a token: base64url(SHA-256(ASCII(token))) (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    base64url_encode(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}
