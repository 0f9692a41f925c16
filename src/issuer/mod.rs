//! The issuer: mcp-warden's own token service, which exchanges a workload's platform-signed
//! identity token (Kubernetes, SPIFFE, GitHub Actions, GCP, AWS, Azure) for a short-lived,
//! DPoP-bound MCP access token (MCP SEP-1933 with SEP-1932; RFC 7523, RFC 8693, RFC 9449 §5).
//!
//! This module is pure — policy, assertion checks, minting — and does no I/O of its own;
//! key sources and replay stores come in through the same traits the guard uses.

mod assertion;
mod claim_path;
mod endpoint;
mod keys;
mod local;
mod mint;
mod pattern;
mod policy;
mod refusal;
mod request;
mod service;

pub use assertion::{
    AssertionError, Platform, VerifiedWorkload, WorkloadIssuer, WorkloadIssuers, default_audiences,
    spiffe_trust_domain,
};
pub use claim_path::{ClaimPath, ClaimPathError, Resolved};
pub use endpoint::{
    EndpointConfigError, Issuance, IssuanceRecord, Refused, TokenCall, TokenEndpoint,
    TokenEndpointBuilder,
};
#[cfg(any(feature = "sidecar", test))]
pub(crate) use keys::public_copy;
pub use keys::{KeyRing, KeyRingError, RetiredKey, SIGNING_ALGORITHMS};
pub use local::LocalKeys;
pub use mint::{Actor, IssuedToken, TokenClaims, mint};
pub use pattern::{Pattern, PatternError};
pub use policy::{
    ClaimCondition, Decision, GrantDocument, GrantKind, IssuerFacts, Policy, PolicyDocument,
    PolicyError, PolicyLimits, PolicyRefusal, Request, ResourceDocument, RuleDocument, Workload,
};
pub use refusal::{IssuerRefusal, TokenError};
pub use request::{RequestError, RequestLimits, TokenRequest};
pub use service::{IssuerOutcome, IssuerService};
