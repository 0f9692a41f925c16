//! Every test case of the Wycheproof vectors in `test-vectors/wycheproof/` (C2SP/wycheproof,
//! commit dac1dd4) run through the public JOSE layer, `mcp_warden::jose`.
//!
//! What it proves: each `valid` case verifies, each `invalid` case is refused (by the key
//! parser or by the verifier), and each case that does neither belongs to a named, deliberate
//! refusal of this crate, checked rather than skipped:
//!
//! - HMAC (`HS*`), `alg: none`, `kty: oct` keys, JWE and JSON serialization: refused whatever
//!   Wycheproof's verdict (RFC 9449 §4.3 step 5: no MAC, no `none`; compact JWS only).
//! - A compact JWS whose payload is not a JSON object: the crate is JWT-oriented and refuses
//!   it. For such a case the signature is still checked at the signature level (same key
//!   selection, `PublicJwk::verify` over the signing input), so the payload rule never hides
//!   a wrong cryptographic verdict; the invalid cases it alone refuses are listed in
//!   [`SIGNATURE_LEVEL_GAPS`].
//! - A `valid` JWS refused because the key's own `alg` member does not allow the JWS `alg`
//!   (RFC 7517 §4.4): verified again with `alg` dropped from the key, which must succeed.
//!
//! `acceptable` cases are decided one flag at a time in [`acceptable_decision`]; an unknown
//! flag fails the test, so a new category must be decided explicitly. Per file, the counts
//! are printed (`cargo test --test wycheproof -- --nocapture`) and must add up to
//! `numberOfTests`, so no case is silently skipped.

// A test: a panic with its message is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use mcp_warden::jose::{
    Algorithm, AlgorithmSet, JwkError, JwkSet, JwsError, JwsPart, PublicJwk, UnverifiedJws,
    base64url_decode, base64url_encode, parse_object,
};
use serde_json::{Value, json};

const MAX_JWS_LEN: usize = 64 * 1024;

/// Invalid JWS cases that this crate refuses only because the payload is not a JSON object:
/// the signature itself verifies. (file, tcId, why the crate accepts the signature).
const SIGNATURE_LEVEL_GAPS: &[(&str, u64, &str)] = &[(
    "json_web_key_test.json",
    7,
    "ROCA-vulnerable 2049-bit RSA key (CVE-2017-15361): the key is well formed and the \
     signature is correct; the crate does not fingerprint ROCA moduli",
)];

fn load(file: &str) -> Value {
    let path = format!(
        "{}/test-vectors/wycheproof/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).expect(&path)).expect(&path)
}

fn hex(text: &str) -> Vec<u8> {
    assert!(text.len().is_multiple_of(2), "odd hex length: {text}");
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect(text))
        .collect()
}

fn str_of<'a>(value: &'a Value, name: &str) -> &'a str {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// Per-file outcome counts; every case lands in exactly one bucket.
#[derive(Default)]
struct Tally {
    total: usize,
    verified_valid: usize,
    refused_invalid: usize,
    acceptable_accepted: usize,
    acceptable_refused: usize,
    /// Deliberate refusal reason → tcIds (any Wycheproof verdict).
    deliberate: BTreeMap<&'static str, Vec<u64>>,
}

impl Tally {
    fn deliberate(&mut self, reason: &'static str, tc_id: u64) {
        self.deliberate.entry(reason).or_default().push(tc_id);
    }

    fn finish(self, file: &str, doc: &Value) {
        let deliberate: usize = self.deliberate.values().map(Vec::len).sum();
        println!(
            "{file}: total {}, verified-valid {}, refused-invalid {}, acceptable-accepted {}, \
             acceptable-refused {}, deliberately-refused {deliberate}",
            self.total,
            self.verified_valid,
            self.refused_invalid,
            self.acceptable_accepted,
            self.acceptable_refused,
        );
        for (reason, ids) in &self.deliberate {
            println!("    deliberate: {reason}: {} {ids:?}", ids.len());
        }
        let expected = doc["numberOfTests"].as_u64().unwrap() as usize;
        assert_eq!(self.total, expected, "{file}: cases run vs numberOfTests");
        let bucketed = self.verified_valid
            + self.refused_invalid
            + self.acceptable_accepted
            + self.acceptable_refused
            + deliberate;
        assert_eq!(bucketed, expected, "{file}: every case is in one bucket");
    }
}

