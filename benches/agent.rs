//! What the agent pays per outbound request: one DPoP proof (RFC 9449 §4.2: header with the
//! public JWK, `jti`, `htm`, `htu`, `iat`, `ath` of the access token, a nonce) signed with
//! ES256, next to one bare aws-lc-rs ES256 signature over a message of the same length,
//! measured in the same run. The agent hashes its token once (`AccessToken::ath`); a second
//! row shows a proof that hashes it each time.
//!
//! `cargo bench --bench agent`

#![allow(clippy::unwrap_used, clippy::expect_used)] // Benchmark setup: a panic is a bug report.

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair};
use criterion::{Criterion, criterion_group, criterion_main};
use mcp_warden::dpop::{ProofSigner, access_token_hash};
use mcp_warden::jose::Algorithm;

const NOW: u64 = 1_764_288_000;
const URL: &str = "https://payments-mcp.example.com/mcp";
/// A typical access token's length (an RFC 9068 JWT with `cnf`).
const TOKEN_BYTES: usize = 700;
const NONCE: &str = "a-server-nonce-of-sixty-bytes-or-so-as-the-guard-issues-them";

fn bench(c: &mut Criterion) {
    let signer = ProofSigner::generate(Algorithm::ES256).unwrap();
    let token = "t".repeat(TOKEN_BYTES);
    let sample = signer
        .proof("POST", URL, Some(&token), Some(NONCE), NOW)
        .unwrap();
    // The bare signature signs a message as long as the proof's signing input.
    let signing_input_len = sample.rsplit_once('.').unwrap().0.len();
    let message = vec![b'x'; signing_input_len];
    let bare = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let rng = SystemRandom::new();

    let mut group = c.benchmark_group("agent");
    group.bench_function("bare_es256_sign", |b| {
        b.iter(|| black_box(bare.sign(&rng, black_box(&message)).unwrap()))
    });
    // What the agent does per request: `ath` was computed once, with the token.
    let ath = access_token_hash(&token);
    group.bench_function("dpop_proof", |b| {
        b.iter(|| {
            black_box(
                signer
                    .proof_with_ath("POST", black_box(URL), Some(&ath), Some(NONCE), NOW)
                    .unwrap(),
            )
        })
    });
    // A client that hashes the token for every proof.
    group.bench_function("dpop_proof_hashing_the_token", |b| {
        b.iter(|| {
            black_box(
                signer
                    .proof("POST", black_box(URL), Some(&token), Some(NONCE), NOW)
                    .unwrap(),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
