//! The guard: a tower layer in front of an MCP server (RFC 9449 DPoP, RFC 6750 / RFC 9728
//! challenges and metadata, scopes per MCP operation), built on [`ResourceVerifier`], the
//! request check the sidecar and the vector runner share.

mod challenge;
mod credentials;
#[cfg(feature = "axum")]
mod extract;
mod forwarded;
mod layer;
mod mcp;
mod metadata;
mod principal;
mod refusal;
mod scope;
mod service;
mod verifier;

pub use challenge::{AUTH_ERROR_CODE, ChallengeContext, json_rpc_error_body, www_authenticate};
pub use credentials::Scheme;
#[cfg(feature = "axum")]
pub use extract::MissingPrincipal;
pub use forwarded::{InvalidProxyRange, PeerAddr, TrustedProxy};
pub use layer::{Guard, GuardBuilder, GuardConfigError, GuardLayer};
pub use mcp::{HEADER_MISMATCH_CODE, McpError, McpOperation, check_headers, operations};
pub use metadata::{
    MetadataError, ProtectedResourceMetadata, ProtectedResourceMetadataBuilder, metadata_url,
    well_known_paths,
};
pub use principal::Principal;
pub(crate) use refusal::proof_reason;
pub use refusal::{Challenge, ErrorCode, Refusal, RequestError};
pub use scope::{ScopePolicy, ScopePolicyBuilder, ScopePolicyError};
pub use service::{GuardRequestBody, GuardResponseBody, GuardService};
pub use verifier::{DpopMode, RequestParts, ResourceVerifier, ResourceVerifierBuilder};
