//! Where an issuer's verification keys come from: a fixed set, or (see [`RemoteJwks`]) a
//! JWK Set fetched over HTTPS, cached, and refreshed.
//!
//! Token verification asks [`KeySource::current`] first, which never waits; only when no
//! keys are loaded, or a token names a `kid` the loaded set lacks, does it call
//! [`KeySource::refresh`] — and implementations decide how often that may reach the
//! network, so a flood of tokens with random `kid`s cannot turn into a flood of fetches.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::jose::JwkSet;

mod config;
mod discovery;
mod http;
mod remote;

pub use config::{JwksConfigError, JwksLocation, RemoteJwksBuilder};
pub use http::{FetchError, JwksUriError};
pub use remote::{JwksStats, RemoteJwks};

/// Why keys are being requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh<'a> {
    /// No keys are loaded (first use, or the stale keys expired).
    Missing,
    /// A token names this `kid`, which the loaded set does not have (key rotation).
    UnknownKid(&'a str),
}

/// Keys could not be loaded, and no usable copy is left. Token verification fails closed
/// on any of these (`503`, reason `token_unavailable`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeySourceError {
    /// The fetch failed (or, when another caller's fetch was awaited, the last one did).
    #[error("issuer keys unavailable: {0}")]
    Fetch(FetchError),
    /// The last fetch failed less than `min_refetch_interval` ago, so it is not retried
    /// yet: an unreachable issuer is not asked once per request.
    #[error("issuer keys unavailable: {0} (not retried within min_refetch_interval)")]
    NotRetried(FetchError),
    /// The keys are past their lifetime plus `max_stale`, and no fetch has failed since.
    #[error("issuer keys unavailable: keys expired")]
    Expired,
    /// No keys have been loaded yet.
    #[error("issuer keys unavailable: no keys loaded")]
    NotLoaded,
}

impl KeySourceError {
    /// The fetch failure behind this error, if one is.
    pub fn fetch_error(&self) -> Option<&FetchError> {
        match self {
            KeySourceError::Fetch(error) | KeySourceError::NotRetried(error) => Some(error),
            KeySourceError::Expired | KeySourceError::NotLoaded => None,
        }
    }
}

/// The future of a key load.
pub type KeysFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<JwkSet>, KeySourceError>> + Send + 'a>>;

/// One issuer's verification keys.
pub trait KeySource: Send + Sync + 'static {
    /// The keys loaded now, without waiting; `None` before the first load, or once keys
    /// kept past their lifetime (the issuer being unreachable) have expired too.
    fn current(&self) -> Option<Arc<JwkSet>>;

    /// Loads keys for `reason`, returning the set to use. Implementations bound how often
    /// this fetches; when they decline to fetch they return the current set.
    fn refresh<'a>(&'a self, reason: Refresh<'a>) -> KeysFuture<'a>;
}

/// A fixed key set (configuration, tests, vectors).
#[derive(Debug, Clone)]
pub struct StaticKeys(Arc<JwkSet>);

impl StaticKeys {
    /// These keys, forever.
    pub fn new(keys: JwkSet) -> Self {
        StaticKeys(Arc::new(keys))
    }
}

impl KeySource for StaticKeys {
    fn current(&self) -> Option<Arc<JwkSet>> {
        Some(self.0.clone())
    }

    fn refresh<'a>(&'a self, _reason: Refresh<'a>) -> KeysFuture<'a> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}
