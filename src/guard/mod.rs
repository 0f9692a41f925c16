//! The guard: verifies each request to a protected resource and decides the HTTP answer to
//! a refusal. The tower layer and the sidecar are built on [`ResourceVerifier`].

mod credentials;
mod principal;
mod refusal;
mod verifier;

pub use credentials::Scheme;
pub use principal::Principal;
pub use refusal::{Challenge, ErrorCode, Refusal, RequestError};
pub use verifier::{DpopMode, RequestParts, ResourceVerifier, ResourceVerifierBuilder};
