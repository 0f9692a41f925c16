//! The agent's token client: from a workload's platform token to a DPoP-bound MCP access
//! token (MCP SEP-1933 with SEP-1932), at whatever authorization server the MCP server
//! names.
//!
//! - [`challenge`]: reading a server's `WWW-Authenticate` challenges (RFC 9110 §11.6.1);
//! - [`metadata`]: the MCP server's Protected Resource Metadata (RFC 9728) and its
//!   authorization server's metadata (RFC 8414), each checked against the identifier it was
//!   fetched for;
//! - [`discover`]: from the server's `401` to its token endpoint;
//! - [`grant`]: jwt-bearer (RFC 7523 §2.1), token exchange (RFC 8693), and
//!   `client_credentials` with a federated or configured client authentication;
//! - [`TokenClient`]: one token request with a DPoP proof (RFC 9449 §5) and the nonce retry
//!   of §8, answers checked (`token_type`, `require_dpop`);
//! - [`TokenProvider`]: tokens on demand from a workload token source, cached per audience
//!   until shortly before they expire, refreshed ahead, one request per burst;
//! - [`DpopClientLayer`]: a tower layer giving every request to an MCP server its token
//!   and a fresh proof, answering nonce, expired-token and step-up challenges once each;
//!   [`ReqwestService`] makes a `reqwest::Client` a service it can wrap;
//! - [`McpSession`]: a small MCP client (initialize, tools/list, tools/call) over such a
//!   service, for `mcp-warden call`;
//! - [`NonceBook`]: the nonces servers gave, per origin.

pub mod call;
pub mod challenge;
mod client;
mod discover;
pub mod grant;
mod http_client;
mod layer;
pub mod mcp;
pub mod metadata;
mod nonce;
mod provider;

pub use challenge::Challenge;
pub use client::{AccessToken, ExchangeError, TokenClient, TokenClientBuilder};
pub use discover::{
    Discovered, DiscoveryError, describe as describe_transport, discover, server_metadata,
};
pub use grant::{Audience, FormError, Grant};
pub use http_client::ReqwestService;
pub use layer::{DpopClient, DpopClientError, DpopClientLayer};
pub use mcp::{McpError, McpSession};
pub use metadata::{MetadataError, ResourceMetadata, ServerMetadata};
pub use nonce::NonceBook;
pub use provider::{TokenProvider, TokenProviderBuilder};
