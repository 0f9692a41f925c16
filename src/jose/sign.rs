//! Signing keys for every supported algorithm: DPoP proofs for clients, access tokens for
//! the issuer, and the negative test vectors.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::Value;

use super::alg::{Algorithm, KeyFamily};
use super::b64;
use super::error::SignError;
use super::json::Object;
use super::jwk::PublicJwk;

/// A private key bound to one algorithm. `Debug` never prints key material; the provider
/// zeroizes it on drop.
///
/// ```
/// use mcp_warden::jose::{Algorithm, AlgorithmSet, SigningKey, UnverifiedJws};
///
/// let key = SigningKey::generate(Algorithm::ES256)?;
/// let jws = key.sign_compact(
///     serde_json::json!({"typ": "JWT"}).as_object().unwrap(),
///     serde_json::json!({"sub": "agent"}).as_object().unwrap(),
/// )?;
/// let allowed = AlgorithmSet::EMPTY.with(Algorithm::ES256);
/// let verified = UnverifiedJws::parse(&jws, 8192, allowed).unwrap().verify(key.public_jwk()).unwrap();
/// assert_eq!(verified.payload()["sub"], "agent");
/// # Ok::<(), mcp_warden::jose::SignError>(())
/// ```
pub struct SigningKey {
    alg: Algorithm,
    pair: KeyPairKind,
    public: PublicJwk,
}

enum KeyPairKind {
    Ec(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl SigningKey {
    /// Generates a fresh key for `alg` (RSA keys are 2048-bit).
    pub fn generate(alg: Algorithm) -> Result<Self, SignError> {
        let pair = match alg.key_family() {
            KeyFamily::Ec(_) => KeyPairKind::Ec(
                EcdsaKeyPair::generate(ecdsa_signing(alg)).map_err(|_| SignError::Provider)?,
            ),
            KeyFamily::Ed25519 => {
                KeyPairKind::Ed25519(Ed25519KeyPair::generate().map_err(|_| SignError::Provider)?)
            }
            KeyFamily::Rsa => KeyPairKind::Rsa(
                RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| SignError::Provider)?,
            ),
        };
        Self::from_pair(alg, pair, None)
    }

    /// Loads a PKCS#8 (DER) private key for `alg`.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<Self, SignError> {
        let pair = match alg.key_family() {
            KeyFamily::Ec(_) => KeyPairKind::Ec(
                EcdsaKeyPair::from_pkcs8(ecdsa_signing(alg), der)
                    .map_err(|e| SignError::KeyRejected(e.description_()))?,
            ),
            KeyFamily::Ed25519 => KeyPairKind::Ed25519(
                Ed25519KeyPair::from_pkcs8(der)
                    .map_err(|e| SignError::KeyRejected(e.description_()))?,
            ),
            KeyFamily::Rsa => KeyPairKind::Rsa(
                RsaKeyPair::from_pkcs8(der)
                    .map_err(|e| SignError::KeyRejected(e.description_()))?,
            ),
        };
        Self::from_pair(alg, pair, None)
    }

    /// The same key with a `kid` in its public JWK.
    pub fn with_kid(self, kid: impl Into<String>) -> Result<Self, SignError> {
        let SigningKey { alg, pair, .. } = self;
        Self::from_pair(alg, pair, Some(kid.into()))
    }

