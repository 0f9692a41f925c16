//! A token read from a file, and the platform presets that are files: the Kubernetes
//! projected service-account token (Kubernetes docs, "Configure Service Accounts for Pods:
//! Service Account Token Volume Projection"), AWS web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`,
//! as the AWS SDKs read it for `AssumeRoleWithWebIdentity`) and Azure workload identity
//! (`AZURE_FEDERATED_TOKEN_FILE`, Microsoft Entra Workload ID).
//!
//! The file is read again on every fetch and never cached: the kubelet (and the EKS and AKS
//! webhooks' projected volumes) replace it before the token expires, and a cache could only
//! hand out an older token than the one on disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::AsyncReadExt;

use super::detect::Environment;
use super::error::SourceError;
use super::token::WorkloadToken;
use super::{FetchFuture, MAX_TOKEN_BYTES, TokenSource};

/// The default path of the Kubernetes projected token this crate reads: a
/// `serviceAccountToken` projection mounted at `/var/run/secrets/tokens` (the directory the
/// Kubernetes documentation's example uses) with `path: mcp-token`. Configure the path when
/// the pod mounts it elsewhere.
pub const KUBERNETES_PROJECTED_TOKEN_FILE: &str = "/var/run/secrets/tokens/mcp-token";

/// The environment variable naming the AWS web identity token file (EKS IAM roles for
/// service accounts sets it).
pub const AWS_WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";

/// The environment variable naming the Azure federated token file (the AKS workload
/// identity webhook sets it).
pub const AZURE_FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";

/// A token file, read on every fetch.
///
/// ```no_run
/// use mcp_warden::workload::{FileSource, TokenSource};
///
/// # async fn run() -> Result<(), mcp_warden::workload::SourceError> {
/// let source = FileSource::kubernetes();
/// let token = source.fetch().await?;
/// println!("{} expires at {:?}", token.source(), token.expires_at());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    name: Arc<str>,
}

impl FileSource {
    /// Any file holding one compact JWS.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self::named("file", path.into())
    }

    /// The Kubernetes projected service-account token at
    /// [`KUBERNETES_PROJECTED_TOKEN_FILE`].
    pub fn kubernetes() -> Self {
        Self::kubernetes_at(KUBERNETES_PROJECTED_TOKEN_FILE)
    }

    /// A Kubernetes projected service-account token at `path`.
    pub fn kubernetes_at(path: impl Into<PathBuf>) -> Self {
        Self::named("Kubernetes projected token", path.into())
    }

    /// The AWS web identity token named by `AWS_WEB_IDENTITY_TOKEN_FILE` in `env`.
    pub fn aws_web_identity(env: &dyn Environment) -> Result<Self, SourceError> {
        Self::from_env(env, AWS_WEB_IDENTITY_TOKEN_FILE, "AWS web identity token")
    }

    /// The Azure federated token named by `AZURE_FEDERATED_TOKEN_FILE` in `env`.
    pub fn azure_federated(env: &dyn Environment) -> Result<Self, SourceError> {
        Self::from_env(env, AZURE_FEDERATED_TOKEN_FILE, "Azure federated token")
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn named(kind: &str, path: PathBuf) -> Self {
        let name = Arc::from(format!("{kind} {}", path.display()));
        FileSource { path, name }
    }

    fn from_env(env: &dyn Environment, var: &'static str, kind: &str) -> Result<Self, SourceError> {
        match env.var(var) {
            Some(path) => Ok(Self::named(kind, PathBuf::from(path))),
            None => Err(SourceError::EnvMissing {
                name: kind.to_owned(),
                var,
            }),
        }
    }
}

impl TokenSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let bytes = read_bounded(&self.name, &self.path).await?;
            WorkloadToken::parse(&bytes, &self.name)
        })
    }
}

/// Reads at most [`MAX_TOKEN_BYTES`] of `path`, refusing a longer file rather than
/// truncating it (a truncated token would only fail later, further from the cause).
pub(super) async fn read_bounded(name: &str, path: &Path) -> Result<Vec<u8>, SourceError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|error| SourceError::file(name, path, &error))?;
    let mut bytes = Vec::new();
    file.take(MAX_TOKEN_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|error| SourceError::file(name, path, &error))?;
    if bytes.len() > MAX_TOKEN_BYTES {
        return Err(SourceError::TooLarge {
            name: name.to_owned(),
            max: MAX_TOKEN_BYTES,
        });
    }
    Ok(bytes)
}
