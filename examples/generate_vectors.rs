//! Generates `test-vectors/generated.json`: a `resource-vectors/1` suite (the format of
//! `test-vectors/README.md`) with vectors for every check a DPoP resource server makes — JWS
//! structure, algorithms, the `jwk` header, `typ`, the proof claims, `htm`, `htu`, `iat`,
//! nonces, `ath`, the `cnf.jkt` binding, replay, the access token and the `Authorization`
//! scheme — each citing the RFC section it exercises.
//!
//! Regenerate with `cargo run --example generate_vectors` (or pass another output path as
//! the first argument), then run `cargo run -- vectors test-vectors/`.
//!
//! Every vector spells out its whole configuration, so other implementations can run the
//! file as it is. Keys are fixed (the PKCS#8 constants below), the clock is fixed (`NOW`),
//! and ids, claims and order are stable; ECDSA and RSA-PSS signatures are randomized, so the
//! signature bytes change on every run. Proofs and tokens are assembled here by hand, not
//! with the library's `ProofSigner`, so a bug shared by signer and validator cannot hide.

// A generator: any failure is a bug in this file, and panicking says where.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use mcp_warden::dpop::access_token_hash;
use mcp_warden::jose::{Algorithm, SigningKey, base64url_decode, base64url_encode};
use serde::Serialize;
use serde_json::{Value, json};

/// The validators' clock in every vector.
const NOW: u64 = 1_764_288_000;
const RESOURCE: &str = "https://mcp.example.com/mcp";
const ISSUER: &str = "https://as.example.com";
const NONCE: &str = "n-0vE5xQ4zc9Ff0SxaMpRE7w";
const DEFAULT_OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/test-vectors/generated.json");

// Fixed keys, PKCS#8 in base64url (generated once with `SigningKey::generate(..).to_pkcs8()`).
// AS_ES256 and AS_RSA sign access tokens (kids "as-1", "as-rsa"); CLIENT_* sign proofs
// (CLIENT_RSA serves both PS256 and RS256); ATTACKER_ES256 is nobody the server trusts;
// ZERO_X_ES256 is a P-256 key whose x coordinate starts with a zero byte. RSA1024_N/D are
// the modulus and private exponent of a 1024-bit key (made with Python's `cryptography`),
// signed with by hand because aws-lc-rs refuses keys under 2048 bits.
const AS_ES256: &str = "\
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpY5V24b5vIM98rJ_mLa9Owik_H_-T2NFq3hiYrT5ad2h\
    RANCAARYLhw64i_KcpZnoXpeA_ZzJ0z2WD7DqF2_uFkk36XXBFKtv7K-YygZXb9GP0z1NNoxX-vFtMJYQ3nNZq-HaZLw";
const AS_RSA: &str = "\
    MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC_iRBYx9XQLTM93g1T33A6gcKQBPa01koiwHYm-FJR\
    KJsQvRSiF27OIapYQiDcrDvCP_ajEe0S4QIn7aNvKvSXTVhDNqoVdJx93_MGt4_EFoafqjJAHBeqgJ2L9XtOEbbePBEJ\
    YcLqjp6AkFmZ0tH8tcFwoyq7ZSuCDC-KiHFvHppqxr0fKSS_9tv9bjO5DRSPmlrvZT_I8uCii-NfYam341jvM7hwuu5l\
    b2A57ta4cw8Ucb4DXOGbLJX0jiconX29cPYd-_hNUcPPvNhZ6LM-_S4UUt6EkwCGbNSOUasBavvPyAemdDMHYFwRKG8Z\
    TMYqhRviCzEu2KPJTl4pR26nAgMBAAECggEAWHPaXj2vMsvk-aHF4uFxiTtqmCsKqbm6k_Dwv493KG7JqcHAORj8PWqT\
    qd2kInTRxiPW6Tj6lHjgD4NxsgGS4hrAc43Xnz_ykzjsmUIFPSev9SVavnuavE1YNI3h60xH-LqhnYUNyFejwDipgF25\
    RuzDEBryPYd7v7uT6vSW-hrJzENUxw63RBn8_prMD2RxHCb-33f7FpLa7Uq-D5R9reG7IzU_o_CRkkRWbBZ9a070xm0T\
    WTejSgq78NAmuBsF3dR7su3YKcBfMXNrq2RUjV9X7vuCTOwFwsUmMZY0ofvwf85plx309c9AGpfPt3QZI6fw0xBZtIIv\
    5KdDp80UxQKBgQDlTaumXB1L7XG0tCSHVdOehSMJoE4LngRGukhMh-dw7fn7S38nmYOq7BjwobPalkFEQBpYMylSehW4\
    VbaIHz7V9mcjru7MQviA1oyjq3-QaPHmACWcgOm9NZQ_ocIvSEDacHpank2kQ67c3K0btUtU_wu_kqIEl0OzCw5fzejL\
    YwKBgQDV1bpWF2lCd01BO1vCrJBLuOrCOLCJ3ldM2oJUyn0vMH4VITRnfFCqDjdOn8fEiJKdowaISIgjuv_iWS6E5Lz_\
    SkXcKn_WrTqhNN_kO_wDhWf0SmZ8SzVtQ10tVu5PNX6-r2bWJfMNqRO0aymK15i0Rve4z-KY-dpwt47YWSOM7QKBgQCT\
    qj0L2O4U40gCMrADZ0XsI5i4rj8URCJE2dmNT0e_9cCyD6BHBBlCjOBStg94iKJnLVDJ08ickHpERw5RAq4YY6Fv3Uty\
    xv35GjFfhSWU_cApeZa-_lWHv2VExQqkIEeDZEOm76LYUa3eFU51NX7ZsZUDPY6Qnki-mDQdhiCQOQKBgQDVHEu3718d\
    Oc8JuwHJc7ffb6yv4lW3IZs54e_QV3oJpLeTkWMr2858nOxr9HvgmAgfCNHC0x6zFXRd_mmJUno1p60WLlj39-8dqJeW\
    XF3emH8xDVE0gLP_cAqV3DRnRrZJjn_b3zhrnd0gi0h8sj_jM3NBghWgRip4-cdoQPZYRQKBgBRYa4dw4SBgZcCnXUit\
    8Hs9X8m99Nzu5xNnqpXDd1TX8f4lJEqzOgOvZ5xzMkYHMzT9okqBB6EhZnKoGuicvQGncMt39Rf6Ohfp6Q2p9qaIjpNx\
    G368YA8W0FOGBQbVXlGlBI-Ru21TOh9aATStpcAXAoKfWriIgpp2eWg9HWfc";
const CLIENT_ES256: &str = "\
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQggvxB6eqxVnPYYn97wZZZdeeMXBfBPEeFAMPYyTvZH3mh\
    RANCAASg2PQf76hLe-p4Yk0S-q0iwXda6Snpbs6Gc4KR0JGUbhvLg6r7FSR5xNOClUR8O2uepwtB_hrIKMbGPSfzO6GB";
const CLIENT_ES384: &str = "\
    MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDBSnQ4o8b5Hsmdh2cJh-OIRfE_2YVQ1VkYZ4mjlwhVqC8Fg\
    7NoWYHIlu3z828nO5VqhZANiAAQmAVxEgWG-dz1QrQ93w5BacwWc8GMGjSzBCNli2TMiL_f0rsmqutdXafKSsqKVtdea\
    foQz1NYrnZpzYQdReeqY9A7nILBvkQKT4tcBua5XRpjjObdtlA9CDfyNGpDsb2Q";
const CLIENT_ES512: &str = "\
    MIHuAgEAMBAGByqGSM49AgEGBSuBBAAjBIHWMIHTAgEBBEIBXCkbqgH_ZuxrmKbbo-ve49dpg9NLuMQ6O-h4UDcqHuzA\
    6XR-ykX3PQhQ3ZocbPPk8WIpox0VQaLA9ARqCpaNaByhgYkDgYYABADJlOmeYreZ4HrAL3mAa_8Ij6qpHxzKlDUkxAFP\
    kmDidUHgreDtocg7gBqaicESMVX039SEj8iemuHAWXxdGRwk8wE-Qg6Qz-1fXaI_v60bpu7W8lGSj2qoVAymIHXF_6Uv\
    Ln7BULz5GRXSRCZsr-rhMR7EksTs4QIg6rP1NaLe5sk8Yw";
const CLIENT_ED25519: &str = "MC4CAQAwBQYDK2VwBCIEIDUGWxNiowTVN2YvuADIY3KrDbgDBLW023a4-zntqxNh";
const CLIENT_RSA: &str = "\
    MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDFzZn4eyv2c57KkWiG_7V1HCux2JFrJZd0Vx3y8BhI\
    8YWEtAfVnwPiW8v5b7yOCMjTNo6B82f1r2dBTu1pArwrfh85cG7m1UyKXvZX-WICZ30d3YvOfQnmAtnYWgH2eGNC8IT9\
    KBfZvIeA-fmvfBo8YrWfLrFz09e3iOZzPZDjW0wsoImO5bhPZtdeVExuvMIF-wov6C5FHsV27eRCBpz0qXHtftpuAA_M\
    QU29D6rPokUe950AO0U6c3_eTuXzRhD-6_Zu_K_o5ZjBJfzafO2lg3c_MleRyvNQpluayjO7xH9OhN4Op7f7fsEyRmWo\
    Cms_dfuebwJRMpAuhu2pBGfhAgMBAAECggEADo9LvhaS7dkk3xRE9WrtGGmybazbR1_E_jNLaQ5zOytMALCfwwGpb4gC\
    Q6IN5waOgb2KT9Zy2IrItu3wW8Jvx2PJOJkmEKeyspy61U7t_-9OLlyYZeKeT-f10Q8PBe1moQ7DOz8wQj62WrALyPcB\
    l2BMriLpvPTi9AeHrwPhHlsA5livoBmw__vuoWQuaecx4T2I6tJL_bZmLD3SLkDVKX9fsbgjXW4pUk9iDH1W10tlzvx6\
    ovOg2LZ2rwmgBYi_LOHSW3W7CdsG9MXRT_YrGHP7IoDT-PKPiqKaPY0zFpZDGcnZfjMDkZRLIwA7GRYpGTyE-ddQ3Vy5\
    dcZdps6s4QKBgQDlB3YKCMcVtEAtJlcR4Q0eUV37l5zIq9FRl6bk3MEjzVIhIGb1CS37zN2BozAypdnMgf8dtZxbatxf\
    GI6UKckJOWUXvnzFo9JwKogiw2MGe4B6qKR-2g--2AD_bLzqPDf_eVQxYW75SGlxgFDfy4Ssq-4wfrlSHs3QTXqoExEh\
    4wKBgQDdGMUjx9qmVomoPO86p7XOj7WQ6TY7kYiuvmAhJJSuhcYO8FbiIGNWoEEtimjYSe38GGQ-yoAlBEU5GqTGKB70\
    yv41BCFSThfJE5qOo6cdJ4Nu3vDYn5wv8zmxFJvmYOj12nJOADFvEOounkBX8NVxV18h0V2qAUY-r2Kya0QqawKBgGxu\
    n-AYT8li0Y-Ou2JnnoJgG5LmMQCA-FUc65MnQPnmV5__az9P3Ul9sNGTpVoVU4yTb2ltdl2Btlv_kGFtdxS667XWJdSc\
    vyEDwfhTcSq8hhOMjHTSYOoF8lL79GUhpZF6q_XFH3k-Y02tZpzOCj6GF_s1xB-xHdglFpFElbPpAoGBAMF6GZnUHCyP\
    cer9V8OWW2ylKZfj3QeHtXplMi4OmuWWPtl3zDAZc5SsrBy0EEelelKu7ZpdDoJWGFV-UU7ucRh6QrYWJSqnF_1n4EqO\
    P4EtwMBW66BFHCKBz6x8gmi5yWLLhFdpp9ivjp648UmDgOSsNp2bX0GT1-qnA9FqOL59AoGAR8An6LAqea35rtwHdOZV\
    ZfQT7Sfr_tlsNDgpkMYVBvWvCp_LLIPq4k7z5nydEXEXcHnz40Mde0k790-LZGRtugjzxnTul8Xukzu8m5rz41ot7n-b\
    bZ5yfsmyph6m3exKptb95tbU_PGQxEXeXfde4Oh05f2YoDlkiWVx4fNrdPM";