/// The decision for an `acceptable` case, from its flags: (accept?, why).
fn acceptable_decision(file: &str, test: &Value) -> (bool, &'static str) {
    let flags: Vec<&str> = test["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    match flags.as_slice() {
        // A PKCS#1 v1.5 DigestInfo whose AlgorithmIdentifier omits the NULL parameter.
        // RFC 8017 §8.2.2 verifies by re-encoding EMSA-PKCS1-v1_5 (with NULL, §9.2 note 1)
        // and comparing; aws-lc does exactly that, so only the canonical encoding verifies
        // and RS256/384/512 signatures are not malleable. Refused.
        ["MissingNull"] => (
            false,
            "RSA PKCS#1 MissingNull: only the DER DigestInfo with NULL",
        ),
        other => panic!(
            "{file} tc {}: undecided acceptable flags {other:?}",
            test["tcId"]
        ),
    }
}

/// A key refusal that is allowed to refuse `valid` cases: a stricter policy of
/// `PublicJwk::from_object`, with the reason recorded.
fn documented_key_refusal(error: &JwkError) -> Option<&'static str> {
    match error {
        // docs/threat-model.md: 2048..=8192-bit moduli only (RFC 8725 / NIST SP 800-131A minimum).
        JwkError::RsaModulusSize { .. } => Some("RSA modulus outside 2048..=8192 bits"),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Raw signature files: key from the group's JWK, hex msg/sig through PublicJwk::verify.
// ---------------------------------------------------------------------------------------

/// The JWK of a signature group. Wycheproof omits `publicKeyJwk` for a few ECDSA groups
/// (the hand-made arithmetic edge cases); for those the JWK is built from the uncompressed
/// point 04‖x‖y, which is exactly RFC 7518 §6.2.1's `x` and `y`.
fn group_jwk(group: &Value) -> Value {
    if let Some(jwk) = group.get("publicKeyJwk").or_else(|| group.get("keyJwk")) {
        return jwk.clone();
    }
    let key = &group["publicKey"];
    let point = hex(str_of(key, "uncompressed"));
    assert_eq!(point[0], 4, "uncompressed point");
    let len = (point.len() - 1) / 2;
    let crv = match str_of(key, "curve") {
        "secp256r1" => "P-256",
        "secp384r1" => "P-384",
        "secp521r1" => "P-521",
        other => panic!("no JWK curve for {other}"),
    };
    json!({
        "kty": "EC", "crv": crv,
        "x": base64url_encode(&point[1..1 + len]),
        "y": base64url_encode(&point[1 + len..]),
    })
}

fn hash_len(sha: &str) -> Option<(u64, usize)> {
    match sha {
        "SHA-256" => Some((32, 0)),
        "SHA-384" => Some((48, 1)),
        "SHA-512" => Some((64, 2)),
        _ => None,
    }
}

/// The JOSE algorithm of a signature group, or why the group is outside JOSE.
fn group_alg(group: &Value) -> Result<Algorithm, &'static str> {
    let sha = group.get("sha").and_then(Value::as_str).unwrap_or("");
    let index = hash_len(sha).map(|(_, i)| i);
    match (str_of(group, "type"), index) {
        ("EddsaVerify", _) => match group["publicKey"]["curve"].as_str() {
            Some("edwards25519") => Ok(Algorithm::EdDSA),
            _ => Err("EdDSA curve other than Ed25519"),
        },
        ("EcdsaP1363Verify", Some(i)) => {
            // RFC 7518 §3.4 pins each curve to one hash.
            let curve = group["publicKey"]["curve"].as_str();
            let expected = ["secp256r1", "secp384r1", "secp521r1"][i];
            if curve != Some(expected) {
                return Err("ECDSA curve/hash pair not defined by RFC 7518 §3.4");
            }
            Ok([Algorithm::ES256, Algorithm::ES384, Algorithm::ES512][i])
        }
        ("RsassaPkcs1Verify", Some(i)) => {
            Ok([Algorithm::RS256, Algorithm::RS384, Algorithm::RS512][i])
        }
        ("RsassaPssVerify", Some(i)) => {
            // RFC 7518 §3.5: MGF1 with the same hash, salt length = hash length.
            let (hash_bytes, _) = hash_len(sha).unwrap();
            let jose = group["mgf"] == "MGF1"
                && group["mgfSha"] == sha
                && group["sLen"].as_u64() == Some(hash_bytes);
            if !jose {
                return Err("RSASSA-PSS parameters outside RFC 7518 §3.5");
            }
            Ok([Algorithm::PS256, Algorithm::PS384, Algorithm::PS512][i])
        }
        _ => Err("signature scheme with a hash JOSE does not define"),
    }
}

