//! Property tests for the code that reads attacker-controlled bytes: the strict JSON parser,
//! the compact JWS parser, the JWK parser, `htu` normalization and the whole DPoP proof
//! validator.
//!
//! What they prove, for generated inputs: none of these panics; a JWS is only ever parsed
//! with an allowed `alg` and no `crit`; a JWK with a private member is always refused and an
//! accepted one survives a round trip with the same thumbprint; every duplicate-free JSON
//! object is accepted unchanged and a repeated member is always refused; the default port
//! and case of scheme and host never change a normalized URI; a proof the validator accepts
//! satisfies every rule of RFC 9449 §4.3; and no single-character change to a valid proof
//! (replaced, deleted or inserted) is ever accepted.
//!
//! A property about accepted inputs is vacuous if nothing is accepted, so those properties
//! run through [`check_accepted`], which also fails when too few of the generated inputs
//! were accepted; and an unedited near-valid proof must be accepted outright.

// A test: a panic with its message is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};

use mcp_warden::dpop::{
    NormalizedUri, ProofContext, ProofSigner, ProofValidator, access_token_hash,
};
use mcp_warden::jose::{
    Algorithm, AlgorithmSet, JsonError, JwkError, PublicJwk, SigningKey, UnverifiedJws,
    base64url_encode, parse_object,
};
use mcp_warden::token::PresentedToken;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};

const NOW: u64 = 1_764_288_000;
const METHOD: &str = "POST";
const URI: &str = "https://mcp.example.com/mcp";
const TOKEN: &str = "an-access-token";
const MAX_LEN: usize = 8192;

/// The default case count (256, or `PROPTEST_CASES`), and no regression file: a failure
/// prints its minimal input instead.
fn parser_config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Fewer cases where each one signs or runs the whole validator.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..parser_config()
    }
}

/// The validator is async; its default replay store answers at once, so a fresh
/// current-thread runtime per case costs little.
fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// Runs a property whose point is what holds for accepted inputs (`property` returns
/// whether its input was accepted), and fails unless at least `min_share` of the cases
/// were: were the generator never to reach acceptance, the property would check nothing
/// and still pass. `min_share` sits far below the generator's measured rate, so a pass is
/// not luck and a failure means the generator drifted.
fn check_accepted<S: Strategy>(
    name: &str,
    config: ProptestConfig,
    strategy: S,
    min_share: f64,
    property: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) {
    let cases = config.cases;
    let accepted = AtomicU32::new(0);
    let result = TestRunner::new(config).run(&strategy, |value| {
        if property(value)? {
            accepted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{name}: {error}");
    }
    let accepted = accepted.into_inner();
    assert!(
        f64::from(accepted) >= min_share * f64::from(cases) && accepted > 0,
        "{name}: only {accepted} of {cases} inputs were accepted, so the property about \
         accepted inputs was hardly exercised"
    );
}

/// At least 256 cases (or `PROPTEST_CASES`, if more) for a property that counts accepted
/// inputs: enough that the share accepted is far from zero.
fn counting_config() -> ProptestConfig {
    let config = parser_config();
    ProptestConfig {
        cases: config.cases.max(256),
        ..config
    }
}

fn request_uri() -> &'static NormalizedUri {
    static PARSED: LazyLock<NormalizedUri> = LazyLock::new(|| NormalizedUri::parse(URI).unwrap());
    &PARSED
}

/// PKCS#8 of one key per algorithm family, generated once (RSA generation is slow).
fn pkcs8(alg: Algorithm) -> &'static [u8] {
    static EC: LazyLock<Vec<u8>> = LazyLock::new(|| generate(Algorithm::ES256));
    static ED: LazyLock<Vec<u8>> = LazyLock::new(|| generate(Algorithm::EdDSA));
    static RSA: LazyLock<Vec<u8>> = LazyLock::new(|| generate(Algorithm::RS256));
    fn generate(alg: Algorithm) -> Vec<u8> {
        SigningKey::generate(alg).unwrap().to_pkcs8().unwrap()
    }
    match alg {
        Algorithm::ES256 => &EC,
        Algorithm::EdDSA => &ED,
        _ => &RSA,
    }
}

fn key(alg: Algorithm) -> SigningKey {
    SigningKey::from_pkcs8(alg, pkcs8(alg)).unwrap()
}

