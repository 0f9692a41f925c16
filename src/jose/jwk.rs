//! Public JSON Web Keys (RFC 7517) for signature verification, and their RFC 7638
//! thumbprints.
//!
//! Parsing is strict in the way a key in an attacker-supplied DPoP header must be: private
//! members are refused rather than dropped, symmetric keys do not exist, coordinates must be
//! full length (RFC 7518 §6.2.1.2), the point must be on the curve, RSA moduli are 2048–8192
//! bits, and `alg`/`use`/`key_ops` must allow verification with this key. The provider
//! (aws-lc-rs) key is built once at parse time, so verifying costs no further parsing.

use std::fmt;
use std::sync::OnceLock;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};
use serde_json::Value;

use super::alg::{Algorithm, Curve, KeyFamily};
use super::b64;
use super::error::{JwkError, JwsError};
use super::json::{self, Object};

/// Members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;
const ED25519_KEY_LEN: usize = 32;

/// A verified-public JWK, ready to verify signatures.
///
/// ```
/// use mcp_warden::jose::PublicJwk;
///
/// // The RFC 9449 example key.
/// let jwk = PublicJwk::from_json(br#"{"kty":"EC","crv":"P-256",
///     "x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
///     "y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA"}"#)?;
/// assert_eq!(jwk.thumbprint().as_str(), "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
/// # Ok::<(), mcp_warden::jose::JwkError>(())
/// ```
pub struct PublicJwk {
    kid: Option<String>,
    alg: Option<Algorithm>,
    material: KeyMaterial,
    thumbprint: Thumbprint,
}

enum KeyMaterial {
    Ec {
        curve: Curve,
        key: ParsedPublicKey,
    },
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        /// One provider key per RSA algorithm, built on first use: the provider binds
        /// a parsed key to one padding and digest.
        parsed: Box<[OnceLock<ParsedPublicKey>; 6]>,
    },
    Ed25519 {
        key: ParsedPublicKey,
    },
}

/// An RFC 7638 JWK thumbprint: base64url(SHA-256(canonical JSON of the required members)).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Thumbprint(String);

impl Thumbprint {
    /// The base64url text, as found in `cnf.jkt` (RFC 9449 §6.1).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares with a `jkt` value in constant time.
    pub fn matches(&self, jkt: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), jkt.as_bytes()).is_ok()
    }
}

impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Thumbprint({})", self.0)
    }
}

impl PublicJwk {
    /// Parses a JWK from JSON text.
    pub fn from_json(bytes: &[u8]) -> Result<Self, JwkError> {
        Self::from_object(&json::parse_object(bytes).map_err(JwkError::Json)?)
    }

    /// Parses a JWK from an already strictly parsed JSON object (e.g. a JWS `jwk` header).
    pub fn from_object(object: &Object) -> Result<Self, JwkError> {
        // RFC 9449 §4.3 step 7 / RFC 7517 §9.2: never accept private material, whatever kty
        // claims to be, before looking at anything else.
        if let Some(name) = PRIVATE_MEMBERS
            .into_iter()
            .find(|m| object.contains_key(*m))
        {
            return Err(if name == "k" {
                JwkError::SymmetricKey
            } else {
                JwkError::PrivateMember { name }
            });
        }
        let kty = required_str(object, "kty")?;
        let kid = optional_str(object, "kid")?.map(str::to_owned);
        check_use(object)?;
        check_key_ops(object)?;
        let declared_alg = match optional_str(object, "alg")? {
            None => None,
            Some(name) => Some(Algorithm::from_name(name).ok_or(JwkError::AlgMismatch)?),
        };

        let (material, thumbprint_json) = match kty {
            "EC" => parse_ec(object)?,
            "RSA" => parse_rsa(object)?,
            "OKP" => parse_okp(object)?,
            "oct" => return Err(JwkError::SymmetricKey),
            _ => return Err(JwkError::UnsupportedKeyType),
        };
        let jwk = PublicJwk {
            kid,
            alg: declared_alg,
            material,
            thumbprint: Thumbprint(b64::encode(
                digest::digest(&digest::SHA256, thumbprint_json.as_bytes()).as_ref(),
            )),
        };
        // RFC 7517 §4.4: a declared alg must be one this key can be used with.
        if let Some(alg) = declared_alg
            && !jwk.family_fits(alg)
        {
            return Err(JwkError::AlgMismatch);
        }
        Ok(jwk)
    }

    /// The `kid`, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The declared `alg`, if any.
    pub fn declared_alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// The RFC 7638 thumbprint.
    pub fn thumbprint(&self) -> &Thumbprint {
        &self.thumbprint
    }

    /// The key family.
    pub fn family(&self) -> KeyFamily {
        match &self.material {
            KeyMaterial::Ec { curve, .. } => KeyFamily::Ec(*curve),
            KeyMaterial::Rsa { .. } => KeyFamily::Rsa,
            KeyMaterial::Ed25519 { .. } => KeyFamily::Ed25519,
        }
    }

