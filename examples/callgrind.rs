//! Instruction counts of the request check, for `valgrind --tool=callgrind`
//! (`docs/performance.md`): a count does not depend on noisy neighbours, so a regression
//! shows even on a shared machine.
//!
//! Validates N distinct, pre-signed requests through [`ResourceVerifier::verify`], set up
//! exactly as `benches/validation.rs` sets them up, on the path the first argument names:
//!
//! - `warm`: the guard's default token cache already holds the token (`request_warm_token`);
//! - `cold`: no token cache, the token is verified on every request (`request_token_and_proof`);
//! - `proof`: [`ProofValidator::validate`] alone (`proof_only`);
//! - `es256`: one bare aws-lc-rs ES256 verify per request (`bare_verify_x1`), the reference;
//! - `none`: the measured loop with nothing in it (the harness's own cost, about zero).
//!
//! Key generation, token and proof signing, the verifier's construction and a warm-up of 64
//! requests (lazy initialisation, first allocations) all run before the measured loop,
//! which is the function `callgrind_measured`. Counting only inside it:
//!
//! ```sh
//! cargo build --release --example callgrind
//! valgrind --tool=callgrind --toggle-collect='*callgrind_measured*' \
//!     --callgrind-out-file=target/callgrind.warm.out target/release/examples/callgrind warm 2000
//! callgrind_annotate target/callgrind.warm.out | head      # "PROGRAM TOTALS" ÷ 2000
//! ```
//!
//! Each proof is distinct (a reused one is refused as a replay, which is cheaper), and the
//! replay store grows to N + 64 entries, as it does in the criterion bench (4,096 a pool).
//! Run natively, the harness also prints the wall time per request, a sanity check against
//! criterion's figures.
//!
//! `CALLGRIND_GAP_US=N` (natively only) sleeps N µs after each request and reports the
//! thread's CPU time per request instead (from `/proc/thread-self/schedstat`, the sleeps'
//! own CPU time measured separately and subtracted). It tells how much of a request's cost
//! depends on the CPU being busy without pause, as in criterion's loop, or idle between
//! requests, as in a sidecar serving a moderate rate. `CALLGRIND_SWEEP_KB=N` instead
//! writes N KiB of other memory after each request (its own CPU time again measured
//! separately and subtracted): the caches the next request finds are then as cold as
//! after a sidecar has parsed, forwarded and answered other requests in between.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A benchmark tool: a panic is the failure report.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use mcp_warden::dpop::{NormalizedUri, ProofContext, ProofValidator};
use mcp_warden::guard::{RequestParts, ResourceVerifier};
use mcp_warden::token::PresentedToken;
use mcp_warden::token::{AccessTokenVerifier, CachingVerifier, TokenVerifier};

#[path = "../benches/common/requests.rs"]
mod requests;

use requests::{NOW, RESOURCE, Setup, jwt_verifier, raw_key, ready, setup, signed_parts};

/// Requests validated before the measured loop (not counted).
const WARMUP: usize = 64;
const USAGE: &str = "usage: callgrind <warm|cold|proof|es256|none> [requests, default 2000]";

/// The only function callgrind counts (`--toggle-collect='*callgrind_measured*'`): runs
/// request `index` for every index in `range`.
#[inline(never)]
fn callgrind_measured(range: std::ops::Range<usize>, work: &mut dyn FnMut(usize)) {
    for index in range {
        work(black_box(index));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Warm,
    Cold,
    Proof,
    Es256,
    None,
}

impl Mode {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "warm" => Mode::Warm,
            "cold" => Mode::Cold,
            "proof" => Mode::Proof,
            "es256" => Mode::Es256,
            "none" => Mode::None,
            _ => return None,
        })
    }
}

fn resource_verifier(setup: &Setup, mode: Mode) -> ResourceVerifier {
    let tokens = if mode == Mode::Warm {
        let cached = CachingVerifier::new(jwt_verifier(setup));
        ready(cached.verify(&setup.token, NOW)).unwrap();
        AccessTokenVerifier::new().jwt(cached)
    } else {
        AccessTokenVerifier::new().jwt(jwt_verifier(setup))
    };
    ResourceVerifier::builder()
        .proofs(ProofValidator::builder().build())
        .tokens(tokens)
        .build()
}