const ATTACKER_ES256: &str = "\
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg29RfPZpucAXJsOORaNmAKIG_LDijbG8SssxWjaroIlWh\
    RANCAAQabyNSc6uFuyEMVZcY5JNXGHeP-Bzo2Yq52eUttDSQR_Kv7QJe2308tRgwQWO6HFlAZXdVv1DHRxx09QIMuXa7";
const ZERO_X_ES256: &str = "\
    MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgu0J_dlTjb6BlXU2hgTpOoX8OMohCbAuPFzH95yj6Cp6h\
    RANCAAQAzdUgo_QV_PRTOp_4sP3cD19x63conhz9aQKPx7Z2ZsULRPrQEDS0kAIB-TYm6-lOTJZOZwXQaQTAkiPa0hGw";
const RSA1024_N: &str = "\
    1E2pXaQ3rOEiONjHybop92cVKg3JlSNew03SJT53QWNU5BpoJfs4Ibtc-HHliSLg0xZ5waPn12iscDMOW3jO3DrTxEQj\
    2OP86FaEPlMuoJwmt_ufP_9VVH57Zt-Ca3JgS7AUNxl5WH9PjwghrqGQLml66bDIdZM8SCaJDwGdbfE";
const RSA1024_D: &str = "\
    dFM9Op7RFrugqa82APUtK27i7NDzI_FmafLI8zk_1Kcdi4JgkHcO8YSc01Bs6XAf6elFu3EYhjHHUg7Xjg0qogbgcD9O\
    emGs8I0l4PaSbem4YyWpJHHDU8DvKKBzGmgbqPXPd7Xh85rEWrbvq-qP0llNdfFJGwOSb8QO0xWtynU";

// ---------------------------------------------------------------------------------------
// The file format (`test-vectors/README.md`); field order is the order written.

#[derive(Serialize)]
struct VectorFile {
    format: &'static str,
    description: String,
    vectors: Vec<Vector>,
}

#[derive(Serialize)]
struct Vector {
    id: String,
    description: String,
    now: u64,
    config: Config,
    requests: Vec<Request>,
}

#[derive(Serialize, Clone)]
struct Config {
    resource: String,
    dpop_algs: Vec<&'static str>,
    max_age_s: u64,
    max_future_s: u64,
    require_dpop: bool,
    nonce: Option<String>,
    access_tokens: AccessTokens,
}

#[derive(Serialize, Clone)]
struct AccessTokens {
    issuer: String,
    audience: String,
    algs: Vec<&'static str>,
    jwks: Value,
}

#[derive(Serialize)]
struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    expect: Expect,
}

#[derive(Serialize, Clone)]
struct Expect {
    accept: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Vec<u16>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Vec<&'static str>>,
}

/// The base configuration: DPoP only, ±300 s, no nonce, tokens from `ISSUER` signed by
/// either AS key. Vectors change single fields with `Config { field, ..cfg() }`.
fn cfg() -> Config {
    cfg_at(RESOURCE)
}

/// The base configuration for another resource URI (also the token audience).
fn cfg_at(resource: &str) -> Config {
    static JWKS: OnceLock<Value> = OnceLock::new();
    let jwks = JWKS.get_or_init(|| {
        let es = key(Algorithm::ES256, AS_ES256).with_kid("as-1").unwrap();
        let rs = key(Algorithm::RS256, AS_RSA).with_kid("as-rsa").unwrap();
        json!({"keys": [es.public_jwk().to_json(), rs.public_jwk().to_json()]})
    });
    Config {
        resource: resource.into(),
        dpop_algs: vec!["ES256", "ES384", "ES512", "EdDSA", "PS256", "RS256"],
        max_age_s: 300,
        max_future_s: 300,
        require_dpop: true,
        nonce: None,
        access_tokens: AccessTokens {
            issuer: ISSUER.into(),
            audience: resource.into(),
            algs: vec!["ES256", "RS256"],
            jwks: jwks.clone(),
        },
    }
}

fn accept() -> Expect {
    Expect {
        accept: true,
        status: None,
        error: None,
    }
}

/// A refusal with these statuses and `error=` codes (no codes: any, or none, is fine).
fn refuse(status: &[u16], error: &[&'static str]) -> Expect {
    let error = (!error.is_empty()).then(|| error.to_vec());
    Expect {
        accept: false,
        status: Some(status.to_vec()),
        error,
    }
}

fn bad_proof() -> Expect {
    refuse(&[401], &["invalid_dpop_proof"])
}

fn bad_token() -> Expect {
    refuse(&[401], &["invalid_token"])
}

fn bad_request() -> Expect {
    refuse(&[400], &["invalid_request"])
}

/// The DPoP scheme without a proof: RFC 9449 §7.1 names `invalid_dpop_proof` (401), RFC 6750
/// §3.1 a malformed request (400): either answer is reasonable.
fn proof_or_request() -> Expect {
    refuse(&[400, 401], &["invalid_request", "invalid_dpop_proof"])
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], expect: Expect) -> Request {
    let headers = headers
        .iter()
        .map(|(n, v)| ((*n).into(), (*v).into()))
        .collect();
    Request {
        method: method.into(),
        url: url.into(),
        headers,
        expect,
    }
}

fn post(headers: &[(&str, &str)], expect: Expect) -> Request {
    request("POST", RESOURCE, headers, expect)
}

/// `POST RESOURCE` with `Authorization: DPoP token` and `DPoP: proof`.
fn dpop(token: &str, proof: &str, expect: Expect) -> Request {
    dpop_at("POST", RESOURCE, token, proof, expect)
}

fn dpop_at(method: &str, url: &str, token: &str, proof: &str, expect: Expect) -> Request {
    let authorization = format!("DPoP {token}");
    request(
        method,
        url,
        &[("authorization", &authorization), ("dpop", proof)],
        expect,
    )
}

// ---------------------------------------------------------------------------------------
// JOSE by hand.

fn key(alg: Algorithm, pkcs8: &str) -> SigningKey {
    SigningKey::from_pkcs8(alg, &base64url_decode(pkcs8).unwrap()).unwrap()
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64url_encode(bytes.as_ref())
}

/// A compact JWS of the exact header and payload texts, signed by `sign`.
fn assemble(header: &str, payload: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = b64(sign(input.as_bytes()));
    format!("{input}.{signature}")
}

/// A compact JWS signed by `key`, whatever `alg` the header claims.
fn signed(key: &SigningKey, header: &str, payload: &str) -> String {
    assemble(header, payload, |input| key.sign(input).unwrap())
}

fn jws(key: &SigningKey, header: &Value, payload: &Value) -> String {
    signed(key, &header.to_string(), &payload.to_string())
}

/// An unsecured JWS (RFC 7518 §3.6): `alg` set to `name`, empty signature.
fn unsecured((mut header, claims): (Value, Value), name: &str) -> String {
    header["alg"] = json!(name);
    assemble(&header.to_string(), &claims.to_string(), |_| Vec::new())
}

