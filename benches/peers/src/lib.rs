//! mcp-warden next to the validators an MCP server author would otherwise use: the
//! shared inputs and one function per contender, for the criterion benchmark
//! (`benches/peers.rs`) and the instruction counts (`examples/instructions.rs`).
//!
//! ```sh
//! cd benches/peers && cargo bench --bench peers
//! ```
//!
//! # The inputs (the same bytes for every contender)
//!
//! - One ES256 issuer key (`kid` = `as-1`), published as a one-key JWK Set, and one ES256
//!   client (agent) key.
//! - A DPoP-bound access token (`typ` = `at+jwt`; `iss`, `aud`, `sub`, `scope`, `iat`,
//!   `exp` = one hour ahead, `cnf.jkt` = the agent key's thumbprint).
//! - A pool of [`POOL`] distinct proofs, signed beforehand with
//!   `mcp_warden::dpop::ProofSigner` for `POST https://mcp.example.com/mcp` with `ath`, each
//!   in a request's `HeaderMap` next to `Authorization: DPoP <token>`.
//! - For Bearer traffic: an unbound token from the same issuer key (no `cnf`), sent as
//!   `Authorization: Bearer <token>`.
//!
//! # Fairness rules
//!
//! - **Every validation sees a proof it has never seen.** A reused proof would be refused
//!   by the replay store, which is cheaper and would flatter the figures. When the pool is
//!   used up, the contender is rebuilt (an empty replay store) outside the timed section,
//!   exactly as in `benches/validation.rs`.
//! - **Real clocks.** Two peers read the wall clock themselves and turbomcp-dpop accepts
//!   only 60 s of proof age, so proofs carry the real `iat` and the pool is re-signed,
//!   untimed, once it is [`MAX_POOL_AGE_S`] old. mcp-warden is handed the wall clock per
//!   request too (it takes `now` as an argument).
//! - **Full validation for everyone.** Each contender checks the proof (signature, `typ`,
//!   `htm`, `htu`, `iat` window, `ath`), the binding of the proof key to the token's
//!   `cnf.jkt`, and the access token with jsonwebtoken 12 (signature by `kid` from the JWK
//!   Set, `iss`, `aud`, `exp`). Whatever a peer's API leaves to its caller is added by hand
//!   with the same cheap code for all (`access_token`, `jkt_matches`). The docs table lists
//!   what each one checks; see docs/performance.md, "Against other validators".
//! - **The same crypto where there is a choice.** jsonwebtoken (every major) runs on its
//!   aws-lc-rs backend, like mcp-warden. jsonwebtoken 10 is shared by axum-jose (asks for
//!   aws-lc-rs) and axum-jwt-auth (asks for RustCrypto); with both features on it cannot
//!   choose, so [`install_jsonwebtoken10_provider`] installs aws-lc-rs for both. Where a
//!   peer hard-wires its crypto (dpop-verifier: RustCrypto `p256`), it keeps it, and
//!   `bare_verify_p256_x1` shows what that costs.
//! - **No runtime in the figures.** Every future here completes without waiting, so one
//!   poll with a no-op waker runs it ([`ready`]), for every contender alike.
//! - **Same build.** One binary, the main crate's bench profile (thin LTO, 4 codegen
//!   units). turbomcp-dpop turns on serde_json's `preserve_order` for every crate in it,
//!   mcp-warden included.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Benchmark setup: a panic is a bug report.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Request};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm as JwtAlg, DecodingKey, Validation, decode, decode_header};
use mcp_warden::dpop::{ProofSigner, ProofValidator};
use mcp_warden::guard::{DpopMode, Guard, RequestParts, ResourceVerifier};
use mcp_warden::jose::{Algorithm, AlgorithmSet, JwkSet, SigningKey, base64url_decode};
use mcp_warden::token::{
    AccessTokenVerifier, CachingVerifier, JwtVerifier, TokenVerifier, TrustedIssuer,
};
use serde::Deserialize;
use serde_json::json;
use tower::ServiceExt;

