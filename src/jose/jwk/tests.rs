use super::*;
use crate::jose::Algorithm;

const RFC9449_KEY: &str = r#"{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}"#;

/// RFC 7638 §3.1 (the RFC 7517 Appendix A.1 key).
const RFC7638_RSA: &str = r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#;

fn with(base: &str, name: &str, value: Value) -> Vec<u8> {
    let mut object = json::parse_object(base.as_bytes()).unwrap();
    object.insert(name.into(), value);
    serde_json::to_vec(&object).unwrap()
}

fn without(base: &str, name: &str) -> Vec<u8> {
    let mut object = json::parse_object(base.as_bytes()).unwrap();
    object.remove(name);
    serde_json::to_vec(&object).unwrap()
}

#[test]
fn rfc7638_section_3_1_rsa_thumbprint() {
    let jwk = PublicJwk::from_json(RFC7638_RSA.as_bytes()).unwrap();
    assert_eq!(
        jwk.thumbprint().as_str(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    assert_eq!(jwk.kid(), Some("2011-04-29"));
    assert!(jwk.supports(Algorithm::RS256));
    // The declared alg pins the key to RS256 only.
    assert!(!jwk.supports(Algorithm::PS256));
}

#[test]
fn rfc9449_example_key_thumbprint() {
    let jwk = PublicJwk::from_json(RFC9449_KEY.as_bytes()).unwrap();
    assert_eq!(
        jwk.thumbprint().as_str(),
        "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
    );
    assert!(
        jwk.thumbprint()
            .matches("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I")
    );
    assert!(
        !jwk.thumbprint()
            .matches("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4")
    );
    assert_eq!(jwk.family(), KeyFamily::Ec(Curve::P256));
    // Member order and extra members do not change the thumbprint (RFC 7638 §3.3).
    let extra = with(RFC9449_KEY, "kid", Value::String("k".into()));
    assert_eq!(
        PublicJwk::from_json(&extra).unwrap().thumbprint(),
        jwk.thumbprint()
    );
}

#[test]
fn refuses_private_and_symmetric_keys() {
    for member in ["d", "p", "q", "dp", "dq", "qi", "oth"] {
        let bytes = with(RFC9449_KEY, member, Value::String("AQAB".into()));
        assert!(
            matches!(
                PublicJwk::from_json(&bytes),
                Err(JwkError::PrivateMember { .. })
            ),
            "{member}"
        );
    }
    let oct = br#"{"kty":"oct","k":"GawgguFyGrWKav7AX4VKUg"}"#;
    assert_eq!(
        PublicJwk::from_json(oct).unwrap_err(),
        JwkError::SymmetricKey
    );
    let oct_without_k = br#"{"kty":"oct"}"#;
    assert_eq!(
        PublicJwk::from_json(oct_without_k).unwrap_err(),
        JwkError::SymmetricKey
    );
}

#[test]
fn refuses_bad_curves_points_and_lengths() {
    let bad_curve = with(RFC9449_KEY, "crv", Value::String("secp256k1".into()));
    assert_eq!(
        PublicJwk::from_json(&bad_curve).unwrap_err(),
        JwkError::UnsupportedCurve
    );
    // A P-256 point declared as P-384: the coordinates are the wrong length.
    let wrong_crv = with(RFC9449_KEY, "crv", Value::String("P-384".into()));
    assert!(matches!(
        PublicJwk::from_json(&wrong_crv),
        Err(JwkError::CoordinateLength {
            len: 32,
            expected: 48,
            ..
        })
    ));
    // Flip one bit of y: no longer on the curve.
    let off_curve = with(
        RFC9449_KEY,
        "y",
        Value::String("9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDE".into()),
    );
    assert_eq!(
        PublicJwk::from_json(&off_curve).unwrap_err(),
        JwkError::InvalidKey
    );
    let short_x = with(RFC9449_KEY, "x", Value::String(b64::encode(&[1; 31])));
    assert!(matches!(
        PublicJwk::from_json(&short_x),
        Err(JwkError::CoordinateLength { len: 31, .. })
    ));
    let padded = with(
        RFC9449_KEY,
        "x",
        Value::String("l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs=".into()),
    );
    assert_eq!(
        PublicJwk::from_json(&padded).unwrap_err(),
        JwkError::Encoding { name: "x" }
    );
    assert_eq!(
        PublicJwk::from_json(&without(RFC9449_KEY, "y")).unwrap_err(),
        JwkError::MissingMember { name: "y" }
    );
    let x25519 =
        br#"{"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}"#;
    assert_eq!(
        PublicJwk::from_json(x25519).unwrap_err(),
        JwkError::UnsupportedCurve
    );
}

#[test]
fn refuses_type_confused_members() {
    let numeric_x = with(RFC9449_KEY, "x", Value::from(1));
    assert_eq!(
        PublicJwk::from_json(&numeric_x).unwrap_err(),
        JwkError::MemberType { name: "x" }
    );
    let kid_array = with(RFC9449_KEY, "kid", serde_json::json!(["a"]));
    assert_eq!(
        PublicJwk::from_json(&kid_array).unwrap_err(),
        JwkError::MemberType { name: "kid" }
    );
    let kty_null = with(RFC9449_KEY, "kty", Value::Null);
    assert_eq!(
        PublicJwk::from_json(&kty_null).unwrap_err(),
        JwkError::MemberType { name: "kty" }
    );
}

#[test]
fn use_key_ops_and_alg_must_allow_verification_with_this_key() {
    let enc = with(RFC9449_KEY, "use", Value::String("enc".into()));
    assert_eq!(PublicJwk::from_json(&enc).unwrap_err(), JwkError::UseNotSig);
    let sig = with(RFC9449_KEY, "use", Value::String("sig".into()));
    assert!(PublicJwk::from_json(&sig).is_ok());
    let sign_only = with(RFC9449_KEY, "key_ops", serde_json::json!(["sign"]));
    assert_eq!(
        PublicJwk::from_json(&sign_only).unwrap_err(),
        JwkError::KeyOpsNotVerify
    );
    let repeated = with(
        RFC9449_KEY,
        "key_ops",
        serde_json::json!(["verify", "verify"]),
    );
    assert_eq!(
        PublicJwk::from_json(&repeated).unwrap_err(),
        JwkError::KeyOpsNotVerify
    );
    let verify = with(RFC9449_KEY, "key_ops", serde_json::json!(["verify"]));
    assert!(PublicJwk::from_json(&verify).is_ok());
    for alg in ["RS256", "ES384", "EdDSA", "HS256", "RSA-OAEP", "none"] {
        let bytes = with(RFC9449_KEY, "alg", Value::String(alg.into()));
        assert_eq!(
            PublicJwk::from_json(&bytes).unwrap_err(),
            JwkError::AlgMismatch,
            "{alg}"
        );
    }
    let es256 = with(RFC9449_KEY, "alg", Value::String("ES256".into()));
    assert!(
        PublicJwk::from_json(&es256)
            .unwrap()
            .supports(Algorithm::ES256)
    );
}

#[test]
fn rsa_modulus_and_exponent_rules() {
    let leading_zero = with(RFC7638_RSA, "e", Value::String(b64::encode(&[0, 1, 0, 1])));
    assert_eq!(
        PublicJwk::from_json(&leading_zero).unwrap_err(),
        JwkError::Encoding { name: "e" }
    );
    let even = with(RFC7638_RSA, "e", Value::String(b64::encode(&[1, 0, 0])));
    assert_eq!(
        PublicJwk::from_json(&even).unwrap_err(),
        JwkError::RsaExponent
    );
    let one = with(RFC7638_RSA, "e", Value::String(b64::encode(&[1])));
    assert_eq!(
        PublicJwk::from_json(&one).unwrap_err(),
        JwkError::RsaExponent
    );
    let small = with(RFC7638_RSA, "n", Value::String(b64::encode(&[0xc5; 128])));
    assert_eq!(
        PublicJwk::from_json(&small).unwrap_err(),
        JwkError::RsaModulusSize { bits: 1024 }
    );
}

#[test]
fn alg_key_pinning_refuses_before_crypto() {
    let jwk = PublicJwk::from_json(RFC9449_KEY.as_bytes()).unwrap();
    for alg in [
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::EdDSA,
    ] {
        assert_eq!(
            jwk.verify(alg, b"m", &[0; 64]),
            Err(JwsError::KeyMismatch { alg })
        );
    }
    // A DER-encoded ECDSA signature is longer than r‖s: refused by length.
    assert!(matches!(
        jwk.verify(Algorithm::ES256, b"m", &[0x30; 70]),
        Err(JwsError::SignatureLength {
            len: 70,
            expected: 64,
            ..
        })
    ));
    // r = s = 0 (CVE-2022-21449 "psychic signatures").
    assert_eq!(
        jwk.verify(Algorithm::ES256, b"m", &[0; 64]),
        Err(JwsError::BadSignature)
    );
}

#[test]
fn generated_keys_round_trip_through_their_public_jwk() {
    use crate::jose::SigningKey;
    for alg in Algorithm::ALL {
        let key = SigningKey::generate(alg).unwrap();
        let text = serde_json::to_vec(&key.public_jwk().to_json()).unwrap();
        let parsed = PublicJwk::from_json(&text).unwrap();
        assert_eq!(parsed.thumbprint(), key.public_jwk().thumbprint(), "{alg}");
        let signature = key.sign(b"message").unwrap();
        assert_eq!(parsed.verify(alg, b"message", &signature), Ok(()), "{alg}");
        assert_eq!(
            parsed.verify(alg, b"messagf", &signature),
            Err(JwsError::BadSignature),
            "{alg}"
        );
        let reloaded = SigningKey::from_pkcs8(alg, &key.to_pkcs8().unwrap()).unwrap();
        assert_eq!(
            reloaded.public_jwk().thumbprint(),
            key.public_jwk().thumbprint(),
            "{alg}"
        );
    }
}
