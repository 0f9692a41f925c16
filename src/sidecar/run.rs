//! Wiring the sidecar together — the only place that starts I/O: listeners, TLS reloads,
//! the metrics recorder, signal handling.

use std::time::Duration;

use tokio::sync::watch;
use tower_layer::Layer;

use super::admin::{Admin, Readiness, ReplayProbe};
use super::build::guard_layer;
use super::config::{Config, ConfigError, LogFormat};
use super::observe::Observe;
use super::proxy::{IdentityAssertion, IdentityHeaders, Proxy, UpstreamSettings};
use super::server::{ListenerSettings, bind, serve};
use super::tls::ReloadingTls;

/// Why the sidecar could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SidecarError {
    /// The configuration is not usable.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// The listener's TLS certificate or key.
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
    /// The upstream client.
    #[error(transparent)]
    Upstream(#[from] super::proxy::UpstreamError),
    /// A listener could not be bound.
    #[error("{0}")]
    Bind(#[from] std::io::Error),
}

/// Sets up logs on standard output from `[log]`: JSON lines or text, filtered by
/// `log.level` (or `RUST_LOG`, which wins so that an operator can turn up a level without
/// editing the file). Text is coloured only when standard output is a terminal and
/// `NO_COLOR` is unset or empty (<https://no-color.org>), so a pipe or a log file never
/// receives escape codes.
pub fn init_logging(config: &Config) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|text| tracing_subscriber::EnvFilter::try_new(text).ok())
        .or_else(|| tracing_subscriber::EnvFilter::try_new(&config.log.level).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("info"));
    let colour = config.log.format == LogFormat::Text
        && use_colour(
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
            std::env::var_os("NO_COLOR"),
        );
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stdout)
        .with_ansi(colour)
        .with_env_filter(filter)
        .with_target(true);
    // A second initialisation (tests) is not an error worth failing for.
    let _ = match config.log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Whether text logs are coloured: only on a terminal, and not when `NO_COLOR` is set to
/// anything but the empty string.
fn use_colour(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Whether requests are checked. `Off` exists only to measure the proxy's own cost next to
/// the guarded one (`docs/performance.md`); it forwards every request unchecked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardSwitch {
    /// Every request is checked (the only mode for real traffic).
    #[default]
    On,
    /// Nothing is checked: a plain reverse proxy, for benchmarks.
    DangerousOff,
}

/// Runs the guard sidecar until SIGTERM or SIGINT, then drains.
pub async fn run_guard(config: Config) -> Result<(), SidecarError> {
    run_sidecar(config, GuardSwitch::On).await
}