pub const RESOURCE: &str = "https://mcp.example.com/mcp";
pub const ISSUER: &str = "https://as.example.com";
/// axum-jose takes the issuer as a `url::Url` and compares its string form, which always
/// has a path: the Bearer token's `iss` carries the slash so that it can pass there too.
pub const BEARER_ISSUER: &str = "https://as.example.com/";
pub const POOL: usize = 4096;
/// Re-sign the pool (untimed) when it is this old; turbomcp-dpop refuses proofs > 60 s old.
pub const MAX_POOL_AGE_S: u64 = 20;
/// The proof `iat` window of the hand-written checks, the same as mcp-warden's default
/// (±300 s); dpop-verifier's default is 300 s back and 5 s ahead, turbomcp-dpop's ±60 s.
pub const IAT_WINDOW_S: i64 = 300;
pub const MCP_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sum","arguments":{"a":1,"b":2}}}"#;

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The futures under test complete without waiting (in-memory keys and replay stores), so
/// one poll with a no-op waker runs them without a runtime's overhead in the figures.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked future must not wait"),
    }
}

/// A refusal from any contender; the benchmark only ever sees successes.
#[derive(Debug)]
pub struct Refused(pub String);

pub fn refused(reason: impl ToString) -> Refused {
    Refused(reason.to_string())
}

// ------------------------------------------------------------------------------------------
// The inputs
// ------------------------------------------------------------------------------------------

pub struct Inputs {
    pub issuer_key: SigningKey,
    /// The DPoP-bound access token.
    pub token: String,
    /// The unbound token, for Bearer traffic.
    pub bearer_token: String,
    /// `{"keys": [the issuer's public JWK]}`, the JWK Set every contender loads.
    pub jwks_json: String,
}

/// The pool of distinct proofs, each in its own request headers.
pub struct Proofs {
    pub signer: ProofSigner,
    pub token: String,
    pub requests: Vec<HeaderMap>,
    pub signed_at: u64,
}

impl Proofs {
    /// The pool, re-signed (new `jti`s, current `iat`) if it has grown too old.
    pub fn fresh(&mut self) -> &[HeaderMap] {
        if now().saturating_sub(self.signed_at) >= MAX_POOL_AGE_S {
            self.sign();
        }
        &self.requests
    }

    pub fn sign(&mut self) {
        let iat = now();
        let authorization = HeaderValue::from_str(&format!("DPoP {}", self.token)).unwrap();
        self.requests = (0..POOL)
            .map(|_| {
                let proof = self
                    .signer
                    .proof("POST", RESOURCE, Some(&self.token), None, iat)
                    .unwrap();
                let mut headers = HeaderMap::new();
                headers.insert(http::header::AUTHORIZATION, authorization.clone());
                headers.insert("dpop", HeaderValue::from_str(&proof).unwrap());
                headers
            })
            .collect();
        self.signed_at = iat;
    }
}

