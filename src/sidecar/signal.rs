//! The process's signals: SIGTERM or SIGINT starts the shutdown every listener drains on
//! ([`Shutdown`]); SIGHUP asks the roles that reload something to do so
//! ([`super::role::Reload`]). SIGHUP is handled only when a role reloads: otherwise it
//! keeps its default action.

use std::sync::Arc;

use tokio::sync::watch;

use super::role::Reload;

/// Resolves once shutdown has begun; cheap to clone, one per listener.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A shutdown that begins at the first SIGTERM or SIGINT. Call it inside the runtime.
    pub fn on_signal() -> Shutdown {
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            terminated().await;
            tracing::info!("shutdown signal received");
            let _ = stop.send(true);
        });
        Shutdown(stopped)
    }

    /// A shutdown begun by sending `true` on the returned sender, for tests and embedders.
    pub fn manual() -> (watch::Sender<bool>, Shutdown) {
        let (stop, stopped) = watch::channel(false);
        (stop, Shutdown(stopped))
    }

    /// Resolves when shutdown has begun (or its sender is gone).
    pub async fn begun(mut self) {
        while !*self.0.borrow() {
            if self.0.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Runs every reloader, in turn, at each SIGHUP. Does nothing without reloaders, so that
/// SIGHUP keeps its default action when nothing can be reloaded.
pub fn reload_on_hangup(reloaders: Vec<Arc<dyn Reload>>) {
    if reloaders.is_empty() {
        return;
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "SIGHUP not handled: reloads need a restart");
                return;
            }
        };
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP received: reloading");
                for reloader in &reloaders {
                    reloader.reload().await;
                }
            }
        });
    }
}

async fn terminated() {
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
