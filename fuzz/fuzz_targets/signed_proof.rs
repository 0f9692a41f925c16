//! Genuinely signed proofs with fuzzer-chosen claims, checked against a fuzzer-chosen
//! request: the validator may refuse anything, but whatever it accepts must match the
//! request exactly (RFC 9449 §4.3 steps 8–12: `htm`, normalized `htu`, the `iat` window,
//! `ath`, `cnf.jkt`). Random bytes rarely reach these checks behind a valid signature;
//! this target starts there.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mcp_warden::dpop::{NormalizedUri, ProofClaims, ProofContext, ProofSigner, ProofValidator};
use mcp_warden::jose::Algorithm;
use mcp_warden::token::PresentedToken;

const NOW: u64 = 1_764_288_000;
const TOKEN: &str = "the-access-token";

#[derive(Debug, Arbitrary)]
struct Input {
    htm: String,
    htu: String,
    /// Seconds from now, within a day either way.
    iat_offset: i32,
    jti: Option<String>,
    /// Which token `ath` is computed over: the presented one, none, or another.
    ath: u8,
    request_method: String,
    request_uri: String,
    /// Which key `cnf.jkt` names: the proof's, or another.
    bound_to_signer: bool,
}

static SIGNERS: LazyLock<[ProofSigner; 2]> = LazyLock::new(|| {
    [0, 1].map(|_| ProofSigner::generate(Algorithm::ES256).expect("a key"))
});

fn ready<F: Future>(future: F) -> Option<F::Output> {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

fuzz_target!(|input: Input| {
    let Ok(request_uri) = NormalizedUri::parse(&input.request_uri) else {
        return;
    };
    let iat = NOW.saturating_add_signed(i64::from(input.iat_offset % 86_400));
    let access_token = match input.ath % 3 {
        0 => Some(TOKEN.to_owned()),
        1 => None,
        _ => Some(format!("{TOKEN}-other")),
    };
    let [signer, other] = &*SIGNERS;
    let Ok(proof) = signer.sign(&ProofClaims {
        method: input.htm.clone(),
        uri: input.htu.clone(),
        iat,
        jti: input.jti.clone(),
        access_token: access_token.clone(),
        nonce: None,
    }) else {
        return;
    };
    let bound = if input.bound_to_signer { signer } else { other };
    let context = ProofContext {
        method: &input.request_method,
        uri: &request_uri,
        access_token: Some(PresentedToken::new(TOKEN)),
        bound_jkt: Some(bound.thumbprint().as_str()),
    };
    // A fresh validator each time: a replay refusal would hide the other checks.
    let validator = ProofValidator::builder().build();
    let outcome = ready(validator.validate(&proof, &context, NOW)).expect("no waiting");
    if outcome.is_ok() {
        assert_eq!(input.htm, input.request_method, "htm");
        let htu = NormalizedUri::parse(&input.htu).expect("an accepted htu parses");
        assert_eq!(htu.as_str(), request_uri.as_str(), "htu");
        let max_age = ProofValidator::DEFAULT_MAX_AGE_S;
        let max_future = ProofValidator::DEFAULT_MAX_FUTURE_S;
        assert!(iat + max_age >= NOW && iat <= NOW + max_future, "iat {iat}");
        assert_eq!(access_token.as_deref(), Some(TOKEN), "ath");
        assert!(input.bound_to_signer, "cnf.jkt");
    }
});