/// Valid proofs (algorithm, proof, jkt), signed once, for the mutation properties.
fn valid_proofs() -> &'static [(Algorithm, String, String)] {
    static PROOFS: LazyLock<Vec<(Algorithm, String, String)>> = LazyLock::new(|| {
        [Algorithm::ES256, Algorithm::EdDSA, Algorithm::PS256]
            .into_iter()
            .map(|alg| {
                let signer = ProofSigner::new(key(alg));
                let proof = signer.proof(METHOD, URI, Some(TOKEN), None, NOW).unwrap();
                (alg, proof, signer.thumbprint().as_str().to_owned())
            })
            .collect()
    });
    &PROOFS
}

fn context(jkt: &str) -> ProofContext<'_> {
    ProofContext {
        method: METHOD,
        uri: request_uri(),
        access_token: Some(PresentedToken::new(TOKEN)),
        bound_jkt: Some(jkt),
    }
}

// ---------------------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------------------

/// Any subset of the supported algorithms.
fn algorithm_set() -> impl Strategy<Value = AlgorithmSet> {
    any::<u16>().prop_map(|bits| {
        Algorithm::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| bits >> i & 1 == 1)
            .map(|(_, alg)| alg)
            .collect()
    })
}

/// Short strings over all of Unicode, newlines included.
fn text() -> impl Strategy<Value = String> {
    "(?s).{0,8}"
}

fn b64url() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{0,64}"
}

/// Bytes that are mostly JSON punctuation, literals and digits: near-JSON that reaches
/// the parser's deeper states more often than uniform bytes do.
fn jsonish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet: &[u8] = b"{}[]\":,.-+eE0123456789 \t\n\\/ulnrtsfa\"\"::{}";
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(alphabet),
            1 => any::<u8>(),
        ],
        0..96,
    )
}

/// JSON values whose text round-trips exactly: floats are multiples of 1/4.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i32>().prop_map(|n| Value::from(f64::from(n) / 4.0)),
        text().prop_map(Value::String),
    ];
    // Depth stays far below jose::MAX_DEPTH.
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
    .boxed()
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(text(), json_value(), 0..8)
        .prop_map(|members| members.into_iter().collect())
}

/// `Some(value)` (in `rate` of cases) to set a member, `None` to leave it out.
fn member(rate: f64, value: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(rate, value)
}

fn insert(object: &mut Map<String, Value>, name: &str, value: Option<Value>) {
    if let Some(value) = value {
        object.insert(name.into(), value);
    }
}

/// Applied to a valid object: `None` keeps the member, `Some(None)` removes it,
/// `Some(Some(v))` sets it to `v`.
type Edit = Option<Option<Value>>;

/// Edits one member in `rate` of cases, so most generated objects stay one or two edits
/// away from valid and the properties about accepted inputs are exercised.
fn edit(rate: f64, value: impl Strategy<Value = Value>) -> impl Strategy<Value = Edit> {
    prop::option::weighted(rate, prop::option::weighted(0.8, value))
}

fn apply(object: &mut Map<String, Value>, name: &str, edit: Edit) {
    match edit {
        None => {}
        Some(None) => {
            object.remove(name);
        }
        Some(Some(value)) => {
            object.insert(name.into(), value);
        }
    }
}

/// `alg` values: every supported one, the refused ones, and noise.
fn alg_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(Algorithm::ALL.to_vec()).prop_map(|alg| json!(alg.name())),
        prop::sample::select(vec![
            "none", "None", "HS256", "HS512", "ES256K", "es256", ""
        ])
        .prop_map(Value::from),
        json_value(),
    ]
}

