//! What a role is to the host: something built from its configuration section and the
//! shared parts, that serves its own listener(s) until shutdown, and tells the host what
//! to probe (`/readyz`, `/metrics`), what to publish on the admin listener and what to
//! reload on SIGHUP.
//!
//! Roles import the shared stack ([`super::host`], [`super::server`], [`super::observe`],
//! [`super::probe`], [`super::shared`]) and never each other. The guard is
//! [`guard::GuardRole`].
//!
//! # Adding a role
//!
//! 1. Its section: a [`RoleKind`](super::config::RoleKind) variant, a field on
//!    [`Config`](super::config::Config) with its own `[ROLE.listen]`
//!    ([`ListenConfig`](super::config::ListenConfig)), and a `RoleSection` implementation
//!    (see `config/roles.rs`): `check-config` and `serve` then know it.
//! 2. The role: a module here implementing [`Role`]. Open its listener with
//!    [`Listener::open`](super::server::Listener::open) (the host's TLS, limits and drain),
//!    wrap its service in [`Observe`](super::observe::Observe) with its own
//!    [`Accounting`](super::observe::Accounting) and refusal type
//!    ([`RefusalReason`](super::observe::RefusalReason)), return its [`Probe`]s (e.g.
//!    [`JwksProbe`](super::probe::JwksProbe) per trusted issuer) and, for SIGHUP, a
//!    [`Reload`].
//! 3. Its start: one arm in `run.rs`'s `build`, from the kind to the built role; a
//!    subcommand in `main.rs` if it should also run alone.

use std::sync::Arc;

use super::admin::AdminRoute;
use super::probe::{BoxFuture, Probe};
use super::signal::Shutdown;

pub mod agent;
pub mod guard;
pub mod issuer;

/// A role, built and bound, ready to serve.
pub trait Role: Send + 'static {
    /// The role's name, as its section is called (`guard`), for logs.
    fn name(&self) -> &'static str;

    /// What `/readyz` must find ready before this role takes traffic, and what `/metrics`
    /// samples for it. The host adds the shared parts' probes itself.
    fn probes(&self) -> Vec<Arc<dyn Probe>>;

    /// Fixed documents this role publishes on the admin listener. Default: none.
    fn admin_routes(&self) -> Vec<AdminRoute> {
        Vec::new()
    }

    /// What to reload on SIGHUP (a policy file). Default: nothing, and a process whose
    /// roles reload nothing keeps SIGHUP's default action.
    fn reloader(&self) -> Option<Arc<dyn Reload>> {
        None
    }

    /// Serves the role's listener(s) until `shutdown` has begun, then drains them. The
    /// future runs on the host's task with every other role's; it should not return
    /// before shutdown.
    fn serve(self: Box<Self>, shutdown: Shutdown) -> BoxFuture<'static, ()>;
}

/// Something a role reloads on SIGHUP without dropping requests.
pub trait Reload: Send + Sync {
    /// Reloads; a failure is logged and the previous state kept.
    fn reload(&self) -> BoxFuture<'_, ()>;
}
