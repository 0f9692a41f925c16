//! What these tests prove about [`ProofValidator`]: every check of RFC 9449 §4.3 refuses
//! with its own exact [`ProofError`] variant, proofs signed for real with every supported
//! algorithm are accepted, the cheap checks run before the replay store is written (a refused
//! proof never burns its `jti`), replay is keyed by (jkt, `jti`) and fails closed, the `iat`
//! window and nonce lifetimes are exact at their boundaries, and a claim of the wrong JSON
//! type is refused, never read as absent.
//!
//! Case names carry the RFC 9449 §4.3 step they exercise (`step2_…` to `step12_…`); step 1
//! (exactly one `DPoP` field) is `single_proof` in `dpop/mod.rs`.

// A test: a panic with its message is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::jose::PresentedToken;
use crate::testing::FixedNonce;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde::Serialize;
use serde_json::json;

use super::*;
use crate::dpop::{
    HtuError, NonceError, ProofClaims, ProofSigner, ReplayFuture, ReplayStoreError,
    StatelessNonces, access_token_hash, single_proof,
};
use crate::jose::{
    Curve, JsonError, JwkError, JwsError, JwsPart, KeyFamily, SigningKey, base64url_encode,
};

const NOW: u64 = 1_764_288_000;
const METHOD: &str = "POST";
const URI: &str = "https://mcp.example.com/mcp";
const TOKEN: &str = "an-access-token";

/// The request URI every proof is made for, unless a case says otherwise.
fn request_uri() -> &'static NormalizedUri {
    static URI_NORMALIZED: LazyLock<NormalizedUri> =
        LazyLock::new(|| NormalizedUri::parse(URI).unwrap());
    &URI_NORMALIZED
}

/// A request with a DPoP-bound access token (RFC 9449 §7.1): everything is checked.
fn context(bound_jkt: &str) -> ProofContext<'_> {
    ProofContext {
        method: METHOD,
        uri: request_uri(),
        access_token: Some(PresentedToken::new(TOKEN)),
        bound_jkt: Some(bound_jkt),
    }
}

/// A `jti` no other proof of this test binary uses, so cases never collide in a store.
fn fresh_jti() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn es256() -> SigningKey {
    SigningKey::generate(Algorithm::ES256).unwrap()
}

/// One RSA key for every RSA case: generation is slow, loading PKCS#8 is not.
fn rsa_pkcs8() -> &'static [u8] {
    static DER: LazyLock<Vec<u8>> = LazyLock::new(|| {
        SigningKey::generate(Algorithm::RS256)
            .unwrap()
            .to_pkcs8()
            .unwrap()
    });
    &DER
}

fn jkt(key: &SigningKey) -> String {
    key.public_jwk().thumbprint().as_str().to_owned()
}

fn b64_json(value: &impl Serialize) -> String {
    base64url_encode(&serde_json::to_vec(value).unwrap())
}

/// `header_b64 . payload_b64 . base64url(key.sign(signing input))`: a real signature over
/// whatever the segments are, so each case fails only for the reason it is about.
fn signed(key: &SigningKey, header_b64: &str, payload_b64: &str) -> String {
    let input = format!("{header_b64}.{payload_b64}");
    let signature = key.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", base64url_encode(&signature))
}

/// The three segments of a compact JWS.
fn segments(proof: &str) -> [String; 3] {
    let parts: Vec<&str> = proof.split('.').collect();
    [parts[0].into(), parts[1].into(), parts[2].into()]
}

/// A proof's header and claims as JSON, to edit one member at a time and sign by hand.
#[derive(Clone)]
struct Draft {
    header: Object,
    claims: Object,
}

impl Draft {
    /// A proof the default validator accepts at [`NOW`] for `context(jkt(key))`.
    fn valid(key: &SigningKey) -> Self {
        let header = json!({
            "typ": "dpop+jwt",
            "alg": key.alg().name(),
            "jwk": key.public_jwk().public_members(),
        });
        let claims = json!({
            "jti": fresh_jti(),
            "htm": METHOD,
            "htu": URI,
            "iat": NOW,
            "ath": access_token_hash(TOKEN),
        });
        Draft {
            header: header.as_object().unwrap().clone(),
            claims: claims.as_object().unwrap().clone(),
        }
    }

    /// Sets (`Some`) or removes (`None`) a header parameter.
    fn header(mut self, name: &str, value: impl Into<Option<Value>>) -> Self {
        match value.into() {
            Some(value) => self.header.insert(name.into(), value),
            None => self.header.remove(name),
        };
        self
    }

    /// Sets (`Some`) or removes (`None`) a claim.
    fn claim(mut self, name: &str, value: impl Into<Option<Value>>) -> Self {
        match value.into() {
            Some(value) => self.claims.insert(name.into(), value),
            None => self.claims.remove(name),
        };
        self
    }

    /// Sets or removes a member of the `jwk` header.
    fn jwk(mut self, name: &str, value: impl Into<Option<Value>>) -> Self {
        let jwk = self.header["jwk"].as_object_mut().unwrap();
        match value.into() {
            Some(value) => jwk.insert(name.into(), value),
            None => jwk.remove(name),
        };
        self
    }

    fn header_b64(&self) -> String {
        b64_json(&self.header)
    }

    fn claims_b64(&self) -> String {
        b64_json(&self.claims)
    }

    /// Signed by `key`, whatever the `jwk` header says.
    fn sign(&self, key: &SigningKey) -> String {
        signed(key, &self.header_b64(), &self.claims_b64())
    }
}

/// Runs each case through a fresh default validator, one assertion per case on the exact
/// variant; a fresh store per case means no case can pass because of another.
async fn assert_refusals(cases: Vec<(&str, String, ProofError)>, context: &ProofContext<'_>) {
    for (name, proof, expected) in cases {
        let validator = ProofValidator::builder().build();
        let got = validator.validate(&proof, context, NOW).await.err();
        assert_eq!(got, Some(expected), "case {name}");
    }
}

