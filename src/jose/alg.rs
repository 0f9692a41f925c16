//! JWS algorithm identifiers (RFC 7518 §3.1, RFC 8037 §3.1) and the key each one is pinned to.
//!
//! Only asymmetric algorithms exist here. `none` and the HMAC family are not representable,
//! so no configuration can allow them (RFC 9449 §4.3 step 5: "not `none`" and "not a MAC").

use std::fmt;
use std::str::FromStr;

/// An asymmetric JWS signature algorithm.
///
/// Each algorithm is pinned to exactly one key family and, for EC, one curve
/// (RFC 7518 §3.4: ES256 uses P-256 with SHA-256, and so on), which is what prevents
/// algorithm-confusion attacks: a key is never used with an algorithm of another family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4).
    ES256,
    /// ECDSA on P-384 with SHA-384 (RFC 7518 §3.4).
    ES384,
    /// ECDSA on P-521 with SHA-512 (RFC 7518 §3.4).
    ES512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384 (RFC 7518 §3.3).
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512 (RFC 7518 §3.3).
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256 (RFC 7518 §3.5).
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1-SHA-384 (RFC 7518 §3.5).
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1-SHA-512 (RFC 7518 §3.5).
    PS512,
    /// EdDSA with Ed25519 (RFC 8037 §3.1); Ed448 is not supported.
    EdDSA,
}

/// The family of key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFamily {
    /// An elliptic-curve key (`kty: EC`) on the given curve.
    Ec(Curve),
    /// An RSA key (`kty: RSA`).
    Rsa,
    /// An Edwards-curve key (`kty: OKP`, `crv: Ed25519`).
    Ed25519,
}

/// The NIST curves of RFC 7518 §6.2.1.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// P-256 (secp256r1).
    P256,
    /// P-384 (secp384r1).
    P384,
    /// P-521 (secp521r1).
    P521,
}

impl Curve {
    /// The `crv` value of RFC 7518 §6.2.1.1.
    pub const fn name(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// The length of one coordinate, and of each of `r` and `s`, in bytes
    /// (RFC 7518 §6.2.1.2 and §3.4).
    pub const fn coordinate_len(self) -> usize {
        match self {
            Curve::P256 => 32,
            Curve::P384 => 48,
            Curve::P521 => 66,
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }
}

impl Algorithm {
    /// Every supported algorithm, in a stable order.
    pub const ALL: [Algorithm; 10] = [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::EdDSA,
    ];

    /// The `alg` header value.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Looks up an `alg` value; `None` for anything unsupported, including `none` and `HS*`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// The key family this algorithm is pinned to.
    pub const fn key_family(self) -> KeyFamily {
        match self {
            Algorithm::ES256 => KeyFamily::Ec(Curve::P256),
            Algorithm::ES384 => KeyFamily::Ec(Curve::P384),
            Algorithm::ES512 => KeyFamily::Ec(Curve::P521),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => KeyFamily::Rsa,
            Algorithm::EdDSA => KeyFamily::Ed25519,
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an unsupported algorithm name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported JWS algorithm (supported: ES256, ES384, ES512, RS256, RS384, RS512, PS256, PS384, PS512, EdDSA)"
)]
pub struct UnsupportedAlgorithm;

impl FromStr for Algorithm {
    type Err = UnsupportedAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or(UnsupportedAlgorithm)
    }
}

impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Algorithm::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format_args!(
                "unsupported JWS algorithm {:?}: only asymmetric algorithms are accepted",
                name.chars().take(16).collect::<String>()
            ))
        })
    }
}

/// An allowlist of algorithms: a copyable bit set, so the check on the hot path is one AND.
///
/// ```
/// use mcp_warden::jose::{Algorithm, AlgorithmSet};
///
/// let allowed: AlgorithmSet = [Algorithm::ES256, Algorithm::EdDSA].into_iter().collect();
/// assert!(allowed.contains(Algorithm::ES256));
/// assert!(!allowed.contains(Algorithm::RS256));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// No algorithm at all.
    pub const EMPTY: AlgorithmSet = AlgorithmSet(0);

    /// Every supported algorithm.
    pub const ALL: AlgorithmSet = AlgorithmSet((1 << Algorithm::ALL.len()) - 1);

    /// Whether `alg` is allowed.
    pub const fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// This set plus `alg`.
    #[must_use]
    pub const fn with(self, alg: Algorithm) -> Self {
        AlgorithmSet(self.0 | alg.bit())
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The allowed algorithms, in the order of [`Algorithm::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |alg| self.contains(*alg))
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        iter.into_iter()
            .fold(AlgorithmSet::EMPTY, AlgorithmSet::with)
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_symmetric_algorithms_do_not_exist() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for refused in [
            "none", "None", "HS256", "HS384", "HS512", "es256", "ES256K", "Ed25519", "",
        ] {
            assert_eq!(Algorithm::from_name(refused), None, "{refused}");
        }
    }

    #[test]
    fn set_membership() {
        let set: AlgorithmSet = [Algorithm::PS256, Algorithm::EdDSA].into_iter().collect();
        assert!(set.contains(Algorithm::PS256) && set.contains(Algorithm::EdDSA));
        assert!(!set.contains(Algorithm::RS256));
        assert_eq!(AlgorithmSet::ALL.iter().count(), 10);
        assert!(AlgorithmSet::EMPTY.is_empty());
    }
}