// ---------------------------------------------------------------------------------------
// jose::parse_object.
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(parser_config())]

    #[test]
    fn parse_object_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_object(&bytes);
    }

    #[test]
    fn parse_object_accepts_only_objects(bytes in jsonish_bytes()) {
        // Whatever it accepts starts, after whitespace, with '{'.
        if parse_object(&bytes).is_ok() {
            let first = bytes.iter().find(|b| !b" \t\r\n".contains(b));
            prop_assert_eq!(first, Some(&b'{'));
        }
    }

    #[test]
    fn parse_object_accepts_every_duplicate_free_object(
        object in json_object(),
        pretty in any::<bool>(),
    ) {
        let text = if pretty {
            serde_json::to_vec_pretty(&object).unwrap()
        } else {
            serde_json::to_vec(&object).unwrap()
        };
        prop_assert_eq!(parse_object(&text), Ok(object));
    }

    #[test]
    fn parse_object_reads_numbers_like_serde_json(
        number in any::<f64>().prop_filter("JSON has no NaN or infinity", |n| n.is_finite()),
    ) {
        // Any finite double: parsed exactly as serde_json parses it, whatever that rounds to.
        let text = format!(r#"{{"n":{}}}"#, serde_json::to_string(&number).unwrap());
        let expected: Map<String, Value> = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(parse_object(text.as_bytes()), Ok(expected));
    }

    #[test]
    fn parse_object_refuses_any_repeated_member(
        object in json_object().prop_filter("needs a member", |o| !o.is_empty()),
        which in any::<Index>(),
        value in json_value(),
    ) {
        // RFC 7515 §5.2: a repeated name is refused, whatever its value.
        let name = object.keys().nth(which.index(object.len())).unwrap();
        let mut text = serde_json::to_string(&object).unwrap();
        text.pop();
        text.push_str(&format!(
            ",{}:{}}}",
            serde_json::to_string(name).unwrap(),
            serde_json::to_string(&value).unwrap()
        ));
        prop_assert_eq!(parse_object(text.as_bytes()), Err(JsonError::DuplicateMember));
    }
}

// ---------------------------------------------------------------------------------------
// jose::UnverifiedJws::parse.
// ---------------------------------------------------------------------------------------

/// The invariant of every accepted parse: an allowed `alg`, exactly the header's, no
/// `crit`, no unencoded payload, within the length cap. Returns whether it was accepted.
fn check_parsed(
    compact: &str,
    max_len: usize,
    allowed: AlgorithmSet,
) -> Result<bool, TestCaseError> {
    let Ok(jws) = UnverifiedJws::parse(compact, max_len, allowed) else {
        return Ok(false);
    };
    {
        prop_assert!(
            allowed.contains(jws.alg()),
            "{:?} not in {allowed:?}",
            jws.alg()
        );
        prop_assert_eq!(jws.header().get("alg"), Some(&json!(jws.alg().name())));
        prop_assert!(!jws.header().contains_key("crit"));
        prop_assert!(matches!(
            jws.header().get("b64"),
            None | Some(Value::Bool(true))
        ));
        prop_assert!(compact.len() <= max_len);
    }
    Ok(true)
}

proptest! {
    #![proptest_config(parser_config())]

    #[test]
    fn jws_parse_never_panics_on_strings(
        compact in any::<String>(),
        allowed in algorithm_set(),
    ) {
        check_parsed(&compact, MAX_LEN, allowed)?;
    }

    #[test]
    fn jws_parse_never_panics_on_base64url_segments(
        segments in prop_oneof![
            3 => prop::collection::vec(b64url(), 3),
            1 => prop::collection::vec(b64url(), 1..6),
        ],
        allowed in algorithm_set(),
        max_len in prop_oneof![Just(MAX_LEN), 0..200usize],
    ) {
        check_parsed(&segments.join("."), max_len, allowed)?;
    }

    #[test]
    fn jws_parse_never_panics_on_encoded_jsonish_bytes(
        header in jsonish_bytes(),
        payload in jsonish_bytes(),
        signature in prop::collection::vec(any::<u8>(), 0..80),
        allowed in algorithm_set(),
    ) {
        let compact = format!(
            "{}.{}.{}",
            base64url_encode(&header),
            base64url_encode(&payload),
            base64url_encode(&signature)
        );
        check_parsed(&compact, MAX_LEN, allowed)?;
    }
}

