//! The host every role runs in: one metrics recorder (with its upkeep), the parts roles
//! share (replay store, nonce key), signal handling and drain, and one admin listener whose
//! `/readyz` runs every role's probes.
//!
//! Starting is two steps around building the roles: [`Host::start`] installs the recorder
//! (roles register their metrics while they are built), builds the [`Shared`] parts and
//! starts waiting for SIGTERM/SIGINT; the roles are built with [`Host::shared`] and
//! [`Host::drain_timeout`]; [`Host::run`] binds the admin listener, serves it and every
//! role until the signal, then drains them all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusHandle;

use super::admin::Admin;
use super::config::Config;
use super::error::SidecarError;
use super::probe::{BoxFuture, Probe, Readiness};
use super::role::Role;
use super::server::{ListenerError, ListenerSettings, bind, serve};
use super::shared::Shared;
use super::signal::{Shutdown, reload_on_hangup};

/// The admin listener's limits: a few scrapers and probes, never a crowd.
const ADMIN_CONNECTIONS: usize = 64;
/// How long the admin listener drains: probes and scrapes are short.
const ADMIN_DRAIN: Duration = Duration::from_secs(1);

/// The host, started: recorder installed, shared parts built, signals watched.
pub struct Host {
    metrics: Option<PrometheusHandle>,
    shared: Shared,
    shutdown: Shutdown,
    admin_address: String,
    admin_socket: std::net::SocketAddr,
    drain_timeout: Duration,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("admin", &self.admin_address)
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Installs the metrics recorder, builds the shared parts from `config` and starts
    /// waiting for SIGTERM or SIGINT. Call it inside the runtime, before building roles.
    pub async fn start(config: &Config) -> Result<Host, SidecarError> {
        let admin_socket = config.admin.socket_addr()?;
        let metrics = super::metrics::install();
        let shared = Shared::build(config).await?;
        Ok(Host {
            metrics,
            shared,
            shutdown: Shutdown::on_signal(),
            admin_address: config.admin.address.clone(),
            admin_socket,
            drain_timeout: config.shutdown.drain_timeout(),
        })
    }

    /// The parts every role shares.
    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// How long each role's listener drains after the signal (`[shutdown]`).
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }

    /// Serves `roles` and the admin listener until SIGTERM or SIGINT, then drains every
    /// listener and returns.
    pub async fn run(self, roles: Vec<Box<dyn Role>>) -> Result<(), SidecarError> {
        if roles.is_empty() {
            return Err(SidecarError::NoRole);
        }
        let admin_listener = bind("admin.address", self.admin_socket)
            .await
            .map_err(ListenerError::Bind)?;
        let mut probes: Vec<Arc<dyn Probe>> = vec![Arc::new(self.shared.replay.probe())];
        let mut routes = Vec::new();
        let mut reloaders = Vec::new();
        for role in &roles {
            probes.extend(role.probes());
            routes.extend(role.admin_routes());
            reloaders.extend(role.reloader());
        }
        reload_on_hangup(reloaders);
        let names: Vec<&str> = roles.iter().map(|role| role.name()).collect();
        tracing::info!(admin = %self.admin_address, roles = ?names, "mcp-warden started");
        let admin = Admin::new(self.metrics, Readiness::new(probes), routes);
        let admin_settings = ListenerSettings {
            max_connections: ADMIN_CONNECTIONS,
            drain_timeout: ADMIN_DRAIN,
            ..ListenerSettings::default()
        };
        let mut served: Vec<BoxFuture<'static, ()>> = roles
            .into_iter()
            .map(|role| role.serve(self.shutdown.clone()))
            .collect();
        served.push(Box::pin(serve(
            admin_listener,
            admin,
            None,
            admin_settings,
            self.shutdown.clone().begun(),
        )));
        JoinAll(served.into_iter().map(Some).collect()).await;
        tracing::info!("mcp-warden stopped");
        Ok(())
    }
}

/// Runs every future to completion on the caller's task (the runtime's `block_on`
/// thread, where the guard's accept loop has always run), in one poll loop.
struct JoinAll(Vec<Option<BoxFuture<'static, ()>>>);

impl Future for JoinAll {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut pending = false;
        for slot in self.0.iter_mut() {
            if let Some(future) = slot {
                if future.as_mut().poll(cx).is_ready() {
                    *slot = None;
                } else {
                    pending = true;
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}