    /// Whether this key may verify `alg`: the family is pinned, and a declared `alg` wins.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.family_fits(alg) && self.alg.is_none_or(|declared| declared == alg)
    }

    fn family_fits(&self, alg: Algorithm) -> bool {
        alg.key_family() == self.family()
    }

    /// Verifies `signature` over `message` with `alg`.
    ///
    /// The algorithm↔key pinning is checked before any cryptography, so an RSA key is never
    /// fed an HMAC or ECDSA signature and vice versa (RFC 8725 §3.1).
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), JwsError> {
        if !self.supports(alg) {
            return Err(JwsError::KeyMismatch { alg });
        }
        let expected = self.signature_len(alg);
        if signature.len() != expected {
            return Err(JwsError::SignatureLength {
                alg,
                len: signature.len(),
                expected,
            });
        }
        let key = match &self.material {
            KeyMaterial::Ec { key, .. } | KeyMaterial::Ed25519 { key } => key,
            KeyMaterial::Rsa { n, e, parsed } => {
                let (index, params) = rsa_params(alg);
                match parsed[index].get() {
                    Some(key) => key,
                    None => {
                        let key = RsaPublicKeyComponents { n, e }
                            .to_parsed_public_key(params)
                            .map_err(|_| JwsError::BadSignature)?;
                        parsed[index].get_or_init(|| key)
                    }
                }
            }
        };
        key.verify_sig(message, signature)
            .map_err(|_| JwsError::BadSignature)
    }

    /// The exact signature length `alg` produces with this key: r‖s for ECDSA
    /// (RFC 7518 §3.4), 64 bytes for Ed25519 (RFC 8032 §5.1.6), the modulus length for RSA
    /// (RFC 8017 §8.2.2 step 1).
    fn signature_len(&self, alg: Algorithm) -> usize {
        match (&self.material, alg.key_family()) {
            (_, KeyFamily::Ec(curve)) => 2 * curve.coordinate_len(),
            (_, KeyFamily::Ed25519) => 64,
            (KeyMaterial::Rsa { n, .. }, KeyFamily::Rsa) => n.len(),
            (_, KeyFamily::Rsa) => 0,
        }
    }

    /// The public members as a JSON object, with `kid` and `alg` when set.
    pub fn to_json(&self) -> Value {
        let mut object = self.public_members();
        if let Some(kid) = &self.kid {
            object.insert("kid".into(), Value::String(kid.clone()));
        }
        if let Some(alg) = self.alg {
            object.insert("alg".into(), Value::String(alg.name().into()));
        }
        Value::Object(object)
    }

    /// The RFC 7638 required members only — what belongs in a DPoP proof header.
    pub fn public_members(&self) -> Object {
        let mut object = Object::new();
        let mut put = |name: &str, value: String| {
            object.insert(name.to_owned(), Value::String(value));
        };
        match &self.material {
            KeyMaterial::Ec { curve, key } => {
                // The provider's public bytes are the uncompressed point 0x04 ‖ x ‖ y.
                let point = key.as_ref();
                let len = curve.coordinate_len();
                put("kty", "EC".into());
                put("crv", curve.name().into());
                put("x", b64::encode(&point[1..1 + len]));
                put("y", b64::encode(&point[1 + len..]));
            }
            KeyMaterial::Rsa { n, e, .. } => {
                put("kty", "RSA".into());
                put("n", b64::encode(n));
                put("e", b64::encode(e));
            }
            KeyMaterial::Ed25519 { key } => {
                put("kty", "OKP".into());
                put("crv", "Ed25519".into());
                put("x", b64::encode(key.as_ref()));
            }
        }
        object
    }
}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicJwk")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("family", &self.family())
            .field("thumbprint", &self.thumbprint)
            .finish()
    }
}

