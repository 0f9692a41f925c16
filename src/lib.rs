//! # mcp-warden
//!
//! Secures MCP servers — OAuth 2.1 resource servers — by binding every access token to a
//! client key with DPoP (RFC 9449), so that a stolen token is useless on its own.
//!
//! The crate holds the validation core, the three roles built on it — the guard (resource
//! server side), the issuer (a token service for workload identity) and the agent (client
//! side) — and the sidecar that hosts them:
//!
//! - [`jose`]: strict JWKs (RFC 7517/7518/8037), RFC 7638 thumbprints, compact JWS
//!   (RFC 7515) verification and signing on aws-lc-rs;
//! - [`dpop`]: every proof check of RFC 9449 §4.3, `htu` normalization (RFC 3986 §6.2.2–3),
//!   server nonces (§9), replay detection (§11.1, in memory or Redis), and proof signing for
//!   clients;
//! - [`token`]: JWT access tokens (RFC 9068) against trusted issuers' keys, and RFC 7662
//!   introspection;
//! - [`jwks`]: issuers' keys fetched over HTTPS (RFC 8414 / OpenID discovery), cached and
//!   refreshed; [`jwt`]: signed-JWT verification generic over a claims profile;
//! - [`guard`]: the request check the tower layer, the sidecar and the vector runner share,
//!   with the one table that maps a refusal to its HTTP answer (RFC 6750 §3.1, RFC 9449
//!   §7.1), and the tower layer for axum, hyper and rmcp servers;
//! - [`issuer`]: the token service — jwt-bearer (RFC 7523, MCP SEP-1933), token exchange
//!   (RFC 8693) and federated client credentials, a trust policy over workload claims,
//!   DPoP-bound RFC 9068 tokens, RFC 8414 metadata and keys;
//! - [`workload`]: workload identity token sources (Kubernetes, AWS, Azure, GCP, GitHub
//!   Actions, SPIFFE with the `spiffe` feature, files, commands) and platform detection;
//! - [`exchange`]: the agent's token client (discovery from the MCP server's 401, the grants
//!   with DPoP and nonces, a token cache) and `DpopClientLayer`, the client-side tower layer;
//! - [`oauth`]: OAuth 2.0 client authentication, token and error responses, shared by the
//!   clients and the issuer;
//! - `sidecar` (feature `sidecar`): `mcp-warden serve|guard|issuer|agent`, the roles as one
//!   process for MCP servers and agents in any language; `demo` (feature `demo`): the whole
//!   chain on loopback;
//! - [`vectors`]: the `resource-vectors/1` and `workload-vectors/1` runners behind
//!   `mcp-warden vectors`.
//!
//! ## Verifying a request
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use mcp_warden::dpop::{ProofSigner, ProofValidator};
//! use mcp_warden::guard::{RequestParts, ResourceVerifier};
//! use mcp_warden::jose::{Algorithm, JwkSet, SigningKey};
//! use mcp_warden::token::{AccessTokenVerifier, JwtVerifier, TrustedIssuer};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = 1_764_288_000;
//! let resource = "https://mcp.example.com/mcp";
//!
//! // The authorization server's key, and a client (agent) key.
//! let issuer_key = SigningKey::generate(Algorithm::ES256)?.with_kid("as-1")?;
//! let agent = ProofSigner::generate(Algorithm::ES256)?;
//!
//! // A DPoP-bound access token: `cnf.jkt` is the agent key's thumbprint (RFC 9449 §6.1).
//! let token = issuer_key.sign_compact(
//!     json!({"typ": "at+jwt", "kid": "as-1"}).as_object().unwrap(),
//!     json!({"iss": "https://as.example.com", "aud": resource, "sub": "agent-7",
//!            "scope": "tools:call", "exp": now + 600,
//!            "cnf": {"jkt": agent.thumbprint().as_str()}}).as_object().unwrap(),
//! )?;
//!
//! // The resource server trusts that issuer's keys for its own audience.
//! let keys = JwkSet::from_json(json!({"keys": [issuer_key.public_jwk().to_json()]}).to_string().as_bytes())?;
//! let verifier = ResourceVerifier::builder()
//!     .proofs(ProofValidator::builder().build())
//!     .tokens(AccessTokenVerifier::new().jwt(
//!         JwtVerifier::builder(resource).issuer(TrustedIssuer::new("https://as.example.com", keys)).build(),
//!     ))
//!     .build();
//!
//! // One request: the token, and a fresh proof for this method and URI.
//! let mut headers = HeaderMap::new();
//! headers.insert("authorization", HeaderValue::from_str(&format!("DPoP {token}"))?);
//! headers.insert("dpop", HeaderValue::from_str(&agent.proof("POST", resource, Some(&token), None, now)?)?);
//! let request = RequestParts { method: "POST", uri: resource, headers: &headers };
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! let principal = runtime.block_on(verifier.verify(&request, now))?;
//! assert_eq!(principal.subject(), Some("agent-7"));
//! assert!(principal.has_scope("tools:call"));
//!
//! // The same proof again is a replay (RFC 9449 §11.1): 401 invalid_dpop_proof.
//! let refusal = runtime.block_on(verifier.verify(&request, now)).unwrap_err();
//! assert_eq!(refusal.challenge().status, 401);
//! # Ok(())
//! # }
//! ```
//!
//! Time is always passed in (`now`, Unix seconds): checks never read the clock, so they
//! are pure and the vectors can pin it.

pub mod clock;
#[cfg(feature = "demo")]
pub mod demo;
mod digest_map;
pub mod dpop;
pub mod exchange;
pub mod guard;
pub mod issuer;
pub mod jose;
pub mod jwks;
pub mod jwt;
pub mod oauth;
mod outbound;
mod refresh;
pub mod secret;
#[cfg(feature = "sidecar")]
pub mod sidecar;
#[doc(hidden)]
pub mod testing;
pub mod token;
pub mod vectors;
pub mod workload;

pub use dpop::{ProofSigner, ProofValidator};
pub use guard::{Principal, Refusal, ResourceVerifier};