#[test]
fn jws_parse_only_accepts_allowed_algorithms() {
    let inputs = (
        member(0.9, alg_value()),
        member(0.15, json_value()),
        member(
            0.2,
            prop_oneof![any::<bool>().prop_map(Value::Bool), json_value()],
        ),
        json_object(),
        json_object(),
        prop::collection::vec(any::<u8>(), 0..80),
        algorithm_set(),
    );
    check_accepted(
        "jws_parse_only_accepts_allowed_algorithms",
        counting_config(),
        inputs,
        // About one in nine is accepted: an allowed `alg`, no `crit`, no `b64: false`.
        0.02,
        |(alg, crit, b64, extra, payload, signature, allowed)| {
            // Headers built to be well-formed JSON objects, so the alg, crit and b64 rules
            // are what decides.
            let mut header = extra;
            insert(&mut header, "alg", alg);
            insert(&mut header, "crit", crit);
            insert(&mut header, "b64", b64);
            let compact = format!(
                "{}.{}.{}",
                base64url_encode(&serde_json::to_vec(&header).unwrap()),
                base64url_encode(&serde_json::to_vec(&payload).unwrap()),
                base64url_encode(&signature)
            );
            check_parsed(&compact, MAX_LEN, allowed)
        },
    );
}

// ---------------------------------------------------------------------------------------
// jose::PublicJwk::from_json.
// ---------------------------------------------------------------------------------------

/// The public members of one real key per family: real values make some generated JWKs
/// valid, so the properties about accepted keys are exercised, not vacuous.
fn real_members() -> &'static [Map<String, Value>] {
    static MEMBERS: LazyLock<Vec<Map<String, Value>>> = LazyLock::new(|| {
        [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256]
            .into_iter()
            .map(|alg| key(alg).public_jwk().public_members())
            .collect()
    });
    &MEMBERS
}

/// A value for a key member: a real one (of any family), base64url of a near-miss
/// length, or noise.
fn key_value(name: &'static str) -> impl Strategy<Value = Value> {
    let real: Vec<Value> = real_members()
        .iter()
        .filter_map(|members| members.get(name).cloned())
        .collect();
    let lengths = vec![0usize, 1, 3, 31, 32, 33, 48, 66, 255, 256, 257];
    prop_oneof![
        2 => prop::sample::select(real),
        2 => (prop::sample::select(lengths), any::<u8>())
            .prop_map(|(len, byte)| json!(base64url_encode(&vec![byte; len]))),
        1 => b64url().prop_map(Value::from),
        1 => json_value(),
    ]
}

fn key_member(name: &'static str) -> impl Strategy<Value = Edit> {
    edit(0.15, key_value(name))
}

fn text_value(choices: Vec<&'static str>) -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => prop::sample::select(choices).prop_map(Value::from),
        1 => json_value(),
    ]
}

/// A real public key of some family with, per member, a small chance of being removed or
/// replaced by a near miss, plus sometimes a private `d`.
fn jwk_object() -> BoxedStrategy<Map<String, Value>> {
    (
        prop::sample::select(real_members().to_vec()),
        edit(0.15, text_value(vec!["EC", "RSA", "OKP", "oct", "ec", ""])),
        edit(
            0.15,
            text_value(vec![
                "P-256", "P-384", "P-521", "Ed25519", "X25519", "p-256",
            ]),
        ),
        (
            key_member("x"),
            key_member("y"),
            key_member("n"),
            key_member("e"),
        ),
        edit(0.1, key_value("x")),
        edit(
            0.15,
            text_value(vec!["ES256", "EdDSA", "RS256", "PS256", "HS256"]),
        ),
        edit(0.15, text_value(vec!["sig", "enc"])),
    )
        .prop_map(|(mut jwk, kty, crv, (x, y, n, e), d, alg, usage)| {
            apply(&mut jwk, "kty", kty);
            apply(&mut jwk, "crv", crv);
            apply(&mut jwk, "x", x);
            apply(&mut jwk, "y", y);
            apply(&mut jwk, "n", n);
            apply(&mut jwk, "e", e);
            apply(&mut jwk, "d", d);
            apply(&mut jwk, "alg", alg);
            apply(&mut jwk, "use", usage);
            jwk
        })
        .boxed()
}

proptest! {
    #![proptest_config(parser_config())]

    #[test]
    fn jwk_parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = PublicJwk::from_json(&bytes);
    }

    #[test]
    fn jwk_parse_never_panics_on_jsonish_bytes(bytes in jsonish_bytes()) {
        let _ = PublicJwk::from_json(&bytes);
    }

}