fn rsa_params(alg: Algorithm) -> (usize, &'static RsaParameters) {
    match alg {
        Algorithm::RS256 => (0, &sig::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => (1, &sig::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => (2, &sig::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => (3, &sig::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => (4, &sig::RSA_PSS_2048_8192_SHA384),
        // Only RSA algorithms reach here (checked by `supports`).
        _ => (5, &sig::RSA_PSS_2048_8192_SHA512),
    }
}

fn parse_ec(object: &Object) -> Result<(KeyMaterial, String), JwkError> {
    let crv_name = required_str(object, "crv")?;
    let curve = Curve::from_name(crv_name).ok_or(JwkError::UnsupportedCurve)?;
    let x_text = required_str(object, "x")?;
    let y_text = required_str(object, "y")?;
    let x = coordinate(x_text, "x", Some(curve), curve.coordinate_len())?;
    let y = coordinate(y_text, "y", Some(curve), curve.coordinate_len())?;
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    let algorithm: &'static dyn sig::VerificationAlgorithm = match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED,
        Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED,
    };
    // The provider refuses points that are not on the curve (and the point at infinity).
    let key = ParsedPublicKey::new(algorithm, point).map_err(|_| JwkError::InvalidKey)?;
    // RFC 7638 §3.2: required members in lexicographic order, no whitespace. The member
    // strings are canonical base64url (checked above), so they are used as received.
    let canonical = format!(r#"{{"crv":"{crv_name}","kty":"EC","x":"{x_text}","y":"{y_text}"}}"#);
    Ok((KeyMaterial::Ec { curve, key }, canonical))
}

fn parse_rsa(object: &Object) -> Result<(KeyMaterial, String), JwkError> {
    let n_text = required_str(object, "n")?;
    let e_text = required_str(object, "e")?;
    let n = unsigned_integer(n_text, "n")?;
    let e = unsigned_integer(e_text, "e")?;
    let bits = n.len() * 8 - n[0].leading_zeros() as usize;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(JwkError::RsaModulusSize { bits });
    }
    // An even or tiny exponent is not an RSA public key; more than 64 bits is never
    // legitimate and makes verification needlessly slow.
    let odd = e.last().is_some_and(|b| b & 1 == 1);
    let at_least_three = e.len() > 1 || e[0] >= 3;
    if !odd || !at_least_three || e.len() > 8 {
        return Err(JwkError::RsaExponent);
    }
    RsaPublicKeyComponents { n: &n, e: &e }
        .to_parsed_public_key(&sig::RSA_PKCS1_2048_8192_SHA256)
        .map_err(|_| JwkError::InvalidKey)?;
    let canonical = format!(r#"{{"e":"{e_text}","kty":"RSA","n":"{n_text}"}}"#);
    let parsed = Default::default();
    Ok((KeyMaterial::Rsa { n, e, parsed }, canonical))
}

fn parse_okp(object: &Object) -> Result<(KeyMaterial, String), JwkError> {
    let crv_name = required_str(object, "crv")?;
    // X25519/X448 are key-agreement keys and Ed448 is not implemented (RFC 8037 §2).
    if crv_name != "Ed25519" {
        return Err(JwkError::UnsupportedCurve);
    }
    let x_text = required_str(object, "x")?;
    let x = coordinate(x_text, "x", None, ED25519_KEY_LEN)?;
    let key = ParsedPublicKey::new(&sig::ED25519, x).map_err(|_| JwkError::InvalidKey)?;
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x_text}"}}"#);
    Ok((KeyMaterial::Ed25519 { key }, canonical))
}

fn coordinate(
    text: &str,
    name: &'static str,
    curve: Option<Curve>,
    expected: usize,
) -> Result<Vec<u8>, JwkError> {
    let bytes = b64::decode(text).map_err(|_| JwkError::Encoding { name })?;
    if bytes.len() != expected {
        return Err(JwkError::CoordinateLength {
            name,
            curve,
            len: bytes.len(),
            expected,
        });
    }
    Ok(bytes)
}

/// RFC 7518 §2 Base64urlUInt: the minimum number of octets, so no leading zero and not
/// empty.
fn unsigned_integer(text: &str, name: &'static str) -> Result<Vec<u8>, JwkError> {
    let bytes = b64::decode(text).map_err(|_| JwkError::Encoding { name })?;
    match bytes.first() {
        Some(0) | None => Err(JwkError::Encoding { name }),
        Some(_) => Ok(bytes),
    }
}

fn required_str<'a>(object: &'a Object, name: &'static str) -> Result<&'a str, JwkError> {
    optional_str(object, name)?.ok_or(JwkError::MissingMember { name })
}

fn optional_str<'a>(object: &'a Object, name: &'static str) -> Result<Option<&'a str>, JwkError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwkError::MemberType { name }),
    }
}

/// RFC 7517 §4.2: these keys verify signatures, so a declared `use` must be `sig`.
fn check_use(object: &Object) -> Result<(), JwkError> {
    match optional_str(object, "use")? {
        None | Some("sig") => Ok(()),
        Some(_) => Err(JwkError::UseNotSig),
    }
}

/// RFC 7517 §4.3: `key_ops` must allow `verify` and must not repeat a value.
fn check_key_ops(object: &Object) -> Result<(), JwkError> {
    let Some(value) = object.get("key_ops") else {
        return Ok(());
    };
    let Value::Array(ops) = value else {
        return Err(JwkError::MemberType { name: "key_ops" });
    };
    let mut has_verify = false;
    for (i, op) in ops.iter().enumerate() {
        let Value::String(op) = op else {
            return Err(JwkError::MemberType { name: "key_ops" });
        };
        if ops[..i].iter().any(|earlier| earlier.as_str() == Some(op)) {
            return Err(JwkError::KeyOpsNotVerify);
        }
        has_verify |= op == "verify";
    }
    if has_verify {
        Ok(())
    } else {
        Err(JwkError::KeyOpsNotVerify)
    }
}

#[cfg(test)]
mod tests;
