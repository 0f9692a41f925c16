//! The process's Prometheus recorder, one for every role: installed before any role is
//! built (the roles register their metrics then), drained by a periodic upkeep task, and
//! rendered by the admin listener's `/metrics`.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of every latency histogram (a metric named `*_duration_seconds`), which makes
/// it a Prometheus histogram that (unlike a summary) can be aggregated across replicas:
/// from 0.5 ms (a warm DPoP check) to 30 s (a long call).
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Seconds between two upkeep runs.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the global recorder and starts its upkeep; `None` (logged) when a recorder is
/// already installed, in which case `/metrics` answers 404. Call it inside the runtime.
pub fn install() -> Option<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Suffix("_duration_seconds".into()),
            &LATENCY_BUCKETS,
        )
        .and_then(|builder| builder.install_recorder())
        .map_err(|error| tracing::warn!(%error, "metrics recorder not installed"))
        .ok()?;
    // The recorder keeps histogram samples until upkeep drains them into their buckets;
    // `install_recorder` runs no upkeep, so without this task memory grows with every
    // request between scrapes (measured: ~11 MiB/min at 9k req/s with no scraper).
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Some(handle)
}