async fn assert_accepted(cases: Vec<(&str, String)>, context: &ProofContext<'_>) {
    for (name, proof) in cases {
        let validator = ProofValidator::builder().build();
        let got = validator.validate(&proof, context, NOW).await;
        assert!(got.is_ok(), "case {name}: {got:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Step 1: exactly one DPoP field.
// ---------------------------------------------------------------------------------------

/// (case, field values, what `single_proof` returns).
type FieldCase = (
    &'static str,
    Vec<&'static [u8]>,
    Result<Option<&'static str>, ProofError>,
);

#[test]
fn step1_exactly_one_visible_ascii_dpop_field() {
    let cases: [FieldCase; 12] = [
        // No field is not an error here: the caller decides whether a proof is needed
        // (guard::verifier maps it to ProofError::Missing).
        ("step1_no_field", vec![], Ok(None)),
        ("step1_one_field", vec![b"a.b.c"], Ok(Some("a.b.c"))),
        // RFC 9110 §5.5: optional whitespace around a field value is not part of it.
        ("step1_ows_trimmed", vec![b" \ta.b.c\t "], Ok(Some("a.b.c"))),
        (
            "step1_two_fields",
            vec![b"a.b.c", b"d.e.f"],
            Err(ProofError::MultipleProofs),
        ),
        (
            "step1_second_field_empty",
            vec![b"a.b.c", b""],
            Err(ProofError::MultipleProofs),
        ),
        // RFC 9110 §5.3: a proxy may join two fields with a comma.
        (
            "step1_comma_joined",
            vec![b"a.b.c, d.e.f"],
            Err(ProofError::MultipleProofs),
        ),
        (
            "step1_trailing_comma",
            vec![b"a.b.c,"],
            Err(ProofError::MultipleProofs),
        ),
        (
            "step1_not_utf8",
            vec![b"a.b.\xff"],
            Err(ProofError::NotAscii),
        ),
        (
            "step1_non_ascii",
            vec!["a.b.cé".as_bytes()],
            Err(ProofError::NotAscii),
        ),
        (
            "step1_inner_space",
            vec![b"a.b .c"],
            Err(ProofError::NotAscii),
        ),
        (
            "step1_control_char",
            vec![b"a.b.c\x01"],
            Err(ProofError::NotAscii),
        ),
        ("step1_del", vec![b"a.b.c\x7f"], Err(ProofError::NotAscii)),
    ];
    for (name, values, expected) in cases {
        assert_eq!(single_proof(values), expected, "case {name}");
    }
}

// ---------------------------------------------------------------------------------------
// Happy paths.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn every_supported_algorithm_is_accepted_step6() {
    let validator = ProofValidator::builder().build();
    for alg in Algorithm::ALL {
        let key = match alg.key_family() {
            KeyFamily::Rsa => SigningKey::from_pkcs8(alg, rsa_pkcs8()).unwrap(),
            _ => SigningKey::generate(alg).unwrap(),
        };
        let signer = ProofSigner::new(key);
        let jti = format!("happy-{alg}");
        let proof = signer
            .sign(&ProofClaims {
                method: METHOD.into(),
                uri: URI.into(),
                iat: NOW,
                jti: Some(jti.clone()),
                access_token: Some(TOKEN.into()),
                nonce: None,
            })
            .unwrap();
        let bound = signer.thumbprint().as_str().to_owned();
        let verified = validator.validate(&proof, &context(&bound), NOW).await;
        let verified = verified.unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        let got = (
            verified.alg(),
            verified.jkt(),
            verified.jti(),
            verified.iat(),
        );
        assert_eq!(got, (alg, signer.thumbprint(), jti.as_str(), NOW), "{alg}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn accepted_spellings_of_a_valid_proof() {
    let key = es256();
    let ok = || Draft::valid(&key);
    let cases = vec![
        ("baseline", ok().sign(&key)),
        // Step 4: RFC 7515 §4.1.9, media types are case-insensitive and "application/"
        // may be omitted.
        (
            "step4_typ_full_media_type",
            ok().header("typ", json!("application/dpop+jwt")).sign(&key),
        ),
        (
            "step4_typ_mixed_case",
            ok().header("typ", json!("DPoP+JWT")).sign(&key),
        ),
        (
            "step4_typ_full_media_type_mixed_case",
            ok().header("typ", json!("Application/DPoP+JWT")).sign(&key),
        ),
        // RFC 7797 §3: b64 true is the default encoding.
        ("step2_b64_true", ok().header("b64", json!(true)).sign(&key)),
        // Step 7: optional public members that allow verification with this key.
        (
            "step7_jwk_with_use_alg_kid_key_ops",
            ok().jwk("use", json!("sig"))
                .jwk("alg", json!("ES256"))
                .jwk("kid", json!("k1"))
                .jwk("key_ops", json!(["verify"]))
                .sign(&key),
        ),
        // Step 3: a NumericDate may have a fraction (RFC 7519 §2); it is truncated.
        (
            "step3_iat_fraction",
            ok().claim("iat", json!(NOW as f64 + 0.75)).sign(&key),
        ),
        // Step 3: unknown claims are ignored.
        (
            "step3_extra_claim",
            ok().claim("exp", json!(NOW + 60)).sign(&key),
        ),
        // A jti of exactly the cap.
        (
            "step3_jti_at_cap",
            ok().claim("jti", json!("j".repeat(256))).sign(&key),
        ),
        // Step 9: RFC 3986 §6.2.2-3 normalization, query and fragment ignored.
        (
            "step9_htu_normalized",
            ok().claim("htu", json!("HTTPS://MCP.Example.COM:443/%6Dcp?q=1#f"))
                .sign(&key),
        ),
    ];
    assert_accepted(cases, &context(&jkt(&key))).await;
}

// ---------------------------------------------------------------------------------------
// Steps 2 and 5: a well-formed compact JWS with an allowed asymmetric algorithm.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn malformed_jws_is_refused_step2() {
    let key = es256();
    let ok = Draft::valid(&key);
    let claims = ok.claims_b64();
    let header = ok.header_b64();
    let valid = ok.sign(&key);
    let [_, _, signature] = segments(&valid);
    let raw_header = |text: &str| signed(&key, &base64url_encode(text.as_bytes()), &claims);
    let raw_claims = |text: &str| signed(&key, &header, &base64url_encode(text.as_bytes()));
    // The last character of a 64-byte signature carries 4 unused bits; setting one spells
    // the same bytes a second way, which the strict decoder refuses.
    let non_canonical_signature = {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bytes = signature.clone().into_bytes();
        let last = bytes.len() - 1;
        let index = ALPHABET.iter().position(|&c| c == bytes[last]).unwrap();
        bytes[last] = ALPHABET[index | 1];
        format!("{header}.{claims}.{}", String::from_utf8(bytes).unwrap())
    };
    let deep = format!(
        r#"{{"typ":"dpop+jwt","alg":"ES256","x":{}1{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let cases = vec![
        ("step2_empty", String::new(), JwsError::SegmentCount),
        (
            "step2_two_segments",
            format!("{header}.{claims}"),
            JwsError::SegmentCount,
        ),
        (
            "step2_four_segments",
            format!("{valid}.{signature}"),
            JwsError::SegmentCount,
        ),
        (
            "step2_json_serialization",
            json!({"protected": header, "payload": claims, "signature": signature}).to_string(),
            JwsError::SegmentCount,
        ),
        (
            "step2_too_large_checked_before_decoding",
            "A".repeat(ProofValidator::DEFAULT_MAX_PROOF_LEN + 1),
            JwsError::TooLarge {
                len: ProofValidator::DEFAULT_MAX_PROOF_LEN + 1,
                max: ProofValidator::DEFAULT_MAX_PROOF_LEN,
            },
        ),
        (
            "step2_header_padded",
            format!("{header}=.{claims}.{signature}"),
            JwsError::Base64(JwsPart::Header),
        ),
        (
            "step2_header_standard_alphabet",
            format!("e+0.{claims}.{signature}"),
            JwsError::Base64(JwsPart::Header),
        ),
        (
            "step2_header_truncated_json",
            raw_header(r#"{"typ":"dpop+jwt","alg":"ES256""#),
            JwsError::Json {
                part: JwsPart::Header,
                reason: JsonError::Syntax,
            },
        ),
        (
            "step2_header_not_object",
            raw_header(r#"["dpop+jwt"]"#),
            JwsError::Json {
                part: JwsPart::Header,
                reason: JsonError::NotObject,
            },
        ),
        (
            // RFC 7515 §5.2: two parsers must never disagree on which alg counts.
            "step2_header_duplicate_alg",
            raw_header(r#"{"typ":"dpop+jwt","alg":"ES256","alg":"none"}"#),
            JwsError::Json {
                part: JwsPart::Header,
                reason: JsonError::DuplicateMember,
            },
        ),
        (
            "step2_header_too_deep",
            raw_header(&deep),
            JwsError::Json {
                part: JwsPart::Header,
                reason: JsonError::TooDeep,
            },
        ),
        (
            "step2_payload_padded",
            format!("{header}.{claims}=.{signature}"),
            JwsError::Base64(JwsPart::Payload),
        ),
        (
            "step2_payload_trailing_data",
            raw_claims("{} {}"),
            JwsError::Json {
                part: JwsPart::Payload,
                reason: JsonError::Syntax,
            },
        ),
        (
            "step2_payload_not_object",
            raw_claims(r#""jti""#),
            JwsError::Json {
                part: JwsPart::Payload,
                reason: JsonError::NotObject,
            },
        ),
        (
            // A duplicate jti would let a replay store and an auditor see different ids.
            "step2_payload_duplicate_jti",
            raw_claims(&format!(
                r#"{{"jti":"a","jti":"b","htm":"POST","htu":"{URI}","iat":{NOW}}}"#
            )),
            JwsError::Json {
                part: JwsPart::Payload,
                reason: JsonError::DuplicateMember,
            },
        ),
        (
            "step2_signature_padded",
            format!("{valid}=="),
            JwsError::Base64(JwsPart::Signature),
        ),
        (
            "step2_signature_trailing_bits",
            non_canonical_signature,
            JwsError::Base64(JwsPart::Signature),
        ),
        (
            "step2_crit_not_array",
            Draft::valid(&key).header("crit", json!("exp")).sign(&key),
            JwsError::HeaderType { name: "crit" },
        ),
        (
            // RFC 7515 §4.1.11: no extension is understood, so any crit is refused.
            "step2_crit_lists_extension",
            Draft::valid(&key).header("crit", json!(["exp"])).sign(&key),
            JwsError::CritUnsupported,
        ),
        (
            "step2_crit_empty",
            Draft::valid(&key).header("crit", json!([])).sign(&key),
            JwsError::CritUnsupported,
        ),
        (
            // RFC 7797: an unencoded payload changes what the signature covers.
            "step2_b64_false",
            Draft::valid(&key).header("b64", json!(false)).sign(&key),
            JwsError::UnencodedPayload,
        ),
        (
            "step2_b64_not_bool",
            Draft::valid(&key).header("b64", json!("false")).sign(&key),
            JwsError::HeaderType { name: "b64" },
        ),
    ];
    let cases = cases
        .into_iter()
        .map(|(name, proof, error)| (name, proof, ProofError::Jws(error)))
        .collect();
    assert_refusals(cases, &context(&jkt(&key))).await;
}

#[tokio::test(flavor = "current_thread")]
async fn refused_algorithms_step5() {
    let key = es256();
    let ok = || Draft::valid(&key);
    let cases = vec![
        (
            "step5_alg_missing",
            ok().header("alg", None).sign(&key),
            JwsError::MissingAlg,
        ),
        (
            "step5_alg_none",
            ok().header("alg", json!("none")).sign(&key),
            JwsError::AlgNone,
        ),
        // Some libraries compared "none" case-insensitively; refused in every case.
        (
            "step5_alg_none_cased",
            ok().header("alg", json!("nOnE")).sign(&key),
            JwsError::AlgNone,
        ),
        // RFC 9449 §4.3 step 5: not a MAC.
        (
            "step5_alg_hs256",
            ok().header("alg", json!("HS256")).sign(&key),
            JwsError::SymmetricAlg,
        ),
        (
            "step5_alg_unknown",
            ok().header("alg", json!("ES256K")).sign(&key),
            JwsError::UnsupportedAlg,
        ),
        (
            "step5_alg_lowercase",
            ok().header("alg", json!("es256")).sign(&key),
            JwsError::UnsupportedAlg,
        ),
        (
            "step5_alg_not_string",
            ok().header("alg", json!(256)).sign(&key),
            JwsError::HeaderType { name: "alg" },
        ),
    ];
    let cases = cases
        .into_iter()
        .map(|(name, proof, error)| (name, proof, ProofError::Jws(error)))
        .collect();
    assert_refusals(cases, &context(&jkt(&key))).await;
}

#[tokio::test(flavor = "current_thread")]
async fn algorithm_outside_the_configured_set_is_refused_step5() {
    let key = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let validator = ProofValidator::builder()
        .algorithms(AlgorithmSet::EMPTY.with(Algorithm::ES256))
        .build();
    let proof = Draft::valid(&key).sign(&key);
    let got = validator
        .validate(&proof, &context(&jkt(&key)), NOW)
        .await
        .err();
    assert_eq!(
        got,
        Some(ProofError::Jws(JwsError::AlgNotAllowed(Algorithm::EdDSA)))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn configured_proof_length_cap_is_applied_step2() {
    let key = es256();
    let proof = Draft::valid(&key).sign(&key);
    let validator = ProofValidator::builder()
        .max_proof_len(proof.len() - 1)
        .build();
    let got = validator
        .validate(&proof, &context(&jkt(&key)), NOW)
        .await
        .err();
    let expected = JwsError::TooLarge {
        len: proof.len(),
        max: proof.len() - 1,
    };
    assert_eq!(got, Some(ProofError::Jws(expected)));
}

// ---------------------------------------------------------------------------------------
// Step 4: typ.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn typ_must_be_dpop_jwt_step4() {
    let key = es256();
    let ok = || Draft::valid(&key);
    let cases = vec![
        (
            "step4_typ_missing",
            ok().header("typ", None).sign(&key),
            ProofError::TypMissing,
        ),
        (
            "step4_typ_jwt",
            ok().header("typ", json!("jwt")).sign(&key),
            ProofError::TypMismatch,
        ),
        (
            "step4_typ_application_jwt",
            ok().header("typ", json!("application/jwt")).sign(&key),
            ProofError::TypMismatch,
        ),
        (
            "step4_typ_empty",
            ok().header("typ", json!("")).sign(&key),
            ProofError::TypMismatch,
        ),
        (
            "step4_typ_trailing_space",
            ok().header("typ", json!("dpop+jwt ")).sign(&key),
            ProofError::TypMismatch,
        ),
        (
            "step4_typ_only_prefix",
            ok().header("typ", json!("application/")).sign(&key),
            ProofError::TypMismatch,
        ),
        (
            "step4_typ_other_prefix",
            ok().header("typ", json!("text/dpop+jwt")).sign(&key),
            ProofError::TypMismatch,
        ),
        (
            "step4_typ_number",
            ok().header("typ", json!(1)).sign(&key),
            ProofError::WrongType { name: "typ" },
        ),
        // null is a value of the wrong type, not an absent member.
        (
            "step4_typ_null",
            ok().header("typ", Value::Null).sign(&key),
            ProofError::WrongType { name: "typ" },
        ),
    ];
    assert_refusals(cases, &context(&jkt(&key))).await;
}

/// Regression: the `typ` check once sliced `typ[..12]` by bytes, so a typ whose 12th byte
/// falls inside a multi-byte character panicked before the signature was checked, letting
/// any client (no key needed) crash the request handler.
#[tokio::test(flavor = "current_thread")]
async fn typ_with_multibyte_char_at_byte_12_is_refused_not_a_panic_step4() {
    let key = es256();
    // "application" is 11 bytes; "é" takes bytes 11 and 12.
    let proof = Draft::valid(&key)
        .header("typ", json!("applicationé/dpop+jwt"))
        .sign(&key);
    let got = ProofValidator::builder()
        .build()
        .validate(&proof, &context(&jkt(&key)), NOW)
        .await
        .err();
    assert_eq!(got, Some(ProofError::TypMismatch));
}

#[test]
fn dpop_typ_spellings() {
    let cases = [
        ("dpop+jwt", true),
        ("DPOP+JWT", true),
        ("application/dpop+jwt", true),
        ("APPLICATION/DPOP+JWT", true),
        ("application/application/dpop+jwt", false),
        ("applicationXdpop+jwt", false),
        ("dpop+jwt;charset=utf-8", false),
        ("dpop", false),
        ("", false),
        // A multi-byte character across the 12-byte prefix boundary.
        ("applicationé/dpop+jwt", false),
        ("applicatioé/dpop+jwt", false),
        ("éapplication/dpop+jwt", false),
    ];
    for (typ, expected) in cases {
        assert_eq!(is_dpop_typ(typ), expected, "{typ:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Step 7 (and §4.2): the jwk header is a public key, never private material.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn jwk_header_must_be_a_public_key_step7() {
    let key = es256();
    let other = es256();
    let other_x = other.public_jwk().public_members()["x"].clone();
    let short_x = base64url_encode(&[7u8; 31]);
    let ok = || Draft::valid(&key);
    let cases = vec![
        (
            "step7_jwk_missing",
            ok().header("jwk", None).sign(&key),
            ProofError::JwkMissing,
        ),
        (
            "step7_jwk_string",
            ok().header("jwk", json!("eyJrdHkiOiJFQyJ9")).sign(&key),
            ProofError::WrongType { name: "jwk" },
        ),
        (
            "step7_jwk_null",
            ok().header("jwk", Value::Null).sign(&key),
            ProofError::WrongType { name: "jwk" },
        ),
        // The private scalar is refused, not dropped (RFC 9449 §4.3 step 7).
        (
            "step7_jwk_private_d",
            ok().jwk("d", json!(base64url_encode(&[1u8; 32])))
                .sign(&key),
            ProofError::Jwk(JwkError::PrivateMember { name: "d" }),
        ),
        (
            "step7_jwk_private_p",
            ok().jwk("p", json!("AQAB")).sign(&key),
            ProofError::Jwk(JwkError::PrivateMember { name: "p" }),
        ),
        (
            "step7_jwk_symmetric_k",
            ok().header("jwk", json!({"kty": "oct", "k": "c2VjcmV0"}))
                .sign(&key),
            ProofError::Jwk(JwkError::SymmetricKey),
        ),
        (
            "step7_jwk_kty_oct",
            ok().jwk("kty", json!("oct")).sign(&key),
            ProofError::Jwk(JwkError::SymmetricKey),
        ),
        (
            "step7_jwk_empty",
            ok().header("jwk", json!({})).sign(&key),
            ProofError::Jwk(JwkError::MissingMember { name: "kty" }),
        ),
        (
            "step7_jwk_use_enc",
            ok().jwk("use", json!("enc")).sign(&key),
            ProofError::Jwk(JwkError::UseNotSig),
        ),
        (
            "step7_jwk_key_ops_sign_only",
            ok().jwk("key_ops", json!(["sign"])).sign(&key),
            ProofError::Jwk(JwkError::KeyOpsNotVerify),
        ),
        (
            "step7_jwk_alg_other_family",
            ok().jwk("alg", json!("RS256")).sign(&key),
            ProofError::Jwk(JwkError::AlgMismatch),
        ),
        (
            "step7_jwk_point_off_curve",
            ok().jwk("x", other_x).sign(&key),
            ProofError::Jwk(JwkError::InvalidKey),
        ),
        (
            "step7_jwk_short_coordinate",
            ok().jwk("x", json!(short_x)).sign(&key),
            ProofError::Jwk(JwkError::CoordinateLength {
                name: "x",
                curve: Some(Curve::P256),
                len: 31,
                expected: 32,
            }),
        ),
    ];
    assert_refusals(cases, &context(&jkt(&key))).await;
}

// ---------------------------------------------------------------------------------------
// Step 6: the signature, with the jwk of the header and the alg pinned to its family.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn signature_must_verify_with_the_header_jwk_step6() {
    let key = es256();
    let other = es256();
    let p384 = SigningKey::generate(Algorithm::ES384).unwrap();
    let ed25519 = SigningKey::generate(Algorithm::EdDSA).unwrap();
    let rs256 = SigningKey::from_pkcs8(Algorithm::RS256, rsa_pkcs8()).unwrap();
    let ps256 = SigningKey::from_pkcs8(Algorithm::PS256, rsa_pkcs8()).unwrap();
    let ok = || Draft::valid(&key);
    let valid = ok().sign(&key);
    let [header, _, signature] = segments(&valid);
    // The claims changed after signing: the signature no longer covers them.
    let altered_claims = format!(
        "{header}.{}.{signature}",
        ok().claim("jti", json!("not-the-signed-one")).claims_b64()
    );
    let truncated = {
        let bytes = key.sign(b"anything").unwrap();
        format!(
            "{header}.{}.{}",
            ok().claims_b64(),
            base64url_encode(&bytes[..63])
        )
    };
    let cases = vec![
        // Valid structure, jwk of `key`, signature by `other`: a forgery.
        (
            "step6_forged_by_other_key",
            ok().sign(&other),
            JwsError::BadSignature,
        ),
        (
            "step6_claims_altered_after_signing",
            altered_claims,
            JwsError::BadSignature,
        ),
        (
            "step6_zero_signature",
            format!(
                "{header}.{}.{}",
                ok().claims_b64(),
                base64url_encode(&[0u8; 64])
            ),
            JwsError::BadSignature,
        ),
        (
            // RFC 7518 §3.4: r‖s of 64 bytes exactly (this also refuses DER).
            "step6_signature_too_short",
            truncated,
            JwsError::SignatureLength {
                alg: Algorithm::ES256,
                len: 63,
                expected: 64,
            },
        ),
        (
            "step6_signature_empty",
            format!("{header}.{}.", ok().claims_b64()),
            JwsError::SignatureLength {
                alg: Algorithm::ES256,
                len: 0,
                expected: 64,
            },
        ),
        // RFC 8725 §3.1: a P-256 key is never used with ES384 or EdDSA.
        (
            "step6_alg_es384_with_p256_jwk",
            ok().header("alg", json!("ES384")).sign(&p384),
            JwsError::KeyMismatch {
                alg: Algorithm::ES384,
            },
        ),
        (
            "step6_alg_eddsa_with_ec_jwk",
            ok().header("alg", json!("EdDSA")).sign(&ed25519),
            JwsError::KeyMismatch {
                alg: Algorithm::EdDSA,
            },
        ),
        (
            "step6_alg_es256_with_p384_jwk",
            Draft::valid(&p384).header("alg", json!("ES256")).sign(&key),
            JwsError::KeyMismatch {
                alg: Algorithm::ES256,
            },
        ),
        (
            // The jwk's own alg pins the key within its family (RFC 7517 §4.4).
            "step6_alg_ps256_with_jwk_pinned_to_rs256",
            Draft::valid(&rs256)
                .jwk("alg", json!("RS256"))
                .header("alg", json!("PS256"))
                .sign(&ps256),
            JwsError::KeyMismatch {
                alg: Algorithm::PS256,
            },
        ),
    ];
    let cases = cases
        .into_iter()
        .map(|(name, proof, error)| (name, proof, ProofError::Jws(error)))
        .collect();
    // Some cases carry another key's jwk: bind nothing so step 12 cannot come first.
    let context = ProofContext {
        bound_jkt: None,
        ..context("")
    };
    assert_refusals(cases, &context).await;
}

// ---------------------------------------------------------------------------------------
// Step 3: required claims, strictly typed.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn claims_are_required_and_strictly_typed_step3() {
    let key = es256();
    let ok = || Draft::valid(&key);
    let missing = |name: &'static str| ProofError::ClaimMissing { name };
    let wrong = |name: &'static str| ProofError::WrongType { name };
    let cases = vec![
        (
            "step3_jti_missing",
            ok().claim("jti", None).sign(&key),
            missing("jti"),
        ),
        (
            "step3_htm_missing",
            ok().claim("htm", None).sign(&key),
            missing("htm"),
        ),
        (
            "step3_htu_missing",
            ok().claim("htu", None).sign(&key),
            missing("htu"),
        ),
        (
            "step3_iat_missing",
            ok().claim("iat", None).sign(&key),
            missing("iat"),
        ),
        (
            "step3_jti_number",
            ok().claim("jti", json!(1)).sign(&key),
            wrong("jti"),
        ),
        (
            "step3_jti_null",
            ok().claim("jti", Value::Null).sign(&key),
            wrong("jti"),
        ),
        (
            "step3_htm_array",
            ok().claim("htm", json!(["POST"])).sign(&key),
            wrong("htm"),
        ),
        (
            "step3_htu_object",
            ok().claim("htu", json!({"u": URI})).sign(&key),
            wrong("htu"),
        ),
        (
            "step3_iat_string",
            ok().claim("iat", json!(NOW.to_string())).sign(&key),
            wrong("iat"),
        ),
        (
            "step3_iat_negative",
            ok().claim("iat", json!(-1)).sign(&key),
            wrong("iat"),
        ),
        (
            "step3_iat_negative_fraction",
            ok().claim("iat", json!(-0.5)).sign(&key),
            wrong("iat"),
        ),
        (
            "step3_iat_beyond_u64",
            ok().claim("iat", json!(1e30)).sign(&key),
            wrong("iat"),
        ),
        (
            "step3_iat_bool",
            ok().claim("iat", json!(true)).sign(&key),
            wrong("iat"),
        ),
        (
            "step3_iat_null",
            ok().claim("iat", Value::Null).sign(&key),
            wrong("iat"),
        ),
        // Optional claims of the wrong type are refused too, even where unused.
        (
            "step3_ath_number",
            ok().claim("ath", json!(5)).sign(&key),
            wrong("ath"),
        ),
        (
            "step3_nonce_number_without_nonces",
            ok().claim("nonce", json!(5)).sign(&key),
            wrong("nonce"),
        ),
        (
            "step3_nonce_null_without_nonces",
            ok().claim("nonce", Value::Null).sign(&key),
            wrong("nonce"),
        ),
        (
            "step3_jti_empty",
            ok().claim("jti", json!("")).sign(&key),
            ProofError::JtiEmpty,
        ),
        (
            "step3_jti_over_cap",
            ok().claim("jti", json!("j".repeat(257))).sign(&key),
            ProofError::JtiTooLong {
                len: 257,
                max: ProofValidator::DEFAULT_MAX_JTI_LEN,
            },
        ),
        (
            // The cap is in bytes, not characters: 129 two-byte characters.
            "step3_jti_over_cap_in_bytes",
            ok().claim("jti", json!("é".repeat(129))).sign(&key),
            ProofError::JtiTooLong {
                len: 258,
                max: ProofValidator::DEFAULT_MAX_JTI_LEN,
            },
        ),
    ];
    assert_refusals(cases, &context(&jkt(&key))).await;
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_typed_ath_is_refused_without_an_access_token_step3() {
    let key = es256();
    let proof = Draft::valid(&key).claim("ath", json!(["x"])).sign(&key);
    let context = ProofContext {
        access_token: None,
        ..context("")
    };
    let context = ProofContext {
        bound_jkt: None,
        ..context
    };
    let got = ProofValidator::builder()
        .build()
        .validate(&proof, &context, NOW)
        .await
        .err();
    assert_eq!(got, Some(ProofError::WrongType { name: "ath" }));
}

#[tokio::test(flavor = "current_thread")]
async fn configured_jti_cap_is_applied_step3() {
    let key = es256();
    let validator = ProofValidator::builder().max_jti_len(8).build();
    let proof = Draft::valid(&key)
        .claim("jti", json!("123456789"))
        .sign(&key);
    let got = validator
        .validate(&proof, &context(&jkt(&key)), NOW)
        .await
        .err();
    assert_eq!(got, Some(ProofError::JtiTooLong { len: 9, max: 8 }));
}

// ---------------------------------------------------------------------------------------
// Steps 8 and 9: htm and htu.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn htm_is_case_sensitive_step8() {
    let key = es256();
    let ok = || Draft::valid(&key);
    let mismatch = || ProofError::HtmMismatch {
        expected: METHOD.into(),
    };
    let cases = vec![
        // RFC 9110 §9.1: method names are case-sensitive.
        (
            "step8_htm_lowercase",
            ok().claim("htm", json!("post")).sign(&key),
            mismatch(),
        ),
        (
            "step8_htm_other_method",
            ok().claim("htm", json!("GET")).sign(&key),
            mismatch(),
        ),
        (
            "step8_htm_trailing_space",
            ok().claim("htm", json!("POST ")).sign(&key),
            mismatch(),
        ),
        (
            "step8_htm_empty",
            ok().claim("htm", json!("")).sign(&key),
            mismatch(),
        ),
    ];
    assert_refusals(cases, &context(&jkt(&key))).await;
}

#[tokio::test(flavor = "current_thread")]
async fn htu_must_be_the_request_uri_step9() {
    let key = es256();
    let ok = || Draft::valid(&key);
    let htu = |uri: &str| ok().claim("htu", json!(uri)).sign(&key);
    let cases = vec![
        (
            "step9_htu_relative",
            htu("/mcp"),
            ProofError::HtuInvalid(HtuError::Malformed),
        ),
        (
            "step9_htu_no_scheme",
            htu("mcp.example.com/mcp"),
            ProofError::HtuInvalid(HtuError::Malformed),
        ),
        (
            "step9_htu_empty",
            htu(""),
            ProofError::HtuInvalid(HtuError::Malformed),
        ),
        (
            "step9_htu_ftp",
            htu("ftp://mcp.example.com/mcp"),
            ProofError::HtuInvalid(HtuError::UnsupportedScheme),
        ),
        (
            "step9_htu_userinfo",
            htu("https://agent@mcp.example.com/mcp"),
            ProofError::HtuInvalid(HtuError::UserinfoPresent),
        ),
        (
            "step9_htu_other_path",
            htu("https://mcp.example.com/other"),
            ProofError::HtuMismatch,
        ),
        (
            "step9_htu_path_case",
            htu("https://mcp.example.com/MCP"),
            ProofError::HtuMismatch,
        ),
        (
            "step9_htu_trailing_slash",
            htu("https://mcp.example.com/mcp/"),
            ProofError::HtuMismatch,
        ),
        (
            "step9_htu_http",
            htu("http://mcp.example.com/mcp"),
            ProofError::HtuMismatch,
        ),
        (
            "step9_htu_other_port",
            htu("https://mcp.example.com:8443/mcp"),
            ProofError::HtuMismatch,
        ),
        (
            "step9_htu_other_host",
            htu("https://evil.example.com/mcp"),
            ProofError::HtuMismatch,
        ),
        (
            "step9_htu_encoded_slash_in_host",
            htu("https://mcp.example.com%2Fmcp"),
            ProofError::HtuInvalid(HtuError::Malformed),
        ),
    ];
    assert_refusals(cases, &context(&jkt(&key))).await;
}

// ---------------------------------------------------------------------------------------
// Step 11: the iat window, exact at both ends.
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn iat_window_boundaries_are_exact_step11() {
    let key = es256();
    let with_iat = |iat: Value| Draft::valid(&key).claim("iat", iat).sign(&key);
    let age = ProofValidator::DEFAULT_MAX_AGE_S;
    let future = ProofValidator::DEFAULT_MAX_FUTURE_S;
    let default = || ProofValidator::builder().build();
    let tight = || {
        ProofValidator::builder()
            .max_age_s(10)
            .max_future_s(0)
            .build()
    };
    /// (case, validator, iat, validator clock, outcome).
    type WindowCase = (
        &'static str,
        fn() -> ProofValidator,
        Value,
        u64,
        Result<(), ProofError>,
    );
    let cases: Vec<WindowCase> = vec![
        (
            "step11_oldest_accepted",
            default,
            json!(NOW - age),
            NOW,
            Ok(()),
        ),
        (
            "step11_one_second_too_old",
            default,
            json!(NOW - age - 1),
            NOW,
            Err(ProofError::IatTooOld {
                iat: NOW - age - 1,
                now: NOW,
            }),
        ),
        (
            "step11_furthest_future_accepted",
            default,
            json!(NOW + future),
            NOW,
            Ok(()),
        ),
        (
            "step11_one_second_too_far_in_future",
            default,
            json!(NOW + future + 1),
            NOW,
            Err(ProofError::IatInFuture {
                iat: NOW + future + 1,
                now: NOW,
            }),
        ),
        // Truncation moves a fractional iat towards "older", never into the window.
        (
            "step11_fraction_just_too_old",
            default,
            json!((NOW - age) as f64 - 0.5),
            NOW,
            Err(ProofError::IatTooOld {
                iat: NOW - age - 1,
                now: NOW,
            }),
        ),
        (
            "step11_tight_oldest_accepted",
            tight,
            json!(NOW - 10),
            NOW,
            Ok(()),
        ),
        (
            "step11_tight_too_old",
            tight,
            json!(NOW - 11),
            NOW,
            Err(ProofError::IatTooOld {
                iat: NOW - 11,
                now: NOW,
            }),
        ),
        ("step11_tight_now_accepted", tight, json!(NOW), NOW, Ok(())),
        (
            "step11_tight_no_future",
            tight,
            json!(NOW + 1),
            NOW,
            Err(ProofError::IatInFuture {
                iat: NOW + 1,
                now: NOW,
            }),
        ),
        // Arithmetic at the ends of u64 saturates instead of wrapping into the window.
        (
            "step11_iat_u64_max",
            default,
            json!(u64::MAX),
            NOW,
            Err(ProofError::IatInFuture {
                iat: u64::MAX,
                now: NOW,
            }),
        ),
        (
            "step11_clock_near_u64_max",
            default,
            json!(u64::MAX - 1),
            u64::MAX,
            Ok(()),
        ),
        ("step11_clock_at_zero", default, json!(0), 0, Ok(())),
        (
            "step11_iat_zero_now_real",
            default,
            json!(0),
            NOW,
            Err(ProofError::IatTooOld { iat: 0, now: NOW }),
        ),
    ];
    for (name, make, iat, now, expected) in cases {
        let got = make()
            .validate(&with_iat(iat), &context(&jkt(&key)), now)
            .await;
        assert_eq!(got.map(|_| ()), expected, "case {name}");
    }
}

// ---------------------------------------------------------------------------------------
// Step 10: server nonces (§9).
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn fixed_nonce_is_required_and_compared_step10() {
    let key = es256();
    let validator = ProofValidator::builder()
        .nonces(Arc::new(FixedNonce::new("server-nonce-1")))
        .build();
    let with_nonce = |nonce: Option<Value>| Draft::valid(&key).claim("nonce", nonce).sign(&key);
    let cases = vec![
        (
            "step10_fixed_nonce_accepted",
            with_nonce(Some(json!("server-nonce-1"))),
            Ok(()),
        ),
        (
            "step10_nonce_missing",
            with_nonce(None),
            Err(ProofError::NonceMissing),
        ),
        (
            "step10_nonce_wrong",
            with_nonce(Some(json!("server-nonce-2"))),
            Err(ProofError::NonceInvalid(NonceError::Mismatch)),
        ),
        (
            "step10_nonce_prefix",
            with_nonce(Some(json!("server-nonce-"))),
            Err(ProofError::NonceInvalid(NonceError::Mismatch)),
        ),
        (
            "step10_nonce_number",
            with_nonce(Some(json!(1))),
            Err(ProofError::WrongType { name: "nonce" }),
        ),
    ];
    for (name, proof, expected) in cases {
        let got = validator.validate(&proof, &context(&jkt(&key)), NOW).await;
        assert_eq!(got.map(|_| ()), expected, "case {name}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn stateless_nonce_lifetime_step10() {
    let key = es256();
    let nonces = Arc::new(
        StatelessNonces::new(&[7u8; 32])
            .unwrap()
            .with_lifetime_s(60),
    );
    let validator = ProofValidator::builder().nonces(nonces.clone()).build();
    let issued = nonces.issue(NOW);
    let foreign = StatelessNonces::new(&[8u8; 32]).unwrap().issue(NOW);
    let from_future = nonces.issue(NOW + 60);
    // The proof is made when it is sent, so its iat is the checking time.
    let proof = |nonce: Option<&str>, at: u64| {
        Draft::valid(&key)
            .claim("iat", json!(at))
            .claim("nonce", nonce.map(|n| json!(n)))
            .sign(&key)
    };
    let cases = vec![
        (
            "step10_issued_at_t_accepted_at_t_plus_1",
            proof(Some(&issued), NOW + 1),
            NOW + 1,
            Ok(()),
        ),
        (
            "step10_last_second_of_lifetime",
            proof(Some(&issued), NOW + 59),
            NOW + 59,
            Ok(()),
        ),
        (
            "step10_expired_at_lifetime",
            proof(Some(&issued), NOW + 60),
            NOW + 60,
            Err(ProofError::NonceInvalid(NonceError::Expired {
                issued_at: NOW,
                now: NOW + 60,
            })),
        ),
        (
            "step10_from_another_key",
            proof(Some(&foreign), NOW),
            NOW,
            Err(ProofError::NonceInvalid(NonceError::UnknownKey)),
        ),
        (
            "step10_from_the_future",
            proof(Some(&from_future), NOW),
            NOW,
            Err(ProofError::NonceInvalid(NonceError::FromFuture {
                issued_at: NOW + 60,
                now: NOW,
            })),
        ),
        (
            "step10_not_a_nonce",
            proof(Some("abc"), NOW),
            NOW,
            Err(ProofError::NonceInvalid(NonceError::Malformed)),
        ),
        (
            "step10_nonce_missing",
            proof(None, NOW),
            NOW,
            Err(ProofError::NonceMissing),
        ),
    ];
    for (name, proof, now, expected) in cases {
        let got = validator.validate(&proof, &context(&jkt(&key)), now).await;
        assert_eq!(got.map(|_| ()), expected, "case {name}");
    }
}

// ---------------------------------------------------------------------------------------
// Step 12: bound to the presented token (ath) and its key (cnf.jkt).
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn ath_binds_the_proof_to_the_presented_token_step12() {
    let key = es256();
    let bound = jkt(&key);
    let with_token = context(&bound);
    let without_token = ProofContext {
        access_token: None,
        ..context(&bound)
    };
    let ath = |ath: Option<String>| {
        Draft::valid(&key)
            .claim("ath", ath.map(Value::from))
            .sign(&key)
    };
    let cases = vec![
        (
            "step12_ath_matches",
            ath(Some(access_token_hash(TOKEN))),
            with_token,
            Ok(()),
        ),
        (
            "step12_ath_missing_with_token",
            ath(None),
            with_token,
            Err(ProofError::AthMissing),
        ),
        (
            "step12_ath_of_another_token",
            ath(Some(access_token_hash("another-token"))),
            with_token,
            Err(ProofError::AthMismatch),
        ),
        (
            // Compared as received: a padded spelling of the right hash is not the hash.
            "step12_ath_padded",
            ath(Some(format!("{}=", access_token_hash(TOKEN)))),
            with_token,
            Err(ProofError::AthMismatch),
        ),
        (
            "step12_ath_is_the_token_itself",
            ath(Some(TOKEN.into())),
            with_token,
            Err(ProofError::AthMismatch),
        ),
        (
            "step12_no_token_no_ath_required",
            ath(None),
            without_token,
            Ok(()),
        ),
        (
            "step12_no_token_ath_ignored",
            ath(Some(access_token_hash("another-token"))),
            without_token,
            Ok(()),
        ),
    ];
    for (name, proof, context, expected) in cases {
        let got = ProofValidator::builder()
            .build()
            .validate(&proof, &context, NOW)
            .await;
        assert_eq!(got.map(|_| ()), expected, "case {name}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn proof_key_must_be_the_token_key_step12() {
    let key = es256();
    let other = es256();
    let bound = jkt(&key);
    let other_jkt = jkt(&other);
    let truncated = &bound[..bound.len() - 1];
    let cases = [
        ("step12_jkt_matches", Some(bound.as_str()), Ok(())),
        ("step12_no_bound_key", None, Ok(())),
        (
            "step12_jkt_of_other_key",
            Some(other_jkt.as_str()),
            Err(ProofError::KeyMismatch),
        ),
        (
            "step12_jkt_prefix",
            Some(truncated),
            Err(ProofError::KeyMismatch),
        ),
        ("step12_jkt_empty", Some(""), Err(ProofError::KeyMismatch)),
    ];
    for (name, bound_jkt, expected) in cases {
        let proof = Draft::valid(&key).sign(&key);
        let context = ProofContext {
            bound_jkt,
            ..context("")
        };
        let got = ProofValidator::builder()
            .build()
            .validate(&proof, &context, NOW)
            .await;
        assert_eq!(got.map(|_| ()), expected, "case {name}");
    }
}

// ---------------------------------------------------------------------------------------
// Ordering and replay (§11.1).
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn refused_proof_does_not_burn_its_jti() {
    let signer = ProofSigner::new(es256());
    let bound = signer.thumbprint().as_str().to_owned();
    let other_uri = NormalizedUri::parse("https://mcp.example.com/other").unwrap();
    let other_bound = jkt(&es256());
    let validator = ProofValidator::builder().build();
    let proof = signer.proof(METHOD, URI, Some(TOKEN), None, NOW).unwrap();
    let right = context(&bound);
    // Each wrong context fails one cheap check; none may record the (jkt, jti).
    let attempts = [
        (
            "step8_wrong_method",
            ProofContext {
                method: "GET",
                ..right
            },
            NOW,
        ),
        (
            "step9_wrong_uri",
            ProofContext {
                uri: &other_uri,
                ..right
            },
            NOW,
        ),
        (
            "step12_wrong_token",
            ProofContext {
                access_token: Some(PresentedToken::new("other")),
                ..right
            },
            NOW,
        ),
        (
            "step12_wrong_key",
            ProofContext {
                bound_jkt: Some(&other_bound),
                ..right
            },
            NOW,
        ),
        (
            "step11_too_early",
            right,
            NOW - ProofValidator::DEFAULT_MAX_FUTURE_S - 1,
        ),
    ];
    for (name, context, now) in attempts {
        let got = validator.validate(&proof, &context, now).await;
        assert!(got.is_err(), "case {name}: {got:?}");
    }
    let got = validator.validate(&proof, &right, NOW).await;
    assert!(got.is_ok(), "accepted after the refusals: {got:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn forged_proof_does_not_burn_the_victims_jti_step6() {
    // A forger who knows (or guesses) a victim's next jti sends it under the victim's jwk
    // with a bad signature; the victim's genuine proof must still be accepted.
    let victim = es256();
    let forger = es256();
    let validator = ProofValidator::builder().build();
    let genuine = Draft::valid(&victim).claim("jti", json!("the-jti"));
    let forged = genuine.clone().sign(&forger);
    let bound = jkt(&victim);
    let first = validator
        .validate(&forged, &context(&bound), NOW)
        .await
        .err();
    assert_eq!(first, Some(ProofError::Jws(JwsError::BadSignature)));
    let second = validator
        .validate(&genuine.sign(&victim), &context(&bound), NOW)
        .await;
    assert!(second.is_ok(), "{second:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn cheap_checks_run_before_the_signature() {
    // Forged and for the wrong method: the method is what is reported, so the signature
    // was not needed to refuse it.
    let key = es256();
    let forged = Draft::valid(&key).claim("htm", json!("GET")).sign(&es256());
    let got = ProofValidator::builder()
        .build()
        .validate(&forged, &context(&jkt(&key)), NOW)
        .await
        .err();
    assert_eq!(
        got,
        Some(ProofError::HtmMismatch {
            expected: METHOD.into()
        })
    );
}

#[tokio::test(flavor = "current_thread")]
async fn replayed_proof_is_refused_for_the_whole_window() {
    let signer = ProofSigner::new(es256());
    let bound = signer.thumbprint().as_str().to_owned();
    let validator = ProofValidator::builder().build();
    let proof = signer.proof(METHOD, URI, Some(TOKEN), None, NOW).unwrap();
    let last = NOW + ProofValidator::DEFAULT_MAX_AGE_S;
    let cases = [
        ("first_use", NOW, Ok(())),
        ("same_second", NOW, Err(ProofError::Replayed)),
        ("last_second_of_window", last, Err(ProofError::Replayed)),
        (
            "after_window_too_old",
            last + 1,
            Err(ProofError::IatTooOld {
                iat: NOW,
                now: last + 1,
            }),
        ),
    ];
    for (name, now, expected) in cases {
        let got = validator.validate(&proof, &context(&bound), now).await;
        assert_eq!(got.map(|_| ()), expected, "case {name}");
    }
}

/// RFC 9449 §11.1: a proof first accepted at the future edge of the window
/// (`now = iat - max_future`) is still acceptable at `now = iat + max_age`, so its record
/// must last through that second (the store's end is exclusive). Regression: the TTL was
/// once `max_age + max_future` from the first `now`, one second short.
#[tokio::test(flavor = "current_thread")]
async fn replay_record_covers_the_last_second_of_the_window() {
    let signer = ProofSigner::new(es256());
    let bound = signer.thumbprint().as_str().to_owned();
    let validator = ProofValidator::builder()
        .max_age_s(10)
        .max_future_s(10)
        .build();
    let proof = signer.proof(METHOD, URI, Some(TOKEN), None, NOW).unwrap();
    let first = validator.validate(&proof, &context(&bound), NOW - 10).await;
    assert!(first.is_ok(), "{first:?}");
    let replay = validator
        .validate(&proof, &context(&bound), NOW + 10)
        .await
        .err();
    assert_eq!(replay, Some(ProofError::Replayed));
}

/// A window configured as "effectively unlimited" must not overflow the TTL arithmetic
/// (a panic in debug, a wrapped, tiny TTL in release that would accept the replay).
/// Regression: the TTL was once an unchecked `max_age_s + max_future_s`.
#[tokio::test(flavor = "current_thread")]
async fn replay_ttl_does_not_overflow_with_a_huge_window() {
    let signer = ProofSigner::new(es256());
    let bound = signer.thumbprint().as_str().to_owned();
    let validator = ProofValidator::builder()
        .max_age_s(u64::MAX)
        .max_future_s(1)
        .build();
    let proof = signer.proof(METHOD, URI, Some(TOKEN), None, NOW).unwrap();
    let first = validator.validate(&proof, &context(&bound), NOW).await;
    assert!(first.is_ok(), "{first:?}");
    let replay = validator
        .validate(&proof, &context(&bound), NOW)
        .await
        .err();
    assert_eq!(replay, Some(ProofError::Replayed));
}

#[tokio::test(flavor = "current_thread")]
async fn replay_is_keyed_by_jkt_and_jti() {
    let alice = ProofSigner::new(es256());
    let bob = ProofSigner::new(es256());
    let validator = ProofValidator::builder().build();
    let claims = |iat: u64, method: &str| ProofClaims {
        method: method.into(),
        uri: URI.into(),
        iat,
        jti: Some("shared-jti".into()),
        access_token: Some(TOKEN.into()),
        nonce: None,
    };
    let alice_ctx = alice.thumbprint().as_str().to_owned();
    let bob_ctx = bob.thumbprint().as_str().to_owned();
    let cases = [
        (
            "alice_first",
            &alice,
            &alice_ctx,
            claims(NOW, METHOD),
            Ok(()),
        ),
        // Another key, same jti: another client, not a replay.
        ("bob_same_jti", &bob, &bob_ctx, claims(NOW, METHOD), Ok(())),
        // Same key and jti in a new, different proof: still a replay (§11.1 keys on jti).
        (
            "alice_same_jti_new_proof",
            &alice,
            &alice_ctx,
            claims(NOW + 1, METHOD),
            Err(ProofError::Replayed),
        ),
    ];
    for (name, signer, bound, claims, expected) in cases {
        let proof = signer.sign(&claims).unwrap();
        let got = validator
            .validate(&proof, &context(bound), claims.iat)
            .await;
        assert_eq!(got.map(|_| ()), expected, "case {name}");
    }
}

/// A store that never answers, counting how often it was asked.
#[derive(Default)]
struct FailingStore {
    calls: AtomicUsize,
}

impl ReplayStore for FailingStore {
    fn check_and_record(&self, _key: ReplayKey, _now: u64, _ttl_s: u64) -> ReplayFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::ready(Err(ReplayStoreError::Unavailable {
            reason: "down".into(),
        })))
    }
}

#[tokio::test(flavor = "current_thread")]
async fn failing_replay_store_fails_closed() {
    let key = es256();
    let store = Arc::new(FailingStore::default());
    let validator = ProofValidator::builder()
        .replay_store(store.clone())
        .build();
    let bound = jkt(&key);
    // A proof refused by a check never reaches the store.
    let refused = Draft::valid(&key).claim("htm", json!("GET")).sign(&key);
    let got = validator
        .validate(&refused, &context(&bound), NOW)
        .await
        .err();
    assert_eq!(
        got,
        Some(ProofError::HtmMismatch {
            expected: METHOD.into()
        })
    );
    let forged = Draft::valid(&key).sign(&es256());
    let got = validator
        .validate(&forged, &context(&bound), NOW)
        .await
        .err();
    assert_eq!(got, Some(ProofError::Jws(JwsError::BadSignature)));
    assert_eq!(store.calls.load(Ordering::SeqCst), 0);
    // A valid proof is refused when the store cannot say it is new.
    let valid = Draft::valid(&key).sign(&key);
    let got = validator
        .validate(&valid, &context(&bound), NOW)
        .await
        .err();
    let down = ReplayStoreError::Unavailable {
        reason: "down".into(),
    };
    assert_eq!(got, Some(ProofError::ReplayStore(down)));
    assert_eq!(store.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn full_replay_store_fails_closed() {
    let key = es256();
    let store = Arc::new(InMemoryReplayStore::with_capacity(1));
    let validator = ProofValidator::builder().replay_store(store).build();
    let bound = jkt(&key);
    let first = validator
        .validate(&Draft::valid(&key).sign(&key), &context(&bound), NOW)
        .await;
    assert!(first.is_ok(), "{first:?}");
    let second = validator
        .validate(&Draft::valid(&key).sign(&key), &context(&bound), NOW)
        .await
        .err();
    assert_eq!(
        second,
        Some(ProofError::ReplayStore(ReplayStoreError::Full {
            capacity: 1
        }))
    );
}