fn run_signature_file(file: &str) {
    let doc = load(file);
    let mut tally = Tally::default();
    for group in doc["testGroups"].as_array().unwrap() {
        let alg = group_alg(group);
        let key = PublicJwk::from_object(group_jwk(group).as_object().unwrap());
        for test in group["tests"].as_array().unwrap() {
            tally.total += 1;
            let tc_id = test["tcId"].as_u64().unwrap();
            let result = str_of(test, "result");
            let alg = match alg {
                Ok(alg) => alg,
                Err(why) => {
                    // Not a JOSE algorithm: nothing of this crate can express the case.
                    tally.deliberate(why, tc_id);
                    continue;
                }
            };
            let verdict = match &key {
                Ok(key) => key
                    .verify(alg, &hex(str_of(test, "msg")), &hex(str_of(test, "sig")))
                    .map_err(|e| format!("{e:?}")),
                Err(e) => Err(format!("key refused: {e:?}")),
            };
            let context = format!("{file} tc {tc_id} ({}, {result})", test["comment"]);
            match (result, verdict) {
                ("valid", Ok(())) => tally.verified_valid += 1,
                ("invalid", Err(_)) => tally.refused_invalid += 1,
                ("invalid", Ok(())) => panic!("{context}: invalid signature accepted"),
                ("valid", Err(why)) => {
                    // Only a documented key policy may refuse a valid signature.
                    let policy = key.as_ref().err().and_then(documented_key_refusal);
                    let Some(policy) = policy else {
                        panic!("{context}: valid signature refused: {why}");
                    };
                    tally.deliberate(policy, tc_id);
                }
                ("acceptable", verdict) => {
                    let (accept, why) = acceptable_decision(file, test);
                    assert_eq!(verdict.is_ok(), accept, "{context}: {why}: {verdict:?}");
                    if accept {
                        tally.acceptable_accepted += 1;
                    } else {
                        tally.acceptable_refused += 1;
                    }
                }
                (other, _) => panic!("{context}: unknown result {other}"),
            }
        }
    }
    tally.finish(file, &doc);
}

#[test]
fn ecdsa_p256_sha256_p1363() {
    run_signature_file("ecdsa_secp256r1_sha256_p1363_test.json");
}

#[test]
fn ecdsa_p384_sha384_p1363() {
    run_signature_file("ecdsa_secp384r1_sha384_p1363_test.json");
}

#[test]
fn ecdsa_p521_sha512_p1363() {
    run_signature_file("ecdsa_secp521r1_sha512_p1363_test.json");
}

#[test]
fn ed25519() {
    run_signature_file("ed25519_test.json");
}

#[test]
fn rsa_pkcs1_2048_sha256() {
    run_signature_file("rsa_signature_2048_sha256_test.json");
}

#[test]
fn rsa_pkcs1_3072_sha384() {
    run_signature_file("rsa_signature_3072_sha384_test.json");
}