    /// The private key as PKCS#8 DER, for storage. Handle as a secret.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, SignError> {
        let der = match &self.pair {
            KeyPairKind::Ec(pair) => pair
                .to_pkcs8v1()
                .map_err(|_| SignError::Provider)?
                .as_ref()
                .to_vec(),
            KeyPairKind::Ed25519(pair) => pair
                .to_pkcs8v1()
                .map_err(|_| SignError::Provider)?
                .as_ref()
                .to_vec(),
            KeyPairKind::Rsa(pair) => {
                AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(pair)
                    .map_err(|_| SignError::Provider)?
                    .as_ref()
                    .to_vec()
            }
        };
        Ok(der)
    }

    fn from_pair(
        alg: Algorithm,
        pair: KeyPairKind,
        kid: Option<String>,
    ) -> Result<Self, SignError> {
        let mut members = public_members(&pair)?;
        if let Some(kid) = kid {
            members.insert("kid".into(), Value::String(kid));
        }
        let public =
            PublicJwk::from_object(&members).map_err(|_| SignError::KeyRejected("public key"))?;
        if !public.supports(alg) {
            return Err(SignError::KeyRejected("key does not fit the algorithm"));
        }
        Ok(SigningKey { alg, pair, public })
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public half.
    pub fn public_jwk(&self) -> &PublicJwk {
        &self.public
    }

    /// Signs raw bytes (a JWS signing input) and returns the JWS signature bytes:
    /// fixed-length r‖s for ECDSA (RFC 7518 §3.4).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let rng = SystemRandom::new();
        match &self.pair {
            KeyPairKind::Ec(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(|_| SignError::Provider)?
                .as_ref()
                .to_vec()),
            KeyPairKind::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPairKind::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(rsa_padding(self.alg), &rng, message, &mut signature)
                    .map_err(|_| SignError::Provider)?;
                Ok(signature)
            }
        }
    }

    /// Builds a compact JWS: `alg` is set from the key (overriding the header's), the header
    /// and payload are serialized without whitespace.
    pub fn sign_compact(&self, header: &Object, payload: &Object) -> Result<String, SignError> {
        self.sign_with_encoded_header(&self.encode_header(header)?, payload)
    }

    /// `header` with this key's `alg`, serialized and base64url-encoded: the first segment
    /// of every compact JWS this key signs with that header.
    pub(crate) fn encode_header(&self, header: &Object) -> Result<String, SignError> {
        let mut header = header.clone();
        header.insert("alg".into(), Value::String(self.alg.name().into()));
        let header = serde_json::to_vec(&header).map_err(|_| SignError::Serialize)?;
        Ok(b64::encode(&header))
    }

    /// A compact JWS over `payload` with a header already encoded by
    /// [`SigningKey::encode_header`].
    pub(crate) fn sign_with_encoded_header(
        &self,
        encoded_header: &str,
        payload: &Object,
    ) -> Result<String, SignError> {
        let payload = serde_json::to_vec(payload).map_err(|_| SignError::Serialize)?;
        let mut compact = String::with_capacity(encoded_header.len() + payload.len() * 4 / 3 + 100);
        compact.push_str(encoded_header);
        compact.push('.');
        compact.push_str(&b64::encode(&payload));
        let signature = self.sign(compact.as_bytes())?;
        compact.push('.');
        compact.push_str(&b64::encode(&signature));
        Ok(compact)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("public", &self.public)
            .field("private", &"[redacted]")
            .finish()
    }
}

fn ecdsa_signing(alg: Algorithm) -> &'static sig::EcdsaSigningAlgorithm {
    match alg {
        Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        Algorithm::ES512 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        _ => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
    }
}

fn rsa_padding(alg: Algorithm) -> &'static dyn sig::RsaEncoding {
    match alg {
        Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_SHA512,
        _ => &sig::RSA_PKCS1_SHA256,
    }
}

fn public_members(pair: &KeyPairKind) -> Result<Object, SignError> {
    let mut object = Object::new();
    let mut put = |name: &str, value: String| {
        object.insert(name.to_owned(), Value::String(value));
    };
    match pair {
        KeyPairKind::Ec(pair) => {
            let point = pair.public_key().as_ref();
            let len = (point.len() - 1) / 2;
            let crv = match len {
                32 => "P-256",
                48 => "P-384",
                _ => "P-521",
            };
            put("kty", "EC".into());
            put("crv", crv.into());
            put("x", b64::encode(&point[1..1 + len]));
            put("y", b64::encode(&point[1 + len..]));
        }
        KeyPairKind::Ed25519(pair) => {
            put("kty", "OKP".into());
            put("crv", "Ed25519".into());
            put("x", b64::encode(pair.public_key().as_ref()));
        }
        KeyPairKind::Rsa(pair) => {
            let public = pair.public_key();
            put("kty", "RSA".into());
            put(
                "n",
                b64::encode(public.modulus().big_endian_without_leading_zero()),
            );
            put(
                "e",
                b64::encode(public.exponent().big_endian_without_leading_zero()),
            );
        }
    }
    Ok(object)
}
