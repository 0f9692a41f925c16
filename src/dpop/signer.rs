//! DPoP proof signing for clients (RFC 9449 §4.2): the agent signs one proof per request.

use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde_json::Value;

use crate::jose::{Algorithm, Object, SignError, SigningKey, Thumbprint, base64url_encode};

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
    key: SigningKey,
    /// The protected header is the same for every proof: built once.
    header: Object,
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
        let mut header = Object::new();
        header.insert("typ".into(), Value::String("dpop+jwt".into()));
        header.insert(
            "jwk".into(),
            Value::Object(key.public_jwk().public_members()),
        );
        ProofSigner { key, header }
    }

    /// A signer with a freshly generated key.
    pub fn generate(alg: Algorithm) -> Result<Self, SignError> {
        SigningKey::generate(alg).map(Self::new)
    }

    /// The key's RFC 7638 thumbprint: what the authorization server puts in `cnf.jkt`.
    pub fn thumbprint(&self) -> &Thumbprint {
        self.key.public_jwk().thumbprint()
    }

    /// The signing key.
    pub fn key(&self) -> &SigningKey {
        &self.key
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
        self.sign(&ProofClaims {
            method: method.into(),
            uri: uri.into(),
            iat,
            jti: None,
            access_token: access_token.map(Into::into),
            nonce: nonce.map(Into::into),
        })
    }

    /// A proof with every claim given.
    pub fn sign(&self, claims: &ProofClaims) -> Result<String, SignError> {
        let mut payload = Object::new();
        let jti = match &claims.jti {
            Some(jti) => jti.clone(),
            None => random_jti()?,
        };
        payload.insert("jti".into(), Value::String(jti));
        payload.insert("htm".into(), Value::String(claims.method.clone()));
        payload.insert("htu".into(), Value::String(claims.uri.clone()));
        payload.insert("iat".into(), Value::from(claims.iat));
        if let Some(token) = &claims.access_token {
            payload.insert("ath".into(), Value::String(access_token_hash(token)));
        }
        if let Some(nonce) = &claims.nonce {
            payload.insert("nonce".into(), Value::String(nonce.clone()));
        }
        self.key.sign_compact(&self.header, &payload)
    }
}

/// `ath` for a token: base64url(SHA-256(ASCII(token))) (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    base64url_encode(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
}

fn random_jti() -> Result<String, SignError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| SignError::Provider)?;
    Ok(base64url_encode(&bytes))
}