#[test]
fn jwk_parse_refuses_private_members_and_round_trips_public_keys() {
    check_accepted(
        "jwk_parse_refuses_private_members_and_round_trips_public_keys",
        counting_config(),
        jwk_object(),
        // About half are accepted.
        0.2,
        |jwk| {
            let parsed = PublicJwk::from_json(&serde_json::to_vec(&jwk).unwrap());
            if jwk.contains_key("d") {
                // RFC 9449 §4.3 step 7: refused before anything else is looked at.
                prop_assert_eq!(parsed.err(), Some(JwkError::PrivateMember { name: "d" }));
                return Ok(false);
            }
            let Ok(parsed) = parsed else {
                return Ok(false);
            };
            // RFC 7638: the thumbprint depends only on the required public members.
            prop_assert_eq!(parsed.thumbprint().as_str().len(), 43);
            let again = PublicJwk::from_object(&parsed.public_members()).unwrap();
            prop_assert_eq!(again.thumbprint(), parsed.thumbprint());
            prop_assert!(matches!(jwk.get("use"), None | Some(Value::String(_))));
            Ok(true)
        },
    );
}

// ---------------------------------------------------------------------------------------
// dpop::NormalizedUri.
// ---------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(parser_config())]

    #[test]
    fn default_port_and_case_of_scheme_and_host_do_not_change_the_uri(
        host in "[a-z][a-z0-9]{0,8}(\\.[a-z][a-z0-9-]{0,8}){0,2}",
        segments in prop::collection::vec("[A-Za-z0-9._~!$&'()*+,;=:@%-]{0,8}", 0..6),
    ) {
        // RFC 3986 §6.2.2.1 and §6.2.3: the same resource, spelled two ways; refused the
        // same way when it is refused.
        let path: String = segments.iter().map(|s| format!("/{s}")).collect();
        let plain = NormalizedUri::parse(&format!("https://{host}{path}"));
        let loud = NormalizedUri::parse(&format!("HTTPS://{}:443{path}", host.to_uppercase()));
        prop_assert_eq!(plain, loud);
    }
}

// ---------------------------------------------------------------------------------------
// The whole validator.
// ---------------------------------------------------------------------------------------

/// Header and claim values near and around the valid ones.
fn typ_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "dpop+jwt",
            "DPoP+JWT",
            "application/dpop+jwt",
            "jwt",
            ""
        ])
        .prop_map(Value::from),
        "[ -~]{0,24}".prop_map(Value::from),
        text().prop_map(Value::from),
        json_value(),
    ]
}

fn jwk_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => jwk_object().prop_map(Value::Object),
        1 => json_value(),
    ]
}

fn claim_text(near: Vec<&'static str>) -> impl Strategy<Value = Value> {
    prop_oneof![
        2 => prop::sample::select(near).prop_map(Value::from),
        1 => text().prop_map(Value::from),
        1 => json_value(),
    ]
}

fn iat_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (NOW - 400..NOW + 400).prop_map(Value::from),
        1 => (-400.0..400.0f64).prop_map(|d| Value::from(NOW as f64 + d)),
        1 => any::<i64>().prop_map(Value::from),
        1 => json_value(),
    ]
}

/// A proof's JOSE header and claims, and whether they are the unedited valid ones.
type NearValid = (Map<String, Value>, Map<String, Value>, bool);