pub fn inputs() -> (Inputs, Proofs) {
    let issuer_key = SigningKey::generate(Algorithm::ES256)
        .unwrap()
        .with_kid("as-1")
        .unwrap();
    let signer = ProofSigner::generate(Algorithm::ES256).unwrap();
    let now = now();
    let header = json!({"typ": "at+jwt", "kid": "as-1"});
    let token = issuer_key
        .sign_compact(
            header.as_object().unwrap(),
            json!({
                "iss": ISSUER, "aud": RESOURCE, "sub": "agent-7", "client_id": "agent-7",
                "scope": "tools:call", "iat": now, "exp": now + 3600, "jti": "token-1",
                "cnf": {"jkt": signer.thumbprint().as_str()}
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
    let bearer_token = issuer_key
        .sign_compact(
            header.as_object().unwrap(),
            json!({
                "iss": BEARER_ISSUER, "aud": RESOURCE, "sub": "agent-7", "client_id": "agent-7",
                "scope": "tools:call", "iat": now, "exp": now + 3600, "jti": "token-2"
            })
            .as_object()
            .unwrap(),
        )
        .unwrap();
    let jwks_json = json!({"keys": [issuer_key.public_jwk().to_json()]}).to_string();
    let mut proofs = Proofs {
        signer,
        token: token.clone(),
        requests: Vec::new(),
        signed_at: 0,
    };
    proofs.sign();
    (
        Inputs {
            issuer_key,
            token,
            bearer_token,
            jwks_json,
        },
        proofs,
    )
}

/// `Authorization: <scheme> <token>` and `DPoP: <proof>`, read by hand for the peers (they
/// take strings); mcp-warden reads the same `HeaderMap` itself.
pub fn credentials<'h>(
    headers: &'h HeaderMap,
    scheme: &str,
) -> Result<(&'h str, Option<&'h str>), Refused> {
    let token = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix(scheme))
        .and_then(|value| value.strip_prefix(' '))
        .ok_or_else(|| refused("no credentials"))?;
    let proof = headers.get("dpop").and_then(|value| value.to_str().ok());
    Ok((token, proof))
}

// ------------------------------------------------------------------------------------------
// The access token with jsonwebtoken 12: what every peer is paired with
// ------------------------------------------------------------------------------------------

#[derive(Deserialize)]
/// The claims a handler would read.
pub struct AccessClaims {
    pub sub: String,
    pub exp: u64,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub cnf: Option<Confirmation>,
}

#[derive(Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

/// The issuer's keys by `kid`, parsed once at start-up (as axum-jwt-auth keeps them), and
/// the `Validation`: ES256 only, `iss`, `aud`, `exp` required and checked.
pub struct JsonwebtokenAccess {
    pub keys: HashMap<String, DecodingKey>,
    pub validation: Validation,
}

impl JsonwebtokenAccess {
    pub fn new(jwks_json: &str, issuer: &str) -> Self {
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(jwks_json).unwrap();
        let keys = set
            .keys
            .iter()
            .map(|jwk| {
                (
                    jwk.common.key_id.clone().unwrap(),
                    DecodingKey::from_jwk(jwk).unwrap(),
                )
            })
            .collect();
        let mut validation = Validation::new(JwtAlg::ES256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[RESOURCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 0;
        JsonwebtokenAccess { keys, validation }
    }

    /// `decode_header` for the `kid`, the key by `kid`, then `decode`.
    pub fn access_token(&self, token: &str) -> Result<AccessClaims, Refused> {
        let header = decode_header(token).map_err(refused)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or_else(|| refused("unknown kid"))?;
        Ok(decode::<AccessClaims>(token, key, &self.validation)
            .map_err(refused)?
            .claims)
    }
}

/// The proof key's thumbprint against the token's `cnf.jkt` (RFC 9449 §6.1), for the peers
/// that return the thumbprint but leave the comparison to the caller.
pub fn jkt_matches(claims: &AccessClaims, jkt: &str) -> Result<(), Refused> {
    match &claims.cnf {
        Some(cnf) if cnf.jkt == jkt => Ok(()),
        _ => Err(refused("proof key is not the token's cnf.jkt")),
    }
}

/// `ath`: base64url(SHA-256(token)).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        token.as_bytes(),
    ))
}

// ------------------------------------------------------------------------------------------
// DPoP contenders: one function each
// ------------------------------------------------------------------------------------------

/// mcp-warden, as `benches/validation.rs` measures it: `ResourceVerifier::verify` on the
/// request's method, URI and headers, with the in-memory replay store.
pub fn mcp_warden(
    verifier: &mut ResourceVerifier,
    headers: &HeaderMap,
) -> Result<mcp_warden::Principal, Refused> {
    let request = RequestParts {
        method: "POST",
        uri: RESOURCE,
        headers,
    };
    ready(verifier.verify(&request, now())).map_err(|refusal| refused(format!("{refusal:?}")))
}