/// The proof key as aws-lc-rs parses it, for the bare verify.
/// Runs the warm-up, then the measured loop over requests `WARMUP..WARMUP + n`.
fn measure(n: usize, mut work: impl FnMut(usize)) -> f64 {
    for index in 0..WARMUP {
        work(index);
    }
    if let Some(kib) = sweep_kib() {
        let mut other = vec![0u8; kib * 1024];
        let mut sweep = |round: usize| {
            for line in other.chunks_mut(64) {
                line[0] = line[0].wrapping_add(round as u8);
            }
            black_box(&other);
        };
        let sweeps_only = thread_cpu_s(|| (0..n).for_each(&mut sweep));
        let total = thread_cpu_s(|| {
            (WARMUP..WARMUP + n).for_each(|index| {
                work(index);
                sweep(index);
            })
        });
        return total - sweeps_only;
    }
    if let Some(gap) = gap() {
        let sleeps_only = thread_cpu_s(|| (0..n).for_each(|_| std::thread::sleep(gap)));
        let total = thread_cpu_s(|| {
            (WARMUP..WARMUP + n).for_each(|index| {
                work(index);
                std::thread::sleep(gap);
            })
        });
        return total - sleeps_only;
    }
    let started = Instant::now();
    callgrind_measured(WARMUP..WARMUP + n, &mut work);
    started.elapsed().as_secs_f64()
}

fn sweep_kib() -> Option<usize> {
    std::env::var("CALLGRIND_SWEEP_KB").ok()?.parse().ok()
}

fn gap() -> Option<std::time::Duration> {
    let micros: u64 = std::env::var("CALLGRIND_GAP_US").ok()?.parse().ok()?;
    Some(std::time::Duration::from_micros(micros))
}

/// The calling thread's CPU time spent in `run`, in seconds (the scheduler's ns counter).
fn thread_cpu_s(run: impl FnOnce()) -> f64 {
    let on_cpu_ns = || -> u64 {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
        text.split_whitespace().next().unwrap().parse().unwrap()
    };
    let before = on_cpu_ns();
    run();
    (on_cpu_ns() - before) as f64 / 1e9
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = args.first().and_then(|text| Mode::parse(text)) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let n = match args.get(1).map(|text| text.parse::<usize>()) {
        None => 2000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };

    let setup = setup(WARMUP + n);
    let seconds = match mode {
        Mode::Warm | Mode::Cold => {
            let verifier = resource_verifier(&setup, mode);
            let requests = requests::dpop_requests(&setup);
            measure(n, |index| {
                let parts = RequestParts {
                    method: "POST",
                    uri: RESOURCE,
                    headers: &requests[index],
                };
                ready(verifier.verify(black_box(&parts), NOW)).unwrap();
            })
        }
        Mode::Proof => {
            let validator = ProofValidator::builder().build();
            let uri = NormalizedUri::parse(RESOURCE).unwrap();
            let jkt = setup.signer.thumbprint().as_str().to_owned();
            measure(n, |index| {
                let context = ProofContext {
                    method: "POST",
                    uri: &uri,
                    access_token: Some(PresentedToken::new(&setup.token)),
                    bound_jkt: Some(&jkt),
                };
                let proof = &setup.proofs[index];
                ready(validator.validate(black_box(proof), &context, NOW)).unwrap();
            })
        }
        Mode::Es256 => {
            let key = raw_key(setup.signer.key());
            let parts: Vec<(Vec<u8>, Vec<u8>)> =
                setup.proofs.iter().map(|p| signed_parts(p)).collect();
            measure(n, |index| {
                let (input, signature) = &parts[index];
                key.verify_sig(black_box(input), black_box(signature))
                    .unwrap();
            })
        }
        Mode::None => measure(n, |index| {
            black_box(index);
        }),
    };
    // Keep the issuer key alive and used, as in the bench (its public half is the JWKS).
    black_box(&setup.issuer_key);
    let clock = match (sweep_kib(), gap()) {
        (Some(kib), _) => format!("thread CPU time, {kib} KiB of other memory written after each"),
        (None, Some(gap)) => format!("thread CPU time, {} µs idle after each", gap.as_micros()),
        (None, None) => "wall clock; meaningless under valgrind".to_owned(),
    };
    println!(
        "{mode:?}: {n} requests measured after {WARMUP} warm-up, {:.2} µs each ({clock})",
        seconds * 1e6 / n as f64
    );
    ExitCode::SUCCESS
}