/// A valid proof's header and claims for `key` (ES256), each member edited in a tenth of
/// cases, plus sometimes one extra header member; and whether nothing was edited (about a
/// third of cases: 0.9^10), in which case the proof is valid.
fn near_valid_proof() -> BoxedStrategy<NearValid> {
    let header_edits = (
        edit(0.1, typ_value()),
        edit(0.1, alg_value()),
        edit(0.1, jwk_value()),
        prop::option::weighted(
            0.1,
            (
                prop_oneof![
                    prop::sample::select(vec!["crit", "b64", "kid", "x5c", "jku"])
                        .prop_map(String::from),
                    text(),
                ],
                json_value(),
            ),
        ),
    );
    let claim_edits = (
        edit(0.1, claim_text(vec!["", "a", "jti-2"])),
        edit(0.1, claim_text(vec!["post", "GET", "POST "])),
        edit(
            0.1,
            claim_text(vec![
                "HTTPS://MCP.EXAMPLE.COM:443/mcp?x#y",
                "https://mcp.example.com/mcp/",
                "http://mcp.example.com/mcp",
                "https://mcp.example.com/%6Dcp",
                "https://mcp.example.com:8443/mcp",
            ]),
        ),
        edit(0.1, iat_value()),
        edit(0.1, claim_text(vec!["", "an-access-token"])),
        edit(0.1, claim_text(vec!["", "nonce"])),
    );
    (header_edits, claim_edits)
        .prop_map(
            |((typ, alg, jwk, extra), (jti, htm, htu, iat, ath, nonce))| {
                let untouched = extra.is_none()
                    && [&typ, &alg, &jwk, &jti, &htm, &htu, &iat, &ath, &nonce]
                        .iter()
                        .all(|edit| edit.is_none());
                let key = key(Algorithm::ES256);
                let mut header = json!({
                    "typ": "dpop+jwt",
                    "alg": "ES256",
                    "jwk": key.public_jwk().public_members(),
                })
                .as_object()
                .unwrap()
                .clone();
                if let Some((name, value)) = extra {
                    header.insert(name, value);
                }
                apply(&mut header, "typ", typ);
                apply(&mut header, "alg", alg);
                apply(&mut header, "jwk", jwk);
                let mut claims = json!({
                    "jti": "a-jti",
                    "htm": METHOD,
                    "htu": URI,
                    "iat": NOW,
                    "ath": access_token_hash(TOKEN),
                })
                .as_object()
                .unwrap()
                .clone();
                apply(&mut claims, "jti", jti);
                apply(&mut claims, "htm", htm);
                apply(&mut claims, "htu", htu);
                apply(&mut claims, "iat", iat);
                apply(&mut claims, "ath", ath);
                apply(&mut claims, "nonce", nonce);
                (header, claims, untouched)
            },
        )
        .boxed()
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn validator_never_panics_on_arbitrary_input(
        proof in any::<String>(),
        method in text(),
        uri in "(https?|HTTP)://[a-zA-Z0-9.-]{1,12}(:[0-9]{1,5})?(/[a-zA-Z0-9.%~_-]{0,8}){0,4}",
        access_token in prop::option::of(text()),
        bound_jkt in prop::option::of(b64url()),
        now in any::<u64>(),
    ) {
        let uri = NormalizedUri::parse(&uri).unwrap_or_else(|_| request_uri().clone());
        let context = ProofContext {
            method: &method,
            uri: &uri,
            access_token: access_token.as_deref().map(PresentedToken::new),
            bound_jkt: bound_jkt.as_deref(),
        };
        let validator = ProofValidator::builder().build();
        let got = block_on(validator.validate(&proof, &context, now));
        prop_assert!(got.is_err());
    }

    #[test]
    fn no_single_character_change_to_a_valid_proof_is_accepted(
        which in any::<Index>(),
        at in any::<Index>(),
        kind in 0..3u8,
        replacement in any::<char>(),
    ) {
        // Header and payload are the signing input itself, and the strict decoder gives
        // every byte string exactly one spelling (trailing bits included), so any change
        // either breaks the structure or the signature.
        let (alg, proof, jkt) = &valid_proofs()[which.index(valid_proofs().len())];
        let mut chars: Vec<char> = proof.chars().collect();
        let at = at.index(chars.len());
        match kind {
            0 => chars[at] = replacement,
            1 => { chars.remove(at); }
            _ => chars.insert(at, replacement),
        }
        let mutated: String = chars.into_iter().collect();
        prop_assume!(&mutated != proof);
        let validator = ProofValidator::builder().build();
        let got = block_on(validator.validate(&mutated, &context(jkt), NOW));
        prop_assert!(got.is_err(), "{alg}: edit {kind} at {at} accepted: {mutated}");
    }
}