pub fn mcp_warden_jwt(inputs: &Inputs, issuer: &str) -> JwtVerifier {
    let keys = JwkSet::from_json(inputs.jwks_json.as_bytes()).unwrap();
    JwtVerifier::builder(RESOURCE)
        .issuer(
            TrustedIssuer::new(issuer, keys).algorithms(AlgorithmSet::EMPTY.with(Algorithm::ES256)),
        )
        .build()
}

/// Cold: no token cache, every request verifies the access token too.
pub fn mcp_warden_cold(inputs: &Inputs) -> ResourceVerifier {
    ResourceVerifier::builder()
        .proofs(ProofValidator::builder().build())
        .tokens(AccessTokenVerifier::new().jwt(mcp_warden_jwt(inputs, ISSUER)))
        .build()
}

/// Warm: the guard's default token cache, already holding the token.
pub fn mcp_warden_warm(inputs: &Inputs) -> ResourceVerifier {
    let cached = CachingVerifier::new(mcp_warden_jwt(inputs, ISSUER));
    ready(cached.verify(&inputs.token, now())).unwrap();
    ResourceVerifier::builder()
        .proofs(ProofValidator::builder().build())
        .tokens(AccessTokenVerifier::new().jwt(cached))
        .build()
}

/// dpop-verifier's in-memory replay store, as in its own example.
#[derive(Default)]
pub struct DpopVerifierStore(pub std::collections::HashSet<[u8; 32]>);

#[async_trait::async_trait]
impl dpop_verifier::ReplayStore for DpopVerifierStore {
    async fn insert_once(
        &mut self,
        jti_hash: [u8; 32],
        _context: dpop_verifier::ReplayContext<'_>,
    ) -> Result<bool, dpop_verifier::DpopError> {
        Ok(self.0.insert(jti_hash))
    }
}

pub struct DpopVerifierContender {
    pub verifier: dpop_verifier::DpopVerifier,
    pub store: DpopVerifierStore,
    pub access: Arc<JsonwebtokenAccess>,
}

/// dpop-verifier 4.4 for the proof (typ, alg, jwk, signature, jti length, htm, htu, ath,
/// iat, replay; returns the thumbprint), jsonwebtoken for the token, the `jkt` by hand.
pub fn dpop_verifier(
    c: &mut DpopVerifierContender,
    headers: &HeaderMap,
) -> Result<AccessClaims, Refused> {
    let (token, proof) = credentials(headers, "DPoP")?;
    let proof = proof.ok_or_else(|| refused("no proof"))?;
    let claims = c.access.access_token(token)?;
    let verified = ready(
        c.verifier
            .verify(&mut c.store, proof, RESOURCE, "POST", Some(token)),
    )
    .map_err(refused)?;
    jkt_matches(&claims, &verified.jkt)?;
    Ok(claims)
}

pub struct TurbomcpContender {
    pub generator: turbomcp_dpop::DpopProofGenerator,
    pub access: Arc<JsonwebtokenAccess>,
}

/// turbomcp-dpop 3.6 for the proof through its high-level `parse_and_validate_jwt` (typ,
/// alg, jwk, signature, jti, htm, htu, iat, ath, replay; returns the thumbprint),
/// jsonwebtoken for the token, the `jkt` by hand.
pub fn turbomcp_dpop(
    c: &mut TurbomcpContender,
    headers: &HeaderMap,
) -> Result<AccessClaims, Refused> {
    let (token, proof) = credentials(headers, "DPoP")?;
    let proof = proof.ok_or_else(|| refused("no proof"))?;
    let claims = c.access.access_token(token)?;
    let verified = ready(c.generator.parse_and_validate_jwt(
        proof,
        "POST",
        RESOURCE,
        Some(token),
        turbomcp_dpop::ProofContext::ResourceServer,
    ))
    .map_err(refused)?;
    jkt_matches(&claims, &verified.thumbprint)?;
    Ok(claims)
}

#[derive(Deserialize)]
pub struct PlainProofClaims {
    /// Required, then unused: there is no replay store to put it in.
    pub jti: String,
    pub htm: String,
    pub htu: String,
    pub iat: i64,
    pub ath: Option<String>,
}

