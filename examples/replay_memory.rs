//! Resident memory of the in-memory replay store (`docs/performance.md`): fills an
//! [`InMemoryReplayStore`] with distinct keys until it holds `--entries` (default
//! 1,000,000, the default capacity), then churns it: a simulated clock advances, the
//! entries expire after the guard's default proof window (300 s) and new ones arrive at a
//! constant rate that keeps 96 % of the capacity live, as under constant load.
//!
//! ```sh
//! cargo run --release --example replay_memory
//! cargo run --release --example replay_memory -- --entries 1000000 --churn 3000000
//! ```
//!
//! Reports `VmRSS` (resident now) and `VmHWM` (resident peak) from `/proc/self/status`
//! before the store exists, when it is full and after the churn, and the min/max of
//! `VmRSS` sampled every 100,000 insertions once the churn's first window has passed.
//!
//! The store splits its capacity evenly over 16 shards and never evicts a live entry, so
//! with uniformly spread keys one shard fills before the others and refuses (`Full`) while
//! the others still take entries. Filling goes on with fresh keys until every shard is
//! full, so the store ends holding exactly `--entries`; the refused insertions are counted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A measuring tool: a panic is the failure report.

use std::future::Future;
use std::pin::pin;
use std::process::ExitCode;
use std::task::{Context, Poll, Waker};

use mcp_warden::dpop::{InMemoryReplayStore, ReplayKey, ReplayStore, ReplayStoreError, Seen};

const USAGE: &str = "usage: replay_memory [--entries N (1000000)] [--churn N (3000000)]";
/// The churn phase's time-to-live (the guard's default proof window, `max_age_s`).
const TTL_S: u64 = 300;
const START: u64 = 1_764_288_000;

/// The in-memory store's future is ready at once: one poll runs it.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the in-memory store must not wait"),
    }
}

/// A `/proc/self/status` field in kB (`VmRSS`, `VmHWM`).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} missing from /proc/self/status"))
}

fn mb(kb: u64) -> f64 {
    kb as f64 * 1024.0 / 1e6
}

fn report(label: &str, entries: usize) {
    println!(
        "{label:<28} entries {entries:>9}  VmRSS {:>7.1} MB  VmHWM {:>7.1} MB",
        mb(status_kb("VmRSS")),
        mb(status_kb("VmHWM"))
    );
}

fn key(index: u64) -> ReplayKey {
    // As the validator forms it: one client's thumbprint, a distinct jti per proof.
    ReplayKey::new(
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
        &format!("jti-{index:016x}"),
    )
}

fn parse_args() -> Option<(usize, u64)> {
    let mut entries = InMemoryReplayStore::DEFAULT_CAPACITY;
    let mut churn = 3_000_000;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next()?.parse().ok()?;
        match flag.as_str() {
            "--entries" => entries = usize::try_from(value).ok()?,
            "--churn" => churn = value,
            _ => return None,
        }
    }
    Some((entries, churn))
}

fn main() -> ExitCode {
    let Some((entries, churn)) = parse_args() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    report("process, before the store", 0);
    let store = InMemoryReplayStore::with_capacity(entries);
    report("empty store", store.len());

    // Fill at one instant with the default proof window: nothing expires while filling.
    let mut next = 0u64;
    let mut refused = 0u64;
    while store.len() < entries {
        // len() locks every shard: check it once per batch.
        for _ in 0..10_000 {
            match ready(store.check_and_record(key(next), START, TTL_S)) {
                Ok(Seen::First) => {}
                Ok(Seen::Replay) => panic!("key {next} reported as a replay"),
                Err(ReplayStoreError::Full { .. }) => refused += 1,
                Err(error) => panic!("{error}"),
            }
            next += 1;
        }
    }
    let full_rss = status_kb("VmRSS");
    report("full", store.len());
    println!("  {next} distinct keys offered, {refused} refused as Full (their shard was full)");

    if churn > 0 {
        // Then constant load: `rate` proofs a second with the same window, so about
        // rate × TTL_S entries are live; aim at 96 % of capacity. The filled entries expire
        // when the churn starts, and the live set is at its steady state after one window.
        let rate = (entries as u64 * 96 / 100 / TTL_S).max(1);
        let (mut low, mut high) = (u64::MAX, 0u64);
        let mut full = 0u64;
        for step in 0..churn {
            let now = START + TTL_S + step / rate;
            match ready(store.check_and_record(key(next), now, TTL_S)) {
                Ok(Seen::First) => {}
                Ok(Seen::Replay) => panic!("key {next} reported as a replay"),
                Err(ReplayStoreError::Full { .. }) => full += 1,
                Err(error) => panic!("{error}"),
            }
            next += 1;
            if step >= rate * TTL_S && step % 100_000 == 0 {
                let rss = status_kb("VmRSS");
                low = low.min(rss);
                high = high.max(rss);
            }
        }
        println!(
            "churn: {churn} more insertions at {rate}/s (simulated clock, {TTL_S} s window, \
             {:.0} simulated s), {full} refused as Full",
            churn as f64 / rate as f64
        );
        report("after churn", store.len());
        if high > 0 {
            println!(
                "  VmRSS sampled every 100,000 insertions after the first window: \
                 min {:.1} MB, max {:.1} MB ({:+.1} % of full)",
                mb(low),
                mb(high),
                (high as f64 / full_rss as f64 - 1.0) * 100.0
            );
        }
    }
    ExitCode::SUCCESS
}