#[test]
fn accepted_proofs_satisfy_every_rule_of_rfc9449_4_3() {
    check_accepted(
        "accepted_proofs_satisfy_every_rule_of_rfc9449_4_3",
        config(64),
        near_valid_proof(),
        // Close to half are accepted: every unedited proof, and some edited ones.
        0.1,
        |(header, claims, untouched)| {
            // Real signatures over the generated header and claims, so acceptance is
            // reachable and what decides is the validator's rules, not a broken signature.
            let key = key(Algorithm::ES256);
            let input = format!(
                "{}.{}",
                base64url_encode(&serde_json::to_vec(&header).unwrap()),
                base64url_encode(&serde_json::to_vec(&claims).unwrap())
            );
            let signature = base64url_encode(&key.sign(input.as_bytes()).unwrap());
            let proof = format!("{input}.{signature}");
            let jkt = key.public_jwk().thumbprint().as_str().to_owned();
            let validator = ProofValidator::builder().build();
            let got = block_on(validator.validate(&proof, &context(&jkt), NOW));
            // The unedited proof is valid: the accepted branch is reached by construction.
            prop_assert!(
                !untouched || got.is_ok(),
                "unedited proof refused: {:?}",
                got
            );
            let Ok(verified) = got else {
                return Ok(false);
            };
            let typ = header
                .get("typ")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase);
            let typ = typ.unwrap_or_default();
            prop_assert!(
                typ == "dpop+jwt" || typ == "application/dpop+jwt",
                "typ {typ}"
            );
            prop_assert_eq!(header.get("alg"), Some(&json!("ES256")));
            prop_assert_eq!(verified.alg(), Algorithm::ES256);
            prop_assert_eq!(verified.jkt().as_str(), jkt.as_str());
            prop_assert!(!header.contains_key("crit"));
            prop_assert_eq!(claims.get("jti"), Some(&json!(verified.jti())));
            prop_assert!(!verified.jti().is_empty());
            prop_assert_eq!(claims.get("htm"), Some(&json!(METHOD)));
            let htu = claims
                .get("htu")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let htu = NormalizedUri::parse(htu);
            prop_assert_eq!(htu.as_ref(), Ok(request_uri()));
            prop_assert!(
                verified.iat().abs_diff(NOW) <= 300,
                "iat {}",
                verified.iat()
            );
            prop_assert_eq!(claims.get("ath"), Some(&json!(access_token_hash(TOKEN))));
            prop_assert!(matches!(claims.get("nonce"), None | Some(Value::String(_))));
            Ok(true)
        },
    );
}

#[test]
fn unmodified_valid_proofs_are_accepted() {
    // The baseline of the mutation property: without a change each proof passes.
    for (alg, proof, jkt) in valid_proofs() {
        let validator = ProofValidator::builder().build();
        let got = block_on(validator.validate(proof, &context(jkt), NOW));
        assert!(got.is_ok(), "{alg}: {got:?}");
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Regression: the `typ` check once sliced `typ[..12]` by bytes and panicked when
    /// byte 12 fell inside a multi-byte character, before any signature check. Any
    /// Unicode `typ` now gets an answer, and only the DPoP spellings are accepted.
    #[test]
    fn validator_never_panics_on_any_typ(
        typ in prop_oneof![
            any::<String>(),
            // Near the accepted spellings, with multi-byte characters around byte 12.
            "(app|APP)lication[/é€😀]?(/|é|€)?(dpop|DPoP|DPOP)[+＋](jwt|JWT)",
            "[a-z]{11}[é€😀][ -~]{0,12}",
        ],
    ) {
        let signing = key(Algorithm::ES256);
        let header = json!({
            "typ": typ,
            "alg": "ES256",
            "jwk": signing.public_jwk().public_members(),
        });
        let claims = json!({
            "jti": "a-jti",
            "htm": METHOD,
            "htu": URI,
            "iat": NOW,
            "ath": access_token_hash(TOKEN),
        });
        let input = format!(
            "{}.{}",
            base64url_encode(&serde_json::to_vec(&header).unwrap()),
            base64url_encode(&serde_json::to_vec(&claims).unwrap())
        );
        let signature = base64url_encode(&signing.sign(input.as_bytes()).unwrap());
        let proof = format!("{input}.{signature}");
        let jkt = signing.public_jwk().thumbprint().as_str().to_owned();
        let validator = ProofValidator::builder().build();
        let got = block_on(validator.validate(&proof, &context(&jkt), NOW));
        let lower = typ.to_ascii_lowercase();
        let dpop = lower == "dpop+jwt" || lower == "application/dpop+jwt";
        prop_assert_eq!(got.is_ok(), dpop, "typ {:?}: {:?}", typ, got);
    }
}