/// The plain validator: what a server author writes with jsonwebtoken alone.
pub struct PlainJsonwebtoken {
    pub access: Arc<JsonwebtokenAccess>,
    /// ES256 only, `iat` required; no `exp` or `aud` in a proof.
    pub proof_validation: Validation,
    /// Verified tokens by their exact text (the cached variant only).
    pub token_cache: Option<HashMap<String, AccessClaims>>,
}

impl PlainJsonwebtoken {
    pub fn new(access: Arc<JsonwebtokenAccess>, cache_tokens: bool) -> Self {
        let mut proof_validation = Validation::new(JwtAlg::ES256);
        proof_validation.validate_exp = false;
        proof_validation.validate_aud = false;
        proof_validation.set_required_spec_claims(&["iat"]);
        PlainJsonwebtoken {
            access,
            proof_validation,
            token_cache: cache_tokens.then(HashMap::new),
        }
    }
}

/// jsonwebtoken for both JWTs: the proof's `typ` and embedded `jwk` from `decode_header`,
/// `DecodingKey::from_jwk`, `decode`; `htm`, `htu` (exact string), `iat` (±300 s), `ath`
/// and the `jkt` (`Jwk::thumbprint`) by hand. No replay store, no `htu` normalization.
/// With a token cache, a token seen before skips its signature (its `exp` is still checked).
pub fn plain_jsonwebtoken(c: &mut PlainJsonwebtoken, headers: &HeaderMap) -> Result<u64, Refused> {
    let (token, proof) = credentials(headers, "DPoP")?;
    let proof = proof.ok_or_else(|| refused("no proof"))?;
    let now = now();

    let verified;
    let claims = match &mut c.token_cache {
        None => {
            verified = c.access.access_token(token)?;
            &verified
        }
        Some(cache) => match cache.get(token) {
            Some(claims) if claims.exp > now => claims,
            _ => {
                cache.insert(token.to_owned(), c.access.access_token(token)?);
                &cache[token]
            }
        },
    };

    let header = decode_header(proof).map_err(refused)?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(refused("typ"));
    }
    let jwk: &Jwk = header.jwk.as_ref().ok_or_else(|| refused("no jwk"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(refused)?;
    let proof_claims = decode::<PlainProofClaims>(proof, &key, &c.proof_validation)
        .map_err(refused)?
        .claims;
    if proof_claims.htm != "POST" || proof_claims.htu != RESOURCE {
        return Err(refused("htm/htu"));
    }
    if (now as i64 - proof_claims.iat).abs() > IAT_WINDOW_S {
        return Err(refused("iat"));
    }
    if proof_claims.ath.as_deref() != Some(access_token_hash(token).as_str()) {
        return Err(refused("ath"));
    }
    jkt_matches(
        claims,
        &jwk.thumbprint(ThumbprintHash::SHA256).map_err(refused)?,
    )?;

    Ok(claims.exp)
}

// ------------------------------------------------------------------------------------------
// Bearer / JWKS-only contenders
// ------------------------------------------------------------------------------------------

pub fn mcp_warden_bearer(inputs: &Inputs) -> ResourceVerifier {
    ResourceVerifier::builder()
        .mode(DpopMode::BearerOnly)
        .tokens(AccessTokenVerifier::new().jwt(mcp_warden_jwt(inputs, BEARER_ISSUER)))
        .build()
}

#[derive(Deserialize, Clone)]
/// The claims a handler would read.
pub struct BearerClaims {
    pub sub: String,
    pub exp: u64,
    pub scope: String,
}

/// jsonwebtoken 10 is shared by axum-jose (feature `aws_lc_rs`) and axum-jwt-auth
/// (feature `rust_crypto`); with both on, it needs its provider named once per process.
/// aws-lc-rs, like everyone else here, unless `PEERS_JSONWEBTOKEN10=rust_crypto` asks for
/// axum-jwt-auth's own choice (a second run, for the Bearer rows).
pub fn install_jsonwebtoken10_provider() {
    use jsonwebtoken10::crypto::{aws_lc, rust_crypto};
    let provider = match std::env::var("PEERS_JSONWEBTOKEN10").as_deref() {
        Ok("rust_crypto") => &rust_crypto::DEFAULT_PROVIDER,
        Ok("aws_lc_rs") | Err(_) => &aws_lc::DEFAULT_PROVIDER,
        Ok(other) => panic!("PEERS_JSONWEBTOKEN10={other}: aws_lc_rs or rust_crypto"),
    };
    let _ = jsonwebtoken10::crypto::CryptoProvider::install_default(provider);
}

/// axum-jwt-auth's JWKS decoder with its key cache filled from the same JWK Set (what
/// `initialize()` leaves after fetching it), and the same `Validation` as the peers'.
pub fn axum_jwt_auth_decoder(inputs: &Inputs) -> axum_jwt_auth::RemoteJwksDecoder {
    let set: jsonwebtoken10::jwk::JwkSet = serde_json::from_str(&inputs.jwks_json).unwrap();
    let cache = dashmap::DashMap::new();
    for jwk in &set.keys {
        cache.insert(
            jwk.common.key_id.clone().unwrap(),
            jsonwebtoken10::DecodingKey::from_jwk(jwk).unwrap(),
        );
    }
    let mut validation = jsonwebtoken10::Validation::new(jsonwebtoken10::Algorithm::ES256);
    validation.set_issuer(&[BEARER_ISSUER]);
    validation.set_audience(&[RESOURCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.leeway = 0;
    axum_jwt_auth::RemoteJwksDecoder::builder()
        .jwks_url("https://as.example.com/jwks.json".into())
        .keys_cache(Arc::new(cache))
        .validation(validation)
        .build()
        .unwrap()
}

/// axum-jwt-auth's decoder on the token read from the header by hand.
pub fn axum_jwt_auth_decode(
    decoder: &axum_jwt_auth::RemoteJwksDecoder,
    headers: &HeaderMap,
) -> Result<BearerClaims, Refused> {
    use axum_jwt_auth::JwtDecoder;
    let (token, _) = credentials(headers, "Bearer")?;
    Ok(ready(JwtDecoder::<BearerClaims>::decode(decoder, token))
        .map_err(refused)?
        .claims)
}

/// The handler behind every layer: answers 200 without reading the body.
pub fn handler_router() -> Router {
    Router::new().route("/mcp", post(|| async { "ok" }))
}

/// mcp-warden's axum/tower layer, Bearer only, without its token cache.
pub fn mcp_warden_guard_router(inputs: &Inputs) -> Router {
    let guard = Guard::builder()
        .resource(RESOURCE)
        .mode(DpopMode::BearerOnly)
        .no_token_cache()
        .trust_issuer(
            TrustedIssuer::new(
                BEARER_ISSUER,
                JwkSet::from_json(inputs.jwks_json.as_bytes()).unwrap(),
            )
            .algorithms(AlgorithmSet::EMPTY.with(Algorithm::ES256)),
        )
        .build()
        .unwrap();
    handler_router().layer(guard)
}

/// axum-jose's `AuthorizationLayer` over the same JWK Set, held locally.
pub fn axum_jose_router(inputs: &Inputs) -> Router {
    let set: jsonwebtoken10::jwk::JwkSet = serde_json::from_str(&inputs.jwks_json).unwrap();
    handler_router().layer(axum_jose::AuthorizationLayer::with_local_jwk_set(
        set,
        url::Url::parse(ISSUER).unwrap(),
        RESOURCE.to_owned(),
    ))
}

/// axum-jwt-auth's `Claims` extractor in the handler (it has no layer), over its decoder.
pub fn axum_jwt_auth_router(inputs: &Inputs) -> Router {
    let decoder: axum_jwt_auth::Decoder<BearerClaims> = Arc::new(axum_jwt_auth_decoder(inputs));
    Router::new()
        .route(
            "/mcp",
            post(|_claims: axum_jwt_auth::Claims<BearerClaims>| async { "ok" }),
        )
        .with_state(decoder)
}

pub fn bearer_request(token: &str) -> Request<Body> {
    Request::post("/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(MCP_BODY))
        .unwrap()
}

/// One request through a router; the response must be 200.
pub fn through(router: &Router, request: Request<Body>) {
    let response = ready(router.clone().oneshot(request)).unwrap();
    assert_eq!(response.status(), 200);
}

// ------------------------------------------------------------------------------------------
// Baselines
// ------------------------------------------------------------------------------------------

/// Splits a compact JWS into (signing input, signature bytes).
pub fn signed_parts(compact: &str) -> (Vec<u8>, Vec<u8>) {
    let dot = compact.rfind('.').unwrap();
    (
        compact.as_bytes()[..dot].to_vec(),
        base64url_decode(&compact[dot + 1..]).unwrap(),
    )
}

pub fn public_point(key: &SigningKey) -> Vec<u8> {
    let members = key.public_jwk().public_members();
    let coordinate = |name: &str| base64url_decode(members[name].as_str().unwrap()).unwrap();
    let mut point = vec![0x04];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    point
}

/// Every contender must accept the inputs before anything is timed, and refuse a replay
/// where it keeps a replay store.
pub fn check_every_contender_accepts(
    inputs: &Inputs,
    proofs: &mut Proofs,
    access: &Arc<JsonwebtokenAccess>,
    turbomcp_keys: &Arc<turbomcp_dpop::DpopKeyManager>,
) {
    let request = &proofs.fresh()[0];
    let mut warden = mcp_warden_cold(inputs);
    mcp_warden(&mut warden, request).unwrap();
    assert!(
        mcp_warden(&mut warden, request).is_err(),
        "mcp-warden: replay"
    );

    let mut dv = DpopVerifierContender {
        verifier: dpop_verifier::DpopVerifier::new(),
        store: DpopVerifierStore::default(),
        access: access.clone(),
    };
    dpop_verifier(&mut dv, request).unwrap();
    assert!(
        dpop_verifier(&mut dv, request).is_err(),
        "dpop-verifier: replay"
    );

    let mut tm = TurbomcpContender {
        generator: turbomcp_dpop::DpopProofGenerator::new(turbomcp_keys.clone()),
        access: access.clone(),
    };
    turbomcp_dpop(&mut tm, request).unwrap();
    assert!(
        turbomcp_dpop(&mut tm, request).is_err(),
        "turbomcp-dpop: replay"
    );

    let mut plain = PlainJsonwebtoken::new(access.clone(), false);
    plain_jsonwebtoken(&mut plain, request).unwrap();
    plain_jsonwebtoken(&mut plain, request).unwrap(); // No replay store: accepted again.

    let mut forged = inputs.bearer_token.clone();
    forged.replace_range(forged.len() - 4.., "AAAA"); // A different signature.
    for router in [
        mcp_warden_guard_router(inputs),
        axum_jose_router(inputs),
        axum_jwt_auth_router(inputs),
    ] {
        through(&router, bearer_request(&inputs.bearer_token));
        let response = ready(router.clone().oneshot(bearer_request(&forged))).unwrap();
        assert_eq!(
            response.status(),
            401,
            "a forged Bearer token must be refused"
        );
    }
    let bearer_of = |token: &str| {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        headers.insert(http::header::AUTHORIZATION, value);
        headers
    };
    let verifier = mcp_warden_bearer(inputs);
    for (headers, valid) in [
        (bearer_of(&inputs.bearer_token), true),
        (bearer_of(&forged), false),
    ] {
        let request = RequestParts {
            method: "POST",
            uri: RESOURCE,
            headers: &headers,
        };
        assert_eq!(ready(verifier.verify(&request, now())).is_ok(), valid);
        assert_eq!(
            axum_jwt_auth_decode(&axum_jwt_auth_decoder(inputs), &headers).is_ok(),
            valid
        );
    }
}
