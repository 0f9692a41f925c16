//! Workload identity token sources: where an agent gets the platform-signed JWT it later
//! exchanges at a token endpoint (RFC 7523 jwt-bearer, RFC 8693 token exchange).
//!
//! A workload already holds an identity its platform signed. This module owns reading it,
//! one source per platform, all behind one object-safe trait, [`TokenSource`]:
//!
//! | source | platform mechanism | re-read |
//! |---|---|---|
//! | [`FileSource`] | any file; presets for a Kubernetes projected service-account token (Kubernetes docs, "Service Account Token Volume Projection"), AWS `AWS_WEB_IDENTITY_TOKEN_FILE` (EKS IRSA, `AssumeRoleWithWebIdentity`), Azure `AZURE_FEDERATED_TOKEN_FILE` (Microsoft Entra Workload ID) | every fetch: the kubelet and the webhooks rotate the file |
//! | [`KubernetesTokenRequest`] | Kubernetes TokenRequest API, `authentication.k8s.io/v1`, for pods without a projected volume | cached to 80 % of the lifetime |
//! | [`GcpMetadata`] | Google Compute Engine metadata server, `instance/service-accounts/default/identity` ("Verifying the identity of instances") | cached |
//! | [`GithubActions`] | GitHub Actions OIDC (`ACTIONS_ID_TOKEN_REQUEST_URL`, "About security hardening with OpenID Connect") | cached |
//! | [`CommandSource`] | any program printing a token (argv, no shell), with a timeout | cached |
//! | `SpiffeSource` (feature `spiffe`) | SPIFFE Workload API `FetchJWTSVID` over gRPC on `SPIFFE_ENDPOINT_SOCKET` (a unix socket), with the `workload.spiffe.io: true` metadata | cached |
//! | [`WorkloadSource::auto`] | detects one of the above from the environment ([`detect`]) | as the source found |
//!
//! Every source hands back a [`WorkloadToken`]: the JWT in a redacting [`Secret`], its
//! expiry, and the source's name. Errors are one enum, [`SourceError`], naming the source
//! and what is missing or wrong — never a token byte.
//!
//! The JWT is not verified here. Its `exp` and `iat` are read only to schedule refreshes;
//! the authorization server that receives the token verifies its signature, issuer and
//! audience, so a forged claim here can at worst make the agent refresh early or late,
//! never make a token acceptable.
//!
//! [`Secret`]: crate::secret::Secret

use std::future::Future;
use std::pin::Pin;

mod auto;
mod cache;
mod cached;
mod command;
mod detect;
mod error;
mod file;
mod gcp;
mod github;
mod http;
mod kubernetes;
mod rfc3339;
#[cfg(feature = "spiffe")]
mod spiffe;
mod token;

pub use auto::{AutoOptions, WorkloadSource};
pub use command::{CommandSource, CommandSourceBuilder};
pub use detect::{Detected, Environment, ProcessEnvironment, StaticEnvironment, detect};
pub use error::{MalformedToken, SourceError};
pub use file::{
    AWS_WEB_IDENTITY_TOKEN_FILE, AZURE_FEDERATED_TOKEN_FILE, FileSource,
    KUBERNETES_PROJECTED_TOKEN_FILE,
};
pub use gcp::{GCE_METADATA_HOST, GcpMetadata, GcpMetadataBuilder};
pub use github::{
    ACTIONS_ID_TOKEN_REQUEST_TOKEN, ACTIONS_ID_TOKEN_REQUEST_URL, GithubActions,
    GithubActionsBuilder,
};
pub use kubernetes::{KubernetesTokenRequest, KubernetesTokenRequestBuilder};
#[cfg(feature = "spiffe")]
pub use spiffe::{SPIFFE_ENDPOINT_SOCKET, SpiffeSource, SpiffeSourceBuilder};
pub use token::WorkloadToken;

/// The largest token any source accepts, in bytes (16 KiB). Platform tokens are one to two
/// KiB; anything near this size is a misconfigured path or a hostile answer.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Share of a token's lifetime after which the caching sources fetch a new one: 80 %, as the
/// kubelet rotates projected tokens, so a fresh token is always in hand well before `exp`.
pub const REFRESH_AT_PERCENT: u64 = 80;

/// The future of one [`TokenSource::fetch`].
pub type FetchFuture<'a> =
    Pin<Box<dyn Future<Output = Result<WorkloadToken, SourceError>> + Send + 'a>>;

/// Where a workload's identity token comes from.
///
/// Object-safe, so a configuration can pick a source at run time and hand it on as
/// `Box<dyn TokenSource>` or `Arc<dyn TokenSource>`.
pub trait TokenSource: Send + Sync + 'static {
    /// What this source is, for logs and errors (a kind and a path or URL, never a secret):
    /// `Kubernetes projected token /var/run/secrets/tokens/mcp-token`.
    fn name(&self) -> &str;

    /// The current token. File sources read their file every time; network and command
    /// sources return a cached token until [`REFRESH_AT_PERCENT`] of its lifetime has
    /// passed, and then fetch once however many callers are waiting.
    fn fetch(&self) -> FetchFuture<'_>;
}

impl<S: TokenSource + ?Sized> TokenSource for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn fetch(&self) -> FetchFuture<'_> {
        (**self).fetch()
    }
}

impl<S: TokenSource + ?Sized> TokenSource for std::sync::Arc<S> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn fetch(&self) -> FetchFuture<'_> {
        (**self).fetch()
    }
}