fn hmac_sha256(secret: &[u8]) -> impl FnOnce(&[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    move |input| hmac::sign(&key, input).as_ref().to_vec()
}

/// `proof` with its signature segment replaced.
fn resign(proof: &str, signature: &[u8]) -> String {
    format!("{}.{}", &proof[..proof.rfind('.').unwrap()], b64(signature))
}

fn signature(proof: &str) -> Vec<u8> {
    base64url_decode(proof.rsplit('.').next().unwrap()).unwrap()
}

/// A JSON object text with one more member at the end (which may repeat a name).
fn append_member(object: &Value, member: &str) -> String {
    let text = object.to_string();
    format!("{},{member}}}", &text[..text.len() - 1])
}

fn del(object: &mut Value, name: &str) {
    object.as_object_mut().unwrap().remove(name);
}

/// The RFC 7638 thumbprint of any JWK, computed from its members as sent.
fn thumbprint(jwk: &Value) -> String {
    let required: &[&str] = match jwk["kty"].as_str() {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => &["k", "kty"],
    };
    let members: serde_json::Map<_, _> = required
        .iter()
        .map(|m| ((*m).to_owned(), jwk[*m].clone()))
        .collect();
    let canonical = Value::Object(members).to_string();
    b64(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

fn public_jwk(key: &SigningKey) -> Value {
    Value::Object(key.public_jwk().public_members())
}

fn jkt(key: &SigningKey) -> String {
    thumbprint(&public_jwk(key))
}

/// ECDSA r‖s (RFC 7518 §3.4) re-encoded as the DER `ECDSA-Sig-Value` of RFC 3279 §2.2.3.
fn der_signature(signature: &[u8]) -> Vec<u8> {
    let integer = |x: &[u8]| {
        let x = &x[x.iter().position(|b| *b != 0).unwrap_or(x.len() - 1)..];
        let pad = usize::from(x[0] & 0x80 != 0);
        let mut out = vec![0x02, (x.len() + pad) as u8];
        out.extend(std::iter::repeat_n(0, pad).chain(x.iter().copied()));
        out
    };
    let (r, s) = signature.split_at(signature.len() / 2);
    let body = [integer(r), integer(s)].concat();
    [vec![0x30, body.len() as u8], body].concat()
}

/// (r, n − s): the other valid ECDSA P-256 signature of the same message.
fn malleate_p256(signature: &[u8]) -> Vec<u8> {
    const ORDER: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
    let order: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&ORDER[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let (r, s) = signature.split_at(32);
    let mut negated = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(order[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        negated[i] = d.rem_euclid(256) as u8;
    }
    [r, &negated[..]].concat()
}

/// The contents of consecutive DER TLVs (X.690 §8.1): just enough to read PKCS#8.
fn der_items(mut der: &[u8]) -> Vec<&[u8]> {
    let mut items = Vec::new();
    while der.len() >= 2 {
        let (len, head) = match der[1] {
            short if short < 0x80 => (usize::from(short), 2),
            long => {
                let n = usize::from(long & 0x7f);
                (
                    der[2..2 + n]
                        .iter()
                        .fold(0, |acc, b| acc << 8 | usize::from(*b)),
                    2 + n,
                )
            }
        };
        items.push(&der[head..head + len]);
        der = &der[head + len..];
    }
    items
}

/// The fields of the private key in a PKCS#8 `PrivateKeyInfo` (RFC 5208 §5): an
/// `ECPrivateKey` (RFC 5915 §3) or an `RSAPrivateKey` (RFC 8017 §A.1.2), leading zeros cut.
fn private_fields(key: &SigningKey) -> Vec<Vec<u8>> {
    let pkcs8 = key.to_pkcs8().unwrap();
    let info = der_items(&pkcs8)[0];
    let private_key = der_items(der_items(info)[2])[0];
    let strip = |x: &[u8]| x[x.iter().position(|b| *b != 0).unwrap_or(0)..].to_vec();
    der_items(private_key).into_iter().map(strip).collect()
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 8017 §8.2.1, §9.2), for the 1024-bit key only.
fn rsa_pkcs1_sha256(n: &[u8], d: &[u8], message: &[u8]) -> Vec<u8> {
    const DIGEST_INFO: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    let hash = digest::digest(&digest::SHA256, message);
    let t = [&DIGEST_INFO[..], hash.as_ref()].concat();
    let mut em = vec![0xff; n.len()];
    let start = n.len() - t.len();
    (em[0], em[1], em[start - 1]) = (0, 1, 0);
    em[start..].copy_from_slice(&t);
    mod_pow(&em, d, n)
}

/// `base^exp mod m` for an odd `m`, big-endian, by Montgomery multiplication on u32 limbs.
fn mod_pow(base: &[u8], exp: &[u8], m: &[u8]) -> Vec<u8> {
    let k = m.len().div_ceil(4);
    let limbs = |be: &[u8]| {
        let mut out = vec![0u32; k];
        for (i, b) in be.iter().rev().enumerate() {
            out[i / 4] |= u32::from(*b) << (8 * (i % 4));
        }
        out
    };
    let n = limbs(m);
    // -n⁻¹ mod 2³²: each Newton step doubles the number of correct low bits.
    let inverse = (0..5).fold(1u32, |x, _| {
        x.wrapping_mul(2u32.wrapping_sub(n[0].wrapping_mul(x)))
    });
    let n0 = inverse.wrapping_neg();
    let mul = |a: &[u32], b: &[u32]| {
        let mut t = vec![0u32; k + 2];
        for &ai in a {
            let mut carry = 0u64;
            for j in 0..k {
                let s = u64::from(t[j]) + u64::from(ai) * u64::from(b[j]) + carry;
                (t[j], carry) = (s as u32, s >> 32);
            }
            let s = u64::from(t[k]) + carry;
            (t[k], t[k + 1]) = (s as u32, (s >> 32) as u32);
            let q = t[0].wrapping_mul(n0);
            let mut carry = (u64::from(t[0]) + u64::from(q) * u64::from(n[0])) >> 32;
            for j in 1..k {
                let s = u64::from(t[j]) + u64::from(q) * u64::from(n[j]) + carry;
                (t[j - 1], carry) = (s as u32, s >> 32);
            }
            let s = u64::from(t[k]) + carry;
            (t[k - 1], t[k], t[k + 1]) = (s as u32, t[k + 1] + (s >> 32) as u32, 0);
        }
        if t[k] != 0 || !t[..k].iter().rev().lt(n.iter().rev()) {
            sub(&mut t[..k], &n);
        }
        t.truncate(k);
        t
    };
    // R² mod n, R = 2^(32k), by doubling 1 modulo n.
    let mut r2 = limbs(&[1]);
    for _ in 0..64 * k {
        let carry = r2.iter_mut().fold(0, |carry, x| {
            let out = *x >> 31;
            *x = *x << 1 | carry;
            out
        });
        if carry != 0 || !r2.iter().rev().lt(n.iter().rev()) {
            sub(&mut r2, &n);
        }
    }
    let x = mul(&limbs(base), &r2);
    let mut acc = mul(&limbs(&[1]), &r2);
    for byte in exp {
        for bit in (0..8).rev() {
            acc = mul(&acc, &acc);
            if byte >> bit & 1 == 1 {
                acc = mul(&acc, &x);
            }
        }
    }
    let out = mul(&acc, &limbs(&[1]));
    let bytes: Vec<u8> = out.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
    bytes[4 * k - m.len()..].to_vec()
}

/// `a -= b` modulo 2^(32·len).
fn sub(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0i64;
    for (x, y) in a.iter_mut().zip(b) {
        let d = i64::from(*x) - i64::from(*y) - borrow;
        (*x, borrow) = (d as u32, i64::from(d < 0));
    }
}

// ---------------------------------------------------------------------------------------
// Keys, tokens and proofs.

struct Ctx {
    as_es256: SigningKey,
    as_rs256: SigningKey,
    es256: SigningKey,
    es384: SigningKey,
    es512: SigningKey,
    eddsa: SigningKey,
    ps256: SigningKey,
    rs256: SigningKey,
    attacker: SigningKey,
    zero_x: SigningKey,
    /// The vector being built and a counter, for readable unique `jti`s.
    id: RefCell<String>,
    seq: Cell<u32>,
}

impl Ctx {
    fn load() -> Self {
        Ctx {
            as_es256: key(Algorithm::ES256, AS_ES256).with_kid("as-1").unwrap(),
            as_rs256: key(Algorithm::RS256, AS_RSA).with_kid("as-rsa").unwrap(),
            es256: key(Algorithm::ES256, CLIENT_ES256),
            es384: key(Algorithm::ES384, CLIENT_ES384),
            es512: key(Algorithm::ES512, CLIENT_ES512),
            eddsa: key(Algorithm::EdDSA, CLIENT_ED25519),
            ps256: key(Algorithm::PS256, CLIENT_RSA),
            rs256: key(Algorithm::RS256, CLIENT_RSA),
            attacker: key(Algorithm::ES256, ATTACKER_ES256),
            zero_x: key(Algorithm::ES256, ZERO_X_ES256),
            id: RefCell::default(),
            seq: Cell::new(0),
        }
    }

    fn jti(&self) -> String {
        self.seq.set(self.seq.get() + 1);
        format!("{}-{}", self.id.borrow(), self.seq.get())
    }

    /// An RFC 9068 access token signed by `key` (header kid "as-1"), bound to the ES256
    /// client key, after `edit` changed its header and claims.
    fn token_by(&self, key: &SigningKey, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        let mut header = json!({"typ": "at+jwt", "alg": key.alg().name(), "kid": "as-1"});
        let mut claims = json!({
            "iss": ISSUER, "aud": RESOURCE, "sub": "agent-7", "client_id": "mcp-agent",
            "scope": "mcp:tools mcp:resources", "iat": NOW - 60, "exp": NOW + 600,
            "jti": format!("at-{}", self.jti()), "cnf": {"jkt": jkt(&self.es256)},
        });
        edit(&mut header, &mut claims);
        jws(key, &header, &claims)
    }

    fn token_with(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
        self.token_by(&self.as_es256, edit)
    }

    fn token(&self) -> String {
        self.token_with(|_, _| {})
    }

    /// A token bound to the key with this thumbprint.
    fn token_for(&self, jkt: &str) -> String {
        self.token_with(|_, c| c["cnf"]["jkt"] = json!(jkt))
    }

    /// The header and claims of a valid proof by `key` for `POST RESOURCE` with `token`.
    fn parts(&self, key: &SigningKey, token: &str) -> (Value, Value) {
        let header = json!({"typ": "dpop+jwt", "alg": key.alg().name(), "jwk": public_jwk(key)});
        let claims = json!({
            "jti": self.jti(), "htm": "POST", "htu": RESOURCE, "iat": NOW,
            "ath": access_token_hash(token),
        });
        (header, claims)
    }

    fn proof_with(
        &self,
        key: &SigningKey,
        token: &str,
        edit: impl FnOnce(&mut Value, &mut Value),
    ) -> String {
        let (mut header, mut claims) = self.parts(key, token);
        edit(&mut header, &mut claims);
        jws(key, &header, &claims)
    }

    fn proof(&self, token: &str) -> String {
        self.proof_with(&self.es256, token, |_, _| {})
    }

    fn client(&self, alg: Algorithm) -> &SigningKey {
        match alg {
            Algorithm::ES384 => &self.es384,
            Algorithm::ES512 => &self.es512,
            Algorithm::EdDSA => &self.eddsa,
            Algorithm::PS256 => &self.ps256,
            Algorithm::RS256 => &self.rs256,
            _ => &self.es256,
        }
    }
}

struct Suite {
    k: Ctx,
    vectors: Vec<Vector>,
}

impl Suite {
    /// Adds a vector; `build` makes its requests (with `jti`s derived from `id`).
    fn add(
        &mut self,
        id: &str,
        config: Config,
        about: &str,
        build: impl FnOnce(&Ctx) -> Vec<Request>,
    ) {
        assert!(self.vectors.iter().all(|v| v.id != id), "duplicate id {id}");
        self.k.id.replace(id.into());
        self.k.seq.set(0);
        let requests = build(&self.k);
        let (id, description) = (id.into(), about.into());
        self.vectors.push(Vector {
            id,
            description,
            now: NOW,
            config,
            requests,
        });
    }

    /// One request: the ES256 client's token, with its proof after `edit`.
    fn proof_case(
        &mut self,
        id: &str,
        config: Config,
        expect: Expect,
        about: &str,
        edit: impl FnOnce(&Ctx, &mut Value, &mut Value),
    ) {
        self.add(id, config, about, |k| {
            let token = k.token();
            let proof = k.proof_with(&k.es256, &token, |h, c| edit(k, h, c));
            vec![dpop(&token, &proof, expect)]
        });
    }

    /// One request: the ES256 client's token, with the proof `build` makes for it.
    fn raw_case(
        &mut self,
        id: &str,
        expect: Expect,
        about: &str,
        build: impl FnOnce(&Ctx, &str) -> String,
    ) {
        self.add(id, cfg(), about, |k| {
            let token = k.token();
            vec![dpop(&token, &build(k, &token), expect)]
        });
    }

    /// One request: the token `build` makes, with a valid ES256 proof for it.
    fn token_case(
        &mut self,
        id: &str,
        config: Config,
        expect: Expect,
        about: &str,
        build: impl FnOnce(&Ctx) -> String,
    ) {
        self.add(id, config, about, |k| {
            let token = build(k);
            vec![dpop(&token, &k.proof(&token), expect)]
        });
    }
}

// ---------------------------------------------------------------------------------------
// The vectors, one function per id prefix. Hand-formatted as tables: id, configuration and
// expectation on the first line, the rule on the second, then how the request differs from
// the valid baseline (`edge-es256-accepted`).

#[rustfmt::skip]
fn jws_vectors(s: &mut Suite) {
    s.raw_case("jws-two-segments", bad_proof(),
        "RFC 9449 §4.3 step 2, RFC 7515 §7.1: a compact JWS has three segments; a valid proof without its signature segment is refused.",
        |k, t| { let p = k.proof(t); p[..p.rfind('.').unwrap()].to_owned() });
    s.raw_case("jws-four-segments", bad_proof(),
        "RFC 9449 §4.3 step 2, RFC 7515 §7.1: a valid proof with a fourth segment appended is not a compact JWS.",
        |k, t| { let p = k.proof(t); format!("{p}.{}", b64(signature(&p))) });
    s.raw_case("jws-five-segments-jwe", bad_proof(),
        "RFC 9449 §4.2, RFC 7515 §9: a proof is a JWS; a five-segment JWE (RFC 7516 §7.1) whose header says typ dpop+jwt is refused.",
        |_, _| {
            let header = json!({"alg": "RSA-OAEP", "enc": "A256GCM", "typ": "dpop+jwt"}).to_string();
            [b64(header), b64([7; 256]), b64([1; 12]), b64([9; 80]), b64([3; 16])].join(".")
        });
    s.raw_case("jws-padded-base64url", bad_proof(),
        "RFC 7515 §2: base64url segments carry no '=' padding. The payload segment is padded and the signature covers the padded text, so only a lenient decoder accepts it.",
        |k, t| {
            let (header, claims) = k.parts(&k.es256, t);
            let mut payload = claims.to_string();
            if payload.len() % 3 == 0 {
                payload.push(' '); // JSON whitespace, so that the encoding needs padding
            }
            let padding = "=".repeat(3 - payload.len() % 3);
            let input = format!("{}.{}{padding}", b64(header.to_string()), b64(&payload));
            format!("{input}.{}", b64(k.es256.sign(input.as_bytes()).unwrap()))
        });
    s.raw_case("jws-standard-base64-alphabet", bad_proof(),
        "RFC 7515 §2, RFC 4648 §5: '+' and '/' are not base64url; the (valid) signature is encoded in the standard alphabet.",
        |k, t| {
            let p = k.proof(t);
            let input = &p[..p.rfind('.').unwrap()];
            loop { // ECDSA is randomized: sign until the encoding shows the difference
                let standard = STANDARD_NO_PAD.encode(k.es256.sign(input.as_bytes()).unwrap());
                if standard.contains(['+', '/']) {
                    return format!("{input}.{standard}");
                }
            }
        });
    s.raw_case("jws-whitespace-inside", bad_proof(),
        "RFC 7515 §7.1, RFC 9449 §4.3 step 2: a compact JWS holds no whitespace; a space in the middle of the payload segment.",
        |k, t| { let mut p = k.proof(t); p.insert(p.find('.').unwrap() + 20, ' '); p });
    s.raw_case("jws-header-not-json", bad_proof(),
        "RFC 7515 §5.2 steps 2-3: the header segment must decode to a JSON object; here it is the text dpop+jwt.",
        |k, t| signed(&k.es256, "dpop+jwt", &k.parts(&k.es256, t).1.to_string()));
    s.raw_case("jws-header-array", bad_proof(),
        "RFC 7515 §4, §5.2 step 3: the JOSE header is a JSON object; here it is an array holding the right header object.",
        |k, t| { let (h, c) = k.parts(&k.es256, t); signed(&k.es256, &format!("[{h}]"), &c.to_string()) });
    s.raw_case("jws-payload-not-object", bad_proof(),
        "RFC 7519 §7.2 step 10, RFC 9449 §4.3 step 2: the claims set is a JSON object; here it is an array holding the right claims.",
        |k, t| { let (h, c) = k.parts(&k.es256, t); signed(&k.es256, &h.to_string(), &format!("[{c}]")) });
    s.raw_case("jws-duplicate-alg", bad_proof(),
        "RFC 7515 §4: a duplicate header name must be refused or the last one used. alg is ES256 then none, so both conforming parsers refuse; a first-wins parser would verify ES256.",
        |k, t| {
            let (h, c) = k.parts(&k.es256, t);
            signed(&k.es256, &append_member(&h, r#""alg":"none""#), &c.to_string())
        });
    s.raw_case("jws-duplicate-jwk", bad_proof(),
        "RFC 7515 §4: jwk twice, the signer's key first and an attacker key last. Refusing, or taking the last (whose signature fails), refuses; a first-wins parser would accept.",
        |k, t| {
            let (h, c) = k.parts(&k.es256, t);
            let attacker = format!(r#""jwk":{}"#, public_jwk(&k.attacker));
            signed(&k.es256, &append_member(&h, &attacker), &c.to_string())
        });
    s.raw_case("jws-duplicate-htu", bad_proof(),
        "RFC 7519 §4: a duplicate claim name must be refused or the last one used. htu is the request URI, then another host: both conforming parsers refuse.",
        |k, t| {
            let (h, c) = k.parts(&k.es256, t);
            signed(&k.es256, &h.to_string(), &append_member(&c, r#""htu":"https://evil.example.com/mcp""#))
        });
    s.proof_case("jws-crit-unknown-extension", cfg(), bad_proof(),
        "RFC 7515 §4.1.11: a crit header naming an extension the recipient does not understand makes the JWS invalid.",
        |_, h, _| (h["crit"], h["urn:example:binding"]) = (json!(["urn:example:binding"]), json!("agent-7")));
    s.proof_case("jws-b64-false", cfg(), bad_proof(),
        "RFC 7797 §3, §6: b64 false (listed in crit) changes the signing input; a verifier that does not implement RFC 7797 must refuse it.",
        |_, h, _| (h["b64"], h["crit"]) = (json!(false), json!(["b64"])));
    s.proof_case("jws-oversized", cfg(), bad_proof(),
        "RFC 9110 §5.4: a server refuses a field larger than it wishes to process (4xx). A 12 KiB proof is refused before decoding; no RFC fixes the cap (mcp-warden's is 8 KiB).",
        |_, _, c| c["pad"] = json!("x".repeat(9000)));
    s.proof_case("jws-nesting-depth-bomb", cfg(), bad_proof(),
        "RFC 8259 §9: parsers may limit nesting depth; a claim nested 200 arrays deep is refused (mcp-warden allows 16 levels).",
        |_, _, c| c["nested"] = (0..200).fold(json!(1), |inner, _| json!([inner])));
    s.raw_case("jws-empty-signature", bad_proof(),
        "RFC 9449 §4.3 step 6, RFC 7518 §3.4: an ES256 proof with an empty signature segment.",
        |k, t| resign(&k.proof(t), &[]));
    s.raw_case("jws-ecdsa-r-s-zero", bad_proof(),
        "RFC 7518 §3.4, RFC 8725 §3.3: r = s = 0 is never a valid ECDSA signature (CVE-2022-21449, 'psychic signatures').",
        |k, t| resign(&k.proof(t), &[0; 64]));
    s.raw_case("jws-ecdsa-der-signature", bad_proof(),
        "RFC 7518 §3.4: the JWS signature is the 64-octet r‖s; the same valid signature DER-encoded (RFC 3279 §2.2.3) is refused.",
        |k, t| { let p = k.proof(t); resign(&p, &der_signature(&signature(&p))) });
    s.raw_case("jws-signature-truncated", bad_proof(),
        "RFC 7518 §3.4, RFC 9449 §4.3 step 6: a valid signature with its last octet removed.",
        |k, t| { let p = k.proof(t); resign(&p, &signature(&p)[..63]) });
    s.raw_case("jws-signature-of-other-proof", bad_proof(),
        "RFC 9449 §4.3 step 6: a genuine signature by the same key, but over another proof (another jti).",
        |k, t| { let other = k.proof(t); resign(&k.proof(t), &signature(&other)) });
    s.raw_case("jws-signed-by-other-key", bad_proof(),
        "RFC 9449 §4.3 step 6: the jwk header holds the client's key but another key signed the proof.",
        |k, t| { let (h, c) = k.parts(&k.es256, t); jws(&k.attacker, &h, &c) });
}

#[rustfmt::skip]
fn alg_vectors(s: &mut Suite) {
    for (id, name) in [("alg-none", "none"), ("alg-none-capitalized", "None"),
                       ("alg-none-uppercase", "NONE"), ("alg-none-mixed-case", "nOnE")] {
        let description = format!("RFC 9449 §4.3 step 5, RFC 8725 §3.1: alg \"{name}\" with an empty signature (an unsecured JWS, RFC 7518 §3.6) is never accepted.");
        s.raw_case(id, bad_proof(), &description, |k, t| unsecured(k.parts(&k.es256, t), name));
    }
    s.add("alg-none-even-if-configured", Config { dpop_algs: vec!["ES256", "none"], ..cfg() },
        "RFC 9449 §4.3 step 5: alg none is refused even when the configuration lists it.",
        |k| { let t = k.token(); vec![dpop(&t, &unsecured(k.parts(&k.es256, &t), "none"), bad_proof())] });
    // The HMAC key itself in the header: whoever sees one proof can forge the next.
    let hs256_oct = |k: &Ctx| {
        let secret = b"a shared secret anyone can read!";
        let jwk = json!({"kty": "oct", "k": b64(secret)});
        let t = k.token_for(&thumbprint(&jwk));
        let (mut h, c) = k.parts(&k.es256, &t);
        (h["alg"], h["jwk"]) = (json!("HS256"), jwk);
        vec![dpop(&t, &assemble(&h.to_string(), &c.to_string(), hmac_sha256(secret)), bad_proof())]
    };
    s.add("alg-hs256-oct-jwk", cfg(),
        "RFC 9449 §4.3 step 5 (asymmetric, not a MAC), RFC 8725 §3.2: HS256 with the HMAC key itself as jwk; the token is bound to that key's RFC 7638 thumbprint.",
        hs256_oct);
    s.add("alg-hs256-even-if-configured", Config { dpop_algs: vec!["ES256", "HS256"], ..cfg() },
        "RFC 9449 §4.3 step 5: a MAC algorithm is refused for proofs even when the configuration lists it.",
        hs256_oct);
    s.raw_case("alg-hs256-public-key-as-secret", bad_proof(),
        "RFC 8725 §2.1, §3.1: algorithm confusion. alg HS256 with the client's EC jwk, the MAC keyed with that public JWK's JSON text.",
        |k, t| {
            let (mut h, c) = k.parts(&k.es256, t);
            h["alg"] = json!("HS256");
            let secret = public_jwk(&k.es256).to_string();
            assemble(&h.to_string(), &c.to_string(), hmac_sha256(secret.as_bytes()))
        });
    s.proof_case("alg-rs256-header-ec-key", cfg(), bad_proof(),
        "RFC 8725 §3.1, RFC 7518 §3.3: alg RS256 (allowed) with a P-256 jwk and an ES256 signature; an algorithm is pinned to one key type.",
        |_, h, _| h["alg"] = json!("RS256"));
    s.proof_case("alg-es384-header-p256-key", cfg(), bad_proof(),
        "RFC 7518 §3.4: ES384 means P-384 with SHA-384; here the jwk is P-256 and the signature ES256.",
        |_, h, _| h["alg"] = json!("ES384"));
    s.add("alg-es256-header-p384-key", cfg(),
        "RFC 7518 §3.4: ES256 means P-256; here the jwk is a P-384 key (the token is bound to it) and the signature ES384.",
        |k| {
            let t = k.token_for(&jkt(&k.es384));
            vec![dpop(&t, &k.proof_with(&k.es384, &t, |h, _| h["alg"] = json!("ES256")), bad_proof())]
        });
    s.add("alg-ps256-header-pkcs1-signature", cfg(),
        "RFC 7518 §3.5: alg PS256 with an RSASSA-PKCS1-v1_5 (RS256) signature by the jwk's key; the padding is part of the algorithm.",
        |k| {
            let t = k.token_for(&jkt(&k.rs256));
            vec![dpop(&t, &k.proof_with(&k.rs256, &t, |h, _| h["alg"] = json!("PS256")), bad_proof())]
        });
    s.proof_case("alg-not-allowed", Config { dpop_algs: vec!["EdDSA", "PS256"], ..cfg() }, bad_proof(),
        "RFC 9449 §4.3 step 5 (acceptable per local policy): a valid ES256 proof where only EdDSA and PS256 are allowed.",
        |_, _, _| {});
    s.proof_case("alg-missing", cfg(), bad_proof(),
        "RFC 7515 §4.1.1, RFC 9449 §4.2: the alg header is required.",
        |_, h, _| del(h, "alg"));
    s.proof_case("alg-lowercase", cfg(), bad_proof(),
        "RFC 7515 §4.1.1: alg values are case-sensitive; es256 is not ES256.",
        |_, h, _| h["alg"] = json!("es256"));
}

#[rustfmt::skip]
fn jwk_vectors(s: &mut Suite) {
    s.proof_case("jwk-missing", cfg(), bad_proof(),
        "RFC 9449 §4.2, §4.3 step 6: the proof carries its public key in the jwk header.",
        |_, h, _| del(h, "jwk"));
    s.proof_case("jwk-not-object", cfg(), bad_proof(),
        "RFC 7515 §4.1.3: jwk is a JSON object; here it is the key's JSON text as a string.",
        |_, h, _| h["jwk"] = json!(h["jwk"].to_string()));
    s.proof_case("jwk-private-ec-d", cfg(), bad_proof(),
        "RFC 9449 §4.3 step 7: the jwk must not contain a private key; it carries the key's own d (RFC 7518 §6.2.2.1).",
        |k, h, _| h["jwk"]["d"] = json!(b64(&private_fields(&k.es256)[1])));
    s.add("jwk-private-rsa-p-q", cfg(),
        "RFC 9449 §4.3 step 7: an RSA jwk carrying the key's primes p and q (RFC 7518 §6.3.2.2-3), with a valid PS256 signature.",
        |k| {
            let t = k.token_for(&jkt(&k.ps256));
            let f = private_fields(&k.ps256); // version, n, e, d, p, q, ...
            let p = k.proof_with(&k.ps256, &t, |h, _| (h["jwk"]["p"], h["jwk"]["q"]) = (json!(b64(&f[4])), json!(b64(&f[5]))));
            vec![dpop(&t, &p, bad_proof())]
        });
    s.add("jwk-kty-oct", cfg(),
        "RFC 9449 §4.3 step 7, RFC 7518 §6.4: a symmetric (kty oct) jwk with alg ES256; the token is bound to its thumbprint.",
        |k| {
            let jwk = json!({"kty": "oct", "k": b64(b"0123456789abcdef0123456789abcdef")});
            let t = k.token_for(&thumbprint(&jwk));
            vec![dpop(&t, &k.proof_with(&k.es256, &t, |h, _| h["jwk"] = jwk), bad_proof())]
        });
    s.add("jwk-point-not-on-curve", cfg(),
        "RFC 8725 §3.4 (invalid-curve attacks): the client's jwk with one bit of y flipped is not a P-256 point; the token is bound to that jwk.",
        |k| {
            let mut jwk = public_jwk(&k.es256);
            let mut y = base64url_decode(jwk["y"].as_str().unwrap()).unwrap();
            y[31] ^= 1;
            jwk["y"] = json!(b64(y));
            let t = k.token_for(&thumbprint(&jwk));
            vec![dpop(&t, &k.proof_with(&k.es256, &t, |h, _| h["jwk"] = jwk), bad_proof())]
        });
    s.add("jwk-short-x-coordinate", cfg(),
        "RFC 7518 §6.2.1.2: x must be the full 32 octets. This key's x starts with a zero octet, sent as 31 octets; the signature is valid and the token bound to the jwk as sent.",
        |k| {
            let mut jwk = public_jwk(&k.zero_x);
            let x = base64url_decode(jwk["x"].as_str().unwrap()).unwrap();
            assert_eq!(x[0], 0, "ZERO_X_ES256 must have a leading zero in x");
            jwk["x"] = json!(b64(&x[1..]));
            let t = k.token_for(&thumbprint(&jwk));
            vec![dpop(&t, &k.proof_with(&k.zero_x, &t, |h, _| h["jwk"] = jwk), bad_proof())]
        });
    s.proof_case("jwk-coordinates-as-numbers", cfg(), bad_proof(),
        "RFC 7518 §6.2.1.2-3: x and y are base64url strings; JSON numbers are refused.",
        |_, h, _| (h["jwk"]["x"], h["jwk"]["y"]) = (json!(12345), json!(67890)));
    s.add("jwk-rsa-1024-bit", cfg(),
        "RFC 7518 §3.3: RS256 keys must be 2048 bits or larger. A correctly signed RS256 proof by a 1024-bit key, with the token bound to it.",
        |k| {
            let (n, d) = (base64url_decode(RSA1024_N).unwrap(), base64url_decode(RSA1024_D).unwrap());
            let jwk = json!({"kty": "RSA", "n": RSA1024_N, "e": "AQAB"});
            let t = k.token_for(&thumbprint(&jwk));
            let (mut h, c) = k.parts(&k.rs256, &t);
            h["jwk"] = jwk;
            let p = assemble(&h.to_string(), &c.to_string(), |input| rsa_pkcs1_sha256(&n, &d, input));
            vec![dpop(&t, &p, bad_proof())]
        });
    s.proof_case("jwk-alg-other-curve", cfg(), bad_proof(),
        "RFC 7517 §4.4, RFC 7518 §3.4: the P-256 jwk declares alg ES384, which it cannot be used with.",
        |_, h, _| h["jwk"]["alg"] = json!("ES384"));
    s.add("jwk-alg-contradicts-header", cfg(),
        "RFC 7517 §4.4, RFC 8725 §3.1: the RSA jwk declares alg RS256 but the proof is PS256 (validly signed); a key is used with one algorithm.",
        |k| {
            let t = k.token_for(&jkt(&k.ps256));
            vec![dpop(&t, &k.proof_with(&k.ps256, &t, |h, _| h["jwk"]["alg"] = json!("RS256")), bad_proof())]
        });
    s.proof_case("jwk-use-enc", cfg(), bad_proof(),
        "RFC 7517 §4.2: a key marked use enc is for encryption, not for verifying signatures.",
        |_, h, _| h["jwk"]["use"] = json!("enc"));
    s.proof_case("jwk-key-ops-sign-only", cfg(), bad_proof(),
        "RFC 7517 §4.3: key_ops [\"sign\"] does not permit verify, the operation the server performs with this key.",
        |_, h, _| h["jwk"]["key_ops"] = json!(["sign"]));
    s.add("jwk-okp-x25519", cfg(),
        "RFC 8037 §3.1-3.2: EdDSA takes an Ed25519 or Ed448 key; an X25519 (key agreement) jwk holding the Ed25519 key's bytes is refused.",
        |k| {
            let mut jwk = public_jwk(&k.eddsa);
            jwk["crv"] = json!("X25519");
            let t = k.token_for(&thumbprint(&jwk));
            vec![dpop(&t, &k.proof_with(&k.eddsa, &t, |h, _| h["jwk"] = jwk), bad_proof())]
        });
    s.proof_case("jwk-optional-members-accepted", cfg(), accept(),
        "RFC 7517 §4.2-4.5, RFC 7638 §3.2: kid, use sig, key_ops [\"verify\"] and a matching alg are allowed and do not change the thumbprint.",
        |_, h, _| {
            let jwk = &mut h["jwk"];
            (jwk["kid"], jwk["use"]) = (json!("client-1"), json!("sig"));
            (jwk["key_ops"], jwk["alg"]) = (json!(["verify"]), json!("ES256"));
        });
}

#[rustfmt::skip]
fn typ_vectors(s: &mut Suite) {
    let table = [
        ("typ-jwt", json!("JWT"), bad_proof(), "RFC 9449 §4.3 step 4, RFC 8725 §3.11: typ JWT is not dpop+jwt."),
        ("typ-at-jwt", json!("at+jwt"), bad_proof(), "RFC 9449 §4.3 step 4, RFC 8725 §3.11: typ at+jwt (an access token) is not dpop+jwt."),
        ("typ-number", json!(1), bad_proof(), "RFC 7515 §4.1.9: typ is a string; a number is refused."),
        ("typ-application-prefix-accepted", json!("application/dpop+jwt"), accept(),
            "RFC 7515 §4.1.9: the application/ prefix may be included or omitted; application/dpop+jwt is dpop+jwt."),
        ("typ-uppercase-accepted", json!("DPOP+JWT"), accept(),
            "RFC 7515 §4.1.9, RFC 2045 §5.1: media types compare case-insensitively; DPOP+JWT is dpop+jwt."),
        ("typ-mixed-case-prefix-accepted", json!("Application/DPoP+JWT"), accept(),
            "RFC 7515 §4.1.9: Application/DPoP+JWT is dpop+jwt (case-insensitive, with the optional prefix)."),
    ];
    s.proof_case("typ-missing", cfg(), bad_proof(),
        "RFC 9449 §4.3 step 4, RFC 8725 §3.11: a proof must be explicitly typed dpop+jwt.",
        |_, h, _| del(h, "typ"));
    for (id, typ, expect, description) in table {
        s.proof_case(id, cfg(), expect, description, |_, h, _| h["typ"] = typ);
    }
}

#[rustfmt::skip]
fn claims_vectors(s: &mut Suite) {
    for claim in ["jti", "htm", "htu", "iat"] {
        let description = format!("RFC 9449 §4.2, §4.3 step 3: the required claim {claim} is missing.");
        s.proof_case(&format!("claims-missing-{claim}"), cfg(), bad_proof(), &description, |_, _, c| del(c, claim));
    }
    let table = [
        ("claims-jti-empty", "jti", json!(""), bad_proof(), "RFC 9449 §4.2: jti identifies the proof; an empty string is refused."),
        ("claims-jti-300-bytes", "jti", json!("j".repeat(300)), bad_proof(),
            "RFC 9449 §11.1: jti is stored for replay detection, so its size is bounded; 300 bytes exceeds mcp-warden's 256-byte cap."),
        ("claims-jti-256-bytes-accepted", "jti", json!("j".repeat(256)), accept(),
            "RFC 9449 §4.2: a 256-byte jti (mcp-warden's cap, far above the 96 bits of randomness asked for) is accepted."),
        ("claims-jti-number", "jti", json!(12345), bad_proof(), "RFC 7519 §4.1.7: jti is a string; a number is refused, not ignored."),
        ("claims-htm-array", "htm", json!(["POST"]), bad_proof(), "RFC 9449 §4.2: htm is a string; [\"POST\"] is refused."),
        ("claims-htu-object", "htu", json!({"href": RESOURCE}), bad_proof(), "RFC 9449 §4.2: htu is a string; an object holding the URI is refused."),
        ("claims-iat-string", "iat", json!(NOW.to_string()), bad_proof(),
            "RFC 7519 §2 (NumericDate), §4.1.6: iat is a JSON number; the string \"1764288000\" is refused."),
        ("claims-iat-negative", "iat", json!(-1), bad_proof(), "RFC 7519 §2: iat -1 is before any proof could have been made; refused."),
        ("claims-iat-fraction-accepted", "iat", json!(NOW as f64 + 0.5), accept(),
            "RFC 7519 §2: a NumericDate may have a fraction; iat now + 0.5 s is inside the window."),
    ];
    for (id, claim, value, expect, description) in table {
        s.proof_case(id, cfg(), expect, description, |_, _, c| c[claim] = value);
    }
    s.proof_case("claims-unknown-claims-accepted", cfg(), accept(),
        "RFC 9449 §4.2, RFC 7519 §4: claims the server does not use (sub, exp, a private nested claim) are ignored.",
        |_, _, c| (c["sub"], c["exp"], c["x-trace"]) = (json!("agent-7"), json!(NOW + 60), json!({"span": "4bf92f35", "sampled": true})));
}

#[rustfmt::skip]
fn htm_vectors(s: &mut Suite) {
    s.proof_case("htm-lowercase", cfg(), bad_proof(),
        "RFC 9449 §4.3 step 8, RFC 9110 §9.1: methods are case-sensitive; htm post does not match POST.",
        |_, _, c| c["htm"] = json!("post"));
    s.proof_case("htm-mismatch", cfg(), bad_proof(),
        "RFC 9449 §4.3 step 8: a proof for GET sent with POST.",
        |_, _, c| c["htm"] = json!("GET"));
    s.add("htm-get-accepted", cfg(),
        "RFC 9449 §4.3 step 8: htm GET on a GET request.",
        |k| {
            let t = k.token();
            vec![dpop_at("GET", RESOURCE, &t, &k.proof_with(&k.es256, &t, |_, c| c["htm"] = json!("GET")), accept())]
        });
}

#[rustfmt::skip]
fn htu_vectors(s: &mut Suite) {
    let table = [
        ("htu-path-mismatch", "https://mcp.example.com/other", bad_proof(), "RFC 9449 §4.3 step 9: htu names another path on the same server."),
        ("htu-host-mismatch", "https://evil.example.com/mcp", bad_proof(), "RFC 9449 §4.3 step 9: htu names another host."),
        ("htu-http-scheme", "http://mcp.example.com/mcp", bad_proof(), "RFC 9449 §4.3 step 9, RFC 3986 §6.2.3: http and https are different URIs."),
        ("htu-port-8443", "https://mcp.example.com:8443/mcp", bad_proof(), "RFC 9449 §4.3 step 9, RFC 3986 §6.2.3: port 8443 is not the default 443."),
        ("htu-trailing-slash", "https://mcp.example.com/mcp/", bad_proof(), "RFC 9449 §4.3 step 9: /mcp/ and /mcp are different paths (no RFC 3986 §6.2.2-6.2.3 normalization equates them)."),
        ("htu-path-case", "https://mcp.example.com/MCP", bad_proof(), "RFC 3986 §6.2.2.1: only scheme and host are case-insensitive; /MCP is not /mcp."),
        ("htu-userinfo", "https://agent@mcp.example.com/mcp", bad_proof(), "RFC 9110 §4.2.4: userinfo is not allowed in http(s) URIs; an htu carrying it is refused."),
        ("htu-relative", "/mcp", bad_proof(), "RFC 9449 §4.2: htu is the absolute target URI; a relative reference (RFC 3986 §4.2) is refused."),
        ("htu-fragment-accepted", "https://mcp.example.com/mcp#tools", accept(), "RFC 9449 §4.3 step 9: the fragment is ignored in the comparison."),
        ("htu-query-accepted", "https://mcp.example.com/mcp?session=7", accept(), "RFC 9449 §4.3 step 9: the query is ignored in the comparison, on the htu side too."),
        ("htu-default-port-accepted", "https://mcp.example.com:443/mcp", accept(), "RFC 3986 §6.2.3: :443 is the https default port."),
        ("htu-scheme-host-case-accepted", "HTTPS://MCP.Example.COM/mcp", accept(), "RFC 3986 §6.2.2.1: scheme and host are case-insensitive."),
        ("htu-dot-segments-accepted", "https://mcp.example.com/a/../mcp", accept(), "RFC 3986 §6.2.2.3: /a/../mcp normalizes to /mcp."),
        ("htu-stray-percent", "https://mcp.example.com/mcp%%66", bad_proof(), "RFC 3986 §2.1: a % must start an escape of two hex digits. Kept as text, /mcp%%66 normalizes unstably (decoding %66 to f makes a new escape %f6), so the htu is refused."),
    ];
    for (id, htu, expect, description) in table {
        s.proof_case(id, cfg(), expect, description, |_, _, c| c["htu"] = json!(htu));
    }
    s.add("htu-request-query-accepted", cfg(),
        "RFC 9449 §4.3 step 9: the request URI's query is ignored; htu has none.",
        |k| { let t = k.token(); vec![dpop_at("POST", &format!("{RESOURCE}?session=7"), &t, &k.proof(&t), accept())] });
    let tilde = "https://mcp.example.com/~agent/mcp";
    s.add("htu-percent-encoded-tilde-accepted", cfg_at(tilde),
        "RFC 3986 §6.2.2.2: %7E is the unreserved ~, so htu /%7Eagent/mcp matches a request to /~agent/mcp (the resource).",
        |k| {
            let t = k.token_with(|_, c| c["aud"] = json!(tilde));
            let p = k.proof_with(&k.es256, &t, |_, c| c["htu"] = json!("https://mcp.example.com/%7Eagent/mcp"));
            vec![dpop_at("POST", tilde, &t, &p, accept())]
        });
}

#[rustfmt::skip]
fn iat_vectors(s: &mut Suite) {
    let small = || Config { max_future_s: 5, ..cfg() };
    let table = [
        ("iat-too-old", json!(NOW - 301), cfg(), bad_proof(), "RFC 9449 §4.3 step 11, §11.1: iat 301 s ago is outside a 300 s window."),
        ("iat-oldest-accepted", json!(NOW - 300), cfg(), accept(), "RFC 9449 §4.3 step 11: iat exactly 300 s ago is inside (now - max_age_s <= iat)."),
        ("iat-future", json!(NOW + 301), cfg(), bad_proof(), "RFC 9449 §4.3 step 11: iat 301 s ahead is beyond a 300 s future tolerance."),
        ("iat-future-edge-accepted", json!(NOW + 300), cfg(), accept(), "RFC 9449 §4.3 step 11: iat exactly 300 s ahead is inside (iat <= now + max_future_s)."),
        ("iat-small-future-window", json!(NOW + 10), small(), bad_proof(), "RFC 9449 §4.3 step 11: with max_future_s 5, iat 10 s ahead is refused."),
        ("iat-small-future-window-edge-accepted", json!(NOW + 5), small(), accept(), "RFC 9449 §4.3 step 11: with max_future_s 5, iat 5 s ahead is accepted."),
        ("iat-fraction-too-old", json!(NOW as f64 - 300.5), cfg(), bad_proof(),
            "RFC 7519 §2: iat now - 300.5 s is half a second too old; a fraction must not be rounded up into the window."),
    ];
    for (id, iat, config, expect, description) in table {
        s.proof_case(id, config, expect, description, |_, _, c| c["iat"] = iat);
    }
}

#[rustfmt::skip]
fn nonce_vectors(s: &mut Suite) {
    let with_nonce = || Config { nonce: Some(NONCE.into()), ..cfg() };
    let use_nonce = || refuse(&[401], &["use_dpop_nonce"]);
    s.proof_case("nonce-missing", with_nonce(), use_nonce(),
        "RFC 9449 §9: the server requires a nonce and the proof has none: 401 use_dpop_nonce.",
        |_, _, _| {});
    s.proof_case("nonce-wrong", with_nonce(), use_nonce(),
        "RFC 9449 §4.3 step 10, §9: a nonce other than the one the server requires: 401 use_dpop_nonce.",
        |_, _, c| c["nonce"] = json!("n-expired-0000000000000"));
    s.proof_case("nonce-correct-accepted", with_nonce(), accept(),
        "RFC 9449 §4.3 step 10: the proof carries the nonce the server requires.",
        |_, _, c| c["nonce"] = json!(NONCE));
    s.proof_case("nonce-number", with_nonce(), refuse(&[401], &["invalid_dpop_proof", "use_dpop_nonce"]),
        "RFC 9449 §4.2: nonce is a string; a number is a malformed proof or a wrong nonce (either code is reasonable).",
        |_, _, c| c["nonce"] = json!(42));
    s.proof_case("nonce-unrequested-accepted", cfg(), accept(),
        "RFC 9449 §4.3 step 10 applies only when the server provided a nonce; an unrequested nonce claim is ignored.",
        |_, _, c| c["nonce"] = json!(NONCE));
}

#[rustfmt::skip]
fn ath_vectors(s: &mut Suite) {
    s.proof_case("ath-missing", cfg(), bad_proof(),
        "RFC 9449 §4.2, §4.3 step 12: a proof sent with an access token must carry ath.",
        |_, _, c| del(c, "ath"));
    s.proof_case("ath-wrong", cfg(), bad_proof(),
        "RFC 9449 §4.3 step 12: ath is the hash of another string.",
        |_, _, c| c["ath"] = json!(access_token_hash("not the access token")));
    s.add("ath-other-token", cfg(),
        "RFC 9449 §4.3 step 12: ath is the hash of another valid token bound to the same key, not of the presented one.",
        |k| { let (t, other) = (k.token(), k.token()); vec![dpop(&t, &k.proof(&other), bad_proof())] });
    s.proof_case("ath-padded", cfg(), bad_proof(),
        "RFC 9449 §4.2, RFC 7515 §2: ath is unpadded base64url; the right hash with '=' appended is refused.",
        |_, _, c| c["ath"] = json!(format!("{}=", c["ath"].as_str().unwrap())));
    s.add("ath-hex", cfg(),
        "RFC 9449 §4.2: ath is base64url(SHA-256); the right hash in hex is refused.",
        |k| {
            let t = k.token();
            let hash = digest::digest(&digest::SHA256, t.as_bytes());
            let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            vec![dpop(&t, &k.proof_with(&k.es256, &t, |_, c| c["ath"] = json!(hex)), bad_proof())]
        });
    s.proof_case("ath-number", cfg(), bad_proof(),
        "RFC 9449 §4.2: ath is a string; a number is refused.",
        |_, _, c| c["ath"] = json!(1));
}

#[rustfmt::skip]
fn jkt_vectors(s: &mut Suite) {
    s.add("jkt-proof-by-other-key", cfg(),
        "RFC 9449 §4.3 step 12, §6.1: a well-formed proof by another key than the token's cnf.jkt (a stolen token).",
        |k| { let t = k.token(); vec![dpop(&t, &k.proof_with(&k.attacker, &t, |_, _| {}), bad_proof())] });
    s.token_case("jkt-token-unbound", cfg(), bad_token(),
        "RFC 9449 §4.3 step 12, §7.1: the DPoP scheme with a token that has no cnf (not DPoP-bound) is refused.",
        |k| k.token_with(|_, c| del(c, "cnf")));
    s.token_case("jkt-token-bound-to-certificate", cfg(), bad_token(),
        "RFC 9449 §6.1, RFC 7800 §3.1: cnf holds only x5t#S256 (RFC 8705 §3.1), a binding this resource cannot check; refused, not treated as unbound.",
        |k| k.token_with(|_, c| c["cnf"] = json!({"x5t#S256": b64(digest::digest(&digest::SHA256, b"client certificate"))})));
}

#[rustfmt::skip]
fn replay_vectors(s: &mut Suite) {
    s.add("replay-same-proof-twice", cfg(),
        "RFC 9449 §11.1: the same proof presented twice; the second is a replay.",
        |k| { let t = k.token(); let p = k.proof(&t); vec![dpop(&t, &p, accept()), dpop(&t, &p, bad_proof())] });
    s.add("replay-same-jti-new-proof", cfg(),
        "RFC 9449 §11.1: a second, differently signed proof by the same key reusing the jti (iat one second earlier) is a replay.",
        |k| {
            let t = k.token();
            let first = k.proof_with(&k.es256, &t, |_, c| c["jti"] = json!("reused-jti"));
            let second = k.proof_with(&k.es256, &t, |_, c| (c["jti"], c["iat"]) = (json!("reused-jti"), json!(NOW - 1)));
            vec![dpop(&t, &first, accept()), dpop(&t, &second, bad_proof())]
        });
    s.add("replay-same-jti-other-key", cfg(),
        "RFC 9449 §11.1: replay is tracked per key, so two clients' proofs with the same jti (each with its own bound token) are both accepted.",
        |k| {
            let (t1, t2) = (k.token(), k.token_for(&jkt(&k.eddsa)));
            let p1 = k.proof_with(&k.es256, &t1, |_, c| c["jti"] = json!("shared-jti"));
            let p2 = k.proof_with(&k.eddsa, &t2, |_, c| c["jti"] = json!("shared-jti"));
            vec![dpop(&t1, &p1, accept()), dpop(&t2, &p2, accept())]
        });
    s.add("replay-malleated-signature", cfg(),
        "RFC 9449 §11.1: ECDSA signatures are malleable ((r, s) and (r, n - s) both verify), so replay detection must key on jti, not on the proof bytes.",
        |k| {
            let (t, p) = { let t = k.token(); let p = k.proof(&t); (t, p) };
            vec![dpop(&t, &p, accept()), dpop(&t, &resign(&p, &malleate_p256(&signature(&p))), bad_proof())]
        });
    s.add("replay-forged-proof-does-not-burn-jti", cfg(),
        "RFC 9449 §11.1: only proofs that pass every check are remembered. A forgery (bad signature) with the jti the client will use is refused and does not block the genuine proof.",
        |k| {
            let t = k.token();
            let (h, mut c) = k.parts(&k.es256, &t);
            c["jti"] = json!("future-jti");
            vec![dpop(&t, &jws(&k.attacker, &h, &c), bad_proof()), dpop(&t, &jws(&k.es256, &h, &c), accept())]
        });
}

#[rustfmt::skip]
fn token_vectors(s: &mut Suite) {
    type Edit = fn(&mut Value);
    let table: [(&str, Edit, Expect, &str); 13] = [
        ("token-expired", |c| c["exp"] = json!(NOW - 1), bad_token(), "RFC 7519 §4.1.4: exp one second ago."),
        ("token-exp-equals-now", |c| c["exp"] = json!(NOW), bad_token(), "RFC 7519 §4.1.4: a token must not be accepted on or after exp; exp = now is expired."),
        ("token-exp-missing", |c| del(c, "exp"), bad_token(), "RFC 9068 §2.2: exp is required in a JWT access token."),
        ("token-nbf-future", |c| c["nbf"] = json!(NOW + 60), bad_token(), "RFC 7519 §4.1.5: nbf 60 s in the future."),
        ("token-nbf-now-accepted", |c| c["nbf"] = json!(NOW), accept(), "RFC 7519 §4.1.5: at nbf the token is valid."),
        ("token-iss-wrong", |c| c["iss"] = json!("https://evil.example.com"), bad_token(), "RFC 9068 §4, RFC 8725 §3.8: iss is not the trusted issuer."),
        ("token-iss-missing", |c| del(c, "iss"), bad_token(), "RFC 9068 §2.2, §4: iss is required."),
        ("token-iss-array", |c| c["iss"] = json!([ISSUER]), bad_token(), "RFC 7519 §4.1.1: iss is a string; an array holding the issuer is refused."),
        ("token-aud-wrong", |c| c["aud"] = json!("https://other.example.com/mcp"), bad_token(), "RFC 8707 §2, RFC 9068 §4, RFC 8725 §3.9: the audience is another resource."),
        ("token-aud-missing", |c| del(c, "aud"), bad_token(), "RFC 9068 §2.2, §4: aud is required."),
        ("token-aud-number", |c| c["aud"] = json!(443), bad_token(), "RFC 7519 §4.1.3: aud is a string or an array of strings."),
        ("token-aud-array-accepted", |c| c["aud"] = json!(["https://other.example.com/mcp", RESOURCE]), accept(),
            "RFC 7519 §4.1.3: an aud array that includes this resource."),
        ("token-unknown-claims-accepted", |c| (c["acr"], c["auth_time"]) = (json!("urn:example:mfa"), json!(NOW - 120)), accept(),
            "RFC 7519 §4: claims the resource does not use (acr, auth_time) are ignored."),
    ];
    for (id, edit, expect, description) in table {
        s.token_case(id, cfg(), expect, description, |k| k.token_with(|_, c| edit(c)));
    }
    s.token_case("token-signed-by-unknown-key", cfg(), bad_token(),
        "RFC 9068 §4, RFC 7515 §5.2: signed by a key the issuer never published, claiming kid as-1.",
        |k| k.token_by(&k.attacker, |_, _| {}));
    s.token_case("token-unknown-kid", cfg(), bad_token(),
        "RFC 7515 §4.1.4: kid as-9 names no key of the issuer, so there is none to verify with (the real as-1 key signed: a verifier ignoring kid would accept).",
        |k| k.token_with(|h, _| h["kid"] = json!("as-9")));
    s.token_case("token-kid-absent-accepted", cfg(), accept(),
        "RFC 7515 §4.1.4: kid is optional; without it the token is checked against the issuer's keys for its alg.",
        |k| k.token_with(|h, _| del(h, "kid")));
    s.token_case("token-payload-tampered", cfg(), bad_token(),
        "RFC 7515 §5.2: a valid token whose payload was re-encoded with a wider scope; the signature no longer matches.",
        |k| {
            let token = k.token();
            let segments: Vec<&str> = token.split('.').collect();
            let mut claims: Value = serde_json::from_slice(&base64url_decode(segments[1]).unwrap()).unwrap();
            claims["scope"] = json!("mcp:tools mcp:resources mcp:admin");
            format!("{}.{}.{}", segments[0], b64(claims.to_string()), segments[2])
        });
    s.token_case("token-typ-dpop-jwt", cfg(), bad_token(),
        "RFC 8725 §3.11, RFC 9068 §4: a JWT typed dpop+jwt is a proof, never an access token.",
        |k| k.token_with(|h, _| h["typ"] = json!("dpop+jwt")));
    s.token_case("token-alg-none", cfg(), bad_token(),
        "RFC 9068 §4, RFC 8725 §3.1: an unsecured token (alg none, empty signature).",
        |k| { let t = k.token_with(|h, _| h["alg"] = json!("none")); format!("{}.", &t[..t.rfind('.').unwrap()]) });
    s.token_case("token-hs256-with-issuer-public-key", cfg(), bad_token(),
        "RFC 8725 §2.1, §3.1: algorithm confusion; alg HS256 keyed with the text of the issuer's published ES256 JWK.",
        |k| {
            let t = k.token();
            let claims = String::from_utf8(base64url_decode(t.split('.').nth(1).unwrap()).unwrap()).unwrap();
            let secret = k.as_es256.public_jwk().to_json().to_string();
            let header = json!({"typ": "at+jwt", "alg": "HS256", "kid": "as-1"}).to_string();
            assemble(&header, &claims, hmac_sha256(secret.as_bytes()))
        });
    let es256_only = Config { access_tokens: AccessTokens { algs: vec!["ES256"], ..cfg().access_tokens }, ..cfg() };
    s.token_case("token-alg-not-allowed", es256_only, bad_token(),
        "RFC 9068 §4, RFC 8725 §3.1: an RS256 token by the issuer's RSA key where access_tokens.algs allows only ES256.",
        |k| k.token_by(&k.as_rs256, |h, _| h["kid"] = json!("as-rsa")));
    s.token_case("token-opaque-without-introspection", cfg(), bad_token(),
        "RFC 6750 §3.1: an opaque token (the RFC 6749 §5.1 example) that no configured verifier can check is invalid_token.",
        |_| "2YotnFZFEjr1zCsicMWpAA".into());
}

#[rustfmt::skip]
fn scheme_vectors(s: &mut Suite) {
    let mixed = || Config { require_dpop: false, ..cfg() };
    let no_code = || refuse(&[401], &[]);
    let bearer = |token: String| format!("Bearer {token}");
    s.add("scheme-no-authorization", cfg(),
        "RFC 6750 §3.1, RFC 9449 §7.1: no Authorization field (a proof alone proves nothing): 401, and the challenge should carry no error code.",
        |k| vec![post(&[("dpop", &k.proof(&k.token()))], no_code())]);
    s.add("scheme-basic", cfg(),
        "RFC 9110 §11.6.2, RFC 6750 §3.1: a scheme the resource does not support counts as no credentials: 401, no error code required.",
        |k| vec![post(&[("authorization", "Basic YWdlbnQtNzpzZWNyZXQ="), ("dpop", &k.proof(&k.token()))], no_code())]);
    s.add("scheme-bearer-and-dpop-fields", cfg(),
        "RFC 9110 §5.3 (Authorization is not a list field), RFC 6750 §3.1: two Authorization fields (Bearer and DPoP, same token) are a malformed request.",
        |k| {
            let t = k.token();
            vec![post(&[("authorization", &bearer(t.clone())), ("authorization", &format!("DPoP {t}")), ("dpop", &k.proof(&t))], bad_request())]
        });
    s.add("scheme-bearer-bound-token-mixed", mixed(),
        "RFC 9449 §7.2: where Bearer tokens are accepted, a DPoP-bound token presented as Bearer is still refused.",
        |k| vec![post(&[("authorization", &bearer(k.token()))], bad_token())]);
    s.add("scheme-bearer-unbound-token-mixed-accepted", mixed(),
        "RFC 9449 §7.2, RFC 6750 §2.1: where Bearer tokens are accepted, an unbound token (no cnf) as Bearer passes.",
        |k| vec![post(&[("authorization", &bearer(k.token_with(|_, c| del(c, "cnf"))))], accept())]);
    s.add("scheme-bearer-in-dpop-only", cfg(),
        "RFC 9449 §7.2: a DPoP-only resource refuses the Bearer scheme even with an unbound token (401, with or without an error code, RFC 6750 §3.1).",
        |k| vec![post(&[("authorization", &bearer(k.token_with(|_, c| del(c, "cnf"))))], no_code())]);
    s.add("scheme-dpop-in-mixed-accepted", mixed(),
        "RFC 9449 §7.1-7.2: a resource accepting both schemes accepts a DPoP request.",
        |k| { let t = k.token(); vec![dpop(&t, &k.proof(&t), accept())] });
    s.add("scheme-missing-proof", cfg(),
        "RFC 9449 §7.1, §4.3 step 1: the DPoP scheme without a DPoP field (400 invalid_request or 401 invalid_dpop_proof).",
        |k| vec![post(&[("authorization", &format!("DPoP {}", k.token()))], proof_or_request())]);
    s.add("scheme-two-dpop-fields", cfg(),
        "RFC 9449 §4.3 step 1, §7.1: not more than one DPoP field; here two valid proofs, an invalid proof (401 invalid_dpop_proof, as SEP-1932 requires).",
        |k| {
            let t = k.token();
            vec![post(&[("authorization", &format!("DPoP {t}")), ("dpop", &k.proof(&t)), ("dpop", &k.proof(&t))], bad_proof())]
        });
    s.add("scheme-comma-joined-dpop", cfg(),
        "RFC 9449 §4.3 step 1, §7.1, RFC 9110 §5.3: one DPoP field holding two proofs joined by a comma is two fields, an invalid proof (401 invalid_dpop_proof).",
        |k| {
            let t = k.token();
            let joined = format!("{}, {}", k.proof(&t), k.proof(&t));
            vec![post(&[("authorization", &format!("DPoP {t}")), ("dpop", &joined)], bad_proof())]
        });
    let accepted = [
        ("scheme-lowercase-dpop-accepted", "authorization", "dpop", "dpop ", "RFC 9110 §11.1: the auth scheme is case-insensitive; dpop is DPoP."),
        ("scheme-extra-spaces-accepted", "authorization", "dpop", "DPoP   ", "RFC 9110 §11.4: credentials = auth-scheme 1*SP token68; several spaces are allowed."),
        ("scheme-field-names-case-accepted", "Authorization", "DPoP", "DPoP ", "RFC 9110 §5.1: field names are case-insensitive (Authorization, DPoP)."),
    ];
    for (id, authorization, dpop_name, scheme, description) in accepted {
        s.add(id, cfg(), description, |k| {
            let t = k.token();
            vec![post(&[(authorization, &format!("{scheme}{t}")), (dpop_name, &k.proof(&t))], accept())]
        });
    }
    s.add("scheme-token-with-comma", cfg(),
        "RFC 9110 §11.2 (token68), RFC 6750 §3.1: a comma cannot be part of one token, so the credentials are malformed.",
        |k| { let t = k.token(); vec![post(&[("authorization", &format!("DPoP {t},{t}")), ("dpop", &k.proof(&t))], bad_request())] });
    s.add("scheme-dpop-without-token", cfg(),
        "RFC 9449 §7.1, RFC 6750 §3.1: the DPoP scheme with no token is malformed (400 invalid_request, or 401 invalid_token).",
        |k| vec![post(&[("authorization", "DPoP"), ("dpop", &k.proof(&k.token()))], refuse(&[400, 401], &["invalid_request", "invalid_token"]))]);
}

#[rustfmt::skip]
fn edge_vectors(s: &mut Suite) {
    s.proof_case("edge-es256-accepted", cfg(), accept(),
        "RFC 9449 §4.3, §7.1: the baseline every other vector departs from; a valid ES256 proof and a token bound to its key.",
        |_, _, _| {});
    let algs = [
        (Algorithm::ES384, "edge-es384-accepted", "RFC 7518 §3.4: an ES384 (P-384, SHA-384)"),
        (Algorithm::ES512, "edge-es512-accepted", "RFC 7518 §3.4: an ES512 (P-521, SHA-512, 132-octet signature)"),
        (Algorithm::EdDSA, "edge-eddsa-accepted", "RFC 8037 §3.1: an EdDSA (Ed25519)"),
        (Algorithm::PS256, "edge-ps256-accepted", "RFC 7518 §3.5: a PS256 (RSASSA-PSS, 2048-bit key)"),
        (Algorithm::RS256, "edge-rs256-accepted", "RFC 7518 §3.3: an RS256 (RSASSA-PKCS1-v1_5, 2048-bit key)"),
    ];
    for (alg, id, what) in algs {
        let description = format!("{what} proof, allowed by dpop_algs, with a token bound to its key (RFC 9449 §6.1).");
        s.add(id, cfg(), &description, |k| {
            let key = k.client(alg);
            let t = k.token_for(&jkt(key));
            vec![dpop(&t, &k.proof_with(key, &t, |_, _| {}), accept())]
        });
    }
    s.token_case("edge-rs256-access-token-accepted", cfg(), accept(),
        "RFC 9068 §4: an RS256 token from the issuer's second key (kid as-rsa).",
        |k| k.token_by(&k.as_rs256, |h, _| h["kid"] = json!("as-rsa")));
    s.add("edge-fresh-proof-per-request-accepted", cfg(),
        "RFC 9449 §7.1: one token, a fresh proof for each request; both accepted.",
        |k| { let t = k.token(); vec![dpop(&t, &k.proof(&t), accept()), dpop(&t, &k.proof(&t), accept())] });
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_OUT.into());
    let mut suite = Suite {
        k: Ctx::load(),
        vectors: Vec::new(),
    };
    let groups = [
        jws_vectors,
        alg_vectors,
        jwk_vectors,
        typ_vectors,
        claims_vectors,
        htm_vectors,
        htu_vectors,
        iat_vectors,
        nonce_vectors,
        ath_vectors,
        jkt_vectors,
        replay_vectors,
        token_vectors,
        scheme_vectors,
        edge_vectors,
    ];
    for group in groups {
        group(&mut suite);
    }
    let count = suite.vectors.len();
    let description = format!(
        "Generated by examples/generate_vectors.rs (cargo run --example generate_vectors); do not \
         edit by hand. {count} vectors, each with a fresh validator and the clock at {NOW}: every \
         check of RFC 9449 §4.3 and §7, the JOSE rules behind them (RFC 7515, 7517, 7518, 7638, \
         8037, 8725), JWT access tokens (RFC 7519, 9068, 8707) and the Authorization scheme \
         (RFC 6750, 9110). Keys are fixed; ECDSA and RSA-PSS signatures change on regeneration."
    );
    let mut per_prefix: Vec<(&str, usize)> = Vec::new();
    for vector in &suite.vectors {
        let prefix = vector.id.split('-').next().unwrap();
        match per_prefix.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, n)) => *n += 1,
            None => per_prefix.push((prefix, 1)),
        }
    }
    let summary: Vec<String> = per_prefix.iter().map(|(p, n)| format!("{p} {n}")).collect();
    let file = VectorFile {
        format: "resource-vectors/1",
        description,
        vectors: suite.vectors,
    };
    let text = serde_json::to_string_pretty(&file).unwrap() + "\n";
    std::fs::write(&out, text).unwrap_or_else(|e| panic!("cannot write {out}: {e}"));
    println!("wrote {count} vectors to {out} ({})", summary.join(", "));
}