/// [`run_guard`], with the guard switchable off for benchmarks.
pub async fn run_sidecar(config: Config, switch: GuardSwitch) -> Result<(), SidecarError> {
    // Buckets make the latency a Prometheus histogram, which (unlike a summary) can be
    // aggregated across replicas: from 0.5 ms (a warm DPoP check) to 30 s (a long call).
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(
                "mcp_warden_request_duration_seconds".into(),
            ),
            &[
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0, 30.0,
            ],
        )
        .and_then(|builder| builder.install_recorder())
        .map_err(|error| tracing::warn!(%error, "metrics recorder not installed"))
        .ok();
    // The recorder keeps histogram samples until upkeep drains them into their buckets;
    // `install_recorder` runs no upkeep, so without this task memory grows with every
    // request between scrapes (measured: ~11 MiB/min at 9k req/s with no scraper).
    if let Some(handle) = metrics.clone() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
    let built = guard_layer(&config).await?;
    let names = config.identity.header_names().map_err(first)?;
    let assertion = config
        .identity
        .assertion_signer()
        .map_err(first)?
        .map(|(header, key)| IdentityAssertion {
            header,
            key: std::sync::Arc::new(key),
            issuer: config.guard.resource.clone().unwrap_or_default(),
            audience: config.upstream.url.clone(),
            ttl_s: config.identity.assertion_ttl_s,
        });
    let identity_jwks = assertion.as_ref().map(|assertion| {
        bytes::Bytes::from(
            serde_json::json!({"keys": [assertion.key.public_jwk().to_json()]}).to_string(),
        )
    });
    let settings = UpstreamSettings {
        url: config.upstream.url()?,
        http2_prior_knowledge: config.upstream.http2_prior_knowledge,
        connect_timeout: config.upstream.connect_timeout(),
        first_byte_timeout: config.upstream.first_byte_timeout(),
        idle_timeout: config.upstream.idle_timeout(),
        extra_roots_pem: match &config.upstream.ca_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                ConfigError::new("upstream.ca_file", format!("{}: {e}", path.display()))
            })?),
            None => None,
        },
        max_body_bytes: config.listen.max_body_bytes as u64,
        identity: IdentityHeaders {
            subject: names.subject,
            client_id: names.client_id,
            scopes: names.scopes,
            key_thumbprint: names.key_thumbprint,
            assertion,
            strip: config.identity.configured_names(),
        },
        trusted_proxies: config.guard.proxies().map_err(first)?,
        listener_tls: config.listen.tls().is_some(),
    };
    let proxy = Proxy::new(settings)?;

    let tls = match config.listen.tls() {
        Some((cert, key)) => {
            let tls = ReloadingTls::load(cert, key)?;
            tls.spawn_reloader(config.listen.tls_reload_interval());
            Some(tls)
        }
        None => None,
    };
    let listener = bind("listen.address", config.listen.socket_addr()?).await?;
    let admin_listener = bind("admin.address", config.admin.socket_addr()?).await?;

    let readiness = Readiness {
        jwks: built
            .jwks
            .iter()
            .map(|issuer| (issuer.issuer.clone(), issuer.jwks.clone()))
            .collect(),
        replay: replay_probe(&built),
        memory_replay: built.memory_replay.clone(),
        #[cfg(feature = "redis")]
        redis_replay: built.redis_replay.clone(),
        degrading_replay: built.degrading_replay.clone(),
        identity_jwks,
    };
    let admin = Admin::new(metrics, readiness);

    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received");
        let _ = stop.send(true);
    });
    let listener_settings = ListenerSettings {
        max_connections: config.listen.max_connections,
        max_header_bytes: config.listen.max_header_bytes,
        header_read_timeout: config.listen.header_read_timeout(),
        tls_handshake_timeout: config.listen.tls_handshake_timeout(),
        drain_timeout: config.shutdown.drain_timeout(),
    };
    let admin_settings = ListenerSettings {
        max_connections: 64,
        drain_timeout: Duration::from_secs(1),
        ..ListenerSettings::default()
    };
    tracing::info!(
        listen = %config.listen.address,
        admin = %config.admin.address,
        upstream = %config.upstream.url,
        resource = config.guard.resource.as_deref().unwrap_or(""),
        "mcp-warden guard started"
    );
    let admin = serve(
        admin_listener,
        admin,
        None,
        admin_settings,
        signalled(stopped.clone()),
    );
    let stopping = signalled(stopped);
    match switch {
        GuardSwitch::On => {
            let service = Observe::new(built.layer.layer(proxy));
            tokio::join!(
                serve(listener, service, tls, listener_settings, stopping),
                admin
            );
        }
        GuardSwitch::DangerousOff => {
            tracing::warn!(
                "the guard is OFF: every request is forwarded unchecked (benchmark mode)"
            );
            let service = Observe::new(proxy);
            tokio::join!(
                serve(listener, service, tls, listener_settings, stopping),
                admin
            );
        }
    }
    tracing::info!("mcp-warden guard stopped");
    Ok(())
}

fn first(mut errors: Vec<ConfigError>) -> ConfigError {
    if errors.is_empty() {
        ConfigError::new("config", "invalid")
    } else {
        errors.swap_remove(0)
    }
}

#[cfg(feature = "redis")]
fn replay_probe(built: &super::build::BuiltGuard) -> Option<ReplayProbe> {
    let redis = built.redis_replay.clone()?;
    // With the memory fallback on, Redis being down does not stop traffic, so it does not
    // make the sidecar unready either.
    if built.degrading_replay.is_some() {
        return None;
    }
    Some(std::sync::Arc::new(move || {
        let redis = redis.clone();
        Box::pin(async move { redis.ping().await })
    }))
}

#[cfg(not(feature = "redis"))]
fn replay_probe(_built: &super::build::BuiltGuard) -> Option<ReplayProbe> {
    None
}

async fn signalled(mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        if stopped.changed().await.is_err() {
            return;
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::use_colour;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some("".into())));
        assert!(!use_colour(true, Some("1".into())));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some("".into())));
    }
}