#[test]
fn rsa_pkcs1_4096_sha512() {
    run_signature_file("rsa_signature_4096_sha512_test.json");
}

#[test]
fn rsa_pss_2048_sha256_mgf1_32() {
    run_signature_file("rsa_pss_2048_sha256_mgf1_32_test.json");
}

// ---------------------------------------------------------------------------------------
// JSON Web files: compact JWS through UnverifiedJws::parse, keys through a JwkSet.
// ---------------------------------------------------------------------------------------

/// What the crate does with one JWS.
enum Outcome {
    Accepted,
    /// Refused by a policy that is independent of the signature.
    Deliberate(&'static str),
    /// Refused only because the payload is not a JSON object; the signature verifies.
    PayloadOnly,
    Refused(String),
}

/// The group's public keys: `public` when Wycheproof gives it, else `private` with the
/// private members dropped (an `oct` key then has no key material left and is refused).
fn public_keys(group: &Value, drop_alg: bool) -> Vec<Value> {
    let source = group.get("public").unwrap_or(&group["private"]);
    let keys = match source.get("keys") {
        Some(Value::Array(keys)) => keys.clone(),
        _ => vec![source.clone()],
    };
    let mut dropped = vec!["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
    if drop_alg {
        dropped.push("alg");
    }
    keys.into_iter()
        .map(|mut key| {
            let members = key.as_object_mut().unwrap();
            dropped.iter().for_each(|m| drop(members.remove(*m)));
            key
        })
        .collect()
}

fn key_set(keys: &[Value]) -> JwkSet {
    let set = JwkSet::from_json(&serde_json::to_vec(&json!({ "keys": keys })).unwrap()).unwrap();
    let refused = keys
        .iter()
        .filter(|k| PublicJwk::from_object(k.as_object().unwrap()).is_err())
        .count();
    assert_eq!(
        set.skipped(),
        refused,
        "JwkSet skips exactly the refused keys"
    );
    set
}

/// The signature alone: the key selection of a verifier (`kid`, `alg`) and
/// `PublicJwk::verify` over the signing input, for a JWS whose header passed `parse`.
fn signature_level(compact: &str, set: &JwkSet) -> Result<(), String> {
    let (input, signature) = compact.rsplit_once('.').unwrap();
    let header = parse_object(&base64url_decode(input.split('.').next().unwrap()).unwrap())
        .expect("header passed parse");
    let alg = Algorithm::from_name(header["alg"].as_str().unwrap()).unwrap();
    let signature = base64url_decode(signature).ok_or("signature is not base64url")?;
    let kid = header.get("kid").and_then(Value::as_str);
    let mut last = "no candidate key".to_owned();
    for key in set.candidates(kid, alg) {
        match key.verify(alg, input.as_bytes(), &signature) {
            Ok(()) => return Ok(()),
            Err(e) => last = format!("{e:?}"),
        }
    }
    Err(last)
}

fn judge_jws(compact: &str, set: &JwkSet) -> Outcome {
    if compact.trim_start().starts_with('{') {
        // JSON serialization (RFC 7515 §7.2): only the compact form is accepted.
        assert!(UnverifiedJws::parse(compact, MAX_JWS_LEN, AlgorithmSet::ALL).is_err());
        return Outcome::Deliberate("JSON serialization");
    }
    match UnverifiedJws::parse(compact, MAX_JWS_LEN, AlgorithmSet::ALL) {
        Err(JwsError::AlgNone) => Outcome::Deliberate("alg none"),
        Err(JwsError::SymmetricAlg) => Outcome::Deliberate("HMAC alg (HS*)"),
        // Five segments is a compact JWE (RFC 7516 §7.1): encryption is out of scope.
        Err(JwsError::SegmentCount) if compact.split('.').count() == 5 => {
            Outcome::Deliberate("JWE")
        }
        Err(JwsError::Json {
            part: JwsPart::Payload,
            ..
        }) => match signature_level(compact, set) {
            Ok(()) => Outcome::PayloadOnly,
            Err(why) => Outcome::Refused(why),
        },
        Err(e) => Outcome::Refused(format!("{e:?}")),
        Ok(jws) => {
            let kid = jws.header().get("kid").and_then(Value::as_str);
            let kid = kid.map(str::to_owned);
            let alg = jws.alg();
            match jws.verify_any(set.candidates(kid.as_deref(), alg)) {
                Ok(_) => Outcome::Accepted,
                Err(e) => Outcome::Refused(format!("{e:?}")),
            }
        }
    }
}

fn run_jose_file(file: &str) {
    let doc = load(file);
    let mut tally = Tally::default();
    let mut gaps = Vec::new();
    for group in doc["testGroups"].as_array().unwrap() {
        let keys = public_keys(group, false);
        let set = key_set(&keys);
        // Cross-check: the public key derived from `private` is the same key as `public`.
        if group.get("public").is_some() {
            let derived = key_set(&public_keys(&json!({"private": group["private"]}), false));
            if derived.keys().len() == set.keys().len() {
                let pairs = derived.keys().iter().zip(set.keys());
                for (a, b) in pairs {
                    assert_eq!(a.thumbprint(), b.thumbprint(), "{file}: private/public");
                }
            }
        }
        // A group with only symmetric keys: every case is an HMAC case (RFC 9449 §4.3).
        let symmetric = keys.iter().all(|k| k["kty"] == "oct");
        for test in group["tests"].as_array().unwrap() {
            tally.total += 1;
            let tc_id = test["tcId"].as_u64().unwrap();
            let result = str_of(test, "result");
            let context = format!("{file} tc {tc_id} ({}, {result})", test["comment"]);
            let compact = match &test["jws"] {
                Value::String(s) => s.clone(),
                other => other.to_string(), // a JSON-serialized JWS given as an object
            };
            let outcome = judge_jws(&compact, &set);
            match (outcome, result) {
                (Outcome::Accepted, "valid") => {
                    assert!(!symmetric, "{context}: accepted with an oct key");
                    tally.verified_valid += 1;
                }
                (Outcome::Accepted, _) => panic!("{context}: accepted"),
                (Outcome::Deliberate(why), _) => tally.deliberate(why, tc_id),
                // Refused by structure (segments, base64) before its HS* alg was even read.
                (Outcome::Refused(_), _) if symmetric => {
                    tally.deliberate("oct key only (malformed HMAC JWS)", tc_id);
                }
                // The JWT-oriented payload rule, with the signature itself verified.
                (Outcome::PayloadOnly, "valid") => {
                    tally.deliberate("payload not a JSON object (signature verifies)", tc_id);
                }
                (Outcome::PayloadOnly, _) => {
                    gaps.push(tc_id);
                    tally.refused_invalid += 1;
                }
                (Outcome::Refused(why), "valid") => {
                    // RFC 7517 §4.4: the key's `alg` member restricts it; the crate refuses
                    // an unregistered `alg` ("ES521") and a JWS alg other than the declared
                    // one. Without `alg`, the same signature must verify.
                    let lifted = key_set(&public_keys(group, true));
                    let check = signature_level(&compact, &lifted);
                    assert!(check.is_ok(), "{context}: valid refused: {why} / {check:?}");
                    tally.deliberate("key's alg member does not allow the JWS alg", tc_id);
                }
                (Outcome::Refused(_), _) => tally.refused_invalid += 1,
            }
        }
    }
    let known: Vec<u64> = SIGNATURE_LEVEL_GAPS
        .iter()
        .filter(|(f, _, _)| *f == file)
        .map(|(_, id, _)| *id)
        .collect();
    assert_eq!(
        gaps, known,
        "{file}: invalid cases refused only by the payload rule"
    );
    tally.finish(file, &doc);
}

#[test]
fn json_web_key() {
    run_jose_file("json_web_key_test.json");
}

#[test]
fn json_web_signature() {
    run_jose_file("json_web_signature_test.json");
}
