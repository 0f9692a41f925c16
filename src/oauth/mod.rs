//! OAuth 2.0 vocabulary shared by every role that talks to a token or introspection
//! endpoint: client authentication (RFC 6749 §2.3, RFC 7523 §2.2), the grant and token type
//! identifiers, token responses (RFC 6749 §5.1, RFC 8693 §2.2.1) and error responses
//! (RFC 6749 §5.2 and the codes later RFCs add).
//!
//! Nothing here does I/O: the introspection client, the agent's token client and the
//! issuer's token endpoint each bring their own transport and use these types on both
//! ends of the wire.

mod client_auth;
mod error;
mod response;

pub use client_auth::{ClientAuth, ClientAuthError, PreparedClientAuth};
pub use error::{ErrorCode, ErrorResponse};
pub use response::{TokenResponse, TokenResponseError};

/// Grant type identifiers (`grant_type`).
pub mod grant_type {
    /// RFC 7523 §2.1: a JWT (here, a workload identity token) as the authorization grant;
    /// the grant MCP SEP-1933 uses.
    pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    /// RFC 8693 §2.1: token exchange.
    pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
    /// RFC 6749 §4.4: the client acting on its own behalf.
    pub const CLIENT_CREDENTIALS: &str = "client_credentials";
}

/// RFC 7523 §2.2: `client_assertion_type` for a JWT client assertion.
pub const JWT_BEARER_CLIENT_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Token type identifiers (RFC 8693 §3), for `subject_token_type`, `actor_token_type`,
/// `requested_token_type` and `issued_token_type`.
pub mod token_type {
    /// An OAuth 2.0 access token.
    pub const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
    /// An OpenID Connect ID token.
    pub const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
    /// A JWT (RFC 7519).
    pub const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
}
