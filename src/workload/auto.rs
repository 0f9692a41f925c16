//! [`WorkloadSource::auto`]: the source for the platform [`detect`] finds, built with the
//! options that platform needs, and named after what was found so a log line says why this
//! source was picked.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};

use super::detect::{Detected, Environment, detect};
use super::error::SourceError;
use super::file::{FileSource, KUBERNETES_PROJECTED_TOKEN_FILE};
use super::gcp::GcpMetadata;
use super::github::GithubActions;
#[cfg(feature = "spiffe")]
use super::spiffe::SpiffeSource;
use super::{FetchFuture, TokenSource};

/// What automatic detection may use, and what the network sources it builds need.
#[derive(Clone)]
#[must_use]
pub struct AutoOptions {
    audience: Option<String>,
    kubernetes_token_file: PathBuf,
    gcp: bool,
    clock: Arc<dyn Clock>,
}

impl AutoOptions {
    /// The defaults: the Kubernetes projected token at
    /// [`KUBERNETES_PROJECTED_TOKEN_FILE`], the GCP metadata server only if
    /// `GCE_METADATA_HOST` is set, no audience, the system clock.
    pub fn new() -> Self {
        AutoOptions {
            audience: None,
            kubernetes_token_file: PathBuf::from(KUBERNETES_PROJECTED_TOKEN_FILE),
            gcp: false,
            clock: Arc::new(SystemClock),
        }
    }

    /// The audience to ask for where the platform mints on request (GitHub Actions, GCP,
    /// the SPIFFE Workload API; required for those). File-based platforms fix their audience where the file is
    /// configured (the projection's `audience`, the webhook's settings).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Where the Kubernetes projected token is mounted.
    pub fn kubernetes_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubernetes_token_file = path.into();
        self
    }

    /// Lets detection fall back to the GCP metadata server at its default address when
    /// nothing else is found. Off by default: no request is made to detect a platform.
    pub fn gcp_metadata(mut self) -> Self {
        self.gcp = true;
        self
    }

    /// The clock the caching sources read.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(super) fn kubernetes_token_file_path(&self) -> &Path {
        &self.kubernetes_token_file
    }

    pub(super) fn gcp_enabled(&self) -> bool {
        self.gcp
    }
}

impl Default for AutoOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AutoOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutoOptions")
            .field("audience", &self.audience)
            .field("kubernetes_token_file", &self.kubernetes_token_file)
            .field("gcp", &self.gcp)
            .finish_non_exhaustive()
    }
}

/// A source picked by detection: one of this module's sources, and what it was picked for.
///
/// ```
/// use mcp_warden::workload::{AutoOptions, Detected, StaticEnvironment, TokenSource, WorkloadSource};
///
/// let env = StaticEnvironment::new().var("AZURE_FEDERATED_TOKEN_FILE", "/var/run/azure/token");
/// let source = WorkloadSource::auto(&env, AutoOptions::new())?;
/// assert!(matches!(source.detected(), Detected::AzureFederated { .. }));
/// assert_eq!(source.name(), "Azure federated token /var/run/azure/token");
/// # Ok::<(), mcp_warden::workload::SourceError>(())
/// ```
pub struct WorkloadSource {
    detected: Detected,
    inner: Box<dyn TokenSource>,
}

impl WorkloadSource {
    /// Detects the platform in `env` ([`detect`]) and builds its source: GitHub Actions,
    /// GCP and the SPIFFE Workload API need [`AutoOptions::audience`]. Fails with
    /// [`SourceError::NothingDetected`] when no platform is found.
    pub fn auto(env: &dyn Environment, options: AutoOptions) -> Result<Self, SourceError> {
        let detected = detect(env, &options).ok_or_else(|| SourceError::NothingDetected {
            kubernetes_token_file: options.kubernetes_token_file.clone(),
        })?;
        let inner: Box<dyn TokenSource> = match &detected {
            Detected::GithubActions => {
                let mut builder = GithubActions::builder()
                    .environment(env)
                    .clock(options.clock.clone());
                if let Some(audience) = &options.audience {
                    builder = builder.audience(audience);
                }
                Box::new(builder.build()?)
            }
            #[cfg(feature = "spiffe")]
            Detected::SpiffeWorkloadApi { endpoint } => {
                let mut builder = SpiffeSource::builder()
                    .endpoint(endpoint)
                    .clock(options.clock.clone());
                if let Some(audience) = &options.audience {
                    builder = builder.audience(audience);
                }
                Box::new(builder.build()?)
            }
            Detected::AwsWebIdentity { .. } => Box::new(FileSource::aws_web_identity(env)?),
            Detected::AzureFederated { .. } => Box::new(FileSource::azure_federated(env)?),
            Detected::KubernetesProjected { token_file } => {
                Box::new(FileSource::kubernetes_at(token_file))
            }
            Detected::GcpMetadata { .. } => {
                let mut builder = GcpMetadata::builder()
                    .environment(env)
                    .clock(options.clock.clone());
                if let Some(audience) = &options.audience {
                    builder = builder.audience(audience);
                }
                Box::new(builder.build()?)
            }
        };
        tracing::info!(platform = %detected, source = inner.name(), "workload token source detected");
        Ok(WorkloadSource { detected, inner })
    }

    /// What detection found.
    pub fn detected(&self) -> &Detected {
        &self.detected
    }
}

impl TokenSource for WorkloadSource {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn fetch(&self) -> FetchFuture<'_> {
        self.inner.fetch()
    }
}

impl fmt::Debug for WorkloadSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadSource")
            .field("detected", &self.detected)
            .field("source", &self.inner.name())
            .finish()
    }
}
